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

use std::process::{Command, Stdio};
use std::time::Duration;

use mailport_testbed::cli::{json, login, snapshot, start_dovecot, summary, text, Migration};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

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
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions {
            layout: Layout::CourierDot,
            ..Default::default()
        }),
        start_dovecot(DovecotOptions::default()),
    );
    m.load(&corpus(500, 1234)).await;
    let before = snapshot(&m.src).await;

    let copy = || m.command("copy");
    kill_loop(&copy, 0x9E37_79B9_7F4A_7C15, 10).await;

    m.run(&mut copy(), 0);
    let after = snapshot(&m.dst).await;
    let diff = before.differences(&after, &[]);
    assert!(
        diff.is_empty(),
        "not exactly once after the kills: {diff:#?}"
    );

    // Deleted on the source after all that: --sync-deletes removes exactly
    // those from the destination.
    expunge(&m.src, &[7, 250, 499]).await;
    let j = m.copy(&["--sync-deletes"]);
    assert_eq!(j["folders"][0]["deleted"], 3, "{j:#}");
    assert_eq!(
        m.differences().await,
        Vec::<String>::new(),
        "--sync-deletes removed other messages than the source's"
    );
}

/// Deletes these UIDs from alice's INBOX on `server`.
async fn expunge(server: &Dovecot, uids: &[u32]) {
    let mut c = login(server).await;
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

/// `mailport copy` from `from` (an address of `m.src`, IMAP or its Maildir)
/// into the Maildir destination, with 4 connections to share a folder.
fn copy_to_maildir(m: &Migration, from: &str) -> Command {
    let mut c = m.command_from("copy", from);
    c.args(["--connections", "4"]);
    c
}

/// Big INBOX split across connections into a Maildir, killed many times,
/// re-run; then messages deleted on the source and `--sync-deletes`: the
/// Maildir holds exactly the source, for an IMAP and a Maildir source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_destination_survives_kills_and_deletes_exactly_the_right_messages() {
    for (name, maildir_source) in [("imap", false), ("maildir", true)] {
        let m = Migration::into_maildir(
            MAILPORT,
            start_dovecot(DovecotOptions::default()),
            start_dovecot(DovecotOptions::default()),
        );
        m.load(&corpus(1200, 77)).await;
        let from = if maildir_source {
            format!("maildir:{}", m.src.maildir("alice").display())
        } else {
            m.src.imaps_url("alice")
        };
        let copy = || copy_to_maildir(&m, &from);
        kill_loop(&copy, 0x2545_F491_4F6C_DD1D, 8).await;
        let out = copy().arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(
            m.differences().await,
            Vec::<String>::new(),
            "{name}: not exactly once after the kills"
        );

        // Deleted on the source: exactly those go from the Maildir.
        expunge(&m.src, &[5, 400, 901]).await;
        let out = copy().args(["--sync-deletes", "--json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let j = json(&out);
        assert_eq!(j["folders"][0]["source"], "INBOX");
        assert_eq!(j["folders"][0]["deleted"], 3, "{name}: {j:#}");
        assert_eq!(
            m.differences().await,
            Vec::<String>::new(),
            "{name}: --sync-deletes removed other messages than the source's"
        );
        // And a plain re-run finds nothing to do.
        let out = copy().arg("--json").output().unwrap();
        let j = json(&out);
        assert_eq!(j["totals"]["copied"], 0, "{name}: {j:#}");
    }
}

/// Without kills: the big folder really is split across connections into
/// the Maildir (what the kill test above relies on), and arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_shared_by_connections_into_a_maildir_gets_distinct_uids() {
    let m = Migration::into_maildir(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        start_dovecot(DovecotOptions::default()),
    );
    m.load(&corpus(1200, 78)).await;
    let out = m.run(
        copy_to_maildir(&m, &m.src.imaps_url("alice")).args(["--json", "--batch", "50"]),
        0,
    );
    let j = json(&out);
    let inbox = &j["folders"][0];
    assert_eq!(inbox["source"], "INBOX");
    assert!(
        inbox["helpers"].as_u64().unwrap() > 0,
        "INBOX was not shared between connections: {inbox:#}"
    );
    m.assert_same().await;
}

/// Ctrl-C stops at the next batch boundary: exit 130, the partial summary
/// (totals adding up, the rest "interrupted"), and a re-run completes the
/// mailbox with nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_finishes_the_batch_prints_the_summary_and_a_rerun_continues() {
    let m = Migration::dovecots(MAILPORT);
    m.load(&corpus(1200, 79)).await;
    let copy = || {
        let mut cmd = m.command("copy");
        cmd.args(["--json", "--batch", "20"])
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
    let j = summary(&out);
    assert_eq!(j["interrupted"], true);
    let copied = j["totals"]["copied"].as_u64().unwrap();
    assert!(copied > 0, "nothing copied before the Ctrl-C: {j:#}");

    m.run(&mut copy(), 0);
    assert_eq!(
        m.differences().await,
        Vec::<String>::new(),
        "not exactly once after Ctrl-C and a re-run"
    );
}
