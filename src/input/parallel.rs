//! Reading the input on every core. One thread cuts the CSV into batches of raw
//! records (the cheap part), workers turn each record into something (building and
//! checking the order is the costly part), and the caller gets the batches back in
//! input order, so a parallel pass decides exactly as a sequential one would.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::{InputError, InputSet, Record};

/// Maps every record of `inputs` through `work` and hands the results to `sink` in
/// input order, one batch of up to `batch` records at a time (the last may be
/// shorter, even empty).
///
/// `reserve(batch)` runs on the reading thread before each batch is read, so it can
/// hold reading back; every call is followed by exactly one batch for `sink`, unless
/// `sink` has stopped the pass by returning `false` (it must then unblock `reserve`).
/// Records read before a file-level error still reach `sink`; the error is returned
/// after them.
pub fn map_in_order<T, R, W, S>(
    inputs: &InputSet,
    batch: usize,
    reserve: R,
    work: W,
    mut sink: S,
) -> Result<(), InputError>
where
    T: Send,
    R: FnMut(usize) + Send,
    W: Fn(&Record) -> T + Sync,
    S: FnMut(Vec<T>) -> bool,
{
    let workers = crate::cores::input_workers();
    std::thread::scope(|scope| {
        let (to_workers, batches) = sync_channel::<(u64, Vec<Record>)>(workers * 2);
        // The workers own the receiver: when the last one ends, the reader's next
        // send fails and it ends too.
        let batches = Arc::new(Mutex::new(batches));
        let (to_sink, done) = sync_channel::<(u64, Vec<T>)>(workers * 2);
        let work = &work;
        for _ in 0..workers {
            let (batches, to_sink) = (Arc::clone(&batches), to_sink.clone());
            std::thread::Builder::new()
                .name("input-work".into())
                .spawn_scoped(scope, move || {
                    loop {
                        let next = batches.lock().map(|receiver| receiver.recv());
                        let Ok(Ok((seq, records))) = next else { return };
                        let mapped = records.iter().map(work).collect();
                        if to_sink.send((seq, mapped)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| thread_error(format!("cannot start a thread: {e}")))?;
        }
        drop((batches, to_sink));
        let reader = std::thread::Builder::new()
            .name("input-read".into())
            .spawn_scoped(scope, move || {
                read_batches(inputs, batch, reserve, &to_workers)
            })
            .map_err(|e| thread_error(format!("cannot start a thread: {e}")))?;
        let (merged, stopped) = merge_in_order(done, &mut sink);
        let sent = reader
            .join()
            .unwrap_or_else(|_| Err(thread_error("the input reader panicked".into())))?;
        // A worker that panics fails the whole scope; a gap here would be a bug.
        if !stopped && merged != sent {
            return Err(thread_error(format!(
                "{merged} batches of {sent} came back from the workers"
            )));
        }
        Ok(())
    })
}

fn thread_error(what: String) -> InputError {
    InputError::Csv {
        name: "input".into(),
        message: what,
    }
}

/// The reading thread: cuts the records into numbered batches, `reserve`d first;
/// returns how many it sent, or the file-level error after the batch before it.
fn read_batches(
    inputs: &InputSet,
    batch: usize,
    mut reserve: impl FnMut(usize),
    to_workers: &SyncSender<(u64, Vec<Record>)>,
) -> Result<u64, InputError> {
    let mut records = inputs.records();
    let mut seq = 0;
    loop {
        reserve(batch);
        let mut chunk = Vec::with_capacity(batch);
        let mut failure = None;
        for record in records.by_ref().take(batch) {
            match record {
                Ok(record) => chunk.push(record),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let last = failure.is_some() || chunk.len() < batch;
        if to_workers.send((seq, chunk)).is_err() {
            return Ok(seq);
        }
        seq += 1;
        if let Some(e) = failure {
            return Err(e);
        }
        if last {
            return Ok(seq);
        }
    }
}

/// Hands the workers' batches to `sink` in sequence order; returns how many it
/// handed and whether `sink` stopped the pass.
fn merge_in_order<T>(
    done: Receiver<(u64, Vec<T>)>,
    sink: &mut impl FnMut(Vec<T>) -> bool,
) -> (u64, bool) {
    let mut early = BTreeMap::new();
    let mut next = 0;
    for (seq, mapped) in done.iter() {
        early.insert(seq, mapped);
        while let Some(mapped) = early.remove(&next) {
            next += 1;
            if !sink(mapped) {
                return (next, true);
            }
        }
    }
    (next, false)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::input::InputOptions;

    fn file(dir: &tempfile::TempDir, name: &str, rows: usize) -> PathBuf {
        let mut text = String::from("order_no,success,req_id\n");
        for i in 0..rows {
            text.push_str(&format!("{i},true,R{i}\n"));
            if i % 10 == 0 {
                text.push('\n');
            }
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Every row's (file, line), batch count, and the pass's result.
    fn lines(set: &InputSet, batch: usize) -> (Vec<(u32, u64)>, Result<(), InputError>) {
        let mut seen = Vec::new();
        let (reserved, batches) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let result = map_in_order(
            set,
            batch,
            |n| {
                assert_eq!(n, batch);
                reserved.fetch_add(1, Ordering::Relaxed);
            },
            |record| set.finish(record).map(|row| (row.source, row.line)),
            |mapped: Vec<Option<(u32, u64)>>| {
                assert!(mapped.len() <= batch);
                batches.fetch_add(1, Ordering::Relaxed);
                seen.extend(mapped.into_iter().flatten());
                true
            },
        );
        assert_eq!(
            reserved.into_inner(),
            batches.into_inner(),
            "one batch per reservation"
        );
        (seen, result)
    }

    #[test]
    fn batches_come_back_in_input_order() {
        let dir = tempfile::tempdir().expect("dir");
        let paths = [file(&dir, "a.csv", 5000), file(&dir, "b.csv", 333)];
        let set = InputSet::open(&paths, &InputOptions::default()).expect("opens");
        let expected: Vec<_> = set
            .rows()
            .map(|row| row.map(|row| (row.source, row.line)).expect("row"))
            .collect();
        assert_eq!(expected.len(), 5333);
        for batch in [1, 7, 64, 512, 5832, 9000] {
            let (seen, result) = lines(&set, batch);
            result.expect("no error");
            assert_eq!(seen, expected, "batch {batch}");
        }
    }

    #[test]
    fn rows_read_before_an_error_still_arrive() {
        let dir = tempfile::tempdir().expect("dir");
        let paths = [file(&dir, "a.csv", 1000), file(&dir, "b.csv", 10)];
        let set = InputSet::open(&paths, &InputOptions::default()).expect("opens");
        std::fs::write(&paths[1], "order_no,success,req_id\n1,true,X\n").expect("rewrite");
        let (seen, result) = lines(&set, 64);
        assert!(
            matches!(result, Err(InputError::Changed { .. })),
            "{result:?}"
        );
        assert_eq!(seen.len(), 1000);
        assert!(seen.iter().all(|(source, _)| *source == 0));
    }

    #[test]
    fn the_sink_can_stop_the_pass() {
        let dir = tempfile::tempdir().expect("dir");
        let set = InputSet::open(&[file(&dir, "a.csv", 20_000)], &InputOptions::default())
            .expect("opens");
        let mut batches = 0;
        let result = map_in_order(
            &set,
            16,
            |_| {},
            |record| record.clone(),
            |_| {
                batches += 1;
                batches < 3
            },
        );
        result.expect("a stop is not an error");
        assert_eq!(batches, 3);
    }
}
