//! Servers that push back: a destination allowing fewer connections than
//! asked for, and the user's own limits. Nothing may be lost or doubled.

use mailport_testbed::cli::{snapshot, start_dovecot, summary, text, Migration};
use mailport_testbed::{Corpus, CorpusOptions, DovecotOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_allowing_fewer_connections_gets_everything_anyway() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        // Dovecot answers a second login of alice from 127.0.0.1 with
        // "Maximum number of connections from user+IP exceeded".
        start_dovecot(DovecotOptions {
            extra_conf: "mail_max_userip_connections = 1\n".into(),
            ..Default::default()
        }),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 30,
        large_attachment: 0,
        seed: 9,
    });
    m.load(&corpus).await;

    let out = m.run(m.command("copy").args(["--connections", "4", "--json"]), 0);
    let j = summary(&out);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count()
    );
    // Dovecot counts connections without a lock, so now and then a third
    // login slips through and nothing is refused: whenever it did refuse
    // one, mailport must have noticed and gone on with fewer.
    let refused = std::fs::read_to_string(m.dst.dir().join("dovecot.log"))
        .unwrap()
        .contains("Maximum number of connections");
    let noticed = String::from_utf8_lossy(&out.stderr).contains("fewer connections");
    assert_eq!(refused, noticed, "{}", text(&out));
    let (s, d) = (snapshot(&m.src).await, snapshot(&m.dst).await);
    assert_eq!(s.differences(&d, &[]), Vec::<String>::new());

    // Told beforehand, mailport stays within the limit: no pushback at all.
    let dst2 = start_dovecot(DovecotOptions {
        extra_conf: "mail_max_userip_connections = 2\n".into(),
        ..Default::default()
    });
    let m2 = Migration::new(MAILPORT, &m.src, &dst2);
    let out = m2.run(
        m2.command("copy").args([
            "--connections",
            "4",
            "--max-connections-per-host",
            "2",
            "--max-messages-per-second",
            "200",
            "--max-bytes-per-second",
            "50M",
        ]),
        0,
    );
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
    let out = m2.run(
        m2.command("copy").args(["--max-bytes-per-second", "fast"]),
        2,
    );
    assert!(
        text(&out).contains("--max-bytes-per-second"),
        "{}",
        text(&out)
    );
}
