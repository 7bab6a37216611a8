//! Project mode measured (issue 13), in one run:
//! (a) N small mailboxes across two private Dovecots, moved by a project
//!     with 1, 4 and 8 workers, against the same copies as independent
//!     `mailport copy` processes run 1, 4 and 8 at a time;
//! (b) store operations on a 10,000-mailbox project, SQLite and PostgreSQL:
//!     import, status (listing every mailbox), claims per second.
//!
//! Usage: mailport-bench-projects MAILPORT [--mailboxes N] [--store-mailboxes N]
//! Prints a Markdown table for docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailport_store::{Finish, MailboxRow, MailboxState, ProjectRow, Store};
use mailport_testbed::cli::users_csv;
use mailport_testbed::postgres::Postgres;
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

fn password(u: &str) -> String {
    format!("{u}-bench-pw")
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:04}")).collect()
}

fn dovecot(users: &[String]) -> Dovecot {
    Dovecot::start(DovecotOptions {
        users: users.iter().map(|u| (u.clone(), password(u))).collect(),
        ..Default::default()
    })
    .expect("Dovecot must start")
}

/// Independent `mailport copy` processes, `at_once` at a time.
fn independent(
    mailport: &Path,
    src: &Dovecot,
    dst: &Dovecot,
    users: &[String],
    at_once: usize,
    dir: &Path,
) -> Duration {
    let started = Instant::now();
    let mut pending = users.iter();
    let mut running: Vec<std::process::Child> = Vec::new();
    loop {
        while running.len() < at_once {
            let Some(u) = pending.next() else { break };
            let child = Command::new(mailport)
                .args([
                    "copy",
                    "--from",
                    &format!("imap://{u}@127.0.0.1:{}", src.imap_port),
                    "--to",
                    &format!("imap://{u}@127.0.0.1:{}", dst.imap_port),
                    "--from-tls-ca",
                    src.ca_pem().to_str().unwrap(),
                    "--to-tls-ca",
                    dst.ca_pem().to_str().unwrap(),
                    "--state",
                    dir.join(format!("{u}.db")).to_str().unwrap(),
                ])
                .env("MAILPORT_FROM_PASSWORD", password(u))
                .env("MAILPORT_TO_PASSWORD", password(u))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mailport runs");
            running.push(child);
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].try_wait().expect("wait") {
                Some(status) => {
                    assert!(status.success(), "a copy failed");
                    // Reaped by try_wait already; wait() returns at once.
                    let _ = running.swap_remove(i).wait();
                }
                None => i += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// One project moving every mailbox with `workers`.
fn project(
    mailport: &Path,
    src: &Dovecot,
    dst: &Dovecot,
    users: &[String],
    workers: usize,
    dir: &Path,
) -> Duration {
    let state = dir.join("project.db");
    let run = |args: &[&str]| {
        let out = Command::new(mailport)
            .args(args)
            .args(["--state", state.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .expect("mailport runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "project",
        "create",
        "bench",
        "--from",
        &format!("imap://127.0.0.1:{}", src.imap_port),
        "--to",
        &format!("imap://127.0.0.1:{}", dst.imap_port),
        "--from-tls-ca",
        src.ca_pem().to_str().unwrap(),
        "--to-tls-ca",
        dst.ca_pem().to_str().unwrap(),
    ]);
    let csv = dir.join("users.csv");
    std::fs::write(&csv, users_csv(users, password)).unwrap();
    run(&["mailbox", "import", "bench", csv.to_str().unwrap()]);
    let started = Instant::now();
    run(&["run", "bench", "--workers", &workers.to_string()]);
    started.elapsed()
}

fn mailbox(i: usize) -> MailboxRow {
    MailboxRow {
        project: "big".into(),
        login: format!("user{i:05}@big.example"),
        source_auth: "password".into(),
        source_secret: Some(
            "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ),
        destination_login: format!("user{i:05}@big.example"),
        destination_auth: "admin".into(),
        overrides: "{}".into(),
        state: MailboxState::NotStarted.as_str().into(),
        size_hint: (i * 7919 % 100_000) as i64,
        ..Default::default()
    }
}

/// Import, status and claims of an `n`-mailbox project: seconds, seconds,
/// claims per second (8 claimers).
async fn store_ops(store: Store, n: usize) -> (f64, f64, f64) {
    store
        .create_project(&ProjectRow {
            name: "big".into(),
            settings: "{}".into(),
            key_check: "x".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    let rows: Vec<MailboxRow> = (0..n).map(mailbox).collect();
    let t = Instant::now();
    store.put_mailboxes(&rows).await.unwrap();
    let import = t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert_eq!(store.mailboxes("big").await.unwrap().len(), n);
    let status = t.elapsed().as_secs_f64();
    store
        .queue("big", &[MailboxState::NotStarted], &[], "full")
        .await
        .unwrap();
    let claims = 2000.min(n);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            for _ in 0..claims / 8 {
                let m = store
                    .claim("big", &owner, (10, 100), None)
                    .await
                    .unwrap()
                    .unwrap();
                let done = Finish {
                    state: MailboxState::Completed,
                    error: None,
                    retryable: false,
                    not_before: 0,
                    size_hint: None,
                    good: true,
                };
                store.finish("big", &m.login, &owner, &done).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (claims / 8 * 8) as f64 / t.elapsed().as_secs_f64();
    (import, status, rate)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mailport = PathBuf::from(
        args.next()
            .expect("usage: mailport-bench-projects MAILPORT"),
    );
    let mut n = 200;
    let mut store_n = 10_000;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mailboxes" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--mailboxes N")
            }
            "--store-mailboxes" => {
                store_n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--store-mailboxes N")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let users = users(n);
    let src = dovecot(&users);
    let mut bytes = 0u64;
    rt.block_on(async {
        for (i, u) in users.iter().enumerate() {
            let corpus = Corpus::generate(&CorpusOptions {
                inbox_messages: 12,
                large_attachment: 0,
                seed: i as u64,
            });
            bytes += corpus.total_bytes();
            let mut c = session::login(src.imap_port, u, &password(u))
                .await
                .unwrap();
            session::load(&mut c, &corpus).await.unwrap();
        }
    });
    let mb = bytes as f64 / 1e6;
    println!("(a) {n} mailboxes, {mb:.1} MB, two private Dovecots (STARTTLS both sides), one fresh destination per run\n");
    println!("| mode | at once | wall s | mailboxes/min | MB/s | project ÷ independent |");
    println!("|---|---:|---:|---:|---:|---:|");
    for at_once in [1, 4, 8] {
        let dir = tempfile::tempdir().unwrap();
        let dst = dovecot(&users);
        let ind = independent(&mailport, &src, &dst, &users, at_once, dir.path());
        drop(dst);
        let dir2 = tempfile::tempdir().unwrap();
        let dst = dovecot(&users);
        let proj = project(&mailport, &src, &dst, &users, at_once, dir2.path());
        drop(dst);
        for (mode, d) in [
            ("independent `copy`", ind),
            ("project `run --workers`", proj),
        ] {
            let s = d.as_secs_f64();
            println!(
                "| {mode} | {at_once} | {s:.1} | {:.0} | {:.2} | {} |",
                n as f64 / s * 60.0,
                mb / s,
                if mode.starts_with("project") {
                    format!("{:.2}", ind.as_secs_f64() / s)
                } else {
                    "-".into()
                }
            );
        }
    }
    println!("\n(b) store operations on a {store_n}-mailbox project (8 claimers)\n");
    println!("| engine | import s | status (list all) s | claims/s |");
    println!("|---|---:|---:|---:|");
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open_sqlite(&dir.path().join("big.db"))
            .await
            .unwrap();
        let (i, s, c) = store_ops(sqlite, store_n).await;
        println!("| SQLite | {i:.2} | {s:.2} | {c:.0} |");
        let pg = Postgres::start().expect("PostgreSQL must start");
        let store = Store::open(&pg.url()).await.unwrap();
        let (i, s, c) = store_ops(store, store_n).await;
        println!("| PostgreSQL | {i:.2} | {s:.2} | {c:.0} |");
    });
}
