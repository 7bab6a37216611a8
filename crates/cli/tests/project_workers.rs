//! Three machines' worth of workers on one project over PostgreSQL: `run` in
//! one process and two `worker` processes (the key in MAILPORT_KEY), one
//! of them killed with -9 mid-copy. Every mailbox completes, each exactly
//! once on the destination, and no mailbox was ever worked on by two
//! workers at once (their passes never overlap).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mailport_testbed::cli::{text, users_csv};
use mailport_testbed::postgres::Postgres;
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");
const USERS: [&str; 6] = ["u1", "u2", "u3", "u4", "u5", "u6"];

fn password(user: &str) -> String {
    format!("{user}-pw-Hk2")
}

fn command(state: &str, args: &[&str]) -> Command {
    let mut c = Command::new(MAILPORT);
    c.stdin(Stdio::null())
        .args(args)
        .args(["--state", state])
        .env_remove("MAILPORT_KEY");
    c
}

/// `mailport status acme [LOGIN] --json`, parsed (null while the store is busy).
fn status(state: &str, key: &Path, login: Option<&str>) -> serde_json::Value {
    let mut args = vec!["status", "acme"];
    args.extend(login);
    args.extend(["--json", "--key-file", key.to_str().unwrap()]);
    let out = command(state, &args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn spawn(mut c: Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    c.stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_three_processes_one_killed_move_every_mailbox_once() {
    let pg =
        Postgres::start().unwrap_or_else(|e| panic!("PostgreSQL must start for this test: {e}"));
    let state = pg.url();
    let users: Vec<(String, String)> = USERS.iter().map(|u| (u.to_string(), password(u))).collect();
    let options = || DovecotOptions {
        users: users.clone(),
        ..Default::default()
    };
    let src = Dovecot::start(options()).expect("source Dovecot must start");
    let dst = Dovecot::start(options()).expect("destination Dovecot must start");
    for (i, user) in USERS.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 250,
            large_attachment: 200_000,
            seed: 70 + i as u64,
        });
        let mut c = session::login(src.imap_port, user, &password(user))
            .await
            .unwrap();
        session::load(&mut c, &corpus).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("acme.key");
    let from = format!("imap://127.0.0.1:{}", src.imap_port);
    let to = format!("imap://127.0.0.1:{}", dst.imap_port);
    let out = command(
        &state,
        &[
            "project",
            "create",
            "acme",
            "--from",
            &from,
            "--to",
            &to,
            "--from-tls-ca",
            src.ca_pem().to_str().unwrap(),
            "--to-tls-ca",
            dst.ca_pem().to_str().unwrap(),
            "--connections",
            "2",
            "--batch",
            "20",
            "--key-file",
            key.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, users_csv(&USERS, password)).unwrap();
    let out = command(
        &state,
        &[
            "mailbox",
            "import",
            "acme",
            csv.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // One `run` (which queues the mailboxes) and two workers elsewhere.
    let key_text = std::fs::read_to_string(&key).unwrap();
    let mut run = command(
        &state,
        &[
            "run",
            "acme",
            "--workers",
            "1",
            "--lease",
            "4",
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    run.env("MAILPORT_LOG", "warn");
    let mut run = spawn(run, &dir.path().join("run.log"));
    // The workers start once the mailboxes are queued.
    let queued = Instant::now();
    loop {
        let j = status(&state, &key, None);
        if j.as_array()
            .is_some_and(|a| a.iter().any(|m| m["state"] == "queued"))
        {
            break;
        }
        assert!(
            queued.elapsed() < Duration::from_secs(60),
            "nothing queued: {j}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker = |name: &str| {
        let mut c = command(
            &state,
            &["worker", "acme", "--workers", "1", "--lease", "4"],
        );
        c.env("MAILPORT_KEY", key_text.trim());
        spawn(c, &dir.path().join(format!("{name}.log")))
    };
    let mut doomed = worker("doomed");
    let mut other = worker("other");
    // Kill one worker once it holds a mailbox and has copied some of it.
    let started = Instant::now();
    let mut killed = false;
    while started.elapsed() < Duration::from_secs(120) {
        let j = status(&state, &key, None);
        let pid = doomed.id().to_string();
        let holds = j.as_array().is_some_and(|a| {
            a.iter().any(|m| {
                m["worker"]
                    .as_str()
                    .is_some_and(|w| w.contains(&format!(":{pid}/")))
            })
        });
        if holds {
            tokio::time::sleep(Duration::from_millis(700)).await;
            doomed.kill().unwrap();
            killed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = doomed.wait();
    assert!(killed, "the doomed worker never held a mailbox");
    let run_status = run.wait().unwrap();
    let other_status = other.wait().unwrap();
    let logs = ["run", "other", "doomed"]
        .iter()
        .map(|n| {
            format!(
                "--- {n}:\n{}",
                std::fs::read_to_string(dir.path().join(format!("{n}.log"))).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(run_status.success() || other_status.success(), "{logs}");

    let j = status(&state, &key, None);
    for m in j.as_array().unwrap() {
        assert_eq!(m["state"], "completed", "{m}\n{logs}");
    }
    // Each mailbox exactly once on the destination, byte for byte.
    for user in USERS {
        let diff =
            session::mailbox_differences(src.imap_port, dst.imap_port, user, &password(user))
                .await
                .unwrap();
        assert_eq!(diff, Vec::<String>::new(), "{user}\n{logs}");
        // Passes of one mailbox never overlap: never two workers at once.
        let h = status(&state, &key, Some(user));
        let mut spans: Vec<(i64, i64)> = h["passes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = p["started_at"].as_i64().unwrap();
                (s, s + p["duration_ms"].as_i64().unwrap())
            })
            .collect();
        spans.sort();
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "{user}: overlapping passes {spans:?}"
        );
    }
}
