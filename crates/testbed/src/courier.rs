//! Private Courier-IMAP 5.0 instances: the third server implementation, the
//! one many hosting providers run, with its own reading of IMAP.
//!
//! Facts that shaped this (see docs/TESTBED.md and /work/shared/TESTBED-NOTES.md):
//! - Debian's courier packages conflict with dovecot-imapd, so scripts/setup
//!   unpacks them into [`DEFAULT_DIR`]; only the libraries they link
//!   (libgamin0, libltdl7, libidn12, ...) come from apt.
//! - courier-authlib compiles its paths in: `/etc/courier` (authdaemonrc,
//!   userdb), `/run/courier/authdaemon` (the socket imaplogin asks) and
//!   `/usr/lib/courier-authlib` (the auth modules, loaded with ltdl). So every
//!   instance runs inside `unshare -m -p --fork --kill-child` (a private mount
//!   namespace, and a PID namespace so that nothing can outlive it) and a
//!   small generated `start.sh` first mounts: an overlay of the unpacked `usr`
//!   over `/usr` (read-only), an overlay over `/etc` whose upper dir is
//!   `DIR/etc` (what the instance writes lands there) and `DIR/run` bound on
//!   `/run`. The host's `/etc`, `/usr` and `/run` are never written.
//! - Users live in `userdb` (`authmodulelist="authuserdb"`): `userdb U set
//!   uid= gid= home= mail=`, `userdbpw -md5 | userdb U set systempw`,
//!   `makeuserdb`. The default `userdbpw` hash is DES crypt, which only looks
//!   at the first 8 characters of a password: `-md5` avoids that.
//! - Mail belongs to `nobody:nogroup`; Maildirs are made with
//!   `maildirmake.courier` (folders `maildirmake.courier -f NAME`, seen over
//!   IMAP as `INBOX.NAME`), subscriptions written to `courierimapsubscribed`.
//! - There is no init script: `start.sh` starts `authdaemond` in the
//!   background, waits for its socket, starts `couriertcpd` for IMAPS (with
//!   `couriertls -server -tcpd` and `IMAP_TLS=1`) in the background and
//!   `exec`s `couriertcpd` for plain IMAP, with the variables of Debian's
//!   `/etc/courier/imapd` exported by the script. The STARTTLS switch is
//!   `IMAP_STARTTLS=YES` (`IMAPDSTARTTLS` only matters to the init script).
//!   `TLS_CERTFILE` is the harness's key and certificate in one PEM file.
//!   couriertls runs as the user `courier` (compiled in; for STARTTLS too,
//!   failing with `getpwnam: Success` without it): start.sh adds it, with
//!   nobody's ids, to the namespace's /etc.
//! - No syslog here: authdaemond, couriertcpd, couriertls and imapd all write
//!   to stderr, which is `DIR/courier.log` ([`Courier::log_tail`]).
//! - Courier keeps INTERNALDATE as the message file's mtime. Debian's
//!   `IMAP_EMPTYTRASH=Trash:7` is kept: seen here, it does not purge a message
//!   APPENDed into `INBOX.Trash` with a 2020 date (the age is not the mtime).
//! - Stopping: SIGTERM straight to the namespace's PID 1 (unshare ignores
//!   SIGTERM, and couriertcpd moves to its own process group, so a group
//!   signal misses it), SIGKILL after 3 s. When PID 1 ends the kernel kills
//!   the rest of the namespace, PID 1 has reaped them and unshare reaps PID 1:
//!   no process and no zombie is left.
//! - A failed LOGIN is answered after 5 s (imaplogin sleeps).
//!
//! Behaviour to expect (tests/courier.rs asserts all three): every folder
//! is under `INBOX.` with separator `.`; APPEND into the mailbox the same
//! connection has EXAMINEd is refused (`NO Current box is selected
//! READ-ONLY.`); no MULTIAPPEND, LITERAL+, CONDSTORE or SPECIAL-USE.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::{self, TestCerts};
use crate::dovecot::HarnessError;
use crate::server::{free_port, system_id, tail, unpacked, which};

/// Where scripts/setup unpacks the Debian packages; `MAILPORT_COURIER_DIR` overrides it.
pub const DEFAULT_DIR: &str = "/opt/mailport-testbed/courier";

/// The socket courier-authlib's clients look for (compiled in).
const AUTHDAEMON_SOCKET: &str = "/run/courier/authdaemon/socket";

