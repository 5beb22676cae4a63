//! The window between reading and recording: reading waits while `max` rows are
//! read but not yet written, so memory stays flat whatever one stalled call does.

use std::sync::{Condvar, Mutex};

/// Rows handed from the reader thread on at a time.
pub const BATCH: usize = 256;
/// How many rows reading may run ahead of the oldest row not yet written.
pub const WINDOW: usize = 64 * 1024;

/// Rows between the reader and the recorder: reading waits when `max` are in flight.
#[derive(Debug)]
pub struct Window {
    /// Rows in flight, or `None` once closed.
    in_flight: Mutex<Option<usize>>,
    room: Condvar,
    max: usize,
}

impl Window {
    pub fn new(max: usize) -> Self {
        Window {
            in_flight: Mutex::new(Some(0)),
            room: Condvar::new(),
            max: max.max(BATCH),
        }
    }

    /// Waits until `n` more rows fit; returns at once when the window is closed.
    pub fn acquire(&self, n: usize) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(rows) = *in_flight {
            if rows + n <= self.max {
                *in_flight = Some(rows + n);
                return;
            }
            in_flight = self.room.wait(in_flight).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// `n` rows left the window (written, or never to be).
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rows) = in_flight.as_mut() {
            *rows = rows.saturating_sub(n);
        }
        self.room.notify_all();
    }

    /// Stops holding reading back: nothing downstream takes rows any more.
    pub fn close(&self) {
        *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_window_holds_reading_back_until_rows_are_written() {
        let window = Arc::new(Window::new(BATCH * 2));
        window.acquire(BATCH);
        window.acquire(BATCH);
        let (acquired, signal) = std::sync::mpsc::channel();
        let reader = std::thread::spawn({
            let window = Arc::clone(&window);
            move || {
                window.acquire(BATCH);
                let _ = acquired.send(());
            }
        });
        assert!(
            signal.recv_timeout(Duration::from_millis(50)).is_err(),
            "the window is full: no room until a release"
        );
        window.release(BATCH);
        signal
            .recv_timeout(Duration::from_secs(10))
            .expect("acquired after a release");
        reader.join().expect("reader");
    }

    #[test]
    fn a_closed_window_never_holds_reading_back() {
        let window = Window::new(BATCH);
        window.acquire(BATCH);
        window.close();
        window.acquire(BATCH);
    }
}
