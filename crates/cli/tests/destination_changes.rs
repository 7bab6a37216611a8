//! The destination changes under a state file: the state file is believed
//! only while the destination backs it. An account wiped, a folder deleted
//! and recreated, a message deleted by its user, copies found by identity
//! whose flags later change on the source — each against real Dovecots.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{assert_totals_add_up, load, snapshot, start, text};
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions};

struct Pair {
    src: Dovecot,
    dst: Dovecot,
    state: tempfile::TempDir,
    corpus: Corpus,
}

impl Pair {
    async fn new(seed: u64) -> Pair {
        let src = start(DovecotOptions::default());
        let dst = start(DovecotOptions::default());
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 30,
            large_attachment: 100_000,
            seed,
        });
        load(&src, &corpus).await;
        Pair {
            src,
            dst,
            state: tempfile::tempdir().unwrap(),
            corpus,
        }
    }

    /// `mailport copy` from alice at src to alice at dst with `state`.
    fn run(&self, state: &Path) -> Command {
        let mut c = self.command("copy");
        c.arg("--state").arg(state);
        c
    }

    fn command(&self, sub: &str) -> Command {
        self.src
            .mailport_command(Path::new(env!("CARGO_BIN_EXE_mailport")), sub, &self.dst)
    }

    fn state(&self) -> std::path::PathBuf {
        self.state.path().join("state.db")
    }

    /// A copy with `--json`: exit 0, totals adding up; the summary.
    fn copy(&self, state: &Path, extra: &[&str]) -> serde_json::Value {
        let out = self.run(state).arg("--json").args(extra).output().unwrap();
        assert_ok(&out, &self.dst);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_totals_add_up(&j);
        j
    }

    fn verify(&self) -> Output {
        self.command("verify").output().unwrap()
    }

    async fn dst_session(&self) -> Session {
        session::login(self.dst.imap_port, "alice", self.dst.password("alice"))
            .await
            .unwrap()
    }

    async fn src_session(&self) -> Session {
        session::login(self.src.imap_port, "alice", self.src.password("alice"))
            .await
            .unwrap()
    }

    async fn assert_same(&self) {
        let (s, d) = (snapshot(&self.src).await, snapshot(&self.dst).await);
        assert_eq!(s.differences(&d, &[]), Vec::<String>::new());
    }
}

