//! Whose mail an address is: a mailbox of the project (its login is the
//! address, or the local part in one of the organisation's domains), an
//! address of the organisation without a mailbox, or someone else's.

use std::collections::BTreeSet;

use mailport_project::{Addressee, Project, ProjectKey, Settings};
use mailport_store::Store;

#[tokio::test]
async fn addresses_find_their_mailboxes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
    let settings = Settings {
        domains: vec!["example.org".into()],
        ..Settings::new("imap://127.0.0.1:9".into(), "imap://127.0.0.1:9".into())
    };
    let p = Project::create(store, "acme", settings, ProjectKey::generate())
        .await
        .unwrap();
    p.capture("alice", "pw").await.unwrap();
    p.capture("bob@other.example", "pw").await.unwrap();
    let domains = p.mail_domains().await.unwrap();
    assert_eq!(
        domains,
        BTreeSet::from(["example.org".to_string(), "other.example".to_string()])
    );
    for (local, domain, expected) in [
        ("alice", "Example.ORG", Addressee::Mailbox("alice".into())),
        (
            "Bob",
            "other.example",
            Addressee::Mailbox("bob@other.example".into()),
        ),
        ("sales", "example.org", Addressee::NoMailbox),
        ("alice", "elsewhere.test", Addressee::Elsewhere),
    ] {
        assert_eq!(
            p.addressee(local, domain, &domains).await.unwrap(),
            expected,
            "{local}@{domain}"
        );
    }
}
