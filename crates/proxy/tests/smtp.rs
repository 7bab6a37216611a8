//! SMTP at the old server's address, in front of two real Postfix MTAs
//! (the old and the new server's, delivering to their Dovecot by LMTP),
//! with swaks and Python's smtplib as senders: each recipient's mail lands
//! on the server that serves its mailbox; a message for recipients on both
//! goes to one, the other is deferred (452) for a transaction of its own;
//! during a final pass the sender is told to try later; other domains are
//! refused; every relay and delivery is recorded. Submission: users'
//! clients send through the proxy with AUTH, relayed to the submission
//! service of the server that serves them.

mod common;

use std::process::Command;

use common::{
    account_row, eventually, inbox_count, localhost_certificates, mtas, postfix, proxy, python,
    smtp_config, wait_for, world, World, USERS,
};
use mailport_proxy::submission_front::SubmissionConfig;
use mailport_proxy::{Listen, Submission, SubmissionServers};
use mailport_store::{AccountRow, MailboxState, ServedBy};
use mailport_testbed::{Postfix, PostfixOptions};

/// swaks's exit status and transcript.
fn swaks(port: u16, to: &str, subject: &str) -> (bool, String) {
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--from", "sender@elsewhere.test", "--to", to])
        .args(["--header", &format!("Subject: {subject}")])
        .output()
        .expect("swaks must run (scripts/setup installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// argv: port, CA, recipients; over STARTTLS, the certificate checked.
const SMTPLIB: &str = r#"
import smtplib, ssl, sys
s = smtplib.SMTP("localhost", int(sys.argv[1]))
s.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
s.ehlo("client.elsewhere.test")
refused = s.sendmail("sender@elsewhere.test", sys.argv[3:], b"Subject: smtplib\r\n\r\nhello\r\n")
print(refused)
s.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_recipient_gets_its_mail_where_its_mailbox_is() {
    let World {
        dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (old_mta, new_mta) = mtas(&src, &dst);
    let (alice, alice_pw) = USERS[0];
    let (bob, bob_pw) = USERS[1];
    let (certificates, ca) = localhost_certificates(&dir);
    // alice is still on the old server; bob has moved.
    let store = &project.store;
    for (user, pw) in USERS {
        project.capture(user, pw).await.unwrap();
        store
            .put_account("acme", &account_row(user, ServedBy::Source))
            .await
            .unwrap();
    }
    assert!(store
        .set_served_by(
            "acme",
            bob,
            ServedBy::Source,
            ServedBy::Destination,
            2,
            None
        )
        .await
        .unwrap());
    let _ = (alice_pw, bob_pw);
    let config = smtp_config(&old_mta, &new_mta);
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Smtp("127.0.0.1:0".parse().unwrap())],
        Some(certificates),
        |c| c.smtp = Some(config.clone()),
    )
    .await;
    let port = addrs[0].addr().port();
    // The captures queued both mailboxes: their copies first.
    wait_for(&project, alice, MailboxState::Completed).await;
    wait_for(&project, bob, MailboxState::Completed).await;
    let counts = || async { (inbox_count(&src, alice).await, inbox_count(&dst, bob).await) };
    let (alice0, bob0) = counts().await;
    let (src_bob0, dst_alice0) = (inbox_count(&src, bob).await, inbox_count(&dst, alice).await);

    // Not moved: to the old server. Moved: to the new one.
    let (ok, said) = swaks(port, "alice@example.org", "to alice");
    assert!(ok, "{said}");
    let (ok, said) = swaks(port, "bob@example.org", "to bob");
    assert!(ok, "{said}");
    eventually("both delivered", || async {
        counts().await == (alice0 + 1, bob0 + 1)
    })
    .await;
    // Both MTAs offer STARTTLS: the proxy used it, their certificates
    // checked with the project's CAs.
    for mta in [&old_mta, &new_mta] {
        assert!(
            mta.log()
                .contains("TLS connection established from localhost"),
            "{}",
            mta.log_tail()
        );
    }

    // Recipients on both servers: the first one's server takes the
    // message, the other recipient is deferred, never delivered twice.
    let (ok, said) = swaks(port, "alice@example.org,bob@example.org", "to both");
    assert!(said.contains("452 4.5.3"), "{said}");
    let _ = ok;
    eventually("the first recipient's copy", || async {
        counts().await == (alice0 + 2, bob0 + 1)
    })
    .await;
    // Python's smtplib over STARTTLS (the proxy's certificate checked):
    // the refused recipient is reported, the other gets it.
    let refused = python(
        SMTPLIB,
        &[
            port.to_string(),
            ca.clone(),
            "bob@example.org".into(),
            "alice@example.org".into(),
        ],
    );
    assert!(
        refused.contains("alice@example.org") && refused.contains("452"),
        "{refused}"
    );
    eventually("smtplib's message", || async {
        counts().await == (alice0 + 2, bob0 + 2)
    })
    .await;

    // Other domains are refused: no open relay.
    let (ok, said) = swaks(port, "someone@elsewhere.test", "relay?");
    assert!(!ok && said.contains("550 5.7.1"), "{said}");

    // During an account's final pass the sender is asked to retry.
    assert!(store
        .set_served_by("acme", alice, ServedBy::Source, ServedBy::Moving, 3, None)
        .await
        .unwrap());
    let (ok, said) = swaks(port, "alice@example.org", "later");
    assert!(!ok && said.contains("451 4.2.0"), "{said}");

    // Nothing landed on the wrong server.
    assert_eq!(inbox_count(&src, bob).await, src_bob0);
    assert_eq!(inbox_count(&dst, alice).await, dst_alice0);
    // Every accepted recipient is recorded, with where and why.
    let rows = store.deliveries("acme", 0).await.unwrap();
    let seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|d| (d.recipient.clone(), d.server.clone(), d.why.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("alice@example.org".into(), "old".into(), "not moved".into()),
            ("bob@example.org".into(), "new".into(), "moved".into()),
            ("alice@example.org".into(), "old".into(), "not moved".into()),
            ("bob@example.org".into(), "new".into(), "moved".into()),
        ]
    );
    assert!(rows
        .iter()
        .all(|d| d.sender == "sender@elsewhere.test" && d.size > 0));
    cancel.cancel();
    running.await.unwrap();

    // Behind a load balancer (PROXY protocol v2 from swaks): the old MTA,
    // which trusts the proxy, is told the real client with XCLIENT.
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Smtp("127.0.0.1:0".parse().unwrap())],
        None,
        |c| {
            c.smtp = Some(config);
            c.proxy_protocol = true;
        },
    )
    .await;
    let out = Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &addrs[0].addr().port().to_string(),
        ])
        .args(["--proxy-version", "2", "--proxy-family", "AF_INET"])
        .args([
            "--proxy-source",
            "203.0.113.9",
            "--proxy-source-port",
            "40000",
        ])
        .args(["--proxy-dest", "127.0.0.1", "--proxy-dest-port", "25"])
        .args([
            "--from",
            "sender@elsewhere.test",
            "--to",
            "sales@example.org",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = old_mta.log();
    assert!(
        log.lines()
            .any(|l| l.contains("client=") && l.contains("203.0.113.9")),
        "{log}"
    );
    // An address of the organisation without a mailbox went to the old
    // server, and says so.
    let rows = store.deliveries("acme", 0).await.unwrap();
    let last = rows.last().unwrap();
    assert_eq!(
        (
            last.recipient.as_str(),
            last.server.as_str(),
            last.why.as_str()
        ),
        ("sales@example.org", "old", "no mailbox")
    );
    cancel.cancel();
    running.await.unwrap();
}

/// Sends one message with smtplib: argv = port, how (starttls, tls, or
/// plain to try AUTH without TLS), CA, user ("" for none), password, to.
const SUBMIT: &str = r#"
import base64, smtplib, ssl, sys
port, how, ca, user, password, to = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
try:
    if how == "tls":
        s = smtplib.SMTP_SSL("localhost", int(port), context=ctx)
    else:
        s = smtplib.SMTP("localhost", int(port))
        if how == "starttls":
            s.starttls(context=ctx)
    s.ehlo("laptop.example.org")
    if how == "plain":
        plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        print("offered" if s.has_extn("auth") else "not offered", s.docmd("AUTH", "PLAIN " + plain))
        sys.exit(0)
    if user:
        s.login(user, password)
    sender = (user or "nobody") + "@example.org"
    body = "From: %s\r\nTo: %s\r\nSubject: submitted\r\n\r\nhi\r\n" % (sender, to)
    s.sendmail(sender, [to], body.encode())
    s.quit()
    print("sent")
except smtplib.SMTPException as e:
    print("refused", e)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submission_sends_as_the_user_through_the_server_that_serves_it() {
    let World {
        dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (old_mta, new_mta) = mtas(&src, &dst);
    let (alice, alice_pw) = USERS[0];
    let (bob, bob_pw) = USERS[1];
    let (certificates, ca) = localhost_certificates(&dir);
    let at = |port: u16| Submission::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let config = SubmissionConfig {
        hostname: "mail.example.org".into(),
        servers: SubmissionServers {
            source: at(old_mta.submission_port),
            destination: at(new_mta.submission_port),
        },
    };
    let any = "127.0.0.1:0".parse().unwrap();
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Submission(any), Listen::Submissions(any)],
        Some(certificates),
        |c| c.submission = Some(config),
    )
    .await;
    let (starttls, implicit) = (addrs[0].addr().port(), addrs[1].addr().port());
    let submit = |port: u16, how: &str, user: &str, password: &str, to: &str| {
        let args = [
            port.to_string(),
            how.into(),
            ca.clone(),
            user.into(),
            password.into(),
            to.into(),
        ];
        python(SUBMIT, &args)
    };
    let store = &project.store;

    // alice, on the old server and never seen: her login is checked by the
    // old server's submission service, captured, and her mail sent there.
    let bob_at_source = inbox_count(&src, bob).await;
    let said = submit(starttls, "starttls", alice, alice_pw, "bob@example.org");
    assert_eq!(said.trim(), "sent");
    eventually("alice's mail to bob, through the old server", || async {
        inbox_count(&src, bob).await == bob_at_source + 1
    })
    .await;
    // Captured after the client had its answer.
    eventually("alice's login captured", || async {
        store
            .account("acme", alice)
            .await
            .unwrap()
            .is_some_and(|a| a.served_by == ServedBy::Source && a.password_hash.is_some())
    })
    .await;
    assert!(
        old_mta.log().contains("sasl_username=alice"),
        "{}",
        old_mta.log()
    );

    // Refusals: a wrong password (the server's 535), no AUTH at all, and
    // AUTH before TLS (not offered, and refused when tried).
    let said = submit(implicit, "tls", alice, "wrong", "bob@example.org");
    assert!(
        said.starts_with("refused") && said.contains("535"),
        "{said}"
    );
    let said = submit(starttls, "starttls", "", "", "bob@example.org");
    assert!(
        said.starts_with("refused") && said.contains("530"),
        "{said}"
    );
    let said = submit(starttls, "plain", alice, alice_pw, "");
    assert!(
        said.starts_with("not offered") && said.contains("530"),
        "{said}"
    );

    // bob has moved: his own password, checked by the new server's
    // submission service, sends through the new server.
    let moved = AccountRow {
        moved_at: Some(2),
        ..account_row(bob, ServedBy::Destination)
    };
    store.put_account("acme", &moved).await.unwrap();
    let alice_at_destination = inbox_count(&dst, alice).await;
    let said = submit(implicit, "tls", bob, bob_pw, "alice@example.org");
    assert_eq!(said.trim(), "sent");
    eventually("bob's mail to alice, through the new server", || async {
        inbox_count(&dst, alice).await == alice_at_destination + 1
    })
    .await;
    assert!(
        new_mta.log().contains("sasl_username=bob"),
        "{}",
        new_mta.log()
    );
    assert!(!old_mta.log().contains("sasl_username=bob"));

    // During bob's final pass: try again later.
    assert!(store
        .set_served_by(
            "acme",
            bob,
            ServedBy::Destination,
            ServedBy::Moving,
            3,
            None
        )
        .await
        .unwrap());
    let said = submit(starttls, "starttls", bob, bob_pw, "alice@example.org");
    assert!(
        said.starts_with("refused") && said.contains("454"),
        "{said}"
    );
    cancel.cancel();
    running.await.unwrap();
}

