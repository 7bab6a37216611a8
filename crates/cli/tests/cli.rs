//! The `mailport` binary as a user runs it, against real private Dovecot servers.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use mailport_testbed::cli::{login, start_dovecot, summary, text, Migration};
use mailport_testbed::{Corpus, CorpusOptions, DovecotOptions, Layout};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

/// The binary with no password inherited from the environment.
fn mailport() -> Command {
    let mut c = Command::new(MAILPORT);
    c.stdin(Stdio::null())
        .env_remove("MAILPORT_FROM_PASSWORD")
        .env_remove("MAILPORT_TO_PASSWORD");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_with_json_summary_then_nothing_twice() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions {
            layout: Layout::CourierDot,
            ..Default::default()
        }),
        start_dovecot(DovecotOptions::default()),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 15,
        large_attachment: 200_000,
        seed: 77,
    });
    m.load(&corpus).await;

    let out = m.run(m.command("copy").arg("--json"), 0);
    let j = summary(&out);
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
    let out = m.run(&mut m.command("copy"), 0);
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
    let pw = m.work().join("pw");
    std::fs::write(&pw, format!("{}\n", m.dst.password("alice"))).unwrap();
    let out = m.run(
        m.command("copy")
            .env_remove("MAILPORT_TO_PASSWORD")
            .arg("--to-password-file")
            .arg(&pw)
            .arg("--dry-run"),
        0,
    );
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
    let src = start_dovecot(DovecotOptions::default());
    let m = Migration::new(MAILPORT, &src, &src);
    let out = m.run(
        m.command("copy")
            .env("MAILPORT_FROM_PASSWORD", "Wr0ng-Secret")
            .arg("--debug"),
        3,
    );
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
    assert!(!m.state().exists(), "a state file was left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_message_fails_alone_and_exit_code_says_so() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        // The destination refuses messages over 100 kB (quota plugin), so one
        // MULTIAPPEND batch is refused and must be retried message by message.
        start_dovecot(DovecotOptions {
            extra_conf: "mail_plugins = quota\nplugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 100k\n}\n".into(),
            ..Default::default()
        }),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 300_000,
        seed: 5,
    });
    m.load(&corpus).await;
    let big: usize = corpus
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .filter(|m| m.raw.len() > 100 << 10)
        .count();
    assert!(big >= 1);
    let out = m.run(m.command("copy").arg("--json"), 1);
    let j = summary(&out);
    // Each refusal is said as it happens, with the server's reason.
    let said: Vec<_> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("mailport: warning: ") && l.contains(": message UID"))
        .filter(|l| l.contains("not copied: destination refused it"))
        .map(String::from)
        .collect();
    assert_eq!(said.len(), big, "{}", text(&out));
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
    let m = Migration::dovecots(MAILPORT);
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 88,
    });
    m.load(&corpus).await;
    let out = m.run(m.command("copy").arg("--verify"), 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Every source message is on the destination"),
        "{}",
        text(&out)
    );

    let verify = |extra: &[&str]| m.command("verify").args(extra).output().unwrap();
    let manifest = m.work().join("manifest.jsonl");
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
    let mut c = login(&m.dst).await;
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
