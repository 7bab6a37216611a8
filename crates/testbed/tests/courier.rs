//! The Courier harness works: it starts quickly, users log in over plain IMAP,
//! STARTTLS and IMAPS, folders are where Courier puts them (`INBOX.` prefix,
//! `.` separator), APPEND works, and dropping it stops every process. Also
//! pins down Courier's refusal to APPEND into a mailbox the same connection
//! has EXAMINEd, which the engine must work around.

use std::time::{Duration, Instant};

use mailport_imap::{Client, ClientConfig, Error};
use mailport_testbed::{session, Courier, CourierOptions, ImapServer};
use tokio::io::{AsyncRead, AsyncWrite};

const MESSAGE: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: Bob <bob@example.net>\r\n\
Subject: courier harness\r\n\
Date: Wed, 1 Jan 2020 00:00:00 +0000\r\n\
Message-ID: <courier-harness@example.org>\r\n\
\r\n\
Hello Courier.\r\n";

fn start(options: CourierOptions) -> Courier {
    Courier::start(options).unwrap_or_else(|e| panic!("Courier must start for this test: {e}"))
}

async fn append<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
    mailbox: &[u8],
    raw: &[u8],
) -> Result<(), Error> {
    c.append_start(mailbox).await?;
    c.append_message(&[], Some("01-Jan-2020 00:00:00 +0000"), raw.len() as u64)
        .await?;
    c.append_write(raw).await?;
    c.append_finish().await.map(|_| ())
}

