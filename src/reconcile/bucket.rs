//! Where each sub-order stands, the platform's side against the ledger's (SPEC.md,
//! "Reconcile with the platform"), in Chinese and English, with what to do about it.

use crate::ledger::OrderState;

/// One bucket per sub-order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    MissingCallback,
    RetryDue,
    DataFix,
    PlatformPending,
    FinishedWithoutUs,
    UnknownToPlatform,
    Closed,
    Done,
}

impl Bucket {
    /// In the order the file and the summary list them: what needs us first.
    pub const ALL: [Bucket; 8] = [
        Bucket::MissingCallback,
        Bucket::RetryDue,
        Bucket::DataFix,
        Bucket::PlatformPending,
        Bucket::FinishedWithoutUs,
        Bucket::UnknownToPlatform,
        Bucket::Closed,
        Bucket::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::MissingCallback => "missing_callback",
            Bucket::RetryDue => "retry_due",
            Bucket::DataFix => "data_fix",
            Bucket::PlatformPending => "platform_pending",
            Bucket::FinishedWithoutUs => "finished_without_us",
            Bucket::UnknownToPlatform => "unknown_to_platform",
            Bucket::Closed => "closed",
            Bucket::Done => "done",
        }
    }

    pub fn chinese(self) -> &'static str {
        match self {
            Bucket::MissingCallback => "漏回调",
            Bucket::RetryDue => "待重发",
            Bucket::DataFix => "待更正",
            Bucket::PlatformPending => "平台处理中",
            Bucket::FinishedWithoutUs => "非本工具完成",
            Bucket::UnknownToPlatform => "平台查无此单",
            Bucket::Closed => "已关闭或退款",
            Bucket::Done => "已完成",
        }
    }

    /// Whether the order waits on us: these fall due.
    pub fn needs_us(self) -> bool {
        matches!(
            self,
            Bucket::MissingCallback | Bucket::RetryDue | Bucket::DataFix
        )
    }

    /// What to do, in Chinese and English.
    pub fn advice(self) -> (&'static str, &'static str) {
        match self {
            Bucket::MissingCallback => (
                "平台在等这笔回调，账本里却没有它：从商户系统导出这笔订单（订单号、子订单号、外部请求流水、金额等），再发送。",
                "The platform waits for a callback the ledger never sent: export this order from the merchant system (order numbers, req_id, amounts) and send it.",
            ),
            Bucket::RetryDue => (
                "上次发送没有成功（失败或未得到答复）：按账本里保存的内容重发（send --from-reconcile）。",
                "The last send did not get through (failed, or no answer): send it again from the ledger's stored payload (send --from-reconcile).",
            ),
            Bucket::DataFix => (
                "平台拒绝了上次的回调：按错误原因更正后重新提交。",
                "The platform refused the last callback: correct it as the reason says and submit again.",
            ),
            Bucket::PlatformPending => (
                "回调已成功，平台尚未处理：无需重发；临近截止仍未变化时请联系平台。",
                "The callback was delivered; the platform has not acted on it yet: nothing to send; contact the platform if it has not moved near the deadline.",
            ),
            Bucket::FinishedWithoutUs => (
                "交易已完成，但账本里没有成功的回调：核对是否在本工具之外处理过。",
                "The trade is finished but the ledger holds no delivered callback: check whether it was handled outside this tool.",
            ),
            Bucket::UnknownToPlatform => (
                "账本里已回调（成功或被拒），平台在这段时间里却没有这笔交易：核对订单号是否正确、是否属于本店。",
                "The ledger answered it (delivered or rejected) but the platform has no such trade in the window: check the order number and the shop.",
            ),
            Bucket::Closed => (
                "交易已关闭或退款：不要再重试，告知财务。",
                "The trade is closed or refunded: stop retrying and tell finance.",
            ),
            Bucket::Done => ("已完成，无需处理。", "Done: nothing to do."),
        }
    }
}

/// What the platform says of a sub-order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Paid, waiting for the seller (us).
    Waits,
    Finished,
    /// Closed, or a refund under way or done.
    Closed,
    /// Not paid yet (or not the seller's turn): nothing for us.
    NotOurs,
}

