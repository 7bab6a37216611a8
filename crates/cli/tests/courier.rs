//! The `mailport` binary between Dovecot and Courier-IMAP 5.0 (the server
//! many hosting providers run), both private instances, in both directions.
//!
//! Courier refuses an APPEND into a folder the same connection has
//! EXAMINEd, keeps every folder under `INBOX.` with `.` as separator, has
//! no MULTIAPPEND or CONDSTORE, and rewrites line endings on APPEND.

use mailport_testbed::cli::{
    json, snapshot, start_courier, start_dovecot, summary, text, Migration,
};
use mailport_testbed::corpus::{Folder, Message};
use mailport_testbed::{Corpus, CorpusOptions, Courier, CourierOptions, DovecotOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

fn courier() -> Courier {
    start_courier(CourierOptions {
        // Courier empties Trash of messages older than 7 days at login by
        // default; the corpus has old ones.
        extra_env: vec![("IMAP_EMPTYTRASH".into(), String::new())],
        ..Default::default()
    })
}

/// Messages whose bytes Courier changes on APPEND: a last line without a
/// line end (Courier adds CRLF) and a bare CR (Courier strips it).
fn rewritten() -> Folder {
    let message = |raw: &[u8], date: &str| Message {
        raw: raw.to_vec(),
        flags: vec!["\\Seen".into()],
        internal_date: date.into(),
    };
    Folder {
        name: "Rewritten".into(),
        subscribed: true,
        messages: vec![
            message(
                b"From: a@old.example.net\r\nSubject: no final line end\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\nMessage-ID: <no-final-crlf@corpus.mailport.test>\r\n\r\nthe last line has no CRLF",
                "01-Jun-2020 10:00:00 +0000",
            ),
            message(
                b"From: b@old.example.net\r\nSubject: bare CR\r\nDate: Tue, 2 Jun 2020 10:00:00 +0000\r\nMessage-ID: <bare-cr@corpus.mailport.test>\r\n\r\nbefore\rafter\r\n",
                "02-Jun-2020 10:00:00 +0000",
            ),
        ],
    }
}

/// Dovecot to Courier: everything arrives, the two messages Courier
/// rewrites are counted as changed by the destination, verify names the
/// change (line endings only) and passes, and re-runs with and without the
/// state file copy nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_to_courier_copies_everything_and_names_what_courier_rewrote() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        courier(),
    );
    let mut corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 61,
    });
    corpus.folders.push(rewritten());
    m.load(&corpus).await;
    let total = corpus.message_count() as u64;

    // Courier cannot hold a folder name outside Unicode's first plane: the
    // emoji folder is refused with Courier's words, everything else arrives.
    let j = m.copy_ending(1, &[]);
    assert_eq!(j["totals"]["copied"].as_u64(), Some(total - 2), "{j:#}");
    assert_eq!(j["totals"]["failed"], 2, "{j:#}");
    let emoji = j["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == "📧 Emoji")
        .unwrap();
    let reasons: Vec<&String> = emoji["failed"].as_object().unwrap().keys().collect();
    assert!(
        reasons.len() == 1
            && reasons[0].contains("cannot create destination folder \"📧 Emoji\"")
            && reasons[0].contains("Error in IMAP command received by server"),
        "{reasons:?}"
    );
    assert_eq!(j["totals"]["changed_by_destination"], 2, "{j:#}");
    // Without that folder, the mailbox is complete.
    let without_emoji = |sub: &str| {
        let mut c = m.command(sub);
        c.args(["--exclude", "Emoji"]);
        c
    };
    let total = total - 2;
    let out = m.run(&mut without_emoji("verify"), 0);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Rewritten: 2 messages are present with their line endings changed"),
        "{}",
        text(&out)
    );
    let v = json(&m.run(without_emoji("verify").arg("--json"), 0));
    for f in v["folders"].as_array().unwrap() {
        assert_eq!(f["missing"], 0, "{f:#}");
        assert_eq!(f["duplicates"], 0, "{f:#}");
        assert_eq!(f["extra"], 0, "{f:#}");
        let rewritten = if f["source"] == "Rewritten" { 2 } else { 0 };
        assert_eq!(f["line_endings_changed"], rewritten, "{f:#}");
    }
    // Folders live under INBOX. on Courier.
    let on_courier = snapshot(&m.dst).await;
    assert!(
        on_courier.folders.contains_key("Work/Projects"),
        "{:?}",
        on_courier.folders.keys()
    );
    assert_eq!(
        on_courier.folders.values().map(Vec::len).sum::<usize>() as u64,
        total
    );

    for extra in [&[][..], &["--no-state"][..]] {
        let out = without_emoji("copy")
            .arg("--json")
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", text(&out));
        let j = summary(&out);
        assert_eq!(j["totals"]["copied"], 0, "{extra:?}: {j:#}");
        assert_eq!(
            j["totals"]["already_present"].as_u64(),
            Some(total),
            "{extra:?}: {j:#}"
        );
    }
    let after = snapshot(&m.dst).await;
    assert_eq!(after, on_courier, "a re-run changed Courier's mailbox");
}

/// Courier to Dovecot: byte-exact (as Courier serves it), flags, dates,
/// folders out of `INBOX.`, subscriptions; verify clean; a re-run copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_to_dovecot_is_exact_and_verifies_clean() {
    let m = Migration::new(
        MAILPORT,
        courier(),
        start_dovecot(DovecotOptions::default()),
    );
    let mut corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 62,
    })
    .with_crlf();
    // Courier refuses folder names outside Unicode's first plane.
    corpus.folders.retain(|f| !f.name.contains('📧'));
    m.load(&corpus).await;
    let before = snapshot(&m.src).await;

    let j = summary(&m.run(m.command("copy").args(["--json", "--verify"]), 0));
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );
    let src_snap = snapshot(&m.src).await;
    let dst_snap = snapshot(&m.dst).await;
    assert_eq!(src_snap, before, "the copy changed the source");
    assert_eq!(src_snap.differences(&dst_snap, &[]), Vec::<String>::new());
    // Courier's LSUB also lists \Noselect parents (Old, of Old/Letters):
    // not subscriptions of a mailbox, and not carried over.
    for name in &src_snap.subscribed {
        let parent = src_snap.noselect.contains(name);
        assert_eq!(
            dst_snap.subscribed.contains(name),
            !parent,
            "subscription {name}"
        );
    }
    assert_eq!(m.copy(&[])["totals"]["copied"], 0);
}
