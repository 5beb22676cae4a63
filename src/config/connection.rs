//! Where `send`'s calls go and how they are made (`send::Connection`): a dry run, the
//! simulator, or the gateway with its credentials — checked for an empty value, plain
//! http to another machine, a CA file that cannot be read, an unusable proxy. `check`
//! builds exactly this, and nothing else.

use super::layers::Layers;
use super::{ConfigError, FileConfig};
use crate::cli::TargetArgs;
use crate::environment::Environment;
use crate::roles::Roles;
use crate::send::{ClientTuning, Connection, Mode};
use crate::simulator::Scenario;
use crate::top::{Credentials, Overrides, Secret};

/// The connection of `target`'s settings; a CA file it reads is claimed first.
pub(super) fn connection(
    target: &TargetArgs,
    set: &Layers,
    file: &FileConfig,
    env: &Environment,
    roles: &mut Roles,
) -> Result<Connection, ConfigError> {
    let mode = mode(target, set)?;
    let extra_roots = match (&set.ca_cert, &mode) {
        (Some((path, origin)), Mode::Live { .. }) => {
            roles.claim(origin, path)?;
            crate::top::tls::load_roots(path).map_err(|error| ConfigError::CaCert {
                origin,
                path: path.clone(),
                error,
            })?
        }
        _ => Vec::new(),
    };
    let proxy = match &mode {
        Mode::Live { gateway, .. } => match reqwest::Url::parse(gateway) {
            Ok(url) => crate::top::proxy::tunnel_for(&url, env)?,
            Err(_) => None,
        },
        _ => None,
    };
    let session_expires = match &file.session_expires {
        Some(text) => Some(
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map_err(|_| ConfigError::SessionExpires(text.clone()))?,
        ),
        None => None,
    };
    Ok(Connection {
        mode,
        client: ClientTuning {
            sign_method: set.sign_method,
            timeout: set.timeout,
            connect_timeout: set.connect_timeout,
            overrides: Overrides::new(file.classify.clone())
                .with_retry_business_codes(file.retry_business_codes.clone()),
            extra_roots,
            proxy,
        },
        pool: set.concurrency,
        session_expires,
    })
}

/// Where the calls go, and with which credentials.
fn mode(target: &TargetArgs, set: &Layers) -> Result<Mode, ConfigError> {
    if target.dry_run {
        return Ok(Mode::DryRun);
    }
    if target.simulate {
        let scenario = match &target.scenario {
            Some(path) => Scenario::load(path)?,
            None => Scenario::default(),
        };
        return Ok(Mode::Simulate { scenario });
    }
    let (Some(app_key), Some(secret), Some(session)) = (&set.app_key, &set.secret, &set.session)
    else {
        let missing: Vec<&str> = [
            ("TOP_APP_KEY", set.app_key.is_none()),
            ("TOP_APP_SECRET", set.secret.is_none()),
            ("TOP_SESSION", set.session.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        return Err(ConfigError::NoCredentials {
            missing: missing.join(", "),
        });
    };
    let gateway = set.gateway.clone().expect("the gateway has a default");
    for (value, origin) in [&gateway, app_key, secret, session] {
        if value.trim().is_empty() {
            return Err(ConfigError::Empty(origin));
        }
    }
    check_transport(&gateway.0, target.allow_insecure_http)?;
    Ok(Mode::Live {
        gateway: gateway.0,
        credentials: Credentials {
            app_key: app_key.0.clone(),
            secret: Secret::new(secret.0.clone()),
            session: Secret::new(session.0.clone()),
        },
    })
}

/// The session key travels in every request: plain `http://` only to this machine,
/// unless `--allow-insecure-http` says otherwise.
fn check_transport(gateway: &str, allow_insecure_http: bool) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Gateway {
        url: crate::mask::url(gateway),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(gateway).map_err(|e| bad(&e.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("it has no host")),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure_http => Ok(()),
        "http" => Err(ConfigError::InsecureHttp(crate::mask::url(gateway))),
        _ => Err(bad("the scheme must be https (or http to this machine)")),
    }
}
