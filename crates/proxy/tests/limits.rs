//! The proxy faces the internet: before login every input is bounded and
//! every limit is answered the IMAP way (BAD for a command it can skip, BYE
//! when the stream cannot be followed or the client must go), and a client
//! cannot hold a connection or many connections. No mail server is needed:
//! nothing here gets as far as a login.

use std::sync::Arc;
use std::time::Duration;

use mailport_engine::Cancel;
use mailport_project::{Project, ProjectKey, Settings};
use mailport_proxy::{Listen, Proxy, ProxyConfig, UnknownUsers};
use mailport_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn start(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut ProxyConfig)) -> (u16, Cancel) {
    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
    let settings = Settings::new("imap://127.0.0.1:9".into(), "imap://127.0.0.1:9".into());
    let project = Project::create(store, "acme", settings, ProjectKey::generate())
        .await
        .unwrap();
    let mut config = ProxyConfig {
        login_deadline: Duration::from_secs(2),
        connections_per_address: 3,
        ..ProxyConfig::new(vec![Listen::Imap("127.0.0.1:0".parse().unwrap())], None)
    };
    tweak(&mut config);
    let proxy = Proxy::bind(Arc::new(project), config).await.unwrap();
    let Listen::Imap(addr) = proxy.local_addrs()[0] else {
        panic!()
    };
    let cancel = Cancel::default();
    tokio::spawn(proxy.run(cancel.clone()));
    (addr.port(), cancel)
}

struct Client(BufReader<TcpStream>);

impl Client {
    async fn connect(port: u16) -> Client {
        Client(BufReader::new(
            TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        ))
    }

    /// The next line, or "" at the end of the stream (bounded: never hangs).
    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), self.0.read_line(&mut line))
            .await
            .expect("the proxy answers")
            .unwrap_or(0);
        line
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The proxy may already have closed: what matters is its answer.
        let _ = self.0.get_mut().write_all(bytes).await;
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), self.0.read_to_end(&mut rest))
            .await
            .expect("the proxy closes")
            .is_ok()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_before_login_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (port, cancel) = start(&dir, |_| {}).await;

    let mut c = Client::connect(port).await;
    assert!(c.line().await.starts_with("* OK [CAPABILITY IMAP4rev1"));
    // Commands that need a login, and nonsense, are BAD and the session goes on.
    c.send(b"a1 SELECT INBOX\r\n").await;
    assert!(c
        .line()
        .await
        .starts_with("a1 BAD SELECT needs a login first"));
    c.send(b"a2 LOGIN alice\r\n").await;
    assert!(c.line().await.starts_with("a2 BAD"));
    // Without TLS (and without --allow-plaintext) no password is taken.
    c.send(b"a3 LOGIN alice secret\r\n").await;
    assert!(c.line().await.starts_with("a3 NO [PRIVACYREQUIRED]"));
    // A literal too big for a credential: refused before the client sends it.
    c.send(b"a4 LOGIN {100000}\r\n").await;
    assert!(c.line().await.starts_with("a4 BAD literal too big"));
    c.send(b"a5 NOOP\r\n").await;
    assert!(c.line().await.starts_with("a5 OK"));
    // A line without end: BYE, closed.
    c.send(&vec![b'x'; 9000]).await;
    assert!(c
        .line()
        .await
        .starts_with("* BYE line longer than 8192 bytes"));
    assert!(c.closed().await);
    // Sent away: the proxy lingers until the client hangs up.
    drop(c);

    // A client that keeps talking without logging in is sent away.
    let mut c = Client::connect(port).await;
    c.line().await;
    for i in 0..30 {
        c.send(format!("n{i} NOOP\r\n").as_bytes()).await;
        assert!(c.line().await.starts_with(&format!("n{i} OK")));
    }
    c.send(b"n30 NOOP\r\n").await;
    assert!(c
        .line()
        .await
        .starts_with("* BYE too many commands before login"));
    drop(c);
    // The proxy sees the hang-up and frees the connection's slot.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Three connections from one address at most; a slot comes back when
    // a session ends.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(port).await;
        assert!(c.line().await.starts_with("* OK"));
        held.push(c);
    }
    let mut fourth = Client::connect(port).await;
    assert_eq!(
        fourth.line().await,
        "* BYE too many connections from your address\r\n"
    );
    // Nobody logs in: the deadline (2 s here) ends all three.
    for c in &mut held {
        assert!(c.closed().await);
    }
    let mut again = Client::connect(port).await;
    assert!(again.line().await.starts_with("* OK"));
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown users refused: a wrong login needs no mail server here.
    let (port, cancel) = start(&dir, |c| {
        c.allow_plaintext = true;
        c.unknown_users = UnknownUsers::Refuse;
        c.login_deadline = Duration::from_secs(60);
    })
    .await;
    let mut c = Client::connect(port).await;
    c.line().await;
    for i in 0..5 {
        c.send(format!("f{i} LOGIN mallory guess{i}\r\n").as_bytes())
            .await;
        assert_eq!(
            c.line().await,
            format!("f{i} NO [AUTHENTICATIONFAILED] unknown user\r\n")
        );
    }
    // The sixth is refused without being checked, for that address and
    // for that account.
    c.send(b"f5 LOGIN mallory guess5\r\n").await;
    assert!(c.line().await.contains("too many failed logins"));
    c.send(b"f6 LOGIN eve guess\r\n").await;
    assert!(c.line().await.contains("too many failed logins"));
    cancel.cancel();
}
