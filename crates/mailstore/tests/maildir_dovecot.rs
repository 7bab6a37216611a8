//! Maildir against a real Dovecot, both ways: what Dovecot wrote must read back
//! as Dovecot serves it over IMAP; what we write must be served by Dovecot as
//! the corpus says.

mod common;

use common::{chown_mail, crlf, read_all, snapshot_of};
use mailport_mail::date::parse_internal_date;
use mailport_mailstore::{Error, Layout, Maildir};
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{dovecot, Corpus, CorpusOptions, Dovecot, DovecotOptions};

fn start(layout: dovecot::Layout) -> Dovecot {
    Dovecot::start(DovecotOptions {
        layout,
        // Only the corpus's folders, so that both sides list the same set.
        special_use: vec![],
        ..Default::default()
    })
    .expect("dovecot must start")
}

fn ours(layout: dovecot::Layout) -> Layout {
    match layout {
        dovecot::Layout::CourierDot => Layout::PlusPlus,
        dovecot::Layout::FsSlash => Layout::Fs,
    }
}

fn corpus() -> Corpus {
    Corpus::generate(&CorpusOptions {
        inbox_messages: 16,
        // Larger than the stream's 64 KiB chunks.
        large_attachment: 300_000,
        seed: 11,
    })
}

async fn snapshot(d: &Dovecot) -> Snapshot {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    let snap = session::snapshot(&mut c).await.unwrap();
    let _ = c.logout().await;
    snap
}

async fn read_ours(md: &Maildir) -> Snapshot {
    let mut snap = Snapshot::default();
    for f in md.folders().await.unwrap() {
        let mut msgs = Vec::new();
        for m in md.messages(&f.name).await.unwrap() {
            let bytes = read_all(md.open_message(&f.name, &m).await.unwrap()).await;
            assert_eq!(bytes.len() as u64, m.size, "{} {}", f.name, m.key);
            msgs.push(snapshot_of(&bytes, &m.flags, m.internal_date));
        }
        if f.subscribed {
            snap.subscribed.push(f.name.clone());
        }
        snap.folders.insert(f.name, msgs);
    }
    snap
}

