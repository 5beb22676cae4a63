//! How one order ended (`Delivery`), and what that means on paper: its result row
//! and its ledger line. Pure: the time and the run are arguments.

use std::sync::Arc;

use super::halt::HaltReason;
use super::recorder::Done;
use super::route::Job;
use crate::columns::RowText;
use crate::ledger::{LedgerEntry, Settled};
use crate::results::ResultRow;
use crate::status::Status;
use crate::top::{Reply, Verdict};

/// How one order's attempts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The platform answered for good; `reply.verdict` says how (delivered or rejected).
    Answered { reply: Reply, attempts: u32 },
    /// Attempts ran out, a fatal answer or a ban halted the run, or the run stopped
    /// while this order waited to retry.
    GaveUp {
        reply: Reply,
        attempts: u32,
        note: Option<&'static str>,
    },
    /// The run halted before the first call.
    NotSent,
}

/// What the run records of one order: `finished_at` stamps it, `run_id` names the run
/// in the ledger, `halt` explains an order never sent.
pub fn record(
    job: Job,
    delivery: Delivery,
    run_id: &Arc<str>,
    halt: Option<&HaltReason>,
    finished_at: String,
) -> Done {
    let Job {
        seq,
        source,
        line,
        file_line,
        order,
        payload,
        extra,
    } = job;
    let (order_no, sub_order_no) = (order.order_no, order.sub_order_no);
    let row_md5 = payload.md5;
    // The order's strings move into the row; the ledger line copies the one it needs.
    let mut text = RowText::from_order(order);
    text.extra = extra;
    let mut row = ResultRow::new(text, Status::NotAttempted, source, line);
    let (settled, reply, attempts, note) = match delivery {
        Delivery::NotSent => {
            let reason = halt.map(ToString::to_string).unwrap_or_default();
            let row = row.with_error("", format!("not sent: the run stopped early ({reason})"));
            return Done::decided(seq, file_line, row, true);
        }
        Delivery::Answered { reply, attempts } => {
            let settled = match reply.verdict {
                Verdict::Delivered => Settled::Delivered,
                _ => Settled::Rejected,
            };
            (settled, reply, attempts, None)
        }
        Delivery::GaveUp {
            reply,
            attempts,
            note,
        } => (Settled::Failed, reply, attempts, note),
    };
    row.status = match settled {
        Settled::Delivered => Status::Delivered,
        Settled::Rejected => Status::Rejected,
        Settled::Failed => Status::Failed,
    };
    row.error_code = reply.error_code;
    row.error_msg = match note {
        Some(note) => format!("{} ({note})", reply.error_msg),
        None => reply.error_msg,
    };
    row.sub_code = reply.sub_code;
    row.sub_msg = reply.sub_msg;
    row.top_request_id = reply.top_request_id;
    row.attempts = attempts;
    row.finished_at = finished_at;
    let entry = LedgerEntry {
        req_id: row.fields.req_id.clone(),
        order_no,
        sub_order_no,
        status: settled,
        error_code: row.error_code.clone(),
        error_msg: row.error_msg.clone(),
        sub_code: row.sub_code.clone(),
        sub_msg: row.sub_msg.clone(),
        // The payload is the job's alone by now: its JSON moves into the ledger.
        param0: Arc::try_unwrap(payload).map_or_else(|shared| shared.json.clone(), |p| p.json),
        payload_md5: row_md5,
        top_request_id: row.top_request_id.clone(),
        attempts,
        finished_at: row.finished_at.clone(),
        run_id: Arc::clone(run_id),
        // Filled by the recorder, which knows the sources' names.
        source: Arc::from(""),
        line,
    };
    Done {
        seq,
        file_line,
        row,
        entry: Some(Box::new(entry)),
        sighting: None,
        planned: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Order;
    use crate::signals::Signal;

    fn job() -> Job {
        let order = Order {
            sub_order_no: Some(7),
            order_no: 42,
            success: true,
            result_code: None,
            result_desc: None,
            req_id: "R1".into(),
            ext: None,
        };
        Job {
            seq: 3,
            source: 1,
            line: 9,
            file_line: 10,
            payload: Arc::new(order.payload()),
            order,
            extra: vec!["备注".into()],
        }
    }

    fn reply(verdict: Verdict, code: &str) -> Reply {
        Reply {
            verdict,
            error_code: code.into(),
            error_msg: format!("msg {code}"),
            sub_code: "isp.x".into(),
            sub_msg: "sub".into(),
            top_request_id: "rid".into(),
        }
    }

    fn run() -> Arc<str> {
        Arc::from("run-1")
    }

    #[test]
    fn an_answer_becomes_a_result_row_and_a_ledger_line_alike() {
        for (verdict, status, settled) in [
            (Verdict::Delivered, Status::Delivered, Settled::Delivered),
            (Verdict::Rejected, Status::Rejected, Settled::Rejected),
        ] {
            let delivery = Delivery::Answered {
                reply: reply(verdict, "0000"),
                attempts: 2,
            };
            let done = record(job(), delivery, &run(), None, "T".into());
            assert_eq!((done.seq, done.file_line, done.planned), (3, 10, true));
            assert_eq!(done.row.status, status);
            assert_eq!((done.row.attempts, done.row.finished_at.as_str()), (2, "T"));
            assert_eq!((done.row.source, done.row.line), (1, 9));
            assert_eq!(
                done.row.fields.extra,
                ["备注"],
                "carried columns ride along"
            );
            let entry = done.entry.expect("a ledger line");
            assert_eq!(entry.status, settled);
            assert_eq!((entry.req_id.as_str(), entry.order_no), ("R1", 42));
            assert_eq!(entry.payload_md5, job().payload.md5);
            assert_eq!(
                (entry.error_code.as_str(), entry.sub_code.as_str()),
                ("0000", "isp.x")
            );
            assert_eq!(&*entry.run_id, "run-1");
        }
    }

    #[test]
    fn a_given_up_order_is_failed_with_the_note_after_the_message() {
        let delivery = Delivery::GaveUp {
            reply: reply(Verdict::Transient, "net.timeout"),
            attempts: 5,
            note: Some("the run halted before the next attempt"),
        };
        let done = record(job(), delivery, &run(), None, "T".into());
        assert_eq!(done.row.status, Status::Failed);
        assert_eq!(
            done.row.error_msg,
            "msg net.timeout (the run halted before the next attempt)"
        );
        assert_eq!(done.entry.map(|e| e.status), Some(Settled::Failed));
    }

    #[test]
    fn an_order_never_sent_has_no_ledger_line_and_says_why() {
        let halt = HaltReason::Signal(Signal::Terminate);
        let done = record(job(), Delivery::NotSent, &run(), Some(&halt), "T".into());
        assert_eq!(done.row.status, Status::NotAttempted);
        assert!(done.entry.is_none());
        assert!(
            done.row.error_msg.contains("SIGTERM"),
            "{}",
            done.row.error_msg
        );
        assert_eq!(done.row.attempts, 0);
    }
}
