//! Dropped and stalled connections, injected by a TCP relay between mailport
//! and a real Dovecot, on either side: the copy reconnects, resumes the
//! folder, and ends with every message on the destination exactly once.

use std::process::Output;

use mailport_testbed::cli::{snapshot, summary, text, Migration};
use mailport_testbed::relay::{Fault, Relay};
use mailport_testbed::session::Snapshot;
use mailport_testbed::{Corpus, CorpusOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

struct Setup {
    m: Migration,
    corpus: Corpus,
    /// The source as loaded: what the destination must hold once the copy recovered.
    before: Snapshot,
}

async fn setup() -> Setup {
    let m = Migration::dovecots(MAILPORT);
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 300,
        large_attachment: 4 << 20,
        seed: 4242,
    });
    m.load(&corpus).await;
    let before = snapshot(&m.src).await;
    Setup { m, corpus, before }
}

/// Copies through relays: `from_port`/`to_port` are where mailport connects.
fn copy_via(s: &Setup, from_port: u16, to_port: u16) -> Output {
    let relay = |port: u16| format!("imaps://alice@localhost:{port}");
    s.m.command_via("copy", &relay(from_port), &relay(to_port))
        .args(["--timeout", "3", "--json"])
        .output()
        .unwrap()
}

async fn assert_exactly_once(s: &Setup) {
    let after = snapshot(&s.m.dst).await;
    let diff = s.before.differences(&after, &[]);
    assert!(
        diff.is_empty(),
        "not exactly once after the fault: {diff:#?}\ndestination log:\n{}",
        s.m.dst.log_tail()
    );
}

/// Runs a copy with `fault` armed on one side, firing when about 40% of the
/// corpus has passed.
async fn run_with_fault(on_source: bool, fault: fn(u64) -> Fault) {
    let s = setup().await;
    let fault = fault(s.corpus.total_bytes() * 2 / 5);
    let src_relay = Relay::start(s.m.src.imaps_port).await.unwrap();
    let dst_relay = Relay::start(s.m.dst.imaps_port).await.unwrap();
    if on_source {
        src_relay.arm(fault);
    } else {
        dst_relay.arm(fault);
    }
    let out = copy_via(&s, src_relay.port, dst_relay.port);
    let fired = src_relay.fired() + dst_relay.fired();
    assert_eq!(fired, 1, "the fault must have happened during the copy");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the copy must recover by itself: {}",
        text(&out)
    );
    let j = summary(&out);
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
    let src_relay = Relay::start(s.m.src.imaps_port).await.unwrap();
    let dst_relay = Relay::start(s.m.dst.imaps_port).await.unwrap();
    src_relay.set_delay(2);
    dst_relay.set_delay(2);
    let out = copy_via(&s, src_relay.port, dst_relay.port);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    summary(&out);
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
