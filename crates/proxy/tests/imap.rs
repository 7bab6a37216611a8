//! The proxy in front of a real Dovecot source, moving to a real Dovecot
//! destination, used by Python's imaplib (an unmodified client; only host
//! and port change). First login: the session reads the source, the
//! password is captured and the mailbox moved in the background. During the
//! final pass: "try again later". After it: the same password reads the
//! destination. A wrong password is refused before and after; an account
//! the project did not know is adopted.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    localhost_certificates, plain_proxy, proxy, python, wait_for, world, World, APPEND, USERS,
};
use mailport_proxy::{Listen, UnknownUsers};
use mailport_store::{MailboxState, ServedBy};
use mailport_testbed::session;

/// Every folder (by its name with `/` between levels and without the
/// personal namespace's prefix) with its message count, as imaplib sees
/// it; or the error.
const LIST: &str = r#"
import imaplib, re, sys
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
    flags, delim, name = re.match(r'\((.*?)\) (?:NIL|"(.*?)") (.*)$', line.decode()).groups()
    if name.startswith('"'):
        name = name[1:-1]
    if '\\Noselect' in flags:
        continue
    typ, data = c.select('"%s"' % name, readonly=True)
    # The same folder on servers with other separators and prefixes.
    logical = name
    if delim and logical.upper().startswith("INBOX" + delim):
        logical = logical[len("INBOX") + 1:]
    if delim:
        logical = logical.replace(delim, "/")
    if typ == 'OK':
        out.append("%s %s" % (logical, data[0].decode()))
c.logout()
print("\n".join(sorted(out)))
"#;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mailbox_moves_at_its_users_login() {
    let World {
        dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Imap("127.0.0.1:0".parse().unwrap())],
        None,
        |c| c.allow_plaintext = true,
    )
    .await;
    let Listen::Imap(addr) = addrs[0] else {
        panic!()
    };
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
    // Every folder, nested and non-ASCII ones too, not just INBOX.
    assert!(through.lines().count() >= 6, "{through}");

    // Captured (hash, not the password) and moved in the background,
    // while a session through the proxy stays open and keeps working.
    let mut during = session::login(addr.port(), alice, alice_pw).await.unwrap();
    wait_for(&project, alice, MailboxState::Completed).await;
    let inbox = during.select(b"INBOX", true).await.unwrap();
    assert!(inbox.exists > 0);
    during.logout().await.unwrap();
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

    // While an account is moving, logins are asked to try again later.
    let store = &project.store;
    assert!(store
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
    assert!(store
        .set_served_by("acme", alice, ServedBy::Moving, ServedBy::Source, 2, None)
        .await
        .unwrap());

    // The cut-over: mail that reached the old server after the bulk copy
    // is carried by the final pass, and a session still open on the old
    // server is closed with a BYE when it begins.
    python(
        APPEND,
        &[
            src.imap_port.to_string(),
            alice.into(),
            alice_pw.into(),
            "during".into(),
        ],
    );
    let mut open = session::login(addr.port(), alice, alice_pw).await.unwrap();
    let window = mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap();
    assert!(
        open.noop().await.is_err(),
        "the old-server session was not closed"
    );
    let moved = store.account("acme", alice).await.unwrap().unwrap();
    assert_eq!(moved.served_by, ServedBy::Destination);
    assert!(moved.moved_at.is_some() && moved.following);
    let passes = store.passes("acme", Some(alice)).await.unwrap();
    assert!(
        passes
            .iter()
            .any(|p| p.kind == "final" && p.copied == 1 && p.verified.as_deref() == Some("ok")),
        "{passes:?}"
    );
    // The move's event (the open session's login is recorded after its
    // answer, so it may come after the move: looked for, not assumed last).
    let events = store.events("acme", Some(alice), 5).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "move" && e.outcome.contains(&format!("{} ms", window.as_millis()))),
        "{events:?}"
    );
    let at_move = folders(src.imap_port, alice, alice_pw);
    // A second cut-over of a moved account is refused, in words.
    let again = mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("is already destination"),
        "{again}"
    );

    // Mail that reaches the old server now: the same password reads the
    // destination, which holds everything the source held at the move,
    // and the late message follows.
    python(
        APPEND,
        &[
            src.imap_port.to_string(),
            alice.into(),
            alice_pw.into(),
            "late".into(),
        ],
    );
    let after = tokio::task::spawn_blocking(move || folders(addr.port(), alice, alice_pw))
        .await
        .unwrap();
    // The login reads the destination: what the source held at the move,
    // and the late message once the following pass the login started has
    // brought it (it may be that quick).
    let now_at_source = folders(src.imap_port, alice, alice_pw);
    assert_ne!(now_at_source, at_move);
    assert!(
        after == at_move || after == now_at_source,
        "{after}\n---\n{at_move}"
    );
    let mut at_destination = String::new();
    for _ in 0..100 {
        at_destination = folders(dst.imap_port, alice, alice_pw);
        if at_destination == now_at_source {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        at_destination, now_at_source,
        "the late message was not followed"
    );
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
    // A second login with the same password is a login, not a new capture
    // (no new pass, no second hash).
    let hash = project
        .store
        .account("acme", bob)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    tokio::task::spawn_blocking(move || folders(addr.port(), bob, bob_pw))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds = project
            .store
            .events("acme", Some(bob), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        if kinds.contains(&"login".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kinds.sort();
    assert_eq!(kinds, ["capture", "login"]);
    assert_eq!(
        project
            .store
            .account("acme", bob)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash
    );

    // No password in the state file.
    cancel.cancel();
    running.await.unwrap();
    let bytes = std::fs::read(dir.path().join("state.db")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for (_, pw) in USERS {
        assert!(!text.contains(pw));
    }
}

/// What a client sees of TLS at the proxy: STARTTLS and LOGINDISABLED on
/// the plain port, a login refused there (PRIVACYREQUIRED), accepted after
/// STARTTLS and on the implicit-TLS port, with the proxy's certificate
/// verified against its CA (Python's ssl and curl).
const TLS: &str = r#"
import imaplib, ssl, sys
port, tls_port, ca, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
c = imaplib.IMAP4("localhost", port)
print("plain:", " ".join(sorted(c.capabilities)))
typ, data = c._simple_command("LOGIN", user, password)
print("plain login:", typ, data[0].decode())
c.starttls(ssl_context=ctx)
print("after STARTTLS:", " ".join(sorted(c.capabilities)))
c.login(user, password)
print("STARTTLS login:", c.select("INBOX", readonly=True)[1][0].decode())
c.logout()
c = imaplib.IMAP4_SSL("localhost", tls_port, ssl_context=ctx)
c.login(user, password)
print("IMAPS login:", c.select("INBOX", readonly=True)[1][0].decode())
c.logout()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_need_tls_and_get_the_right_certificate() {
    let World {
        dir, src, project, ..
    } = world(false).await;
    let (certificates, ca) = localhost_certificates(&dir);
    let (addrs, cancel, running) = proxy(
        &project,
        vec![
            Listen::Imap("127.0.0.1:0".parse().unwrap()),
            Listen::Imaps("127.0.0.1:0".parse().unwrap()),
        ],
        Some(certificates.clone()),
        |_| {},
    )
    .await;
    let (Listen::Imap(plain), Listen::Imaps(tls)) = (addrs[0], addrs[1]) else {
        panic!("{addrs:?}")
    };
    let (user, password) = USERS[0];
    let args = [
        plain.port().to_string(),
        tls.port().to_string(),
        ca.clone(),
        user.into(),
        password.into(),
    ];
    let said = tokio::task::spawn_blocking(move || python(TLS, &args))
        .await
        .unwrap();
    let line = |prefix: &str| {
        said.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {said}"))
            .to_string()
    };
    let before = line("plain:");
    assert!(
        before.contains("STARTTLS") && before.contains("LOGINDISABLED"),
        "{before}"
    );
    assert!(!before.contains("AUTH=PLAIN"), "{before}");
    assert!(line("plain login:").contains("PRIVACYREQUIRED"), "{said}");
    let after = line("after STARTTLS:").replace("after STARTTLS:", "");
    assert!(
        after.contains("AUTH=PLAIN") && !after.contains("STARTTLS"),
        "{after}"
    );
    let inbox = folders(src.imap_port, user, password)
        .lines()
        .find_map(|l| l.strip_prefix("INBOX ").map(str::to_string))
        .unwrap();
    assert_eq!(line("STARTTLS login:"), format!("STARTTLS login: {inbox}"));
    assert_eq!(line("IMAPS login:"), format!("IMAPS login: {inbox}"));

    // curl with STARTTLS on the plain port, then over implicit TLS: the
    // folder list comes from the source.
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--ssl-reqd",
            "--cacert",
            &ca,
            "--user",
        ])
        .arg(format!("{user}:{password}"))
        .arg(format!("imap://localhost:{}/", plain.port()))
        .output()
        .expect("curl must run (scripts/setup installs it)");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains("INBOX"),
        "{listing} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--cacert", &ca, "--user"])
        .arg(format!("{user}:{password}"))
        .arg(format!("imaps://localhost:{}/", tls.port()))
        .output()
        .expect("curl must run (scripts/setup installs it)");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listing.contains("INBOX"),
        "{listing} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A name without a certificate is reported (the client got the default).
    let _ = Command::new("curl")
        .args(["--silent", "--insecure", "--connect-to"])
        .arg(format!("mail.other.example:{0}:127.0.0.1:{0}", tls.port()))
        .arg(format!("imaps://mail.other.example:{}/", tls.port()))
        .output()
        .unwrap();
    assert_eq!(
        certificates.unknown_names(),
        vec!["mail.other.example".to_string()]
    );
    cancel.cancel();
    running.await.unwrap();
}

