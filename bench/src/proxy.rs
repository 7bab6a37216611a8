//! The AutoPort proxy measured (issue 14), in one run against private
//! Dovecots, with `mailport proxy` running as its own process:
//! (a) the cut-over window of a bulk-copied 10,000-message mailbox that
//!     received 20 new messages: as `accounts cutover` reports it, and as a
//!     client retrying its login every 20 ms sees it;
//! (b) the latency the proxy adds to a small FETCH (p50/p99, direct to the
//!     server against through the proxy, interleaved);
//! (c) 10,000 idle connections before login: the proxy's memory;
//! (d) 200 client sessions in a loop for 60 s while 20 accounts are cut
//!     over: outcomes by kind, and every moved mailbox compared with its
//!     source (no message lost or duplicated).
//!
//! Usage: mailport-bench-proxy MAILPORT [--big N] [--seconds S] [--sessions N] [--idle N]
//! Prints Markdown for docs/BENCHMARKS.md.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailport_testbed::corpus::BulkOptions;
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};
use tokio::io::AsyncBufReadExt;

const ADMIN: (&str, &str) = ("migrator", "migrator-Secret9");
/// Enough processes and connections for 200 sessions plus the copies.
const DOVECOT_LIMITS: &str =
    "mail_max_userip_connections = 500\ndefault_process_limit = 600\ndefault_client_limit = 3000\n";

fn password(u: &str) -> String {
    format!("{u}-bench-pw")
}

struct Args {
    mailport: PathBuf,
    big: usize,
    seconds: u64,
    sessions: usize,
    idle: usize,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        mailport: a
            .next()
            .expect("usage: mailport-bench-proxy MAILPORT [...]")
            .into(),
        big: 10_000,
        seconds: 60,
        sessions: 200,
        idle: 10_000,
    };
    while let Some(flag) = a.next() {
        let n: usize = a.next().and_then(|v| v.parse().ok()).expect("a number");
        match flag.as_str() {
            "--big" => out.big = n,
            "--seconds" => out.seconds = n as u64,
            "--sessions" => out.sessions = n,
            "--idle" => out.idle = n,
            other => panic!("unknown flag {other}"),
        }
    }
    out
}

fn mailport(m: &Path, state: &Path, args: &[&str]) -> String {
    try_mailport(m, state, args).unwrap_or_else(|e| panic!("mailport {args:?}: {e}"))
}

/// What `mailport ARGS` said, or why it failed.
fn try_mailport(m: &Path, state: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(m)
        .args(args)
        .arg("--state")
        .arg(state)
        .env("MAILPORT_TO_ADMIN_PASSWORD", ADMIN.1)
        .stdin(Stdio::null())
        .output()
        .expect("mailport runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.success() {
        true => Ok(text),
        false => Err(text),
    }
}

/// The mailbox state of `login` as `mailport accounts --json` shows it.
fn mailbox_state(m: &Path, state: &Path, login: &str) -> String {
    let out = mailport(m, state, &["accounts", "acme", "--json"]);
    let start = out.find('[').unwrap_or(0);
    let rows: serde_json::Value = serde_json::from_str(&out[start..]).unwrap_or_default();
    rows.as_array()
        .into_iter()
        .flatten()
        .find(|r| r["login"] == login)
        .and_then(|r| r["mailbox_state"].as_str())
        .unwrap_or("")
        .to_string()
}

