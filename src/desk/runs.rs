//! The runs the desk lists: every result file (CSV or workbook) directly in the results
//! directory, newest first, each with its tally (cached by size and modification
//! time). A run is named in URLs by an opaque id — 16 hex digits of its name's
//! SHA-256 — and found again by listing the directory, so no request names a path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::results::ResultRow;
use crate::results::table::TableReader;
use crate::results::tally::Tally;

/// Rows needing attention shown on a run's page at most (the download has them all).
pub const ATTENTION_SHOWN: usize = 2000;

/// One result file.
#[derive(Debug, Clone)]
pub struct ResultFile {
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    pub modified: SystemTime,
    pub tally: Arc<Tally>,
}

impl ResultFile {
    /// When the file was last written, Beijing time.
    pub fn when(&self) -> String {
        let at: chrono::DateTime<chrono::Utc> = self.modified.into();
        at.with_timezone(&crate::clock::beijing())
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
}

pub use crate::results::run_id_of as id_of;

/// Whether `id` has the shape of an id (checked before anything is looked up).
pub fn is_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

type CacheKey = (u64, SystemTime);

/// By file name: its size and time when read, and its tally (none: not a result file).
type Cache = HashMap<String, (CacheKey, Option<Arc<Tally>>)>;

/// The result files of a directory.
#[derive(Debug)]
pub struct Runs {
    dir: PathBuf,
    cache: Mutex<Cache>,
}

impl Runs {
    pub fn new(dir: &Path) -> Runs {
        Runs {
            dir: dir.to_owned(),
            cache: Mutex::default(),
        }
    }

    /// Every result file, newest first. Files that are not result tables (the audit
    /// log, a half-written temporary, anything else) are left out.
    pub fn list(&self) -> Vec<ResultFile> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut runs = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !(name.ends_with(".csv") || name.ends_with(".xlsx")) {
                continue;
            }
            // Regular files only: a link could point anywhere.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.file_type().is_file() || meta.len() == 0 {
                continue;
            }
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let path = entry.path();
            if let Some(tally) = self.tally(&name, &path, (meta.len(), modified)) {
                runs.push(ResultFile {
                    id: id_of(&name),
                    name,
                    path,
                    modified,
                    tally,
                });
            }
        }
        runs.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
        runs
    }

    /// The run with this id.
    pub fn find(&self, id: &str) -> Option<ResultFile> {
        if !is_id(id) {
            return None;
        }
        self.list().into_iter().find(|run| run.id == id)
    }

    fn tally(&self, name: &str, path: &Path, key: CacheKey) -> Option<Arc<Tally>> {
        if let Some((known, tally)) = self.cache.lock().ok()?.get(name)
            && *known == key
        {
            return tally.clone();
        }
        let tally = read_tally(path).map(Arc::new);
        self.cache
            .lock()
            .ok()?
            .insert(name.to_owned(), (key, tally.clone()));
        tally
    }
}

fn read_tally(path: &Path) -> Option<Tally> {
    let mut table = TableReader::open(path).ok()?;
    let mut tally = Tally::default();
    while let Some(row) = table.next_row().ok()? {
        tally.add(&row);
    }
    Some(tally)
}

/// What a page or a download shows of a row's `source`: the file's name, never its
/// path on the server.
pub fn label_of(source: &str) -> &str {
    source.rsplit(['/', '\\']).next().unwrap_or(source)
}

/// A row needing attention, with the name of the file it came from.
#[derive(Debug, Clone)]
pub struct Shown {
    pub row: ResultRow,
    pub source: String,
    /// What a corrected row changes against the ledger's last payload (the preview's).
    pub changed: Vec<super::changes::Change>,
    /// The order's state in the ledger now (a run's page: what still needs attention).
    pub now: Option<crate::ledger::OrderState>,
}

