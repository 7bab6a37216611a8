//! A throw-away CA and a server certificate for `localhost` / `127.0.0.1`.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

#[derive(Debug, Clone)]
pub struct TestCerts {
    /// PEM of the CA: what a client passes as `--tls-ca`.
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

pub fn generate(dir: &Path) -> std::io::Result<TestCerts> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailport test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let certs = TestCerts {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
    };
    std::fs::write(&certs.ca_pem, ca_cert.pem())?;
    std::fs::write(&certs.cert_pem, cert.pem())?;
    std::fs::write(&certs.key_pem, key.serialize_pem())?;
    Ok(certs)
}
