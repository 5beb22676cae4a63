//! `ledger import | export | show | close`: the shells of `ledger::import`,
//! `ledger::export`, `ledger::story` and `ledger::close`. What writes takes the
//! ledger's lock, as a run does.

use crate::cli::{CloseArgs, ExportArgs, ImportArgs, LedgerArgs, LedgerCommand, ShowArgs};
use crate::exit::{Exit, ExitError};
use crate::ledger::export::Rows;
use crate::ledger::store::Store as _;
use crate::ledger::{Access, Ledger};
use crate::text::visible;

pub fn run(args: LedgerArgs) -> anyhow::Result<Exit> {
    match args.command {
        LedgerCommand::Import(args) => import(&args),
        LedgerCommand::Export(args) => export(&args),
        LedgerCommand::Show(args) => show(&args),
        LedgerCommand::Close(args) => close(&args),
    }
}

fn import(args: &ImportArgs) -> anyhow::Result<Exit> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("OLD.csv", &args.csv)?;
    roles.claim("--into", &args.into)?;
    roles.claim("--into's lock", &crate::ledger::lock::lock_path(&args.into))?;
    let _lock = crate::ledger::acquire(&args.into).map_err(super::lock_error)?;
    // A new ledger is built beside its place and appears whole; an existing one takes
    // the import in one transaction.
    let done = match crate::ledger::db::kind_of(&args.into) {
        Ok(crate::ledger::db::Kind::Empty) => {
            Ledger::check_new(&args.into)?;
            crate::ledger::import::import_new(&args.csv, &args.into)?
        }
        _ => crate::ledger::import::import(&Ledger::open(&args.into, Access::Write)?, &args.csv)?,
    };
    match done.before {
        Some(when) => crate::console::outln!(
            "{} was imported into {} at {when}; nothing added",
            args.csv.display(),
            args.into.display()
        ),
        None => crate::console::outln!(
            "imported {}: {} lines → {} outcomes added ({} already there), {} orders added; the CSV is unchanged",
            args.csv.display(),
            done.lines,
            done.outcomes,
            done.lines - done.outcomes,
            done.orders
        ),
    }
    Ok(Exit::Success)
}

fn export(args: &ExportArgs) -> anyhow::Result<Exit> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("LEDGER", &args.ledger)?;
    roles.claim("--out", &args.out)?;
    let ledger = Ledger::open(&args.ledger, Access::Read)?;
    let rows = if args.all { Rows::All } else { Rows::Latest };
    let lines = crate::ledger::export::export(&ledger, rows, &args.out)?;
    crate::console::outln!(
        "wrote {lines} {} to {}",
        if args.all { "outcomes" } else { "orders" },
        args.out.display()
    );
    Ok(Exit::Success)
}

