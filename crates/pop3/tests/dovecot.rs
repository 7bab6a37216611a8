//! The POP3 client against a real Dovecot POP3 service: every login Dovecot
//! offers, over plain text, STLS and POP3S; listings; every message streamed
//! over RETR and compared byte for byte with what IMAP serves; DELE, RSET, QUIT.

use std::time::Duration;

use mailport_imap::Client as ImapClient;
use mailport_net::{connect_tcp, MaybeTls, TlsConnector, TlsOptions};
use mailport_pop3::{Client, ClientConfig, Error};
use mailport_testbed::corpus::Message;
use mailport_testbed::{session, Corpus, CorpusOptions, Dovecot, DovecotOptions};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);

fn start() -> Dovecot {
    Dovecot::start(DovecotOptions {
        pop3: true,
        ..Default::default()
    })
    .expect("dovecot with POP3 must start")
}

/// The corpus plus messages that exercise dot-stuffing and long lines.
fn corpus() -> Corpus {
    let mut c = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 300_000,
        seed: 11,
    });
    let long_line = "x".repeat(200_000);
    let odd: Vec<Vec<u8>> = vec![
        b"Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\nmiddle . dot\r\n.\r\n"
            .to_vec(),
        format!("Subject: one long line\r\n\r\n.{long_line}\r\nend\r\n").into_bytes(),
        b"Subject: no final line end\r\n\r\nlast line.".to_vec(),
        b"Subject: empty body\r\n\r\n".to_vec(),
    ];
    let inbox = c
        .folders
        .iter_mut()
        .find(|f| f.name == "INBOX")
        .expect("corpus has INBOX");
    for raw in odd {
        inbox.messages.push(Message {
            raw,
            flags: vec![],
            internal_date: "01-Feb-2024 10:00:00 +0000".into(),
        });
    }
    c
}

/// Loads the corpus over IMAP and returns INBOX as IMAP serves it
/// (`BODY[]`, in sequence order, which is POP3's message order).
async fn load(d: &Dovecot) -> Vec<Vec<u8>> {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .expect("IMAP login");
    session::load(&mut c, &corpus())
        .await
        .expect("corpus loads");
    imap_inbox(&mut c).await
}

/// What RETR can give for a message IMAP serves as `body`. A multi-line
/// answer ends with CRLF "." CRLF (RFC 1939 3), so a message whose last line
/// has no line end comes with one added (Dovecot's LIST still counts the size
/// without it).
fn over_pop3(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    if !b.is_empty() && !b.ends_with(b"\n") {
        b.extend_from_slice(b"\r\n");
    }
    b
}

async fn imap_inbox(c: &mut ImapClient<TcpStream>) -> Vec<Vec<u8>> {
    c.select(b"INBOX", true).await.expect("SELECT INBOX");
    let mut bodies = Vec::new();
    c.body_fetch_start("1:*").await.expect("FETCH");
    while let Some(start) = c.body_next().await.expect("FETCH body") {
        let mut body = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = c.body_read(&mut buf).await.expect("FETCH read");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        assert_eq!(start.seq as usize, bodies.len() + 1, "FETCH in order");
        bodies.push(body);
    }
    bodies
}

fn config() -> ClientConfig {
    ClientConfig {
        timeout: TIMEOUT,
        ..Default::default()
    }
}

async fn plain(d: &Dovecot) -> Client<TcpStream> {
    let tcp = connect_tcp("127.0.0.1", d.pop3_port, TIMEOUT)
        .await
        .expect("TCP to pop3");
    Client::connect(tcp, config()).await.expect("POP3 greeting")
}

fn tls(d: &Dovecot) -> TlsConnector {
    TlsConnector::new(&TlsOptions {
        ca_file: Some(d.certs.ca_pem.clone()),
        ..Default::default()
    })
    .expect("TLS connector")
}

/// Plain connection upgraded with STLS, certificate verified against the test CA.
async fn stls(d: &Dovecot) -> Client<MaybeTls> {
    let mut c = plain(d).await;
    assert!(c.capa().await.unwrap().iter().any(|cap| cap.name == "STLS"));
    assert!(!c.sasl_mechanisms().is_empty());
    c.stls().await.expect("STLS");
    let greeting = c.greeting().to_string();
    let stream = tls(d)
        .wrap("localhost", c.into_inner(), TIMEOUT)
        .await
        .expect("TLS after STLS");
    let mut c = Client::resume(stream, config());
    c.set_greeting(greeting);
    assert!(c.stream().is_tls());
    // RFC 2595 4: capabilities are asked again, and STLS is gone.
    c.capa().await.unwrap();
    assert!(!c.has_capability("STLS"));
    c
}

