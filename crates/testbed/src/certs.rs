//! A throw-away CA and a server certificate for `localhost` / `127.0.0.1`,
//! or a deliberately broken one for the certificate diagnostics' tests.

use std::path::{Path, PathBuf};

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

#[derive(Debug, Clone)]
pub struct TestCerts {
    /// PEM of the CA: what a client passes as `--tls-ca`.
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

/// Which server certificate to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by the CA for `localhost` and `127.0.0.1`, valid now.
    Valid,
    /// As `Valid`, but valid only in 2020.
    Expired,
    /// As `Valid`, but valid only from 2090.
    NotYetValid,
    /// Issued by the CA, valid now, for these names only (e.g. `mail.example.org`).
    Names(Vec<String>),
    /// For `localhost` and `127.0.0.1`, signed by its own key (the CA is still
    /// written, but has not issued it).
    SelfSigned,
    /// As `SelfSigned`, but marked CA:TRUE, as `openssl req -x509` makes
    /// them (and as many servers' own certificates are).
    SelfSignedCa,
}

pub fn generate(dir: &Path) -> std::io::Result<TestCerts> {
    generate_kind(dir, &CertKind::Valid)
}

/// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`.
pub fn generate_kind(dir: &Path, kind: &CertKind) -> std::io::Result<TestCerts> {
    let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailport test CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let names = match kind {
        CertKind::Names(names) => names.clone(),
        _ => vec!["localhost".to_string(), "127.0.0.1".to_string()],
    };
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.clone()).map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    match kind {
        CertKind::Expired => {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        CertKind::NotYetValid => {
            params.not_before = date_time_ymd(2090, 1, 1);
            params.not_after = date_time_ymd(2091, 1, 1);
        }
        _ => {}
    }
    if *kind == CertKind::SelfSignedCa {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let cert = if matches!(kind, CertKind::SelfSigned | CertKind::SelfSignedCa) {
        params.self_signed(&key).map_err(err)?
    } else {
        params.signed_by(&key, &issuer).map_err(err)?
    };

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
