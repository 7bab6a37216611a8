//! The Postfix harness itself: a private Postfix takes mail for its domain
//! from swaks and delivers it by LMTP into a private Dovecot's INBOX.

use std::process::Command;
use std::time::{Duration, Instant};

use mailport_testbed::session;
use mailport_testbed::{Dovecot, DovecotOptions, Postfix, PostfixOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_to_postfix_lands_in_dovecot() {
    let dovecot = Dovecot::start(DovecotOptions {
        lmtp: true,
        ..Default::default()
    })
    .expect("Dovecot must start");
    let postfix = Postfix::start(PostfixOptions {
        hostname: "old.mailport.test".into(),
        domains: vec!["example.org".into()],
        lmtp_port: dovecot.lmtp_port,
        trust_loopback_proxy: false,
    })
    .expect("Postfix must start");
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port"])
        .arg(postfix.smtp_port.to_string())
        .args([
            "--from",
            "sender@elsewhere.test",
            "--to",
            "alice@example.org",
        ])
        .args(["--header", "Subject: harness", "--silent", "2"])
        .output()
        .expect("swaks must run (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let started = Instant::now();
    loop {
        let mut s = session::login(dovecot.imap_port, "alice", "alice-secret")
            .await
            .unwrap();
        if s.select(b"INBOX", true).await.unwrap().exists == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not delivered: {}",
            postfix.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(postfix.queue_is_empty(), "{}", postfix.log_tail());
}
