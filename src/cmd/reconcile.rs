//! `reconcile`: the shell of `crate::reconcile` — settings, the ledger's lock, the
//! gateway (or the simulator), the day's call budget said before the first call, the
//! walk raced with the signals, then the file, the summary, its JSON and the metrics.

use chrono::Utc;

use crate::cli::ReconcileArgs;
use crate::environment::Environment;
use crate::exit::{Exit, ExitError};
use crate::ledger::store::Store as _;
use crate::ledger::{Access, Ledger};
use crate::reconcile::report::{self, Doc};
use crate::reconcile::{ReconcileConfig, ReconcileError, Reconciled, fetch, walk};
use crate::signals::Signals;

pub async fn run(args: ReconcileArgs, env: &Environment, quiet: bool) -> anyhow::Result<Exit> {
    let mut signals = Signals::install()?;
    let started = Utc::now();
    let now = crate::reconcile::to_beijing(started);
    let config = crate::config::build_reconcile(&args, env, now)?;
    if !config.ledger.exists() {
        return Err(ExitError::new(
            Exit::Usage,
            format!(
                "no ledger at {}: reconcile compares the platform's trades with a ledger that `send` keeps; name the one the nightly run uses",
                config.ledger.display()
            ),
        )
        .into());
    }
    let _lock = crate::ledger::acquire(&config.ledger).map_err(super::lock_error)?;
    let ledger = Ledger::open(&config.ledger, Access::Write)?;
    let Some((client, _simulator)) = crate::send::client_for(&config.connection).await? else {
        anyhow::bail!("reconcile has no dry run: it only reads the platform");
    };
    let day = now.format("%Y-%m-%d").to_string();
    let used = ledger.calls_on(&day)?;
    let mut pages = fetch::Gateway::new(&client);
    pages.used_before = used;
    pages.quota = config.daily_quota;
    pages.max_ban_wait = config.max_ban_wait;
    pages.spacing = config
        .qps
        .map(|q| std::time::Duration::from_secs_f64(1.0 / f64::from(q.get())));
    if let Err(error) = budget(&config, now, used) {
        finish(
            &config,
            None,
            started,
            Exit::Halted,
            Some(error.to_string()),
            Some("daily_quota"),
            0,
        )
        .await;
        return Err(ExitError::new(Exit::Halted, error).into());
    }
    config.hooks.started().await;
    let walk =
        crate::reconcile::reconcile(&config, &ledger, &mut pages, |p| p.made, started, Utc::now);
    let outcome = tokio::select! {
        result = walk => result,
        signal = signals.next() => {
            let exit = signal.exit();
            // The platform counted the calls made: so does the day's budget.
            crate::ledger::reconcile::store(&ledger, &[], &day, pages.made)?;
            crate::console::errln!(
                "reconcile interrupted after {} calls: no deadline stored, no file written",
                pages.made
            );
            finish(&config, None, started, exit, Some("interrupted".into()), Some("interrupted"), 0).await;
            return Ok(exit);
        }
    };
    let calls = pages.made;
    match outcome {
        Ok(mut found) => {
            found.waited = pages.waited;
            if let Some(out) = &config.out {
                crate::reconcile::output::write(out, &found).map_err(|error| {
                    anyhow::anyhow!("cannot write --out {}: {error}", out.display())
                })?;
            }
            let due_within = report::duration(config.due_within);
            let exit = if found.due_total() > 0 {
                Exit::Attention
            } else {
                Exit::Success
            };
            // -q: said only when orders fall due.
            if !quiet || exit != Exit::Success {
                crate::console::err!(
                    "{}",
                    report::summary(&found, &due_within, config.out.as_deref())
                );
            }
            finish(&config, Some(&found), started, exit, None, None, calls).await;
            Ok(exit)
        }
        Err(ReconcileError::Stopped(stop)) => {
            crate::console::errln!("reconcile halted after {calls} calls: {stop}");
            if let Some(advice) = stop.advice() {
                crate::console::errln!("  → {advice}");
            }
            let exit = Exit::Halted;
            finish(
                &config,
                None,
                started,
                exit,
                Some(stop.to_string()),
                Some(stop.kind().as_str()),
                calls,
            )
            .await;
            Ok(exit)
        }
        Err(ReconcileError::Ledger(error)) => Err(error.into()),
    }
}

/// Says before the first call what the walk needs of today's budget; a walk that
/// cannot fit is refused (the reason), past 70 % warned.
fn budget(config: &ReconcileConfig, now: chrono::NaiveDateTime, used: u64) -> Result<(), String> {
    let Some(quota) = config.daily_quota else {
        return Ok(());
    };
    let windows = walk::windows(config.from, config.to.unwrap_or(now)).len() as u64;
    let least = windows + u64::from(config.to.is_none());
    let left = quota.saturating_sub(used);
    crate::console::errln!(
        "daily_quota {quota}: {used} calls made today, {left} left; this walk needs at least {least} (one a page, 100 trades a page)"
    );
    if least > left {
        return Err(format!(
            "not started: the walk needs at least {least} calls and today's daily_quota has {left} left; run after 00:00 Beijing time"
        ));
    }
    if (used + least) * 10 >= quota * 7 {
        crate::console::errln!(
            "warning: today's calls will pass 70% of daily_quota ({} of {quota})",
            used + least
        );
    }
    Ok(())
}

/// `--summary-json`, `--metrics-file` and the hooks, on every exit; a failure to write
/// them is said, and changes nothing else.
async fn finish(
    config: &ReconcileConfig,
    found: Option<&Reconciled>,
    started: chrono::DateTime<Utc>,
    exit: Exit,
    error: Option<String>,
    halt_reason: Option<&'static str>,
    calls: u64,
) {
    let doc = Doc {
        found,
        started,
        finished: Utc::now(),
        exit,
        error,
        halt_reason,
        calls,
    };
    let json = report::json(&doc);
    if let Some(path) = &config.summary_json
        && let Err(error) = report::write_json(path, &json)
    {
        crate::console::errln!("cannot write --summary-json {}: {error}", path.display());
    }
    if let Some(path) = &config.metrics_file
        && let Err(error) = report::write_metrics(path, &doc)
    {
        crate::console::errln!("cannot write --metrics-file {}: {error}", path.display());
    }
    config.hooks.finished(exit.code(), &json.to_string()).await;
}
