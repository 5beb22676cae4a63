//! The ledger's schema, version by version (`PRAGMA user_version`), documented in
//! SPEC.md "Ledger". A new version adds a step to `MIGRATIONS` and changes `CREATE`;
//! nothing is ever dropped that a shop's history needs.

/// The schema this build writes.
pub const VERSION: i32 = 3;

/// A new ledger's schema.
///
/// - `orders`: one row per order (`req_id`; `key` is its 128-bit XXH3; `sim` 1 for the
///   orders of `--simulate` runs, kept apart from the real ones), the canonical
///   `param0` it was last sent with and its MD5, its state (`pending`, `delivered`,
///   `rejected`, `failed`, `closed`) and the latest answer; `first_failed_at` starts
///   the resend window; `deadline` is reconcile's.
/// - `order_keys`: the dedup index — per `(key, sim)`, unique, the order's id, state
///   and payload MD5, clustered by `near` (the req_id's first 8 bytes, so orders made
///   together sit together: `key::neighbourhood`) then key; a lookup reads nothing
///   else. Written beside `orders` by each writer, in the same transaction
///   (`record`, `close`, `import`): no triggers, which would cost a run a third of
///   its time (a statement journal and a temporary table per write).
/// - `outcomes`: every answer (or giving up) of every run, with the row it came from.
/// - `sightings`: every export row about a known order that was not sent (skipped,
///   a conflict, a duplicate).
/// - `runs`, `run_inputs`: who or what started each run, its inputs' SHA-256, how it
///   ended.
/// - `calls_per_day`: calls made per Beijing day, every run and the desk alike.
/// - `imports`: CSV ledgers imported (by SHA-256), so importing twice adds nothing.
/// - `audit`: the desk's actions, each row with the SHA-256 of the one before it
///   (`ledger::audit`).
/// - `requests`: the desk's sends waiting for a second pair of eyes
///   (`ledger::requests`).
/// - `users`, `sessions`: the desk's people (role, argon2id hash) and their sessions,
///   kept by the SHA-256 of the cookie (`ledger::people`).
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
    state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'rejected' OR state = 'failed' OR state = 'closed'),
    updated_at TEXT NOT NULL,
    first_failed_at TEXT,
    last_run TEXT,
    error_code TEXT NOT NULL DEFAULT '',
    error_msg TEXT NOT NULL DEFAULT '',
    sub_code TEXT NOT NULL DEFAULT '',
    deadline TEXT,
    closed_by TEXT,
    closed_at TEXT,
    closed_reason TEXT,
    near INTEGER NOT NULL
);
CREATE INDEX orders_by_order_no ON orders (order_no);
CREATE INDEX orders_open ON orders (state, id) WHERE (state = 'pending' OR state = 'failed' OR state = 'rejected');

CREATE TABLE order_keys (
    near INTEGER NOT NULL,
    key BLOB NOT NULL,
    sim INTEGER NOT NULL,
    id INTEGER NOT NULL,
    state TEXT NOT NULL,
    payload_md5 BLOB NOT NULL,
    PRIMARY KEY (near, key, sim)
) WITHOUT ROWID;

CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    run_id TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    line INTEGER,
    status TEXT NOT NULL CHECK (status = 'delivered' OR status = 'rejected' OR status = 'failed'),
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

/// The tables version 3 added (the desk's audit log, people and requests): made with
/// `CREATE` in a new ledger, and by the 2 → 3 step in an older one.
pub const V3_TABLES: &str = r#"
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_by_at ON audit (at);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role = 'viewer' OR role = 'clerk' OR role = 'approver' OR role = 'admin'),
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    disabled_at TEXT
) WITHOUT ROWID;
CREATE TABLE sessions (
    token BLOB PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created INTEGER NOT NULL,
    seen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'send' CHECK (kind = 'send' OR kind = 'close'),
    orders TEXT,
    state TEXT NOT NULL CHECK (state = 'pending' OR state = 'approved' OR state = 'sending' OR state = 'finished' OR state = 'rejected' OR state = 'expired' OR state = 'cancelled'),
    made_by TEXT NOT NULL,
    made_at TEXT NOT NULL,
    submission TEXT NOT NULL,
    label TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    plan_digest TEXT NOT NULL,
    calls INTEGER NOT NULL,
    amount TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT,
    run_id TEXT,
    exit_code INTEGER
) WITHOUT ROWID;
"#;

/// The condition of the partial index of open orders (`orders_open`), word for word
/// as in `CREATE`: SQLite uses a partial index only for a query that says it.
///
/// Conditions that every write evaluates (this one, the `CHECK`s) are spelled with
/// `OR`, not `IN (…)`: SQLite builds an `IN` list as a temporary table on every
/// execution, which cost each outcome a third of its time.
pub const OPEN_ORDERS: &str = "(state = 'pending' OR state = 'failed' OR state = 'rejected')";

