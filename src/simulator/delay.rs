//! Answer delays as precise as the OS allows. tokio's timer works in whole
//! milliseconds — `sleep(50 ms)` measured 51.8 ms on average here — which would make
//! the simulated gateway slower than its scenario says and every latency-bound
//! benchmark look worse than the client is. One thread keeps the deadlines in a heap
//! and waits on a condition variable (nanosecond timeouts).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

/// A waiting answer, ordered by deadline (then arrival).
#[derive(Debug)]
struct Waiting {
    at: Instant,
    order: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl Eq for Waiting {}

impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Waiting>>,
    next: u64,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The simulator's delays; stops its thread when dropped.
#[derive(Debug)]
pub struct Delays {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Delays {
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("simulator-delays".into())
            .spawn(move || run(&worker))?;
        Ok(Delays {
            shared,
            thread: Some(thread),
        })
    }

    /// Resolves at `at`.
    pub fn until(&self, at: Instant) -> impl Future<Output = ()> + use<> {
        let (wake, woken) = oneshot::channel();
        let earliest = {
            let mut state = self.shared.lock();
            let order = state.next;
            state.next += 1;
            let earliest = state.heap.peek().is_none_or(|Reverse(first)| at < first.at);
            state.heap.push(Reverse(Waiting { at, order, wake }));
            earliest
        };
        // The thread sleeps until the earliest deadline; only an earlier one needs it
        // to wake and plan again (with one latency for all calls, that is rare).
        if earliest {
            self.shared.changed.notify_one();
        }
        async move {
            let _ = woken.await;
        }
    }
}

impl Drop for Delays {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        match state.heap.peek().map(|Reverse(w)| w.at) {
            None => {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner())
            }
            Some(at) if at <= now => {
                if let Some(Reverse(due)) = state.heap.pop() {
                    let _ = due.wake.send(());
                }
            }
            Some(at) => {
                state = shared
                    .changed
                    .wait_timeout(state, at - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delays_end_on_time_and_in_order() {
        let delays = Delays::start().expect("thread");
        let started = Instant::now();
        let late = delays.until(started + Duration::from_millis(30));
        let early = delays.until(started + Duration::from_millis(10));
        early.await;
        let first = started.elapsed();
        late.await;
        let second = started.elapsed();
        assert!(
            first >= Duration::from_millis(10) && first < Duration::from_millis(25),
            "{first:?}"
        );
        assert!(second >= Duration::from_millis(30), "{second:?}");
    }
}
