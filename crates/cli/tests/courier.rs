//! The `mailport` binary between Dovecot and Courier-IMAP 5.0 (the server
//! many hosting providers run), both private instances, in both directions.
//!
//! Courier refuses an APPEND into a folder the same connection has
//! EXAMINEd, keeps every folder under `INBOX.` with `.` as separator, has
//! no MULTIAPPEND or CONDSTORE, and rewrites line endings on APPEND.

mod common;

use common::{between as mailport, json, load, snapshot, text, with_crlf};

use mailport_testbed::corpus::{Folder, Message};
use mailport_testbed::{Corpus, CorpusOptions, Courier, CourierOptions, Dovecot, DovecotOptions};

fn start_courier() -> Courier {
    Courier::start(CourierOptions {
        // Courier empties Trash of messages older than 7 days at login by
        // default; the corpus has old ones.
        extra_env: vec![("IMAP_EMPTYTRASH".into(), String::new())],
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("Courier-IMAP must start for this test: {e}"))
}

fn start_dovecot() -> Dovecot {
    common::start(DovecotOptions::default())
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
    let src = start_dovecot();
    let dst = start_courier();
    let mut corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 61,
    });
    corpus.folders.push(rewritten());
    load(&src, &corpus).await;
    let total = corpus.message_count() as u64;
    let logs = || format!("destination log:\n{}", dst.log_tail());

    // Courier cannot hold a folder name outside Unicode's first plane: the
    // emoji folder is refused with Courier's words, everything else arrives.
    let out = mailport(&src, "copy", &dst).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out), logs());
    let j = json(&out);
    common::assert_totals_add_up(&j);
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
    let run = |sub: &str| {
        let mut c = mailport(&src, sub, &dst);
        c.args(["--exclude", "Emoji"]);
        c
    };
    let total = total - 2;
    let out = run("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Rewritten: 2 messages are present with their line endings changed"),
        "{}",
        text(&out)
    );
    let v = {
        let out = run("verify").arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        json(&out)
    };
    for f in v["folders"].as_array().unwrap() {
        assert_eq!(f["missing"], 0, "{f:#}");
        assert_eq!(f["duplicates"], 0, "{f:#}");
        assert_eq!(f["extra"], 0, "{f:#}");
        let rewritten = if f["source"] == "Rewritten" { 2 } else { 0 };
        assert_eq!(f["line_endings_changed"], rewritten, "{f:#}");
    }
    // Folders live under INBOX. on Courier.
    let on_courier = snapshot(&dst).await;
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
        let out = run("copy").arg("--json").args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", text(&out));
        let j = json(&out);
        assert_eq!(j["totals"]["copied"], 0, "{extra:?}: {j:#}");
        assert_eq!(
            j["totals"]["already_present"].as_u64(),
            Some(total),
            "{extra:?}: {j:#}"
        );
    }
    let after = snapshot(&dst).await;
    assert_eq!(after, on_courier, "a re-run changed Courier's mailbox");
}

/// Courier to Dovecot: byte-exact (as Courier serves it), flags, dates,
/// folders out of `INBOX.`, subscriptions; verify clean; a re-run copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courier_to_dovecot_is_exact_and_verifies_clean() {
    let src = start_courier();
    let dst = start_dovecot();
    let mut corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 62,
    });
    with_crlf(&mut corpus);
    // Courier refuses folder names outside Unicode's first plane.
    corpus.folders.retain(|f| !f.name.contains('📧'));
    load(&src, &corpus).await;
    let before = snapshot(&src).await;

    let out = mailport(&src, "copy", &dst)
        .args(["--json", "--verify"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nsource log:\n{}",
        text(&out),
        src.log_tail()
    );
    let j = json(&out);
    common::assert_totals_add_up(&j);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );
    let src_snap = snapshot(&src).await;
    let dst_snap = snapshot(&dst).await;
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
    let out = mailport(&src, "copy", &dst).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["totals"]["copied"], 0);
}
