//! Captured passwords as Argon2id hashes (PHC strings): a moved account's
//! login is checked against the hash, and `accounts export-passwords`
//! hands hashes to the destination.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's minimum),
/// in PHC format.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Only a salt or parameter error can fail, and both are fixed here.
        .unwrap_or_default()
}

/// Whether `password` is the one `phc` was made from.
pub fn matches(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// [`hash`] on a blocking thread: Argon2id takes tens of milliseconds of
/// CPU and 19 MiB by design, which must not stall the sessions sharing an
/// async thread.
pub async fn hash_apart(password: &str) -> String {
    let password = zeroize::Zeroizing::new(password.to_string());
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .unwrap_or_default()
}

/// [`matches`] on a blocking thread (see [`hash_apart`]).
pub async fn matches_apart(phc: &str, password: &str) -> bool {
    let (phc, password) = (
        phc.to_string(),
        zeroize::Zeroizing::new(password.to_string()),
    );
    tokio::task::spawn_blocking(move || matches(&phc, &password))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_checks_its_password_only() {
        let h = super::hash("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(super::matches(&h, "correct horse"));
        assert!(!super::matches(&h, "correct horse "));
        assert!(!super::matches("not a hash", "x"));
        assert_ne!(h, super::hash("correct horse"), "salted");
    }
}
