//! The proxy's SMTP front measured (issue 15), with `mailport proxy`
//! running as its own process between two private Postfix MTAs (the old
//! and the new server's, delivering by LMTP to their Dovecot):
//! (a) 10,000 messages from 20 concurrent senders while the 20 accounts
//!     they write to are cut over one by one: every message accepted is
//!     found exactly once where its recipient's mail belongs, counted by
//!     Message-ID at both ends; senders behave like MTAs (a 4xx reply is
//!     tried again a second later); throughput and latency;
//! (b) the retirement report on that traffic: the aliases and the mailboxes
//!     that never logged in, with their counts; no moved account;
//! (c) Postfix's `smtp-source`, 20 sessions, straight to the old MTA and
//!     through the proxy: the proxy's cost against the server's own rate.
//!
//! Usage: mailport-bench-smtp MAILPORT [--messages N] [--raw N]
//! Prints Markdown for docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailport_smtp::client::{Client, Dialect};
use mailport_testbed::session;
use mailport_testbed::{
    Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer, Postfix, PostfixOptions,
};
use tokio::io::AsyncWriteExt;

const ADMIN: (&str, &str) = ("migrator", "migrator-Secret9");
const SENDERS: usize = 20;
/// Addresses the old server expands (its aliases): no mailbox of their own.
const ALIASES: [(&str, &str); 3] = [("sales", "user00"), ("info", "user01"), ("jobs", "user02")];
/// Mailboxes on the old server whose users never log in.
const GHOSTS: [&str; 3] = ["ghost1", "ghost2", "ghost3"];

fn password(u: &str) -> String {
    format!("{u}-bench-pw")
}

struct Args {
    mailport: PathBuf,
    messages: usize,
    raw: usize,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        mailport: a
            .next()
            .expect("usage: mailport-bench-smtp MAILPORT [...]")
            .into(),
        messages: 10_000,
        raw: 2_000,
    };
    while let Some(flag) = a.next() {
        let n: usize = a.next().and_then(|v| v.parse().ok()).expect("a number");
        match flag.as_str() {
            "--messages" => out.messages = n,
            "--raw" => out.raw = n,
            other => panic!("unknown flag {other}"),
        }
    }
    out
}

/// What `mailport ARGS` said; whether it succeeded.
fn mailport(m: &Path, state: &Path, args: &[&str]) -> (bool, String) {
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
    (out.status.success(), text)
}

fn must(m: &Path, state: &Path, args: &[&str]) -> String {
    let (ok, said) = mailport(m, state, args);
    assert!(ok, "mailport {args:?}: {said}");
    said
}

