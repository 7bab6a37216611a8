//! Helpers shared by the CLI test binaries (each uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, Dovecot, DovecotOptions, ImapServer};

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

/// Loads `corpus` into alice's mailbox on `server`.
pub async fn load(server: &dyn ImapServer, corpus: &Corpus) {
    let mut c = session::login(server.imap_port(), "alice", server.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, corpus).await.unwrap();
}

/// Everything alice's mailbox on `server` holds.
pub async fn snapshot(server: &dyn ImapServer) -> Snapshot {
    let mut c = session::login(server.imap_port(), "alice", server.password("alice"))
        .await
        .unwrap();
    session::snapshot(&mut c).await.unwrap()
}

/// `mailport SUB` between two servers of any implementation (see
/// [`mailport_testbed::server::mailport_command`]).
pub fn between(src: &dyn ImapServer, subcommand: &str, dst: &dyn ImapServer) -> Command {
    let mut c = mailport_testbed::server::mailport_command(
        Path::new(env!("CARGO_BIN_EXE_mailport")),
        subcommand,
        src,
        dst,
    );
    c.stdin(Stdio::null());
    c
}

/// A summary or verify report printed with `--json`.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// Every bare LF line end turned into CRLF: servers that refuse bare LF in
/// APPEND (Cyrus, Courier) get their mail through an MTA that writes CRLF,
/// so a corpus loaded into them does too.
pub fn with_crlf(corpus: &mut Corpus) {
    for m in corpus.folders.iter_mut().flat_map(|f| &mut f.messages) {
        m.raw = crlf(&m.raw);
    }
}

/// Bare LF line ends turned into CRLF.
pub fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
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
