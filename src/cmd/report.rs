//! `report PATH`: what a result file (CSV or workbook) or a ledger says — counts by
//! status and by error code with their messages, first-charge amounts to the cent,
//! the req_ids that need attention — and, for a result file, `--failed-only --out` to
//! write just those rows (as CSV or as a workbook), ready to be corrected and sent
//! again.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::cli::ReportArgs;
use crate::columns::RESULT_HEADER;
use crate::columns::unguard;
use crate::exit::Exit;
use crate::ledger;
use crate::results::table::{TableReader, TableWriter};
use crate::results::tally::{Counted, ResultTally, first_charge_cents, message};
use crate::status::Status;
use crate::text::visible;

/// What kind of file was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Results,
    Ledger,
}

/// What one file says.
#[derive(Debug, Default)]
struct Report {
    tally: ResultTally,
    /// Lines of a ledger (its req_ids are `tally.rows`).
    ledger_lines: u64,
    distinct_req_ids: Option<u64>,
    /// req_ids whose latest line came from a `--simulate` run (ledger only).
    simulated: u64,
}

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("PATH", &args.path)?;
    if let Some(out) = &args.out {
        roles.claim("--out", out)?;
    }
    let kind = kind_of(&args.path)?;
    if args.failed_only && kind == Kind::Ledger {
        bail!("--failed-only needs a result file: a ledger does not keep the orders' contents");
    }
    if args.failed_only != args.out.is_some() {
        bail!("--failed-only and --out go together: report PATH --failed-only --out FILE");
    }
    let report = match kind {
        Kind::Results => report_results(&args.path, args.out.as_deref())?,
        Kind::Ledger => report_ledger(&args.path)?,
    };
    crate::out!("{}", render(&args.path, kind, &report));
    if let Some(out) = &args.out {
        crate::outln!(
            "wrote {} rows that need attention to {}",
            report.tally.attention_total,
            out.display()
        );
    }
    Ok(Exit::Success)
}

