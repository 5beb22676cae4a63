//! Pass two: every row decided in input order, then the ledger's orders sent again.
//! Rows decided without a call go straight to the recorder as `Done`; rows to send go
//! to delivery as `Job`s — after the recorder has written them to the ledger as
//! pending (a live run). Both travel in batches, and reading waits for room in the
//! window.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::halt::{Halt, HaltReason};
use super::recorder::{Done, Record};
use super::window::{BATCH, Window};
use crate::columns::RowText;
use crate::input::fingerprint::{self, Fingerprints, GROUP, Groups};
use crate::input::{InputError, InputRow, InputSet, parallel};
use crate::ledger::record::PendingOrder;
use crate::order::Order;
use crate::plan::{Decision, KeptRow, Plan};
use crate::results::ResultRow;
use crate::status::Status;
use crate::top::Payload;

/// A row to send.
#[derive(Debug)]
pub struct Job {
    /// Position in input order, from 0.
    pub seq: u64,
    pub source: u32,
    pub line: u64,
    pub file_line: u64,
    pub order: Order,
    pub payload: Arc<Payload>,
    /// The input's columns the API does not use, for the result row.
    pub extra: Vec<String>,
}

/// Where routed rows go, and how.
#[derive(Debug)]
pub struct Routes<'a> {
    pub dry_run: bool,
    /// Orders to send are written to the ledger as pending first (a live run).
    pub pending: bool,
    pub window: &'a Window,
    pub sends: &'a mpsc::Sender<Vec<Job>>,
    pub decided: &'a mpsc::Sender<Record>,
    /// The source index of rows that come from the ledger (`source` = `ledger`).
    pub ledger_source: u32,
    /// How many carried columns a row has (the ledger's rows have them empty).
    pub extra: usize,
}

/// Decides every row (on every core, `input::parallel`) and hands the rows on in input
/// order, in batches: sends to `sends`, the rest to `decided`; then the ledger's
/// orders to send again.
pub fn route_all(
    inputs: &InputSet,
    plan: &Plan,
    routes: &Routes<'_>,
    halt: &Halt,
) -> Result<(), InputError> {
    let mut seq = 0;
    if let Some(rows) = plan.take_kept() {
        if route_kept(rows, plan, routes, &mut seq).is_ok() {
            route_resends(plan, routes, &mut seq);
        }
        return Ok(());
    }
    let (dry_run, window) = (routes.dry_run, routes.window);
    let mut changed = None;
    let mut check = Check::default();
    let read = parallel::map_in_order(
        inputs,
        BATCH,
        // Room for a whole batch first: never wait while holding rows not handed on.
        |batch| window.acquire(batch),
        |record| {
            let routed = inputs
                .finish(record)
                .map(|row| route(row, None, plan, dry_run));
            (fingerprint::of_record(record), routed)
        },
        |batch| {
            // Nothing of a batch is handed on before it is known to be what pass one
            // read (a batch is one group of records, but the last).
            if let Some(read) = plan.read()
                && !check.batch_as_read(&batch, read)
            {
                changed.get_or_insert(check.place());
                window.close();
                return false;
            }
            let routed = batch.into_iter().filter_map(|(_, routed)| routed);
            let handed = hand_on(routed, &mut seq, routes);
            if let Err(place) = handed {
                changed = place;
            }
            // When nobody takes rows any more, the reading thread runs to its end.
            handed.is_ok()
        },
    );
    if changed.is_none()
        && read.is_ok()
        && let Some(expected) = plan.read()
        && !check.all_read(expected)
    {
        changed = Some(check.place());
    }
    match changed {
        Some((source, line)) => {
            let error = || InputError::ChangedRow {
                name: inputs.names()[source as usize].clone(),
                line,
            };
            // At once: the rows queued but not yet sent are not sent either.
            halt.trigger(HaltReason::Input(Arc::new(error())));
            Err(error())
        }
        None => {
            if read.is_ok() {
                route_resends(plan, routes, &mut seq);
            }
            read
        }
    }
}

