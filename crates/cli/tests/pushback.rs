//! Servers that push back: a destination allowing fewer connections than
//! asked for, and the user's own limits. Nothing may be lost or doubled.

use std::process::Stdio;

mod common;

use common::{snapshot, start, text};

use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, DovecotOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_allowing_fewer_connections_gets_everything_anyway() {
    let src = start(DovecotOptions::default());
    // Dovecot answers a second login of alice from 127.0.0.1 with
    // "Maximum number of connections from user+IP exceeded".
    let dst = start(DovecotOptions {
        extra_conf: "mail_max_userip_connections = 1\n".into(),
        ..Default::default()
    });
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 30,
        large_attachment: 0,
        seed: 9,
    });
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();

    let out = src
        .copy_command(std::path::Path::new(env!("CARGO_BIN_EXE_mailport")), &dst)
        .stdin(Stdio::null())
        .args(["--connections", "4", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\nsource:\n{}",
        text(&out),
        dst.log_tail(),
        src.log_tail()
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    common::assert_totals_add_up(&j);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count()
    );
    // Dovecot counts connections without a lock, so now and then a third
    // login slips through and nothing is refused: whenever it did refuse
    // one, mailport must have noticed and gone on with fewer.
    let refused = std::fs::read_to_string(dst.dir().join("dovecot.log"))
        .unwrap()
        .contains("Maximum number of connections");
    let noticed = String::from_utf8_lossy(&out.stderr).contains("fewer connections");
    assert_eq!(refused, noticed, "{}", text(&out));
    let (s, d) = (snapshot(&src).await, snapshot(&dst).await);
    assert_eq!(s.differences(&d, &[]), Vec::<String>::new());

    // Told beforehand, mailport stays within the limit: no pushback at all.
    let dst2 = start(DovecotOptions {
        extra_conf: "mail_max_userip_connections = 2\n".into(),
        ..Default::default()
    });
    let out = src
        .copy_command(std::path::Path::new(env!("CARGO_BIN_EXE_mailport")), &dst2)
        .stdin(Stdio::null())
        .env("MAILPORT_STATE", dst2.dir().join("state.db"))
        .args([
            "--connections",
            "4",
            "--max-connections-per-host",
            "2",
            "--max-messages-per-second",
            "200",
            "--max-bytes-per-second",
            "50M",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("fewer connections"),
        "{}",
        text(&out)
    );
    assert_eq!(
        s.differences(&snapshot(&dst2).await, &[]),
        Vec::<String>::new()
    );

    // A bad limit is a usage error naming the flag.
    let out = src
        .copy_command(std::path::Path::new(env!("CARGO_BIN_EXE_mailport")), &dst2)
        .stdin(Stdio::null())
        .args(["--max-bytes-per-second", "fast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--max-bytes-per-second"),
        "{}",
        text(&out)
    );
}
