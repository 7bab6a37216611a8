//! Copies between two real, private Dovecot instances and compares every
//! message (SHA-256 of the bytes, flags, INTERNALDATE), the folder mapping and
//! the subscriptions.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use mailport_engine::plan::PlanOptions;
use mailport_engine::{copy, Connector, CopyOptions, NoProgress, Report};
use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

use common::connector;

fn start(layout: Layout, special_use: &[(&str, &str)], extra_conf: &str) -> Dovecot {
    let mut o = DovecotOptions {
        layout,
        extra_conf: extra_conf.into(),
        ..Default::default()
    };
    if !special_use.is_empty() {
        o.special_use = special_use
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    }
    Dovecot::start(o).unwrap_or_else(|e| panic!("Dovecot must start for this test: {e}"))
}

async fn load(d: &Dovecot, corpus: &Corpus) -> Snapshot {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::load(&mut c, corpus).await.unwrap();
    session::snapshot(&mut c).await.unwrap()
}

async fn snap(d: &Dovecot) -> Snapshot {
    let mut c = session::login(d.imap_port, "alice", d.password("alice"))
        .await
        .unwrap();
    session::snapshot(&mut c).await.unwrap()
}

async fn run(src: &Connector, dst: &Connector, opts: CopyOptions) -> Report {
    let r = copy(src.clone(), dst.clone(), opts, Arc::new(NoProgress))
        .await
        .unwrap();
    for f in &r.folders {
        assert!(f.adds_up(), "totals do not add up for {}: {f:?}", f.source);
    }
    r
}