async fn dovecot_written(layout: dovecot::Layout) {
    let d = start(layout);
    let corpus = corpus();
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, &corpus).await.unwrap();
    let _ = c.logout().await;
    let served = snapshot(&d).await;

    let md = Maildir::open(d.dir().join("home/alice/Maildir"), ours(layout))
        .await
        .unwrap();
    let read = read_ours(&md).await;
    assert_eq!(
        read.folders.keys().collect::<Vec<_>>(),
        served.folders.keys().collect::<Vec<_>>(),
        "folder names"
    );
    for (name, msgs) in &served.folders {
        // Same messages in the same order: delivery time orders as UIDs do.
        assert_eq!(&read.folders[name], msgs, "folder {name}");
    }
    let mut subs = md.subscriptions().await.unwrap();
    subs.sort();
    assert_eq!(subs, served.subscribed);
    // The folder list marks exactly the subscribed existing folders.
    let mut listed = read.subscribed.clone();
    listed.sort();
    let existing: Vec<String> = served
        .subscribed
        .iter()
        .filter(|s| served.folders.contains_key(*s))
        .cloned()
        .collect();
    assert_eq!(listed, existing);
    // The corpus's odd names came through Dovecot's modified UTF-7 intact.
    for name in [
        "Entwürfe",
        "Ümlaute & Co",
        "日本語のフォルダ",
        "📧 Emoji",
        "Ideographic\u{3000}Space",
        "Work/Projects/2024",
    ] {
        assert!(
            read.folders.contains_key(name),
            "{name}: {:?}",
            read.folders.keys()
        );
    }
    // Keywords went through dovecot-keywords letters.
    assert!(read
        .folders
        .values()
        .flatten()
        .any(|m| m.flags.iter().any(|f| !f.starts_with('\\'))));
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_maildir_plus_plus_written_by_dovecot() {
    dovecot_written(dovecot::Layout::CourierDot).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_layout_fs_written_by_dovecot() {
    dovecot_written(dovecot::Layout::FsSlash).await;
}

fn expected(corpus: &Corpus) -> Snapshot {
    let mut snap = Snapshot::default();
    for f in &corpus.folders {
        let msgs = f
            .messages
            .iter()
            .map(|m| {
                snapshot_of(
                    &crlf(&m.raw),
                    &m.flags,
                    parse_internal_date(&m.internal_date).unwrap(),
                )
            })
            .collect();
        snap.folders.insert(f.name.clone(), msgs);
        if f.subscribed {
            snap.subscribed.push(f.name.clone());
        }
    }
    snap.subscribed.sort();
    snap
}

async fn written_by_us(layout: dovecot::Layout) {
    // Started before anything exists in the home: Dovecot first looks at the
    // Maildir at the first login, which comes after we wrote it.
    let d = start(layout);
    let home = d.dir().join("home/alice");
    let md = Maildir::create(home.join("Maildir"), ours(layout))
        .await
        .unwrap();
    let corpus = corpus();
    let mut keys = Vec::new();
    for f in &corpus.folders {
        md.create_folder(&f.name).await.unwrap();
        if f.subscribed {
            md.subscribe(&f.name).await.unwrap();
        }
        for m in &f.messages {
            let mut del = md
                .deliver(
                    &f.name,
                    &m.flags,
                    parse_internal_date(&m.internal_date).unwrap(),
                )
                .await
                .unwrap();
            // In pieces, as a migration streams them.
            for piece in m.raw.chunks(5_000) {
                del.write(piece).await.unwrap();
            }
            keys.push((f.name.clone(), del.finish().await.unwrap()));
        }
    }
    chown_mail(&home);
    let served = snapshot(&d).await;
    let mut want = expected(&corpus);
    assert_eq!(
        served.folders.keys().collect::<Vec<_>>(),
        want.folders.keys().collect::<Vec<_>>()
    );
    for (name, msgs) in &want.folders {
        assert_eq!(&served.folders[name], msgs, "folder {name}");
    }
    assert_eq!(served.subscribed, want.subscribed);
    assert_eq!(served.noselect, vec!["Old".to_string()]);
    // Our reader agrees with Dovecot on our own Maildir.
    let read = read_ours(
        &Maildir::open(home.join("Maildir"), ours(layout))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read.folders, served.folders);

    // Flag changes and deletions on a Maildir Dovecot has already indexed.
    let inbox: Vec<&String> = keys
        .iter()
        .filter(|(f, _)| f == "INBOX")
        .map(|(_, k)| k)
        .collect();
    md.set_flags(
        "INBOX",
        inbox[0],
        &["\\Answered", "Neu-Stichwort", "$Label1"],
    )
    .await
    .unwrap();
    md.delete("INBOX", inbox[1]).await.unwrap();
    assert!(matches!(
        md.delete("INBOX", inbox[1]).await,
        Err(Error::NoMessage { .. })
    ));
    chown_mail(&home);
    let inbox_want = want.folders.get_mut("INBOX").unwrap();
    let mut f: Vec<String> = ["\\Answered", "Neu-Stichwort", "$Label1"]
        .map(String::from)
        .to_vec();
    f.sort();
    inbox_want[0].flags = f;
    inbox_want.remove(1);
    let served = snapshot(&d).await;
    assert_eq!(served.folders["INBOX"], want.folders["INBOX"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_serves_maildir_plus_plus_we_wrote() {
    written_by_us(dovecot::Layout::CourierDot).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_serves_layout_fs_we_wrote() {
    written_by_us(dovecot::Layout::FsSlash).await;
}

#[tokio::test]
async fn not_a_maildir_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = Maildir::open(dir.path(), Layout::Fs).await.unwrap_err();
    assert!(matches!(err, Error::NotMaildir { .. }));
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    let md = Maildir::create(dir.path().join("m"), Layout::PlusPlus)
        .await
        .unwrap();
    assert!(matches!(
        md.create_folder("a.b").await,
        Err(Error::BadName { .. })
    ));
    assert!(matches!(
        md.create_folder("x/../y").await,
        Err(Error::BadName { .. })
    ));
    assert!(matches!(md.messages("Nope").await, Err(Error::NoFolder(_))));
}
