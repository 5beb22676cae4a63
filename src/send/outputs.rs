//! Opening a run's outputs before its first call: the result writer, then the ledger
//! (made when new) with the run's row and its inputs' SHA-256 — so an output that cannot
//! be written means nothing was sent.

use std::sync::Arc;

use super::recorder::Outputs;
use super::{SendConfig, SendError};
use crate::input::InputSet;
use crate::ledger::record::RunStart;
use crate::ledger::{self, Access, Ledger};
use crate::results::ResultWriter;

/// Every output is opened before the first call: if one cannot be written, nothing
/// is sent. The ledger comes last: made (when new) and the run's row written there
/// (with its inputs' SHA-256) only once the rest is known to be writable.
pub(super) fn open_outputs(
    config: &SendConfig,
    inputs: &InputSet,
    ledger: Option<Ledger>,
    mut run: RunStart,
    from_ledger: bool,
) -> Result<Outputs, SendError> {
    let sources = Arc::from(sources(inputs, from_ledger));
    let results = ResultWriter::create(&config.out, sources, config.excel, inputs.extra_names())
        .map_err(|error| SendError::Results {
            path: config.out.clone(),
            error,
        })?;
    let ledger = match ledger {
        None if config.is_dry_run() => None,
        None => Some(Ledger::open(&config.ledger, Access::Write)?),
        Some(ledger) => Some(ledger),
    };
    let ledger = match ledger {
        None => None,
        Some(ledger) => {
            run.inputs = inputs_with_digests(config, inputs);
            Some(ledger::store::Store::record(ledger, &run)?)
        }
    };
    Ok(Outputs { results, ledger })
}

/// The sources' names, and `ledger` after them when the ledger's own orders are sent.
pub(super) fn sources(inputs: &InputSet, from_ledger: bool) -> Vec<String> {
    let mut names = inputs.names().to_vec();
    if from_ledger {
        names.push(LEDGER_SOURCE.to_owned());
    }
    names
}

/// The `source` of a row the ledger sent again.
pub const LEDGER_SOURCE: &str = "ledger";

/// Each input's name and, for a file, its SHA-256 and size, as the run records them.
fn inputs_with_digests(
    config: &SendConfig,
    inputs: &InputSet,
) -> Vec<(String, Option<(String, u64)>)> {
    inputs
        .names()
        .iter()
        .zip(&config.inputs)
        .map(|(name, path)| {
            let digest = (path.as_os_str() != "-")
                .then(|| crate::textfile::sha256(path).ok())
                .flatten();
            (name.clone(), digest)
        })
        .collect()
}