/// Every source folder's messages are in the expected destination folder,
/// identical in bytes, flags and INTERNALDATE, as many times as on the source.
fn assert_migrated(src: &Snapshot, dst: &Snapshot, mapping: &BTreeMap<&str, &str>) {
    let pairs: Vec<(&str, &str)> = mapping.iter().map(|(a, b)| (*a, *b)).collect();
    let diff = src.differences(dst, &pairs);
    assert!(
        diff.is_empty(),
        "not migrated: {diff:#?}; destination has {:?}",
        dst.folders.keys()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_corpus_courier_dot_to_fs_slash_and_reruns_without_duplicates() {
    let source = start(
        Layout::CourierDot,
        &[("Gesendete Objekte", "\\Sent"), ("Trash", "\\Trash")],
        "",
    );
    let dest = start(Layout::FsSlash, &[], "");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 60,
        // About 25 MB once base64-encoded: the largest attachment we promise.
        large_attachment: 18 << 20,
        seed: 42,
    })
    .with_folder("Gesendete Objekte", 4, 5)
    .with_folder("Trash", 2, 6);
    let src_snap = load(&source, &corpus).await;
    assert_eq!(
        src_snap.folders.values().map(Vec::len).sum::<usize>(),
        corpus.message_count()
    );

    // Implicit TLS on one side, STARTTLS on the other.
    let s = connector(&source, &source.imaps_url("alice"));
    let d = connector(&dest, &dest.imap_url("alice"));
    let report = run(&s, &d, CopyOptions::default()).await;
    assert!(report.is_clean(), "{:#?}", report.folders);
    assert_eq!(report.totals.copied as usize, corpus.message_count());
    assert_eq!(
        report.totals.source_messages as usize,
        corpus.message_count()
    );

    let mapping = BTreeMap::from([("Gesendete Objekte", "Sent"), ("Entwürfe", "Drafts")]);
    let dst_snap = snap(&dest).await;
    assert_migrated(&src_snap, &dst_snap, &mapping);
    // No folder appears that the source did not have (besides the destination's own).
    for name in dst_snap.folders.keys() {
        let from_source =
            src_snap.folders.contains_key(name) || mapping.values().any(|v| v == name);
        assert!(
            from_source || ["Junk", "Archive"].contains(&name.as_str()),
            "unexpected folder {name}"
        );
    }
    assert!(!dst_snap.folders.contains_key("Gesendete Objekte"));
    assert!(
        !dst_snap.folders.contains_key("Old"),
        "a \\Noselect parent must not become a real folder"
    );
    assert!(dst_snap.folders.contains_key("Old/Letters"));
    assert!(dst_snap.folders.contains_key("Ideographic\u{3000}Space"));
    assert!(dst_snap.folders.contains_key("日本語のフォルダ"));
    // Subscriptions follow their folders.
    for sub in &src_snap.subscribed {
        let target = mapping.get(sub.as_str()).copied().unwrap_or(sub);
        assert!(
            dst_snap.subscribed.iter().any(|s| s == target),
            "subscription {sub} -> {target} missing: {:?}",
            dst_snap.subscribed
        );
    }
    assert!(!dst_snap
        .subscribed
        .contains(&"Work/Projects/2024".to_string()));
    // The identical message twice in INBOX stays twice.
    let inbox = &dst_snap.folders["INBOX"];
    let twins = inbox
        .iter()
        .filter(|m| m.sha256 == src_snap.folders["INBOX"][0].sha256)
        .count();
    assert_eq!(twins, 2);
    assert!(inbox
        .iter()
        .any(|m| m.flags.contains(&"\\Deleted".to_string())));
    assert!(inbox
        .iter()
        .any(|m| m.flags.contains(&"$Forwarded".to_string())));

    // A second run finds everything present and changes nothing.
    let again = run(&s, &d, CopyOptions::default()).await;
    assert!(again.is_clean());
    assert_eq!(again.totals.copied, 0, "{:#?}", again.folders);
    assert_eq!(
        again.totals.already_present as usize,
        corpus.message_count()
    );
    assert_eq!(snap(&dest).await, dst_snap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_slash_to_courier_dot_renames_what_the_destination_cannot_hold() {
    // Capabilities without MULTIAPPEND and LITERAL+: one APPEND per message
    // with synchronizing literals.
    let plain_caps = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UIDPLUS SPECIAL-USE LIST-EXTENDED";
    let source = start(Layout::FsSlash, &[], "");
    let dest = start(
        Layout::CourierDot,
        &[("Sent Items", "\\Sent"), ("Deleted Items", "\\Trash")],
        plain_caps,
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 300_000,
        seed: 9,
    })
    .with_folder("Releases/v1.2 Notes", 3, 11)
    .with_folder("Sent", 3, 12)
    .with_folder("Trash", 2, 13);
    let src_snap = load(&source, &corpus).await;
    let s = connector(&source, &source.imap_url("alice"));
    let d = connector(&dest, &dest.imaps_url("alice"));
    let report = run(
        &s,
        &d,
        CopyOptions {
            connections: 2,
            ..Default::default()
        },
    )
    .await;
    assert!(report.is_clean(), "{:#?}", report.folders);
    let renamed = report
        .plan
        .folders
        .iter()
        .find(|f| f.source == "Releases/v1.2 Notes")
        .unwrap();
    assert_eq!(renamed.destination, "Releases/v1_2 Notes");
    assert!(
        renamed.note.as_deref().unwrap_or("").contains("separator"),
        "{renamed:?}"
    );

    let mapping = BTreeMap::from([
        ("Releases/v1.2 Notes", "Releases/v1_2 Notes"),
        ("Sent", "Sent Items"),
        ("Trash", "Deleted Items"),
    ]);
    let dst_snap = snap(&dest).await;
    assert_migrated(&src_snap, &dst_snap, &mapping);
    // On the wire the destination spells it with its own prefix and separator.
    let mut c = session::login(dest.imap_port, "alice", dest.password("alice"))
        .await
        .unwrap();
    let names: Vec<String> = c
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .collect();
    assert!(
        names.contains(&"INBOX.Work.Projects.2024".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"INBOX.Entw&APw-rfe".to_string())
            || names.contains(&"INBOX.Drafts".to_string()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_dry_run_filters_and_folder_map() {
    let source = start(Layout::FsSlash, &[], "");
    let dest = start(Layout::FsSlash, &[], "");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 20,
        large_attachment: 400_000,
        seed: 3,
    });
    let src_snap = load(&source, &corpus).await;
    let s = connector(&source, &source.imap_url("alice"));
    let d = connector(&dest, &dest.imap_url("alice"));
    let before = snap(&dest).await;

    // Dry run: counts and a plan, no change.
    let dry = run(
        &s,
        &d,
        CopyOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await;
    assert!(dry.dry_run);
    assert_eq!(dry.totals.to_copy as usize, corpus.message_count());
    assert_eq!(dry.totals.copied, 0);
    assert_eq!(
        snap(&dest).await,
        before,
        "a dry run must not change the destination"
    );

    let opts = CopyOptions {
        skip_deleted: true,
        max_size: Some(200_000),
        plan: PlanOptions {
            include: Some(regex::Regex::new("^(INBOX|Work)").unwrap()),
            exclude: Some(regex::Regex::new("^Work/Projects/2024$").unwrap()),
            folder_map: vec![("Work".into(), "Job".into())],
        },
        ..Default::default()
    };
    let report = run(&s, &d, opts).await;
    assert!(report.is_clean());
    let inbox = report.folders.iter().find(|f| f.source == "INBOX").unwrap();
    assert_eq!(
        inbox.skipped.get("flagged \\Deleted (--skip-deleted)"),
        Some(&1)
    );
    assert_eq!(inbox.skipped.get("larger than --max-size"), Some(&1));
    assert_eq!(
        report
            .plan
            .excluded
            .iter()
            .filter(|e| e.starts_with("Work"))
            .count(),
        1
    );
    let dst_snap = snap(&dest).await;
    assert!(dst_snap.folders.contains_key("Job/Projects"));
    assert!(!dst_snap.folders.contains_key("Work"));
    assert!(!dst_snap.folders.contains_key("Job/Projects/2024"));
    assert!(!dst_snap.folders.contains_key("Entwürfe") && dst_snap.folders["Drafts"].is_empty());
    assert_eq!(
        dst_snap.folders["INBOX"].len(),
        src_snap.folders["INBOX"].len() - 2
    );
    assert!(dst_snap.folders["INBOX"]
        .iter()
        .all(|m| !m.flags.contains(&"\\Deleted".to_string())));
    assert_eq!(
        dst_snap.folders["Job"].len(),
        src_snap.folders["Work"].len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_world_messages_copy_byte_exact() {
    let corpus = Corpus::real_world().unwrap_or_else(|| {
        panic!(
            "real-world test mail missing: scripts/setup installs libpython3.11-testsuite ({:?})",
            mailport_testbed::corpus::REAL_WORLD_DIRS
        )
    });
    let n = corpus.message_count();
    assert!(n > 40, "expected CPython's email test messages, found {n}");
    let source = start(Layout::CourierDot, &[], "");
    let dest = start(Layout::FsSlash, &[], "");
    let src_snap = load(&source, &corpus).await;
    assert_eq!(
        src_snap.folders["Real World"].len(),
        n,
        "the source refused some real-world messages"
    );
    let report = run(
        &connector(&source, &source.imap_url("alice")),
        &connector(&dest, &dest.imap_url("alice")),
        CopyOptions::default(),
    )
    .await;
    assert!(report.is_clean(), "{:#?}", report.folders);
    assert_migrated(&src_snap, &snap(&dest).await, &BTreeMap::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_appendlimit_skips_larger_messages_with_reason() {
    let source = start(Layout::FsSlash, &[], "");
    let dest = start(
        Layout::FsSlash,
        &[],
        "imap_capability = +APPENDLIMIT=100000",
    );
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 10,
        large_attachment: 300_000,
        seed: 21,
    });
    let src_snap = load(&source, &corpus).await;
    let too_big = src_snap
        .folders
        .values()
        .flatten()
        .filter(|m| m.size > 100_000)
        .count();
    assert!(too_big >= 1);
    let report = run(
        &connector(&source, &source.imap_url("alice")),
        &connector(&dest, &dest.imap_url("alice")),
        CopyOptions::default(),
    )
    .await;
    assert!(report.is_clean(), "{:#?}", report.folders);
    let skipped: u64 = report
        .folders
        .iter()
        .filter_map(|f| f.skipped.get("larger than the destination's APPENDLIMIT"))
        .sum();
    assert_eq!(skipped as usize, too_big);
    assert_eq!(
        report.totals.copied as usize,
        corpus.message_count() - too_big
    );
}
