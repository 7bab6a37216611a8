//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use mailport_testbed::session::{hex, MessageSnapshot};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// What Dovecot serves for stored bytes: bare LF as CRLF.
pub fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Reads a stream in small, odd-sized pieces, as a slow consumer would.
pub async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 7_001];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub fn snapshot_of(raw_served: &[u8], flags: &[String], internal_date: i64) -> MessageSnapshot {
    let mut flags: Vec<String> = flags.to_vec();
    flags.sort();
    MessageSnapshot {
        sha256: sha256(raw_served),
        flags,
        internal_date,
        size: raw_served.len() as u64,
    }
}

/// Hands a tree to the mail user, as the harness does for homes: Dovecot
/// refuses to run mail processes as root.
pub fn chown_mail(path: &Path) {
    std::os::unix::fs::chown(path, Some(8), Some(8)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_mail(&e.unwrap().path());
        }
    }
}