#[derive(Debug, Clone)]
pub struct CourierOptions {
    /// (user, password) pairs; each gets a Maildir owned by `nobody`.
    /// Passwords must not contain a newline (userdbpw reads one line).
    pub users: Vec<(String, String)>,
    /// Folders made for every user with `maildirmake.courier -f NAME` and
    /// subscribed; seen over IMAP as `INBOX.NAME`. Courier has no SPECIAL-USE,
    /// so these are plain names (nested ones with `.`).
    pub folders: Vec<String>,
    /// `DEBUG_LOGIN=1` in authdaemonrc: authdaemond logs each lookup to the
    /// log (never the passwords; those only with 2, not offered here).
    pub debug_login: bool,
    /// Variables exported to couriertcpd/imapd after the defaults (which they
    /// override), e.g. `("IMAP_CAPABILITY", "...")` or `("IMAP_EMPTYTRASH", "")`.
    pub extra_env: Vec<(String, String)>,
}

impl Default for CourierOptions {
    fn default() -> Self {
        CourierOptions {
            users: vec![("alice".into(), "alice-secret".into())],
            folders: ["Sent", "Drafts", "Trash", "Junk", "Archive"]
                .into_iter()
                .map(String::from)
                .collect(),
            debug_login: false,
            extra_env: Vec::new(),
        }
    }
}

/// A running private Courier-IMAP (authdaemond + two couriertcpd). Stopped on drop.
pub struct Courier {
    dir: tempfile::TempDir,
    /// `unshare`, the parent of the namespace's PID 1.
    unshare: Child,
    /// Plain IMAP, STARTTLS offered.
    pub imap_port: u16,
    /// Implicit TLS (couriertls), certificate for `localhost`.
    pub imaps_port: u16,
    pub certs: TestCerts,
    pub options: CourierOptions,
}