/// The ledger's orders to send again, after the input's rows: each sent from the
/// `param0` the ledger kept, its row's source `ledger`, its line its place in the list.
fn route_resends(plan: &Plan, routes: &Routes<'_>, seq: &mut u64) {
    let resends = plan.take_resends();
    let mut rows = resends.into_iter().enumerate().peekable();
    while rows.peek().is_some() {
        routes.window.acquire(BATCH);
        let batch = rows.by_ref().take(BATCH).map(|(at, resend)| {
            let (source, line) = (routes.ledger_source, at as u64 + 1);
            let Some(order) = crate::order::Order::from_param0(&resend.param0) else {
                let fields = RowText {
                    req_id: resend.req_id.clone(),
                    extra: vec![String::new(); routes.extra],
                    ..RowText::default()
                };
                let row = ResultRow::new(fields, Status::NotAttempted, source, line).with_error(
                    "ledger.bad_param0",
                    "the ledger's param0 of this order cannot be read back: send it from an export"
                        .to_owned(),
                );
                return Routed::Done(Done::decided(0, line, row, true));
            };
            if routes.dry_run {
                let mut fields = RowText::from_order(order);
                fields.extra = vec![String::new(); routes.extra];
                let row = ResultRow::new(fields, Status::WouldSend, source, line);
                return Routed::Done(Done::decided(0, line, row, false));
            }
            Routed::Send(Job {
                seq: 0,
                source,
                line,
                file_line: line,
                payload: Arc::new(Payload::encoded(
                    &order.req_id,
                    resend.param0,
                    resend.payload_md5,
                )),
                order,
                extra: vec![String::new(); routes.extra],
            })
        });
        if hand_on(batch, seq, routes).is_err() {
            return;
        }
    }
}

/// Pass two over the rows pass one kept: nothing is read again, so nothing can have
/// changed; each valid row's `param0` was encoded by pass one. `Err` when nobody takes
/// rows any more.
fn route_kept(
    rows: Vec<KeptRow>,
    plan: &Plan,
    routes: &Routes<'_>,
    seq: &mut u64,
) -> Result<(), ()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        routes.window.acquire(BATCH);
        let batch = rows
            .by_ref()
            .take(BATCH)
            .map(|kept| route(kept.row, kept.param0, plan, routes.dry_run));
        if hand_on(batch, seq, routes).is_err() {
            return Err(());
        }
    }
    Ok(())
}

/// Numbers a batch of routed rows in input order and hands them on, after taking
/// room for `BATCH` of them in the window. `Err` when nothing more is to be handed on:
/// nobody takes rows any more, or a row was not what pass one read (its place; the
/// rows before it went on).
fn hand_on(
    batch: impl Iterator<Item = Routed>,
    seq: &mut u64,
    routes: &Routes<'_>,
) -> Result<(), Option<(u32, u64)>> {
    let (window, sends, decided) = (routes.window, routes.sends, routes.decided);
    let (mut to_send, mut done) = (Vec::new(), Vec::with_capacity(BATCH));
    let mut changed = None;
    for mut routed in batch {
        routed.number(*seq);
        *seq += 1;
        match routed {
            Routed::Send(job) => to_send.push(job),
            Routed::Done(finished) => done.push(finished),
            Routed::Changed { source, line } => {
                changed = Some((source, line));
                break;
            }
        }
    }
    window.release(BATCH - to_send.len() - done.len());
    // In the ledger as pending before any of them goes out.
    let pending = !routes.pending || to_send.is_empty() || write_pending(&to_send, decided);
    let handed = pending
        && (to_send.is_empty() || sends.blocking_send(to_send).is_ok())
        && (done.is_empty() || decided.blocking_send(Record::Rows(done)).is_ok());
    if !handed || changed.is_some() {
        window.close();
        return Err(changed);
    }
    Ok(())
}

/// Has the recorder write `jobs` to the ledger as pending; whether it did.
fn write_pending(jobs: &[Job], decided: &mpsc::Sender<Record>) -> bool {
    let orders = jobs
        .iter()
        .map(|job| PendingOrder {
            key: crate::ledger::ReqKey::of(&job.order.req_id),
            req_id: job.order.req_id.clone(),
            order_no: job.order.order_no,
            sub_order_no: job.order.sub_order_no,
            param0: job.payload.json.clone(),
            payload_md5: job.payload.md5,
        })
        .collect();
    let (ack, written) = std::sync::mpsc::sync_channel(1);
    decided
        .blocking_send(Record::Pending { orders, ack })
        .is_ok()
        && written.recv().unwrap_or(false)
}

// A batch of pass two is one group of pass one's fingerprints.
const _: () = assert!(BATCH == GROUP);

