//! The project key: every credential of a project is sealed with it
//! (XChaCha20-Poly1305, a random 192-bit nonce per secret), so the state
//! store alone reveals no password. The key lives in a file only its owner
//! can read (mode 0600), or in `MAILPORT_KEY` for workers on other machines.
//!
//! Each secret is bound to where it belongs (project, mailbox, side) as
//! associated data: a ciphertext copied to another mailbox's row does not
//! open there.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mailport_mail::base64::{base64, base64_decode};
use zeroize::Zeroizing;

/// The environment variable a worker reads the key from.
pub const KEY_VARIABLE: &str = "MAILPORT_KEY";

const PREFIX: &str = "mailport-key-v1:";
const SEALED: &str = "v1:";
/// What the store keeps to tell the right key from a wrong one.
const CHECK: &str = "mailport project key check";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no project key for {project:?}: looked in {looked}; give --key-file PATH or set {KEY_VARIABLE}")]
    Missing { project: String, looked: String },
    #[error("{from} does not hold a mailport project key (it starts with {PREFIX:?})")]
    Malformed { from: String },
    #[error("the key from {from} is not the key of project {project:?} (it cannot open the project's secrets)")]
    Wrong { from: String, project: String },
    #[error("cannot read the project key {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the project key {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a secret in the state store cannot be opened with the project key ({0}); the row was changed or belongs elsewhere")]
    Corrupt(&'static str),
}

/// A project's key, wiped from memory when dropped.
pub struct ProjectKey {
    bytes: Zeroizing<[u8; 32]>,
    /// Where it came from, for messages.
    pub from: String,
}

impl std::fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProjectKey(<redacted>, from {})", self.from)
    }
}

impl ProjectKey {
    pub fn generate() -> ProjectKey {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&key);
        ProjectKey {
            bytes,
            from: "a new key".into(),
        }
    }

    /// The key as text: `mailport-key-v1:` and 64 hex digits.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(PREFIX.len() + 64));
        s.push_str(PREFIX);
        for b in self.bytes.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Reads the text [`ProjectKey::encode`] writes; `from` names where it
    /// came from in errors.
    pub fn decode(text: &str, from: &str) -> Result<ProjectKey, KeyError> {
        let malformed = || KeyError::Malformed { from: from.into() };
        let hex = text.trim().strip_prefix(PREFIX).ok_or_else(malformed)?;
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(malformed());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| malformed())?;
        }
        Ok(ProjectKey {
            bytes,
            from: from.into(),
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_slice().into())
    }

    /// Seals `secret` for `place` (e.g. `acme/alice@example.org/source`).
    pub fn seal(&self, secret: &str, place: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: place.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length a password has");
        let mut all = nonce.to_vec();
        all.extend_from_slice(&sealed);
        format!("{SEALED}{}", base64(&all))
    }

    /// Opens what [`ProjectKey::seal`] sealed for `place`.
    pub fn open(&self, sealed: &str, place: &str) -> Result<Zeroizing<String>, KeyError> {
        let raw = sealed
            .strip_prefix(SEALED)
            .and_then(|b| base64_decode(b.as_bytes()))
            .filter(|r| r.len() > 24)
            .ok_or(KeyError::Corrupt("not a sealed secret"))?;
        let (nonce, body) = raw.split_at(24);
        let plain = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Corrupt("authentication failed"))?;
        let plain = Zeroizing::new(plain);
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Corrupt("not text"))
    }

    /// What the store keeps to recognise this key for `project`.
    pub fn check_value(&self, project: &str) -> String {
        self.seal(CHECK, &format!("{project}/key-check"))
    }

    /// Whether this is the key whose [`ProjectKey::check_value`] the store kept.
    pub fn verify(&self, project: &str, check: &str) -> Result<(), KeyError> {
        match self.open(check, &format!("{project}/key-check")) {
            Ok(text) if text.as_str() == CHECK => Ok(()),
            _ => Err(KeyError::Wrong {
                from: self.from.clone(),
                project: project.into(),
            }),
        }
    }

    /// Writes the key to a new file only its owner can read (never over
    /// an existing file: that could be another project's key).
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path).map_err(err)?;
        f.write_all(self.encode().as_bytes()).map_err(err)?;
        f.write_all(b"\n").map_err(err)?;
        f.sync_all().map_err(err)
    }
}

/// Where a project's key file is when none is named: beside the state file,
/// `keys/PROJECT.key`.
pub fn default_key_path(state_dir: &Path, project: &str) -> PathBuf {
    state_dir.join("keys").join(format!("{project}.key"))
}

/// The project's key: from `key_file` if given, else `MAILPORT_KEY`, else
/// the default file; checked against the store's `check` value.
pub fn load(
    project: &str,
    key_file: Option<&Path>,
    default: &Path,
    check: &str,
) -> Result<ProjectKey, KeyError> {
    let from_file = |path: &Path| {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: path.to_path_buf(),
                    source,
                })?,
            );
        ProjectKey::decode(&text, &path.display().to_string())
    };
    let key = match (key_file, std::env::var(KEY_VARIABLE)) {
        (Some(path), _) => from_file(path)?,
        (None, Ok(text)) => {
            let text = Zeroizing::new(text);
            ProjectKey::decode(&text, KEY_VARIABLE)?
        }
        (None, Err(_)) if default.exists() => from_file(default)?,
        (None, Err(_)) => {
            return Err(KeyError::Missing {
                project: project.into(),
                looked: format!("{KEY_VARIABLE} and {}", default.display()),
            })
        }
    };
    key.verify(project, check)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_key_and_in_their_place() {
        let key = ProjectKey::generate();
        let sealed = key.seal("hunter2", "acme/alice/source");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            key.seal("hunter2", "acme/alice/source"),
            "nonces repeat"
        );
        assert_eq!(
            key.open(&sealed, "acme/alice/source").unwrap().as_str(),
            "hunter2"
        );
        assert!(
            key.open(&sealed, "acme/bob/source").is_err(),
            "moved to another row"
        );
        let other = ProjectKey::generate();
        assert!(other.open(&sealed, "acme/alice/source").is_err());

        let text = key.encode();
        let again = ProjectKey::decode(&text, "test").unwrap();
        assert_eq!(
            again.open(&sealed, "acme/alice/source").unwrap().as_str(),
            "hunter2"
        );
        let check = key.check_value("acme");
        assert!(again.verify("acme", &check).is_ok());
        let wrong = other.verify("acme", &check).unwrap_err().to_string();
        assert!(wrong.contains("not the key of project \"acme\""), "{wrong}");
        assert!(ProjectKey::decode("hello", "x").is_err());
        assert!(!format!("{key:?}").contains(&text[PREFIX.len()..]));
    }

    #[test]
    fn the_key_file_is_new_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/acme.key");
        let key = ProjectKey::generate();
        key.write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            key.write_new(&path).is_err(),
            "an existing key was overwritten"
        );
        let check = key.check_value("acme");
        let loaded = load("acme", Some(&path), Path::new("/nonexistent"), &check).unwrap();
        assert!(loaded.verify("acme", &check).is_ok());
        let e = load("acme", None, &dir.path().join("missing.key"), &check);
        if std::env::var(KEY_VARIABLE).is_err() {
            let e = e.unwrap_err().to_string();
            assert!(e.contains("missing.key") && e.contains(KEY_VARIABLE), "{e}");
        }
    }
}
