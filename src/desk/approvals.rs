//! What a send from the desk needs before it goes (another user's approval, with users
//! in the ledger, unless `--approvals none`), and a request's state as its send moves
//! (back to pending when it could not start, finished when it ended): the part of the
//! requests that sending needs, kept below both.

use super::state::{Approvals, Desk};
use crate::ledger::requests::Request;
use crate::ledger::{Access, Ledger};

/// Whether a send from the desk needs another user's approval.
pub fn needs_approval(desk: &Desk) -> bool {
    // With people in the ledger; a desk without (the one-time link's, a `--users`
    // file's) is one person's.
    desk.config.approvals == Approvals::One && desk.auth.keeps_users() && desk.auth.uses_passwords()
}

pub(super) fn ledger(desk: &Desk) -> Result<Ledger, String> {
    Ledger::open(&desk.config.ledger, Access::Write).map_err(|e| e.to_string())
}

/// A send that could not start goes back to `pending`, why noted.
pub fn back_to_pending(desk: &Desk, id: &str, note: &str) {
    if let Ok(ledger) = ledger(desk) {
        let _ =
            crate::ledger::requests::decide(&ledger, id, "sending", "pending", None, Some(note));
    }
}

/// A request's send ended.
pub fn finished(desk: &Desk, id: &str, run_id: &str, exit: Option<u8>) {
    if let Ok(ledger) = ledger(desk) {
        let _ = crate::ledger::requests::finished(&ledger, id, run_id, exit.map(i64::from));
    }
}

/// Announces a new request to the robot (`--notify-url`), with a link to it; a few
/// seconds at most, on a task of its own, never changing the request.
pub(super) fn announce(desk: &Desk, request: &Request) {
    let Some(notify) = desk.config.notify.clone() else {
        return;
    };
    let base = notify
        .desk_url
        .clone()
        .or_else(|| desk.config.public_url.clone());
    let link = base
        .and_then(|base| base.join(&format!("requests/{}", request.id)).ok())
        .map(|url| format!("\n{url}"))
        .unwrap_or_default();
    let text = format!(
        "opentrade-callback [{}]: 新的发送申请待审批 a send waits for approval\n{} · {} · {} 笔 callbacks · ¥{}{link}",
        notify.label, request.made_by, request.label, request.calls, request.amount
    );
    let doc = serde_json::json!({
        "command": "request", "request": request.id, "made_by": request.made_by,
        "label": request.label, "calls": request.calls, "amount": request.amount,
        "plan_digest": request.plan_digest, "text": text,
    });
    let hooks = crate::send::hooks::Hooks {
        notify: Some(crate::send::hooks::Notify {
            on: crate::send::hooks::NotifyOn::Always,
            ..notify
        }),
        ..Default::default()
    };
    tokio::spawn(async move { hooks.finished(0, &doc.to_string()).await });
}
