//! `scripts/demo`: two private Dovecot servers on loopback, a generated
//! mailbox on the first, `mailport copy` to the second with progress, the
//! summary, and an independent check that both sides hold the same mail;
//! then a project of several mailboxes moved by workers, with its report;
//! then a login through the proxy, whose mailbox moves in the background,
//! and its cut-over: the next login reads the new server; mail through the
//! proxy's SMTP front lands where each mailbox is, and the retirement
//! report says what still needs the old server.
//!
//! Usage: mailport-demo [PATH-TO-mailport] [--keep]   (mailport: default next to this binary)
//!
//! `--keep` leaves both servers running afterwards and prints how to try
//! mailport on them (and how to stop them).

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

fn main() -> ExitCode {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(demo()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo() -> Result<bool, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keep = args.iter().any(|a| a == "--keep");
    let mailport = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("own path")
                .with_file_name("mailport")
        });
    println!("== Starting two private Dovecot servers on 127.0.0.1");
    let old = Dovecot::start(DovecotOptions {
        layout: Layout::CourierDot,
        special_use: vec![
            ("Gesendete Objekte".into(), "\\Sent".into()),
            ("Papierkorb".into(), "\\Trash".into()),
        ],
        ..Default::default()
    })?;
    let new = Dovecot::start(DovecotOptions::default())?;
    println!("   old server: Courier-style (INBOX. prefix, '.' separator), German special folders, port {}", old.imaps_port);
    println!(
        "   new server: '/' separator, English special folders, port {}",
        new.imaps_port
    );

    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 300,
        large_attachment: 18 << 20,
        seed: 2026,
    })
    .with_folder("Gesendete Objekte", 40, 7)
    .with_folder("Papierkorb", 10, 8);
    println!(
        "== Loading a sample mailbox: {} messages, {:.1} MB, {} folders (umlauts, CJK, emoji, U+3000, 25 MB attachment, flags, keywords)",
        corpus.message_count(),
        corpus.total_bytes() as f64 / 1e6,
        corpus.folders.len()
    );
    let mut c = session::login(old.imap_port, "alice", old.password("alice")).await?;
    session::load(&mut c, &corpus).await?;
    let before = session::snapshot(&mut c).await?;

    let dir = tempfile::Builder::new().prefix("mailport-demo").tempdir()?;
    let (pf, pt) = (dir.path().join("from.pw"), dir.path().join("to.pw"));
    std::fs::write(&pf, old.password("alice"))?;
    std::fs::write(&pt, new.password("alice"))?;
    let args = [
        "copy".to_string(),
        "--from".into(),
        old.imaps_url("alice"),
        "--to".into(),
        new.imaps_url("alice"),
        "--from-password-file".into(),
        pf.display().to_string(),
        "--to-password-file".into(),
        pt.display().to_string(),
        "--from-tls-ca".into(),
        old.certs.ca_pem.display().to_string(),
        "--to-tls-ca".into(),
        new.certs.ca_pem.display().to_string(),
        "--state".into(),
        dir.path().join("state.db").display().to_string(),
    ];
    println!("== Running: {} {}", mailport.display(), args.join(" "));
    let status = Command::new(&mailport).args(&args).status()?;
    println!(
        "   mailport exited with code {}",
        status.code().map_or("none".into(), |c| c.to_string())
    );

    println!(
        "== Checking both sides independently (SHA-256 of every message, flags, INTERNALDATE)"
    );
    let mut c = session::login(new.imap_port, "alice", new.password("alice")).await?;
    let after = session::snapshot(&mut c).await?;
    let mapping = BTreeMap::from([
        ("Gesendete Objekte", "Sent"),
        ("Papierkorb", "Trash"),
        ("Entwürfe", "Drafts"),
    ]);
    let ok = compare(&before, &after, &mapping);

    println!("== Running the same copy again (a delta pass from the state file): nothing new must be copied");
    let out = Command::new(&mailport).args(&args).arg("--json").output()?;
    let totals = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map(|j| j["totals"].clone())
        .unwrap_or_default();
    let count = |k: &str| totals[k].as_u64().map_or("?".into(), |n| n.to_string());
    let mut c = session::login(new.imap_port, "alice", new.password("alice")).await?;
    let again = session::snapshot(&mut c).await?;
    let no_dups = again == after;
    println!(
        "   second run: exit code {}, {} copied, {} already present; destination unchanged: {}",
        out.status.code().map_or("none".into(), |c| c.to_string()),
        count("copied"),
        count("already_present"),
        if no_dups { "yes" } else { "NO" }
    );
    let project_ok = project_demo(&mailport).await?;
    let proxy_ok = proxy_demo(&mailport).await?;
    let success =
        status.success() && ok && no_dups && out.status.success() && project_ok && proxy_ok;
    if keep {
        keep_running(&mailport, &args, &old, &new, dir.keep());
        std::mem::forget(old);
        std::mem::forget(new);
    }
    Ok(success)
}