fn show(args: &ShowArgs) -> anyhow::Result<Exit> {
    let ledger = Ledger::open(&args.ledger, Access::Read)?;
    let stories = ledger.story(&args.id)?;
    // The desk's requests about each order: who asked, who decided.
    let requests = stories
        .iter()
        .map(|story| {
            let runs: Vec<String> = story.events.iter().map(|e| e.run_id.clone()).collect();
            crate::ledger::requests::of_order(&ledger, &story.order.req_id, &runs)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if args.json {
        let docs: Vec<serde_json::Value> = stories
            .iter()
            .zip(&requests)
            .map(|(story, requests)| {
                let mut doc = story_doc(story);
                doc["requests"] = requests.iter().map(request_doc).collect();
                doc
            })
            .collect();
        crate::console::outln!("{}", serde_json::to_string_pretty(&docs)?);
    } else if stories.is_empty() {
        crate::console::errln!(
            "{}: no order with req_id or order number {}",
            args.ledger.display(),
            visible(&args.id)
        );
    } else {
        for (story, requests) in stories.iter().zip(&requests) {
            crate::console::out!("{}", crate::ledger::story::render(story));
            for r in requests {
                crate::console::outln!(
                    "  request {} ({}, {}): by {} at {}{}{}",
                    r.id,
                    r.kind,
                    r.state,
                    visible(&r.made_by),
                    r.made_at,
                    r.decided_by
                        .as_deref()
                        .map(|by| format!(
                            ", decided by {} at {}",
                            visible(by),
                            r.decided_at.as_deref().unwrap_or_default()
                        ))
                        .unwrap_or_default(),
                    r.note
                        .as_deref()
                        .map(|note| format!(": {}", visible(note)))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(if stories.is_empty() {
        Exit::Attention
    } else {
        Exit::Success
    })
}

/// A desk request as JSON.
fn request_doc(r: &crate::ledger::requests::Request) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "kind": r.kind, "state": r.state, "made_by": r.made_by, "made_at": r.made_at,
        "decided_by": r.decided_by, "decided_at": r.decided_at, "note": r.note,
        "run_id": r.run_id, "calls": r.calls, "amount": r.amount,
    })
}

/// A story as JSON, every field by name.
fn story_doc(story: &crate::ledger::story::Story) -> serde_json::Value {
    use crate::ledger::story::What;
    let order = &story.order;
    let events: Vec<serde_json::Value> = story
        .events
        .iter()
        .map(|event| {
            let mut doc = serde_json::json!({
                "at": event.at, "run_id": event.run_id, "started_by": event.started_by,
                "source": event.source, "line": event.line,
            });
            match &event.what {
                What::Outcome {
                    status,
                    error_code,
                    error_msg,
                    sub_code,
                    sub_msg,
                    top_request_id,
                    attempts,
                    payload_md5,
                } => {
                    doc["kind"] = "outcome".into();
                    doc["status"] = status.as_str().into();
                    doc["error_code"] = error_code.as_str().into();
                    doc["error_msg"] = error_msg.as_str().into();
                    doc["sub_code"] = sub_code.as_str().into();
                    doc["sub_msg"] = sub_msg.as_str().into();
                    doc["top_request_id"] = top_request_id.as_str().into();
                    doc["attempts"] = (*attempts).into();
                    doc["payload_md5"] = payload_md5.as_str().into();
                }
                What::Seen { status } => {
                    doc["kind"] = "seen".into();
                    doc["status"] = status.as_str().into();
                }
            }
            doc
        })
        .collect();
    serde_json::json!({
        "req_id": order.req_id,
        "order_no": order.order_no,
        "sub_order_no": order.sub_order_no,
        "state": order.state.as_str(),
        "simulated": order.simulated,
        "updated_at": order.updated_at,
        "error_code": order.error_code,
        "sub_code": order.sub_code,
        "error_msg": order.error_msg,
        "param0": order.param0,
        "payload_md5": faster_hex::hex_string(&order.payload_md5),
        "deadline": order.deadline,
        "closed": order.closed.as_ref().map(|c| serde_json::json!({"by": c.by, "at": c.at, "reason": c.reason})),
        "events": events,
    })
}

fn close(args: &CloseArgs) -> anyhow::Result<Exit> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(ExitError::new(
            Exit::Usage,
            "--reason is empty: say why the orders will not be sent",
        )
        .into());
    }
    let mut roles = crate::roles::Roles::default();
    roles.claim("LEDGER", &args.ledger)?;
    let _lock = crate::ledger::acquire(&args.ledger).map_err(super::lock_error)?;
    let ledger = Ledger::open(&args.ledger, Access::Read)?;
    let by = super::os_user();
    let done = ledger.close(&args.req_ids, &by, reason)?;
    crate::console::outln!("closed {} order(s) by {by}", done.closed.len());
    for (what, ids) in [
        ("not in the ledger", &done.unknown),
        ("delivered already, left as they are", &done.delivered),
        ("closed already", &done.already),
    ] {
        if !ids.is_empty() {
            crate::console::outln!(
                "{what}: {}",
                ids.iter()
                    .map(|id| visible(id).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(if done.unknown.is_empty() {
        Exit::Success
    } else {
        Exit::Attention
    })
}