impl Courier {
    pub fn start(options: CourierOptions) -> Result<Courier, HarnessError> {
        let install = unpacked("MAILPORT_COURIER_DIR", DEFAULT_DIR);
        if !install.join("usr/bin/imapd").is_file() {
            return Err(HarnessError::Start(format!(
                "Courier-IMAP is not unpacked in {} (scripts/setup does it)",
                install.display()
            )));
        }
        let unshare = which("unshare").ok_or_else(|| {
            HarnessError::Start("unshare is missing (util-linux) for Courier's namespace".into())
        })?;
        let (uid, gid) = (
            system_id("/etc/passwd", "nobody")?,
            system_id("/etc/group", "nogroup")?,
        );
        for (user, password) in &options.users {
            if user.is_empty() || user.contains(['/', '\n', '\t']) || password.contains('\n') {
                return Err(HarnessError::Start(format!(
                    "Courier: user {user:?} or its password cannot go into userdb"
                )));
            }
        }

        let dir = tempfile::Builder::new()
            .prefix("mailport-courier-")
            .tempdir()?;
        let root = dir.path();
        // Overlay mount options are separated by `,` and lower dirs by `:`.
        for p in [root, install.as_path()] {
            if p.to_string_lossy().contains([',', ':']) {
                return Err(HarnessError::Start(format!(
                    "Courier: {} cannot be named in an overlay mount (`,` or `:`)",
                    p.display()
                )));
            }
        }
        // imapd runs as nobody and must reach the homes below the temp dir.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        let certs = certs::generate(root)?;
        // couriertls wants the key and the certificate in one file.
        let mut pem = std::fs::read(&certs.key_pem)?;
        pem.extend(std::fs::read(&certs.cert_pem)?);
        std::fs::write(root.join("imapd.pem"), pem)?;
        std::fs::set_permissions(
            root.join("imapd.pem"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        let imap_port = free_port()?;
        let imaps_port = free_port()?;
        for sub in ["etc/courier", "etc.work", "run", "home"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        std::fs::write(
            root.join("etc/courier/authdaemonrc"),
            authdaemonrc(options.debug_login),
        )?;
        std::fs::write(
            root.join("start.sh"),
            start_script(root, &install, &options, uid, gid, imap_port, imaps_port),
        )?;

        let log = std::fs::File::create(root.join("courier.log"))?;
        let child = Command::new(unshare)
            // -m: our own mounts; -p --fork: our own PID namespace, whose PID 1
            // (couriertcpd, after exec) takes every other process with it;
            // --kill-child: PID 1 gets SIGKILL if unshare dies.
            .args([
                "-m",
                "--propagation",
                "private",
                "-p",
                "--fork",
                "--kill-child",
                "sh",
            ])
            .arg(root.join("start.sh"))
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, so that stopping it reaches every process.
            .process_group(0)
            .spawn()?;
        let mut server = Courier {
            dir,
            unshare: child,
            imap_port,
            imaps_port,
            certs,
            options,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Until the plain port greets and the IMAPS port accepts. A missing
    /// library or a failed setup step makes the script exit at once: that
    /// is reported with the log.
    fn wait_until_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.unshare.try_wait()? {
                return Err(HarnessError::Start(format!(
                    "Courier's start.sh exited with {status} (see {}): {}",
                    self.dir().join("start.sh").display(),
                    self.log_tail()
                )));
            }
            let last = match greeting(self.imap_port) {
                Ok(_) => match std::net::TcpStream::connect(("127.0.0.1", self.imaps_port)) {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("IMAPS port {}: {e}", self.imaps_port),
                },
                Err(e) => format!("IMAP port {}: {e}", self.imap_port),
            };
            if Instant::now() > deadline {
                return Err(HarnessError::Start(format!(
                    "Courier not ready after 30 s ({last}): {}",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Maildir of `user` (files planted there must belong to `nobody`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir().join("home").join(user).join("Maildir")
    }

    /// The end of `courier.log`: start.sh, authdaemond, couriertcpd,
    /// couriertls and imapd all write there (there is no syslog).
    pub fn log_tail(&self) -> String {
        tail(&self.dir().join("courier.log"), 30)
    }

    pub fn password(&self, user: &str) -> &str {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
            .expect("user configured in CourierOptions")
    }

    fn stop(&mut self) {
        let pid = self.unshare.id();
        let kill = |sig: &str, target: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", target])
                .stderr(Stdio::null())
                .status();
        };
        let exited_within = |child: &mut Child, limit: Duration| {
            let deadline = Instant::now() + limit;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    return true;
                }
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        // The namespace's PID 1 (couriertcpd, after start.sh's exec) is
        // unshare's only child. When it ends, the kernel kills every other
        // process of the namespace and PID 1 reaps them; unshare reaps PID 1.
        let init = || {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        // unshare ignores SIGTERM, and couriertcpd leaves our process group,
        // so PID 1 gets its TERM directly (it has a handler, so a signal from
        // outside the namespace reaches it).
        for p in init() {
            kill("-TERM", &p);
        }
        if !exited_within(&mut self.unshare, Duration::from_secs(3)) {
            for p in init() {
                kill("-KILL", &p);
            }
            exited_within(&mut self.unshare, Duration::from_secs(3));
        }
        // Whatever is left in our group (normally nothing; unshare at worst).
        kill("-KILL", &format!("-{pid}"));
        let _ = self.unshare.wait();
    }
}

crate::server::private_server!(Courier);

fn authdaemonrc(debug_login: bool) -> String {
    format!(
        r#"# generated by mailport-testbed
authmodulelist="authuserdb"
daemons=3
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN={}
DEFAULTOPTIONS=""
LOGGEROPTS=""
"#,
        u8::from(debug_login)
    )
}

/// The variables of Debian's /etc/courier/imapd and imapd-ssl that matter,
/// with paths into the instance.
fn imapd_env(root: &Path) -> Vec<(String, String)> {
    let capability =
        "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE";
    [
        ("IMAP_CAPABILITY", capability.to_string()),
        ("IMAP_CAPABILITY_TLS", format!("{capability} AUTH=PLAIN")),
        ("IMAP_KEYWORDS", "1".into()),
        ("IMAP_ACL", "1".into()),
        ("IMAP_IDLE_TIMEOUT", "60".into()),
        ("IMAP_MAILBOX_SANITY_CHECK", "1".into()),
        ("IMAP_USELOCKS", "1".into()),
        ("IMAP_UMASK", "022".into()),
        ("IMAP_TRASHFOLDERNAME", "Trash".into()),
        ("IMAP_EMPTYTRASH", "Trash:7".into()),
        ("IMAP_MOVE_EXPUNGE_TO_TRASH", "0".into()),
        ("IMAP_STARTTLS", "YES".into()),
        ("IMAP_TLS_REQUIRED", "0".into()),
        ("COURIERTLS", "/usr/bin/couriertls".into()),
        ("TLS_CERTFILE", root.join("imapd.pem").display().to_string()),
        ("TLS_VERIFYPEER", "NONE".into()),
        (
            "TLS_CACHEFILE",
            root.join("tls-cache").display().to_string(),
        ),
        ("TLS_CACHESIZE", "524288".into()),
        ("MAILDIRPATH", "Maildir".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn start_script(
    root: &Path,
    install: &Path,
    o: &CourierOptions,
    uid: u32,
    gid: u32,
    imap_port: u16,
    imaps_port: u16,
) -> String {
    let r = root.display().to_string();
    let q = |s: &str| sh_quote(s);
    let mut s = String::new();
    s.push_str(&format!(
        r#"# generated by mailport-testbed; run by `unshare -m -p --fork` (crates/testbed/src/courier.rs)
set -eu
umask 022
# The mounts exist only in this namespace; the host's /usr, /etc and /run are untouched.
mount -t overlay mailport-courier-usr -o {usr} /usr
mount -t overlay mailport-courier-etc -o {etc} /etc
mount --bind {run} /run
mkdir -p /run/courier/authdaemon
touch /etc/courier/userdb
chmod 600 /etc/courier/userdb
# couriertls runs as the user `courier` (compiled in; the package's postinst
# would add it): added to this namespace's /etc only, with nobody's ids.
grep -q '^courier:' /etc/passwd ||
  echo 'courier:x:{uid}:{gid}:Courier mail server:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
grep -q '^courier:' /etc/group || echo 'courier:x:{gid}:' >> /etc/group
chown courier:courier {pem}
: > {cache}
chown courier:courier {cache}
chmod 600 {cache}
"#,
        usr = q(&format!("lowerdir={}/usr:/usr", install.display())),
        etc = q(&format!("lowerdir=/etc,upperdir={r}/etc,workdir={r}/etc.work")),
        run = q(&format!("{r}/run")),
        pem = q(&format!("{r}/imapd.pem")),
        cache = q(&format!("{r}/tls-cache")),
    ));
    for (user, password) in &o.users {
        let home = root.join("home").join(user);
        let maildir = home.join("Maildir");
        let (h, m) = (home.display().to_string(), maildir.display().to_string());
        s.push_str(&format!(
            "userdb {u} set uid={uid} gid={gid} {home} {mail}\n\
             printf '%s\\n' {pw} | userdbpw -md5 | userdb {u} set systempw\n\
             mkdir -p {hq}\n\
             maildirmake.courier {mq}\n",
            u = q(user),
            home = q(&format!("home={h}")),
            mail = q(&format!("mail={m}")),
            pw = q(password),
            hq = q(&h),
            mq = q(&m),
        ));
        for folder in &o.folders {
            s.push_str(&format!("maildirmake.courier -f {} {}\n", q(folder), q(&m)));
        }
        if !o.folders.is_empty() {
            let names: Vec<String> = o.folders.iter().map(|f| q(&format!("INBOX.{f}"))).collect();
            s.push_str(&format!(
                "printf '%s\\n' {} > {}\n",
                names.join(" "),
                q(&format!("{m}/courierimapsubscribed"))
            ));
        }
    }
    s.push_str(&format!(
        r#"makeuserdb
chown -R {uid}:{gid} {home}
/usr/lib/courier/courier-authlib/authdaemond &
authdaemond=$!
i=0
while [ ! -S {socket} ]; do
  kill -0 "$authdaemond" 2>/dev/null || {{ echo "start.sh: authdaemond exited"; exit 1; }}
  i=$((i + 1))
  [ "$i" -lt 500 ] || {{ echo "start.sh: no {socket} after 10 s"; exit 1; }}
  sleep 0.02
done
set -a
"#,
        home = q(&format!("{r}/home")),
        socket = AUTHDAEMON_SOCKET,
    ));
    for (k, v) in imapd_env(root).iter().chain(&o.extra_env) {
        s.push_str(&format!("{k}={}\n", q(v)));
    }
    let tcpd =
        "couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup";
    let imapd = "/usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir";
    s.push_str(&format!(
        r#"set +a
IMAP_TLS=1 {tcpd} {imaps_port} /usr/bin/couriertls -server -tcpd -user=courier {imapd} &
exec {tcpd} {imap_port} {imapd}
"#
    ));
    s
}

/// `'s'` for sh, with `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first line the server sends, which must be `* OK`.
fn greeting(port: u16) -> std::io::Result<String> {
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(tcp).read_line(&mut line)?;
    if line.starts_with("* OK") {
        Ok(line)
    } else {
        Err(std::io::Error::other(format!("greeting: {line:?}")))
    }
}
