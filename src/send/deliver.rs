//! Delivering orders: `buffer_unordered(concurrency)` of deliveries, each of which
//! waits out flow-control bans (one gate for all) and the QPS cap, calls, retries
//! transient failures with backoff, feeds the failure-rate breaker and halts the run
//! on fatal answers. An order's outcome is always data (`Delivery`), never an error.

use std::sync::{Arc, Mutex};

use futures::{FutureExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use tokio::sync::mpsc;

use super::batcher::{BatchPolicy, Batcher};
use super::gate::{Ban, BanGate};
use super::halt::{Halt, HaltReason};
use super::outcome::{self, Delivery};
use super::pace::Pacer;
use super::policy::{Breaker, Policy};
use super::recorder::Done;
use super::route::Job;
use crate::text::visible;
use crate::top::{Payload, Reply, TopClient, Verdict};

/// The most outcomes handed to the recorder at once.
const HAND_OVER: usize = 512;

/// Sends the orders of one run through one client under one policy.
#[derive(Debug)]
pub struct Deliverer {
    caller: Caller,
    policy: Policy,
    halt: Arc<Halt>,
    gate: BanGate,
    pacer: Option<Pacer>,
    breaker: Mutex<Breaker>,
    rng: Mutex<StdRng>,
    /// Names the run in the ledger.
    run_id: Arc<str>,
    /// Today's calls left (`daily_quota`).
    budget: Option<Arc<super::quota::Budget>>,
}

/// How a delivery's calls reach the gateway.
#[derive(Debug)]
enum Caller {
    /// One HTTP request per call.
    Single(Box<TopClient>),
    /// Calls gathered into batch requests (`--batch`).
    Batch(Batcher),
}

impl Deliverer {
    pub fn new(client: TopClient, policy: Policy, halt: Arc<Halt>, run_id: Arc<str>) -> Self {
        // Batches are paced as wholes by the batcher; single calls one by one here.
        let (caller, pacer) = if policy.batch.get() > 1 {
            let batch = BatchPolicy {
                size: policy.batch.get(),
                concurrency: policy.concurrency.get(),
                qps: policy.qps,
            };
            (
                Caller::Batch(Batcher::start(client, batch, Arc::clone(&halt))),
                None,
            )
        } else {
            (Caller::Single(Box::new(client)), policy.qps.map(Pacer::new))
        };
        let gate = BanGate::new(policy.max_ban_wait);
        let rng = match policy.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        Deliverer {
            caller,
            breaker: Mutex::new(Breaker::new(policy.breaker)),
            policy,
            halt,
            gate,
            pacer,
            rng: Mutex::new(rng),
            run_id,
            budget: None,
        }
    }

    /// Every call takes one of `budget`'s; none left halts the run before the call.
    pub fn with_budget(mut self, budget: Option<Arc<super::quota::Budget>>) -> Self {
        self.budget = budget;
        self
    }

    /// Delivers every job from `jobs`, `concurrency` at a time, handing outcomes to
    /// the recorder; returns when the router is done and every call has ended.
    pub async fn deliver_all(
        &self,
        mut jobs: mpsc::Receiver<Vec<Job>>,
        recorder: mpsc::Sender<super::recorder::Record>,
    ) {
        let mut finished = futures::stream::poll_fn(move |cx| jobs.poll_recv(cx))
            .flat_map(futures::stream::iter)
            .map(|job| self.settle(job))
            // Orders in flight: `concurrency` requests of up to `batch` calls each.
            .buffer_unordered(self.policy.concurrency.get() * self.policy.batch.get());
        // Whatever has finished goes to the recorder in one hand-over: the chunk grows
        // as needed (`ready_chunks` would allocate room for its largest every time)
        // from room for one batch's answers, which finish together.
        let room = self.policy.batch.get().clamp(16, HAND_OVER);
        while let Some(first) = finished.next().await {
            let mut chunk = Vec::with_capacity(room);
            chunk.push(first);
            while chunk.len() < HAND_OVER {
                match finished.next().now_or_never() {
                    Some(Some(done)) => chunk.push(done),
                    _ => break,
                }
            }
            if recorder
                .send(super::recorder::Record::Rows(chunk))
                .await
                .is_err()
            {
                break;
            }
        }
    }

    async fn settle(&self, job: Job) -> Done {
        let delivery = self.deliver(&job.payload).await;
        outcome::record(
            job,
            delivery,
            &self.run_id,
            self.halt.reason(),
            crate::clock::now_stamp(),
        )
    }

    /// Delivers one order: the same req_id and payload on every attempt.
    pub async fn deliver(&self, payload: &Arc<Payload>) -> Delivery {
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut last: Option<Reply> = None;
        // A batch answer that could not be matched to this call: the next attempt
        // goes alone, so its answer can be.
        let mut alone = false;
        loop {
            // Most calls need not wait: no ban in force and no rate cap here.
            if self.pacer.is_some() || !self.gate.is_open() {
                tokio::select! {
                    biased;
                    _ = self.halt.halted() => return cut_short(attempts, last),
                    // Boxed, as the retry's sleep below: rare waits need not size every
                    // delivery's future.
                    _ = Box::pin(self.ready()) => {}
                }
            }
            if self.halt.is_halted() {
                return cut_short(attempts, last);
            }
            if let Some(budget) = &self.budget
                && !budget.take()
            {
                self.halt.trigger(HaltReason::QuotaSpent {
                    quota: budget.quota,
                    used: budget.used(),
                });
                return cut_short(attempts, last);
            }
            let reply = match &self.caller {
                // Boxed: the request's future is kilobytes, and inline it would make
                // every delivery's future (moved as the stream takes it) that large,
                // batched or not.
                Caller::Single(client) => Box::pin(client.call(payload)).await,
                Caller::Batch(batcher) => match batcher.call(payload, alone).await {
                    Some(reply) => reply,
                    // Still queued when the run halted: never sent.
                    None => return cut_short(attempts, last),
                },
            };
            attempts += 1;
            match reply.verdict {
                Verdict::Delivered | Verdict::Rejected => {
                    self.record(false);
                    return Delivery::Answered { reply, attempts };
                }
                Verdict::Fatal => {
                    self.halt.trigger(HaltReason::Fatal {
                        code: reply.error_code.clone(),
                        msg: reply.error_msg.clone(),
                        sub_code: reply.sub_code.clone(),
                        sub_msg: reply.sub_msg.clone(),
                    });
                    return gave_up(reply, attempts);
                }
                Verdict::RateLimited { ban } => {
                    // A ban of unstated length (or a negative one) is taken as
                    // `unknown_ban`; the gate waits at least a second.
                    let ban = ban.unwrap_or(self.policy.unknown_ban);
                    match self.gate.ban(ban) {
                        Ban::Exceeded { total } => {
                            self.halt.trigger(HaltReason::BanTooLong {
                                ban,
                                total,
                                max: self.policy.max_ban_wait,
                                sub_code: reply.sub_code.clone(),
                                ends: chrono::TimeDelta::from_std(ban)
                                    .ok()
                                    .and_then(|ban| chrono::Utc::now().checked_add_signed(ban)),
                            });
                            return gave_up(reply, attempts);
                        }
                        Ban::Started => tracing::warn!(
                            "flow control: the gateway banned the app for {}; every worker pauses",
                            humantime::format_duration(ban.max(super::gate::MIN_BAN))
                        ),
                        Ban::Same => {}
                    }
                    last = Some(reply);
                }
                Verdict::Transient => {
                    alone = reply.error_code == crate::top::response::code::UNNAMED_ANSWER;
                    failures += 1;
                    // An answer not matched to its call says nothing of the gateway's
                    // health (the breaker's concern): it is asked again, alone.
                    if !alone {
                        self.record(true);
                    }
                    if failures >= self.policy.max_attempts.get() {
                        return gave_up(reply, attempts);
                    }
                    let delay = self.policy.backoff.delay(failures, self.unit());
                    tracing::debug!(
                        "{}: {} — retry {} in {delay:?}",
                        visible(&reply.error_code),
                        visible(&reply.error_msg),
                        failures + 1
                    );
                    last = Some(reply);
                    tokio::select! {
                        biased;
                        _ = self.halt.halted() => return cut_short(attempts, last),
                        _ = Box::pin(tokio::time::sleep(delay)) => {}
                    }
                }
            }
        }
    }

    /// The run's time banned by flow control.
    pub fn banned(&self) -> std::time::Duration {
        self.gate.banned()
    }

    /// Waits until no ban is in force and the rate cap allows a call.
    async fn ready(&self) {
        loop {
            self.gate.wait().await;
            let Some(pacer) = &self.pacer else {
                return;
            };
            pacer.ready().await;
            // A ban that began while this call waited for its slot took the slot with
            // it: after the ban, every waiter takes a new one, or they would all leave
            // at once.
            if self.gate.is_open() {
                return;
            }
        }
    }

    fn record(&self, failed: bool) {
        let tripped = self
            .breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(failed);
        if let Some(reason) = tripped {
            self.halt.trigger(reason);
        }
    }

    fn unit(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .random::<f64>()
    }
}

fn gave_up(reply: Reply, attempts: u32) -> Delivery {
    Delivery::GaveUp {
        reply,
        attempts,
        note: None,
    }
}

fn cut_short(attempts: u32, last: Option<Reply>) -> Delivery {
    match last {
        Some(reply) if attempts > 0 => Delivery::GaveUp {
            reply,
            attempts,
            note: Some("the run halted before the next attempt"),
        },
        _ => Delivery::NotSent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `make` returns, without making one.
    fn future_size<A, F>(_make: impl Fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn a_delivery_future_stays_small() {
        // Every order's delivery is moved into the stream that runs it: an HTTP
        // request's future inline (2.3 KiB) once made each one 2.6 KiB, and memmove a
        // twentieth of a batch run's CPU.
        let payload = Arc::new(Payload::new("R", "{}".into()));
        let size = future_size(|deliverer: &Deliverer| deliverer.deliver(&payload));
        assert!(size <= 1024, "{size} bytes");
    }
}
