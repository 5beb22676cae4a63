//! The ledger database (SPEC.md "Ledger"): one SQLite file per shop, WAL journal,
//! every commit synced (`synchronous = FULL`), marked as the tool's own by its
//! `application_id`, its schema versioned by `user_version` and migrated forward on
//! open, a backup made first. Opening checks what the file is before SQLite may touch
//! it: a file that is not this tool's ledger is never modified.

use std::path::{Path, PathBuf};

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use super::LedgerError;
use super::schema;

/// The `application_id` of a ledger database ("OTCB").
pub const APPLICATION_ID: i32 = crate::columns::LEDGER_APPLICATION_ID;

/// How long a connection waits for another's write to end (the desk and a run share
/// the file; each write is short).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a command does with the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only; the ledger must exist.
    Read,
    /// Reads and writes; a missing ledger is created.
    Write,
}

/// An open ledger: one connection.
#[derive(Debug)]
pub struct Ledger {
    pub(super) path: PathBuf,
    pub(super) conn: Connection,
}

/// What a path holds, as a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing there (or an empty file): a new ledger may be made there.
    Empty,
    /// This tool's ledger database.
    Ledger,
    /// A ledger of an earlier version: an append-only CSV (`ledger import` it).
    Legacy,
    /// Anything else.
    Other,
}

/// What the file at `path` is, read from its first bytes (never through SQLite, which
/// could change it) — except a SQLite file not marked in its header: a new ledger's
/// mark may still be in its write-ahead log, which only SQLite reads (read-only).
pub fn kind_of(path: &Path) -> std::io::Result<Kind> {
    use std::io::Read as _;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Kind::Empty),
        Err(error) => return Err(error),
    };
    let mut head = Vec::with_capacity(512);
    file.take(512).read_to_end(&mut head)?;
    if crate::columns::sqlite_application_id(&head) == Some(0) {
        return Ok(unmarked(path));
    }
    Ok(kind_of_head(&head))
}

/// A SQLite file whose header has no `application_id`: a ledger if its write-ahead
/// log says so; a new one, as good as empty, if it holds no table at all (a run killed
/// while making it); otherwise another program's.
fn unmarked(path: &Path) -> Kind {
    let found = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .and_then(|conn| {
        let id: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
        let tables: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
        Ok((id, tables))
    });
    match found {
        Ok((APPLICATION_ID, _)) => Kind::Ledger,
        Ok((0, 0)) => Kind::Empty,
        _ => Kind::Other,
    }
}

/// What a file is, from its first bytes (at least the old CSV header's line). A
/// SQLite file not marked in its header may be a new ledger: `kind_of` decides.
pub fn kind_of_head(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if crate::columns::starts_as_ledger(head) {
        return Kind::Legacy;
    }
    match crate::columns::sqlite_application_id(head) {
        Some(APPLICATION_ID | 0) => Kind::Ledger,
        _ => Kind::Other,
    }
}

