//! The Taobao Open Platform protocol as this tool speaks it: signing, request
//! encoding, answer classification and the HTTP client. Knows nothing of CSV files,
//! ledgers or retries.

pub mod client;
pub mod request;
pub mod response;
pub mod sign;

pub use client::{ClientSettings, Clock, TopClient, system_clock};
pub use request::{Credentials, METHOD, Secret};
pub use response::{ErrorClass, Overrides, Reply, Verdict};
pub use sign::SignMethod;