/// A real sending MTA (Postfix relaying to the proxy) told to try again
/// during a final pass delivers the message after the move, once, to the
/// new server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sending_mta_retries_mail_deferred_during_a_final_pass() {
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (old_mta, new_mta) = mtas(&src, &dst);
    let (alice, alice_pw) = USERS[0];
    let store = &project.store;
    // alice logged in once: captured, her mailbox copied.
    project.capture(alice, alice_pw).await.unwrap();
    store
        .put_account("acme", &account_row(alice, ServedBy::Source))
        .await
        .unwrap();
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Smtp("127.0.0.1:0".parse().unwrap())],
        None,
        |c| c.smtp = Some(smtp_config(&old_mta, &new_mta)),
    )
    .await;
    wait_for(&project, alice, MailboxState::Completed).await;
    // Her final pass begins (now: a stale one would be rolled back).
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    assert!(store
        .set_served_by(
            "acme",
            alice,
            ServedBy::Source,
            ServedBy::Moving,
            now(),
            None
        )
        .await
        .unwrap());
    let sender = Postfix::start(PostfixOptions {
        hostname: "mta.elsewhere.test".into(),
        relay_port: Some(addrs[0].addr().port()),
        ..Default::default()
    })
    .expect("Postfix must start");
    let (at_source, at_destination) = (
        inbox_count(&src, alice).await,
        inbox_count(&dst, alice).await,
    );
    let (ok, said) = swaks(
        sender.smtp_port,
        "alice@example.org",
        "sent during the move",
    );
    assert!(ok, "{said}");
    for _ in 0..150 {
        if sender.log().contains("451 4.2.0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(sender.log().contains("451 4.2.0"), "{}", sender.log());
    assert!(!sender.queue_is_empty(), "{}", sender.log_tail());

    // The move ends: the retry lands on the new server, once.
    assert!(store
        .set_served_by(
            "acme",
            alice,
            ServedBy::Moving,
            ServedBy::Destination,
            3,
            None
        )
        .await
        .unwrap());
    sender.flush();
    eventually("the retried message on the new server", || async {
        inbox_count(&dst, alice).await == at_destination + 1 && sender.queue_is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(inbox_count(&dst, alice).await, at_destination + 1);
    assert_eq!(inbox_count(&src, alice).await, at_source);
    let rows = store.deliveries("acme", 0).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].server.as_str(), rows[0].why.as_str()),
        ("new", "moved")
    );

    // One message for recipients on both servers: the sending MTA sends
    // the deferred recipient again (452 4.5.3): once on each server.
    let (bob, _) = USERS[1];
    let bob_at_source = inbox_count(&src, bob).await;
    let (ok, said) = swaks(
        sender.smtp_port,
        "alice@example.org,bob@example.org",
        "to both",
    );
    assert!(ok, "{said}");
    sender.flush();
    eventually("the message on both servers", || async {
        inbox_count(&dst, alice).await == at_destination + 2
            && inbox_count(&src, bob).await == bob_at_source + 1
            && sender.queue_is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(inbox_count(&dst, alice).await, at_destination + 2);
    assert_eq!(inbox_count(&src, bob).await, bob_at_source + 1);
    assert!(sender.log().contains("452 4.5.3"), "{}", sender.log());
    cancel.cancel();
    running.await.unwrap();
}

/// A session that hits every limit, as a raw client: replies by step.
const LIMITS: &str = r#"
import json, socket, sys, time
port = int(sys.argv[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s, s.makefile("rb")
def reply(f):
    lines = []
    while True:
        l = f.readline()
        if not l:
            return " | ".join(lines + ["closed"])
        lines.append(l.decode().rstrip())
        if l[3:4] != b"-":
            return " | ".join(lines)
def cmd(c, line):
    c[0].sendall(line + b"\r\n")
    return reply(c[1])
out = {}
c = connect(); reply(c[1])
out["ehlo"] = cmd(c, b"EHLO client.elsewhere.test")
out["mail_size"] = cmd(c, b"MAIL FROM:<a@elsewhere.test> SIZE=300000")
cmd(c, b"MAIL FROM:<a@elsewhere.test>")
out["rcpt"] = [cmd(c, b"RCPT TO:<alice@example.org>") for _ in range(4)]
out["data"] = cmd(c, b"DATA")
c[0].sendall(b"Subject: too big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 300 + b".\r\n")
out["too_big"] = reply(c[1])
out["noop"] = cmd(c, b"NOOP")
out["errors"] = [cmd(c, b"BOGUS") for _ in range(11)]
out["after_errors"] = reply(c[1])
c = connect(); reply(c[1])
out["long_line"] = cmd(c, b"NOOP " + b"x" * 10000)
c = connect(); reply(c[1])
time.sleep(4)
out["idle"] = reply(c[1])
held = [connect() for _ in range(3)]
for h in held:
    reply(h[1])
out["fourth"] = reply(connect()[1])
for h in held:
    h[1].close()
    h[0].close()
time.sleep(0.5)
c = connect()
out["greeting"] = reply(c[1])
out["more_errors"] = [cmd(c, b"BOGUS") for _ in range(2)]
out["turned_away"] = reply(connect()[1])
print(json.dumps(out))
"#;

/// Every limit of the SMTP front answered with its RFC 5321 / 3463 reply;
/// SIZE is the smaller MTA's; a message too big reaches no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_limits_are_answered_by_the_rfcs() {
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let old_mta = Postfix::start(PostfixOptions {
        hostname: "old.example.org".into(),
        domains: vec!["example.org".into()],
        lmtp_port: src.lmtp_port,
        main_cf: "message_size_limit = 200000\n".into(),
        ..Default::default()
    })
    .expect("Postfix must start");
    let new_mta = postfix("new.example.org", &dst);
    let (alice, alice_pw) = USERS[0];
    project.capture(alice, alice_pw).await.unwrap();
    let mut config = smtp_config(&old_mta, &new_mta);
    config.max_recipients = 3;
    config.max_errors_per_address = 12;
    config.timeout = std::time::Duration::from_secs(2);
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Smtp("127.0.0.1:0".parse().unwrap())],
        None,
        |c| {
            c.smtp = Some(config);
            c.connections_per_address = 3;
        },
    )
    .await;
    let port = addrs[0].addr().port();
    wait_for(&project, alice, MailboxState::Completed).await;
    let at_source = inbox_count(&src, alice).await;
    let said = python(LIMITS, &[port.to_string()]);
    let out: serde_json::Value = serde_json::from_str(&said).expect(&said);
    let text = |k: &str| out[k].as_str().unwrap_or_default().to_string();
    assert!(text("ehlo").contains("SIZE 200000"), "{said}");
    assert!(text("mail_size").starts_with("552 5.3.4"), "{said}");
    let rcpt: Vec<&str> = out["rcpt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rcpt[..3].iter().all(|r| r.starts_with("250")), "{said}");
    assert!(rcpt[3].starts_with("452 4.5.3"), "{said}");
    assert!(text("data").starts_with("354"), "{said}");
    assert!(text("too_big").starts_with("552 5.3.4"), "{said}");
    assert!(text("noop").starts_with("250"), "{said}");
    let errors: Vec<&str> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        errors[..10].iter().all(|r| r.starts_with("502 5.5.2")),
        "{said}"
    );
    assert!(errors[10].starts_with("421 4.7.0"), "{said}");
    assert_eq!(text("after_errors"), "closed", "{said}");
    assert!(text("long_line").starts_with("500 5.5.2"), "{said}");
    assert!(text("idle").starts_with("421 4.4.2"), "{said}");
    assert!(text("fourth").starts_with("421 4.7.0"), "{said}");
    // Wrong commands count against the address over its sessions: the
    // twelfth turns its next session away before the greeting.
    assert!(
        text("turned_away").starts_with("421 4.7.0 too many wrong commands"),
        "{said}"
    );
    // The message too big reached no one.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(inbox_count(&src, alice).await, at_source);
    assert!(project
        .store
        .deliveries("acme", 0)
        .await
        .unwrap()
        .is_empty());
    cancel.cancel();
    running.await.unwrap();
}
