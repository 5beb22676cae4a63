//! Every CSV reader and writer of the tool is built here, so quoting, flexibility
//! and line endings are decided once (xsv's `config.rs` idea).

use std::io::{Read, Write};

/// A reader for input files, result files and ledgers: a header line, rows of any
/// length (row length is checked by the caller, with a row-level error).
pub fn reader<R: Read>(delimiter: u8, source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(source)
}

/// A reader for records without a header: the ledger's quoted lines, one at a time.
pub fn headerless<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source)
}

/// A writer for files people open (result CSVs): RFC 4180 CRLF line ends, which
/// Excel and every CSV reader accept.
pub fn report_writer<W: Write>(sink: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(sink)
}

/// A writer for the ledger: LF line ends, so a torn last line is one without `\n`.
pub fn ledger_writer<W: Write>(sink: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(sink)
}
