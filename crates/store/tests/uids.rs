//! Stable UIDs for stores without their own, on both engines: many
//! connections numbering one folder at once never share a UID, and a state
//! file in which messages share UIDs (written before UIDs were reserved
//! atomically) is repaired when opened, not trusted.

use std::collections::{HashMap, HashSet};

use mailport_store::{Entry, FolderKey, Outcome, Store, MIGRATIONS};
use sqlx::Executor;

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Eight "connections" number the same folder at once, with overlapping key
/// lists (as workers sharing a folder do), in several rounds.
async fn concurrent_numbering(store: &Store) {
    let pair = "maildir:/old -> maildir:/new [destination]";
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got: Vec<(String, u32)> = Vec::new();
            for round in 0..5 {
                // Keys of its own, and keys every worker asks for.
                let mut ks = keys(&format!("w{w}r{round}-"), 40);
                ks.extend(keys(&format!("shared{round}-"), 40));
                let uids = store.uids_for_keys(pair, "INBOX", &ks).await.unwrap();
                got.extend(ks.into_iter().zip(uids));
            }
            got
        }));
    }
    let mut by_key: HashMap<String, u32> = HashMap::new();
    for t in tasks {
        for (k, uid) in t.await.unwrap() {
            let first = *by_key.entry(k.clone()).or_insert(uid);
            assert_eq!(first, uid, "key {k} got two UIDs");
        }
    }
    let distinct: HashSet<u32> = by_key.values().copied().collect();
    assert_eq!(by_key.len(), 8 * 5 * 40 + 5 * 40);
    assert_eq!(distinct.len(), by_key.len(), "some keys share a UID");
    // Asked again, every key has the UID it got.
    let all: Vec<String> = by_key.keys().cloned().collect();
    let again = store.uids_for_keys(pair, "INBOX", &all).await.unwrap();
    for (k, uid) in all.iter().zip(again) {
        assert_eq!(by_key[k], uid);
    }
    // A key new now comes after all of them.
    let next = store
        .uids_for_keys(pair, "INBOX", &["late".to_string()])
        .await
        .unwrap();
    assert!(next[0] > *distinct.iter().max().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_numbers_concurrently_without_sharing_a_uid() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("state.db"))
        .await
        .unwrap();
    concurrent_numbering(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_numbers_concurrently_without_sharing_a_uid() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    let store = Store::open(&pg.url()).await.unwrap();
    concurrent_numbering(&store).await;
}

/// A state file as the versions before migration 4 left it after a copy
/// into a Maildir on four connections: keys sharing UIDs on the destination
/// (and on a Maildir source), ledger rows pointing at the shared UIDs.
async fn damaged_state(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    pool.execute("CREATE TABLE schema_version (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .await
        .unwrap();
    for (version, sql) in &MIGRATIONS[..3] {
        for stmt in sql.split(';').map(str::trim).filter(|s| {
            !s.lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
        }) {
            pool.execute(stmt).await.unwrap();
        }
        pool.execute(sqlx::AssertSqlSafe(format!(
            "INSERT INTO schema_version (version, applied_at) VALUES ({version}, 0)"
        )))
        .await
        .unwrap();
    }
    let insert = |pair: &'static str, folder: &'static str, key: &'static str, uid: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO source_uids (pair, folder, message_key, uid) VALUES ($1, $2, $3, $4)",
            )
            .bind(pair)
            .bind(folder)
            .bind(key)
            .bind(uid)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // Destination INBOX: files a and b share UID 2, c has 3.
    insert("S -> D [destination]", "INBOX", "a", 1).await;
    insert("S -> D [destination]", "INBOX", "a2", 2).await;
    insert("S -> D [destination]", "INBOX", "b", 2).await;
    insert("S -> D [destination]", "INBOX", "c", 3).await;
    // Source folder Work: x and y share UID 1.
    insert("S -> D", "Work", "x", 1).await;
    insert("S -> D", "Work", "y", 1).await;
    insert("S -> D", "Work", "z", 2).await;
    pool.close().await;
}

fn copied(uid: u32, dest_uid: u32) -> Entry {
    Entry {
        uid,
        identity: format!("mid:<{uid}@x>|date:d|size:1"),
        size: 1,
        flags: Vec::new(),
        outcome: Outcome::Copied,
        reason: None,
        retryable: false,
        dest_folder: Some("INBOX".into()),
        dest_uidvalidity: Some(1),
        dest_uid: Some(dest_uid),
    }
}

