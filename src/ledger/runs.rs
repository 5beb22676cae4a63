//! The runs the ledger recorded: who or what started each, its inputs with their
//! SHA-256, how it ended; and the calls made per Beijing day.

use rusqlite::params;

use super::db::sql;
use super::{Ledger, LedgerError};

/// A run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: String,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub simulated: bool,
    pub exit_code: Option<u8>,
    pub plan_digest: Option<String>,
    pub calls: u64,
    /// Rows by status, as the run counted them (JSON object text).
    pub counts: Option<String>,
    /// The result file it wrote.
    pub results: Option<String>,
    pub error: Option<String>,
    /// Each input: its name, SHA-256 and size (a file's).
    pub inputs: Vec<(String, Option<String>, Option<u64>)>,
}

/// The newest `limit` runs, newest first.
pub fn newest(ledger: &Ledger, limit: usize) -> Result<Vec<RunRow>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare(
            "SELECT id, started_by, started_at, finished_at, simulated, exit_code, plan_digest, calls, counts, results, error
             FROM runs ORDER BY started_at DESC LIMIT ?1",
        )
        .map_err(|e| sql(path, e))?;
    let rows = statement
        .query_map(params![limit as i64], |row| {
            Ok(RunRow {
                id: row.get(0)?,
                started_by: row.get(1)?,
                started_at: row.get(2)?,
                finished_at: row.get(3)?,
                simulated: row.get(4)?,
                exit_code: row.get::<_, Option<i64>>(5)?.map(|c| c as u8),
                plan_digest: row.get(6)?,
                calls: row.get::<_, i64>(7)? as u64,
                counts: row.get(8)?,
                results: row.get(9)?,
                error: row.get(10)?,
                inputs: Vec::new(),
            })
        })
        .map_err(|e| sql(path, e))?;
    let mut runs: Vec<RunRow> = rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))?;
    let mut inputs = ledger
        .conn
        .prepare("SELECT name, sha256, bytes FROM run_inputs WHERE run_id = ?1 ORDER BY position")
        .map_err(|e| sql(path, e))?;
    for run in &mut runs {
        let rows = inputs
            .query_map(params![run.id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get::<_, Option<i64>>(2)?.map(|b| b as u64),
                ))
            })
            .map_err(|e| sql(path, e))?;
        run.inputs = rows.collect::<Result<_, _>>().map_err(|e| sql(path, e))?;
    }
    Ok(runs)
}

/// Every run's inputs by name, in their order: run id → names (as the run was given
/// them: a path, `-`, or the desk's label).
pub fn input_names(
    ledger: &Ledger,
) -> Result<std::collections::HashMap<String, Vec<String>>, LedgerError> {
    let path = &ledger.path;
    let mut statement = ledger
        .conn
        .prepare("SELECT run_id, name FROM run_inputs ORDER BY run_id, position")
        .map_err(|e| sql(path, e))?;
    let mut rows = statement.query([]).map_err(|e| sql(path, e))?;
    let mut names: std::collections::HashMap<String, Vec<String>> = Default::default();
    while let Some(row) = rows.next().map_err(|e| sql(path, e))? {
        let run: String = row.get(0).map_err(|e| sql(path, e))?;
        names
            .entry(run)
            .or_default()
            .push(row.get(1).map_err(|e| sql(path, e))?);
    }
    Ok(names)
}

/// The calls made on `day` (`YYYY-MM-DD`, Beijing), every run and the desk alike.
pub fn calls_on(ledger: &Ledger, day: &str) -> Result<u64, LedgerError> {
    ledger
        .conn
        .query_row(
            "SELECT coalesce(sum(calls), 0) FROM calls_per_day WHERE day = ?1",
            params![day],
            |row| row.get::<_, i64>(0),
        )
        .map(|calls| calls as u64)
        .map_err(|e| sql(&ledger.path, e))
}
