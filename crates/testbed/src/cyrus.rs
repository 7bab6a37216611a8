//! Private Cyrus IMAP 3.6 instances: the second server implementation, so
//! that mailport is not only ever tested against Dovecot's idea of IMAP.
//!
//! Facts that shaped this (see docs/TESTBED.md and docs/servers.md):
//! - Debian's cyrus packages conflict with dovecot-imapd, so scripts/setup
//!   unpacks them into [`DEFAULT_DIR`] and we run `master` from there with
//!   `LD_LIBRARY_PATH` pointing at its private libraries.
//! - `master` resolves `cmd=` in cyrus.conf against the packaged path
//!   (`/usr/lib/cyrus/bin`), which does not exist here: every command is given
//!   with its absolute path.
//! - Cyrus logs only to syslog, and there is no `/dev/log` on these machines:
//!   a failed start shows up as an exit status and nothing else. `protocol_log`
//!   turns on Cyrus's per-user telemetry files, the one log it writes itself.
//! - The processes run as `nobody:nogroup`; everything they write is theirs,
//!   and the temp dir must be traversable by them.
//! - Mailboxes are created by the admin (`CREATE user/NAME`) with unixhierarchysep
//!   and altnamespace on, so users see `/` as separator and no `INBOX.` prefix.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::{self, TestCerts};
use crate::dovecot::HarnessError;
use crate::server::{free_port, system_id, tail, unpacked, which};

/// Where scripts/setup unpacks the Debian packages; `MAILPORT_CYRUS_DIR` overrides it.
pub const DEFAULT_DIR: &str = "/opt/mailport-testbed/cyrus";

/// The Cyrus administrator (`admins:` in imapd.conf), used to create the users' mailboxes.
const ADMIN: &str = "cyrus";
const ADMIN_PASSWORD: &str = "cyrus-admin-secret";
/// `servername` and the SASL realm of the users.
const SERVERNAME: &str = "localhost";

#[derive(Debug, Clone)]
pub struct CyrusOptions {
    /// (user, password) pairs; each gets `user/NAME` with full rights.
    pub users: Vec<(String, String)>,
    /// Mailboxes created with a SPECIAL-USE role for every user: (name, `\Sent` etc.),
    /// `/` as the hierarchy separator.
    pub special_use: Vec<(String, String)>,
    /// `munge8bit: yes` rewrites 8-bit bytes in headers to `X`. Off by default:
    /// the tests want the bytes kept exactly.
    pub munge8bit: bool,
    /// Cyrus's protocol telemetry for every user (`configdirectory/log/USER`),
    /// shown by [`Cyrus::log_tail`]: for debugging, it records whole messages.
    pub protocol_log: bool,
    /// Extra lines appended to imapd.conf.
    pub extra_conf: String,
}

impl Default for CyrusOptions {
    fn default() -> Self {
        CyrusOptions {
            users: vec![("alice".into(), "alice-secret".into())],
            special_use: vec![
                ("Sent".into(), "\\Sent".into()),
                ("Drafts".into(), "\\Drafts".into()),
                ("Trash".into(), "\\Trash".into()),
                ("Junk".into(), "\\Junk".into()),
                ("Archive".into(), "\\Archive".into()),
            ],
            munge8bit: false,
            protocol_log: false,
            extra_conf: String::new(),
        }
    }
}

/// A running private Cyrus. Stopped on drop.
pub struct Cyrus {
    dir: tempfile::TempDir,
    master: Child,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub certs: TestCerts,
    pub options: CyrusOptions,
}