async fn repairs_shared_uids(url: &str) {
    damaged_state(url).await;
    // The ledger as the damaged run left it, written with the old schema.
    {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        for (uid, dest) in [(10, 1), (11, 2), (12, 3)] {
            let e = copied(uid, dest);
            sqlx::query("INSERT INTO ledger (pair, folder, uidvalidity, uid, identity, size, flags, outcome, dest_folder, dest_uidvalidity, dest_uid, updated_at) VALUES ('S -> D', 'INBOX', 7, $1, $2, 1, '', 'copied', 'INBOX', 1, $3, 0)")
                .bind(i64::from(e.uid))
                .bind(e.identity)
                .bind(i64::from(dest))
                .execute(&pool)
                .await
                .unwrap();
        }
        for uid in [1i64, 2] {
            sqlx::query("INSERT INTO ledger (pair, folder, uidvalidity, uid, identity, size, flags, outcome, updated_at) VALUES ('S -> D', 'Work', 1, $1, 'i', 1, '', 'copied', 0)")
                .bind(uid)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO folder_state (pair, folder, uidvalidity, updated_at, complete) VALUES ('S -> D', $1, 1, 0, 1)")
            .bind(mailport_store::destination_state_key("INBOX", 7))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    let store = Store::open(url).await.unwrap();
    let mut repairs = store.repairs().to_vec();
    repairs.sort_by(|a, b| a.pair.cmp(&b.pair));
    assert_eq!(repairs.len(), 2, "{repairs:?}");
    assert_eq!(
        (
            repairs[0].pair.as_str(),
            repairs[0].folder.as_str(),
            repairs[0].messages
        ),
        ("S -> D", "Work", 2)
    );
    assert_eq!(
        (
            repairs[1].pair.as_str(),
            repairs[1].folder.as_str(),
            repairs[1].messages
        ),
        ("S -> D [destination]", "INBOX", 2)
    );
    // Every key has a UID of its own now; untouched keys keep theirs.
    let dest = store
        .uids_for_keys(
            "S -> D [destination]",
            "INBOX",
            &keys_of(&["a", "a2", "b", "c", "d"]),
        )
        .await
        .unwrap();
    assert_eq!(dest[0], 1);
    assert_eq!(dest[3], 3);
    assert_eq!(dest.iter().collect::<HashSet<_>>().len(), 5, "{dest:?}");
    assert!(dest[1] > 3 && dest[2] > 3 && dest[4] > dest[1].max(dest[2]));
    // The copy recorded at the shared UID 2 no longer claims a destination UID;
    // the others keep theirs; the destination folder state is gone.
    let inbox = store
        .entries(&FolderKey {
            pair: "S -> D".into(),
            folder: "INBOX".into(),
            uidvalidity: 7,
        })
        .await
        .unwrap();
    assert_eq!(inbox[&10].dest_uid, Some(1));
    assert_eq!(inbox[&11].dest_uid, None);
    assert_eq!(inbox[&12].dest_uid, Some(3));
    assert_eq!(
        store
            .folder_state("S -> D", &mailport_store::destination_state_key("INBOX", 7))
            .await
            .unwrap(),
        None
    );
    // On the source side the rows of the shared UID are gone (decided again).
    let work = store
        .entries(&FolderKey {
            pair: "S -> D".into(),
            folder: "Work".into(),
            uidvalidity: 1,
        })
        .await
        .unwrap();
    assert_eq!(work.keys().copied().collect::<Vec<_>>(), vec![2]);
    let src = store
        .uids_for_keys("S -> D", "Work", &keys_of(&["x", "y", "z"]))
        .await
        .unwrap();
    assert_eq!(src[2], 2);
    assert_eq!(src.iter().collect::<HashSet<_>>().len(), 3);
    drop(store);
    // Opened again: nothing left to repair.
    assert!(Store::open(url).await.unwrap().repairs().is_empty());
}

fn keys_of(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn sqlite_state_with_shared_uids_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    repairs_shared_uids(&url).await;
}

#[tokio::test]
async fn postgres_state_with_shared_uids_is_repaired() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    repairs_shared_uids(&pg.url()).await;
}

/// A number written beside the counter (an older mailport on a migrated
/// file) is never given again: the next number is above every one given.
async fn counter_stays_above_every_uid(url: &str) {
    let store = Store::open(url).await.unwrap();
    let pair = "P [destination]";
    store
        .uids_for_keys(pair, "INBOX", &keys("a", 2))
        .await
        .unwrap();
    {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        sqlx::query("INSERT INTO source_uids (pair, folder, message_key, uid) VALUES ($1, 'INBOX', 'old', 100)")
            .bind(pair)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let got = store
        .uids_for_keys(pair, "INBOX", &["new".to_string(), "old".to_string()])
        .await
        .unwrap();
    assert_eq!(got[1], 100);
    assert!(got[0] > 100, "{got:?}");
}

#[tokio::test]
async fn sqlite_counter_stays_above_every_uid() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    counter_stays_above_every_uid(&url).await;
}

#[tokio::test]
async fn postgres_counter_stays_above_every_uid() {
    let pg = mailport_testbed::postgres::Postgres::start()
        .unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    counter_stays_above_every_uid(&pg.url()).await;
}
