//! POP3 through the proxy, with Python's poplib and curl (unmodified
//! clients; only host, port and CA change) in front of private Dovecots:
//! STLS and implicit TLS, no USER before TLS, the source's mailbox read
//! exactly (same UIDLs, same bytes) at the first login, which captures the
//! password and moves the mailbox; during the final pass an open session
//! is ended with `-ERR [SYS/TEMP]`, a new login is asked to try again
//! later; after it the same password reads the destination.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{localhost_certificates, proxy, python, wait_for, world, World, USERS};
use mailport_proxy::{Listen, Pop3Servers};
use mailport_store::{MailboxState, ServedBy};
use mailport_testbed::ImapServer;

/// The mailbox as a POP3 client sees it: `STAT n size`, then each
/// message's UIDL and SHA-256; or `ERROR` and the server's words.
const READ: &str = r#"
import poplib, ssl, sys, hashlib, base64
how, host, port, ca, user, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)
try:
    if how == "pop3s":
        p = poplib.POP3_SSL(host, port, context=ctx)
        plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        p._shortcmd("AUTH PLAIN " + plain)
    else:
        p = poplib.POP3(host, port)
        p.stls(context=ctx)
        p.user(user)
        p.pass_(password)
except poplib.error_proto as e:
    print("ERROR", e.args[0].decode())
    sys.exit(0)
n, size = p.stat()
print("STAT", n, size)
for line in p.uidl()[1]:
    num, uid = line.decode().split()
    body = b"\r\n".join(p.retr(int(num))[1])
    print(uid, hashlib.sha256(body).hexdigest())
p.quit()
"#;

/// What a client is told before TLS.
const PLAIN: &str = r#"
import poplib, ssl, sys
port, ca, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p = poplib.POP3("localhost", port)
print("capa:", " ".join(sorted(p.capa().keys())))
try:
    p.user(user)
    print("user: accepted")
except poplib.error_proto as e:
    print("user:", e.args[0].decode())
p.stls(context=ssl.create_default_context(cafile=ca))
print("after STLS:", " ".join(sorted(p.capa().keys())))
p.quit()
"#;

/// Logs in, says "ready", waits for a line on stdin, then tries NOOP.
const HOLD: &str = r#"
import poplib, ssl, sys
port, ca, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = poplib.POP3_SSL("localhost", port, context=ssl.create_default_context(cafile=ca))
p.user(user)
p.pass_(password)
print("ready", flush=True)
sys.stdin.readline()
try:
    print("noop:", p.noop().decode())
except poplib.error_proto as e:
    print("noop:", e.args[0].decode())
"#;

