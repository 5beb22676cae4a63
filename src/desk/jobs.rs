//! The desk's runs of the `send` engine: a preview (a dry run of an upload against the
//! ledger) and a send (the same, live, under the ledger's lock), each on a thread of
//! its own with its own runtime, as the command line runs them. A send's progress is
//! read while it runs; its end (exit, summary, result file) is kept for the page.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::SendTemplate;
use crate::environment::Environment;
use crate::exit::Exit;
use crate::send::progress::Live;
use crate::send::summary_json::RunInfo;

/// What one engine run needs.
#[derive(Debug, Clone)]
pub struct EngineRun {
    pub input: PathBuf,
    /// What the input is called in `source` and in messages (the uploaded name).
    pub label: String,
    pub ledger: PathBuf,
    pub out: PathBuf,
    pub dry_run: bool,
    /// The plan the run must make (the preview's), else it sends nothing.
    pub expect_plan: Option<String>,
    /// The desk user it is run for (the ledger records the run as `desk:NAME`).
    pub user: String,
}

/// How an engine run ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// It ran: its exit, the digest of its plan (`Plan::digest`), its rows' tally.
    Ran {
        exit: Exit,
        plan_digest: Option<String>,
        tally: Box<crate::results::tally::Tally>,
    },
    /// It did not start (a file, the configuration, the lock, another plan): why.
    Refused { message: String, why: Refused },
}

/// Why an engine run did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Another run holds the ledger.
    Locked,
    /// The plan is not the preview's.
    PlanChanged,
    /// Anything else: a file, the configuration.
    Other,
}

/// Runs the engine on a thread of its own; `live` shows its progress, `stop` stops
/// it (the desk shutting down).
pub async fn run(
    template: &SendTemplate,
    env: &Environment,
    run: EngineRun,
    run_id: &str,
    live: Option<Arc<Live>>,
    stop: crate::send::Stop,
) -> Ended {
    let (template, env, run_id) = (template.clone(), env.clone(), run_id.to_owned());
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
                stop,
            ));
        });
    if let Err(error) = spawned {
        return Ended::Refused {
            message: format!("cannot start a thread: {error}"),
            why: Refused::Other,
        };
    }
    ended.await.unwrap_or_else(|_| Ended::Refused {
        message: "the send stopped unexpectedly".into(),
        why: Refused::Other,
    })
}

fn run_blocking(
    template: &SendTemplate,
    env: &Environment,
    run: &EngineRun,
    run_id: &str,
    live: Option<&Live>,
    stop: crate::send::Stop,
) -> Ended {
    let refused = |message: String, why| Ended::Refused { message, why };
    let mut config = match crate::config::build_desk_send(
        template,
        &run.input,
        &run.ledger,
        &run.out,
        run.dry_run,
        env,
    ) {
        Ok(config) => config,
        Err(error) => return refused(error.to_string(), Refused::Other),
    };
    config.input.labels = vec![run.label.clone()];
    config.started_by = format!("desk:{}", run.user);
    config.expect_plan.clone_from(&run.expect_plan);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return refused(format!("cannot start a runtime: {error}"), Refused::Other),
    };
    let info = RunInfo::new(run_id, std::slice::from_ref(&run.input), chrono::Utc::now());
    let control = crate::send::Control {
        info: &info,
        stop,
        live,
        quiet: true,
    };
    match runtime.block_on(crate::send::run(config, control)) {
        Ok(ran) => Ended::Ran {
            exit: ran.exit(),
            plan_digest: Some(ran.plan_digest),
            tally: Box::new(ran.tally),
        },
        Err(error) => {
            let why = match error {
                crate::send::SendError::Lock(crate::ledger::LockError::Held { .. }) => {
                    Refused::Locked
                }
                crate::send::SendError::PlanChanged { .. } => Refused::PlanChanged,
                _ => Refused::Other,
            };
            refused(crate::text::visible(&error.to_string()).into_owned(), why)
        }
    }
}

/// A send started from the desk.
#[derive(Debug)]
pub struct DeskSend {
    pub id: String,
    pub user: String,
    pub submission: String,
    pub run_id: String,
    pub out: PathBuf,
    /// The copy of the upload this send reads (checked to be the previewed bytes).
    pub input: super::upload::Stored,
    /// The plan it must make: the preview's digest.
    pub plan: String,
    /// The request it carries out (four eyes), if any.
    pub request: Option<String>,
    pub live: Arc<Live>,
    pub ended: Mutex<Option<Ended>>,
}

impl DeskSend {
    pub fn ended(&self) -> Option<Ended> {
        self.ended.lock().ok().and_then(|e| e.clone())
    }
}
