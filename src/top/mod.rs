//! The Taobao Open Platform protocol as this tool speaks it: signing, request
//! encoding, answer classification and the HTTP client. Knows nothing of CSV files,
//! ledgers or retries.

pub mod batch;
pub mod client;
pub mod credentials;
pub mod payload;
pub mod proxy;
pub mod redact;
pub mod reply;
pub mod request;
pub mod response;
pub mod sign;
pub mod tls;
pub mod trades;

pub use client::{ClientError, ClientSettings, Clock, Probe, TopClient, system_clock};
pub use credentials::{Credentials, Secret};
pub use payload::{Payload, payload_md5};
pub use request::METHOD;
pub use response::{ErrorClass, Overrides, Reply, Verdict};
pub use sign::SignMethod;
