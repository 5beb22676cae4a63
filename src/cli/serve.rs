//! `serve` (the finance desk) and `users` (its password file): their flags and help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;

/// Run the finance desk: a web page where finance staff see the runs, the outstanding
/// orders, and upload corrected files to check and send — without a shell or the API
/// secret.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
On 127.0.0.1 (the default) the desk prints a one-time login link on stdout: open it in
a browser on this machine (or through an SSH tunnel). Any other address needs HTTPS
(--tls-cert, --tls-key) and password logins (--users FILE, made with `users add`).

Credentials come from TOP_APP_KEY, TOP_APP_SECRET and TOP_SESSION (or --config), as for
send; pages, downloads and logs never show the secret or the session. Uploads, the
desk's own result files and audit.log (JSON lines) are kept in --results-dir.

Examples:
  opentrade-callback --env-file /etc/opentrade/env serve \\
      --ledger /var/lib/opentrade/ledger.db --results-dir /var/lib/opentrade/results
  opentrade-callback serve --ledger ledger.db --results-dir results --listen 0.0.0.0:8640 \\
      --tls-cert desk.pem --tls-key desk.key --users /etc/opentrade/desk-users --allow-host desk.example.com")]
pub struct ServeArgs {
    /// The ledger the nightly run keeps (sends from the desk take its lock); else
    /// `ledger` in the config.
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Where the nightly run writes its result files (--out): the runs listed; else
    /// `results_dir` in the config.
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,

    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8640")]
    pub listen: SocketAddr,

    /// HTTPS certificate chain (PEM); needed off loopback.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// HTTPS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// `name:argon2-hash` lines (see `users add`); logins by password instead of the link.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,

    /// Another host name browsers use to reach the desk (a proxy's, a DNS name); may
    /// be repeated. Requests naming any other host are refused.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,

    /// The https:// address browsers reach the desk at through a TLS reverse proxy
    /// (e.g. https://desk.example.com): the Origin and Host checks expect it, and the
    /// desk may then listen on a non-loopback address without --tls-cert.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<url::Url>,

    /// Largest upload, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_upload_mib: u64,

    /// The most disk all uploads together may take, in MiB: an upload that would
    /// pass it is refused until older ones expire.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub upload_budget_mib: u64,

    /// Four eyes: with users in the ledger, a clerk's send is a request another user
    /// (an approver or an admin) approves before it goes; `none` for a one-person shop
    /// (a clerk's confirmation sends at once).
    #[arg(long, value_name = "HOW", value_enum, default_value = "one")]
    pub approvals: crate::desk::Approvals,

    /// Announce each new request (four eyes) to a webhook or a group robot, with a link
    /// to it (`desk_url` in the config); else OPENTRADE_NOTIFY_URL.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<url::Url>,

    /// json, dingtalk, wecom or feishu [default: json; also OPENTRADE_NOTIFY_FORMAT].
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub notify_format: Option<crate::send::hooks::NotifyFormat>,

    /// How long a request may wait for its approval before it expires.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub request_ttl: std::time::Duration,

    /// The nightly run's --resend-failed-days (0: it resends none): failed orders it
    /// will still send again by itself are counted on the worklist, not listed.
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub resend_failed_days: u32,

    /// How long an upload and its check are kept (then it must be uploaded again).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub upload_ttl: std::time::Duration,

    /// How long a request body may send nothing before the request fails (a stalled
    /// upload never holds a connection for ever).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_idle_timeout: std::time::Duration,

    #[command(flatten)]
    pub connect: super::ConnectArgs,

    /// Send to the built-in simulated gateway (to try the desk; ledger lines marked).
    #[arg(long)]
    pub simulate: bool,
}

/// Manage the desk's password file.
#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user (or set a user's password): the password is read from the terminal
    /// without echo, or from the first line of stdin; stored as an argon2id hash.
    #[command(after_help = "\
Roles: viewer (sees), clerk (uploads corrections and sends), approver (approves others'
requests), admin (manages users, on the desk's Users page too).

Examples:
  opentrade-callback users add ana --role admin --ledger /var/lib/opentrade/ledger.db
  printf '%s\\n' \"$PASSWORD\" | opentrade-callback users add bo --role clerk --ledger ledger.db
  opentrade-callback users add ana --users /etc/opentrade/desk-users   # a users file: each an admin")]
    Add {
        /// The user's name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// Keep the user in the ledger (the desk's users, with roles, sessions that
        /// outlive a restart).
        #[arg(
            long,
            value_name = "LEDGER",
            conflicts_with = "users",
            required_unless_present = "users"
        )]
        ledger: Option<PathBuf>,
        /// What the user may do (with --ledger).
        #[arg(long, value_enum, default_value = "clerk", requires = "ledger")]
        role: crate::ledger::people::Role,
        /// Or a password file (created with mode 0600 if missing): every user an admin.
        #[arg(long, value_name = "FILE")]
        users: Option<PathBuf>,
    },
}