/// A project: four mailboxes from a CSV, moved by three workers with one
/// command, then the report and an independent check of every mailbox.
async fn project_demo(mailport: &std::path::Path) -> Result<bool, Box<dyn std::error::Error>> {
    const USERS: [&str; 4] = ["bob", "carol", "dave", "erin"];
    let pw = |u: &str| format!("{u}-Demo-pw");
    let options = || DovecotOptions {
        users: USERS.iter().map(|u| (u.to_string(), pw(u))).collect(),
        ..Default::default()
    };
    println!(
        "== A project: {} mailboxes from a CSV file, moved by three workers",
        USERS.len()
    );
    let (old, new) = (Dovecot::start(options())?, Dovecot::start(options())?);
    for (i, user) in USERS.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 40 + 20 * i,
            large_attachment: 500_000,
            seed: 300 + i as u64,
        });
        let mut c = session::login(old.imap_port, user, &pw(user)).await?;
        session::load(&mut c, &corpus).await?;
    }
    let dir = tempfile::Builder::new()
        .prefix("mailport-project-demo")
        .tempdir()?;
    let state = dir.path().join("state.db").display().to_string();
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, mailport_testbed::cli::users_csv(&USERS, pw))?;
    let steps: Vec<Vec<String>> = vec![
        vec![
            "project".into(),
            "create".into(),
            "demo-org".into(),
            "--from".into(),
            format!("imap://127.0.0.1:{}", old.imap_port),
            "--to".into(),
            format!("imap://127.0.0.1:{}", new.imap_port),
            "--from-tls-ca".into(),
            old.certs.ca_pem.display().to_string(),
            "--to-tls-ca".into(),
            new.certs.ca_pem.display().to_string(),
            "--verify".into(),
        ],
        vec![
            "mailbox".into(),
            "import".into(),
            "demo-org".into(),
            csv.display().to_string(),
        ],
        vec![
            "run".into(),
            "demo-org".into(),
            "--workers".into(),
            "3".into(),
        ],
        vec![
            "report".into(),
            "demo-org".into(),
            "--format".into(),
            "csv".into(),
        ],
    ];
    let mut ok = true;
    for step in steps {
        println!("== Running: mailport {} --state {state}", step.join(" "));
        let status = Command::new(mailport)
            .args(&step)
            .args(["--state", &state])
            .status()?;
        ok &= status.success();
    }
    println!(
        "== Checking every mailbox independently (SHA-256 of every message, flags, INTERNALDATE)"
    );
    for user in USERS {
        let a =
            session::snapshot(&mut session::login(old.imap_port, user, &pw(user)).await?).await?;
        let b =
            session::snapshot(&mut session::login(new.imap_port, user, &pw(user)).await?).await?;
        let same = a.differences(&b, &[]).is_empty();
        ok &= same;
        let n: usize = a.folders.values().map(Vec::len).sum();
        println!(
            "   {} {:<8} {n:>4} messages",
            if same { "OK  " } else { "DIFF" },
            user
        );
    }
    Ok(ok)
}