impl Ledger {
    /// Opens the ledger at `path` for `access`: checks what the file is, creates a new
    /// one (`Access::Write`), migrates an older schema forward (backup first).
    pub fn open(path: &Path, access: Access) -> Result<Ledger, LedgerError> {
        let shown = path.display().to_string();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            return Err(csv_named(path, shown));
        }
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.file_type().is_file()
        {
            return Err(LedgerError::NotAFile { path: shown });
        }
        let kind = kind_of(path).map_err(|error| LedgerError::Read {
            path: shown.clone(),
            error,
        })?;
        match (kind, access) {
            (Kind::Legacy, _) => return Err(LedgerError::Legacy { path: shown }),
            (Kind::Other, _) => return Err(LedgerError::NotALedger { path: shown }),
            (Kind::Empty, Access::Read) if !path.exists() => {
                return Err(LedgerError::Missing { path: shown });
            }
            // An empty file is made a ledger only by what writes.
            (Kind::Empty, Access::Read) => return Err(LedgerError::EmptyFile { path: shown }),
            _ => {}
        }
        let flags = match access {
            Access::Read => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        // A ledger reached through a symlink is opened where it lives: its journal
        // files belong beside it, not beside the link.
        let real = match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::fs::canonicalize(path).map_err(|error| LedgerError::Read {
                    path: shown.clone(),
                    error,
                })?
            }
            _ => path.to_owned(),
        };
        let conn = Connection::open_with_flags(&real, flags).map_err(|e| sql(path, e))?;
        let ledger = Ledger {
            path: path.to_owned(),
            conn,
        };
        ledger.configure(access)?;
        let created = kind == Kind::Empty;
        if created {
            // A new file's name is durable only once its directory is synced.
            ledger.create()?;
            ledger.checkpoint()?;
            sync_parent(path).map_err(|error| LedgerError::Write {
                path: path.display().to_string(),
                error,
            })?;
        } else {
            ledger.migrate()?;
        }
        Ok(ledger)
    }

    /// Checks that a ledger could be made at `path` (nothing there, or an empty file),
    /// without making it: a dry run's check, which never writes.
    pub fn check_new(path: &Path) -> Result<(), LedgerError> {
        let shown = path.display().to_string();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            return Err(csv_named(path, shown));
        }
        match kind_of(path).map_err(|error| LedgerError::Read {
            path: shown.clone(),
            error,
        })? {
            Kind::Empty | Kind::Ledger => Ok(()),
            Kind::Legacy => Err(LedgerError::Legacy { path: shown }),
            Kind::Other => Err(LedgerError::NotALedger { path: shown }),
        }
    }

    /// Another connection to the same ledger (a reader on another thread).
    pub fn reopen(&self) -> Result<Ledger, LedgerError> {
        Ledger::open(&self.path, Access::Read)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self, access: Access) -> Result<(), LedgerError> {
        let path = &self.path;
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql(path, e))?;
        // WAL: readers never block the writer; FULL: a commit is on disk when it
        // returns (group commits keep that cheap: `record`).
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| sql(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("ledger {}: journal mode {mode}, not WAL", path.display());
        }
        // A reader's pages come from the system's cache as readily: 8 MiB of its
        // own; the writer keeps more of the trees it updates.
        let cache_kib = match access {
            Access::Read => 8 * 1024,
            Access::Write => 64 * 1024,
        };
        self.conn
            .execute_batch(&format!(
                "PRAGMA synchronous = FULL; PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY;"
            ))
            .map_err(|e| sql(path, e))
    }

    /// Makes the schema of a new ledger, in one transaction.
    fn create(&self) -> Result<(), LedgerError> {
        let path = &self.path;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sql(path, e))?;
        tx.execute_batch(schema::CREATE).map_err(|e| sql(path, e))?;
        tx.execute_batch(schema::V3_TABLES)
            .map_err(|e| sql(path, e))?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
            schema::VERSION
        ))
        .map_err(|e| sql(path, e))?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('created_by', ?1), ('created_at', ?2)",
            (
                concat!("opentrade-callback ", env!("CARGO_PKG_VERSION")),
                crate::clock::now_stamp(),
            ),
        )
        .map_err(|e| sql(path, e))?;
        tx.commit().map_err(|e| sql(path, e))
    }

    /// Moves what the write-ahead log holds into the file itself: its header then
    /// names it a ledger to anyone reading its first bytes.
    pub(super) fn checkpoint(&self) -> Result<(), LedgerError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| sql(&self.path, e))
    }

    /// The schema version of this file.
    pub fn version(&self) -> Result<i32, LedgerError> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| sql(&self.path, e))
    }

    /// Brings an older schema to `schema::VERSION`: a backup of the file first
    /// (`LEDGER.bak-vN-STAMP`), then every step in one transaction.
    fn migrate(&self) -> Result<(), LedgerError> {
        let version = self.version()?;
        let shown = self.path.display().to_string();
        if version > schema::VERSION {
            return Err(LedgerError::TooNew {
                path: shown,
                version,
                known: schema::VERSION,
            });
        }
        if version == schema::VERSION {
            return Ok(());
        }
        let backup = self.backup_path(version);
        self.conn
            .execute("VACUUM INTO ?1", [backup.display().to_string()])
            .map_err(|e| sql(&self.path, e))?;
        tracing::warn!(
            "ledger {shown}: schema version {version} migrated to {}; the file before is kept as {}",
            schema::VERSION,
            backup.display()
        );
        self.conn
            .create_scalar_function(
                "neighbourhood",
                1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
                |ctx| {
                    let req_id = ctx.get_raw(0).as_str().unwrap_or_default();
                    Ok(super::key::neighbourhood(req_id))
                },
            )
            .map_err(|e| sql(&self.path, e))?;
        // A step may make a table again (SQLite's way to change one): the references
        // to it are checked once, after every step, not as its old rows go.
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(|e| sql(&self.path, e))?;
        let migrated = self.migrate_steps(version);
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .map_err(|e| sql(&self.path, e))?;
        migrated
    }

    /// The steps from `version` on, in one transaction; nothing if a reference broke.
    fn migrate_steps(&self, version: i32) -> Result<(), LedgerError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| sql(&self.path, e))?;
        for step in schema::MIGRATIONS
            .iter()
            .filter(|(from, _)| *from >= version)
        {
            tx.execute_batch(step.1).map_err(|e| sql(&self.path, e))?;
        }
        let broken: i64 = tx
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .map_err(|e| sql(&self.path, e))?;
        if broken > 0 {
            return Err(LedgerError::Sql {
                path: self.path.display().to_string(),
                error: format!(
                    "migrating schema version {version}: {broken} rows refer to rows that are not there; nothing was changed"
                ),
            });
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", schema::VERSION))
            .map_err(|e| sql(&self.path, e))?;
        tx.commit().map_err(|e| sql(&self.path, e))
    }

    fn backup_path(&self, version: i32) -> PathBuf {
        let stamp = chrono::Utc::now()
            .with_timezone(&crate::clock::beijing())
            .format("%Y%m%dT%H%M%S");
        let mut name = self
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_default();
        name.push(format!(".bak-v{version}-{stamp}"));
        self.path.with_file_name(name)
    }
}

