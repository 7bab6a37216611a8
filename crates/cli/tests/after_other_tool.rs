//! A destination another tool filled first: no duplicates.
//!
//! mbsync (Debian isync) adds an `X-TUID:` header to every message it stores,
//! so sizes differ and the default identity (Message-ID + Date + size) sees
//! none of them; `--identity message-id` recognises them all, and gives
//! them back the keywords mbsync dropped.

mod common;

use std::path::Path;
use std::process::Stdio;

use mailport_testbed::{peers, session, Corpus, CorpusOptions, Dovecot, DovecotOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_after_mbsync_adds_no_duplicates_with_message_id_identity() {
    let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 25,
        large_attachment: 200_000,
        seed: 515,
    });
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let status = peers::mbsync(&src, &dst, work.path(), peers::Transport::Tls)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mbsync must be installed (scripts/setup installs isync)");
    assert!(status.success(), "mbsync failed");
    let mut d = session::login(dst.imap_port, "alice", dst.password("alice"))
        .await
        .unwrap();
    let filled = session::snapshot(&mut d).await.unwrap();
    let filled_count: usize = filled.folders.values().map(Vec::len).sum();
    assert_eq!(
        filled_count,
        corpus.message_count(),
        "mbsync copied everything"
    );

    let mailport = Path::new(env!("CARGO_BIN_EXE_mailport"));
    let run = |extra: &[&str]| {
        let mut cmd = src.copy_command(mailport, &dst);
        cmd.args(["--no-state", "--json"])
            .args(extra)
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        common::assert_totals_add_up(&j);
        j
    };
    // The default rule does not recognise altered messages (a dry run shows it).
    let strict = run(&["--dry-run"]);
    assert_eq!(
        strict["totals"]["to_copy"].as_u64().unwrap() as usize,
        corpus.message_count()
    );

    let j = run(&["--identity", "message-id"]);
    assert_eq!(j["totals"]["copied"], 0, "{j:#}");
    assert_eq!(
        j["totals"]["already_present"].as_u64().unwrap() as usize,
        corpus.message_count()
    );
    let mut d = session::login(dst.imap_port, "alice", dst.password("alice"))
        .await
        .unwrap();
    let after = session::snapshot(&mut d).await.unwrap();
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
    let mut c = session::login(src.imap_port, "alice", src.password("alice"))
        .await
        .unwrap();
    let source = session::snapshot(&mut c).await.unwrap();
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
