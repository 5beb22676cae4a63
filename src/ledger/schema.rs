//! The ledger's schema, version by version (`PRAGMA user_version`), documented in
//! SPEC.md "Ledger". A new version adds a step to `MIGRATIONS` and changes `CREATE`;
//! nothing is ever dropped that a shop's history needs.

/// The schema this build writes.
pub const VERSION: i32 = 1;

/// A new ledger's schema.
///
/// - `orders`: one row per order (`req_id`; `key` is its 128-bit XXH3, the dedup
///   index's key; `sim` 1 for the orders of `--simulate` runs, kept apart from the
///   real ones), the canonical `param0` it was last sent with and its MD5, its state
///   (`pending`, `delivered`, `rejected`, `failed`, `closed`) and the latest answer;
///   `first_failed_at` starts the resend window; `deadline` is reconcile's.
/// - `outcomes`: every answer (or giving up) of every run, with the row it came from.
/// - `sightings`: every export row about a known order that was not sent (skipped,
///   a conflict, a duplicate).
/// - `runs`, `run_inputs`: who or what started each run, its inputs' SHA-256, how it
///   ended.
/// - `calls_per_day`: calls made per Beijing day, every run and the desk alike.
/// - `imports`: CSV ledgers imported (by SHA-256), so importing twice adds nothing.
pub const CREATE: &str = r#"
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    sim INTEGER NOT NULL DEFAULT 0,
    req_id TEXT NOT NULL,
    order_no TEXT NOT NULL,
    sub_order_no TEXT,
    param0 TEXT,
    payload_md5 BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'rejected', 'failed', 'closed')),
    updated_at TEXT NOT NULL,
    first_failed_at TEXT,
    last_run TEXT,
    error_code TEXT NOT NULL DEFAULT '',
    error_msg TEXT NOT NULL DEFAULT '',
    sub_code TEXT NOT NULL DEFAULT '',
    deadline TEXT,
    closed_by TEXT,
    closed_at TEXT,
    closed_reason TEXT
);
CREATE UNIQUE INDEX orders_by_key ON orders (key, sim);
CREATE INDEX orders_by_order_no ON orders (order_no);
CREATE INDEX orders_open ON orders (state, id) WHERE state IN ('pending', 'failed', 'rejected');

CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    run_id TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    line INTEGER,
    status TEXT NOT NULL CHECK (status IN ('delivered', 'rejected', 'failed')),
    error_code TEXT NOT NULL DEFAULT '',
    error_msg TEXT NOT NULL DEFAULT '',
    sub_code TEXT NOT NULL DEFAULT '',
    sub_msg TEXT NOT NULL DEFAULT '',
    top_request_id TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    finished_at TEXT NOT NULL,
    payload_md5 BLOB NOT NULL
);
CREATE INDEX outcomes_by_order ON outcomes (order_id);

CREATE TABLE sightings (
    order_id INTEGER NOT NULL REFERENCES orders (id),
    run_id TEXT NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX sightings_by_order ON sightings (order_id);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    simulated INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    plan_digest TEXT,
    calls INTEGER NOT NULL DEFAULT 0,
    counts TEXT,
    results TEXT,
    error TEXT
) WITHOUT ROWID;

CREATE TABLE run_inputs (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT,
    bytes INTEGER,
    PRIMARY KEY (run_id, position)
) WITHOUT ROWID;

CREATE TABLE calls_per_day (
    day TEXT PRIMARY KEY,
    calls INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE imports (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    lines INTEGER NOT NULL,
    orders INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// The steps from each older version: `(from, SQL)`, applied in order from the
/// file's version, in one transaction, after a backup.
pub const MIGRATIONS: &[(i32, &str)] = &[];
