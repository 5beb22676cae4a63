//! The ledger's orders a run sends again (`ledger::resend`): those the export does
//! not hold, taken once by pass two after the input's rows, each a call of the plan.

use std::sync::Mutex;

use crate::ledger::key::digest_prefix;
use crate::ledger::resend::Resend;

/// The orders to send again, until pass two takes them.
#[derive(Debug, Default)]
pub struct Resends {
    orders: Mutex<Option<Vec<Resend>>>,
    /// Their calls (key, payload digest), for the plan's digest after they are taken.
    calls: Vec<([u64; 2], u64)>,
}

impl Resends {
    /// The candidates of `ledger::resend` that `in_input` does not hold.
    pub fn of(
        candidates: Vec<Resend>,
        in_input: impl Fn(&crate::ledger::ReqKey) -> bool,
    ) -> Resends {
        let orders: Vec<Resend> = candidates
            .into_iter()
            .filter(|r| !in_input(&r.key))
            .collect();
        let calls = orders
            .iter()
            .map(|r| (r.key.words(), digest_prefix(&r.payload_md5)))
            .collect();
        Resends {
            orders: Mutex::new(Some(orders)),
            calls,
        }
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Every call, for the plan's digest.
    pub fn calls(&self) -> impl Iterator<Item = ([u64; 2], u64)> + '_ {
        self.calls.iter().copied()
    }

    /// The orders (once).
    pub fn take(&self) -> Vec<Resend> {
        self.orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default()
    }
}
