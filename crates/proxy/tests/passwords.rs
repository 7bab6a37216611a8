//! Same password on the new server, for good: the captured passwords
//! exported in each scheme let the destination Dovecot authenticate the
//! user directly (the proxy out of the path); once the plaintext is erased
//! only the proxy's own Argon2id hash can be exported. The provisioning
//! command gets the login and password on its standard input, and its
//! failure is an event without the password.

mod common;

use std::time::Duration;

use common::{eventually, plain_proxy, python, wait_for, world, World, USERS};
use mailport_proxy::export::{export, Format, Scheme};

use mailport_store::MailboxState;
use mailport_testbed::session;

const LOGIN: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
c.logout()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exported_passwords_let_the_new_server_authenticate() {
    let World {
        dir,
        src: _src,
        dst,
        project,
    } = world(false).await;
    let record = dir.path().join("provisioned");
    let command = format!("cat >> '{}'", record.display());
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.provision_command = Some(command);
    })
    .await;
    let port = port.to_string();
    let (alice, alice_pw) = USERS[0];
    let args = [port.clone(), alice.into(), alice_pw.into()];
    tokio::task::spawn_blocking(move || python(LOGIN, &args))
        .await
        .unwrap();
    wait_for(&project, alice, MailboxState::Completed).await;

    // The provisioning command read the login and the password.
    eventually("the provisioning command", || async {
        std::fs::read_to_string(&record).unwrap_or_default() == format!("{alice}\n{alice_pw}\n")
    })
    .await;
    // Its outcome is recorded once it has exited.
    eventually("the provisioning recorded", || async {
        let events = project.store.events("acme", Some(alice), 10).await.unwrap();
        events
            .iter()
            .any(|e| e.kind == "provision" && e.outcome == "ok")
    })
    .await;

    // Each scheme: the destination authenticates the exported hash.
    for scheme in [Scheme::Argon2id, Scheme::Sha512Crypt, Scheme::Bcrypt] {
        let exported = export(&project, scheme, Format::DovecotPasswd)
            .await
            .unwrap();
        assert!(exported.missing.is_empty(), "{:?}", exported.missing);
        assert_eq!(exported.lines, 1);
        let line = exported.text.trim();
        assert!(!line.contains(alice_pw), "{line}");
        let field = line
            .strip_prefix(&format!("{alice}:"))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(
            field.starts_with(&format!("{{{}}}", scheme.dovecot())),
            "{field}"
        );
        dst.set_password_field(alice, field).unwrap();
        // Dovecot notices a changed passwd-file by its time stamp.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let direct = session::login(dst.imap_port, alice, alice_pw).await;
        assert!(direct.is_ok(), "{scheme:?}: {}", dst.log_tail());
        let wrong = session::login(dst.imap_port, alice, "alice-Pw-4").await;
        assert!(wrong.is_err(), "{scheme:?} let a wrong password in");
    }
    let csv = export(&project, Scheme::Argon2id, Format::Csv)
        .await
        .unwrap();
    assert!(
        csv.text
            .starts_with("login,scheme,hash\nalice,ARGON2ID,$argon2id$"),
        "{}",
        csv.text
    );

    // Erased plaintext: only Argon2id can be exported, and the rest says why.
    assert!(project.store.forget_passwords("acme", alice).await.unwrap());
    let gone = export(&project, Scheme::Bcrypt, Format::DovecotPasswd)
        .await
        .unwrap();
    assert_eq!(gone.lines, 0);
    assert!(
        gone.missing[0].1.contains("use --scheme argon2id"),
        "{gone:?}"
    );
    let kept = export(&project, Scheme::Argon2id, Format::DovecotPasswd)
        .await
        .unwrap();
    assert_eq!(kept.lines, 1);
    cancel.cancel();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_provisioning_command_is_an_event_without_the_password() {
    let said = mailport_proxy::gate::provision(
        "read login; read password; echo \"no such domain for $login ($password)\" >&2; exit 3",
        "alice",
        "alice-Pw-4r",
    )
    .await;
    assert!(
        said.contains("exit status: 3") && said.contains("no such domain for alice (***)"),
        "{said}"
    );
    assert!(!said.contains("alice-Pw-4r"));
    let ok = mailport_proxy::gate::provision("read login; test \"$login\" = bob", "bob", "x").await;
    assert_eq!(ok, "ok");
}
