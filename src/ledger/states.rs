//! The latest state of every req_id of a ledger, as typed values: what `report` of a
//! ledger shows, read without anyone else knowing the ledger's column positions.

use std::path::Path;

use super::scan::{latest_lines, walk};
use super::{LedgerError, Settled, col};

/// A req_id's latest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestState {
    pub req_id: String,
    pub status: Settled,
    pub error_code: String,
    pub sub_code: String,
    /// Written by a `--simulate` run (live runs ignore such lines).
    pub simulated: bool,
}

/// Calls `visit` with the latest state of every req_id, in the order of those lines;
/// returns how many lines the ledger has.
pub fn for_each_latest(
    path: &Path,
    mut visit: impl FnMut(LatestState),
) -> Result<u64, LedgerError> {
    let latest = latest_lines(path)?;
    let mut lines = 0;
    walk(path, |line| {
        lines += 1;
        if latest.get(&line.key()) != Some(&line.number) {
            return;
        }
        let text = |column: usize| String::from_utf8_lossy(line.fields()[column]).into_owned();
        visit(LatestState {
            req_id: line.req_id.to_owned(),
            status: line.status,
            error_code: text(col::ERROR_CODE),
            sub_code: text(col::SUB_CODE),
            simulated: line.simulated(),
        });
    })?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_line_of_each_req_id_is_a_state() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.csv");
        let md5 = "0123456789abcdef0123456789abcdef";
        std::fs::write(
            &path,
            format!(
                "{}\na,1,,failed,15,isp.x,{md5},,1,t,r1\nb,2,,rejected,B0107,,{md5},,1,t,r1\na,1,,delivered,0000,,{md5},,1,t,r2\nc,3,,delivered,0000,,{md5},,1,t,sim-1\n",
                super::super::HEADER.join(",")
            ),
        )
        .expect("write");
        let mut states = Vec::new();
        let lines = for_each_latest(&path, |state| states.push(state)).expect("reads");
        assert_eq!(lines, 4);
        let seen: Vec<(&str, Settled, bool)> = states
            .iter()
            .map(|s| (s.req_id.as_str(), s.status, s.simulated))
            .collect();
        assert_eq!(
            seen,
            [
                ("b", Settled::Rejected, false),
                ("a", Settled::Delivered, false),
                ("c", Settled::Delivered, true)
            ]
        );
        assert_eq!(states[0].error_code, "B0107");
    }
}
