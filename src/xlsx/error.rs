//! Why a workbook cannot be read, in words that name the fix, and the limits a workbook
//! is held to whatever it declares.

/// The most all parts of a workbook may inflate to together.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;
/// The most the shared-string table may inflate to (calamine holds it in memory).
pub const MAX_SHARED_STRINGS_BYTES: u64 = 256 << 20;
/// The most any part but a worksheet or the shared strings may inflate to.
pub const MAX_OTHER_PART_BYTES: u64 = 64 << 20;
/// The longest run of text between two tags: a cell Excel can hold (32,767 characters)
/// is far shorter, even with every character escaped.
pub const MAX_TEXT_RUN: u64 = 1 << 20;

/// Why a workbook cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("not a readable .xlsx workbook: {0}")]
    NotAWorkbook(String),
    #[error("it has no sheet named '{wanted}'; its sheets: {found}")]
    NoSheet { wanted: String, found: String },
    #[error("it has no sheet")]
    Empty,
    #[error(
        "it unpacks to more than a workbook may ({} MiB in all, {} MiB of shared text): save it again in Excel, or export CSV",
        MAX_UNPACKED_BYTES >> 20,
        MAX_SHARED_STRINGS_BYTES >> 20
    )]
    TooLarge,
    #[error(
        "{part} holds a text of more than {} KiB, longer than any cell Excel can hold: the file is damaged or was not made by Excel",
        MAX_TEXT_RUN >> 10
    )]
    TextTooLong { part: String },
    #[error(
        "it is password-protected (encrypted): open it in Excel, remove the password (File > Info > Protect Workbook), save, and use that copy"
    )]
    Encrypted,
    #[error(
        "it is an Excel 97-2003 workbook (.xls), not .xlsx: open it in Excel and save it as Excel Workbook (.xlsx)"
    )]
    OldXls,
    #[error("it is text, not a workbook (a CSV file named .xlsx?): rename it to .csv")]
    Text,
    #[error(
        "its first sheet '{name}' is hidden in Excel, so it is not the sheet you see: name the sheet to read with --sheet (visible sheets: {visible})"
    )]
    HiddenFirst { name: String, visible: String },
    #[error(
        "a cell {near} refers to a shared text the workbook does not have: the file is damaged; open it in Excel and save it again"
    )]
    MissingString { near: String },
    #[error("cannot read it: {0}")]
    Read(String),
}
