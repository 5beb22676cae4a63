//! The precedence table of `send`'s settings — flag, environment, `--config` file,
//! default — that reads as data, and the pacing policy checked from it.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, DEFAULT_GATEWAY, FileConfig};
use crate::cli::{PaceArgs, TargetArgs};
use crate::environment::Environment;
use crate::send::policy::{Backoff, BreakerPolicy, Policy};
use crate::top::SignMethod;

/// A text setting and the layer it came from (for messages).
pub(super) type Named = Option<(String, &'static str)>;

/// Every setting, resolved from its layers.
pub(super) struct Layers {
    pub gateway: Named,
    pub ca_cert: Option<(PathBuf, &'static str)>,
    pub app_key: Named,
    pub secret: Named,
    pub session: Named,
    pub sign_method: SignMethod,
    pub concurrency: NonZeroUsize,
    pub batch: NonZeroUsize,
    pub qps: Option<NonZeroU32>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: NonZeroU32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub max_ban_wait: Duration,
    pub max_failure_rate: f64,
}

/// The precedence table: each setting's flag, environment variable, file key and
/// default, highest first. A value absent from one layer falls to the next.
#[rustfmt::skip]
pub(super) fn layers(target: &TargetArgs, pace: &PaceArgs, env: &Environment, file: &FileConfig) -> Layers {
    let var = |name: &'static str| env.get(name).map(|v| (v, name));
    let key = |value: &Option<String>, name: &'static str| value.clone().map(|v| (v, name));
    let retry = &file.retry;
    let path = |value: &Option<PathBuf>, name: &'static str| value.clone().map(|v| (v, name));
    let path_var = |name: &'static str| env.get(name).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), name));
    Layers {
        //                  flag                       environment              file                                     default
        gateway:         first([key(&target.gateway, "--gateway"), var("TOP_GATEWAY"), key(&file.gateway, "gateway in --config")]).or(Some((DEFAULT_GATEWAY.into(), "the default"))),
        ca_cert:         first([path(&target.ca_cert, "--ca-cert"), path_var("TOP_CA_CERT"), path(&file.ca_cert, "ca_cert in --config")]),
        app_key:         first([None,                  var("TOP_APP_KEY"),      key(&file.app_key, "app_key in --config")]),
        secret:          first([None,                  var("TOP_APP_SECRET"),   key(&file.secret, "secret in --config")]),
        session:         first([None,                  var("TOP_SESSION"),      key(&file.session, "session in --config")]),
        sign_method:     first([target.sign_method,    None,                    file.sign_method])          .unwrap_or_default(),
        concurrency:     first([pace.concurrency,      None,                    file.concurrency])          .unwrap_or(NonZeroUsize::new(8).expect("8 > 0")),
        batch:           first([pace.batch,            None,                    file.batch])                .unwrap_or(NonZeroUsize::MIN),
        qps:             first([pace.qps,              None,                    file.qps]),
        timeout:         first([pace.timeout,          None,                    file.timeout])              .unwrap_or(Duration::from_secs(10)),
        connect_timeout: first([pace.connect_timeout,  None,                    file.connect_timeout])      .unwrap_or(Duration::from_secs(5)),
        max_attempts:    first([pace.max_attempts,     None,                    retry.max_attempts])        .unwrap_or(NonZeroU32::new(5).expect("5 > 0")),
        backoff_base:    first([pace.backoff_base,     None,                    retry.backoff_base])        .unwrap_or(Duration::from_millis(500)),
        backoff_cap:     first([pace.backoff_cap,      None,                    retry.backoff_cap])         .unwrap_or(Duration::from_secs(30)),
        max_ban_wait:    first([pace.max_ban_wait,     None,                    retry.max_ban_wait])        .unwrap_or(Duration::from_secs(300)),
        max_failure_rate: first([pace.max_failure_rate, None,                   retry.max_failure_rate])    .unwrap_or(50.0),
    }
}

/// The first layer that has a value.
fn first<T, const N: usize>(layers: [Option<T>; N]) -> Option<T> {
    layers.into_iter().flatten().next()
}

/// The pacing and retry policy, checked: a cap below its base, a rate that is no
/// percentage, a zero timeout or an oversize batch is refused.
pub(super) fn policy(set: &Layers, seed: Option<u64>) -> Result<Policy, ConfigError> {
    if set.backoff_cap < set.backoff_base {
        return Err(ConfigError::BackoffCapBelowBase {
            cap: set.backoff_cap,
            base: set.backoff_base,
        });
    }
    if !(0.0..=100.0).contains(&set.max_failure_rate) {
        return Err(ConfigError::FailureRate(set.max_failure_rate));
    }
    if set.timeout.is_zero() {
        return Err(ConfigError::ZeroTimeout);
    }
    if set.batch.get() > crate::top::batch::MAX_CALLS {
        return Err(ConfigError::Batch(set.batch.get()));
    }
    Ok(Policy {
        concurrency: set.concurrency,
        batch: set.batch,
        qps: set.qps,
        max_attempts: set.max_attempts,
        backoff: Backoff {
            base: set.backoff_base,
            cap: set.backoff_cap,
        },
        max_ban_wait: set.max_ban_wait,
        unknown_ban: Duration::from_secs(10),
        breaker: BreakerPolicy {
            window: 100,
            max_percent: set.max_failure_rate,
        },
        seed,
    })
}