/// Implicit TLS (POP3S).
async fn pop3s(d: &Dovecot) -> Client<MaybeTls> {
    let tcp = connect_tcp("localhost", d.pop3s_port, TIMEOUT)
        .await
        .expect("TCP to pop3s");
    let stream = tls(d)
        .wrap("localhost", tcp, TIMEOUT)
        .await
        .expect("TLS handshake");
    Client::connect(stream, config())
        .await
        .expect("POP3S greeting")
}

/// Retrieves `msgnos` with a read buffer of `room` bytes.
async fn retr_all<S>(c: &mut Client<S>, msgnos: &[u32], room: usize) -> Vec<(u32, Vec<u8>)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    c.retr_start(msgnos).await.expect("RETR start");
    let mut out = Vec::new();
    let mut buf = vec![0u8; room];
    while let Some(n) = c.retr_next().await.expect("RETR next") {
        let mut body = Vec::new();
        loop {
            let k = c.retr_read(&mut buf).await.expect("RETR read");
            if k == 0 {
                break;
            }
            assert!(k <= room);
            body.extend_from_slice(&buf[..k]);
        }
        out.push((n, body));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_in_every_way_dovecot_offers() {
    let d = start();
    let pw = d.password("alice").to_string();

    let mut c = plain(&d).await;
    c.user_pass("alice", pw.as_bytes())
        .await
        .expect("USER/PASS");
    c.stat().await.unwrap();
    c.quit().await.unwrap();

    let mut c = plain(&d).await;
    c.capa().await.unwrap();
    assert!(
        c.sasl_mechanisms().contains(&"PLAIN"),
        "{:?}",
        c.sasl_mechanisms()
    );
    c.auth_plain("", "alice", pw.as_bytes())
        .await
        .expect("AUTH PLAIN");
    c.quit().await.unwrap();

    let mut c = plain(&d).await;
    assert!(
        c.apop_timestamp().is_some(),
        "Dovecot with apop in auth_mechanisms sends a timestamp: {:?}",
        c.greeting()
    );
    c.apop("alice", pw.as_bytes()).await.expect("APOP");
    c.quit().await.unwrap();

    let mut c = stls(&d).await;
    c.apop("alice", pw.as_bytes())
        .await
        .expect("APOP after STLS, with the greeting carried over");
    c.stat().await.unwrap();
    c.quit().await.unwrap();

    let mut c = pop3s(&d).await;
    c.user_pass("alice", pw.as_bytes())
        .await
        .expect("USER/PASS over POP3S");
    c.capa().await.unwrap();
    assert!(c.has_capability("UIDL") && c.has_capability("PIPELINING"));
    assert!(c.has_capability("TOP") && !c.has_capability("STLS"));
    c.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_are_auth_errors() {
    let d = start();
    let mut c = plain(&d).await;
    let e = c.user_pass("alice", b"wrong").await.unwrap_err();
    assert!(
        e.is_auth() && !e.is_transient() && !e.breaks_connection(),
        "{e:?}"
    );

    let mut c = plain(&d).await;
    let e = c.auth_plain("", "alice", b"wrong").await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");

    let mut c = plain(&d).await;
    let e = c.apop("alice", b"wrong").await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");

    // After a refusal the session goes on: the right password still works.
    let mut c = pop3s(&d).await;
    assert!(c.user_pass("nobody", b"x").await.unwrap_err().is_auth());
    c.user_pass("alice", d.password("alice").as_bytes())
        .await
        .unwrap();
    c.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_and_streamed_retr_match_imap_byte_for_byte() {
    let d = start();
    let imap = load(&d).await;
    assert!(imap.len() > 10, "{}", imap.len());
    assert!(
        imap.iter().any(|b| !b.ends_with(b"\n")),
        "IMAP serves the message without a final line end as stored"
    );
    let pw = d.password("alice").to_string();

    let mut c = stls(&d).await;
    c.user_pass("alice", pw.as_bytes()).await.unwrap();
    let (count, total) = c.stat().await.unwrap();
    assert_eq!(count as usize, imap.len());
    assert_eq!(total, imap.iter().map(|b| b.len() as u64).sum::<u64>());

    let list = c.list().await.unwrap();
    let expected: Vec<(u32, u64)> = imap
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u32 + 1, b.len() as u64))
        .collect();
    assert_eq!(list, expected);

    let uidl = c.uidl().await.unwrap().expect("Dovecot has UIDL");
    assert_eq!(uidl.len(), imap.len());
    for (i, (n, uid)) in uidl.iter().enumerate() {
        assert_eq!(*n as usize, i + 1);
        // pop3_uidl_format = %08Xu%08Xv
        assert_eq!(uid.len(), 16, "{uid}");
        assert!(uid.bytes().all(|b| b.is_ascii_hexdigit()), "{uid}");
    }
    let mut unique: Vec<&String> = uidl.iter().map(|(_, u)| u).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), uidl.len());

    for (i, body) in imap.iter().enumerate() {
        let top = c.top(i as u32 + 1, 0).await.unwrap();
        let header_end = body
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .unwrap_or(body.len());
        assert!(
            body.starts_with(&top) && top.len() >= header_end.min(body.len()),
            "TOP {} is not the header of the message",
            i + 1
        );
    }

    let all: Vec<u32> = (1..=count).collect();
    c.capa().await.unwrap();
    assert!(c.has_capability("PIPELINING"));
    // A small buffer: lines longer than it, "." lines split across reads.
    let got = retr_all(&mut c, &all, 7).await;
    assert_eq!(got.len(), imap.len());
    for ((n, body), want) in got.iter().zip(&imap) {
        let want = over_pop3(want);
        assert!(
            *body == want,
            "message {n}: {} bytes over POP3, {} over IMAP",
            body.len(),
            want.len()
        );
    }
    // Pipelined, in another order, with a large buffer.
    let reversed: Vec<u32> = all.iter().rev().copied().collect();
    for (n, body) in retr_all(&mut c, &reversed, 64 << 10).await {
        assert!(
            body == over_pop3(&imap[n as usize - 1]),
            "message {n}, reversed order"
        );
    }
    // Leaving a message half read: the next one still starts in step.
    c.retr_start(&[2, 3]).await.unwrap();
    assert_eq!(c.retr_next().await.unwrap(), Some(2));
    let mut buf = [0u8; 10];
    c.retr_read(&mut buf).await.unwrap();
    assert_eq!(c.retr_next().await.unwrap(), Some(3));
    assert_eq!(c.retr_next().await.unwrap(), None);
    c.quit().await.unwrap();

    // One command at a time (as for a server without PIPELINING), over POP3S.
    let mut c = Client::connect(
        {
            let tcp = connect_tcp("localhost", d.pop3s_port, TIMEOUT)
                .await
                .unwrap();
            tls(&d).wrap("localhost", tcp, TIMEOUT).await.unwrap()
        },
        ClientConfig {
            pipeline_window: 1,
            ..config()
        },
    )
    .await
    .unwrap();
    c.auth_plain("", "alice", pw.as_bytes()).await.unwrap();
    let got = retr_all(&mut c, &all, 4096).await;
    for ((n, body), want) in got.iter().zip(&imap) {
        assert!(*body == over_pop3(want), "message {n} without pipelining");
    }
    c.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dele_quit_removes_and_rset_undoes() {
    let d = start();
    let imap = load(&d).await;
    let pw = d.password("alice").to_string();
    let count = imap.len() as u32;

    let mut c = plain(&d).await;
    c.user_pass("alice", pw.as_bytes()).await.unwrap();
    c.dele(1).await.unwrap();
    c.dele(2).await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, count - 2);
    // A deleted message is refused, and the session goes on.
    c.retr_start(&[1, 3]).await.unwrap();
    let e = c.retr_next().await.unwrap_err();
    assert!(
        matches!(&e, Error::Err { command, .. } if command == "RETR 1") && !e.breaks_connection(),
        "{e:?}"
    );
    assert_eq!(c.retr_next().await.unwrap(), Some(3));
    assert_eq!(c.retr_next().await.unwrap(), None);
    c.rset().await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, count);
    c.quit().await.unwrap();

    let mut c = pop3s(&d).await;
    c.user_pass("alice", pw.as_bytes()).await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, count, "RSET undid the DELEs");
    c.dele(1).await.unwrap();
    c.dele(count).await.unwrap();
    c.noop().await.unwrap();
    c.quit().await.unwrap();

    let mut c = plain(&d).await;
    c.user_pass("alice", pw.as_bytes()).await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, count - 2, "QUIT removed them");
    let got = retr_all(&mut c, &(1..=count - 2).collect::<Vec<_>>(), 8192).await;
    for ((n, body), want) in got.iter().zip(&imap[1..imap.len() - 1]) {
        assert!(*body == over_pop3(want), "message {n} after DELE");
    }
    c.quit().await.unwrap();

    // IMAP sees the same.
    let mut i = session::login(d.imap_port, "alice", &pw).await.unwrap();
    assert_eq!(imap_inbox(&mut i).await, imap[1..imap.len() - 1].to_vec());
}
