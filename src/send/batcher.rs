//! `--batch N`: the calls of concurrent deliveries gathered into batch requests. Each
//! delivery still makes its own calls — waits out bans, retries, counts for the
//! breaker — and gets its own answer back; only the HTTP requests are shared. At most
//! `concurrency` requests are in flight; with `--qps`, whole batches are paced so no
//! second holds more calls than the cap. A call still queued when the run halts is
//! never sent.

use std::num::NonZeroU32;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::halt::Halt;
use super::pace::Pacer;
use crate::top::{Payload, Reply, TopClient};

/// Times the dispatcher yields to let more calls join a batch that is not full.
const FILL_YIELDS: usize = 2;

/// Hands calls to the dispatcher task and their answers back.
#[derive(Debug)]
pub struct Batcher {
    calls: mpsc::UnboundedSender<Call>,
}

#[derive(Debug)]
struct Call {
    payload: Arc<Payload>,
    answer: oneshot::Sender<Reply>,
    /// Sent as a request of its own: its answer in a batch named no req_id, and only
    /// an answer nothing else shares can be matched to it.
    alone: bool,
}

/// How batches are formed and sent.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Calls per request, at most.
    pub size: usize,
    /// Requests in flight, at most.
    pub concurrency: usize,
    /// Calls per second, at most.
    pub qps: Option<NonZeroU32>,
}

impl Batcher {
    /// Starts the dispatcher task on the current runtime.
    pub fn start(client: TopClient, policy: BatchPolicy, halt: Arc<Halt>) -> Batcher {
        let (calls, queue) = mpsc::unbounded_channel();
        // With a cap, whole batches are paced: `per_second` batches of `size` calls
        // never exceed it in any one-second window.
        let size = match policy.qps {
            Some(qps) => policy.size.min(qps.get() as usize),
            None => policy.size,
        }
        .max(1);
        let pacer = policy.qps.map(|qps| {
            let per_second = (qps.get() / size as u32).max(1);
            Pacer::new(NonZeroU32::new(per_second).expect("at least one"))
        });
        let dispatcher = Dispatcher {
            client,
            size,
            slots: Arc::new(Semaphore::new(policy.concurrency.max(1))),
            pacer,
            halt,
        };
        tokio::spawn(dispatcher.run(queue));
        Batcher { calls }
    }

    /// Makes one call as part of a batch (or, when `alone`, as a request of its own);
    /// `None` when the run halted before it was sent.
    pub async fn call(&self, payload: &Arc<Payload>, alone: bool) -> Option<Reply> {
        let (answer, answered) = oneshot::channel();
        let call = Call {
            payload: Arc::clone(payload),
            answer,
            alone,
        };
        self.calls.send(call).ok()?;
        answered.await.ok()
    }
}

struct Dispatcher {
    client: TopClient,
    size: usize,
    slots: Arc<Semaphore>,
    pacer: Option<Pacer>,
    halt: Arc<Halt>,
}

impl Dispatcher {
    /// Sends batches until every `Batcher` is gone.
    async fn run(self, mut queue: mpsc::UnboundedReceiver<Call>) {
        // Calls to send alone, met while filling a batch.
        let mut held = std::collections::VecDeque::new();
        loop {
            let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
                return;
            };
            let first = match held.pop_front() {
                Some(call) => call,
                None => match queue.recv().await {
                    Some(call) => call,
                    None => return,
                },
            };
            if let Some(pacer) = &self.pacer {
                pacer.ready().await;
            }
            if first.alone {
                if !self.halt.is_halted() {
                    let client = self.client.clone();
                    tokio::spawn(async move {
                        let reply = client.call(&first.payload).await;
                        let _ = first.answer.send(reply);
                        drop(slot);
                    });
                }
                continue;
            }
            let mut batch = vec![first];
            for _ in 0..=FILL_YIELDS {
                while batch.len() < self.size {
                    match queue.try_recv() {
                        Ok(call) if call.alone => held.push_back(call),
                        Ok(call) => batch.push(call),
                        Err(_) => break,
                    }
                }
                if batch.len() == self.size {
                    break;
                }
                tokio::task::yield_now().await;
            }
            if self.halt.is_halted() {
                // Dropping the answers tells each call it was never sent.
                continue;
            }
            let client = self.client.clone();
            tokio::spawn(async move {
                let payloads: Vec<&Payload> = batch.iter().map(|c| &*c.payload).collect();
                let replies = client.call_batch(&payloads).await;
                for (call, reply) in batch.into_iter().zip(replies) {
                    let _ = call.answer.send(reply);
                }
                drop(slot);
            });
        }
    }
}
