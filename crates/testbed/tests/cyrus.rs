//! The Cyrus harness works: it starts, users log in over plain IMAP and TLS,
//! their special folders exist, and dropping it stops every process.

use mailport_testbed::{session, Cyrus, CyrusOptions};

#[tokio::test(flavor = "multi_thread")]
async fn cyrus_starts_accepts_logins_and_stops() {
    let cyrus = Cyrus::start(CyrusOptions::default())
        .unwrap_or_else(|e| panic!("Cyrus must start for this test: {e}"));

    let mut c = session::login(cyrus.imap_port, "alice", cyrus.password("alice"))
        .await
        .unwrap_or_else(|e| panic!("login: {e}\n{}", cyrus.log_tail()));
    assert_eq!(
        session::namespace(&mut c).await.unwrap(),
        (String::new(), '/'),
        "altnamespace + unixhierarchysep: no prefix, / separator"
    );
    let names: Vec<String> = c
        .list_all()
        .await
        .unwrap()
        .iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    for want in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    let sent = c
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.name == b"Sent")
        .unwrap();
    assert!(sent.has_attribute("\\Sent"), "{:?}", sent.attributes);

    // Wrong password: refused, not accepted.
    assert!(session::login(cyrus.imap_port, "alice", "wrong")
        .await
        .is_err());

    // Implicit TLS with the harness's certificate.
    let mut t = session::login_tls(&cyrus, "alice")
        .await
        .unwrap_or_else(|e| panic!("TLS login: {e}\n{}", cyrus.log_tail()));
    t.logout().await.unwrap();

    let dir = cyrus.dir().to_string_lossy().into_owned();
    assert!(processes_naming(&dir) > 0);
    drop(c);
    drop(cyrus);
    assert_eq!(
        processes_naming(&dir),
        0,
        "Cyrus processes outlived the drop"
    );
}

/// How many processes have `needle` in their command line (the instance's config path).
fn processes_naming(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .count()
}