/// Logins the project does not know: relayed untouched (`pass`: nothing
/// captured, nothing added) or refused (`refuse`) — but a mailbox the
/// project holds is served either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_users_can_be_passed_through_or_refused() {
    let World {
        dir: _dir,
        src,
        dst: _dst,
        project,
    } = world(false).await;
    let (bob, bob_pw) = USERS[1];
    let (port, cancel, running) =
        plain_proxy(&project, |c| c.unknown_users = UnknownUsers::Pass).await;
    let through = tokio::task::spawn_blocking(move || folders(port, bob, bob_pw))
        .await
        .unwrap();
    assert_eq!(through, folders(src.imap_port, bob, bob_pw));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(project.store.account("acme", bob).await.unwrap().is_none());
    assert!(project.store.mailbox("acme", bob).await.unwrap().is_none());
    cancel.cancel();
    running.await.unwrap();

    let (alice, alice_pw) = USERS[0];
    project.capture(alice, alice_pw).await.unwrap();
    let (port, cancel, running) =
        plain_proxy(&project, |c| c.unknown_users = UnknownUsers::Refuse).await;
    let refused = tokio::task::spawn_blocking(move || folders(port, bob, bob_pw))
        .await
        .unwrap();
    assert!(
        refused.starts_with("ERROR") && refused.contains("unknown user"),
        "{refused}"
    );
    let served = tokio::task::spawn_blocking(move || folders(port, alice, alice_pw))
        .await
        .unwrap();
    assert!(!served.starts_with("ERROR"), "{served}");
    cancel.cancel();
    running.await.unwrap();
}
