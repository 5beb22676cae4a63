//! The desk's runs of the `send` engine: a preview (a dry run of an upload against the
//! ledger) and a send (the same, live, under the ledger's lock), each on a thread of
//! its own with its own runtime, as the command line runs them. A send's progress is
//! read while it runs; its end (exit, summary, result file) is kept for the page.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{Env, SendTemplate};
use crate::exit::Exit;
use crate::send::progress::Live;
use crate::send::summary_json::RunInfo;

/// What one engine run needs.
#[derive(Debug, Clone)]
pub struct EngineRun {
    pub input: PathBuf,
    pub ledger: PathBuf,
    pub out: PathBuf,
    pub dry_run: bool,
}

/// How an engine run ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// It ran: its exit.
    Ran { exit: Exit },
    /// It did not start (a file, the configuration, the lock): why.
    Refused { message: String, locked: bool },
}

/// A shared, owned environment (the desk outlives the command line's borrow).
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Runs the engine on a thread of its own; `live` shows its progress.
pub async fn run(
    template: &SendTemplate,
    env: &SharedEnv,
    run: EngineRun,
    run_id: &str,
    live: Option<Arc<Live>>,
) -> Ended {
    let (template, env, run_id) = (template.clone(), Arc::clone(env), run_id.to_owned());
    let (done, ended) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("desk-send".into())
        .spawn(move || {
            let _ = done.send(run_blocking(
                &template,
                &env,
                &run,
                &run_id,
                live.as_deref(),
            ));
        });
    if let Err(error) = spawned {
        return Ended::Refused {
            message: format!("cannot start a thread: {error}"),
            locked: false,
        };
    }
    ended.await.unwrap_or_else(|_| Ended::Refused {
        message: "the send stopped unexpectedly".into(),
        locked: false,
    })
}

fn run_blocking(
    template: &SendTemplate,
    env: &SharedEnv,
    run: &EngineRun,
    run_id: &str,
    live: Option<&Live>,
) -> Ended {
    let refused = |message: String, locked| Ended::Refused { message, locked };
    let env_ref: Env<'_> = &|name: &str| env(name);
    let config = match crate::config::build_desk_send(
        template,
        &run.input,
        &run.ledger,
        &run.out,
        run.dry_run,
        env_ref,
    ) {
        Ok(config) => config,
        Err(error) => return refused(error.to_string(), false),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return refused(format!("cannot start a runtime: {error}"), false),
    };
    let info = RunInfo::new(run_id, std::slice::from_ref(&run.input), chrono::Utc::now());
    match runtime.block_on(crate::send::run_watched(config, &info, true, live)) {
        Ok((exit, _summary)) => Ended::Ran { exit },
        Err(error) => {
            let locked = matches!(
                error,
                crate::send::SendError::Lock(crate::ledger::LockError::Held { .. })
            );
            refused(
                crate::text::visible(&error.to_string()).into_owned(),
                locked,
            )
        }
    }
}

/// A send started from the desk.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub user: String,
    pub submission: String,
    pub run_id: String,
    pub out: PathBuf,
    pub live: Arc<Live>,
    pub ended: Mutex<Option<Ended>>,
}

impl Job {
    pub fn ended(&self) -> Option<Ended> {
        self.ended.lock().ok().and_then(|e| e.clone())
    }
}