/// A SQLite error about the ledger at `path`.
pub(super) fn sql(path: &Path, error: rusqlite::Error) -> LedgerError {
    // Read first: the failed write() left its errno on this thread, and SQLite's
    // answer ("disk I/O error") does not say which it was.
    let os = std::io::Error::last_os_error();
    let shown = path.display().to_string();
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => LedgerError::Write {
            path: shown,
            error: std::io::Error::from(std::io::ErrorKind::StorageFull),
        },
        Some(rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::ReadOnly) => {
            const WRITE_ERRORS: [i32; 5] = [28, 27, 122, 5, 30]; // ENOSPC EFBIG EDQUOT EIO EROFS
            let error = match os.raw_os_error() {
                Some(code) if WRITE_ERRORS.contains(&code) => os,
                _ => std::io::Error::other(error.to_string()),
            };
            LedgerError::Write { path: shown, error }
        }
        _ => LedgerError::Sql {
            path: shown,
            error: error.to_string(),
        },
    }
}

/// A ledger named `.csv`: an old CSV ledger to import, or a name to change.
fn csv_named(path: &Path, shown: String) -> LedgerError {
    match kind_of(path) {
        Ok(Kind::Legacy) => LedgerError::Legacy { path: shown },
        _ => LedgerError::CsvName { path: shown },
    }
}

