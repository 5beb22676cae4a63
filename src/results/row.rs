//! One result line, typed: what `route` and `outcome` decide, what every writer takes
//! and every reader returns.

use crate::columns::RowText;
use crate::status::Status;

/// One result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub fields: RowText,
    pub status: Status,
    pub error_code: String,
    pub error_msg: String,
    pub sub_code: String,
    pub sub_msg: String,
    pub top_request_id: String,
    pub attempts: u32,
    pub finished_at: String,
    /// Index into the run's input names.
    pub source: u32,
    pub line: u64,
}

impl ResultRow {
    /// A row with a status and no platform answer yet.
    pub fn new(fields: RowText, status: Status, source: u32, line: u64) -> Self {
        ResultRow {
            fields,
            status,
            error_code: String::new(),
            error_msg: String::new(),
            sub_code: String::new(),
            sub_msg: String::new(),
            top_request_id: String::new(),
            attempts: 0,
            finished_at: String::new(),
            source,
            line,
        }
    }

    /// Sets the tool's own code and message.
    pub fn with_error(mut self, code: &str, message: impl Into<String>) -> Self {
        self.error_code = code.to_owned();
        self.error_msg = message.into();
        self
    }
}