/// Every message of the selected mailbox, in UID order.
async fn bodies(c: &mut session::Session) -> Vec<Vec<u8>> {
    c.body_fetch_start("1:*").await.unwrap();
    let mut out = Vec::new();
    while c.body_next().await.unwrap().is_some() {
        let mut body = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = c.body_read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        out.push(body);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn courier_starts_accepts_logins_and_stops() {
    let t0 = Instant::now();
    let courier = start(CourierOptions::default());
    let took = t0.elapsed();
    eprintln!("Courier started in {took:?}");
    assert!(took < Duration::from_secs(10), "start took {took:?}");

    // Before login: Courier's greeting, STARTTLS offered, and none of the
    // extensions the engine would like to have.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", courier.imap_port))
        .await
        .unwrap();
    let (mut pre, _) = Client::connect(tcp, ClientConfig::default()).await.unwrap();
    assert!(
        pre.greeting().contains("Courier-IMAP"),
        "{}",
        pre.greeting()
    );
    assert!(pre.has_capability("STARTTLS"), "{:?}", pre.capabilities());
    for missing in ["MULTIAPPEND", "LITERAL+", "CONDSTORE", "SPECIAL-USE"] {
        assert!(!pre.has_capability(missing), "{:?}", pre.capabilities());
    }

    // STARTTLS with the harness's certificate, then LOGIN.
    pre.command(b"STARTTLS").await.unwrap();
    let tls = mailport_net::TlsConnector::new(&mailport_net::TlsOptions {
        ca_file: Some(courier.ca_pem().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let stream = tls
        .wrap("localhost", pre.into_inner(), Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("STARTTLS handshake: {e}\n{}", courier.log_tail()));
    let mut s = Client::resume(stream, ClientConfig::default());
    s.capability().await.unwrap();
    s.login("alice", courier.password("alice").as_bytes())
        .await
        .unwrap_or_else(|e| panic!("login after STARTTLS: {e}\n{}", courier.log_tail()));
    s.logout().await.unwrap();

    // Implicit TLS (couriertls) with the same certificate.
    let mut t = session::login_tls(&courier, "alice")
        .await
        .unwrap_or_else(|e| panic!("IMAPS login: {e}\n{}", courier.log_tail()));
    t.logout().await.unwrap();

    // Wrong passwords are refused, also one that only shares the first 8
    // characters (the default DES crypt would accept it). imaplogin answers a
    // failed LOGIN only after 5 s, so both run at once.
    let (wrong, truncated) = tokio::join!(
        session::login(courier.imap_port, "alice", "wrong"),
        session::login(courier.imap_port, "alice", "alice-seXXXX"),
    );
    assert!(wrong.is_err() && truncated.is_err());

    let mut c = session::login(courier.imap_port, "alice", courier.password("alice"))
        .await
        .unwrap_or_else(|e| panic!("login: {e}\n{}", courier.log_tail()));
    assert_eq!(
        session::namespace(&mut c).await.unwrap(),
        ("INBOX.".to_string(), '.'),
        "Courier: everything under INBOX., separator ."
    );
    let list = c.list_all().await.unwrap();
    let names: Vec<String> = list
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    for want in [
        "INBOX",
        "INBOX.Sent",
        "INBOX.Drafts",
        "INBOX.Trash",
        "INBOX.Junk",
        "INBOX.Archive",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for e in &list {
        assert_eq!(e.delimiter, Some(b'.'), "{e:?}");
        assert!(e.name == b"INBOX" || e.name.starts_with(b"INBOX."), "{e:?}");
    }
    let subscribed: Vec<Vec<u8>> = c
        .lsub_all()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        subscribed.iter().any(|n| n == b"INBOX.Sent"),
        "{subscribed:?}"
    );

    // APPEND into a folder and read it back byte for byte.
    append(&mut c, b"INBOX.Sent", MESSAGE)
        .await
        .unwrap_or_else(|e| panic!("APPEND INBOX.Sent: {e}\n{}", courier.log_tail()));
    assert_eq!(c.select(b"INBOX.Sent", true).await.unwrap().exists, 1);
    assert_eq!(bodies(&mut c).await, vec![MESSAGE.to_vec()]);

    // The quirk: after EXAMINE INBOX, APPEND into INBOX on the same
    // connection is refused ...
    c.select(b"INBOX", true).await.unwrap();
    match append(&mut c, b"INBOX", MESSAGE).await {
        Err(Error::No { text, .. }) => {
            assert!(text.contains("READ-ONLY"), "{text}")
        }
        other => panic!("APPEND into the EXAMINEd INBOX: expected NO READ-ONLY, got {other:?}"),
    }
    // ... while after SELECT it works, and the connection is still fine.
    assert_eq!(c.select(b"INBOX", false).await.unwrap().exists, 0);
    append(&mut c, b"INBOX", MESSAGE).await.unwrap();
    assert_eq!(c.select(b"INBOX", true).await.unwrap().exists, 1);
    c.logout().await.unwrap();

    let namespace = pid_namespace(&courier).expect("Courier's PID namespace");
    assert!(
        processes_in(&namespace) >= 3,
        "authdaemond and two couriertcpd"
    );
    let dir = courier.dir().to_string_lossy().into_owned();
    drop(courier);
    assert_eq!(
        processes_in(&namespace),
        0,
        "Courier processes outlived the drop"
    );
    assert_eq!(processes_naming(&dir), 0, "unshare outlived the drop");
}

/// Tests run in parallel: two instances must not share anything.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_run_side_by_side() {
    let one = start(CourierOptions::default());
    let two = start(CourierOptions {
        users: vec![("bob".into(), "bob-secret".into())],
        folders: vec!["Other".into()],
        ..Default::default()
    });
    let mut a = session::login(one.imap_port, "alice", one.password("alice"))
        .await
        .unwrap_or_else(|e| panic!("alice on one: {e}\n{}", one.log_tail()));
    let mut b = session::login(two.imap_port, "bob", two.password("bob"))
        .await
        .unwrap_or_else(|e| panic!("bob on two: {e}\n{}", two.log_tail()));
    // Each sees only its own userdb (a refusal takes Courier 5 s: both at once).
    let (bob_on_one, alice_on_two) = tokio::join!(
        session::login(one.imap_port, "bob", "bob-secret"),
        session::login(two.imap_port, "alice", "alice-secret"),
    );
    assert!(bob_on_one.is_err() && alice_on_two.is_err());
    append(&mut a, b"INBOX.Sent", MESSAGE).await.unwrap();
    append(&mut b, b"INBOX.Other", MESSAGE).await.unwrap();
    assert!(b.select(b"INBOX.Sent", true).await.is_err());
    assert_eq!(b.select(b"INBOX.Other", true).await.unwrap().exists, 1);
    assert_eq!(a.select(b"INBOX.Sent", true).await.unwrap().exists, 1);
    a.logout().await.unwrap();
    b.logout().await.unwrap();
}

/// A start that fails is an error carrying the log, never a skipped test:
/// here `maildirmake.courier` refuses to make the same folder twice.
#[test]
fn a_failed_start_reports_the_log() {
    let err = Courier::start(CourierOptions {
        folders: vec!["Sent".into(), "Sent".into()],
        ..Default::default()
    })
    .err()
    .expect("a duplicate folder must fail the start");
    let message = err.to_string();
    assert!(message.contains("start.sh exited"), "{message}");
    assert!(message.contains("File exists"), "{message}");
}

/// The PID namespace Courier's processes live in: that of the child of the
/// `unshare` whose command line names the instance's start.sh.
fn pid_namespace(courier: &Courier) -> Option<String> {
    let script = courier.dir().join("start.sh");
    let unshare = pids()
        .into_iter()
        .find(|pid| cmdline(*pid).contains(&*script.to_string_lossy()))?;
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
    let init: u32 = children.split_whitespace().next()?.parse().ok()?;
    namespace_of(init)
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default()
}

fn namespace_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

/// How many live processes are in the PID namespace `ns` (a zombie has no
/// namespace link; scripts and humans check those with pgrep).
fn processes_in(ns: &str) -> usize {
    pids()
        .into_iter()
        .filter(|pid| namespace_of(*pid).as_deref() == Some(ns))
        .count()
}

/// How many processes have `needle` in their command line.
fn processes_naming(needle: &str) -> usize {
    pids()
        .into_iter()
        .filter(|pid| cmdline(*pid).contains(needle))
        .count()
}
