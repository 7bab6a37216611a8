//! The harness itself works: Dovecot starts, the corpus loads, the snapshot sees it.

use mailport_testbed::{session, Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

#[tokio::test(flavor = "multi_thread")]
async fn corpus_loads_into_courier_style_dovecot() {
    let d = Dovecot::start(DovecotOptions {
        layout: Layout::CourierDot,
        ..Default::default()
    })
    .expect("dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 100_000,
        seed: 7,
    });
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();
    let snap = session::snapshot(&mut c).await.unwrap();
    for f in &corpus.folders {
        let got = snap
            .folders
            .get(&f.name)
            .unwrap_or_else(|| panic!("folder {} missing: {:?}", f.name, snap.folders.keys()));
        assert_eq!(got.len(), f.messages.len(), "{}", f.name);
        for (m, s) in f.messages.iter().zip(got) {
            assert_eq!(
                mailport_mail::date::parse_internal_date(&m.internal_date),
                Some(s.internal_date)
            );
        }
    }
    assert!(
        snap.noselect.contains(&"Old".to_string()),
        "{:?}",
        snap.noselect
    );
    assert!(snap.subscribed.contains(&"Work".to_string()));
    assert!(!snap.subscribed.contains(&"Work/Projects/2024".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn pop3_listeners_greet() {
    use tokio::io::AsyncReadExt;
    let d = Dovecot::start(DovecotOptions {
        pop3: true,
        ..Default::default()
    })
    .expect("dovecot with pop3 must start");
    assert!(d.pop3_port != 0 && d.pop3s_port != 0);
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.pop3_port))
        .await
        .unwrap();
    let mut greeting = [0u8; 64];
    let n = tcp.read(&mut greeting).await.unwrap();
    assert!(greeting[..n].starts_with(b"+OK"), "{:?}", &greeting[..n]);
    // The IMAP side is unchanged: APOP is a POP3-only mechanism.
    let mut imap = tokio::net::TcpStream::connect(("127.0.0.1", d.imap_port))
        .await
        .unwrap();
    let mut greeting = [0u8; 512];
    let n = imap.read(&mut greeting).await.unwrap();
    let greeting = String::from_utf8_lossy(&greeting[..n]);
    assert!(greeting.contains("AUTH=PLAIN"), "{greeting}");
    assert!(!greeting.contains("APOP"), "{greeting}");
    session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
}
