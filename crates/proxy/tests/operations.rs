//! Running the proxy behind a load balancer and under watch: the PROXY
//! protocol header gives the real client address, which the source Dovecot
//! (trusting the proxy) logs as the remote address thanks to ID
//! `x-originating-ip` (IMAP) and XCLIENT (POP3), and which the proxy's
//! events record; Prometheus
//! metrics count sessions and logins; at stop, open sessions are told with
//! a BYE and the proxy returns.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{python, world_with, World, USERS};
use mailport_proxy::{Listen, Pop3Servers};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Logs in through a connection that starts with a PROXY v1 header naming
/// 203.0.113.7:40000 as the client; prints INBOX's message count.
const BEHIND_BALANCER: &str = r#"
import imaplib, socket, sys
class Balanced(imaplib.IMAP4):
    def _create_socket(self, timeout):
        s = socket.create_connection((self.host, self.port))
        s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 143\r\n")
        return s
c = Balanced("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
print(c.select("INBOX", readonly=True)[1][0].decode())
c.logout()
"#;

/// The same over POP3 (poplib), naming 203.0.113.8:40002; prints the
/// message count.
const POP3_BEHIND_BALANCER: &str = r#"
import poplib, socket, sys
class Balanced(poplib.POP3):
    def _create_socket(self, timeout):
        s = socket.create_connection((self.host, self.port))
        s.sendall(b"PROXY TCP4 203.0.113.8 127.0.0.1 40002 110\r\n")
        return s
c = Balanced("127.0.0.1", int(sys.argv[1]))
c.user(sys.argv[2])
c.pass_(sys.argv[3])
print(c.stat()[0])
c.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_a_balancer_with_metrics_and_a_clean_stop() {
    let World {
        dir: _dir,
        src,
        dst: _dst,
        project,
    } = world_with(true, "login_trusted_networks = 127.0.0.0/8\n").await;
    let (alice, alice_pw) = USERS[0];
    let proxy = mailport_proxy::Proxy::bind(
        project.clone(),
        mailport_proxy::ProxyConfig {
            allow_plaintext: true,
            proxy_protocol: true,
            metrics: Some("127.0.0.1:0".parse().unwrap()),
            drain: Duration::from_secs(5),
            pop3: Some(Pop3Servers {
                source: Pop3Servers::parse(&format!("pop3://127.0.0.1:{}", src.pop3_port)).unwrap(),
                destination: Pop3Servers::parse("pop3://127.0.0.1:9").unwrap(),
            }),
            ..mailport_proxy::ProxyConfig::new(
                vec![
                    Listen::Imap("127.0.0.1:0".parse().unwrap()),
                    Listen::Pop3("127.0.0.1:0".parse().unwrap()),
                ],
                None,
            )
        },
    )
    .await
    .unwrap();
    let port = proxy.local_addrs()[0].addr().port();
    let pop3_port = proxy.local_addrs()[1].addr().port();
    let metrics = proxy.metrics_addr().unwrap();
    let cancel = mailport_engine::Cancel::default();
    let running = tokio::spawn(proxy.run(cancel.clone()));

    let args = [port.to_string(), alice.into(), alice_pw.into()];
    let count = tokio::task::spawn_blocking(move || python(BEHIND_BALANCER, &args))
        .await
        .unwrap();
    assert!(count.trim().parse::<u32>().unwrap() > 0, "{count}");
    // The source saw the client, not the proxy.
    let log = std::fs::read_to_string(src.dir().join("dovecot.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("Login: user=<alice>") && l.contains("rip=203.0.113.7")),
        "{log}"
    );
    // So did the proxy's events.
    let mut clients = Vec::new();
    for _ in 0..100 {
        let events = project.store.events("acme", Some(alice), 10).await.unwrap();
        clients = events.into_iter().filter_map(|e| e.client).collect();
        if !clients.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(clients, ["203.0.113.7"]);
    // POP3 too: Dovecot announces XCLIENT to the proxy it trusts, and
    // logs the client the proxy names with it.
    let args = [pop3_port.to_string(), alice.into(), alice_pw.into()];
    let count = tokio::task::spawn_blocking(move || python(POP3_BEHIND_BALANCER, &args))
        .await
        .unwrap();
    assert!(count.trim().parse::<u32>().unwrap() > 0, "{count}");
    let log = std::fs::read_to_string(src.dir().join("dovecot.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("pop3-login")
            && l.contains("Login: user=<alice>")
            && l.contains("rip=203.0.113.8")),
        "{log}"
    );
    // A connection without the header is dropped unanswered.
    let mut bare = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    bare.write_all(b"A1 CAPABILITY\r\n").await.unwrap();
    let mut said = String::new();
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        BufReader::new(&mut bare).read_line(&mut said),
    )
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(n, 0, "{said}");

    // Metrics, as Prometheus would scrape them (curl here).
    let scrape = || {
        let out = Command::new("curl")
            .args(["--silent", "--show-error", "--fail"])
            .arg(format!("http://{metrics}/metrics"))
            .output()
            .expect("curl must run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = scrape();
    for line in [
        "mailport_proxy_logins_total{protocol=\"imap\",outcome=\"source\"} 1",
        "mailport_proxy_connections_total{protocol=\"imap\"} 1",
        "mailport_proxy_accounts{served_by=\"source\"} 1",
        "# TYPE mailport_proxy_relayed_bytes_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }

    // A session open at stop is told so, and the proxy returns.
    let mut open = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    open.write_all(b"PROXY TCP4 198.51.100.2 127.0.0.1 40001 143\r\n")
        .await
        .unwrap();
    let mut open = BufReader::new(open);
    let mut line = String::new();
    open.read_line(&mut line).await.unwrap();
    open.get_mut()
        .write_all(format!("A1 LOGIN {alice} \"{alice_pw}\"\r\n").as_bytes())
        .await
        .unwrap();
    line.clear();
    open.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("A1 OK"), "{line}");
    let relayed = scrape();
    assert!(
        relayed
            .lines()
            .any(|l| l == "mailport_proxy_sessions{state=\"relayed\",served_by=\"source\"} 1"),
        "{relayed}"
    );
    cancel.cancel();
    line.clear();
    tokio::time::timeout(Duration::from_secs(10), open.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert!(line.starts_with("* BYE [UNAVAILABLE]"), "{line}");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the proxy stops after the drain")
        .unwrap();
}