/// The proxy: a user logs in through `mailport proxy` with their own
/// password; the proxy checks it against the old server, serves the session
/// from there and moves the mailbox to the new server in the background.
async fn proxy_demo(mailport: &std::path::Path) -> Result<bool, Box<dyn std::error::Error>> {
    let (user, password) = ("frank", "frank-Demo-pw");
    // grace has a mailbox on the old server but never logs in.
    let grace = ("grace", "grace-Demo-pw");
    // The new server was provisioned with the same password.
    let options = || DovecotOptions {
        users: vec![
            (user.to_string(), password.to_string()),
            (grace.0.to_string(), grace.1.to_string()),
        ],
        lmtp: true,
        ..Default::default()
    };
    let (old, new) = (Dovecot::start(options())?, Dovecot::start(options())?);
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 60,
        large_attachment: 0,
        seed: 77,
    });
    session::load(
        &mut session::login(old.imap_port, user, password).await?,
        &corpus,
    )
    .await?;
    let dir = tempfile::Builder::new()
        .prefix("mailport-proxy-demo")
        .tempdir()?;
    let state = dir.path().join("state.db").display().to_string();
    let certs = mailport_testbed::certs::generate(dir.path())?;
    let cert = format!(
        "localhost={},{}",
        certs.cert_pem.display(),
        certs.key_pem.display()
    );
    println!("== The proxy: {user} logs in through it with their own password");
    let create = [
        "project".to_string(),
        "create".into(),
        "demo-proxy".into(),
        "--from".into(),
        format!("imap://127.0.0.1:{}", old.imap_port),
        "--to".into(),
        format!("imap://127.0.0.1:{}", new.imap_port),
        "--from-tls-ca".into(),
        old.certs.ca_pem.display().to_string(),
        "--to-tls-ca".into(),
        new.certs.ca_pem.display().to_string(),
        "--verify".into(),
        "--domain".into(),
        "example.org".into(),
    ];
    let mut ok = Command::new(mailport)
        .args(&create)
        .args(["--state", &state])
        .status()?
        .success();
    // grace's mailbox is in the project, waiting for her password (the
    // new server has her account already).
    ok &= Command::new(mailport)
        .args(["mailbox", "add", "demo-proxy", grace.0, "--ask-user"])
        .args(["--destination-password", "--state", &state])
        .env("MAILPORT_TO_PASSWORD", grace.1)
        .status()?
        .success();
    let (relay_to, deliver_to) = (
        format!("lmtp://127.0.0.1:{}", old.lmtp_port),
        format!("lmtp://127.0.0.1:{}", new.lmtp_port),
    );
    let proxy_args = [
        "proxy",
        "demo-proxy",
        "--listen-imaps",
        "127.0.0.1:0",
        "--listen-smtp",
        "127.0.0.1:0",
        "--relay-to",
        &relay_to,
        "--deliver-to",
        &deliver_to,
        "--tls-cert",
        &cert,
    ];
    println!(
        "== Running: mailport {} --state {state}",
        proxy_args.join(" ")
    );
    let mut proxy = Command::new(mailport)
        .args(proxy_args)
        .args(["--state", &state])
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut said = std::io::BufReader::new(proxy.stderr.take().ok_or("no stderr")?);
    let mut listening = || -> Result<u16, Box<dyn std::error::Error>> {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut said, &mut line)?;
        print!("   {line}");
        Ok(line.trim().rsplit(':').next().unwrap_or("").parse()?)
    };
    let (port, smtp_port) = (listening()?, listening()?);
    let mut c = session::login_tls_at(port, &certs.ca_pem, user, password).await?;
    let inbox = c.select(b"INBOX", true).await?.exists;
    println!("   {user} logged in through the proxy (served by the old server): INBOX holds {inbox} messages");
    c.logout().await?;
    let mut moved = false;
    for _ in 0..600 {
        let out = Command::new(mailport)
            .args(["accounts", "demo-proxy", "--json", "--state", &state])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("\"mailbox_state\": \"completed\"") {
            moved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ok &= moved;
    println!("== Running: mailport accounts demo-proxy --state {state}");
    ok &= Command::new(mailport)
        .args(["accounts", "demo-proxy", "--state", &state])
        .status()?
        .success();
    let a = session::snapshot(&mut session::login(old.imap_port, user, password).await?).await?;
    let b = session::snapshot(&mut session::login(new.imap_port, user, password).await?).await?;
    let same = a.differences(&b, &[]).is_empty();
    println!(
        "   {} {user}'s mailbox is on the new server, moved in the background while the session went on",
        if same { "OK  " } else { "DIFF" }
    );
    // The cut-over: logins wait a moment, then the same password reads
    // the new server.
    println!("== Running: mailport accounts cutover demo-proxy {user} --state {state}");
    ok &= Command::new(mailport)
        .args(["accounts", "cutover", "demo-proxy", user, "--state", &state])
        .status()?
        .success();
    let mut c = session::login_tls_at(port, &certs.ca_pem, user, password).await?;
    let after = c.select(b"INBOX", true).await?.exists;
    c.logout().await?;
    let on_new = session::login(new.imap_port, user, password)
        .await?
        .select(b"INBOX", true)
        .await?
        .exists;
    let accounts = Command::new(mailport)
        .args(["accounts", "demo-proxy", "--json", "--state", &state])
        .output()?;
    let moved_there =
        String::from_utf8_lossy(&accounts.stdout).contains("\"served_by\": \"destination\"");
    let served_by_new = moved_there && after == on_new;
    ok &= served_by_new;
    println!(
        "   {} {user} logs in through the proxy with the same password: served by the new server ({after} messages in INBOX)",
        if served_by_new { "OK  " } else { "DIFF" }
    );
    ok &= smtp_demo(
        mailport,
        &state,
        smtp_port,
        &old,
        &new,
        (user, password),
        grace,
    )
    .await?;
    Command::new("kill")
        .args(["-TERM", &proxy.id().to_string()])
        .status()?;
    ok &= proxy.wait()?.success();
    Ok(ok && same)
}

/// Mail through the proxy's SMTP front: to the moved account (the new
/// server) and to one that never logged in (the old server); then the
/// retirement report, which names the one not moved.
async fn smtp_demo(
    mailport: &std::path::Path,
    state: &str,
    port: u16,
    old: &Dovecot,
    new: &Dovecot,
    moved: (&str, &str),
    grace: (&str, &str),
) -> Result<bool, Box<dyn std::error::Error>> {
    println!("== Mail to both through the proxy's SMTP front (port {port})");
    let before = (inbox(new, moved).await?, inbox(old, grace).await?);
    let mut ok = true;
    for to in [moved.0, grace.0] {
        let said = send_mail(port, &format!("{to}@example.org")).await?;
        println!("   to {to}@example.org: {said}");
        ok &= said.starts_with("250");
    }
    let after = (inbox(new, moved).await?, inbox(old, grace).await?);
    let landed = after == (before.0 + 1, before.1 + 1);
    ok &= landed;
    println!(
        "   {} {} (moved) got it on the new server, {} (never logged in) on the old one",
        if landed { "OK  " } else { "DIFF" },
        moved.0,
        grace.0
    );
    println!("== Running: mailport retire-report demo-proxy --state {state}");
    let report = Command::new(mailport)
        .args(["retire-report", "demo-proxy", "--state", state])
        .status()?;
    // Not safe yet (grace never moved): exit status 1 says so.
    ok &= report.code() == Some(1);
    Ok(ok)
}

/// Messages in `user`'s INBOX on `d`.
async fn inbox(
    d: &Dovecot,
    (user, password): (&str, &str),
) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(session::login(d.imap_port, user, password)
        .await?
        .select(b"INBOX", true)
        .await?
        .exists)
}

