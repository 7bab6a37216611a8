//! The `mailport` binary between two different IMAP implementations:
//! Dovecot and Cyrus IMAP 3.6, both private instances, in both directions.

use mailport_testbed::cli::{json, snapshot, start_cyrus, start_dovecot, summary, Migration};
use mailport_testbed::corpus::{Folder, Message};
use mailport_testbed::{
    session, Corpus, CorpusOptions, CyrusOptions, Dovecot, DovecotOptions, Layout,
};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

fn dovecot(layout: Layout) -> Dovecot {
    start_dovecot(DovecotOptions {
        layout,
        ..Default::default()
    })
}

fn message(raw: &[u8], flags: &[&str], date: &str) -> Message {
    Message {
        raw: raw.to_vec(),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        internal_date: date.into(),
    }
}

/// Messages Dovecot stores and serves, and each case Cyrus refuses in its
/// own words (first element: raw message, second: Cyrus's reason or None when
/// it must take it). Dovecot serves a NUL byte as 0x80 (BODY[] is not BINARY),
/// so Cyrus's NUL refusal cannot be reached from a Dovecot source.
fn hostile() -> (Folder, Vec<Option<&'static str>>) {
    let cases: Vec<(&[u8], Option<&str>)> = vec![
        (
            b"From: hdr@old.example.net\r\nBad Header: a space in the field name\r\nSubject: malformed header name\r\nMessage-ID: <bad-header@corpus.mailport.test>\r\n\r\nbody\r\n",
            Some("Message contains invalid header"),
        ),
        (
            b"From: colon@old.example.net\r\nSubject: header line without a colon\r\nNo colon on this header line\r\nMessage-ID: <no-colon@corpus.mailport.test>\r\n\r\nbody\r\n",
            Some("Message contains invalid header"),
        ),
        (
            b"From: ctl@old.example.net\r\nX-\x01Control: a control byte in the field name\r\nSubject: control byte\r\n\r\nbody\r\n",
            Some("Message contains invalid header"),
        ),
        // Taken by Cyrus: the neighbours of the refused ones must still arrive.
        (
            b"From: nul@old.example.net\r\nSubject: NUL byte (served as 0x80)\r\nMessage-ID: <nul@corpus.mailport.test>\r\n\r\nbefore\0after\r\n",
            None,
        ),
        (
            b"From: cr@old.example.net\r\nSubject: bare CR\r\n\r\nbefore\rafter\r\n",
            None,
        ),
        (
            b"From: fine@old.example.net\r\nSubject: an ordinary neighbour\r\nMessage-ID: <fine@corpus.mailport.test>\r\n\r\nno final line end",
            None,
        ),
    ];
    let dates = [
        "01-Feb-2011 08:00:00 +0100",
        "02-Feb-2012 09:00:00 -0500",
        "03-Mar-2013 10:00:00 +0000",
    ];
    let flags: [&[&str]; 3] = [&["\\Seen"], &[], &["\\Flagged", "$Label1"]];
    let folder = Folder {
        name: "Hostile".into(),
        subscribed: true,
        messages: cases
            .iter()
            .enumerate()
            .map(|(i, (raw, _))| message(raw, flags[i % 3], dates[i % 3]))
            .collect(),
    };
    (folder, cases.into_iter().map(|(_, why)| why).collect())
}

/// Dovecot (corpus plus messages Cyrus refuses) to Cyrus: every refusal is a
/// failure with Cyrus's reason, everything else arrives byte-exact, `verify`
/// finds exactly the refused ones missing, and a second run copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_to_cyrus_copies_reports_refusals_and_verifies() {
    let m = Migration::new(
        MAILPORT,
        dovecot(Layout::CourierDot),
        start_cyrus(CyrusOptions::default()),
    );
    let mut corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 31,
    });
    let (folder, reasons) = hostile();
    corpus.folders.push(folder);
    m.load(&corpus).await;
    let refused = reasons.iter().flatten().count();
    let total = corpus.message_count();

    let j = m.copy_ending(1, &[]);
    let t = &j["totals"];
    assert_eq!(t["failed"].as_u64().unwrap() as usize, refused, "{j:#}");
    assert_eq!(
        t["copied"].as_u64().unwrap() as usize,
        total - refused,
        "{j:#}"
    );
    assert_eq!(t["failed_folders"], 0, "{j:#}");
    for f in j["folders"].as_array().unwrap() {
        let failed = f["failed"].as_object().unwrap();
        if f["source"] == "Hostile" {
            let want = format!(
                "destination refused it: {}",
                "Message contains invalid header"
            );
            assert_eq!(
                failed.get(&want).and_then(|n| n.as_u64()),
                Some(refused as u64),
                "Cyrus's own reason, once per refused message: {f:#}"
            );
        } else {
            assert!(failed.is_empty(), "{f:#}");
        }
    }

    // verify: the refused messages, and only they, are missing.
    let manifest = m.work().join("manifest.jsonl");
    let out = m.run(
        m.command("verify")
            .args(["--json", "--manifest"])
            .arg(&manifest),
        1,
    );
    let v = json(&out);
    for f in v["folders"].as_array().unwrap() {
        let missing = if f["source"] == "Hostile" { refused } else { 0 };
        assert_eq!(f["missing"].as_u64().unwrap() as usize, missing, "{f:#}");
        assert_eq!(f["flags_differ"], 0, "{f:#}");
        assert_eq!(f["date_differs"], 0, "{f:#}");
        assert!(f["error"].is_null(), "{f:#}");
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), total);
    let missing: Vec<u64> = lines
        .iter()
        .filter(|l| l["outcome"] != "present")
        .map(|l| {
            assert_eq!(l["outcome"], "missing", "{l}");
            assert_eq!(l["folder"], "Hostile", "{l}");
            l["uid"].as_u64().unwrap()
        })
        .collect();
    // Loaded in order into an empty folder: UID n is case n.
    let want: Vec<u64> = (1..)
        .zip(&reasons)
        .filter(|(_, why)| why.is_some())
        .map(|(uid, _)| uid)
        .collect();
    assert_eq!(missing, want);

    // A second run copies nothing and duplicates nothing; the refusals stay failures.
    let j = m.copy_ending(1, &[]);
    assert_eq!(j["totals"]["copied"], 0, "{j:#}");
    assert_eq!(
        j["totals"]["already_present"].as_u64().unwrap() as usize,
        total - refused,
        "{j:#}"
    );
    let on_cyrus: usize = snapshot(&m.dst).await.folders.values().map(Vec::len).sum();
    assert_eq!(on_cyrus, total - refused, "duplicates on Cyrus");
}

