//! The `mailport` binary as a user runs it, against real private Dovecot servers.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

mod common;

use common::{load, start, text};

use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

fn mailport() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailport"));
    c.stdin(Stdio::null())
        .env_remove("MAILPORT_FROM_PASSWORD")
        .env_remove("MAILPORT_TO_PASSWORD");
    c
}

fn copy_cmd(src: &Dovecot, dst: &Dovecot) -> Command {
    let mut c = src.copy_command(std::path::Path::new(env!("CARGO_BIN_EXE_mailport")), dst);
    c.stdin(Stdio::null());
    c
}

fn json(o: &Output) -> serde_json::Value {
    let j =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)));
    common::assert_totals_add_up(&j);
    j
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_with_json_summary_then_nothing_twice() {
    let src = start(DovecotOptions {
        layout: Layout::CourierDot,
        ..Default::default()
    });
    let dst = start(DovecotOptions::default());
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 15,
        large_attachment: 200_000,
        seed: 77,
    });
    load(&src, &corpus).await;

    let out = copy_cmd(&src, &dst).arg("--json").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nsource log:\n{}\ndestination log:\n{}",
        text(&out),
        src.log_tail(),
        dst.log_tail()
    );
    let j = json(&out);
    let t = &j["totals"];
    assert_eq!(
        t["copied"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );
    assert_eq!(t["source_messages"], t["copied"]);
    assert_eq!(t["failed"], 0);
    // Plain log lines on a non-terminal stderr.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("done INBOX"),
        "{}",
        text(&out)
    );

    // The table, and a second run that copies nothing.
    let out = copy_cmd(&src, &dst).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("TOTAL"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{0} source messages = 0 copied + {0} already present",
            corpus.message_count()
        )),
        "{stdout}"
    );

    // A dry run with a password file.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{}\n", dst.password("alice"))).unwrap();
    let out = copy_cmd(&src, &dst)
        .env_remove("MAILPORT_TO_PASSWORD")
        .arg("--to-password-file")
        .arg(&pw)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Dry run"),
        "{}",
        text(&out)
    );
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    for (args, needle) in [
        (
            vec!["copy", "--from", "old.example.net", "--to", "imaps://a@h"],
            "--from",
        ),
        (
            vec!["copy", "--from", "imaps://a:pw@h", "--to", "imaps://a@h"],
            "passwords do not belong in URLs",
        ),
        (
            vec![
                "copy",
                "--from",
                "imaps://a@h",
                "--to",
                "imaps://a@h",
                "--include",
                "([",
            ],
            "--include",
        ),
        (
            vec![
                "copy",
                "--from",
                "imaps://a@h",
                "--to",
                "imaps://a@h",
                "--max-size",
                "lots",
            ],
            "--max-size",
        ),
        (
            vec![
                "copy",
                "--from",
                "imaps://a@h",
                "--to",
                "imaps://a@h",
                "--since",
                "yesterday",
            ],
            "--since",
        ),
        (
            vec![
                "copy",
                "--from",
                "imaps://a@h",
                "--to",
                "imaps://a@h",
                "--folder-map",
                "nothing",
            ],
            "--folder-map",
        ),
        (
            vec!["copy", "--from", "imaps://a@h", "--to", "imaps://a@h"],
            "MAILPORT_FROM_PASSWORD",
        ),
        (vec!["copy", "--from", "imaps://a@h"], "--to"),
    ] {
        let out = mailport().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("pw@"), "{err}");
    }
    let help = mailport().args(["copy", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--from-password-file",
        "MAILPORT_TO_PASSWORD",
        "Exit codes",
        "--folder-map",
        "--dry-run",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn wrong_password_exits_3_without_leaking_it() {
    let src = start(DovecotOptions::default());
    let out = copy_cmd(&src, &src)
        .env("MAILPORT_FROM_PASSWORD", "Wr0ng-Secret")
        .arg("--debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("login as \"alice\""), "{all}");
    assert!(
        !all.contains("Wr0ng-Secret") && !all.contains(src.password("alice")),
        "a password leaked: {all}"
    );
    // The debug trace shows the conversation both ways, with the password
    // redacted.
    assert!(all.contains("<redacted>"), "{all}");
    assert!(all.contains("S: "), "no server replies in the trace: {all}");
    assert!(
        all.contains("AUTHENTICATIONFAILED") || all.contains("NO "),
        "{all}"
    );
    // A run that could not log in leaves no state file behind.
    assert!(
        !src.dir().join("mailport-state.db").exists(),
        "a state file was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_message_fails_alone_and_exit_code_says_so() {
    let src = start(DovecotOptions::default());
    // The destination refuses messages over 100 kB (quota plugin), so one
    // MULTIAPPEND batch is refused and must be retried message by message.
    let dst = start(DovecotOptions {
        extra_conf: "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 100k\n}\n".into(),
        ..Default::default()
    });
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 300_000,
        seed: 5,
    });
    load(&src, &corpus).await;
    let big: usize = corpus
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .filter(|m| m.raw.len() > 100 << 10)
        .count();
    assert!(big >= 1);
    let out = copy_cmd(&src, &dst).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let j = json(&out);
    let t = &j["totals"];
    assert_eq!(t["failed"].as_u64().unwrap() as usize, big, "{j:#}");
    assert_eq!(
        t["copied"].as_u64().unwrap() as usize,
        corpus.message_count() - big,
        "{j:#}"
    );
    let reasons = j["folders"].to_string();
    assert!(reasons.contains("destination refused it"), "{reasons}");
}

