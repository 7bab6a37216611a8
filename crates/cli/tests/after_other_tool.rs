//! A destination another tool filled first: no duplicates.
//!
//! mbsync (Debian isync) adds an `X-TUID:` header to every message it stores,
//! so sizes differ and the default identity (Message-ID + Date + size) sees
//! none of them; `--identity message-id` recognises them all, and gives
//! them back the keywords mbsync dropped.

use std::process::Stdio;

use mailport_testbed::cli::{snapshot, Migration};
use mailport_testbed::{peers, session, Corpus, CorpusOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_after_mbsync_adds_no_duplicates_with_message_id_identity() {
    let m = Migration::dovecots(MAILPORT);
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 25,
        large_attachment: 200_000,
        seed: 515,
    });
    m.load(&corpus).await;

    let status = peers::mbsync(&m.src, &m.dst, m.work(), peers::Transport::Tls)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mbsync must be installed (scripts/setup installs isync)");
    assert!(status.success(), "mbsync failed");
    let filled = snapshot(&m.dst).await;
    let filled_count: usize = filled.folders.values().map(Vec::len).sum();
    assert_eq!(
        filled_count,
        corpus.message_count(),
        "mbsync copied everything"
    );

    // The default rule does not recognise altered messages (a dry run shows it).
    let strict = m.copy(&["--no-state", "--dry-run"]);
    assert_eq!(
        strict["totals"]["to_copy"].as_u64().unwrap() as usize,
        corpus.message_count()
    );

    let j = m.copy(&["--no-state", "--identity", "message-id"]);
    assert_eq!(j["totals"]["copied"], 0, "{j:#}");
    assert_eq!(
        j["totals"]["already_present"].as_u64().unwrap() as usize,
        corpus.message_count()
    );
    let after = snapshot(&m.dst).await;
    // No message added: the same bytes in every folder. mbsync dropped the
    // custom keywords; mailport gave the copies it found the source's flags.
    let bytes = |s: &session::Snapshot| {
        s.folders
            .iter()
            .map(|(f, m)| {
                let mut h: Vec<String> = m.iter().map(|m| m.sha256.clone()).collect();
                h.sort();
                (f.clone(), h)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&after), bytes(&filled), "nothing was added");
    let source = snapshot(&m.src).await;
    let flags = |s: &session::Snapshot| {
        s.folders
            .iter()
            .map(|(f, m)| {
                let mut v: Vec<Vec<String>> = m.iter().map(|m| m.flags.clone()).collect();
                v.sort();
                (f.clone(), v)
            })
            .collect::<Vec<_>>()
    };
    assert_ne!(flags(&filled), flags(&source), "mbsync kept every flag");
    assert_eq!(
        flags(&after),
        flags(&source),
        "flags not carried to the copies found"
    );
}