/// Pass two's records checked against pass one's, group by group.
#[derive(Debug, Default)]
struct Check {
    groups: Groups,
    /// Groups checked so far.
    checked: usize,
    /// The place of the first record of the group being checked (file, data row).
    place: (u32, u64),
}

impl Check {
    /// Whether `batch` — a whole group, or the last records — is what pass one read.
    fn batch_as_read(&mut self, batch: &[(u64, Option<Routed>)], read: &Fingerprints) -> bool {
        if let Some(place) = batch
            .iter()
            .find_map(|(_, routed)| routed.as_ref().map(Routed::place))
        {
            self.place = place;
        }
        let mut hashes = batch
            .iter()
            .filter_map(|(record, _)| self.groups.add(*record))
            .collect::<Vec<_>>();
        if batch.len() < GROUP {
            hashes.extend(self.groups.finish());
        }
        hashes.into_iter().all(|group| {
            let same = read.0.get(self.checked) == Some(&group);
            self.checked += 1;
            same
        })
    }

    /// Whether pass two read every group pass one did (none missing at the end).
    fn all_read(&mut self, read: &Fingerprints) -> bool {
        let last = self.groups.finish();
        let groups = self.checked + usize::from(last.is_some());
        last.is_none_or(|group| read.0.get(self.checked) == Some(&group)) && groups == read.0.len()
    }

    fn place(&self) -> (u32, u64) {
        self.place
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "short-lived: built and moved once into a batch"
)]
enum Routed {
    Send(Job),
    Done(Done),
    /// Not the row pass one read at this place.
    Changed {
        source: u32,
        line: u64,
    },
}

impl Routed {
    /// The file and data row it came from.
    fn place(&self) -> (u32, u64) {
        match self {
            Routed::Send(job) => (job.source, job.line),
            Routed::Done(done) => (done.row.source, done.row.line),
            Routed::Changed { source, line } => (*source, *line),
        }
    }

    fn number(&mut self, seq: u64) {
        match self {
            Routed::Send(job) => job.seq = seq,
            Routed::Done(done) => done.seq = seq,
            Routed::Changed { .. } => {}
        }
    }
}

/// Routes one row, whose `param0` pass one may have encoded already; its `seq` is set
/// by `Routed::number`, in input order.
fn route(row: InputRow, param0: Option<(String, [u8; 16])>, plan: &Plan, dry_run: bool) -> Routed {
    let InputRow {
        source,
        line,
        file_line,
        order,
        extra,
    } = row;
    let mut routed = decide(source, line, file_line, order, param0, plan, dry_run);
    match &mut routed {
        Routed::Send(job) => job.extra = extra,
        Routed::Done(done) => done.row.fields.extra = extra,
        Routed::Changed { .. } => {}
    }
    routed
}

/// What becomes of one row's order (its extra columns are added by `route`).
fn decide(
    source: u32,
    line: u64,
    file_line: u64,
    order: Result<crate::order::Order, Box<crate::input::Invalid>>,
    param0: Option<(String, [u8; 16])>,
    plan: &Plan,
    dry_run: bool,
) -> Routed {
    let done = |text: RowText, status: Status, code: &str, message: String| {
        let row = ResultRow::new(text, status, source, line).with_error(code, message);
        Routed::Done(Done::decided(0, file_line, row, false))
    };
    let order = match order {
        Ok(order) => order,
        Err(invalid) => {
            return done(
                invalid.fields,
                Status::Invalid,
                invalid.error.code,
                invalid.error.message,
            );
        }
    };
    match plan.decide(source, line, &order.req_id) {
        Decision::Changed => Routed::Changed { source, line },
        Decision::Skip {
            status,
            code,
            message,
            order: known,
        } => {
            let mut skipped = done(RowText::from_order(order), status, code, message);
            if let (Routed::Done(finished), Some(id)) = (&mut skipped, known) {
                finished.sighting = Some((id, status.as_str()));
            }
            skipped
        }
        Decision::Send if dry_run => done(
            RowText::from_order(order),
            Status::WouldSend,
            "",
            String::new(),
        ),
        Decision::Send => Routed::Send(Job {
            seq: 0,
            source,
            line,
            file_line,
            payload: Arc::new(match param0 {
                Some((json, md5)) => Payload::encoded(&order.req_id, json, md5),
                None => order.payload(),
            }),
            order,
            extra: Vec::new(),
        }),
    }
}