fn assert_ok(out: &Output, dst: &Dovecot) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\ndestination log:\n{}",
        text(out),
        dst.log_tail()
    );
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
    let p = Pair::new(41).await;
    let n = p.corpus.message_count() as u64;
    assert_eq!(total(&p.copy(&p.state(), &[]), "copied"), n);

    // The destination account is wiped (its mail directory removed while no
    // session is open): the server starts it afresh, INBOX included.
    std::fs::remove_dir_all(p.dst.dir().join("home/alice/Maildir")).unwrap();
    let j = p.copy(&p.state(), &[]);
    assert_eq!(total(&j, "copied"), n, "{j:#}");
    assert_eq!(total(&j, "already_present"), 0);
    let out = p.verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    p.assert_same().await;
    // And now it is believed again: nothing twice.
    assert_eq!(total(&p.copy(&p.state(), &[]), "copied"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_deleted_and_recreated_on_the_destination_is_filled_again() {
    let p = Pair::new(42).await;
    p.copy(&p.state(), &[]);
    let mut d = p.dst_session().await;
    let before = d.select(b"Work", true).await.unwrap();
    assert!(before.exists > 0);
    d.command(b"SELECT INBOX").await.unwrap();
    d.command(b"DELETE Work").await.unwrap();
    d.create(b"Work").await.unwrap();
    let after = d.select(b"Work", true).await.unwrap();
    assert_eq!(after.exists, 0);
    drop(d);

    let j = p.copy(&p.state(), &[]);
    assert_eq!(
        folder(&j, "Work")["copied"].as_u64(),
        Some(u64::from(before.exists))
    );
    assert_eq!(total(&j, "copied"), u64::from(before.exists), "{j:#}");
    let out = p.verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    p.assert_same().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_deleted_on_the_destination_is_reported_and_copied_again_only_when_asked() {
    let p = Pair::new(43).await;
    p.copy(&p.state(), &[]);
    let mut d = p.dst_session().await;
    d.select(b"INBOX", false).await.unwrap();
    d.command(b"UID STORE 3 +FLAGS (\\Deleted)").await.unwrap();
    d.command(b"UID EXPUNGE 3").await.unwrap();
    drop(d);

    for _ in 0..2 {
        // Reported as deleted there, not as present, and left deleted — on
        // the pass that finds it and on the next.
        let j = p.copy(&p.state(), &[]);
        assert_eq!(total(&j, "deleted_on_destination"), 1, "{j:#}");
        assert_eq!(folder(&j, "INBOX")["deleted_on_destination"], 1);
        assert_eq!(total(&j, "copied"), 0);
        assert_eq!(
            total(&j, "already_present") + 1,
            total(&j, "source_messages")
        );
    }
    let out = p.run(&p.state()).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 deleted on the destination"),
        "{}",
        text(&out)
    );
    let out = p.verify();
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify sees it missing: {}",
        text(&out)
    );

    let j = p.copy(&p.state(), &["--recopy-deleted"]);
    assert_eq!(total(&j, "copied"), 1, "{j:#}");
    assert_eq!(total(&j, "deleted_on_destination"), 0);
    let out = p.verify();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    p.assert_same().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_reach_copies_found_by_identity() {
    let p = Pair::new(44).await;
    p.copy(&p.state(), &[]);
    // A second state file (a new machine, another tool's copy): every
    // message is found by identity, and its destination UID recorded.
    let other = p.state.path().join("other.db");
    let j = p.copy(&other, &[]);
    assert_eq!(total(&j, "already_present"), total(&j, "source_messages"));

    let mut c = p.src_session().await;
    c.select(b"INBOX", false).await.unwrap();
    // A flag gained, and a whole set replaced (whatever the corpus gave).
    c.command(b"UID STORE 1 +FLAGS ($Fresh)").await.unwrap();
    c.command(b"UID STORE 2 FLAGS ($Later)").await.unwrap();
    let j = p.copy(&other, &[]);
    assert_eq!(folder(&j, "INBOX")["flags_updated"], 2, "{j:#}");
    assert_eq!(total(&j, "copied"), 0);
    p.assert_same().await;

    // Without a state file, flags the source gained reach the copies too.
    c.command(b"UID STORE 4 +FLAGS (\\Answered $Stateless)")
        .await
        .unwrap();
    let out = p
        .run(&other)
        .args(["--no-state", "--json"])
        .output()
        .unwrap();
    assert_ok(&out, &p.dst);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(total(&j, "copied"), 0, "{j:#}");
    assert_eq!(folder(&j, "INBOX")["flags_updated"], 1, "{j:#}");
    let s = snapshot(&p.src).await;
    let d = snapshot(&p.dst).await;
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
    let p = Pair::new(45).await;
    let copy_via = |host: &str, key: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailport"));
        c.stdin(std::process::Stdio::null())
            .args(["copy", "--json", "--from"])
            .arg(format!("imaps://alice@{host}:{}", p.src.imaps_port))
            .args(["--to", &p.dst.imap_url("alice")])
            .arg("--from-tls-ca")
            .arg(&p.src.certs.ca_pem)
            .arg("--to-tls-ca")
            .arg(&p.dst.certs.ca_pem)
            .arg("--state")
            .arg(p.state())
            .env("MAILPORT_FROM_PASSWORD", p.src.password("alice"))
            .env("MAILPORT_TO_PASSWORD", p.dst.password("alice"));
        if let Some(k) = key {
            c.args(["--state-key", k]);
        }
        let out = c.output().unwrap();
        assert_ok(&out, &p.dst);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let unchanged = |j: &serde_json::Value| {
        j["folders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["unchanged"] == true)
    };
    let first = copy_via("localhost", Some("alice at old"));
    assert_eq!(total(&first, "copied") as usize, p.corpus.message_count());
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
    let p = Pair::new(46).await;
    p.copy(&p.state(), &[]);
    let mut d = p.dst_session().await;
    let marked = d.select(b"INBOX", false).await.unwrap().exists as usize;
    d.command(b"UID STORE 1:* +FLAGS ($Mine)").await.unwrap();
    drop(d);
    let other = p.state.path().join("other.db");
    p.copy(&other, &[]);

    let mut c = p.src_session().await;
    c.select(b"INBOX", false).await.unwrap();
    c.command(b"UID STORE 1 +FLAGS ($Fresh)").await.unwrap();
    drop(c);
    for _ in 0..2 {
        p.copy(&other, &[]);
    }
    let d = snapshot(&p.dst).await;
    let inbox = &d.folders["INBOX"];
    let mine = inbox
        .iter()
        .filter(|m| m.flags.iter().any(|f| f == "$Mine"))
        .count();
    assert_eq!(mine, marked, "the user's marks were removed: {inbox:#?}");
    assert!(inbox.iter().any(|m| m.flags.iter().any(|f| f == "$Fresh")));
}