/// Each row's order as the ledger has it now (of this kind: real, or `--simulate`'s):
/// what needed attention that night and what still does.
pub fn now_in(ledger: &Path, simulated: bool, rows: &mut [Shown]) {
    if !ledger.exists() {
        return;
    }
    let Ok(opened) = crate::ledger::Ledger::open(ledger, crate::ledger::Access::Read) else {
        return;
    };
    for shown in rows {
        let req_id = &shown.row.fields.req_id;
        if req_id.is_empty() {
            continue;
        }
        shown.now = crate::ledger::orders::find(&opened, req_id)
            .ok()
            .into_iter()
            .flatten()
            .find(|o| o.req_id == *req_id && o.simulated == simulated)
            .map(|o| o.state);
    }
}

/// The runs the ledger recorded, by the name of the result file each wrote (the newest
/// run of a name): who or what started it, its inputs with their SHA-256.
pub fn recorded(ledger: &Path) -> HashMap<String, crate::ledger::runs::RunRow> {
    let mut by_file = HashMap::new();
    if !ledger.exists() {
        return by_file;
    }
    let Ok(opened) = crate::ledger::Ledger::open(ledger, crate::ledger::Access::Read) else {
        return by_file;
    };
    for run in crate::ledger::runs::newest(&opened, RECORDED).unwrap_or_default() {
        if let Some(results) = &run.results {
            by_file.entry(label_of(results).to_owned()).or_insert(run);
        }
    }
    by_file
}

/// The runs of the ledger the desk names on its pages, newest first.
const RECORDED: usize = 2000;

/// The rows of a result file that need attention (at most `ATTENTION_SHOWN`).
pub fn attention(path: &Path) -> Result<Vec<Shown>, crate::results::table::TableError> {
    rows_where(path, ATTENTION_SHOWN, |row| row.status.needs_attention())
}

/// The first `limit` rows of a result file that `keep` keeps.
pub fn rows_where(
    path: &Path,
    limit: usize,
    keep: impl Fn(&ResultRow) -> bool,
) -> Result<Vec<Shown>, crate::results::table::TableError> {
    let mut table = TableReader::open(path)?;
    let mut rows = Vec::new();
    while rows.len() < limit
        && let Some(row) = table.next_row()?
    {
        if keep(&row) {
            let source = label_of(table.source(&row)).to_owned();
            rows.push(Shown {
                row,
                source,
                changed: Vec::new(),
                now: None,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_opaque_and_checked() {
        let id = id_of("results-2026-12-01.csv");
        assert!(is_id(&id), "{id}");
        assert_ne!(id, id_of("results-2026-12-02.csv"));
        assert!(!is_id("../../etc/passwd"));
        assert!(!is_id("0123456789ABCDEF"));
        assert!(!is_id("0123456789abcde"));
    }

    #[test]
    fn only_result_tables_are_runs() {
        let dir = tempfile::tempdir().expect("dir");
        let header = crate::columns::RESULT_HEADER.join(",");
        std::fs::write(
            dir.path().join("night.csv"),
            format!("{header}\nr1,1,,true,,,,delivered,,,,,,1,t,in.csv,1\nr2,2,,true,,,,rejected,B01,m,,,,1,t,in.csv,2\n"),
        )
        .expect("write");
        std::fs::write(dir.path().join("audit.log"), "{}\n").expect("write");
        std::fs::write(dir.path().join("notes.csv"), "a,b\n1,2\n").expect("write");
        std::fs::write(dir.path().join(".tmp.csv"), format!("{header}\n")).expect("write");
        let runs = Runs::new(dir.path());
        let listed = runs.list();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].tally.rows(), 2);
        assert!(listed[0].tally.needs_attention());
        assert!(runs.find(&listed[0].id).is_some());
        assert!(runs.find(&id_of("notes.csv")).is_none());
        let rows = attention(&listed[0].path).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row.fields.req_id, "r2");
        assert_eq!(rows[0].source, "in.csv");
    }
}
