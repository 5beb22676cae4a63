//! A server's certificate chain and key from PEM files (`--tls-cert FILE --tls-key
//! FILE` of `serve` and `simulate`), as rustls settings for HTTP/1.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate or the key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {role} {}: {error}", path.display())]
    Read {
        role: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{role} {}: {reason}", path.display())]
    Pem {
        role: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("--tls-cert and --tls-key do not make a usable pair: {0}")]
    Pair(rustls::Error),
}

/// The server's TLS settings from a PEM certificate chain (leaf first) and a PEM key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let chain_text = read("--tls-cert", cert)?;
    let chain = CertificateDer::pem_slice_iter(chain_text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem("--tls-cert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem(
            "--tls-cert",
            cert,
            "holds no '-----BEGIN CERTIFICATE-----' block".into(),
        ));
    }
    let key_text = read("--tls-key", key)?;
    let private = PrivateKeyDer::from_pem_slice(key_text.as_bytes()).map_err(|e| {
        pem(
            "--tls-key",
            key,
            format!("holds no usable private key ({e})"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Pair)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(TlsSetupError::Pair)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(role: &'static str, path: &Path) -> Result<String, TlsSetupError> {
    crate::textfile::read(path).map_err(|error| TlsSetupError::Read {
        role,
        path: path.to_owned(),
        error,
    })
}

fn pem(role: &'static str, path: &Path, reason: String) -> TlsSetupError {
    TlsSetupError::Pem {
        role,
        path: path.to_owned(),
        reason,
    }
}