/// A new file's name is durable only once its directory is synced.
pub(super) fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ledger_is_marked_as_the_tools_and_reopens() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open(&path, Access::Write).expect("created");
        assert_eq!(ledger.version().expect("version"), schema::VERSION);
        drop(ledger);
        assert_eq!(kind_of(&path).expect("kind"), Kind::Ledger);
        Ledger::open(&path, Access::Read).expect("reopened");
    }

    #[test]
    fn what_is_not_a_ledger_is_never_touched() {
        let dir = tempfile::tempdir().expect("dir");
        let notes = dir.path().join("notes.db");
        std::fs::write(&notes, "hello").expect("write");
        let err = Ledger::open(&notes, Access::Write).expect_err("not a ledger");
        assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
        assert_eq!(std::fs::read(&notes).expect("read"), b"hello");
        // Another program's SQLite database.
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .expect("sqlite")
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .expect("made");
        let before = std::fs::read(&other).expect("read");
        assert!(matches!(
            Ledger::open(&other, Access::Write),
            Err(LedgerError::NotALedger { .. })
        ));
        assert_eq!(std::fs::read(&other).expect("read"), before);
        // A CSV ledger of an earlier version: the fix is `ledger import`.
        let legacy = dir.path().join("old");
        std::fs::write(
            &legacy,
            format!("{}\n", crate::columns::LEDGER_HEADER.join(",")),
        )
        .expect("write");
        let err = Ledger::open(&legacy, Access::Write).expect_err("legacy");
        assert!(err.to_string().contains("ledger import"), "{err}");
        let named = dir.path().join("ledger.csv");
        let err = Ledger::open(&named, Access::Write).expect_err("a .csv name");
        assert!(err.to_string().contains("ledger import"), "{err}");
        assert!(!named.exists());
        // Reading a ledger that is not there makes none.
        let missing = dir.path().join("missing.db");
        assert!(matches!(
            Ledger::open(&missing, Access::Read),
            Err(LedgerError::Missing { .. })
        ));
        assert!(!missing.exists());
    }

    #[test]
    fn a_ledger_whose_mark_is_still_in_its_log_is_a_ledger() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let created = Ledger::open(&path, Access::Write).expect("created");
        assert_eq!(kind_of(&path).expect("kind"), Kind::Ledger, "checkpointed");
        // As after a crash between creating and checkpointing: the header unmarked,
        // the mark in the log (a connection kept open keeps the log).
        let raw = Connection::open(dir.path().join("fresh.db")).expect("raw");
        raw.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .expect("wal");
        raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        raw.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
            .expect("mark");
        let fresh = dir.path().join("fresh.db");
        let mut head = std::fs::read(&fresh).expect("read");
        head.truncate(512);
        assert_eq!(crate::columns::sqlite_application_id(&head), Some(0));
        assert_eq!(kind_of(&fresh).expect("kind"), Kind::Ledger);
        // Without a log, an unmarked SQLite file is another program's.
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .expect("sqlite")
            .execute_batch("CREATE TABLE t (x)")
            .expect("made");
        assert_eq!(kind_of(&other).expect("kind"), Kind::Other);
        // A run killed while making its ledger leaves SQLite's header and no table: as
        // good as empty, made a ledger by the next run.
        let killed = dir.path().join("killed.db");
        Connection::open(&killed)
            .expect("sqlite")
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .expect("wal");
        assert_eq!(kind_of(&killed).expect("kind"), Kind::Empty);
        assert!(matches!(
            Ledger::open(&killed, Access::Read),
            Err(LedgerError::EmptyFile { .. })
        ));
        Ledger::open(&killed, Access::Write).expect("made a ledger");
        assert_eq!(kind_of(&killed).expect("kind"), Kind::Ledger);
        drop((raw, created));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        drop(Ledger::open(&path, Access::Write).expect("created"));
        let raw = Connection::open(&path).expect("raw");
        raw.execute_batch(&format!("PRAGMA user_version = {}", schema::VERSION + 1))
            .expect("bump");
        drop(raw);
        let err = Ledger::open(&path, Access::Write).expect_err("too new");
        assert!(matches!(err, LedgerError::TooNew { .. }), "{err}");
    }

    #[test]
    fn a_version_1_ledger_is_migrated_with_a_backup_and_keeps_its_history() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        let raw = Connection::open(&path).expect("raw");
        raw.execute_batch(include_str!("../../tests/fixtures/ledger-schema-v1.sql"))
            .expect("version 1");
        raw.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
        ))
        .expect("marked");
        let order = |id: i64, req_id: &str, state: &str| {
            raw.execute(
                "INSERT INTO orders (id, key, sim, req_id, order_no, param0, payload_md5, state, updated_at)
                 VALUES (?1, ?2, 0, ?3, '4012345678901234567', '{}', ?4, ?5, 't')",
                rusqlite::params![
                    id,
                    super::super::ReqKey::of(req_id).to_bytes().as_slice(),
                    req_id,
                    [id as u8; 16].as_slice(),
                    state
                ],
            )
            .expect("order");
            raw.execute(
                "INSERT INTO outcomes (order_id, run_id, status, finished_at, payload_md5)
                 VALUES (?1, 'r1', 'failed', 't', x'00')",
                [id],
            )
            .expect("outcome");
        };
        order(1, "CZ20261124000001", "failed");
        order(2, "CZ20261124000002", "delivered");
        drop(raw);

        let ledger = Ledger::open(&path, Access::Write).expect("migrated");
        assert_eq!(ledger.version().expect("version"), schema::VERSION);
        let backups = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".bak-v1-"))
            .count();
        assert_eq!(backups, 1);
        // Every order in the dedup index, where a new one would be; the history kept.
        let keys: Vec<(i64, i64, String)> = ledger
            .conn
            .prepare("SELECT near, id, state FROM order_keys ORDER BY id")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let near = super::super::key::neighbourhood("CZ20261124000001");
        assert_eq!(
            keys,
            [(near, 1, "failed".into()), (near, 2, "delivered".into())]
        );
        let outcomes: i64 = ledger
            .conn
            .query_row("SELECT count(*) FROM outcomes", [], |r| r.get(0))
            .expect("outcomes");
        assert_eq!(outcomes, 2);
        // The schema is version 2's: a new ledger's, table for table, index for index.
        let shape = |conn: &Connection| -> Vec<(String, String)> {
            conn.prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .expect("schema")
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("rows")
                .collect::<Result<Vec<(String, String)>, _>>()
                .expect("rows")
                .into_iter()
                .map(|(name, sql)| (name, sql.split_whitespace().collect::<Vec<_>>().join(" ")))
                .collect()
        };
        let fresh = Ledger::open(&dir.path().join("new.db"), Access::Write).expect("new");
        let names =
            |shape: &[(String, String)]| shape.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&shape(&ledger.conn)), names(&shape(&fresh.conn)));
        let table = |conn: &Connection, name: &str| {
            shape(conn)
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, sql)| {
                    sql.replace("orders_v2", "orders")
                        .replace("outcomes_v2", "outcomes")
                        .replace("\"", "")
                })
        };
        for name in ["orders", "outcomes", "order_keys", "orders_open"] {
            assert_eq!(
                table(&ledger.conn, name),
                table(&fresh.conn, name),
                "{name}"
            );
        }
        // And it works as one: a run's writes and lookups.
        drop(ledger);
        let mut recording = super::super::record::Recording::start(
            Ledger::open(&path, Access::Write).expect("reopened"),
            &super::super::record::tests::run("r2"),
        )
        .expect("start");
        recording
            .append(
                &[super::super::record::tests::entry(
                    "CZ20261124000001",
                    super::super::Settled::Delivered,
                    "r2",
                )],
                &[],
            )
            .expect("append");
    }
}
