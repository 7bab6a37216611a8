//! Helpers shared by the CLI test binaries (each uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, Dovecot, DovecotOptions};

/// A private Dovecot; the test fails (never skips) when it cannot start.
pub fn start(o: DovecotOptions) -> Dovecot {
    Dovecot::start(o).unwrap_or_else(|e| panic!("Dovecot must start for this test: {e}"))
}

/// A run's output for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `mailport SUB --from FROM --to alice at dst` (STARTTLS, its CA trusted,
/// password in the environment) with the state file in `state`.
pub fn mailport_from(sub: &str, from: &str, dst: &Dovecot, state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailport"));
    c.stdin(Stdio::null())
        .args([sub, "--from", from, "--to", &dst.imap_url("alice")])
        .arg("--to-tls-ca")
        .arg(&dst.certs.ca_pem)
        .env("MAILPORT_TO_PASSWORD", dst.password("alice"))
        .env("MAILPORT_STATE", state.join("state.db"));
    c
}

/// The run ended with `code`; otherwise its output and the server's log.
pub fn assert_exit(out: &Output, code: i32, server_log: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\nserver log:\n{server_log}",
        text(out)
    );
}

/// Loads `corpus` into alice's mailbox on `d`.
pub async fn load(d: &Dovecot, corpus: &Corpus) {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, corpus).await.unwrap();
}

/// Everything alice's mailbox on `d` holds.
pub async fn snapshot(d: &Dovecot) -> Snapshot {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::snapshot(&mut c).await.unwrap()
}

/// source = copied + already present + deleted on the destination + skipped + failed (+ to copy, in a dry run), per folder.
pub fn assert_totals_add_up(j: &serde_json::Value) {
    let sum = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| o.values().filter_map(|n| n.as_u64()).sum::<u64>())
            .unwrap_or(0)
    };
    for f in j["folders"].as_array().unwrap() {
        let parts = f["copied"].as_u64().unwrap()
            + f["already_present"].as_u64().unwrap()
            + f["deleted_on_destination"].as_u64().unwrap()
            + f["to_copy"].as_u64().unwrap()
            + sum(&f["skipped"])
            + sum(&f["failed"]);
        assert_eq!(
            f["source_messages"].as_u64().unwrap(),
            parts,
            "totals of {} do not add up: {f}",
            f["source"]
        );
    }
}