/// The steps from each older version: `(from, SQL)`, applied in order from the
/// file's version, in one transaction, after a backup. The SQL may call
/// `neighbourhood(req_id)` (`key::neighbourhood`).
pub const MIGRATIONS: &[(i32, &str)] = &[
(
    // 1 → 2: the dedup index becomes its own table, clustered by neighbourhood (a
    // night's lookups read a few pages, however old the ledger), kept by the writers
    // rather than by a unique index; the conditions every write evaluates spelled
    // with OR (see `OPEN_ORDERS`). `orders` and `outcomes` are made again, as SQLite
    // changes a CHECK: a new table, the rows copied, the old one dropped.
    1,
    "CREATE TABLE orders_v2 (
         id INTEGER PRIMARY KEY,
         key BLOB NOT NULL,
         sim INTEGER NOT NULL DEFAULT 0,
         req_id TEXT NOT NULL,
         order_no TEXT NOT NULL,
         sub_order_no TEXT,
         param0 TEXT,
         payload_md5 BLOB NOT NULL,
         state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'rejected' OR state = 'failed' OR state = 'closed'),
         updated_at TEXT NOT NULL,
         first_failed_at TEXT,
         last_run TEXT,
         error_code TEXT NOT NULL DEFAULT '',
         error_msg TEXT NOT NULL DEFAULT '',
         sub_code TEXT NOT NULL DEFAULT '',
         deadline TEXT,
         closed_by TEXT,
         closed_at TEXT,
         closed_reason TEXT,
         near INTEGER NOT NULL
     );
     INSERT INTO orders_v2 (id, key, sim, req_id, order_no, sub_order_no, param0, payload_md5, state,
             updated_at, first_failed_at, last_run, error_code, error_msg, sub_code, deadline,
             closed_by, closed_at, closed_reason, near)
         SELECT id, key, sim, req_id, order_no, sub_order_no, param0, payload_md5, state,
             updated_at, first_failed_at, last_run, error_code, error_msg, sub_code, deadline,
             closed_by, closed_at, closed_reason, neighbourhood(req_id)
         FROM orders ORDER BY id;
     DROP TABLE orders;
     ALTER TABLE orders_v2 RENAME TO orders;
     CREATE INDEX orders_by_order_no ON orders (order_no);
     CREATE INDEX orders_open ON orders (state, id) WHERE (state = 'pending' OR state = 'failed' OR state = 'rejected');
     CREATE TABLE order_keys (
         near INTEGER NOT NULL,
         key BLOB NOT NULL,
         sim INTEGER NOT NULL,
         id INTEGER NOT NULL,
         state TEXT NOT NULL,
         payload_md5 BLOB NOT NULL,
         PRIMARY KEY (near, key, sim)
     ) WITHOUT ROWID;
     INSERT INTO order_keys (near, key, sim, id, state, payload_md5)
         SELECT near, key, sim, id, state, payload_md5 FROM orders ORDER BY near, key, sim;
     CREATE TABLE outcomes_v2 (
         id INTEGER PRIMARY KEY,
         order_id INTEGER NOT NULL REFERENCES orders (id),
         run_id TEXT NOT NULL,
         source TEXT NOT NULL DEFAULT '',
         line INTEGER,
         status TEXT NOT NULL CHECK (status = 'delivered' OR status = 'rejected' OR status = 'failed'),
         error_code TEXT NOT NULL DEFAULT '',
         error_msg TEXT NOT NULL DEFAULT '',
         sub_code TEXT NOT NULL DEFAULT '',
         sub_msg TEXT NOT NULL DEFAULT '',
         top_request_id TEXT NOT NULL DEFAULT '',
         attempts INTEGER NOT NULL DEFAULT 0,
         finished_at TEXT NOT NULL,
         payload_md5 BLOB NOT NULL
     );
     INSERT INTO outcomes_v2 SELECT * FROM outcomes ORDER BY id;
     DROP TABLE outcomes;
     ALTER TABLE outcomes_v2 RENAME TO outcomes;
     CREATE INDEX outcomes_by_order ON outcomes (order_id);",
),
(
    // 2 → 3: the desk's audit log moves into the ledger, hash-chained; its users and
    // their sessions live there too.
    2,
    V3_TABLES,
)];

#[cfg(test)]
mod tests {
    #[test]
    fn the_open_orders_condition_is_the_partial_index_s() {
        assert!(super::CREATE.contains(&format!(
            "CREATE INDEX orders_open ON orders (state, id) WHERE {};",
            super::OPEN_ORDERS
        )));
    }
}