impl Cyrus {
    pub fn start(options: CyrusOptions) -> Result<Cyrus, HarnessError> {
        let install = unpacked("MAILPORT_CYRUS_DIR", DEFAULT_DIR);
        let bin = install.join("usr/lib/cyrus/bin");
        if !bin.join("master").is_file() {
            return Err(HarnessError::Start(format!(
                "Cyrus is not unpacked in {} (scripts/setup does it)",
                install.display()
            )));
        }
        let saslpasswd2 = which("saslpasswd2").ok_or_else(|| {
            HarnessError::Start("saslpasswd2 is missing (apt-get install sasl2-bin)".into())
        })?;
        let (uid, gid) = (
            system_id("/etc/passwd", "nobody")?,
            system_id("/etc/group", "nogroup")?,
        );

        let dir = tempfile::Builder::new()
            .prefix("mailport-cyrus-")
            .tempdir()?;
        let root = dir.path();
        // Cyrus runs as nobody and must reach everything below the temp dir.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        let certs = certs::generate(root)?;
        let imap_port = free_port()?;
        let imaps_port = free_port()?;
        for sub in ["conf", "partition", "sockets", "sieve"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        if options.protocol_log {
            for (user, _) in &options.users {
                std::fs::create_dir_all(root.join("conf/log").join(user))?;
            }
        }
        let sasldb = root.join("sasldb2");
        for (user, password) in std::iter::once((ADMIN, ADMIN_PASSWORD))
            .chain(options.users.iter().map(|(u, p)| (u.as_str(), p.as_str())))
        {
            set_password(&saslpasswd2, &sasldb, user, password)?;
        }
        std::fs::write(root.join("imapd.conf"), imapd_conf(root, &options, &certs))?;
        std::fs::write(
            root.join("cyrus.conf"),
            cyrus_conf(root, &bin, imap_port, imaps_port),
        )?;
        for path in ["conf", "partition", "sockets", "sieve", "sasldb2"] {
            chown_tree(&root.join(path), uid, gid)?;
        }

        let startup_log = std::fs::File::create(root.join("startup.log"))?;
        let master = Command::new(bin.join("master"))
            .arg("-C")
            .arg(root.join("imapd.conf"))
            .arg("-M")
            .arg(root.join("cyrus.conf"))
            .arg("-p")
            .arg(root.join("master.pid"))
            // Keep stderr open: the only place a start failure could say something.
            .arg("-D")
            .env("LD_LIBRARY_PATH", install.join("usr/lib/x86_64-linux-gnu"))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(startup_log.try_clone()?)
            .stderr(startup_log)
            // Its own process group, so that stopping it reaches every imapd it forked.
            .process_group(0)
            .spawn()?;
        let mut server = Cyrus {
            dir,
            master,
            imap_port,
            imaps_port,
            certs,
            options,
        };
        server.wait_for_greeting()?;
        server.provision()?;
        Ok(server)
    }

    /// `master` listens before its services are ready to answer, and the
    /// START commands (database recovery) run first: a port that accepts is
    /// not enough, the greeting is.
    fn wait_for_greeting(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.master.try_wait()? {
                return Err(HarnessError::Start(format!(
                    "Cyrus master exited with {status} (Cyrus logs only to syslog, which is absent \
                     here; check imapd.conf/cyrus.conf in {}): {}",
                    self.dir().display(),
                    self.log_tail()
                )));
            }
            let last = match AdminSession::connect(self.imap_port) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(HarnessError::Start(format!(
                    "no IMAP greeting on port {} after 30 s ({last}): {}",
                    self.imap_port,
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates each user's mailbox as the admin and the SPECIAL-USE folders as the user.
    fn provision(&self) -> Result<(), HarnessError> {
        let fail = |what: &str, e: std::io::Error| {
            HarnessError::Start(format!("Cyrus setup: {what}: {e}: {}", self.log_tail()))
        };
        let mut admin = AdminSession::connect(self.imap_port).map_err(|e| fail("connect", e))?;
        admin
            .login(ADMIN, ADMIN_PASSWORD)
            .map_err(|e| fail("admin login", e))?;
        for (user, _) in &self.options.users {
            admin
                .run(&format!("CREATE \"user/{user}\""))
                .map_err(|e| fail("CREATE", e))?;
            admin
                .run(&format!("SETACL \"user/{user}\" \"{user}\" lrswipkxtecdan"))
                .map_err(|e| fail("SETACL", e))?;
        }
        admin.logout();
        for (user, password) in &self.options.users {
            let mut s = AdminSession::connect(self.imap_port).map_err(|e| fail("connect", e))?;
            s.login(user, password).map_err(|e| fail("user login", e))?;
            for (name, usage) in &self.options.special_use {
                s.run(&format!("CREATE \"{name}\" (USE ({usage}))"))
                    .map_err(|e| fail("CREATE special-use", e))?;
                s.run(&format!("SUBSCRIBE \"{name}\""))
                    .map_err(|e| fail("SUBSCRIBE", e))?;
            }
            s.logout();
        }
        Ok(())
    }

    /// Runs IMAP commands as the Cyrus administrator, e.g. to create shared
    /// folders (`CREATE shared/x`, `SETACL ...`). Only for commands whose
    /// answers carry no literals.
    pub fn admin(&self, commands: &[&str]) -> Result<(), HarnessError> {
        let mut s = AdminSession::connect(self.imap_port)?;
        s.login(ADMIN, ADMIN_PASSWORD)?;
        for c in commands {
            s.run(c)
                .map_err(|e| HarnessError::Start(format!("as admin: {e}")))?;
        }
        s.logout();
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whatever `master` printed, and the end of the newest protocol logs
    /// (with `protocol_log`): Cyrus has no log file of its own here.
    pub fn log_tail(&self) -> String {
        let mut out = tail(&self.dir().join("startup.log"), 20);
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.dir().join("conf/log"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|user| {
                std::fs::read_dir(user.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|e| e.path())
            .collect();
        logs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        for log in logs.iter().rev().take(2) {
            out.push_str(&format!("\n--- {}\n{}", log.display(), tail(log, 20)));
        }
        out
    }

    pub fn password(&self, user: &str) -> &str {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
            .expect("user configured in CyrusOptions")
    }

    fn stop(&mut self) {
        let group = format!("-{}", self.master.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // imapd children that ignored the TERM (mid-command) must not outlive the test.
        signal("-KILL");
        let _ = self.master.wait();
    }
}

crate::server::private_server!(Cyrus);

fn imapd_conf(root: &Path, o: &CyrusOptions, certs: &TestCerts) -> String {
    let r = root.display();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        r#"# generated by mailport-testbed
configdirectory: {r}/conf
partition-default: {r}/partition
sievedir: {r}/sieve
servername: {SERVERNAME}
admins: {ADMIN}
cyrus_user: nobody
cyrus_group: nogroup
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {r}/sasldb2
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
unixhierarchysep: yes
altnamespace: yes
# The default (delayed) keeps deleted mailboxes and messages around under
# other names: a test's CREATE/DELETE/CREATE in one second then fails.
delete_mode: immediate
expunge_mode: immediate
munge8bit: {munge8bit}
idlesocket: {r}/sockets/idle
lmtpsocket: {r}/sockets/lmtp
notifysocket: {r}/sockets/notify
tls_server_cert: {cert}
tls_server_key: {key}
{extra}
"#,
        munge8bit = yes_no(o.munge8bit),
        cert = certs.cert_pem.display(),
        key = certs.key_pem.display(),
        extra = o.extra_conf,
    )
}

fn cyrus_conf(root: &Path, bin: &Path, imap_port: u16, imaps_port: u16) -> String {
    let (r, b) = (root.display(), bin.display());
    format!(
        r#"# generated by mailport-testbed
START {{
  recover cmd="{b}/ctl_cyrusdb -r -C {r}/imapd.conf"
}}
SERVICES {{
  imap cmd="{b}/imapd -C {r}/imapd.conf" listen="127.0.0.1:{imap_port}" prefork=0
  imaps cmd="{b}/imapd -s -C {r}/imapd.conf" listen="127.0.0.1:{imaps_port}" prefork=0
}}
EVENTS {{
}}
"#
    )
}

fn set_password(
    saslpasswd2: &Path,
    sasldb: &Path,
    user: &str,
    password: &str,
) -> Result<(), HarnessError> {
    let mut child = Command::new(saslpasswd2)
        .args(["-p", "-c", "-f"])
        .arg(sasldb)
        .args(["-u", SERVERNAME, user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // `-p`: the password is read from stdin, without a newline.
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(password.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(HarnessError::Start(format!(
            "saslpasswd2 for {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// A minimal line-based IMAP conversation for setting up the instance.
/// Blocking on purpose: `Cyrus::start` is called from inside tests' async
/// runtimes, where blocking on another runtime is not allowed. Only commands
/// whose answers carry no literals are sent.
struct AdminSession {
    reader: BufReader<std::net::TcpStream>,
    next_tag: u32,
}

impl AdminSession {
    fn connect(port: u16) -> std::io::Result<AdminSession> {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut s = AdminSession {
            reader: BufReader::new(tcp),
            next_tag: 1,
        };
        let greeting = s.line()?;
        if !greeting.starts_with("* OK") {
            return Err(std::io::Error::other(format!("greeting: {greeting}")));
        }
        Ok(s)
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(line.trim_end().to_string())
    }

    fn login(&mut self, user: &str, password: &str) -> std::io::Result<()> {
        self.run(&format!("LOGIN \"{user}\" \"{password}\""))
    }

    /// Sends one command and reads to its tagged answer, which must be OK.
    fn run(&mut self, command: &str) -> std::io::Result<()> {
        let tag = format!("s{}", self.next_tag);
        self.next_tag += 1;
        self.reader
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        loop {
            let line = self.line()?;
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                return if status.starts_with("OK") {
                    Ok(())
                } else {
                    Err(std::io::Error::other(format!("{command}: {status}")))
                };
            }
        }
    }

    fn logout(mut self) {
        let _ = self.run("LOGOUT");
    }
}
