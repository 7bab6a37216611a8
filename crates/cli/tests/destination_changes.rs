//! The destination changes under a state file: the state file is believed
//! only while the destination backs it. An account wiped, a folder deleted
//! and recreated, a message deleted by its user, copies found by identity
//! whose flags later change on the source — each against real Dovecots.

use mailport_testbed::cli::{login, snapshot, summary, text, Migration};
use mailport_testbed::{session, Corpus, CorpusOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

/// Two Dovecots, the corpus of `seed` loaded into the source.
async fn loaded(seed: u64) -> (Migration, Corpus) {
    let m = Migration::dovecots(MAILPORT);
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 30,
        large_attachment: 100_000,
        seed,
    });
    m.load(&corpus).await;
    (m, corpus)
}

/// A second state file beside the migration's own: a new machine, or
/// another tool's run, that knows none of the copies.
fn other_state(m: &Migration) -> String {
    m.work().join("other.db").to_str().unwrap().to_owned()
}

fn total(j: &serde_json::Value, what: &str) -> u64 {
    j["totals"][what].as_u64().unwrap()
}

fn folder<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == name)
        .unwrap_or_else(|| panic!("no folder {name} in {j:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_destination_account_is_filled_again() {
    let (m, corpus) = loaded(41).await;
    let n = corpus.message_count() as u64;
    assert_eq!(total(&m.copy(&[]), "copied"), n);

    // The destination account is wiped (its mail directory removed while no
    // session is open): the server starts it afresh, INBOX included.
    std::fs::remove_dir_all(m.dst.maildir("alice")).unwrap();
    let j = m.copy(&[]);
    assert_eq!(total(&j, "copied"), n, "{j:#}");
    assert_eq!(total(&j, "already_present"), 0);
    m.run(&mut m.command("verify"), 0);
    m.assert_same().await;
    // And now it is believed again: nothing twice.
    assert_eq!(total(&m.copy(&[]), "copied"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_deleted_and_recreated_on_the_destination_is_filled_again() {
    let (m, _) = loaded(42).await;
    m.copy(&[]);
    let mut d = login(&m.dst).await;
    let before = d.select(b"Work", true).await.unwrap();
    assert!(before.exists > 0);
    d.command(b"SELECT INBOX").await.unwrap();
    d.command(b"DELETE Work").await.unwrap();
    d.create(b"Work").await.unwrap();
    let after = d.select(b"Work", true).await.unwrap();
    assert_eq!(after.exists, 0);
    drop(d);

    let j = m.copy(&[]);
    assert_eq!(
        folder(&j, "Work")["copied"].as_u64(),
        Some(u64::from(before.exists))
    );
    assert_eq!(total(&j, "copied"), u64::from(before.exists), "{j:#}");
    m.run(&mut m.command("verify"), 0);
    m.assert_same().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_deleted_on_the_destination_is_reported_and_copied_again_only_when_asked() {
    let (m, _) = loaded(43).await;
    m.copy(&[]);
    let mut d = login(&m.dst).await;
    d.select(b"INBOX", false).await.unwrap();
    d.command(b"UID STORE 3 +FLAGS (\\Deleted)").await.unwrap();
    d.command(b"UID EXPUNGE 3").await.unwrap();
    drop(d);

    for _ in 0..2 {
        // Reported as deleted there, not as present, and left deleted — on
        // the pass that finds it and on the next.
        let j = m.copy(&[]);
        assert_eq!(total(&j, "deleted_on_destination"), 1, "{j:#}");
        assert_eq!(folder(&j, "INBOX")["deleted_on_destination"], 1);
        assert_eq!(total(&j, "copied"), 0);
        assert_eq!(
            total(&j, "already_present") + 1,
            total(&j, "source_messages")
        );
    }
    let out = m.command("copy").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 deleted on the destination"),
        "{}",
        text(&out)
    );
    let out = m.command("verify").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify sees it missing: {}",
        text(&out)
    );

    let j = m.copy(&["--recopy-deleted"]);
    assert_eq!(total(&j, "copied"), 1, "{j:#}");
    assert_eq!(total(&j, "deleted_on_destination"), 0);
    m.run(&mut m.command("verify"), 0);
    m.assert_same().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_reach_copies_found_by_identity() {
    let (m, _) = loaded(44).await;
    m.copy(&[]);
    // A second state file (a new machine, another tool's copy): every
    // message is found by identity, and its destination UID recorded.
    let other = other_state(&m);
    let j = m.copy(&["--state", &other]);
    assert_eq!(total(&j, "already_present"), total(&j, "source_messages"));

    let mut c = login(&m.src).await;
    c.select(b"INBOX", false).await.unwrap();
    // A flag gained, and a whole set replaced (whatever the corpus gave).
    c.command(b"UID STORE 1 +FLAGS ($Fresh)").await.unwrap();
    c.command(b"UID STORE 2 FLAGS ($Later)").await.unwrap();
    let j = m.copy(&["--state", &other]);
    assert_eq!(folder(&j, "INBOX")["flags_updated"], 2, "{j:#}");
    assert_eq!(total(&j, "copied"), 0);
    m.assert_same().await;

    // Without a state file, flags the source gained reach the copies too.
    c.command(b"UID STORE 4 +FLAGS (\\Answered $Stateless)")
        .await
        .unwrap();
    let j = m.copy(&["--state", &other, "--no-state"]);
    assert_eq!(total(&j, "copied"), 0, "{j:#}");
    assert_eq!(folder(&j, "INBOX")["flags_updated"], 1, "{j:#}");
    let s = snapshot(&m.src).await;
    let d = snapshot(&m.dst).await;
    let flags = |snap: &session::Snapshot| {
        snap.folders["INBOX"]
            .iter()
            .map(|m| m.flags.clone())
            .collect::<Vec<_>>()
    };
    assert!(flags(&d)
        .iter()
        .any(|f| f.iter().any(|x| x == "$Stateless")));
    assert_eq!(s.differences(&d, &[]), Vec::<String>::new());
}

/// `--state-key` names the mailbox pair in the state file: the same mailbox
/// reached through another address keeps its history (every folder known
/// unchanged), where the default key (the two URLs) starts afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_key_keeps_the_history_across_addresses() {
    let (m, corpus) = loaded(45).await;
    let copy_via = |host: &str, key: Option<&str>| {
        let from = format!("imaps://alice@{host}:{}", m.src.imaps_port);
        let mut c = m.command_via("copy", &from, &m.dst.imap_url("alice"));
        c.arg("--json");
        if let Some(k) = key {
            c.args(["--state-key", k]);
        }
        summary(&m.run(&mut c, 0))
    };
    let unchanged = |j: &serde_json::Value| {
        j["folders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["unchanged"] == true)
    };
    let first = copy_via("localhost", Some("alice at old"));
    assert_eq!(total(&first, "copied") as usize, corpus.message_count());
    let again = copy_via("127.0.0.1", Some("alice at old"));
    assert_eq!(total(&again, "copied"), 0);
    assert!(unchanged(&again), "the history was not found: {again:#}");
    // Without the key, the other address is another pair: found by identity.
    let fresh = copy_via("127.0.0.1", None);
    assert_eq!(total(&fresh, "copied"), 0);
    assert!(!unchanged(&fresh), "{fresh:#}");
}

/// Marks the user made on the destination before mailport found the copies
/// by identity survive later passes (they are never taken for flags the
/// source removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_made_on_the_destination_survive_copies_found_by_identity() {
    let (m, _) = loaded(46).await;
    m.copy(&[]);
    let mut d = login(&m.dst).await;
    let marked = d.select(b"INBOX", false).await.unwrap().exists as usize;
    d.command(b"UID STORE 1:* +FLAGS ($Mine)").await.unwrap();
    drop(d);
    let other = other_state(&m);
    m.copy(&["--state", &other]);

    let mut c = login(&m.src).await;
    c.select(b"INBOX", false).await.unwrap();
    c.command(b"UID STORE 1 +FLAGS ($Fresh)").await.unwrap();
    drop(c);
    for _ in 0..2 {
        m.copy(&["--state", &other]);
    }
    let d = snapshot(&m.dst).await;
    let inbox = &d.folders["INBOX"];
    let mine = inbox
        .iter()
        .filter(|m| m.flags.iter().any(|f| f == "$Mine"))
        .count();
    assert_eq!(mine, marked, "the user's marks were removed: {inbox:#?}");
    assert!(inbox.iter().any(|m| m.flags.iter().any(|f| f == "$Fresh")));
}
