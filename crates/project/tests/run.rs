//! A small organisation moved as a project, on real Dovecots: mailboxes
//! imported from a CSV (the destination reached by a Dovecot master user,
//! one wrong password, one waiting for its user), run by three workers,
//! then run again as a delta pass. The state file holds no password.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_project::csv_import;
use mailport_project::{run, Admin, Pass, Project, ProjectKey, RunOptions, RunProgress, Settings};
use mailport_store::{MailboxState, PassRow, Store};
use mailport_testbed::session::{self, Session};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

const USERS: [&str; 5] = ["ann", "ben", "cat", "dan", "eve"];

fn password(user: &str) -> String {
    format!("{user}-pw-Zq7")
}

fn dovecot(master: Option<&std::path::Path>) -> Dovecot {
    let extra_conf = match master {
        Some(file) => format!(
            "auth_master_user_separator = *\npassdb {{\n  driver = passwd-file\n  master = yes\n  pass = yes\n  args = {}\n}}\n",
            file.display()
        ),
        None => String::new(),
    };
    Dovecot::start(DovecotOptions {
        users: USERS.iter().map(|u| (u.to_string(), password(u))).collect(),
        extra_conf,
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
            workers: 3,
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
async fn a_small_organisation_moves_then_a_delta_pass_copies_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let masters = dir.path().join("master-users");
    std::fs::write(&masters, "migrator:{PLAIN}migrator-Secret9\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&masters, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let src = dovecot(None);
    let dst = dovecot(Some(&masters));
    let mut counts = HashMap::new();
    for (i, user) in USERS.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 8 + i,
            large_attachment: 20_000,
            seed: 100 + i as u64,
        });
        session::load(&mut login(&src, user).await, &corpus)
            .await
            .unwrap();
        counts.insert(user.to_string(), corpus.message_count() as i64);
    }

    let state_file = dir.path().join("state.db");
    let store = Store::open_sqlite(&state_file).await.unwrap();
    let key = ProjectKey::generate();
    let settings = Settings {
        from: format!("imap://127.0.0.1:{}", src.imap_port),
        to: format!("imap://127.0.0.1:{}", dst.imap_port),
        from_admin: None,
        to_admin: Some(Admin {
            login: "migrator".into(),
            style: "dovecot-master".into(),
            secret: Project::seal_admin(&key, "acme", "destination", "migrator-Secret9"),
        }),
        copy: Default::default(),
        verify: true,
        max_connections_per_host: None,
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
    let csv = format!(
        "source_login,source_password\r\nann,{}\r\nben,{}\r\ncat,\"{}\"\r\ndan,wrong-password\r\neve,\r\n",
        password("ann"),
        password("ben"),
        password("cat")
    );
    let parsed = csv_import::parse(csv.as_bytes(), None).unwrap();
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let rows: Vec<_> = parsed
        .rows
        .iter()
        .map(|r| project.mailbox_row(r).unwrap())
        .collect();
    project.store.put_mailboxes(&rows).await.unwrap();
    let project = Arc::new(project);

    let first = run_all(&project, Pass::Full).await;
    for user in ["ann", "ben", "cat"] {
        let (state, pass) = &first[user];
        assert_eq!(*state, MailboxState::Completed, "{user}: {pass:?}");
        assert_eq!(pass.copied, counts[user], "{user}: {pass:?}");
        assert_eq!(pass.outcome, "ok");
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
    let (state, pass) = &first["dan"];
    assert_eq!(*state, MailboxState::Failed, "{pass:?}");
    let dan = project.store.mailbox("acme", "dan").await.unwrap().unwrap();
    assert!(!dan.retryable, "a refused password is not retried: {dan:?}");
    assert!(
        dan.error.as_deref().unwrap_or("").contains("dan"),
        "{dan:?}"
    );
    // Waiting for its user's password: never queued, never run.
    assert!(!first.contains_key("eve"));
    let eve = project.store.mailbox("acme", "eve").await.unwrap().unwrap();
    assert_eq!(eve.state().unwrap(), MailboxState::WaitingForCredentials);

    // New mail for ann; the second run is a delta pass for everyone.
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
    session::load(&mut login(&src, "ann").await, &one)
        .await
        .unwrap();
    let second = run_all(&project, Pass::Delta).await;
    assert_eq!(second["ann"].1.copied, new_messages, "{:?}", second["ann"]);
    for user in ["ben", "cat"] {
        assert_eq!(second[user].1.copied, 0, "{user}: copied twice");
        assert_eq!(second[user].0, MailboxState::Completed);
    }
    let history = project.store.passes("acme", Some("ann")).await.unwrap();
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
    for secret in USERS
        .iter()
        .map(|u| password(u))
        .chain(["migrator-Secret9".into()])
    {
        assert!(!text.contains(&secret), "{secret} is in the state file");
    }
}
