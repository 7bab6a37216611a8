//! `mailport check` against real Dovecots: what it shows and that it changes nothing.

use std::process::{Command, Stdio};

use mailport_testbed::cli::{json, snapshot, start_dovecot, text, Migration};
use mailport_testbed::{Corpus, CorpusOptions, DovecotOptions, Layout};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_tls_certificate_namespaces_and_sizes_and_changes_nothing() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions {
            layout: Layout::CourierDot,
            ..Default::default()
        }),
        start_dovecot(DovecotOptions::default()),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 6,
        large_attachment: 0,
        seed: 3,
    });
    m.load(&corpus).await;
    let before = snapshot(&m.src).await;
    let total_bytes: usize = corpus
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .map(|m| m.raw.len())
        .sum();

    let j = json(&m.run(m.command("check").arg("--json"), 0));
    let s = &j["source"];
    assert_eq!(
        s["messages"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );
    // Sizes as the server counts them (line ends may differ from the raw corpus).
    let bytes = s["bytes"].as_u64().unwrap() as usize;
    assert!(
        bytes >= total_bytes * 9 / 10 && bytes <= total_bytes * 11 / 10,
        "{bytes} vs {total_bytes}"
    );
    assert!(
        s["tls"]["version"].as_str().unwrap().starts_with("TLS"),
        "{j:#}"
    );
    // mailport prefers AES-128-GCM (less CPU per byte on both ends); Dovecot follows.
    assert!(
        s["tls"]["cipher"].as_str().unwrap().contains("AES_128_GCM"),
        "{j:#}"
    );
    assert!(
        s["tls"]["names"].as_str().unwrap().contains("localhost"),
        "{j:#}"
    );
    assert!(
        s["tls"]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{j:#}"
    );
    assert!(s["greeting"].as_str().unwrap().contains("ready"), "{j:#}");
    assert!(
        s["namespaces"].to_string().contains("INBOX."),
        "the Courier-style prefix is shown: {j:#}"
    );
    assert!(
        s["capabilities"]
            .to_string()
            .to_uppercase()
            .contains("IMAP4REV1"),
        "{j:#}"
    );
    let folders = s["folders"].as_array().unwrap();
    assert!(
        folders
            .iter()
            .any(|f| f["name"] == "Work" && f["server_name"] == "INBOX.Work"),
        "{j:#}"
    );
    // The destination (STARTTLS) is checked too.
    assert!(j["destination"]["tls"]["version"].is_string(), "{j:#}");

    // Text output, source only, and nothing changed on the server.
    let check_source = |password: &str| {
        Command::new(MAILPORT)
            .stdin(Stdio::null())
            .args([
                "check",
                "--from",
                &m.src.imaps_url("alice"),
                "--from-tls-ca",
            ])
            .arg(&m.src.certs.ca_pem)
            .env("MAILPORT_FROM_PASSWORD", password)
            .output()
            .unwrap()
    };
    let out = check_source(m.src.password("alice"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "source: imaps://alice@localhost",
        "fingerprint: sha256:",
        "valid for:",
        "folders:",
    ] {
        assert!(stdout.contains(needle), "{needle} missing:\n{stdout}");
    }
    assert!(!stdout.contains("destination"), "{stdout}");
    let after = snapshot(&m.src).await;
    assert_eq!(before, after, "check changed the mailbox");

    // A wrong password: exit 3, nothing printed on stdout.
    let out = check_source("nope-nope");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("login as \"alice\""), "{}", text(&out));
}

/// One side failing does not hide the other: the working side is shown in
/// full, then the other side's problem, and the exit code says it failed.
#[test]
fn check_shows_the_working_side_when_the_other_fails() {
    let m = Migration::dovecots(MAILPORT);
    for broken_source in [false, true] {
        let mut cmd = m.command("check");
        if broken_source {
            cmd.env("MAILPORT_FROM_PASSWORD", "wrong-password");
        } else {
            cmd.env("MAILPORT_TO_PASSWORD", "wrong-password");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (works, fails) = if broken_source {
            ("destination:", "source:")
        } else {
            ("source:", "destination:")
        };
        assert!(stdout.starts_with(works), "{stdout}");
        assert!(
            stdout.contains("greeting:") && stdout.contains("folders"),
            "{stdout}"
        );
        assert!(stderr.contains(fails), "{stderr}");
        assert!(!stderr.contains("wrong-password"), "{stderr}");
    }
}
