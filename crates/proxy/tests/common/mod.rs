//! What the proxy's tests share: two private Dovecots (source and
//! destination with different separators and prefixes, the destination's
//! master user the project's admin there),
//! every user's mail on the source, a project between them, a proxy on
//! loopback, and Python as the unmodified client.

#![allow(dead_code)]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_net::tls_server::{CertSpec, Certificates};
use mailport_project::{Admin, Project, ProjectKey, Settings};
use mailport_proxy::server::Proxy;
use mailport_proxy::smtp_front::{Mta, SmtpConfig};
use mailport_proxy::{Listen, ProxyConfig};
use mailport_store::{MailboxState, Store};
use mailport_testbed::session;

use mailport_store::{AccountRow, ServedBy};
use mailport_testbed::{
    Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer, Layout, Postfix, PostfixOptions,
};

pub const USERS: [(&str, &str); 2] = [("alice", "alice-Pw-4r"), ("bob", "bob s3cret")];

/// Appends a message tagged argv[4] to INBOX at port argv[1] as argv[2]/argv[3].
pub const APPEND: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
tag = sys.argv[4].encode()
c.append("INBOX", None, None, b"From: someone@example.org\r\nSubject: " + tag + b"\r\nMessage-ID: <" + tag + b"@example.org>\r\n\r\nhello\r\n")
c.logout()
"#;

/// Appends a message tagged `tag` to `user`'s INBOX at `port` (IMAP).
pub fn append(port: u16, user: &str, password: &str, tag: &str) {
    python(
        APPEND,
        &[port.to_string(), user.into(), password.into(), tag.into()],
    );
}

pub fn python(script: &str, args: &[String]) -> String {
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

pub fn dovecot(pop3: bool, extra_conf: &str, layout: Layout) -> Dovecot {
    Dovecot::start(DovecotOptions {
        pop3,
        lmtp: true,
        sasl: true,
        layout,
        extra_conf: extra_conf.to_string(),
        users: USERS
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
        master_user: Some(("migrator".into(), "migrator-Secret9".into())),
        ..Default::default()
    })
    .expect("Dovecot must start")
}

pub async fn wait_for(project: &Project, login: &str, state: MailboxState) {
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

/// Two Dovecots (the destination's master user is the project's admin
/// there), every user's mail on the source, and a project between them.
pub struct World {
    pub dir: tempfile::TempDir,
    pub src: Dovecot,
    pub dst: Dovecot,
    pub project: Arc<Project>,
}

pub async fn world(pop3: bool) -> World {
    world_with(pop3, "").await
}

/// [`world`] with lines added to the source Dovecot's configuration.
pub async fn world_with(pop3: bool, source_conf: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    // An old host's layout (Maildir++, `.`, `INBOX.` prefix) to a new one's.
    let src = dovecot(pop3, source_conf, Layout::CourierDot);
    let dst = dovecot(pop3, "", Layout::FsSlash);
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
        domains: vec!["example.org".into()],
        tls: mailport_project::settings::Tls {
            from_ca: Some(src.ca_pem().to_path_buf()),
            to_ca: Some(dst.ca_pem().to_path_buf()),
            ..Default::default()
        },
    };
    let project = Arc::new(Project::create(store, "acme", settings, key).await.unwrap());
    World {
        dir,
        src,
        dst,
        project,
    }
}

pub async fn proxy(
    project: &Arc<Project>,
    listen: Vec<Listen>,
    certificates: Option<Arc<Certificates>>,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> (Vec<Listen>, Cancel, tokio::task::JoinHandle<()>) {
    let mut config = ProxyConfig {
        workers: 2,
        ..ProxyConfig::new(listen, certificates)
    };
    tweak(&mut config);
    let proxy = Proxy::bind(project.clone(), config).await.unwrap();
    let addrs = proxy.local_addrs();
    let cancel = Cancel::default();
    let running = tokio::spawn(proxy.run(cancel.clone()));
    (addrs, cancel, running)
}

/// A CA and a certificate for `localhost`, loaded as the proxy's; the CA's
/// path for clients.
pub fn localhost_certificates(dir: &tempfile::TempDir) -> (Arc<Certificates>, String) {
    let certs = mailport_testbed::certs::generate(&certs_dir(dir)).unwrap();
    let spec: CertSpec = format!(
        "localhost={},{}",
        certs.cert_pem.display(),
        certs.key_pem.display()
    )
    .parse()
    .unwrap();
    let ca = certs.ca_pem.to_str().unwrap().to_string();
    (Certificates::load(&[spec]).unwrap(), ca)
}

fn certs_dir(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let d = dir.path().join("proxy-certs");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Messages in `user`'s INBOX on a server.
pub async fn inbox_count(server: &Dovecot, user: &str) -> u32 {
    let mut s = session::login(server.imap_port, user, server.password(user))
        .await
        .unwrap();
    s.select(b"INBOX", true).await.unwrap().exists
}

/// Polls `ready` every 200 ms for up to a minute; panics with `what`.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut ready: impl FnMut() -> F,
) {
    for _ in 0..300 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within a minute");
}

/// A proxy on one plain-text IMAP port (passwords allowed without TLS on
/// loopback), set up further by `tweak`; its port.
pub async fn plain_proxy(
    project: &Arc<Project>,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> (u16, Cancel, tokio::task::JoinHandle<()>) {
    let listen = vec![Listen::Imap("127.0.0.1:0".parse().unwrap())];
    let (addrs, cancel, running) = proxy(project, listen, None, |c| {
        c.allow_plaintext = true;
        tweak(c);
    })
    .await;
    (addrs[0].addr().port(), cancel, running)
}

/// The old and the new server's MTA in front of the source and the
/// destination Dovecot.
pub fn mtas(src: &Dovecot, dst: &Dovecot) -> (Postfix, Postfix) {
    (
        postfix("old.example.org", src),
        postfix("new.example.org", dst),
    )
}

/// A private Postfix delivering `example.org` to `dovecot` by LMTP,
/// trusting the proxy (XCLIENT), with submission (SASL by the Dovecot) and
/// STARTTLS.
pub fn postfix(name: &str, dovecot: &Dovecot) -> Postfix {
    Postfix::start(PostfixOptions {
        hostname: name.into(),
        domains: vec!["example.org".into()],
        lmtp_port: dovecot.lmtp_port,
        trust_loopback_proxy: true,
        sasl_port: Some(dovecot.sasl_port),
        certs: Some(dovecot.certs.clone()),
        ..Default::default()
    })
    .expect("Postfix must start")
}

/// An account of the project, served by `served_by`.
pub fn account_row(login: &str, served_by: ServedBy) -> AccountRow {
    AccountRow {
        login: login.into(),
        served_by,
        password_hash: None,
        first_login_at: 1,
        last_login_at: 1,
        moved_at: None,
        following: false,
        detail: None,
        changed_at: None,
    }
}

/// The SMTP front between the test's two MTAs.
pub fn smtp_config(old_mta: &Postfix, new_mta: &Postfix) -> SmtpConfig {
    SmtpConfig::new(
        "mx.example.org".into(),
        Mta::parse(&format!("smtp://127.0.0.1:{}", old_mta.smtp_port)).unwrap(),
        Mta::parse(&format!("smtp://127.0.0.1:{}", new_mta.smtp_port)).unwrap(),
    )
}