/// One message by SMTP; the answer after its data.
async fn send_mail(port: u16, to: &str) -> Result<String, Box<dyn std::error::Error>> {
    use mailport_smtp::client::{Client, Dialect};
    use tokio::io::AsyncWriteExt;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut c = Client::connect(tcp, Dialect::Smtp, std::time::Duration::from_secs(30)).await?;
    c.hello("sender.elsewhere.example").await?;
    c.mail("someone@elsewhere.example", &[]).await?;
    let r = c.rcpt(to, &[]).await?;
    if !r.is_positive() {
        return Ok(format!("{} {}", r.code, r.lines.join(" ")));
    }
    c.data().await?;
    let message = format!(
        "From: someone@elsewhere.example\r\nTo: {to}\r\nSubject: hello through the proxy\r\n\r\nhi\r\n.\r\n"
    );
    c.message_sink().write_all(message.as_bytes()).await?;
    let r = c.after_data(1).await?.remove(0);
    c.quit().await;
    Ok(format!("{} {}", r.code, r.lines.join(" ")))
}

/// Leaves the servers and files where they are and says how to use them.
fn keep_running(
    mailport: &std::path::Path,
    args: &[String],
    old: &Dovecot,
    new: &Dovecot,
    dir: std::path::PathBuf,
) {
    let pid = |d: &Dovecot| d.dir().join("run/master.pid").display().to_string();
    println!("== The servers keep running (--keep). Try mailport on them:");
    println!("   {} {}", mailport.display(), args.join(" "));
    println!(
        "   {} verify {}",
        mailport.display(),
        args[1..args.len() - 2].join(" ")
    );
    println!(
        "   {} check --from {} --from-password-file {} --from-tls-ca {}",
        mailport.display(),
        old.imaps_url("alice"),
        dir.join("from.pw").display(),
        old.certs.ca_pem.display()
    );
    println!(
        "   Any IMAP client works too: user alice, password in {} (old) and {} (new).",
        dir.join("from.pw").display(),
        dir.join("to.pw").display()
    );
    println!(
        "   Stop them: kill $(cat {}) $(cat {}); rm -rf {} {} {}",
        pid(old),
        pid(new),
        old.dir().display(),
        new.dir().display(),
        dir.display()
    );
}

fn compare(src: &Snapshot, dst: &Snapshot, mapping: &BTreeMap<&str, &str>) -> bool {
    let mut all = true;
    for (name, msgs) in &src.folders {
        let target = mapping.get(name.as_str()).copied().unwrap_or(name);
        let mut a = msgs.clone();
        let mut b = dst.folders.get(target).cloned().unwrap_or_default();
        a.sort();
        b.sort();
        let same = a == b;
        all &= same;
        println!(
            "   {} {} -> {} {:>4} messages",
            if same { "OK  " } else { "DIFF" },
            pad(name, 24),
            pad(target, 24),
            a.len()
        );
    }
    println!(
        "   {}",
        if all {
            "All folders match."
        } else {
            "MISMATCH: see DIFF lines above."
        }
    );
    all
}

/// `s` padded with spaces to `width` terminal columns (CJK and emoji take two).
fn pad(s: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}
