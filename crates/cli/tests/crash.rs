//! `kill -9` (and Ctrl-C) at random points of a copy, many times, then a
//! re-run: every source message is on the destination exactly once, for
//! every kind of destination, with the big folder split across connections.
//!
//! The first version of this test only ever copied IMAP to IMAP. A Maildir
//! destination numbers its files itself (stable UIDs in the state file), and
//! when one folder's batches were shared by several connections those
//! numbers collided: duplicates after a crash, and `--sync-deletes` removing
//! the wrong file. So the kill loop now runs against each destination kind,
//! from each source kind that reaches it, and the delete path follows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{snapshot, start, text};
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

fn mailport() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mailport"))
}

/// Starts `copy()` again and again and kills it after a pseudo-random delay
/// (SIGKILL, every third time SIGINT), until `wanted` kills landed while it
/// was still running.
async fn kill_loop(copy: &dyn Fn() -> Command, seed: u64, wanted: usize) {
    let mut x: u64 = seed | 1;
    let mut killed_mid_run = 0;
    for round in 0..(wanted * 4) {
        if killed_mid_run >= wanted {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Early points: later runs are short delta passes.
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
        if round % 3 == 2 {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
    }
    assert!(
        killed_mid_run >= wanted,
        "too few kills landed mid-run ({killed_mid_run}); the corpus is too small"
    );
}

fn corpus(inbox: usize, seed: u64) -> Corpus {
    Corpus::generate(&CorpusOptions {
        inbox_messages: inbox,
        large_attachment: 8 << 20,
        seed,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_rerun_loses_nothing_and_duplicates_nothing() {
    let src = Dovecot::start(DovecotOptions {
        layout: Layout::CourierDot,
        ..Default::default()
    })
    .expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    common::load(&src, &corpus(500, 1234)).await;
    let before = snapshot(&src).await;

    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("state.db");
    let copy = || {
        let mut cmd = src.copy_command(mailport(), &dst);
        cmd.arg("--state").arg(&state_file).stdin(Stdio::null());
        cmd
    };
    kill_loop(&copy, 0x9E37_79B9_7F4A_7C15, 10).await;

    let out = copy().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = snapshot(&dst).await;
    let diff = before.differences(&after, &[]);
    assert!(
        diff.is_empty(),
        "not exactly once after the kills: {diff:#?}"
    );

    // Deleted on the source after all that: --sync-deletes removes exactly
    // those from the destination.
    expunge(&src, &[7, 250, 499]).await;
    let out = copy().args(["--sync-deletes", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["folders"][0]["deleted"], 3, "{j:#}");
    assert_eq!(
        snapshot(&src).await.differences(&snapshot(&dst).await, &[]),
        Vec::<String>::new(),
        "--sync-deletes removed other messages than the source's"
    );
}

/// Deletes these UIDs from alice's INBOX on `server`.
async fn expunge(server: &Dovecot, uids: &[u32]) {
    let mut c = session::login(server.imap_port, "alice", server.password("alice"))
        .await
        .unwrap();
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    c.select(b"INBOX", false).await.unwrap();
    c.command(format!("UID STORE {set} +FLAGS (\\Deleted)").as_bytes())
        .await
        .unwrap();
    c.command(format!("UID EXPUNGE {set}").as_bytes())
        .await
        .unwrap();
}

/// A Maildir that a (stopped-by-then) Dovecot will serve, written by mailport.
struct MaildirDestination {
    served: Dovecot,
    root: PathBuf,
}

impl MaildirDestination {
    fn new() -> MaildirDestination {
        let served = start(DovecotOptions::default());
        let root = served.dir().join("home/alice/Maildir");
        MaildirDestination { served, root }
    }

    fn url(&self) -> String {
        format!("maildir:{}", self.root.display())
    }

    /// What Dovecot serves from it (the files made readable to its mail user).
    async fn snapshot(&self) -> Snapshot {
        let chown = Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(&self.root)
            .status()
            .unwrap();
        assert!(chown.success());
        snapshot(&self.served).await
    }
}

/// `mailport copy` from `from` (an IMAP URL of `src`, or a maildir: URL) to
/// the Maildir, fs layout, 4 connections, with `state`.
fn copy_to_maildir(src: &Dovecot, from: &str, to: &MaildirDestination, state: &Path) -> Command {
    let mut c = Command::new(mailport());
    c.stdin(Stdio::null())
        .args(["copy", "--from", from, "--to", &to.url()])
        .args([
            "--maildir-layout",
            "fs",
            "--connections",
            "4",
            "--from-tls-ca",
        ])
        .arg(&src.certs.ca_pem)
        .env("MAILPORT_FROM_PASSWORD", src.password("alice"))
        .arg("--state")
        .arg(state);
    c
}

/// Big INBOX split across connections into a Maildir, killed many times,
/// re-run; then messages deleted on the source and `--sync-deletes`: the
/// Maildir holds exactly the source, for an IMAP and a Maildir source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_destination_survives_kills_and_deletes_exactly_the_right_messages() {
    for (name, maildir_source) in [("imap", false), ("maildir", true)] {
        let src = start(DovecotOptions::default());
        common::load(&src, &corpus(1200, 77)).await;
        let from = if maildir_source {
            format!("maildir:{}", src.dir().join("home/alice/Maildir").display())
        } else {
            src.imaps_url("alice")
        };
        let to = MaildirDestination::new();
        let state = tempfile::tempdir().unwrap();
        let state_file = state.path().join("state.db");
        let copy = || copy_to_maildir(&src, &from, &to, &state_file);
        kill_loop(&copy, 0x2545_F491_4F6C_DD1D, 8).await;
        let out = copy().arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(
            snapshot(&src).await.differences(&to.snapshot().await, &[]),
            Vec::<String>::new(),
            "{name}: not exactly once after the kills"
        );

        // Deleted on the source: exactly those go from the Maildir.
        expunge(&src, &[5, 400, 901]).await;
        let out = copy().args(["--sync-deletes", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["folders"][0]["source"], "INBOX");
        assert_eq!(j["folders"][0]["deleted"], 3, "{name}: {j:#}");
        assert_eq!(
            snapshot(&src).await.differences(&to.snapshot().await, &[]),
            Vec::<String>::new(),
            "{name}: --sync-deletes removed other messages than the source's"
        );
        // And a plain re-run finds nothing to do.
        let out = copy().arg("--json").output().unwrap();
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["totals"]["copied"], 0, "{name}: {j:#}");
    }
}

/// Without kills: the big folder really is split across connections into
/// the Maildir (what the kill test above relies on), and arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_shared_by_connections_into_a_maildir_gets_distinct_uids() {
    let src = start(DovecotOptions::default());
    common::load(&src, &corpus(1200, 78)).await;
    let to = MaildirDestination::new();
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("state.db");
    let out = copy_to_maildir(&src, &src.imaps_url("alice"), &to, &state_file)
        .args(["--json", "--batch", "50"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inbox = &j["folders"][0];
    assert_eq!(inbox["source"], "INBOX");
    assert!(
        inbox["helpers"].as_u64().unwrap() > 0,
        "INBOX was not shared between connections: {inbox:#}"
    );
    assert_eq!(
        snapshot(&src).await.differences(&to.snapshot().await, &[]),
        Vec::<String>::new()
    );
}

/// Ctrl-C stops at the next batch boundary: exit 130, the partial summary
/// (totals adding up, the rest "interrupted"), and a re-run completes the
/// mailbox with nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_finishes_the_batch_prints_the_summary_and_a_rerun_continues() {
    let src = start(DovecotOptions::default());
    let dst = start(DovecotOptions::default());
    common::load(&src, &corpus(1200, 79)).await;
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("state.db");
    let copy = || {
        let mut cmd = src.copy_command(mailport(), &dst);
        cmd.arg("--state")
            .arg(&state_file)
            .args(["--json", "--batch", "20"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let child = copy().spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted; run the same command again to continue"),
        "{stderr}"
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["interrupted"], true);
    common::assert_totals_add_up(&j);
    let copied = j["totals"]["copied"].as_u64().unwrap();
    assert!(copied > 0, "nothing copied before the Ctrl-C: {j:#}");

    let out = copy().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        snapshot(&src).await.differences(&snapshot(&dst).await, &[]),
        Vec::<String>::new(),
        "not exactly once after Ctrl-C and a re-run"
    );
}
