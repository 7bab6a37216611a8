//! Captured passwords as Argon2id hashes (PHC strings): a moved account's
//! login is checked against the hash, and `accounts export-passwords`
//! hands hashes to the destination.
//!
//! Argon2id costs 19 MiB and tens of milliseconds of CPU by design: the
//! proxy runs at most one per core at a time (memory and CPU stay bounded
//! however many clients log in at once), and remembers a password it has
//! verified against a hash — as a SHA-256 keyed with a secret of this
//! process, never written anywhere — so that a client logging in every few
//! minutes costs one Argon2id, not one per login.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

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

/// One Argon2id at a time per core.
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Semaphore::new(cores)
    })
}

/// Hashes of passwords verified against a PHC string, by that string.
struct Verified {
    key: [u8; 32],
    seen: Mutex<HashMap<String, [u8; 32]>>,
}

/// Entries at most; the table starts over beyond (a cache, not a record).
const VERIFIED_MAX: usize = 100_000;

fn verified() -> &'static Verified {
    static VERIFIED: OnceLock<Verified> = OnceLock::new();
    VERIFIED.get_or_init(|| {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Verified {
            key,
            seen: Mutex::default(),
        }
    })
}

impl Verified {
    fn digest(&self, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.key)
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    fn knows(&self, phc: &str, password: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(phc) == Some(&self.digest(password))
    }

    fn remember(&self, phc: &str, password: &str) {
        let digest = self.digest(password);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= VERIFIED_MAX {
            seen.clear();
        }
        seen.insert(phc.to_string(), digest);
    }
}

/// [`hash`] on a blocking thread, one per core at a time: it must not stall
/// the sessions sharing an async thread.
pub async fn hash_apart(password: &str) -> String {
    let password = zeroize::Zeroizing::new(password.to_string());
    let Ok(_permit) = permits().acquire().await else {
        return String::new();
    };
    let phc = tokio::task::spawn_blocking(move || {
        let phc = hash(&password);
        verified().remember(&phc, &password);
        phc
    })
    .await
    .unwrap_or_default();
    phc
}

/// [`matches`], remembered, else on a blocking thread (see [`hash_apart`]).
pub async fn matches_apart(phc: &str, password: &str) -> bool {
    if verified().knows(phc, password) {
        return true;
    }
    let (phc, password) = (
        phc.to_string(),
        zeroize::Zeroizing::new(password.to_string()),
    );
    let Ok(_permit) = permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let ok = matches(&phc, &password);
        if ok {
            verified().remember(&phc, &password);
        }
        ok
    })
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

    #[tokio::test]
    async fn a_verified_password_is_remembered_and_only_that_one() {
        let h = super::hash_apart("s3cret").await;
        assert!(super::verified().knows(&h, "s3cret"));
        assert!(super::matches_apart(&h, "s3cret").await);
        assert!(!super::matches_apart(&h, "s3cret!").await);
        assert!(!super::verified().knows(&h, "s3cret!"));
        let other = super::hash("s3cret");
        assert!(
            !super::verified().knows(&other, "s3cret"),
            "by hash, not by password"
        );
    }
}
