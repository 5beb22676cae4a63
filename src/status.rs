//! The `status` column (SPEC.md "Result CSV"): what happened to each input row.

use std::fmt;
use std::str::FromStr;

/// One row's fate. The order is the summary's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Delivered,
    Rejected,
    Failed,
    NotAttempted,
    Invalid,
    Conflict,
    SkippedDelivered,
    SkippedRejected,
    SkippedClosed,
    DuplicateInInput,
    WouldSend,
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::Delivered,
        Status::Rejected,
        Status::Failed,
        Status::NotAttempted,
        Status::Invalid,
        Status::Conflict,
        Status::SkippedDelivered,
        Status::SkippedRejected,
        Status::SkippedClosed,
        Status::DuplicateInInput,
        Status::WouldSend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Rejected => "rejected",
            Status::Failed => "failed",
            Status::NotAttempted => "not_attempted",
            Status::Invalid => "invalid",
            Status::Conflict => "conflict",
            Status::SkippedDelivered => "skipped_delivered",
            Status::SkippedRejected => "skipped_rejected",
            Status::SkippedClosed => "skipped_closed",
            Status::DuplicateInInput => "duplicate_in_input",
            Status::WouldSend => "would_send",
        }
    }

    /// The Chinese name of the status, for finance (unique, so it reads back).
    pub fn chinese(self) -> &'static str {
        match self {
            Status::Delivered => "已送达",
            Status::Rejected => "被拒绝",
            Status::Failed => "失败",
            Status::NotAttempted => "未发送",
            Status::Invalid => "无效",
            Status::Conflict => "冲突",
            Status::SkippedDelivered => "已送达(跳过)",
            Status::SkippedRejected => "已拒绝(跳过)",
            Status::SkippedClosed => "已关闭(跳过)",
            Status::DuplicateInInput => "输入重复",
            Status::WouldSend => "将发送",
        }
    }

    /// Rows someone must look at; any of them makes the exit code 1.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Status::Rejected
                | Status::Failed
                | Status::NotAttempted
                | Status::Invalid
                | Status::Conflict
        )
    }

    /// Position in `ALL`, for counting arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown status '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_status_has_its_own_chinese_name() {
        let names: std::collections::BTreeSet<&str> =
            super::Status::ALL.iter().map(|s| s.chinese()).collect();
        assert_eq!(names.len(), super::Status::ALL.len());
    }

    use super::*;

    #[test]
    fn names_round_trip_and_index_matches_all() {
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.index(), i);
        }
    }

    #[test]
    fn attention_is_what_the_exit_code_table_says() {
        let attention: Vec<&str> = Status::ALL
            .into_iter()
            .filter(|s| s.needs_attention())
            .map(Status::as_str)
            .collect();
        assert_eq!(
            attention,
            ["rejected", "failed", "not_attempted", "invalid", "conflict"]
        );
    }
}