/// Cyrus to Dovecot: everything arrives byte-exact (as Cyrus serves it), with
/// flags, INTERNALDATE instants, folders across a separator change, and
/// subscriptions; `verify` is clean and a second run copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_to_dovecot_is_exact_and_verifies_clean() {
    let m = Migration::new(
        MAILPORT,
        start_cyrus(CyrusOptions::default()),
        dovecot(Layout::CourierDot),
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 150_000,
        seed: 32,
    })
    .with_crlf();
    m.load(&corpus).await;
    let before = snapshot(&m.src).await;
    // Cyrus kept what was loaded: dates as instants, flags, every message.
    for f in &corpus.folders {
        let got = &before.folders[&f.name];
        assert_eq!(got.len(), f.messages.len(), "{}", f.name);
        for (m, s) in f.messages.iter().zip(got) {
            assert_eq!(
                mailport_mail::date::parse_internal_date(&m.internal_date),
                Some(s.internal_date),
                "{}",
                f.name
            );
        }
    }

    let j = summary(&m.run(m.command("copy").arg("--json").arg("--verify"), 0));
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );

    let v = json(&m.run(m.command("verify").arg("--json"), 0));
    for f in v["folders"].as_array().unwrap() {
        assert_eq!(f["present"], f["source_messages"], "{f:#}");
    }

    let src_snap = snapshot(&m.src).await;
    let dst_snap = snapshot(&m.dst).await;
    assert_eq!(src_snap, before, "the copy changed the source");
    let diff = src_snap.differences(&dst_snap, &[]);
    assert!(diff.is_empty(), "{diff:#?}");
    for name in src_snap.folders.keys() {
        assert!(dst_snap.folders.contains_key(name), "{name}");
    }
    for name in &src_snap.subscribed {
        assert!(dst_snap.subscribed.contains(name), "subscription {name}");
    }

    let j = m.copy(&[]);
    assert_eq!(j["totals"]["copied"], 0, "{j:#}");
    assert_eq!(
        snapshot(&m.dst).await,
        dst_snap,
        "the second run changed the destination"
    );
}

/// Cyrus lists other users' folders shared with alice (`Other Users/bob/...`)
/// and shared folders (`Shared Folders/...`) under LIST "" "*", beside her own
/// and with the same empty personal prefix: they are not hers to migrate, and
/// the plan must leave them out (as unplaced) instead of copying them as
/// personal folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_other_users_and_shared_folders_are_not_copied() {
    let src = start_cyrus(CyrusOptions {
        users: vec![
            ("alice".into(), "alice-secret".into()),
            ("bob".into(), "bob-secret".into()),
        ],
        ..Default::default()
    });
    src.admin(&["CREATE \"shared\"", "SETACL \"shared\" \"anyone\" lrs"])
        .unwrap();
    let mut bob = session::login(src.imap_port, "bob", src.password("bob"))
        .await
        .unwrap();
    let m = Migration::new(MAILPORT, src, dovecot(Layout::FsSlash));
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 2,
        large_attachment: 0,
        seed: 33,
    })
    .with_folder("Mine", 2, 3)
    .with_crlf();
    m.load(&corpus).await;
    let mut extra = Corpus { folders: vec![] }.with_folder("Projects", 1, 4);
    extra.folders[0].subscribed = false;
    session::load(&mut bob, &extra).await.unwrap();
    bob.command(b"SETACL \"Projects\" \"alice\" lr")
        .await
        .unwrap();

    let j = m.copy(&[]);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count(),
        "{j:#}"
    );
    let unplaced = j["plan"]["unplaced"].to_string();
    assert!(
        unplaced.contains("Other Users/bob/Projects") && unplaced.contains("Shared Folders/shared"),
        "{j:#}"
    );
    let on_dovecot = snapshot(&m.dst).await;
    for name in on_dovecot.folders.keys().chain(&on_dovecot.noselect) {
        assert!(
            !name.starts_with("Other Users") && !name.starts_with("Shared Folders"),
            "{name} copied as a personal folder: {:?}",
            on_dovecot.folders.keys()
        );
    }
}
