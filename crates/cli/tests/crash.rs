//! `kill -9` at random points of a copy, many times, then a re-run: every
//! source message is on the destination exactly once.

use std::process::Stdio;
use std::time::Duration;

use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_rerun_loses_nothing_and_duplicates_nothing() {
    let src = Dovecot::start(DovecotOptions {
        layout: Layout::CourierDot,
        ..Default::default()
    })
    .expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 500,
        large_attachment: 8 << 20,
        seed: 1234,
    });
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();
    let before = session::snapshot(&mut c).await.unwrap();

    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("state.db");
    let mailport = std::path::Path::new(env!("CARGO_BIN_EXE_mailport"));
    let copy = || {
        let mut cmd = src.copy_command(mailport, &dst);
        cmd.arg("--state").arg(&state_file).stdin(Stdio::null());
        cmd
    };
    // Deterministic "random" kill points between 10 and 400 ms: later runs
    // are short delta passes, so the points must be early to land mid-run.
    // Kills continue until 10 landed while mailport was still running.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut killed_mid_run = 0;
    for _ in 0..40 {
        if killed_mid_run >= 10 {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(10 + x % 390);
        let mut child = copy()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(delay).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
    }
    assert!(
        killed_mid_run >= 10,
        "too few kills landed mid-run ({killed_mid_run}); the corpus is too small"
    );

    let out = copy().output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut d = session::login(dst.imap_port, "alice", dst.password("alice"))
        .await
        .unwrap();
    let after = session::snapshot(&mut d).await.unwrap();
    let diff = before.differences(&after, &[]);
    assert!(
        diff.is_empty(),
        "not exactly once after the kills: {diff:#?}"
    );
}
