//! The proxy in front of a real Dovecot source, moving to a real Dovecot
//! destination, used by Python's imaplib (an unmodified client; only host
//! and port change). First login: the session reads the source, the
//! password is captured and the mailbox moved in the background. During the
//! final pass: "try again later". After it: the same password reads the
//! destination. A wrong password is refused before and after; an account
//! the project did not know is adopted.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_imap::server::Limits;
use mailport_project::{Admin, Project, ProjectKey, Settings};
use mailport_proxy::server::Proxy;
use mailport_proxy::{Listen, ProxyConfig, UnknownUsers};
use mailport_store::{MailboxState, ServedBy, Store};
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

const USERS: [(&str, &str); 2] = [("alice", "alice-Pw-4r"), ("bob", "bob s3cret")];

/// Every folder with its message count, as imaplib sees it; or the error.
const LIST: &str = r#"
import imaplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    c = imaplib.IMAP4(host, port)
    c.login(user, password)
except imaplib.IMAP4.error as e:
    print("ERROR", e)
    sys.exit(0)
out = []
typ, boxes = c.list()
for line in boxes:
    name = line.decode().rsplit(' ', 1)[-1].strip('"')
    typ, data = c.select('"%s"' % name, readonly=True)
    if typ == 'OK':
        out.append("%s %s" % (name, data[0].decode()))
c.logout()
print("\n".join(sorted(out)))
"#;

const APPEND: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
c.append("INBOX", None, None, b"From: late@example.org\r\nSubject: arrived late\r\nMessage-ID: <late@example.org>\r\n\r\nhello\r\n")
c.logout()
"#;

fn python(script: &str, args: &[String]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must run (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn folders(port: u16, user: &str, password: &str) -> String {
    python(
        LIST,
        &[
            "127.0.0.1".into(),
            port.to_string(),
            user.into(),
            password.into(),
        ],
    )
}

fn dovecot(masters: &std::path::Path) -> Dovecot {
    let extra_conf = format!(
        "auth_master_user_separator = *\npassdb {{\n  driver = passwd-file\n  master = yes\n  pass = yes\n  args = {}\n}}\n",
        masters.display()
    );
    Dovecot::start(DovecotOptions {
        users: USERS
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
        extra_conf,
        ..Default::default()
    })
    .expect("Dovecot must start")
}

async fn wait_for(project: &Project, login: &str, state: MailboxState) {
    for _ in 0..600 {
        if let Ok(Some(m)) = project.store.mailbox(&project.name, login).await {
            if m.state == state.as_str() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{login} never became {}", state.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mailbox_moves_at_its_users_login() {
    let dir = tempfile::tempdir().unwrap();
    let masters = dir.path().join("master-users");
    std::fs::write(&masters, "migrator:{PLAIN}migrator-Secret9\n").unwrap();
    let (src, dst) = (dovecot(&masters), dovecot(&masters));
    for (i, (user, _)) in USERS.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 12,
            large_attachment: 0,
            seed: 7 + i as u64,
        });
        let mut s = session::login(src.imap_port, user, src.password(user))
            .await
            .unwrap();
        session::load(&mut s, &corpus).await.unwrap();
    }

    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
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
        max_running: None,
        tls: mailport_project::settings::Tls {
            from_ca: Some(src.ca_pem().to_path_buf()),
            to_ca: Some(dst.ca_pem().to_path_buf()),
            ..Default::default()
        },
    };
    let project = Arc::new(Project::create(store, "acme", settings, key).await.unwrap());
    let proxy = Proxy::bind(
        project.clone(),
        ProxyConfig {
            listen: vec![Listen::Imap("127.0.0.1:0".parse().unwrap())],
            certificates: None,
            allow_plaintext: true,
            unknown_users: UnknownUsers::Adopt,
            limits: Limits::default(),
            workers: 2,
        },
    )
    .await
    .unwrap();
    let Listen::Imap(addr) = proxy.local_addrs()[0] else {
        panic!()
    };
    let cancel = Cancel::default();
    let running = tokio::spawn(proxy.run(cancel.clone()));
    let (alice, alice_pw) = USERS[0];

    // A wrong password: the source's refusal, nothing captured.
    let refused = tokio::task::spawn_blocking(move || folders(addr.port(), alice, "wrong"))
        .await
        .unwrap();
    assert!(
        refused.starts_with("ERROR") && refused.contains("AUTHENTICATIONFAILED"),
        "{refused}"
    );
    assert!(project
        .store
        .account("acme", alice)
        .await
        .unwrap()
        .is_none());

    // First login through the proxy reads the source, exactly.
    let through = tokio::task::spawn_blocking(move || folders(addr.port(), alice, alice_pw))
        .await
        .unwrap();
    let at_source = folders(src.imap_port, alice, alice_pw);
    assert!(
        !through.starts_with("ERROR") && through.contains("INBOX "),
        "{through}"
    );
    assert_eq!(through, at_source);

    // Captured (hash, not the password) and moved in the background.
    wait_for(&project, alice, MailboxState::Completed).await;
    let account = project.store.account("acme", alice).await.unwrap().unwrap();
    assert_eq!(account.served_by, ServedBy::Source);
    let hash = account.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(alice_pw));
    let moved = project.store.passes("acme", Some(alice)).await.unwrap();
    assert!(
        moved
            .iter()
            .any(|p| p.kind == "full" && p.outcome == "ok" && p.copied > 0),
        "{moved:?}"
    );

    // The final pass: logins are asked to try again later.
    assert!(project
        .store
        .set_served_by("acme", alice, ServedBy::Source, ServedBy::Moving, 1, None)
        .await
        .unwrap());
    let later = tokio::task::spawn_blocking(move || folders(addr.port(), alice, alice_pw))
        .await
        .unwrap();
    assert!(
        later.starts_with("ERROR") && later.contains("UNAVAILABLE"),
        "{later}"
    );
    assert!(project
        .store
        .set_served_by(
            "acme",
            alice,
            ServedBy::Moving,
            ServedBy::Destination,
            2,
            None
        )
        .await
        .unwrap());

    // Mail that reaches the old server now is not what the proxy serves:
    // the same password reads the destination.
    python(
        APPEND,
        &[src.imap_port.to_string(), alice.into(), alice_pw.into()],
    );
    let after = tokio::task::spawn_blocking(move || folders(addr.port(), alice, alice_pw))
        .await
        .unwrap();
    assert_eq!(
        after, at_source,
        "the destination holds what the source held at the move"
    );
    assert_ne!(after, folders(src.imap_port, alice, alice_pw));
    let wrong = tokio::task::spawn_blocking(move || folders(addr.port(), alice, "alice-Pw-4"))
        .await
        .unwrap();
    assert!(wrong.starts_with("ERROR"), "{wrong}");

    // An account the project did not know is adopted.
    let (bob, bob_pw) = USERS[1];
    let through = tokio::task::spawn_blocking(move || folders(addr.port(), bob, bob_pw))
        .await
        .unwrap();
    assert_eq!(through, folders(src.imap_port, bob, bob_pw));
    wait_for(&project, bob, MailboxState::Completed).await;

    // No password in the state file.
    cancel.cancel();
    running.await.unwrap();
    let bytes = std::fs::read(dir.path().join("state.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for (_, pw) in USERS {
        assert!(!text.contains(pw));
    }
}
