//! TLS for the client. Certificates are always verified: against the system's roots
//! (or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus any `--ca-cert` roots. A machine without CA
//! certificates still builds a client — an `http://` gateway on loopback needs none —
//! whose verifier refuses every certificate, saying why. A failed handshake is named in
//! words that point at the fix (`handshake_failure`).

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// A trusted root certificate.
pub type Root = CertificateDer<'static>;

/// How `NoRoots` starts its refusal, so `explain` can tell it apart.
const NO_ROOTS: &str = "no CA certificates";

/// A `--ca-cert` file that cannot serve as trusted roots.
#[derive(Debug, thiserror::Error)]
pub enum CaCertError {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error(
        "it is not a PEM text file (a DER certificate? convert it: openssl x509 -inform der -in FILE -out FILE.pem)"
    )]
    NotText,
    #[error("it holds no certificate: expected PEM blocks starting '-----BEGIN CERTIFICATE-----'")]
    Empty,
    #[error("its PEM text is damaged: {0}")]
    Pem(String),
    #[error("certificate {index} in it cannot be a trusted root: {reason}")]
    Anchor { index: usize, reason: String },
}

/// The certificates of a PEM file, each checked usable as a trusted root.
pub fn load_roots(path: &Path) -> Result<Vec<Root>, CaCertError> {
    let text = crate::textfile::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::InvalidData => CaCertError::NotText,
        _ => CaCertError::Read(error),
    })?;
    let roots = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaCertError::Pem(e.to_string()))?;
    if roots.is_empty() {
        return Err(CaCertError::Empty);
    }
    for (index, root) in roots.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(root.clone())
            .map_err(|e| CaCertError::Anchor {
                index: index + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(roots)
}

/// The cryptography every TLS connection of the client uses: *ring* (the lighter build
/// of the two rustls offers; the same suites and groups).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client's TLS settings: the platform verifier with `extra_roots` added, or, on a
/// machine without CA certificates (and no extra roots), one that refuses every
/// certificate with that reason.
pub fn client_config(extra_roots: &[Root]) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> =
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            Arc::clone(&provider),
        ) {
            Ok(verifier) => Arc::new(verifier),
            Err(error) => Arc::new(NoRoots {
                reason: error.to_string(),
                provider: Arc::clone(&provider),
            }),
        };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        // Not a weaker check: the platform verifier, built here so that a machine
        // without roots fails its https calls rather than every call.
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The verifier of a machine without CA certificates: no certificate can be checked.
#[derive(Debug)]
struct NoRoots {
    reason: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoRoots {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(format!(
            "{NO_ROOTS}: {}",
            self.reason
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What went wrong, with the fix, when `error` (or one of its causes) is a failed TLS
/// handshake; `None` for any other failure.
pub fn handshake_failure(error: &(dyn StdError + 'static)) -> Option<String> {
    rustls_error(error).map(explain)
}

/// The rustls error behind `error`, if one is.
fn rustls_error<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // std's io::Error skips the error it wraps in `source()`: step into it instead
        // (the connector nests one io::Error in another around the rustls error).
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => io.source(),
            },
            None => current.source(),
        };
    }
    None
}

fn explain(error: &rustls::Error) -> String {
    use rustls::Error as E;
    let what = match error {
        E::InvalidCertificate(certificate) => certificate_words(certificate),
        E::General(text) if text.starts_with(NO_ROOTS) => {
            "this machine has no CA certificates to check the gateway's with: install them \
             (e.g. the ca-certificates package), or pass a root with --ca-cert FILE"
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerSentOversizedRecord => {
            "the gateway does not speak TLS at this address: check --gateway (https:// to a plain http port?)"
        }
        E::PeerIncompatible(_) | E::AlertReceived(_) | E::NoApplicationProtocol => {
            "the gateway and this tool share no TLS version or cipher (or it refused the handshake): \
             the gateway needs TLS 1.2 or 1.3 with modern ciphers; a TLS-inspecting proxy may be in the way"
        }
        E::NoCertificatesPresented => "the gateway presented no certificate: check --gateway",
        E::PeerMisbehaved(_) | E::DecryptError | E::InvalidEncryptedClientHello(_) => {
            "the gateway broke the TLS protocol: something between this machine and the gateway \
             (a proxy, a load balancer) is tampering with the connection"
        }
        E::FailedToGetCurrentTime => {
            "this machine's clock cannot be read, so no certificate can be checked"
        }
        _ => "the TLS handshake with the gateway failed",
    };
    format!("{what} [{}]", kind_name(error))
}

/// Whether the server at `host:port` answers a TLS handshake: asked once a plain-http
/// gateway broke a connection, to tell "the gateway speaks HTTPS" from a network fault.
/// A certificate this machine does not trust still counts: the server spoke TLS.
pub async fn speaks_tls(
    host: &str,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    within: std::time::Duration,
) -> bool {
    let Ok(name) = ServerName::try_from(host.to_owned()) else {
        return false;
    };
    let probe = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let connector = tokio_rustls::TlsConnector::from(config);
        Some(match connector.connect(name, tcp).await {
            Ok(_) => true,
            // The server answered the hello: it speaks TLS, whatever else went wrong.
            Err(error) => rustls_error(&error).is_some_and(|tls| {
                matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_)
                        | rustls::Error::General(_)
                        | rustls::Error::AlertReceived(_)
                        | rustls::Error::PeerIncompatible(_)
                        | rustls::Error::NoCertificatesPresented
                )
            }),
        })
    };
    matches!(tokio::time::timeout(within, probe).await, Ok(Some(true)))
}

