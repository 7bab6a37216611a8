//! POP3, Maildir and mbox sources through the same engine, ledger and verify
//! as IMAP: Dovecot's POP3 service, a Maildir written by a real Dovecot, an
//! mbox written by Python's `mailbox` module, each copied to a real Dovecot
//! and verified.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailport_testbed::cli::{
    self, json, load, login, snapshot, start_dovecot, summary, text, Migration,
};
use mailport_testbed::{session, Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

fn copied(o: &Output) -> u64 {
    summary(o)["totals"]["copied"].as_u64().unwrap()
}

/// `mailport SUB --from FROM` (not a server) `--to` alice at `dst`, the
/// state file in `state_dir`.
fn command_to(sub: &str, from: &str, dst: &Dovecot, state_dir: &Path) -> Command {
    cli::command_to(MAILPORT, sub, from, dst, &state_dir.join("state.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maildir_written_by_dovecot_arrives_whole_and_verifies() {
    for (layout, flag) in [(Layout::CourierDot, "maildir++"), (Layout::FsSlash, "fs")] {
        // Dovecot writes the Maildir; mailport reads the files, not Dovecot.
        let old = start_dovecot(DovecotOptions {
            layout,
            ..Default::default()
        });
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 12,
            large_attachment: 300_000,
            seed: 21,
        });
        let mut c = login(&old).await;
        session::load(&mut c, &corpus).await.unwrap();
        let want = session::snapshot(&mut c).await.unwrap();
        let from = format!("maildir:{}", old.maildir("alice").display());

        let dst = start_dovecot(DovecotOptions::default());
        let state = tempfile::tempdir().unwrap();
        let out = command_to("copy", &from, &dst, state.path())
            .args(["--maildir-layout", flag, "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out));
        assert_eq!(copied(&out) as usize, corpus.message_count(), "{flag}");
        // Bytes, flags and keywords, dates, folders: what Dovecot served
        // from that Maildir is what the destination serves now.
        let got = snapshot(&dst).await;
        assert_eq!(want.differences(&got, &[]), Vec::<String>::new(), "{flag}");

        let out = command_to("verify", &from, &dst, state.path())
            .args(["--maildir-layout", flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out));

        // A delta pass after one new message: exactly that one is copied.
        let extra = &corpus.folders[0].messages[0];
        c.append_start(b"INBOX").await.unwrap();
        c.append_message(
            &extra.flags,
            Some(&extra.internal_date),
            extra.raw.len() as u64,
        )
        .await
        .unwrap();
        c.append_write(&extra.raw).await.unwrap();
        c.append_finish().await.unwrap();
        let out = command_to("copy", &from, &dst, state.path())
            .args(["--maildir-layout", flag, "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out));
        assert_eq!(copied(&out), 1, "{flag}: {}", text(&out));
        let want = session::snapshot(&mut c).await.unwrap();
        assert_eq!(
            want.differences(&snapshot(&dst).await, &[]),
            Vec::<String>::new()
        );

        // A message deleted from the Maildir: its copy is deleted with
        // --sync-deletes, which works only because the state file kept each
        // file's UID across the passes.
        let before = want.folders["INBOX"].len();
        c.select(b"INBOX", false).await.unwrap();
        c.command(b"UID STORE 1 +FLAGS (\\Deleted)").await.unwrap();
        // Also removes corpus messages that were flagged \Deleted already.
        c.command(b"EXPUNGE").await.unwrap();
        let out = command_to("copy", &from, &dst, state.path())
            .args(["--maildir-layout", flag, "--sync-deletes", "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", text(&out));
        let j = json(&out);
        let deleted: u64 = j["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["deleted"].as_u64().unwrap())
            .sum();
        let want = session::snapshot(&mut c).await.unwrap();
        let gone = (before - want.folders["INBOX"].len()) as u64;
        assert!(gone >= 1);
        assert_eq!((copied(&out), deleted), (0, gone), "{flag}: {}", text(&out));
        assert_eq!(
            want.differences(&snapshot(&dst).await, &[]),
            Vec::<String>::new()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mbox_written_by_python_arrives_and_verifies() {
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 0,
        seed: 8,
    });
    let work = tempfile::tempdir().unwrap();
    // The messages as files, then Python's mailbox module packs them, with
    // flags, and a body line starting with "From " that it must quote.
    let msgs = work.path().join("msgs");
    std::fs::create_dir(&msgs).unwrap();
    let mut n = 0;
    for m in corpus.folders.iter().flat_map(|f| &f.messages).take(12) {
        n += 1;
        std::fs::write(msgs.join(format!("{n:03}")), &m.raw).unwrap();
    }
    std::fs::write(
        msgs.join("999"),
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: quoting\r\nMessage-ID: <from-line@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nFrom here on the body starts a line with From.\r\n>From a quoted line too.\r\n",
    )
    .unwrap();
    let mbox = work.path().join("Archive.mbox");
    let script = format!(
        r#"
import mailbox, os, sys
box = mailbox.mbox({mbox:?})
d = {msgs:?}
for i, name in enumerate(sorted(os.listdir(d))):
    m = mailbox.mboxMessage(open(os.path.join(d, name), 'rb').read())
    m.set_from('sender@example.org', (2020, 1, 1 + i % 28, 12, 0, 0, 0, 1, 0))
    m.set_flags('RF' if i % 2 else 'RA')
    box.add(m)
box.flush()
"#,
        mbox = mbox.display().to_string(),
        msgs = msgs.display().to_string()
    );
    let py = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );

    let dst = start_dovecot(DovecotOptions::default());
    let from = format!("mbox:{}", mbox.display());
    let out = command_to("copy", &from, &dst, work.path())
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(copied(&out), n + 1, "{}", text(&out));
    let got = snapshot(&dst).await;
    let folder = got
        .folders
        .iter()
        .find(|(name, _)| name.as_str() == "Archive")
        .map(|(_, m)| m)
        .unwrap_or_else(|| panic!("no Archive folder: {:?}", got.folders.keys()));
    assert_eq!(folder.len() as u64, n + 1);

    // verify reads the mbox again and compares every message by SHA-256.
    let out = command_to("verify", &from, &dst, work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Nothing twice on a re-run.
    let out = command_to("copy", &from, &dst, work.path())
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(copied(&out), 0, "{}", text(&out));

    // A path that does not exist: usage error naming it.
    let out = command_to("copy", "mbox:/nonexistent/box", &dst, work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("/nonexistent/box"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pop3_inbox_arrives_in_inbox_once_and_stays_on_the_server() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions {
            pop3: true,
            ..Default::default()
        }),
        start_dovecot(DovecotOptions::default()),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 15,
        large_attachment: 200_000,
        seed: 4,
    });
    let mut c = login(&m.src).await;
    session::load(&mut c, &corpus).await.unwrap();
    let want = session::snapshot(&mut c).await.unwrap();
    let inbox_count = want.folders["INBOX"].len() as u64;

    let from = format!("pop3s://alice@localhost:{}", m.src.pop3s_port);
    let run = |sub: &str| m.command_from(sub, &from);
    // Small batches: several pipelined RETR runs on one connection.
    let out = m.run(
        run("copy").args(["--json", "--batch", "4", "--connections", "1"]),
        0,
    );
    assert_eq!(copied(&out), inbox_count, "{}", text(&out));
    // Byte for byte what the old server's IMAP serves for INBOX; POP3 has
    // no flags, so compare bodies only.
    let got = snapshot(&m.dst).await;
    let bodies = |msgs: &Vec<session::MessageSnapshot>| {
        let mut v: Vec<_> = msgs.iter().map(|x| x.sha256.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(
        bodies(&got.folders["INBOX"]),
        bodies(&want.folders["INBOX"])
    );

    // verify logs in with APOP this time (the password never crosses the wire).
    m.run(run("verify").args(["--from-auth-mech", "apop"]), 0);

    // New mail on the POP3 server: only it is copied; nothing was deleted there.
    let new_mail = &corpus.folders[0].messages[1];
    c.append_start(b"INBOX").await.unwrap();
    c.append_message(
        &[],
        Some(&new_mail.internal_date),
        new_mail.raw.len() as u64,
    )
    .await
    .unwrap();
    c.append_write(&new_mail.raw).await.unwrap();
    c.append_finish().await.unwrap();
    let out = m.run(run("copy").arg("--json"), 0);
    assert_eq!(copied(&out), 1, "{}", text(&out));
    let now = session::snapshot(&mut c).await.unwrap();
    assert_eq!(now.folders["INBOX"].len() as u64, inbox_count + 1);

    // Into another folder, then delete from the server what verify proved
    // present: the POP3 mailbox ends empty, the destination keeps all.
    let dst2 = start_dovecot(DovecotOptions::default());
    let m2 = Migration::new(MAILPORT, &m.src, &dst2);
    let out = m2.run(
        m2.command_from("copy", &from).args([
            "--to-folder",
            "Old Mail/POP",
            "--delete-source-after-verify",
        ]),
        0,
    );
    assert!(
        text(&out).contains(&format!("deleted {} messages", inbox_count + 1)),
        "{}",
        text(&out)
    );
    let kept = snapshot(&dst2).await;
    assert_eq!(kept.folders["Old Mail/POP"].len() as u64, inbox_count + 1);
    let emptied = session::snapshot(&mut c).await.unwrap();
    assert_eq!(
        emptied.folders["INBOX"].len(),
        0,
        "the POP3 mailbox keeps nothing proven"
    );
    // The other folders (not reachable over POP3) are untouched.
    assert_eq!(emptied.folders.len(), want.folders.len());

    // pop3s:// given for the plain POP3 port: discovery finds STLS there
    // and says which URL to use next time.
    let wrong = format!("pop3s://alice@localhost:{}", m.src.pop3_port);
    let out = m2.run(
        m2.command_from("verify", &wrong)
            .args(["--to-folder", "Old Mail/POP"]),
        0,
    );
    let hint = format!("pop3://alice@localhost:{}", m.src.pop3_port);
    assert!(text(&out).contains(&hint), "{}", text(&out));

    // POP3 as a destination is a usage error.
    let out = Command::new(MAILPORT)
        .stdin(Stdio::null())
        .args(["copy", "--from", &m.dst.imap_url("alice"), "--to", &from])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_to_a_maildir_that_dovecot_then_serves_as_is() {
    // The destination Dovecot's own home, written by mailport while that
    // Dovecot has not touched it; then Dovecot serves it.
    let m = Migration::into_maildir(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        start_dovecot(DovecotOptions::default()),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 250_000,
        seed: 13,
    });
    let mut c = login(&m.src).await;
    session::load(&mut c, &corpus).await.unwrap();

    let out = m.run(m.command("copy").arg("--json"), 0);
    assert_eq!(copied(&out) as usize, corpus.message_count());
    m.run(&mut m.command("verify"), 0);
    let out = m.run(m.command("copy").arg("--json"), 0);
    assert_eq!(copied(&out), 0, "a re-run adds nothing: {}", text(&out));

    // Flags changed and a message deleted on the source: a delta pass with
    // --sync-deletes carries both into the Maildir.
    c.select(b"INBOX", false).await.unwrap();
    c.command(b"UID STORE 2 FLAGS (\\Flagged $Important)")
        .await
        .unwrap();
    c.command(b"UID STORE 3 +FLAGS (\\Deleted)").await.unwrap();
    c.command(b"UID EXPUNGE 3").await.unwrap();
    let j = summary(&m.run(m.command("copy").args(["--sync-deletes", "--json"]), 0));
    let inbox = j["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == "INBOX")
        .unwrap();
    assert_eq!(inbox["flags_updated"], 1, "{j:#}");
    assert_eq!(inbox["deleted"], 1, "{j:#}");
    let want = session::snapshot(&mut c).await.unwrap();

    let got = m.dst_snapshot().await;
    assert_eq!(want.differences(&got, &[]), Vec::<String>::new());
    assert_eq!(got.subscribed, want.subscribed);

    // The Maildir is wiped (INBOX and all): the state file no longer holds
    // for it, and everything is copied again — not "deleted on the destination".
    std::fs::remove_dir_all(m.dst.maildir("alice")).unwrap();
    let j = m.copy(&[]);
    assert_eq!(j["totals"]["deleted_on_destination"], 0, "{j:#}");
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        want.folders.values().map(Vec::len).sum::<usize>(),
        "{j:#}"
    );
    m.run(&mut m.command("verify"), 0);
}

/// A wrong `maildir:` path is one usage error (exit 2) naming the path and
/// what is wrong — never a raw OS error or "connection failure".
#[test]
fn bad_maildir_paths_are_usage_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(good.join(sub)).unwrap();
    }
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a maildir").unwrap();
    let good = format!("maildir:{}", good.display());
    let file_url = format!("maildir:{}", file.display());
    let under_file = format!("maildir:{}/sub", file.display());
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("maildir:", &good, vec!["--from: maildir: needs a path"]),
        (
            &file_url,
            &good,
            vec![file_url.as_str(), "is a file, not a Maildir directory"],
        ),
        (
            &good,
            &file_url,
            vec![file_url.as_str(), "is a file, not a Maildir directory"],
        ),
        (
            &good,
            &under_file,
            vec!["a-file", "is a file, not a directory"],
        ),
        (
            &good,
            "maildir:/proc/mailport-test",
            vec!["cannot create /proc/mailport-test", "/proc is not writable"],
        ),
    ];
    for (from, to, needles) in cases {
        let out = Command::new(MAILPORT)
            .stdin(Stdio::null())
            .args(["copy", "--no-state", "--from", from, "--to", to])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from} -> {to}: {}", text(&out));
        for n in needles {
            assert!(err.contains(n), "{from} -> {to}: no {n:?} in {err}");
        }
        assert!(!err.contains("os error"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    }
}

/// The disk under a Maildir destination fills up: the messages that do not
/// fit fail with the reason ("No space left on device"), not as a lost
/// connection; the others arrive; totals add up; exit 1. (A small tmpfs in a
/// private mount namespace stands for the full disk.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_a_maildir_destination_fails_messages_not_the_run() {
    let src = start_dovecot(DovecotOptions::default());
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 20,
        large_attachment: 300_000,
        seed: 23,
    });
    load(&src, &corpus).await;
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small-disk");
    std::fs::create_dir(&mnt).unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=600k tmpfs \"$0\" && exec \"$@\"")
        .arg(&mnt)
        .arg(MAILPORT)
        .args([
            "copy",
            "--no-state",
            "--json",
            "--from",
            &src.imaps_url("alice"),
        ])
        .arg("--to")
        .arg(format!("maildir:{}/Maildir", mnt.display()))
        .arg("--from-tls-ca")
        .arg(&src.certs.ca_pem)
        .env("MAILPORT_FROM_PASSWORD", src.password("alice"))
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux) runs the copy in its own mount namespace");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j = summary(&out);
    let t = &j["totals"];
    assert!(t["copied"].as_u64().unwrap() > 0, "{j:#}");
    assert!(t["failed"].as_u64().unwrap() > 0, "{j:#}");
    let all = text(&out);
    assert!(all.contains("No space left on device"), "{all}");
    assert!(!all.contains("connection to the destination lost"), "{all}");
}
