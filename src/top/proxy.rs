//! Which proxy, if any, a gateway's calls go through. The session key travels in every
//! request, so a proxy only ever sees a tunnel: an `https://` gateway goes through the
//! proxy in `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`, `all_proxy`) with `CONNECT`,
//! end-to-end TLS inside it, unless `NO_PROXY`/`no_proxy` names its host; a plain
//! `http://` gateway never goes through a proxy (`HTTP_PROXY`/`http_proxy` are ignored:
//! a forwarding proxy would read the session in clear and could answer in the
//! gateway's place). Pure: the environment is passed in.

/// The variables read, in order of precedence.
pub const PROXY_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// Hosts reached directly.
pub const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// A proxy to tunnel HTTPS calls through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The proxy's URL (`http://host:port`, credentials allowed).
    pub url: String,
    /// `NO_PROXY`'s list, for hosts reached directly.
    pub no_proxy: Option<String>,
    /// The variable `url` came from, for messages.
    pub variable: &'static str,
}

/// A proxy variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{variable} is '{shown}', which is not a usable proxy URL ({reason}): give http://HOST:PORT, or unset it"
)]
pub struct ProxyError {
    pub variable: &'static str,
    /// The value with any password hidden.
    pub shown: String,
    pub reason: String,
}

/// The tunnel for calls to `gateway`, given the environment `env`.
pub fn tunnel_for(
    gateway: &url::Url,
    env: &crate::environment::Environment,
) -> Result<Option<Tunnel>, ProxyError> {
    if gateway.scheme() != "https" {
        return Ok(None);
    }
    let first = |names: &[&'static str]| {
        names.iter().find_map(|&name| {
            env.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        })
    };
    let Some((variable, value)) = first(&PROXY_VARIABLES) else {
        return Ok(None);
    };
    let with_scheme = if value.contains("://") {
        value.clone()
    } else {
        format!("http://{value}")
    };
    let error = |reason: String| ProxyError {
        variable,
        shown: without_password(&value),
        reason,
    };
    let parsed = url::Url::parse(&with_scheme).map_err(|e| error(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(error(format!(
            "the scheme {} is not supported",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(error("it has no host".into()));
    }
    let no_proxy = first(&NO_PROXY_VARIABLES).map(|(_, v)| v);
    if let (Some(list), Some(host)) = (&no_proxy, gateway.host_str())
        && excluded(list, host)
    {
        return Ok(None);
    }
    Ok(Some(Tunnel {
        url: with_scheme,
        no_proxy,
        variable,
    }))
}

/// Whether `NO_PROXY`'s `list` names `host`: `*`, the host itself, or a domain it is
/// in (`example.com` and `.example.com` both cover `api.example.com`).
fn excluded(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    list.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || entry.eq_ignore_ascii_case(host)
            || host
                .to_ascii_lowercase()
                .ends_with(&format!(".{}", entry.to_ascii_lowercase()))
    })
}

/// A proxy URL as it may be shown: any password replaced.
fn without_password(value: &str) -> String {
    match (value.split_once("://"), value.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        (None, Some((_, host))) => format!("***@{host}"),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> crate::environment::Environment {
        crate::environment::Environment::of(pairs.iter().copied())
    }

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("url")
    }

    #[test]
    fn plain_http_never_goes_through_a_proxy() {
        let all = env(&[
            ("http_proxy", "http://proxy:3128"),
            ("HTTP_PROXY", "http://proxy:3128"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("ALL_PROXY", "http://proxy:3128"),
        ]);
        assert_eq!(
            tunnel_for(&url("http://127.0.0.1:9/router/rest"), &all),
            Ok(None)
        );
        assert_eq!(
            tunnel_for(&url("http://gw.example/router/rest"), &all),
            Ok(None)
        );
    }

    #[test]
    fn https_tunnels_through_the_https_proxy_unless_no_proxy_names_the_host() {
        let gateway = url("https://eco.taobao.com/router/rest");
        let only_http = env(&[("http_proxy", "http://proxy:3128")]);
        assert_eq!(tunnel_for(&gateway, &only_http), Ok(None));
        let set = env(&[
            ("https_proxy", "proxy:3128"),
            ("ALL_PROXY", "http://other:1"),
        ]);
        let tunnel = tunnel_for(&gateway, &set)
            .expect("usable")
            .expect("a tunnel");
        assert_eq!(tunnel.url, "http://proxy:3128");
        assert_eq!(tunnel.variable, "https_proxy");
        for list in ["taobao.com", ".taobao.com", "*", "x, eco.taobao.com"] {
            let pairs = [("HTTPS_PROXY", "http://proxy:3128"), ("NO_PROXY", list)];
            assert_eq!(tunnel_for(&gateway, &env(&pairs)), Ok(None), "{list}");
        }
    }

    #[test]
    fn an_unusable_proxy_is_named_without_its_password() {
        let gateway = url("https://eco.taobao.com/router/rest");
        let err = tunnel_for(
            &gateway,
            &env(&[("HTTPS_PROXY", "socks5://u:pw@proxy:1080")]),
        )
        .expect_err("socks is not built in");
        assert_eq!(err.variable, "HTTPS_PROXY");
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
