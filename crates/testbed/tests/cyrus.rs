//! The Cyrus harness works: it starts, users log in over plain IMAP and TLS,
//! their special folders exist, and dropping it stops every process.

use mailport_testbed::corpus::{Folder, Message};
use mailport_testbed::{session, Corpus, Cyrus, CyrusOptions};

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

/// `munge8bit: no` (the harness default) keeps raw 8-bit header bytes; Cyrus's
/// own default rewrites them to `X`, which would break byte-exact copies.
#[tokio::test(flavor = "multi_thread")]
async fn munge8bit_decides_whether_8bit_header_bytes_survive() {
    let raw = b"From: J\xfcrgen <j@example.net>\r\nSubject: Gr\xfc\xdfe\r\n\r\nbody\r\n".to_vec();
    for munge in [false, true] {
        let cyrus = Cyrus::start(CyrusOptions {
            munge8bit: munge,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("Cyrus must start for this test: {e}"));
        let mut c = session::login(cyrus.imap_port, "alice", cyrus.password("alice"))
            .await
            .unwrap();
        let corpus = Corpus {
            folders: vec![Folder {
                name: "INBOX".into(),
                subscribed: true,
                messages: vec![Message {
                    raw: raw.clone(),
                    flags: vec![],
                    internal_date: "01-Jan-2020 00:00:00 +0000".into(),
                }],
            }],
        };
        session::load(&mut c, &corpus).await.unwrap();
        c.select(b"INBOX", true).await.unwrap();
        c.body_fetch_start("1").await.unwrap();
        c.body_next().await.unwrap().expect("one message");
        let mut served = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = c.body_read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            served.extend_from_slice(&buf[..n]);
        }
        while c.body_next().await.unwrap().is_some() {}
        if munge {
            assert_eq!(
                served,
                b"From: JXrgen <j@example.net>\r\nSubject: GrXXe\r\n\r\nbody\r\n".to_vec()
            );
        } else {
            assert_eq!(served, raw, "munge8bit: no keeps the bytes");
        }
    }
}
