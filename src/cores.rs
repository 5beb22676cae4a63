//! How many threads the CPU-bound passes use — building orders from the input,
//! walking the ledger — decided in one place. The network side runs on one thread
//! (`main`), the recorder on one more.

/// The cores this process may use.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads that build and check orders from raw records: one per core, at most four,
/// as one reader thread cannot feed more.
pub fn input_workers() -> usize {
    available().min(4)
}

/// Threads that walk a large ledger, one part each.
pub fn ledger_walkers() -> usize {
    available()
}
