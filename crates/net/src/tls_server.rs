//! TLS for servers (the proxy): one certificate per hostname, chosen by the
//! name the client asks for (SNI), reloadable while running.
//!
//! Mail clients refuse a certificate that does not cover the name they were
//! configured with ("cannot verify server identity"), and after a migration
//! the old server is reached under many names (`mail.`, `imap.`, a
//! customer's own domain). So every name gets its certificate, a name
//! without one gets the first (the default) and is reported once, and a
//! client without SNI gets the default.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// `name=cert.pem,key.pem` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// A hostname, or `*.example.org` for any one label under it.
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl std::str::FromStr for CertSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || {
            format!("--tls-cert {s:?}: write HOSTNAME=CERT.pem,KEY.pem, e.g. mail.old.example=/etc/ssl/mail.pem,/etc/ssl/mail.key")
        };
        let (name, files) = s.split_once('=').ok_or_else(usage)?;
        let (cert, key) = files.split_once(',').ok_or_else(usage)?;
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || cert.is_empty() || key.is_empty() {
            return Err(usage());
        }
        Ok(CertSpec {
            name,
            cert: cert.into(),
            key: key.into(),
        })
    }
}

/// The certificates of a server, by name.
#[derive(Debug)]
pub struct Certificates {
    by_name: RwLock<Loaded>,
    /// Names clients asked for that no certificate covers (reported once each).
    unknown: Mutex<BTreeSet<String>>,
}

#[derive(Debug, Default)]
struct Loaded {
    specs: Vec<CertSpec>,
    keys: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads every certificate and key; the first is the default. The
    /// error names the file and what is wrong with it.
    pub fn load(specs: &[CertSpec]) -> Result<Arc<Certificates>, String> {
        Ok(Arc::new(Certificates {
            by_name: RwLock::new(load(specs)?),
            unknown: Mutex::default(),
        }))
    }

    /// Reads the same files again (SIGHUP, after a renewal). On an error the
    /// certificates in use stay.
    pub fn reload(&self) -> Result<(), String> {
        let specs = self.read().specs.clone();
        let fresh = load(&specs)?;
        *self.by_name.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Names clients asked for that no certificate covers.
    pub fn unknown_names(&self) -> Vec<String> {
        let unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        unknown.iter().cloned().collect()
    }

    /// A rustls server configuration choosing among these certificates.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // Mail clients do not negotiate ALPN; nothing to set.
        config.alpn_protocols.clear();
        Arc::new(config)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.by_name.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The certificate for `name` (exact, then a wildcard one label up),
    /// else the default.
    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.read();
        let Some(name) = name.map(|n| n.trim_end_matches('.').to_ascii_lowercase()) else {
            return loaded.default.clone();
        };
        let wildcard = name
            .split_once('.')
            .map(|(_, parent)| format!("*.{parent}"));
        let found = loaded
            .keys
            .get(&name)
            .or_else(|| wildcard.and_then(|w| loaded.keys.get(&w)));
        if found.is_none() {
            let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded: a scanner can send any name.
            if unknown.len() < 1000 && unknown.insert(name.clone()) {
                tracing::warn!(
                    "a client asked for {name:?}, which no --tls-cert covers: it got the default certificate and probably warns its user; add --tls-cert {name}=CERT,KEY"
                );
            }
        }
        found.cloned().or_else(|| loaded.default.clone())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
    }
}

fn load(specs: &[CertSpec]) -> Result<Loaded, String> {
    if specs.is_empty() {
        return Err("no certificate: give --tls-cert HOSTNAME=CERT.pem,KEY.pem".into());
    }
    let provider = rustls::crypto::ring::default_provider();
    let mut loaded = Loaded {
        specs: specs.to_vec(),
        ..Loaded::default()
    };
    for spec in specs {
        let chain = read_chain(&spec.cert)?;
        let key = read_key(&spec.key)?;
        let signing = provider.key_provider.load_private_key(key).map_err(|e| {
            format!(
                "{}: the private key cannot be used: {e}",
                spec.key.display()
            )
        })?;
        let certified = Arc::new(CertifiedKey::new(chain, signing));
        certified.keys_match().map_err(|_| {
            format!(
                "{} and {} do not belong together: the key is not the certificate's",
                spec.cert.display(),
                spec.key.display()
            )
        })?;
        loaded.default.get_or_insert_with(|| certified.clone());
        loaded.keys.insert(spec.name.clone(), certified);
    }
    Ok(loaded)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let chain = crate::tls::pem_certificates(&pem);
    match chain.is_empty() {
        true => Err(format!("{} holds no PEM certificate", path.display())),
        false => Ok(chain),
    }
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| {
        format!(
            "{} holds no PEM private key (PKCS#8, RSA or EC)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cert(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (
            dir.join(format!("{}.pem", names[0])),
            dir.join(format!("{}.key", names[0])),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn spec(name: &str, files: &(PathBuf, PathBuf)) -> CertSpec {
        format!("{name}={},{}", files.0.display(), files.1.display())
            .parse()
            .unwrap()
    }

    #[test]
    fn certificates_by_name_with_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let mail = write_cert(dir.path(), &["mail.old.example"]);
        let any = write_cert(dir.path(), &["*.customer.example"]);
        let certs = Certificates::load(&[
            spec("mail.old.example", &mail),
            spec("*.customer.example", &any),
        ])
        .unwrap();
        let first = certs.choose(Some("mail.old.example")).unwrap();
        let wild = certs.choose(Some("IMAP.customer.example.")).unwrap();
        assert!(!Arc::ptr_eq(&first, &wild));
        assert!(Arc::ptr_eq(&certs.choose(None).unwrap(), &first));
        assert!(Arc::ptr_eq(
            &certs.choose(Some("other.example")).unwrap(),
            &first
        ));
        assert_eq!(certs.unknown_names(), vec!["other.example".to_string()]);
        certs.reload().unwrap();
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_cert(dir.path(), &["a.example"]);
        let b = write_cert(dir.path(), &["b.example"]);
        let mismatched = (a.0.clone(), b.1.clone());
        let e = Certificates::load(&[spec("a.example", &mismatched)]).unwrap_err();
        assert!(e.contains("do not belong together"), "{e}");
        let e = Certificates::load(&[spec("a.example", &(a.1.clone(), a.1.clone()))]).unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = Certificates::load(&[spec("a.example", &(a.0.clone(), a.0.clone()))]).unwrap_err();
        assert!(e.contains("no PEM private key"), "{e}");
        assert!("a.example"
            .parse::<CertSpec>()
            .unwrap_err()
            .contains("HOSTNAME=CERT.pem,KEY.pem"));
    }
}
