//! `mailport proxy` and `mailport accounts` as an operator runs them: the
//! proxy in front of a real Dovecot source (implicit TLS with its own
//! certificate), a user logging in with Python's imaplib, the account shown
//! by `accounts`, its mailbox moved in the background, SIGTERM ending the
//! proxy cleanly; and every wrong way to start it refused in one line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mailport_testbed::cli::text;
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");
const ADMIN_PASSWORD: &str = "migrator-Secret9";
const USER: (&str, &str) = ("ann", "ann-pw-Zq7");

fn mailport(state: &Path, args: &[&str]) -> Output {
    Command::new(MAILPORT)
        .stdin(Stdio::null())
        .args(args)
        .arg("--state")
        .arg(state)
        .env("MAILPORT_TO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("MAILPORT_KEY")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    text(out)
}

const LOGIN: &str = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
c = imaplib.IMAP4_SSL("localhost", int(sys.argv[1]), ssl_context=ctx)
c.login(sys.argv[3], sys.argv[4])
print(c.select("INBOX", readonly=True)[1][0].decode())
c.logout()
"#;

const APPEND: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
c.append("INBOX", None, None, b"From: late@example.org\r\nSubject: late\r\nMessage-ID: <late@example.org>\r\n\r\nhi\r\n")
c.logout()
"#;

/// Two Dovecots (the destination's master user is the project's admin
/// there), `messages` in the user's INBOX on the source, project `acme`
/// between them, and a certificate for the proxy.
struct Setup {
    dir: tempfile::TempDir,
    src: Dovecot,
    dst: Dovecot,
    state: std::path::PathBuf,
    /// `localhost=CERT,KEY` for --tls-cert.
    cert: String,
    /// The CA clients trust.
    ca: String,
}

async fn setup(messages: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let users = vec![(USER.0.to_string(), USER.1.to_string())];
    let src = Dovecot::start(DovecotOptions {
        users: users.clone(),
        ..Default::default()
    })
    .expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions {
        users,
        master_user: Some(("migrator".into(), ADMIN_PASSWORD.into())),
        ..Default::default()
    })
    .expect("destination Dovecot must start");
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: messages,
        large_attachment: 0,
        seed: 3,
    });
    let mut s = session::login(src.imap_port, USER.0, USER.1).await.unwrap();
    session::load(&mut s, &corpus).await.unwrap();

    let state = dir.path().join("state.db");
    let (from, to) = (
        format!("imap://127.0.0.1:{}", src.imap_port),
        format!("imap://127.0.0.1:{}", dst.imap_port),
    );
    ok(&mailport(
        &state,
        &[
            "project",
            "create",
            "acme",
            "--from",
            &from,
            "--to",
            &to,
            "--to-admin",
            "migrator",
            "--to-admin-style",
            "dovecot-master",
            "--from-tls-ca",
            src.ca_pem().to_str().unwrap(),
            "--to-tls-ca",
            dst.ca_pem().to_str().unwrap(),
        ],
    ));
    let certs_dir = dir.path().join("proxy-certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    let certs = mailport_testbed::certs::generate(&certs_dir).unwrap();
    let cert = format!(
        "localhost={},{}",
        certs.cert_pem.display(),
        certs.key_pem.display()
    );
    let ca = certs.ca_pem.to_str().unwrap().to_string();
    Setup {
        dir,
        src,
        dst,
        state,
        cert,
        ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_proxy() {
    let Setup {
        dir: _dir,
        src,
        dst: _dst,
        state,
        cert,
        ca,
    } = setup(9).await;

    // Every wrong way to start is one line naming the fix (exit 2).
    for (args, says) in [
        (
            vec!["proxy", "acme", "--tls-cert", cert.as_str()],
            "nothing to listen on",
        ),
        (
            vec!["proxy", "acme", "--listen-imap", "127.0.0.1:0"],
            "without --tls-cert",
        ),
        (
            vec![
                "proxy",
                "acme",
                "--listen-imaps",
                "127.0.0.1:0",
                "--tls-cert",
                "localhost",
            ],
            "HOSTNAME=CERT.pem,KEY.pem",
        ),
        (
            vec![
                "proxy",
                "acme",
                "--listen-imaps",
                "127.0.0.1:0",
                "--tls-cert",
                "localhost=/nonexistent.pem,/k.pem",
            ],
            "cannot read /nonexistent.pem",
        ),
        (
            vec![
                "proxy",
                "nope",
                "--listen-imaps",
                "127.0.0.1:0",
                "--tls-cert",
                cert.as_str(),
            ],
            "nope",
        ),
    ] {
        let out = mailport(&state, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    assert!(ok(&mailport(&state, &["accounts", "acme"])).contains("no account has logged in"));

    let (mut proxy, mut said, port, line) = start_proxy(
        &state,
        &["--listen-imaps", "127.0.0.1:0", "--tls-cert", &cert],
    );
    assert!(line.contains("IMAP over TLS"), "{line}");

    let login = Command::new("python3")
        .args(["-c", LOGIN, &port.to_string(), &ca, USER.0, USER.1])
        .output()
        .expect("python3 must run");
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let count: usize = String::from_utf8_lossy(&login.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 9, "{count}");

    // The account is listed; its mailbox moves in the background.
    let mut moved = false;
    for _ in 0..300 {
        let out = mailport(&state, &["accounts", "acme", "--json"]);
        ok(&out);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if rows[0]["login"] == USER.0
            && rows[0]["served_by"] == "source"
            && rows[0]["mailbox_state"] == "completed"
        {
            moved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(moved, "the mailbox was not moved");
    let table = ok(&mailport(&state, &["accounts", "acme"]));
    assert!(
        table.contains(USER.0) && table.contains("source") && table.contains("UTC"),
        "{table}"
    );
    assert!(!table.contains(USER.1));

    // The cut-over, from another process: the account moves; the next login
    // through the proxy reads the new server.
    let out = mailport(&state, &["accounts", "cutover", "acme"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let moved = ok(&mailport(&state, &["accounts", "cutover", "acme", USER.0]));
    assert!(
        moved.contains("ann: moved to the new server (logins waited"),
        "{moved}"
    );
    let out = mailport(&state, &["accounts", "cutover", "acme", USER.0]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ann: is already destination"),
        "{}",
        text(&out)
    );
    assert!(ok(&mailport(
        &state,
        &["accounts", "cutover", "acme", "--all-ready"]
    ))
    .contains("no account is ready"));
    let out = mailport(&state, &["accounts", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["served_by"], "destination", "{rows}");
    // The full pass and the final one.
    assert!(rows[0]["passes"].as_u64().unwrap() >= 2, "{rows}");
    // Mail still arriving at the old server reaches the new one: the login
    // of a followed account brings it over.
    let late = Command::new("python3")
        .args(["-c", APPEND, &src.imap_port.to_string(), USER.0, USER.1])
        .status()
        .unwrap();
    assert!(late.success());
    let inbox = || {
        let login = Command::new("python3")
            .args(["-c", LOGIN, &port.to_string(), &ca, USER.0, USER.1])
            .output()
            .unwrap();
        assert!(
            login.status.success(),
            "{}",
            String::from_utf8_lossy(&login.stderr)
        );
        String::from_utf8_lossy(&login.stdout)
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    let mut seen = inbox();
    for _ in 0..60 {
        if seen == count + 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        seen = inbox();
    }
    assert_eq!(seen, count + 1, "the late message never arrived");
    // The passwords for the new server: a passwd-file only its owner reads.
    let file = state.with_file_name("passwd");
    let out = mailport(
        &state,
        &[
            "accounts",
            "export-passwords",
            "acme",
            "--scheme",
            "sha512-crypt",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        text(&out).contains("1 password(s) written"),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.starts_with(&format!("{}:{{SHA512-CRYPT}}$6$", USER.0)),
        "{written}"
    );
    assert!(!written.contains(USER.1));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let csv = ok(&mailport(
        &state,
        &["accounts", "export-passwords", "acme", "--format", "csv"],
    ));
    assert!(
        csv.contains(&format!("{},ARGON2ID,$argon2id$", USER.0)),
        "{csv}"
    );

    // Following ends by the operator's word; a login that is not a moved
    // account is named.
    let stopped = ok(&mailport(
        &state,
        &["accounts", "stop-following", "acme", USER.0],
    ));
    assert!(stopped.contains("ann: no longer followed"), "{stopped}");
    let out = mailport(&state, &["accounts", "stop-following", "acme", "nobody"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nobody: not a moved account"),
        "{}",
        text(&out)
    );
    let out = mailport(&state, &["accounts", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["following"], false, "{rows}");

    // The retirement report: the one account is moved, but mail reached
    // the old server after the move (the late message above, carried by a
    // following pass): not safe yet, and the exit status says so.
    // (The following pass is recorded a moment after its message landed.)
    let mut out = mailport(&state, &["retire-report", "acme", "--format", "json"]);
    for _ in 0..50 {
        if out.status.code() == Some(1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        out = mailport(&state, &["retire-report", "acme", "--format", "json"]);
    }
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["not_moved"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["stale_routes"][0]["login"], USER.0, "{report}");
    assert_eq!(report["stale_routes"][0]["arrived_directly"], 1, "{report}");
    let span = report["until"].as_i64().unwrap() - report["since"].as_i64().unwrap();
    assert_eq!(span, 30 * 86_400);
    let out = mailport(&state, &["retire-report", "acme", "--since", "2w"]);
    assert!(
        text(&out).contains("NOT safe to retire: 1 moved account"),
        "{}",
        text(&out)
    );
    let out = mailport(&state, &["retire-report", "acme", "--since", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a duration such as 30d"),
        "{}",
        text(&out)
    );

    // SIGTERM: the proxy says so and exits 0.
    Command::new("kill")
        .arg("-TERM")
        .arg(proxy.id().to_string())
        .status()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    let status = proxy.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("proxy stopping"), "{rest}");
    assert!(!rest.contains(USER.1));
}

/// A proxy process, killed when the test ends however it ends (a failed
/// assertion must not leave it serving).
struct Running(std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mailport proxy acme ARGS` started in the background; its port and
/// first line (from what it says on standard error), and the rest of what
/// it says.
fn start_proxy(
    state: &Path,
    args: &[&str],
) -> (Running, BufReader<std::process::ChildStderr>, u16, String) {
    let mut proxy = Command::new(MAILPORT)
        .args(["proxy", "acme"])
        .args(args)
        .arg("--state")
        .arg(state)
        .env_remove("MAILPORT_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(proxy.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (Running(proxy), said, port, line)
}

/// [`start_proxy`] from a configuration file.
fn start_configured_proxy(
    state: &Path,
    cert: &str,
) -> (Running, BufReader<std::process::ChildStderr>, u16) {
    let config = state.with_file_name("proxy.toml");
    std::fs::write(
        &config,
        format!("listen_imaps = [\"127.0.0.1:0\"]\ntls_cert = [\"{cert}\"]\n"),
    )
    .unwrap();
    let (proxy, said, port, _) = start_proxy(state, &["--config", config.to_str().unwrap()]);
    (proxy, said, port)
}

/// The account as `mailport accounts --json` shows it: where it is served
/// and its mailbox's state.
fn account(state: &Path) -> (String, String) {
    let out = mailport(state, &["accounts", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let field = |f: &str| rows[0][f].as_str().unwrap_or("").to_string();
    (field("served_by"), field("mailbox_state"))
}

/// Polls `account` every 50 ms until `ready`, for at most `secs` seconds.
fn wait_until(state: &Path, secs: u64, what: &str, ready: impl Fn(&str, &str) -> bool) {
    let start = std::time::Instant::now();
    loop {
        let (served, mailbox) = account(state);
        if ready(&served, &mailbox) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: still {served} / {mailbox} after {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_9(child: &mut std::process::Child) {
    Command::new("kill")
        .arg("-KILL")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    child.wait().unwrap();
}

/// The proxy killed with -9 mid-copy, and a cut-over killed with -9 in its
/// final pass: after a restart every message is on the new server exactly
/// once, and the account ends moved (its final pass finished by a worker,
/// or rolled back and cut over again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_killed_at_any_moment_loses_nothing() {
    let Setup {
        dir: _dir,
        src,
        dst,
        state,
        cert,
        ca,
    } = setup(600).await;
    let (mut proxy, _said, port) = start_configured_proxy(&state, &cert);
    let login = |port: u16| {
        Command::new("python3")
            .args(["-c", LOGIN, &port.to_string(), &ca, USER.0, USER.1])
            .output()
            .unwrap()
    };
    assert!(login(port).status.success());
    wait_until(&state, 60, "the background copy", |_, m| m == "running");
    kill_9(&mut proxy);
    let (mut proxy, _said, port) = start_configured_proxy(&state, &cert);
    // The new proxy sees that the dead one's process is gone and resumes
    // the copy at once, not when its lease runs out.
    let resumed = std::time::Instant::now();
    wait_until(&state, 180, "the resumed copy", |_, m| m == "completed");
    assert!(
        resumed.elapsed() < Duration::from_secs(50),
        "the copy waited for the dead proxy's lease to run out"
    );
    let differences = session::mailbox_differences(src.imap_port, dst.imap_port, USER.0, USER.1)
        .await
        .unwrap();
    assert!(differences.is_empty(), "{differences:?}");

    // More mail, then a cut-over killed in its final pass.
    let more = Corpus::generate(&CorpusOptions {
        inbox_messages: 400,
        large_attachment: 0,
        seed: 4,
    });
    let mut s = session::login(src.imap_port, USER.0, USER.1).await.unwrap();
    session::load(&mut s, &more).await.unwrap();
    let mut cutover = Command::new(MAILPORT)
        .args(["accounts", "cutover", "acme", USER.0, "--state"])
        .arg(&state)
        .env_remove("MAILPORT_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&state, 60, "the final pass", |a, m| {
        a == "moving" && m == "running"
    });
    kill_9(&mut cutover);
    // Logins wait while it is moving (the running proxy sees the dead
    // cut-over within seconds and settles the account).
    let waiting = login(port);
    let settled = account(&state).0 != "moving";
    assert!(
        text(&waiting).contains("UNAVAILABLE") || (waiting.status.success() && settled),
        "{}",
        text(&waiting)
    );
    // The running proxy finishes the move or rolls it back.
    wait_until(
        &state,
        240,
        "recovery of the interrupted cut-over",
        |a, _| a != "moving",
    );
    if account(&state).0 == "source" {
        ok(&mailport(&state, &["accounts", "cutover", "acme", USER.0]));
    }
    assert_eq!(account(&state).0, "destination");
    let differences = session::mailbox_differences(src.imap_port, dst.imap_port, USER.0, USER.1)
        .await
        .unwrap();
    assert!(differences.is_empty(), "{differences:?}");
    // The next login reads the new server.
    let read = login(port);
    assert!(read.status.success(), "{}", text(&read));
    let mut d = session::login(dst.imap_port, USER.0, USER.1).await.unwrap();
    let on_destination = d.select(b"INBOX", true).await.unwrap().exists;
    assert_eq!(
        String::from_utf8_lossy(&read.stdout).trim(),
        on_destination.to_string()
    );
    kill_9(&mut proxy);
}
