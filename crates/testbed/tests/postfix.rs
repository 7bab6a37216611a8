//! The Postfix harness itself: a private Postfix takes mail for its domain
//! from swaks and delivers it by LMTP into a private Dovecot's INBOX; its
//! submission service takes mail only with AUTH, checked by the Dovecot.

use std::process::Command;
use std::time::{Duration, Instant};

use mailport_testbed::session;
use mailport_testbed::{Dovecot, DovecotOptions, Postfix, PostfixOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_to_postfix_lands_in_dovecot() {
    let dovecot = Dovecot::start(DovecotOptions {
        lmtp: true,
        sasl: true,
        ..Default::default()
    })
    .expect("Dovecot must start");
    let postfix = Postfix::start(PostfixOptions {
        hostname: "old.mailport.test".into(),
        domains: vec!["example.org".into()],
        lmtp_port: dovecot.lmtp_port,
        trust_loopback_proxy: false,
        sasl_port: Some(dovecot.sasl_port),
        ..Default::default()
    })
    .expect("Postfix must start");
    let out = swaks(postfix.smtp_port, &[]);
    assert!(out.0, "{}", out.1);
    wait_for_inbox(&dovecot, &postfix, 1).await;
    assert!(postfix.queue_is_empty(), "{}", postfix.log_tail());

    // Submission: AUTH by the Dovecot's users, nothing without it.
    let port = postfix.submission_port;
    let auth = ["--auth", "PLAIN", "--auth-user", "alice"];
    let out = swaks(
        port,
        &[&auth[..], &["--auth-password", "alice-secret"]].concat(),
    );
    assert!(out.0, "{}", out.1);
    wait_for_inbox(&dovecot, &postfix, 2).await;
    let out = swaks(port, &[&auth[..], &["--auth-password", "wrong"]].concat());
    assert!(!out.0 && out.1.contains("535"), "{}", out.1);
    let out = swaks(port, &[]);
    assert!(!out.0 && out.1.contains("Access denied"), "{}", out.1);
}

/// swaks to alice from elsewhere, with `extra` arguments: whether it was
/// accepted, and its transcript.
fn swaks(port: u16, extra: &[&str]) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args([
            "--from",
            "sender@elsewhere.test",
            "--to",
            "alice@example.org",
        ])
        .args(["--header", "Subject: harness"])
        .args(extra)
        .output()
        .expect("swaks must run (scripts/setup installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn wait_for_inbox(dovecot: &Dovecot, postfix: &Postfix, messages: u32) {
    let started = Instant::now();
    loop {
        let mut s = session::login(dovecot.imap_port, "alice", "alice-secret")
            .await
            .unwrap();
        if s.select(b"INBOX", true).await.unwrap().exists == messages {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not delivered: {}",
            postfix.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
