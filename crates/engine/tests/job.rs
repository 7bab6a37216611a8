//! The mailbox job as a front door other than the CLI uses it (a project,
//! the proxy): cancelled mid-copy, then run again under its own key through
//! another address; events carry the job's id. Real Dovecots.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mailport_engine::job::{State, StateKey};
use mailport_engine::{Cancel, Event, EventKind, Job, JobId, Phase, Progress, Side, Source, Store};
use mailport_store::FolderKey;
use mailport_testbed::relay::Relay;
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions};

/// Cancels the job once `after` messages are confirmed; keeps every event
/// and phase.
struct Watcher {
    cancel: Cancel,
    after: u64,
    confirmed: AtomicU64,
    events: Mutex<Vec<Event>>,
    phases: Mutex<Vec<String>>,
}

impl Watcher {
    fn new(cancel: Cancel, after: u64) -> Arc<Watcher> {
        Arc::new(Watcher {
            cancel,
            after,
            confirmed: AtomicU64::new(0),
            events: Mutex::default(),
            phases: Mutex::default(),
        })
    }
}

impl Progress for Watcher {
    fn messages(&self, _index: usize, n: u64) {
        if self.confirmed.fetch_add(n, Ordering::SeqCst) + n >= self.after {
            self.cancel.cancel();
        }
    }
    fn event(&self, event: &Event) {
        self.events.lock().unwrap().push(event.clone());
    }
    fn phase(&self, phase: Phase<'_>) {
        let name = match phase {
            Phase::Copied(_) => "copied",
            Phase::Verifying => "verifying",
            Phase::Verified(_) => "verified",
        };
        self.phases.lock().unwrap().push(name.into());
    }
}

async fn login(d: &Dovecot) -> Session {
    session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap()
}

fn job(src: Source, dst: &Dovecot, dst_url: &str, store: &Store) -> Job {
    let mut job = Job::new(src, common::connector(dst, dst_url).into());
    job.id = JobId::from("mailbox-7");
    job.state = Some(State {
        store: store.clone(),
        key: StateKey::Named("mailbox-7".into()),
    });
    job.verify = true;
    job.options.connections = 2;
    job.options.batch_messages = 20;
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_job_resumes_under_its_key_through_another_address() {
    let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 400,
        large_attachment: 50_000,
        seed: 12,
    });
    session::load(&mut login(&src).await, &corpus)
        .await
        .unwrap();
    let total: u64 = corpus.folders.iter().map(|f| f.messages.len() as u64).sum();
    let state = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&state.path().join("state.db"))
        .await
        .unwrap();

    // First run: the destination given as implicit TLS on its STARTTLS port
    // (discovery finds STARTTLS and says so), cancelled after 100 messages.
    let cancel = Cancel::default();
    let watcher = Watcher::new(cancel.clone(), 100);
    let wrong_route = format!("imaps://alice@127.0.0.1:{}", dst.imap_port);
    let source = common::connector(&src, &src.imap_url("alice")).into();
    let first = job(source, &dst, &wrong_route, &store)
        .run(watcher.clone(), cancel)
        .await
        .unwrap();
    assert!(first.copy.interrupted, "the cancel was not seen");
    assert!(
        first.copy.folders.iter().all(|f| f.adds_up()),
        "{:#?}",
        first.copy.folders
    );
    assert!(first.verify.is_none(), "a cancelled job verified");
    assert_eq!(*watcher.phases.lock().unwrap(), vec!["copied"]);
    let copied_first = first.copy.totals.copied;
    assert!(
        copied_first >= 100 && copied_first < total,
        "{copied_first} of {total}"
    );
    let events = watcher.events.lock().unwrap().clone();
    let route = events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::RouteFound {
                    side: Side::Destination,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("no route event: {events:#?}"));
    assert_eq!(&*route.job, "mailbox-7");
    assert!(
        route.kind.to_string().contains("STARTTLS"),
        "{}",
        route.kind
    );

    // The history is filed under the job's key, not under its addresses.
    let inbox = login(&src)
        .await
        .select(b"INBOX", true)
        .await
        .unwrap()
        .uidvalidity;
    let key = |pair: &str| FolderKey {
        pair: pair.into(),
        folder: "INBOX".into(),
        uidvalidity: inbox,
    };
    assert!(!store.entries(&key("mailbox-7")).await.unwrap().is_empty());

    // Second run: the source reached through another address (a relay on
    // another port, as a proxy or a new name would be).
    let relay = Relay::start(src.imap_port).await.unwrap();
    let via_relay = format!("imap://alice@127.0.0.1:{}", relay.port);
    let cancel = Cancel::default();
    let watcher = Watcher::new(cancel.clone(), u64::MAX);
    let source = common::connector(&src, &via_relay).into();
    let second = job(source, &dst, &dst.imap_url("alice"), &store)
        .run(watcher.clone(), cancel)
        .await
        .unwrap();
    assert!(!second.copy.interrupted);
    assert!(second.is_clean(), "{:#?}", second.copy.folders);
    assert!(second.verify.as_ref().is_some_and(|v| v.is_ok()));
    assert_eq!(
        *watcher.phases.lock().unwrap(),
        vec!["copied", "verifying", "verified"]
    );
    // Nothing twice: what the first run copied is not copied again.
    assert_eq!(copied_first + second.copy.totals.copied, total);
    let (a, b) = (
        session::snapshot(&mut login(&src).await).await.unwrap(),
        session::snapshot(&mut login(&dst).await).await.unwrap(),
    );
    // Folder by folder, each message once (in any order: two connections
    // shared the INBOX, so the destination numbered them in another order).
    assert_eq!(a.differences(&b, &[]), Vec::<String>::new());
}

