//! Dropped and stalled connections, injected by a TCP relay between mailport
//! and a real Dovecot, on either side: the copy reconnects, resumes the
//! folder, and ends with every message on the destination exactly once.

use std::path::Path;
use std::process::{Output, Stdio};

mod common;

use common::assert_totals_add_up;
use mailport_testbed::relay::{Fault, Relay};
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions};

struct Setup {
    src: Dovecot,
    dst: Dovecot,
    corpus: Corpus,
    before: Snapshot,
    state: tempfile::TempDir,
}

async fn setup() -> Setup {
    let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 300,
        large_attachment: 4 << 20,
        seed: 4242,
    });
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();
    let before = session::snapshot(&mut c).await.unwrap();
    Setup {
        src,
        dst,
        corpus,
        before,
        state: tempfile::tempdir().unwrap(),
    }
}

/// Copies through relays: `from_port`/`to_port` are where mailport connects.
fn copy_via(s: &Setup, from_port: u16, to_port: u16) -> Output {
    let mut c = std::process::Command::new(Path::new(env!("CARGO_BIN_EXE_mailport")));
    c.args([
        "copy",
        "--from",
        &format!("imaps://alice@localhost:{from_port}"),
        "--to",
        &format!("imaps://alice@localhost:{to_port}"),
    ])
    .arg("--from-tls-ca")
    .arg(&s.src.certs.ca_pem)
    .arg("--to-tls-ca")
    .arg(&s.dst.certs.ca_pem)
    .arg("--state")
    .arg(s.state.path().join("state.db"))
    .args(["--timeout", "3", "--json"])
    .env("MAILPORT_FROM_PASSWORD", s.src.password("alice"))
    .env("MAILPORT_TO_PASSWORD", s.dst.password("alice"))
    .stdin(Stdio::null());
    c.output().unwrap()
}

async fn assert_exactly_once(s: &Setup) {
    let mut d = session::login(s.dst.imap_port, "alice", s.dst.password("alice"))
        .await
        .unwrap();
    let after = session::snapshot(&mut d).await.unwrap();
    let diff = s.before.differences(&after, &[]);
    assert!(
        diff.is_empty(),
        "not exactly once after the fault: {diff:#?}\ndestination log:\n{}",
        s.dst.log_tail()
    );
}

/// Runs a copy with `fault` armed on one side, firing when about 40% of the
/// corpus has passed.
async fn run_with_fault(on_source: bool, fault: fn(u64) -> Fault) {
    let s = setup().await;
    let fault = fault(s.corpus.total_bytes() * 2 / 5);
    let src_relay = Relay::start(s.src.imaps_port).await.unwrap();
    let dst_relay = Relay::start(s.dst.imaps_port).await.unwrap();
    if on_source {
        src_relay.arm(fault);
    } else {
        dst_relay.arm(fault);
    }
    let out = copy_via(&s, src_relay.port, dst_relay.port);
    let fired = src_relay.fired() + dst_relay.fired();
    assert_eq!(fired, 1, "the fault must have happened during the copy");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the copy must recover by itself: {text}"
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["totals"]["source_messages"].as_u64().unwrap() as usize,
        s.corpus.message_count()
    );
    assert_eq!(j["totals"]["failed"], 0, "{j:#}");
    assert_exactly_once(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_links_on_both_sides() {
    let s = setup().await;
    let src_relay = Relay::start(s.src.imaps_port).await.unwrap();
    let dst_relay = Relay::start(s.dst.imaps_port).await.unwrap();
    src_relay.set_delay(2);
    dst_relay.set_delay(2);
    let out = copy_via(&s, src_relay.port, dst_relay.port);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_totals_add_up(&serde_json::from_slice(&out.stdout).unwrap());
    assert_exactly_once(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_connection_cut_mid_copy() {
    run_with_fault(true, |after| Fault::Cut { after }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_connection_cut_mid_copy() {
    run_with_fault(false, |after| Fault::Cut { after }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_connection_stalls_mid_copy() {
    run_with_fault(true, |after| Fault::Stall { after }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_connection_stalls_mid_copy() {
    run_with_fault(false, |after| Fault::Stall { after }).await;
}
