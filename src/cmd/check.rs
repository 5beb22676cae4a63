//! `check`: the shell of `crate::check` — the configuration built as `send` builds it,
//! then the checks, as lines or JSON.

use crate::check::{self, Line, Outcome};
use crate::cli::CheckArgs;
use crate::config;
use crate::environment::Environment;
use crate::exit::Exit;

pub async fn run(args: CheckArgs, env: &Environment) -> anyhow::Result<Exit> {
    let today = chrono::Utc::now()
        .with_timezone(&crate::clock::beijing())
        .date_naive();
    let mut lines = match config::build_check(&args, env) {
        Ok(config) => check::run(&config, args.warn_days, today).await,
        Err(error) => vec![Line {
            check: "config",
            outcome: Outcome::Failed,
            message: crate::text::visible(&error.to_string()).into_owned(),
            exit: Exit::Usage,
        }],
    };
    let (ledger, out) = config::check_paths(&args, env);
    lines.extend(check::path_lines(ledger.as_deref(), out.as_deref()));
    let day = today.format("%Y-%m-%d").to_string();
    lines.extend(check::quota_line(
        ledger.as_deref(),
        config::check_quota(&args, env),
        &day,
    ));
    let exit = check::exit_of(&lines);
    if args.json {
        let doc = serde_json::json!({"checks": lines, "exit_code": exit.code()});
        crate::console::outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        crate::console::out!("{}", check::render(&lines));
    }
    Ok(exit)
}
