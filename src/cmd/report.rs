//! `report PATH`: what a result CSV or a ledger says — counts by status and by error
//! code with their messages, first-charge amounts to the cent, the req_ids that need
//! attention — and, for a result CSV, `--failed-only --out` to write just those rows,
//! ready to be corrected and sent again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read as _};
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::cli::ReportArgs;
use crate::columns::RESULT_HEADER;
use crate::csvio::{RawRecord, RecordReader};
use crate::exit::Exit;
use crate::input::values::{amount_cents, unguard};
use crate::ledger;
use crate::outfile::Replacement;
use crate::status::Status;
use crate::text::visible;

/// How many req_ids needing attention are listed before "… and N more".
const ATTENTION_LISTED: usize = 20;

/// What kind of file was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Results,
    Ledger,
}

/// Counts of one file.
#[derive(Debug, Default)]
struct Report {
    rows: u64,
    by_status: BTreeMap<Status, (u64, u128)>,
    by_error: BTreeMap<(String, String), (u64, String)>,
    attention: Vec<(String, Status, String)>,
    attention_total: u64,
    amount_rows: u64,
    distinct_req_ids: Option<u64>,
    /// req_ids whose latest line came from a `--simulate` run (ledger only).
    simulated: u64,
}

impl Report {
    fn add(
        &mut self,
        req_id: &str,
        status: Status,
        code: &str,
        sub_code: &str,
        message: &str,
        cents: Option<u128>,
    ) {
        self.rows += 1;
        let entry = self.by_status.entry(status).or_default();
        entry.0 += 1;
        if let Some(cents) = cents {
            entry.1 += cents;
            self.amount_rows += 1;
        }
        if status.needs_attention() {
            if !code.is_empty() {
                let error = self
                    .by_error
                    .entry((code.to_owned(), sub_code.to_owned()))
                    .or_insert_with(|| (0, message.to_owned()));
                error.0 += 1;
            }
            self.attention_total += 1;
            if self.attention.len() < ATTENTION_LISTED {
                self.attention
                    .push((req_id.to_owned(), status, code.to_owned()));
            }
        }
    }
}

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let mut roles = crate::roles::Roles::default();
    roles.claim("PATH", &args.path)?;
    if let Some(out) = &args.out {
        roles.claim("--out", out)?;
    }
    let kind = kind_of(&args.path)?;
    if args.failed_only && kind == Kind::Ledger {
        bail!("--failed-only needs a result CSV: a ledger does not keep the orders' contents");
    }
    if args.failed_only != args.out.is_some() {
        bail!("--failed-only and --out go together: report PATH --failed-only --out FILE");
    }
    let report = match kind {
        Kind::Results => report_results(&args.path, args.out.as_deref())?,
        Kind::Ledger => report_ledger(&args.path)?,
    };
    print!("{}", render(&args.path, kind, &report));
    if let Some(out) = &args.out {
        println!(
            "wrote {} rows that need attention to {}",
            report.attention_total,
            out.display()
        );
    }
    Ok(Exit::Success)
}

fn kind_of(path: &Path) -> anyhow::Result<Kind> {
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
            "{} is neither a result CSV nor a ledger: its first line is '{first}'",
            path.display()
        )
    }
}