fn wait_completed(m: &Path, state: &Path, login: &str) {
    while mailbox_state(m, state, login) != "completed" {
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Where the proxy's log goes.
fn log_path() -> PathBuf {
    std::env::temp_dir().join("mailport-bench-proxy.log")
}

/// Starts the proxy; its port. What it logs goes to [`log_path`] (a full
/// pipe would stall it).
fn start_proxy(m: &Path, state: &Path) -> (Child, u16) {
    let mut child = Command::new(m)
        .args([
            "proxy",
            "acme",
            "--listen-imap",
            "127.0.0.1:0",
            "--allow-plaintext",
            "--connections-per-address",
            "20000",
            "--delta-every",
            "off",
            "--follow-every",
            "off",
            "--state",
        ])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailport proxy starts");
    let mut said = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let mut log = std::fs::File::create(log_path()).expect("log file");
    std::thread::spawn(move || {
        use std::io::Write;
        for line in said.lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    (child, port)
}

/// "logins waited 4.9 s" in what `accounts cutover` said, in ms.
fn waited_ms(said: &str) -> Option<u64> {
    let seconds: f64 = said
        .split("logins waited ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some((seconds * 1000.0).round() as u64)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let m = a.mailport.as_path();
    let loaders: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
    let mut users: Vec<String> = vec!["big".into()];
    users.extend(loaders.iter().cloned());
    let start = |admin: bool| {
        Dovecot::start(DovecotOptions {
            users: users.iter().map(|u| (u.clone(), password(u))).collect(),
            master_user: admin.then(|| (ADMIN.0.into(), ADMIN.1.into())),
            extra_conf: DOVECOT_LIMITS.into(),
            ..Default::default()
        })
        .expect("Dovecot must start")
    };
    let (src, dst) = (start(false), start(true));
    let t = Instant::now();
    let big = Corpus::bulk(&BulkOptions {
        messages: a.big,
        folders: 10,
        min_size: 1_000,
        max_size: 30_000,
        seed: 14,
    });
    let mut c = session::login(src.imap_port, "big", &password("big"))
        .await
        .unwrap();
    session::load(&mut c, &big).await.unwrap();
    for (i, u) in loaders.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 40,
            large_attachment: 0,
            seed: 100 + i as u64,
        });
        let mut c = session::login(src.imap_port, u, &password(u))
            .await
            .unwrap();
        session::load(&mut c, &corpus).await.unwrap();
    }
    eprintln!("loaded in {:.0} s", t.elapsed().as_secs_f64());

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    mailport(
        m,
        &state,
        &[
            "project",
            "create",
            "acme",
            "--from",
            &format!("imap://127.0.0.1:{}", src.imap_port),
            "--to",
            &format!("imap://127.0.0.1:{}", dst.imap_port),
            "--to-admin",
            ADMIN.0,
            "--to-admin-style",
            "dovecot-master",
            "--from-tls-ca",
            src.ca_pem().to_str().unwrap(),
            "--to-tls-ca",
            dst.ca_pem().to_str().unwrap(),
        ],
    );
    let (mut proxy, port) = start_proxy(m, &state);
    let mut report = String::new();

    // (a) The cut-over window.
    let pw = password("big");
    session::login(port, "big", &pw)
        .await
        .unwrap()
        .logout()
        .await
        .ok();
    let t = Instant::now();
    {
        let (m, state) = (m.to_path_buf(), state.clone());
        tokio::task::spawn_blocking(move || wait_completed(&m, &state, "big"))
            .await
            .unwrap();
    }
    let bulk = t.elapsed();
    let twenty = Corpus::bulk(&BulkOptions {
        messages: 20,
        folders: 1,
        min_size: 1_000,
        max_size: 30_000,
        seed: 15,
    });
    let mut c = session::login(src.imap_port, "big", &pw).await.unwrap();
    session::load(&mut c, &twenty).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (stop, pw) = (stop.clone(), pw.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let at = start.elapsed();
                let outcome = match session::login(port, "big", &pw).await {
                    Ok(mut s) => {
                        let _ = s.logout().await;
                        "ok"
                    }
                    Err(e) if format!("{e:?}").contains("UNAVAILABLE") => "wait",
                    Err(_) => "error",
                };
                seen.push((at, outcome));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let said = {
        let (m, state) = (m.to_path_buf(), state.clone());
        tokio::task::spawn_blocking(move || {
            mailport(&m, &state, &["accounts", "cutover", "acme", "big"])
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = poller.await.unwrap();
    let waits: Vec<Duration> = seen
        .iter()
        .filter(|(_, o)| *o == "wait")
        .map(|(t, _)| *t)
        .collect();
    let errors = seen.iter().filter(|(_, o)| *o == "error").count();
    let client_window = match (waits.first(), waits.last()) {
        (Some(f), Some(l)) => *l - *f,
        _ => Duration::ZERO,
    };
    let reported = waited_ms(&said).map_or("?".into(), |ms| ms.to_string());
    let lost = session::mailbox_differences(src.imap_port, dst.imap_port, "big", &pw)
        .await
        .unwrap();
    report.push_str(&format!(
        "### Cut-over window\n\n\
         | mailbox | bulk copy through the proxy | new messages | window (`accounts cutover`) | window seen by a client retrying every 20 ms | other login errors | differences after |\n\
         |---|---|---|---|---|---|---|\n\
         | {} messages, 10 folders | {:.1} s | 20 | {reported} ms | {} ms ({} refused logins) | {errors} | {} |\n\n",
        a.big,
        bulk.as_secs_f64(),
        client_window.as_millis(),
        waits.len(),
        lost.len()
    ));

    // (b) Latency of a small FETCH, direct against through the proxy
    // (big is now served by the destination).
    let mut direct = session::login(dst.imap_port, "big", &pw).await.unwrap();
    let mut proxied = session::login(port, "big", &pw).await.unwrap();
    direct.select(b"INBOX", true).await.unwrap();
    proxied.select(b"INBOX", true).await.unwrap();
    let (mut d, mut p) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        let t = Instant::now();
        direct.fetch_meta("1", &[]).await.unwrap();
        d.push(t.elapsed());
        let t = Instant::now();
        proxied.fetch_meta("1", &[]).await.unwrap();
        p.push(t.elapsed());
    }
    d.sort();
    p.sort();
    report.push_str(&format!(
        "### Latency of a small FETCH (2,000 each, interleaved)\n\n\
         | | p50 | p99 |\n|---|---|---|\n\
         | Dovecot directly (plain text) | {} | {} |\n\
         | through the proxy (client to proxy plain, proxy to Dovecot STARTTLS) | {} | {} |\n\
         | added | {} | {} |\n\n",
        us(percentile(&d, 0.5)),
        us(percentile(&d, 0.99)),
        us(percentile(&p, 0.5)),
        us(percentile(&p, 0.99)),
        us(percentile(&p, 0.5).saturating_sub(percentile(&d, 0.5))),
        us(percentile(&p, 0.99).saturating_sub(percentile(&d, 0.99))),
    ));
    drop((direct, proxied));

    // (c) Idle connections before login.
    let before = rss_kb(proxy.id());
    let mut idle = Vec::with_capacity(a.idle);
    let t = Instant::now();
    for _ in 0..a.idle {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut r = tokio::io::BufReader::new(tcp);
        let mut greeting = String::new();
        r.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        idle.push(r);
    }
    let opened = t.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = rss_kb(proxy.id());
    report.push_str(&format!(
        "### Idle connections before login\n\n\
         | connections | proxy RSS before | with them open | per connection | opened in |\n|---|---|---|---|---|\n\
         | {} | {:.1} MB | {:.1} MB | {:.1} KB | {:.1} s |\n\n",
        a.idle,
        before as f64 / 1024.0,
        held as f64 / 1024.0,
        (held.saturating_sub(before)) as f64 / a.idle as f64,
        opened.as_secs_f64()
    ));
    drop(idle);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // (d) Sessions in a loop while accounts move.
    for u in &loaders {
        session::login(port, u, &password(u))
            .await
            .unwrap()
            .logout()
            .await
            .ok();
    }
    for u in &loaders {
        let (m, state, u) = (m.to_path_buf(), state.clone(), u.clone());
        tokio::task::spawn_blocking(move || wait_completed(&m, &state, &u))
            .await
            .unwrap();
    }
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default()); // ok, try later, other
    let other_errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..a.sessions {
        let u = loaders[i % loaders.len()].clone();
        let (counts, stop, other) = (counts.clone(), stop.clone(), other_errors.clone());
        clients.push(tokio::spawn(async move {
            let pw = password(&u);
            while !stop.load(Ordering::Relaxed) {
                let run = async {
                    let mut s = session::login(port, &u, &pw).await?;
                    s.select(b"INBOX", true).await?;
                    s.fetch_meta("1:5", &[]).await?;
                    s.logout().await
                };
                match run.await {
                    Ok(()) => counts[0].fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        let text = format!("{e:?}");
                        // Logins during a final pass are told to wait; a
                        // session open when it began is closed with BYE.
                        // Clients wait before they try again.
                        let n = if text.contains("UNAVAILABLE") || text.contains("moving") {
                            counts[1].fetch_add(1, Ordering::Relaxed)
                        } else {
                            other.lock().unwrap().push(text);
                            counts[2].fetch_add(1, Ordering::Relaxed)
                        };
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        n
                    }
                };
            }
        }));
    }
    let t = Instant::now();
    let mut windows = Vec::new();
    let mut rolled_back = Vec::new();
    let cutover = |u: String| {
        let (m, state) = (m.to_path_buf(), state.clone());
        tokio::task::spawn_blocking(move || {
            try_mailport(&m, &state, &["accounts", "cutover", "acme", &u])
        })
    };
    for (i, u) in loaders.iter().enumerate() {
        match cutover(u.clone()).await.unwrap() {
            Ok(said) => windows.extend(waited_ms(&said)),
            // Rolled back (nothing lost); tried again after the others.
            Err(said) => rolled_back.push((u.clone(), said)),
        }
        let pace = Duration::from_secs(a.seconds) / loaders.len() as u32;
        if let Some(rest) = (pace * (i as u32 + 1)).checked_sub(t.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    for (u, _) in &rolled_back {
        if let Ok(said) = cutover(u.clone()).await.unwrap() {
            windows.extend(waited_ms(&said));
        }
    }
    if let Some(rest) = Duration::from_secs(a.seconds).checked_sub(t.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = t.elapsed();
    let mut differences = 0;
    for u in &loaders {
        differences += session::mailbox_differences(src.imap_port, dst.imap_port, u, &password(u))
            .await
            .unwrap()
            .len();
    }
    windows.sort();
    let [ok, later, other] = [0, 1, 2].map(|i| counts[i].load(Ordering::Relaxed));
    let sample: Vec<String> = other_errors
        .lock()
        .unwrap()
        .iter()
        .take(3)
        .cloned()
        .collect();
    report.push_str(&format!(
        "### {} sessions for {:.0} s while {} accounts are cut over\n\n\
         | sessions completed (login, SELECT, FETCH, LOGOUT) | told to try again later | other errors | accounts moved | cut-overs rolled back (then retried) | cut-over windows (min / median / max) | folders differing after |\n\
         |---|---|---|---|---|---|---|\n\
         | {ok} ({:.0}/s) | {later} | {other} | {} | {} | {} / {} / {} ms | {differences} |\n\n",
        a.sessions,
        elapsed.as_secs_f64(),
        loaders.len(),
        ok as f64 / elapsed.as_secs_f64(),
        windows.len(),
        rolled_back.len(),
        windows.first().unwrap_or(&0),
        windows.get(windows.len() / 2).unwrap_or(&0),
        windows.last().unwrap_or(&0),
    ));
    for (u, said) in rolled_back.iter().take(3) {
        let first = said.lines().next().unwrap_or("");
        report.push_str(&format!("Rolled back: {u}: {first}\n\n"));
    }
    if !sample.is_empty() {
        report.push_str(&format!(
            "Other errors, first ones: {sample:?} (the proxy's log: {})\n\n",
            log_path().display()
        ));
    }
    let _ = proxy.kill();
    let _ = proxy.wait();
    println!("{report}");
}
