//! An organisation of 50 mailboxes moved as a project, on real Dovecots:
//! imported from a CSV (every third source mailbox reached by the source's
//! master user, the others by their passwords; the destination by its
//! master user; one wrong password; one waiting for its user), run by four
//! workers with verify, then run again as a delta pass. The report's totals
//! equal the sources', counted over IMAP. The state file holds no password.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_project::csv_import;
use mailport_project::{run, Admin, Pass, Project, ProjectKey, RunOptions, RunProgress, Settings};
use mailport_store::{MailboxState, PassRow, Store};
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

/// 50 users; `u07` has a wrong password in the file, `u08` none yet.
fn all_users() -> Vec<String> {
    (0..50).map(|i| format!("u{i:02}")).collect()
}

const WRONG: &str = "u07";
const WAITING: &str = "u08";

fn password(user: &str) -> String {
    format!("{user}-pw-Zq7")
}

fn dovecot() -> Dovecot {
    Dovecot::start(DovecotOptions {
        users: all_users()
            .iter()
            .map(|u| (u.clone(), password(u)))
            .collect(),
        master_user: Some(("migrator".into(), "migrator-Secret9".into())),
        ..Default::default()
    })
    .expect("Dovecot must start")
}

async fn login(d: &Dovecot, user: &str) -> Session {
    session::login(d.imap_port, user, d.password(user))
        .await
        .unwrap()
}

#[derive(Default)]
struct Seen {
    finished: Mutex<Vec<(String, MailboxState, PassRow)>>,
    events: Mutex<Vec<String>>,
}

impl RunProgress for Seen {
    fn event(&self, event: &mailport_engine::Event) {
        self.events
            .lock()
            .unwrap()
            .push(format!("{}: {}", event.job, event.kind));
    }
    fn finished(&self, login: &str, state: MailboxState, pass: &PassRow) {
        self.finished
            .lock()
            .unwrap()
            .push((login.into(), state, pass.clone()));
    }
}

