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
    /// How it ended, once it has: awaited by `until_ended`.
    pub ended: tokio::sync::watch::Sender<Option<Ended>>,
}

impl DeskSend {
    pub fn ended(&self) -> Option<Ended> {
        self.ended.borrow().clone()
    }

    /// Records how the send ended, waking whoever awaits it.
    pub fn end(&self, ended: Ended) {
        self.ended.send_replace(Some(ended));
    }

    /// Once the send has ended.
    pub async fn until_ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(Option::is_some).await;
    }

    /// Once the send has started its calls or ended (one that cannot start ends at once).
    pub async fn until_started_or_ended(&self) {
        tokio::select! {
            () = self.live.started() => {}
            () = self.until_ended() => {}
        }
    }
}

/// The desk's one send at a time: who holds the slot, claimed under its lock (a second
/// is refused while the first has not ended), and awaited to its end at shutdown.
#[derive(Debug, Default)]
pub struct OneSend {
    running: Mutex<Option<Arc<DeskSend>>>,
}

impl OneSend {
    /// Runs `start` while no send is running: it makes the send (or says why not), which
    /// then holds the slot. `Busy` while one is running.
    pub fn claim<E>(
        &self,
        start: impl FnOnce() -> Result<Arc<DeskSend>, E>,
    ) -> Result<Arc<DeskSend>, Claim<E>> {
        let Ok(mut running) = self.running.lock() else {
            return Err(Claim::Busy);
        };
        if running.as_ref().is_some_and(|send| send.ended().is_none()) {
            return Err(Claim::Busy);
        }
        let send = start().map_err(Claim::Refused)?;
        *running = Some(Arc::clone(&send));
        Ok(send)
    }

    /// Once the send running now, if any, has ended.
    pub async fn drained(&self) {
        let running = self.running.lock().ok().and_then(|s| s.clone());
        if let Some(send) = running {
            send.until_ended().await;
        }
    }
}

/// Why `OneSend::claim` made no send.
#[derive(Debug)]
pub enum Claim<E> {
    /// Another send is running.
    Busy,
    /// `start` said why not.
    Refused(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: &str) -> Arc<DeskSend> {
        Arc::new(DeskSend {
            id: id.into(),
            user: "bo".into(),
            submission: "s".into(),
            run_id: "r".into(),
            out: PathBuf::from("out.xlsx"),
            input: super::super::upload::Stored {
                path: PathBuf::from("in.csv"),
                bytes: 0,
                sha256: String::new(),
            },
            plan: String::new(),
            request: None,
            live: Arc::default(),
            ended: tokio::sync::watch::Sender::new(None),
        })
    }

    fn refused() -> Ended {
        Ended::Refused {
            message: "no".into(),
            why: Refused::Other,
        }
    }

    #[tokio::test]
    async fn one_send_at_a_time_is_claimed_and_awaited() {
        let slot = OneSend::default();
        // Nothing running: drained at once.
        slot.drained().await;
        let first = slot
            .claim(|| Ok::<_, ()>(send("a")))
            .expect("the slot is free");
        // While it runs: busy, and `start` is not even asked.
        let mut asked = false;
        let busy = slot.claim(|| {
            asked = true;
            Ok::<_, ()>(send("b"))
        });
        assert!(matches!(busy, Err(Claim::Busy)) && !asked);
        // A refusal by `start` leaves the slot as it was.
        assert!(matches!(
            slot.claim(|| Err::<Arc<DeskSend>, _>("why")),
            Err(Claim::Busy)
        ));
        // Its end wakes whoever awaits it, and frees the slot.
        let waiting = {
            let first = Arc::clone(&first);
            tokio::spawn(async move { first.until_ended().await })
        };
        let drained = tokio::spawn({
            let first = Arc::clone(&first);
            async move { first.until_started_or_ended().await }
        });
        first.end(refused());
        waiting.await.expect("woken");
        drained.await.expect("woken");
        slot.drained().await;
        assert!(matches!(
            slot.claim(|| Err::<Arc<DeskSend>, _>("why")),
            Err(Claim::Refused("why"))
        ));
        let second = slot.claim(|| Ok::<_, ()>(send("b"))).expect("free again");
        assert_eq!(second.id, "b");
    }
}