#[test]
fn stalled_server_times_out_with_exit_3() {
    // A "server" that greets and then never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hello\r\n");
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
            });
        }
    });
    let url = format!("imap://alice@127.0.0.1:{port}");
    let out = mailport()
        .args([
            "copy",
            "--from",
            &url,
            "--to",
            &url,
            "--allow-plaintext",
            "--timeout",
            "2",
        ])
        .env("MAILPORT_FROM_PASSWORD", "x")
        .env("MAILPORT_TO_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not answer within 2 s"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_what_is_missing_or_different_and_writes_a_manifest() {
    let src = start(DovecotOptions::default());
    let dst = start(DovecotOptions::default());
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 88,
    });
    load(&src, &corpus).await;
    let state = tempfile::tempdir().unwrap();
    let out = copy_cmd(&src, &dst)
        .arg("--state")
        .arg(state.path().join("s.db"))
        .arg("--verify")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Every source message is on the destination"),
        "{}",
        text(&out)
    );

    let verify = |extra: &[&str]| {
        let mut v = src.mailport_command(
            std::path::Path::new(env!("CARGO_BIN_EXE_mailport")),
            "verify",
            &dst,
        );
        v.stdin(Stdio::null()).args(extra).output().unwrap()
    };
    let manifest = state.path().join("manifest.jsonl");
    let out = verify(&["--manifest", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), corpus.message_count());
    assert!(
        lines.iter().all(|l| l["outcome"] == "present"
            && l["sha256"].as_str().unwrap().len() == 64
            && l["destination_uid"].is_u64()),
        "{lines:?}"
    );

    // Mail arriving on the destination is listed, not an error.
    let mut c = session::login(dst.imap_port, "alice", dst.password("alice"))
        .await
        .unwrap();
    let arrived =
        b"From: new@example.org\r\nSubject: arrived\r\nMessage-ID: <arrived@x>\r\n\r\nhi\r\n";
    c.append_start(b"Work").await.unwrap();
    c.append_message(&[], None, arrived.len() as u64)
        .await
        .unwrap();
    c.append_write(arrived).await.unwrap();
    c.append_finish().await.unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("only on the destination: Work UID"),
        "{}",
        text(&out)
    );

    // Tamper with the destination: one flag changed, one message gone, one
    // copied twice.
    c.select(b"Work", false).await.unwrap();
    c.command(b"UID STORE 1 +FLAGS ($Tampered)").await.unwrap();
    c.command(b"UID STORE 2 +FLAGS (\\Deleted)").await.unwrap();
    c.command(b"UID EXPUNGE 2").await.unwrap();
    c.command(b"UID COPY 3 Work").await.unwrap();
    for mode in [&[][..], &["--quick"][..]] {
        let out = verify(&[&["--manifest", manifest.to_str().unwrap()], mode].concat());
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        for what in [
            "flags differ: Work UID",
            "missing: Work UID",
            "duplicate on the destination: Work UID",
            "only on the destination: Work UID",
        ] {
            assert!(stdout.contains(what), "{mode:?}: no {what:?} in {stdout}");
        }
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&manifest)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let count = |o: &str| lines.iter().filter(|l| l["outcome"] == o).count();
        assert_eq!(
            (count("duplicate"), count("extra")),
            (1, 1),
            "{mode:?}: {lines:?}"
        );
        assert!(lines
            .iter()
            .filter(|l| l["outcome"] == "duplicate")
            .all(|l| l["uid"].is_null() && l["destination_uid"].is_u64()));
    }
}

#[test]
fn verify_changes_nothing_and_refuses_a_maildir_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-maildir");
    let src = dir.path().join("src");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(src.join(sub)).unwrap();
    }
    let out = mailport()
        .args(["verify", "--from"])
        .arg(format!("maildir:{}", src.display()))
        .arg("--to")
        .arg(format!("maildir:{}", missing.display()))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!missing.exists(), "verify created the destination Maildir");
}