/// Why a certificate is refused, with the fix.
fn certificate_words(error: &CertificateError) -> &'static str {
    use CertificateError as C;
    match error {
        C::UnknownIssuer => {
            "the gateway's certificate is not signed by a root this machine trusts: if a proxy \
             or a rehearsal gateway presents it, pass its root with --ca-cert FILE (or TOP_CA_CERT)"
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the gateway's certificate is for another host: check --gateway names the host the certificate is for"
        }
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            "the gateway's certificate is expired or not yet valid: check this machine's clock (NTP)"
        }
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "the gateway's certificate is signed with an algorithm that does not match its key or \
             is not accepted (e.g. SHA-1, or a key type the signature does not fit): the certificate \
             must be reissued with SHA-256 or better"
        }
        C::Revoked
        | C::UnknownRevocationStatus
        | C::ExpiredRevocationList
        | C::ExpiredRevocationListContext { .. } => {
            "the gateway's certificate is revoked, or its revocation status cannot be checked: it must be reissued"
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "the gateway's certificate is not issued for a TLS server (its extended key usage): it must be reissued"
        }
        C::BadEncoding | C::UnhandledCriticalExtension => {
            "the gateway's certificate is malformed or uses an extension this tool cannot check: it must be reissued"
        }
        // A self-signed certificate made with `openssl req -x509` is a CA certificate
        // unless told otherwise, and a CA certificate cannot be a server's.
        other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "the gateway presents a CA certificate as its own: a self-signed server certificate \
             needs basicConstraints CA:FALSE (openssl req -x509 ... -addext basicConstraints=critical,CA:FALSE), \
             or a server certificate signed by that CA"
        }
        _ => {
            "the gateway's certificate is refused: check it is a server certificate for the gateway's host, signed by a trusted root"
        }
    }
}

/// The error's kind, one word (its variant's name), for a person asking for help;
/// never its fields, which print as debug structures.
fn kind_name(error: &rustls::Error) -> String {
    let shown = match error {
        rustls::Error::InvalidCertificate(certificate) => format!("{certificate:?}"),
        other => format!("{other:?}"),
    };
    let name: String = shown
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("TLS {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_usable_pem_certificates() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            path
        };
        let empty = write("empty.pem", b"");
        assert!(matches!(load_roots(&empty), Err(CaCertError::Empty)));
        let key_only = write(
            "key.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        assert!(matches!(load_roots(&key_only), Err(CaCertError::Empty)));
        let der = write("root.der", &[0x30, 0x82, 0xff, 0xfe, 0x80]);
        assert!(matches!(load_roots(&der), Err(CaCertError::NotText)));
        let garbage = write(
            "bad.pem",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let err = load_roots(&garbage).expect_err("not a certificate");
        assert!(matches!(err, CaCertError::Anchor { index: 1, .. }), "{err}");
        assert!(matches!(
            load_roots(&dir.path().join("missing.pem")),
            Err(CaCertError::Read(_))
        ));
    }

    #[test]
    fn handshake_failures_are_found_behind_io_errors_and_explained() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown);
        let outer = std::io::Error::other(wrapped);
        let text = handshake_failure(&outer).expect("a TLS failure");
        assert!(text.contains("--ca-cert"), "{text}");

        let no_roots = rustls::Error::General(format!("{NO_ROOTS}: none loaded"));
        let text = handshake_failure(&no_roots).expect("a TLS failure");
        assert!(text.contains("ca-certificates"), "{text}");

        let odd = rustls::Error::InvalidCertificate(
            CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id: vec![1, 2, 3],
                public_key_algorithm_id: vec![4, 5],
            },
        );
        let text = handshake_failure(&odd).expect("a TLS failure");
        assert!(text.contains("reissued"), "{text}");
        assert!(
            !text.contains('{') && !text.contains("algorithm_id"),
            "{text}"
        );

        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(handshake_failure(&refused), None);
    }
}
