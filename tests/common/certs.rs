//! Certificates for the TLS tests and the bench: a root, and a server certificate it
//! signed for the given names. Written as PEM files, as an operator would have them.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The PEM files of a test PKI.
#[derive(Debug)]
pub struct Pki {
    /// The root certificate, for `send --ca-cert`.
    pub root: PathBuf,
    /// The server's certificate (leaf first, then the root), for `simulate --tls-cert`.
    pub cert: PathBuf,
    /// The server's private key, for `simulate --tls-key`.
    pub key: PathBuf,
}

/// A fresh root and a server certificate for `names` (host names or IP addresses),
/// written into `dir`.
pub fn issue(dir: &Path, names: &[&str]) -> Pki {
    let root_key = KeyPair::generate().expect("root key");
    let mut root_params = CertificateParams::new(Vec::<String>::new()).expect("root params");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(DnType::CommonName, "opentrade-callback test root");
    let root = root_params
        .self_signed(&root_key)
        .expect("root certificate");
    let issuer = Issuer::new(root_params, root_key);

    let server_key = KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut server_params = CertificateParams::new(names).expect("server params");
    server_params
        .distinguished_name
        .push(DnType::CommonName, "simulated gateway");
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let pki = Pki {
        root: dir.join("root.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    std::fs::write(&pki.root, root.pem()).expect("write root");
    std::fs::write(&pki.cert, server.pem() + &root.pem()).expect("write chain");
    std::fs::write(&pki.key, server_key.serialize_pem()).expect("write key");
    pki
}