/// Starts the proxy; its IMAP and SMTP ports.
fn start_proxy(m: &Path, state: &Path, old: u16, new: u16) -> (Child, u16, u16) {
    let mut child = Command::new(m)
        .args(["proxy", "acme", "--listen-imap", "127.0.0.1:0"])
        .args(["--listen-smtp", "127.0.0.1:0", "--allow-plaintext"])
        .args(["--relay-to", &format!("smtp://127.0.0.1:{old}")])
        .args(["--deliver-to", &format!("smtp://127.0.0.1:{new}")])
        .args(["--connections-per-address", "1000"])
        .args(["--delta-every", "off", "--follow-every", "off", "--state"])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailport proxy starts");
    let mut said = BufReader::new(child.stderr.take().unwrap());
    let mut port = |what: &str| {
        let mut line = String::new();
        said.read_line(&mut line).unwrap();
        assert!(line.contains(what), "{line}");
        line.trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    };
    let (imap, smtp) = (port("IMAP"), port("SMTP"));
    let log = std::env::temp_dir().join("mailport-bench-smtp.log");
    let mut log = std::fs::File::create(log).expect("log file");
    std::thread::spawn(move || {
        use std::io::Write;
        for line in said.lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    (child, imap, smtp)
}

enum Sent {
    /// Accepted, in this long (MAIL to the reply after the data).
    Accepted(Duration),
    /// A 4xx: the sender tries again.
    Later,
    Refused(String),
}

/// One message in one SMTP session, as an MTA sends it.
async fn send(port: u16, to: &str, id: &str, body: &[u8]) -> Result<Sent, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let e = |e: mailport_smtp::client::ClientError| e.to_string();
    let mut c = Client::connect(tcp, Dialect::Smtp, Duration::from_secs(60))
        .await
        .map_err(e)?;
    c.hello("mta.elsewhere.test").await.map_err(e)?;
    let t = Instant::now();
    let judge = |r: &mailport_smtp::server::Reply| match r.code {
        400..=499 => Some(Sent::Later),
        500.. => Some(Sent::Refused(format!("{} {}", r.code, r.lines.join(" ")))),
        _ => None,
    };
    let r = c.mail("sender@elsewhere.test", &[]).await.map_err(e)?;
    if let Some(s) = judge(&r) {
        return Ok(s);
    }
    let r = c.rcpt(to, &[]).await.map_err(e)?;
    if let Some(s) = judge(&r) {
        c.quit().await;
        return Ok(s);
    }
    let r = c.data().await.map_err(e)?;
    if r.code != 354 {
        return Ok(judge(&r).unwrap_or(Sent::Refused(format!("{}", r.code))));
    }
    let head = format!(
        "From: sender@elsewhere.test\r\nTo: {to}\r\nSubject: load\r\nMessage-ID: {id}\r\n\r\n"
    );
    let sink = c.message_sink();
    sink.write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    sink.write_all(body).await.map_err(|e| e.to_string())?;
    sink.write_all(b".\r\n").await.map_err(|e| e.to_string())?;
    let r = c.after_data(1).await.map_err(e)?.remove(0);
    let took = t.elapsed();
    c.quit().await;
    Ok(judge(&r).unwrap_or(Sent::Accepted(took)))
}

/// The recipient of message `k`: mostly the 20 accounts, one in twenty an
/// alias, one in twenty a mailbox that never logged in.
fn recipient(k: usize) -> String {
    let local = match k % 20 {
        0 => ALIASES[k / 20 % ALIASES.len()].0.to_string(),
        1 => GHOSTS[k / 20 % GHOSTS.len()].to_string(),
        _ => format!("user{:02}", k / 20 % 20),
    };
    format!("{local}@example.org")
}

/// Where a message to `local` must end up: (server, mailbox owner).
fn home(local: &str) -> (&'static str, String) {
    if let Some((_, target)) = ALIASES.iter().find(|(a, _)| *a == local) {
        // The old server expands its aliases; they stay there.
        return ("old", target.to_string());
    }
    if GHOSTS.contains(&local) {
        return ("old", local.to_string());
    }
    // Moved accounts: everything is on the new server in the end (mail
    // delivered to the old one before the move is copied by the final pass).
    ("new", local.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn wait_queues(mtas: &[&Postfix]) {
    for _ in 0..600 {
        if mtas.iter().all(|m| m.queue_is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the MTAs' queues never emptied");
}

/// `smtp-source` with 20 sessions sending `n` messages to `to` at `port`:
/// messages per second.
fn smtp_source(port: u16, n: usize, to: &str) -> f64 {
    let t = Instant::now();
    let out = Command::new("/usr/sbin/smtp-source")
        .args(["-s", "20", "-m", &n.to_string(), "-l", "2000"])
        .args([
            "-f",
            "sender@elsewhere.test",
            "-t",
            to,
            "-M",
            "mta.elsewhere.test",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("smtp-source runs (Debian's postfix)");
    assert!(
        out.status.success(),
        "smtp-source: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    n as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let m = a.mailport.as_path();
    let accounts: Vec<String> = (0..20).map(|i| format!("user{i:02}")).collect();
    let mut users = accounts.clone();
    users.extend(GHOSTS.iter().map(|g| g.to_string()));
    let start = |admin: bool| {
        Dovecot::start(DovecotOptions {
            users: users.iter().map(|u| (u.clone(), password(u))).collect(),
            master_user: admin.then(|| (ADMIN.0.into(), ADMIN.1.into())),
            lmtp: true,
            extra_conf: "mail_max_userip_connections = 500\n".into(),
            ..Default::default()
        })
        .expect("Dovecot must start")
    };
    let (src, dst) = (start(false), start(true));
    for (i, u) in accounts.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 20,
            large_attachment: 0,
            seed: 300 + i as u64,
        });
        let mut c = session::login(src.imap_port, u, &password(u))
            .await
            .unwrap();
        session::load(&mut c, &corpus).await.unwrap();
    }
    let aliases: Vec<String> = ALIASES
        .iter()
        .map(|(a, t)| format!("{a}@example.org={t}@example.org"))
        .collect();
    let mta = |name: &str, lmtp_port: u16, main_cf: String| {
        Postfix::start(PostfixOptions {
            hostname: name.into(),
            domains: vec!["example.org".into()],
            lmtp_port,
            trust_loopback_proxy: true,
            main_cf,
            ..Default::default()
        })
        .expect("Postfix must start")
    };
    let old_mta = mta(
        "old.example.org",
        src.lmtp_port,
        format!("virtual_alias_maps = inline:{{{}}}\n", aliases.join(", ")),
    );
    let new_mta = mta("new.example.org", dst.lmtp_port, String::new());

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    must(
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
            "--domain",
            "example.org",
        ],
    );
    for g in GHOSTS {
        must(m, &state, &["mailbox", "add", "acme", g, "--ask-user"]);
    }
    let (mut proxy, imap, smtp) = start_proxy(m, &state, old_mta.smtp_port, new_mta.smtp_port);
    // Every account logs in once through the proxy: captured and copied.
    for u in &accounts {
        session::login(imap, u, &password(u))
            .await
            .unwrap()
            .logout()
            .await
            .ok();
    }
    loop {
        let said = must(m, &state, &["accounts", "acme", "--json"]);
        let rows: serde_json::Value =
            serde_json::from_str(&said[said.find('[').unwrap_or(0)..]).unwrap_or_default();
        let done = rows
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["mailbox_state"] == "completed")
            .count();
        if done == accounts.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // (a) The load, while the accounts move.
    let body: Arc<Vec<u8>> = Arc::new(b"0123456789 load test line of text\r\n".repeat(50));
    let accepted = Arc::new(AtomicU64::new(0));
    let later = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let sent: Arc<Mutex<Vec<(String, String)>>> = Arc::default(); // (id, to)
    let t = Instant::now();
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (body, accepted, later, refused, latencies, sent) = (
            body.clone(),
            accepted.clone(),
            later.clone(),
            refused.clone(),
            latencies.clone(),
            sent.clone(),
        );
        let n = a.messages;
        senders.push(tokio::spawn(async move {
            for k in (s..n).step_by(SENDERS) {
                let to = recipient(k);
                let id = format!("<load-{k}@elsewhere.test>");
                loop {
                    match send(smtp, &to, &id, &body).await {
                        Ok(Sent::Accepted(took)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            latencies.lock().unwrap().push(took);
                            sent.lock().unwrap().push((id, to));
                            break;
                        }
                        Ok(Sent::Later) | Err(_) => {
                            later.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Ok(Sent::Refused(why)) => {
                            refused.lock().unwrap().push(format!("{to}: {why}"));
                            break;
                        }
                    }
                }
            }
        }));
    }
    // One account cut over each time another twenty-first of the messages
    // is accepted: all 20 move while the mail flows.
    let mut windows = Vec::new();
    let mut rolled_back = Vec::new();
    for (i, u) in accounts.iter().enumerate() {
        let due = (a.messages * (i + 1) / (accounts.len() + 1)) as u64;
        while accepted.load(Ordering::Relaxed) < due {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (m, state, u) = (m.to_path_buf(), state.clone(), u.clone());
        let (ok, said) = tokio::task::spawn_blocking(move || {
            mailport(&m, &state, &["accounts", "cutover", "acme", &u])
        })
        .await
        .unwrap();
        match ok {
            true => windows.push(said),
            false => rolled_back.push(said),
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    let elapsed = t.elapsed();
    wait_queues(&[&old_mta, &new_mta]).await;
    // Each moved account's settling pass (30 s after its move) carries
    // what the old MTA delivered after the final pass.
    tokio::time::sleep(Duration::from_secs(35)).await;
    loop {
        let said = must(m, &state, &["accounts", "acme", "--json"]);
        let rows: serde_json::Value =
            serde_json::from_str(&said[said.find('[').unwrap_or(0)..]).unwrap_or_default();
        let busy = rows
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["mailbox_state"] != "completed");
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Counted at the receiving end by Message-ID.
    let sent = sent.lock().unwrap().clone();
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    // The old server's copies too: a message for a moved account found
    // only there was stranded (delivered there after its final pass).
    let mut owners: Vec<(&str, String)> = accounts.iter().map(|u| ("new", u.clone())).collect();
    owners.extend(accounts.iter().map(|u| ("old", u.clone())));
    owners.extend(ALIASES.iter().map(|(_, t)| ("old", t.to_string())));
    owners.extend(GHOSTS.iter().map(|g| ("old", g.to_string())));
    owners.sort();
    owners.dedup();
    for (server, owner) in &owners {
        let port = if *server == "new" {
            dst.imap_port
        } else {
            src.imap_port
        };
        let mut c = session::login(port, owner, &password(owner)).await.unwrap();
        for id in session::message_ids(&mut c, b"INBOX").await.unwrap() {
            if id.starts_with("<load-") {
                *found.entry(format!("{server} {owner} {id}")).or_default() += 1;
            }
        }
    }
    let (mut lost, mut duplicated, mut stranded) = (0, 0, 0);
    for (id, to) in &sent {
        let local = to.split('@').next().unwrap();
        let (server, owner) = home(local);
        match found
            .get(&format!("{server} {owner} {id}"))
            .copied()
            .unwrap_or(0)
        {
            0 if found.contains_key(&format!("old {owner} {id}")) => stranded += 1,
            0 => lost += 1,
            1 => {}
            _ => duplicated += 1,
        }
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let refused = refused.lock().unwrap().clone();
    let mut report = format!(
        "### {} messages from {SENDERS} senders while {} accounts are cut over\n\n\
         | accepted | refused | told to try later (then sent again) | lost | only on the old server | duplicated | throughput | latency p50 / p99 (MAIL to the reply after the data) | cut-overs (rolled back) |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {lost} | {stranded} | {duplicated} | {:.0} messages/s | {} / {} | {} ({}) |\n\n",
        a.messages,
        accounts.len(),
        sent.len(),
        refused.len(),
        later.load(Ordering::Relaxed),
        sent.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        windows.len(),
        rolled_back.len(),
    );
    if let Some(r) = refused.first() {
        report.push_str(&format!("First refusal: {r}\n\n"));
    }
    if let Some(r) = rolled_back.first() {
        report.push_str(&format!(
            "First rollback: {}\n\n",
            r.lines().next().unwrap_or("")
        ));
    }

    // (b) The retirement report on this traffic.
    let (_, said) = mailport(m, &state, &["retire-report", "acme", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_str(&said).expect(&said);
    let count_to = |local: &str| {
        sent.iter()
            .filter(|(_, to)| to.split('@').next() == Some(local))
            .count()
    };
    report.push_str(
        "### The retirement report on that traffic\n\n| item | reported | sent |\n|---|---|---|\n",
    );
    let mut report_ok = true;
    for u in r["no_mailbox"].as_array().into_iter().flatten() {
        let local = u["address"]
            .as_str()
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("");
        let (got, want) = (u["messages"].as_i64().unwrap_or(-1), count_to(local));
        report_ok &= got == want as i64;
        report.push_str(&format!(
            "| {} (no mailbox) | {got} | {want} |\n",
            u["address"]
        ));
    }
    for g in r["not_moved"].as_array().into_iter().flatten() {
        let login = g["login"].as_str().unwrap_or("");
        let (got, want) = (g["messages"].as_i64().unwrap_or(-1), count_to(login));
        report_ok &= got == want as i64;
        report.push_str(&format!("| {login} (never logged in) | {got} | {want} |\n"));
    }
    for s in r["stale_routes"].as_array().into_iter().flatten() {
        report.push_str(&format!(
            "| {} (moved; mail still reached the old server: relayed {}, arrived there otherwise {}) | {} | |\n",
            s["login"].as_str().unwrap_or(""),
            s["relayed"],
            s["arrived_directly"],
            s["relayed"].as_i64().unwrap_or(0) + s["arrived_directly"].as_i64().unwrap_or(0),
        ));
    }
    let listed = r["no_mailbox"].as_array().map_or(0, |v| v.len())
        + r["not_moved"].as_array().map_or(0, |v| v.len());
    report_ok &= listed == ALIASES.len() + GHOSTS.len();
    report.push_str(&format!(
        "\nVerdict: {} — moved accounts listed as not moved: {}; every alias and never-logged-in mailbox listed with its count: {}\n\n",
        r["verdict"].as_str().unwrap_or("?"),
        r["not_moved"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g["login"].as_str().is_some_and(|l| l.starts_with("user")))
            .count(),
        if report_ok { "yes" } else { "NO" },
    ));

    // (c) smtp-source: the old MTA alone against through the proxy.
    let direct = smtp_source(old_mta.smtp_port, a.raw, "ghost1@example.org");
    let proxied = smtp_source(smtp, a.raw, "ghost1@example.org");
    wait_queues(&[&old_mta, &new_mta]).await;
    report.push_str(&format!(
        "### smtp-source, 20 sessions, {} messages of 2 KB each way\n\n\
         | straight to the old Postfix | through the proxy to it | proxy ÷ direct |\n|---|---|---|\n\
         | {direct:.0} messages/s | {proxied:.0} messages/s | {:.2} |\n\n",
        a.raw,
        proxied / direct
    ));
    let _ = proxy.kill();
    let _ = proxy.wait();
    println!("{report}");
}
