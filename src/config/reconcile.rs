//! `reconcile`'s checked settings: the connection as `check` builds it, the ledger
//! (which must exist: reconcile compares, it does not start a shop), the window in
//! Beijing time, and its outputs — every role claimed before anything is touched.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use super::{ConfigError, connection, layers, read_config};
use crate::cli::ReconcileArgs;
use crate::environment::Environment;
use crate::reconcile::ReconcileConfig;
use crate::roles::Roles;

/// How far back the platform keeps trades (`只能获取到三个月以内的交易信息`).
const KEPT: TimeDelta = TimeDelta::days(90);

/// Builds `reconcile`'s settings; `now` is Beijing time.
pub fn build_reconcile(
    args: &ReconcileArgs,
    env: &Environment,
    now: NaiveDateTime,
) -> Result<ReconcileConfig, ConfigError> {
    let (mut target, pace) = super::target_of(&args.connect, args.sign_method, args.timeout);
    target.simulate = args.simulate;
    target.scenario = args.scenario.clone();
    let mut roles = Roles::default();
    if let Some(config) = &target.config {
        roles.claim("--config", config)?;
    }
    if let Some(scenario) = &target.scenario {
        roles.claim("--scenario", scenario)?;
    }
    let file = read_config(target.config.as_deref(), env, &mut roles)?;
    let ledger = match (&args.ledger, &file.ledger) {
        (Some(path), _) => {
            roles.claim("--ledger", path)?;
            path.clone()
        }
        (None, Some(path)) => {
            roles.claim("ledger in --config", path)?;
            path.clone()
        }
        (None, None) => {
            return Err(ConfigError::MissingPath {
                flag: "--ledger",
                key: "ledger",
            });
        }
    };
    roles.claim(
        "the ledger's lock",
        &crate::ledger::lock::lock_path(&ledger),
    )?;
    // `{date}` in --out is the Beijing date, `{run}` the reconcile's start.
    let out = match &args.out {
        Some(path) => {
            let started = crate::reconcile::from_beijing(now);
            let run = format!("reconcile-{}", now.format("%Y%m%dT%H%M%S"));
            Some(
                super::template::expand(path, &run, started).map_err(|message| {
                    ConfigError::Template {
                        flag: "--out",
                        path: path.clone(),
                        message,
                    }
                })?,
            )
        }
        None => None,
    };
    for (flag, path) in [
        ("--out", &out),
        ("--summary-json", &args.summary_json),
        ("--metrics-file", &args.metrics_file),
    ] {
        if let Some(path) = path {
            roles.claim(flag, path)?;
        }
    }
    let (from, to) = window(args, now)?;
    let set = layers::layers(&target, &pace, env, &file);
    let connection = connection::connection(&target, &set, &file, env, &mut roles)?;
    if file.daily_quota == Some(0) {
        return Err(ConfigError::ZeroQuota);
    }
    let hooks = super::hooks::reconcile_hooks(args, env)?;
    Ok(ReconcileConfig {
        connection,
        ledger,
        out,
        summary_json: args.summary_json.clone(),
        metrics_file: args.metrics_file.clone(),
        from,
        to,
        due_within: args.due_within,
        items: file.items.clone(),
        qps: args.qps,
        daily_quota: file.daily_quota,
        max_ban_wait: args.max_ban_wait,
        hooks,
    })
}

/// `--since`, or `--from`/`--to` (default: the last 7 days until now).
fn window(
    args: &ReconcileArgs,
    now: NaiveDateTime,
) -> Result<(NaiveDateTime, Option<NaiveDateTime>), ConfigError> {
    let (from, to) = match (&args.from, args.since) {
        (Some(from), _) => {
            let from = time("--from", from)?;
            let to = args.to.as_deref().map(|t| time("--to", t)).transpose()?;
            (from, to)
        }
        (None, since) => {
            let since = since.unwrap_or(std::time::Duration::from_secs(7 * 86_400));
            let since = TimeDelta::from_std(since).unwrap_or(KEPT);
            (now - since, None)
        }
    };
    let end = to.unwrap_or(now);
    if from >= end {
        return Err(ConfigError::Window(format!(
            "the window ends ({}) before it starts ({})",
            end.format("%Y-%m-%d %H:%M:%S"),
            from.format("%Y-%m-%d %H:%M:%S")
        )));
    }
    if from < now - KEPT {
        return Err(ConfigError::Window(format!(
            "the window starts {}, more than 90 days ago: the platform keeps three months of trades; start later",
            from.format("%Y-%m-%d %H:%M:%S")
        )));
    }
    Ok((from, to.filter(|t| *t < now)))
}

/// A Beijing time as a person writes it: a date (its midnight) or a date and time.
fn time(flag: &'static str, text: &str) -> Result<NaiveDateTime, ConfigError> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| ConfigError::Time {
            flag,
            value: crate::text::visible(text).into_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn args(line: &[&str]) -> ReconcileArgs {
        let mut argv = vec!["opentrade-callback", "reconcile"];
        argv.extend_from_slice(line);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Reconcile(args) => *args,
            _ => unreachable!(),
        }
    }

    fn now() -> NaiveDateTime {
        time("now", "2026-12-07 12:00:00").expect("time")
    }

    #[test]
    fn the_window_is_the_last_days_or_what_is_named() {
        let (from, to) = window(&args(&[]), now()).expect("default");
        assert_eq!(from, time("", "2026-11-30 12:00:00").expect("t"));
        assert_eq!(to, None);
        let (from, to) = window(&args(&["--since", "36h"]), now()).expect("since");
        assert_eq!(from, time("", "2026-12-06 00:00:00").expect("t"));
        assert_eq!(to, None);
        let (from, to) = window(
            &args(&["--from", "2026-12-01", "--to", "2026-12-03 08:00"]),
            now(),
        )
        .expect("named");
        assert_eq!(from, time("", "2026-12-01 00:00:00").expect("t"));
        assert_eq!(to, Some(time("", "2026-12-03 08:00:00").expect("t")));
    }

    #[test]
    fn a_window_backwards_or_older_than_the_platform_keeps_is_refused() {
        let backwards = window(
            &args(&["--from", "2026-12-05", "--to", "2026-12-01"]),
            now(),
        );
        assert!(
            backwards
                .expect_err("refused")
                .to_string()
                .contains("before it starts")
        );
        let old = window(&args(&["--from", "2026-01-01"]), now());
        assert!(old.expect_err("refused").to_string().contains("90 days"));
        let bad = window(&args(&["--from", "yesterday"]), now());
        assert!(
            bad.expect_err("refused")
                .to_string()
                .contains("--from 'yesterday'")
        );
    }
}