/// A workbook is a result workbook; any other file is told by its first line.
fn kind_of(path: &Path) -> anyhow::Result<Kind> {
    if crate::xlsx::is_workbook(path) {
        return Ok(Kind::Results);
    }
    let mut head = vec![0u8; 4096];
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let n = file
        .read(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("")
        .trim_end();
    if first == RESULT_HEADER.join(",") {
        Ok(Kind::Results)
    } else if first == ledger::HEADER.join(",") {
        Ok(Kind::Ledger)
    } else {
        bail!(
            "{} is neither a result CSV nor a ledger: its first line is '{}'",
            path.display(),
            visible(first)
        )
    }
}

fn report_results(path: &Path, failed_out: Option<&Path>) -> anyhow::Result<Report> {
    let shown = path.display();
    let mut table = TableReader::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?
        .with_context(|| {
            format!("{shown} is not a result file: its first row is not the result header")
        })?;
    let mut failed = match failed_out {
        Some(out) => Some(
            TableWriter::create(out, false)
                .with_context(|| format!("cannot create {}", out.display()))?,
        ),
        None => None,
    };
    let mut report = Report::default();
    let mut row = 0;
    while let Some(cells) = table
        .next_row()
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
    {
        row += 1;
        let get = |column: usize| unguard(cells.get(column).map_or("", String::as_str));
        let status: Status = get(7)
            .parse()
            .map_err(|e| anyhow::anyhow!("{shown} row {row}: {e}"))?;
        report.tally.add(Counted {
            req_id: get(0),
            status,
            error_code: get(8),
            sub_code: get(10),
            message: &message(get(9), get(11)),
            cents: first_charge_cents(get(6)),
        });
        if let Some(writer) = failed.as_mut().filter(|_| status.needs_attention()) {
            let mut out: [&str; 17] = [""; 17];
            for (slot, cell) in out.iter_mut().zip(&cells) {
                *slot = cell;
            }
            writer.write(&out)?;
        }
    }
    if let Some(writer) = failed {
        let out = writer.out().to_owned();
        writer
            .finish()
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(report)
}

fn report_ledger(path: &Path) -> anyhow::Result<Report> {
    let latest = ledger::latest_lines(path)?;
    let mut report = Report::default();
    let mut lines = 0u64;
    let mut simulated_states = 0u64;
    ledger::for_each_line(path, |line, record| {
        lines += 1;
        let req_id = &record[ledger::col::REQ_ID];
        let simulated = record[ledger::col::RUN_ID].starts_with(ledger::SIMULATED_RUN_PREFIX);
        if latest.get(&ledger::scan::line_key(req_id, simulated)) != Some(&line) {
            return;
        }
        if simulated {
            simulated_states += 1;
            return;
        }
        let status = match &record[ledger::col::STATUS] {
            "delivered" => Status::Delivered,
            "rejected" => Status::Rejected,
            _ => Status::Failed,
        };
        report.tally.add(Counted {
            req_id,
            status,
            error_code: &record[ledger::col::ERROR_CODE],
            sub_code: &record[ledger::col::SUB_CODE],
            message: "",
            cents: None,
        });
    })?;
    report.ledger_lines = lines;
    report.distinct_req_ids = Some(report.tally.rows);
    report.simulated = simulated_states;
    Ok(report)
}

fn yuan(cents: u128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn render(path: &Path, kind: Kind, report: &Report) -> String {
    let tally = &report.tally;
    let mut text = match (kind, report.distinct_req_ids) {
        (Kind::Ledger, Some(distinct)) => {
            let simulated = match report.simulated {
                0 => String::new(),
                n => format!("; {n} more from --simulate runs, not counted"),
            };
            format!(
                "{}: ledger, {} lines, {distinct} req_ids (latest state of each below{simulated})\n",
                path.display(),
                report.ledger_lines
            )
        }
        _ => format!(
            "{}: result {}, {} rows\n",
            path.display(),
            if crate::xlsx::is_workbook(path) {
                "workbook"
            } else {
                "CSV"
            },
            tally.rows
        ),
    };
    let show_amounts = tally.amount_rows > 0;
    text.push_str(&format!(
        "  {:<20}{:>8}",
        "status",
        if kind == Kind::Ledger {
            "req_ids"
        } else {
            "rows"
        }
    ));
    text.push_str(if show_amounts {
        "   first-charge amount\n"
    } else {
        "\n"
    });
    for (status, (count, cents)) in &tally.by_status {
        text.push_str(&format!("  {:<20}{count:>8}", status.as_str()));
        if show_amounts {
            text.push_str(&format!("   {:>19}", yuan(*cents)));
        }
        text.push('\n');
    }
    if !tally.by_error.is_empty() {
        let errors = tally.errors();
        text.push_str("errors of the rows that need attention:\n");
        for ((code, sub_code), (count, message)) in errors {
            let code = if sub_code.is_empty() {
                code.clone()
            } else {
                format!("{code} {sub_code}")
            };
            text.push_str(&format!(
                "  {count:>8}  {}  {}\n",
                visible(&code),
                visible(message)
            ));
            if let Some(advice) =
                crate::top::response::advice(code.split(' ').next().unwrap_or(""), sub_code)
            {
                text.push_str(&format!("            → {advice}\n"));
            }
        }
    }
    if tally.attention_total > 0 {
        text.push_str(&format!("need attention ({}):\n", tally.attention_total));
        for (req_id, status, code) in &tally.attention {
            let req_id = if req_id.is_empty() {
                "(no req_id)"
            } else {
                req_id
            };
            text.push_str(&format!(
                "  {}  {status}  {}\n",
                visible(req_id),
                visible(code)
            ));
        }
        if tally.attention_total > tally.attention.len() as u64 {
            text.push_str(&format!(
                "  … and {} more\n",
                tally.attention_total - tally.attention.len() as u64
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_written_to_the_cent() {
        assert_eq!(yuan(4990 + 10000), "149.90");
        assert_eq!(yuan(5), "0.05");
    }
}