fn read(how: &str, host: &str, port: u16, ca: &str, user: &str, password: &str) -> String {
    python(
        READ,
        &[how, host, &port.to_string(), ca, user, password].map(String::from),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pop3_clients_read_the_server_that_serves_them() {
    let World {
        dir,
        src,
        dst,
        project,
    } = world(true).await;
    let (certificates, ca) = localhost_certificates(&dir);
    let servers = Pop3Servers {
        source: Pop3Servers::parse(&format!("pop3://127.0.0.1:{}", src.pop3_port)).unwrap(),
        destination: Pop3Servers::parse(&format!("pop3://127.0.0.1:{}", dst.pop3_port)).unwrap(),
    };
    let (addrs, cancel, running) = proxy(
        &project,
        vec![
            Listen::Pop3("127.0.0.1:0".parse().unwrap()),
            Listen::Pop3s("127.0.0.1:0".parse().unwrap()),
        ],
        Some(certificates),
        |c| c.pop3 = Some(servers),
    )
    .await;
    let (plain, tls) = (addrs[0].addr().port(), addrs[1].addr().port());
    let (alice, alice_pw) = USERS[0];
    let src_ca = src.ca_pem().to_str().unwrap().to_string();
    let dst_ca = dst.ca_pem().to_str().unwrap().to_string();
    let at_source = || read("stls", "127.0.0.1", src.pop3_port, &src_ca, alice, alice_pw);
    let before_move = at_source();
    let messages = before_move.lines().count() - 1;
    assert!(
        before_move.starts_with(&format!("STAT {messages} ")) && messages > 10,
        "{before_move}"
    );

    // Before TLS: STLS offered, no USER; USER refused.
    let said = {
        let (ca, alice) = (ca.clone(), alice.to_string());
        tokio::task::spawn_blocking(move || python(PLAIN, &[plain.to_string(), ca, alice]))
            .await
            .unwrap()
    };
    let line = |prefix: &str| {
        said.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {said}"))
            .to_string()
    };
    assert!(
        line("capa:").contains("STLS") && !line("capa:").contains("USER"),
        "{said}"
    );
    assert!(line("user:").contains("STLS"), "{said}");
    let after = line("after STLS:").replace("after STLS:", "");
    assert!(after.contains("USER") && !after.contains("STLS"), "{said}");

    // A wrong password: the source's refusal, marked [AUTH]; nothing captured.
    let wrong = {
        let ca = ca.clone();
        tokio::task::spawn_blocking(move || read("stls", "localhost", plain, &ca, alice, "wrong"))
            .await
            .unwrap()
    };
    assert!(wrong.starts_with("ERROR -ERR [AUTH]"), "{wrong}");
    assert!(project
        .store
        .account("acme", alice)
        .await
        .unwrap()
        .is_none());

    // The first login (USER/PASS after STLS) reads the source exactly; so
    // does AUTH PLAIN over implicit TLS.
    for (how, port) in [("stls", plain), ("pop3s", tls)] {
        let ca = ca.clone();
        let through =
            tokio::task::spawn_blocking(move || read(how, "localhost", port, &ca, alice, alice_pw))
                .await
                .unwrap();
        assert_eq!(through, before_move, "{how}");
    }
    // curl lists the messages, with their sizes (RFC 1939 LIST), with STLS
    // on the plain port and over implicit TLS.
    for url in [
        format!("pop3://localhost:{plain}/"),
        format!("pop3s://localhost:{tls}/"),
    ] {
        let out = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--ssl-reqd",
                "--cacert",
                &ca,
                "--user",
            ])
            .arg(format!("{alice}:{alice_pw}"))
            .arg(&url)
            .output()
            .expect("curl must run (scripts/setup installs it)");
        let listing = String::from_utf8_lossy(&out.stdout);
        assert_eq!(listing.lines().count(), messages, "{url}: {listing}");
    }

    // Captured and moved in the background.
    wait_for(&project, alice, MailboxState::Completed).await;
    let account = project.store.account("acme", alice).await.unwrap().unwrap();
    assert_eq!(account.served_by, ServedBy::Source);

    // A login while the account is moving: try again later.
    let store = &project.store;
    assert!(store
        .set_served_by("acme", alice, ServedBy::Source, ServedBy::Moving, 1, None)
        .await
        .unwrap());
    let later = {
        let ca = ca.clone();
        tokio::task::spawn_blocking(move || read("pop3s", "localhost", tls, &ca, alice, alice_pw))
            .await
            .unwrap()
    };
    assert!(later.starts_with("ERROR -ERR [SYS/TEMP]"), "{later}");
    assert!(store
        .set_served_by("acme", alice, ServedBy::Moving, ServedBy::Source, 2, None)
        .await
        .unwrap());

    // The cut-over ends a session open on the old server with SYS/TEMP.
    let mut hold = Command::new("python3")
        .args(["-c", HOLD, &tls.to_string(), &ca, alice, alice_pw])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(hold.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap();
    writeln!(hold.stdin.take().unwrap()).unwrap();
    let mut noop = String::new();
    out.read_line(&mut noop).unwrap();
    assert!(noop.starts_with("noop: -ERR [SYS/TEMP]"), "{noop}");
    hold.wait().unwrap();

    // After the move the same password reads the destination, which holds
    // the same messages (UIDLs are the destination's own).
    let after = {
        let ca = ca.clone();
        tokio::task::spawn_blocking(move || read("pop3s", "localhost", tls, &ca, alice, alice_pw))
            .await
            .unwrap()
    };
    let at_destination = read("stls", "127.0.0.1", dst.pop3_port, &dst_ca, alice, alice_pw);
    assert_eq!(after, at_destination);
    let hashes = |s: &str| {
        let mut h: Vec<String> = s
            .lines()
            .skip(1)
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect();
        h.sort();
        h
    };
    assert_eq!(hashes(&after), hashes(&before_move));
    let wrong = {
        let ca = ca.clone();
        tokio::task::spawn_blocking(move || read("pop3s", "localhost", tls, &ca, alice, "nope"))
            .await
            .unwrap()
    };
    assert!(wrong.starts_with("ERROR -ERR [AUTH]"), "{wrong}");
    cancel.cancel();
    running.await.unwrap();
}