/// Delivers one message to alice's source INBOX as the job starts its
/// verify: mail arriving after the copy read the folder.
struct MailArrivesBeforeVerify {
    port: u16,
    password: String,
}

impl Progress for MailArrivesBeforeVerify {
    fn phase(&self, phase: Phase<'_>) {
        if !matches!(phase, Phase::Verifying) {
            return;
        }
        let script = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login("alice", sys.argv[2])
c.append("INBOX", None, None, b"From: late@example.org\r\nSubject: late\r\nMessage-ID: <late@example.org>\r\n\r\nhi\r\n")
c.logout()
"#;
        let appended = std::process::Command::new("python3")
            .args(["-c", script, &self.port.to_string(), &self.password])
            .status()
            .expect("python3 runs");
        assert!(appended.success());
    }
}

/// A message that reaches the source between the copy and its verify is
/// not "missing" (the copy never saw it): it is counted as arrived, the
/// verify passes, and the next pass copies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_arriving_during_the_verify_is_the_next_passs() {
    let src = Dovecot::start(DovecotOptions::default()).expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions::default()).expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 0,
        seed: 5,
    });
    session::load(&mut login(&src).await, &corpus)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
    let src_url = format!("imap://alice@127.0.0.1:{}", src.imap_port);
    let dst_url = format!("imap://alice@127.0.0.1:{}", dst.imap_port);
    let source = || Source::Imap(common::connector(&src, &src_url));
    let arrives = Arc::new(MailArrivesBeforeVerify {
        port: src.imap_port,
        password: src.password("alice").into(),
    });
    let first = job(source(), &dst, &dst_url, &store)
        .run(arrives, Cancel::default())
        .await
        .unwrap();
    let v = first.verify.expect("verified");
    let inbox = v.folders.iter().find(|f| f.source == "INBOX").unwrap();
    assert_eq!((inbox.arrived, inbox.missing), (1, 0), "{inbox:?}");
    assert!(v.is_ok());
    let seen = inbox.present;
    let second = job(source(), &dst, &dst_url, &store)
        .run(Arc::new(Quiet), Cancel::default())
        .await
        .unwrap();
    let v = second.verify.expect("verified");
    let inbox = v.folders.iter().find(|f| f.source == "INBOX").unwrap();
    assert_eq!(
        (inbox.arrived, inbox.missing, inbox.present),
        (0, 0, seen + 1)
    );
}

struct Quiet;
impl Progress for Quiet {}