fn report_results(path: &Path, failed_out: Option<&Path>) -> anyhow::Result<Report> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut input = BufReader::new(file);
    skip_bom(&mut input)?;
    let mut records = RecordReader::new(b',', input);
    let mut writer = match failed_out {
        Some(out) => {
            let (replacement, file) = Replacement::create(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mut csv = crate::csvio::report_writer(std::io::BufWriter::new(file));
            csv.write_record(RESULT_HEADER)?;
            Some((replacement, csv))
        }
        None => None,
    };
    let mut report = Report::default();
    let mut record = RawRecord::default();
    let read_error = |e| anyhow::anyhow!("cannot read {}: {e}", path.display());
    records.read(&mut record).map_err(read_error)?;
    let mut row = 0;
    while records.read(&mut record).map_err(read_error)? {
        row += 1;
        if record.oversize.is_some() {
            bail!(
                "{} row {row} is longer than a result row can be; is this a result CSV?",
                path.display()
            );
        }
        let cells: Vec<std::borrow::Cow<'_, str>> =
            record.iter().map(String::from_utf8_lossy).collect();
        let get = |column: usize| unguard(cells.get(column).map_or("", |c| c.as_ref()));
        let status: Status = get(7)
            .parse()
            .map_err(|e| anyhow::anyhow!("{} row {row}: {e}", path.display()))?;
        let message = [get(9), get(11)]
            .iter()
            .filter(|m| !m.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" — ");
        report.add(
            get(0),
            status,
            get(8),
            get(10),
            &message,
            first_charge_cents(get(6)),
        );
        if let Some((_, csv)) = writer.as_mut().filter(|_| status.needs_attention()) {
            csv.write_record(record.iter())?;
        }
    }
    if let Some((replacement, csv)) = writer {
        let sink = csv.into_inner().map_err(|e| e.into_error())?;
        let file = sink.into_inner().map_err(|e| e.into_error())?;
        replacement
            .commit(file)
            .with_context(|| format!("cannot write {}", failed_out.unwrap_or(path).display()))?;
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
        report.add(
            req_id,
            status,
            &record[ledger::col::ERROR_CODE],
            &record[ledger::col::SUB_CODE],
            "",
            None,
        );
    })?;
    report.rows = lines;
    report.distinct_req_ids = Some(report.by_status.values().map(|(n, _)| n).sum());
    report.simulated = simulated_states;
    Ok(report)
}

/// `firstChargeAmount` of an ext JSON text, in cents.
fn first_charge_cents(ext: &str) -> Option<u128> {
    let value: serde_json::Value = serde_json::from_str(ext).ok()?;
    match value.get("firstChargeAmount")? {
        serde_json::Value::String(s) => amount_cents(s.trim()),
        serde_json::Value::Number(n) => amount_cents(&n.to_string()),
        _ => None,
    }
}

fn skip_bom(reader: &mut BufReader<File>) -> std::io::Result<()> {
    use std::io::BufRead as _;
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

fn yuan(cents: u128) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn render(path: &Path, kind: Kind, report: &Report) -> String {
    let mut text = match (kind, report.distinct_req_ids) {
        (Kind::Ledger, Some(distinct)) => {
            let simulated = match report.simulated {
                0 => String::new(),
                n => format!("; {n} more from --simulate runs, not counted"),
            };
            format!(
                "{}: ledger, {} lines, {distinct} req_ids (latest state of each below{simulated})\n",
                path.display(),
                report.rows
            )
        }
        _ => format!("{}: result CSV, {} rows\n", path.display(), report.rows),
    };
    let show_amounts = report.amount_rows > 0;
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
    for (status, (count, cents)) in &report.by_status {
        text.push_str(&format!("  {:<20}{count:>8}", status.as_str()));
        if show_amounts {
            text.push_str(&format!("   {:>19}", yuan(*cents)));
        }
        text.push('\n');
    }
    if !report.by_error.is_empty() {
        let mut errors: Vec<_> = report.by_error.iter().collect();
        errors.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
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
    if report.attention_total > 0 {
        text.push_str(&format!("need attention ({}):\n", report.attention_total));
        for (req_id, status, code) in &report.attention {
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
        if report.attention_total > report.attention.len() as u64 {
            text.push_str(&format!(
                "  … and {} more\n",
                report.attention_total - report.attention.len() as u64
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_from_ext_to_the_cent() {
        assert_eq!(
            first_charge_cents(r#"{"firstChargeAmount":"49.90"}"#),
            Some(4990)
        );
        assert_eq!(
            first_charge_cents(r#"{"firstChargeAmount":100}"#),
            Some(10000)
        );
        assert_eq!(first_charge_cents(r#"{"other":1}"#), None);
        assert_eq!(first_charge_cents(""), None);
        assert_eq!(yuan(4990 + 10000), "149.90");
    }
}
