//! `accounts export-passwords`: the captured passwords, hashed in a scheme
//! the destination understands, so that once the proxy is retired every
//! user keeps their password on the new server.
//!
//! - `argon2id` is the hash the proxy already keeps (PHC string, Dovecot's
//!   `{ARGON2ID}`): available for every account that logged in, even after
//!   the plaintext was erased.
//! - `sha512-crypt` (`$6$`, Dovecot's `{SHA512-CRYPT}`, glibc's crypt) and
//!   `bcrypt` (`$2b$`, `{BLF-CRYPT}`) are made from the captured plaintext:
//!   only while it is kept (`--keep-credentials`, or before the account's
//!   passwords are erased).
//!
//! Formats: a Dovecot passwd-file (`login:{SCHEME}hash`) or CSV
//! (`login,scheme,hash`).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use mailport_project::Project;
use mailport_store::MailboxRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Argon2id,
    Sha512Crypt,
    Bcrypt,
}

impl Scheme {
    /// Dovecot's name of the scheme.
    pub fn dovecot(self) -> &'static str {
        match self {
            Scheme::Argon2id => "ARGON2ID",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Bcrypt => "BLF-CRYPT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DovecotPasswd,
    Csv,
}

/// What was exported, and the accounts that could not be, with why.
#[derive(Debug, Default)]
pub struct Exported {
    pub text: String,
    pub lines: usize,
    pub missing: Vec<(String, String)>,
}

/// Every account the proxy has seen, in `scheme` and `format`.
pub async fn export(project: &Project, scheme: Scheme, format: Format) -> Result<Exported, String> {
    let store = &project.store;
    let accounts = store
        .accounts(&project.name)
        .await
        .map_err(|e| e.to_string())?;
    let mut mailboxes: std::collections::HashMap<String, MailboxRow> = store
        .mailboxes(&project.name)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| (m.login.clone(), m))
        .collect();
    let mut out = Exported::default();
    if format == Format::Csv {
        out.text.push_str("login,scheme,hash\n");
    }
    for account in accounts {
        let hashed = match scheme {
            Scheme::Argon2id => account
                .password_hash
                .clone()
                .ok_or_else(|| "no password captured".to_string()),
            _ => {
                let m = mailboxes.remove(&account.login);
                match m.map(|m| project.source_password(&m)).transpose() {
                    Ok(Some(Some(password))) => hash(scheme, &password),
                    Ok(_) => Err("its captured password was erased (or never captured): use --scheme argon2id, or run the proxy with --keep-credentials".into()),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let hashed = match hashed {
            Ok(h) => h,
            Err(why) => {
                out.missing.push((account.login, why));
                continue;
            }
        };
        // Logins with a separator of the format would corrupt the file.
        if account.login.contains([':', ',', '\n', '\r', '"']) {
            let why = "its login holds ':' or ',' and cannot be written in this format";
            out.missing.push((account.login, why.into()));
            continue;
        }
        let line = match format {
            Format::DovecotPasswd => {
                format!("{}:{{{}}}{hashed}\n", account.login, scheme.dovecot())
            }
            Format::Csv => format!("{},{},{hashed}\n", account.login, scheme.dovecot()),
        };
        out.text.push_str(&line);
        out.lines += 1;
    }
    Ok(out)
}

/// `password` in `scheme` (not Argon2id: the proxy keeps that one).
fn hash(scheme: Scheme, password: &str) -> Result<String, String> {
    match scheme {
        Scheme::Argon2id => Ok(crate::password::hash(password)),
        Scheme::Sha512Crypt => {
            // 16 characters of crypt's alphabet; 5,000 rounds, glibc's and
            // Dovecot's default (the string then names no rounds).
            const ALPHABET: &[u8] =
                b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let mut random = [0u8; 16];
            OsRng.fill_bytes(&mut random);
            let salt: String = random
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % 64] as char)
                .collect();
            let params = sha_crypt::Sha512Params::new(5000).map_err(|e| format!("{e:?}"))?;
            let b64 = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
                .map_err(|e| format!("sha512-crypt: {e:?}"))?;
            Ok(format!("$6${salt}${b64}"))
        }
        Scheme::Bcrypt => bcrypt::non_truncating_hash(password, 10).map_err(|e| match e {
            bcrypt::BcryptError::Truncation(_) => {
                "bcrypt takes at most 72 bytes of password: use another scheme".into()
            }
            e => format!("bcrypt: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_makes_the_strings_dovecot_reads() {
        let six = hash(Scheme::Sha512Crypt, "pw").unwrap();
        assert!(
            six.starts_with("$6$") && six.len() == 3 + 16 + 1 + 86,
            "{six}"
        );
        let two_b = hash(Scheme::Bcrypt, "pw").unwrap();
        assert!(two_b.starts_with("$2b$10$") && two_b.len() == 60, "{two_b}");
        assert!(bcrypt::verify("pw", &two_b).unwrap());
        assert_ne!(hash(Scheme::Sha512Crypt, "pw").unwrap(), six, "salted");
        assert!(hash(Scheme::Bcrypt, &"x".repeat(73))
            .unwrap_err()
            .contains("72 bytes"));
    }
}