async fn run_all(project: &Arc<Project>, pass: Pass) -> HashMap<String, (MailboxState, PassRow)> {
    let from = [MailboxState::NotStarted, MailboxState::Completed];
    project
        .store
        .queue(&project.name, &from, &[], &pass.stored())
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    run(
        project.clone(),
        RunOptions {
            workers: 4,
            owner: "test".into(),
            lease: Duration::from_secs(30),
            cancel: Cancel::default(),
        },
        seen.clone(),
    )
    .await
    .unwrap();
    // Three workers share the SQLite file: none of their writes may fail
    // for a lock another left behind.
    let events = seen.events.lock().unwrap().clone();
    assert!(!events.iter().any(|e| e.contains("locked")), "{events:#?}");
    let finished = seen.finished.lock().unwrap().clone();
    finished.into_iter().map(|(l, s, p)| (l, (s, p))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_mailboxes_move_then_a_delta_pass_copies_only_what_is_new() {
    let users = all_users();
    let dir = tempfile::tempdir().unwrap();
    let src = dovecot();
    let dst = dovecot();
    let mut counts = HashMap::new();
    for (i, user) in users.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 2 + i % 5,
            large_attachment: 0,
            seed: 100 + i as u64,
        });
        session::load(&mut login(&src, user).await, &corpus)
            .await
            .unwrap();
        counts.insert(user.clone(), corpus.message_count() as i64);
    }

    let state_file = dir.path().join("state.db");
    let store = Store::open_sqlite(&state_file).await.unwrap();
    let key = ProjectKey::generate();
    let admin = |side: &str| Admin {
        login: "migrator".into(),
        style: "dovecot-master".into(),
        secret: Project::seal_admin(&key, "acme", side, "migrator-Secret9"),
    };
    let settings = Settings {
        from: format!("imap://127.0.0.1:{}", src.imap_port),
        to: format!("imap://127.0.0.1:{}", dst.imap_port),
        from_admin: Some(admin("source")),
        to_admin: Some(admin("destination")),
        copy: Default::default(),
        verify: true,
        max_connections_per_host: None,
        max_running: None,
        domains: Vec::new(),
        tls: mailport_project::settings::Tls {
            from_ca: Some(src.ca_pem().to_path_buf()),
            to_ca: Some(dst.ca_pem().to_path_buf()),
            ..Default::default()
        },
    };
    let project = Project::create(store.clone(), "acme", settings, key)
        .await
        .unwrap();

    // No destination password column: the project's admin logs in there.
    let mut csv = String::from("source_login,source_password\r\n");
    for (i, user) in users.iter().enumerate() {
        let cell = match user.as_str() {
            WRONG => "wrong-password".to_string(),
            WAITING => String::new(),
            _ if i % 3 == 0 => "-".to_string(),
            _ => format!("\"{}\"", password(user)),
        };
        csv.push_str(&format!("{user},{cell}\r\n"));
    }
    let parsed = csv_import::parse(csv.as_bytes(), None).unwrap();
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let rows: Vec<_> = parsed
        .rows
        .iter()
        .map(|r| project.mailbox_row(r).unwrap())
        .collect();
    assert_eq!(rows.iter().filter(|r| r.source_auth == "admin").count(), 17);
    project.store.put_mailboxes(&rows).await.unwrap();
    let project = Arc::new(project);

    let first = run_all(&project, Pass::Full).await;
    let movable: Vec<&String> = users
        .iter()
        .filter(|u| *u != WRONG && *u != WAITING)
        .collect();
    for user in &movable {
        let (state, pass) = &first[user.as_str()];
        assert_eq!(*state, MailboxState::Completed, "{user}: {pass:?}");
        assert_eq!(pass.copied, counts[user.as_str()], "{user}: {pass:?}");
        assert_eq!(
            (pass.outcome.as_str(), pass.verified.as_deref()),
            ("ok", Some("ok")),
            "{user}"
        );
        let (a, b) = (
            session::snapshot(&mut login(&src, user).await)
                .await
                .unwrap(),
            session::snapshot(&mut login(&dst, user).await)
                .await
                .unwrap(),
        );
        assert_eq!(a.differences(&b, &[]), Vec::<String>::new(), "{user}");
    }
    // A wrong password fails with the server's reason and is not retried.
    let (state, pass) = &first[WRONG];
    assert_eq!(*state, MailboxState::Failed, "{pass:?}");
    let wrong = project.store.mailbox("acme", WRONG).await.unwrap().unwrap();
    assert!(
        !wrong.retryable,
        "a refused password is not retried: {wrong:?}"
    );
    assert!(
        wrong.error.as_deref().unwrap_or("").contains(WRONG),
        "{wrong:?}"
    );
    assert_eq!(wrong.attempts, 1, "tried once");
    // Waiting for its user's password: never queued, never run.
    assert!(!first.contains_key(WAITING));
    let waiting = project
        .store
        .mailbox("acme", WAITING)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        waiting.state().unwrap(),
        MailboxState::WaitingForCredentials
    );

    // The report's totals are the sources', counted over IMAP.
    let report = mailport_project::report::build(
        "acme",
        &project.store.mailboxes("acme").await.unwrap(),
        &project.store.passes("acme", None).await.unwrap(),
    );
    let sources: i64 = movable.iter().map(|u| counts[u.as_str()]).sum();
    assert_eq!(report.total.source_messages as i64, sources);
    assert_eq!(report.total.copied as i64, sources);

    // New mail for u01; the second run is a delta pass for everyone.
    let extra = Corpus::generate(&CorpusOptions {
        inbox_messages: 1,
        large_attachment: 0,
        seed: 999,
    });
    let inbox_only: Vec<_> = extra
        .folders
        .iter()
        .filter(|f| f.name == "INBOX")
        .cloned()
        .collect();
    let one = Corpus {
        folders: inbox_only,
    };
    let new_messages = one.message_count() as i64;
    session::load(&mut login(&src, "u01").await, &one)
        .await
        .unwrap();
    let second = run_all(&project, Pass::Delta).await;
    assert_eq!(second["u01"].1.copied, new_messages, "{:?}", second["u01"]);
    for user in movable.iter().filter(|u| u.as_str() != "u01") {
        assert_eq!(second[user.as_str()].1.copied, 0, "{user}: copied twice");
        assert_eq!(second[user.as_str()].0, MailboxState::Completed);
    }
    let history = project.store.passes("acme", Some("u01")).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, vec!["full", "delta"]);

    // The state file alone reveals no password.
    drop(project);
    drop(store);
    let mut bytes = std::fs::read(&state_file).unwrap();
    for extra in ["-wal", "-shm"] {
        let mut p = state_file.clone().into_os_string();
        p.push(extra);
        bytes.extend(std::fs::read(p).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&bytes);
    for secret in users
        .iter()
        .map(|u| password(u))
        .chain(["migrator-Secret9".into()])
    {
        assert!(!text.contains(&secret), "{secret} is in the state file");
    }
}