impl Platform {
    /// A sub-order's status and refund status (TOP's values).
    pub fn of(status: &str, refund_status: &str) -> Platform {
        let refunding = !matches!(
            refund_status.trim(),
            "" | "NO_REFUND" | "CLOSED" | "SELLER_REFUSE_BUYER"
        );
        if refunding {
            return Platform::Closed;
        }
        match status.trim() {
            "WAIT_SELLER_SEND_GOODS" | "SELLER_CONSIGNED_PART" => Platform::Waits,
            "WAIT_BUYER_CONFIRM_GOODS" | "TRADE_BUYER_SIGNED" | "TRADE_FINISHED" => {
                Platform::Finished
            }
            "TRADE_CLOSED" | "TRADE_CLOSED_BY_TAOBAO" => Platform::Closed,
            _ => Platform::NotOurs,
        }
    }
}

/// The ledger's word on a sub-order: the most advanced state of its orders (a
/// delivered one settles it), `None` when it was never sent.
pub fn ledger_state(states: impl IntoIterator<Item = OrderState>) -> Option<OrderState> {
    let rank = |s: OrderState| match s {
        OrderState::Delivered => 5,
        OrderState::Pending => 4,
        OrderState::Failed => 3,
        OrderState::Rejected => 2,
        OrderState::Closed => 1,
    };
    states.into_iter().max_by_key(|s| rank(*s))
}

/// The bucket of a sub-order seen on the platform (`None` for one that is not ours).
pub fn of(platform: Platform, ledger: Option<OrderState>) -> Option<Bucket> {
    Some(match (platform, ledger) {
        (Platform::NotOurs, _) => return None,
        (Platform::Closed, _) => Bucket::Closed,
        (Platform::Finished, Some(OrderState::Delivered)) => Bucket::Done,
        (Platform::Finished, _) => Bucket::FinishedWithoutUs,
        (Platform::Waits, None) => Bucket::MissingCallback,
        (Platform::Waits, Some(OrderState::Pending | OrderState::Failed)) => Bucket::RetryDue,
        (Platform::Waits, Some(OrderState::Rejected | OrderState::Closed)) => Bucket::DataFix,
        (Platform::Waits, Some(OrderState::Delivered)) => Bucket::PlatformPending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_table() {
        use OrderState::*;
        let waits = Platform::of("WAIT_SELLER_SEND_GOODS", "NO_REFUND");
        assert_eq!(of(waits, None), Some(Bucket::MissingCallback));
        assert_eq!(of(waits, Some(Failed)), Some(Bucket::RetryDue));
        assert_eq!(of(waits, Some(Pending)), Some(Bucket::RetryDue));
        assert_eq!(of(waits, Some(Rejected)), Some(Bucket::DataFix));
        assert_eq!(of(waits, Some(Delivered)), Some(Bucket::PlatformPending));
        let finished = Platform::of("TRADE_FINISHED", "");
        assert_eq!(of(finished, Some(Delivered)), Some(Bucket::Done));
        assert_eq!(of(finished, None), Some(Bucket::FinishedWithoutUs));
        assert_eq!(
            of(finished, Some(Rejected)),
            Some(Bucket::FinishedWithoutUs)
        );
        let refunded = Platform::of("WAIT_SELLER_SEND_GOODS", "SUCCESS");
        assert_eq!(of(refunded, Some(Failed)), Some(Bucket::Closed));
        assert_eq!(
            of(Platform::of("TRADE_CLOSED", ""), None),
            Some(Bucket::Closed)
        );
        assert_eq!(of(Platform::of("WAIT_BUYER_PAY", ""), None), None);
        assert_eq!(ledger_state([Rejected, Delivered, Failed]), Some(Delivered));
        assert_eq!(ledger_state([Rejected, Failed]), Some(Failed));
        assert_eq!(ledger_state([]), None);
        for bucket in Bucket::ALL {
            let (zh, en) = bucket.advice();
            assert!(!zh.is_empty() && !en.is_empty());
        }
    }
}
