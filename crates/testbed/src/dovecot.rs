//! Private Dovecot instances: own config, temp dirs, free loopback ports,
//! passwd-file users. Never the system service.
//!
//! Facts that shaped this (see docs/TESTBED.md): Dovecot refuses to run mail
//! processes as root, so mail is owned by the `mail` user (uid 8) and every
//! directory on the way must be traversable by it; `dovecot -c CONF`
//! daemonizes and writes `base_dir/master.pid`, which is how we stop it.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::{self, TestCerts};
pub use crate::server::free_port;
use crate::server::{tail, which, ImapServer};

/// Folder layout and namespace of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Maildir++ with `.` separator and the personal namespace prefix `INBOX.`
    /// (what Courier and many older hosts look like).
    CourierDot,
    /// `maildir:~/Maildir:LAYOUT=fs`, `/` separator, no prefix.
    FsSlash,
}

#[derive(Debug, Clone)]
pub struct DovecotOptions {
    pub layout: Layout,
    /// (user, password) pairs.
    pub users: Vec<(String, String)>,
    /// Mailboxes with a SPECIAL-USE role, auto-created: (name, `\Sent` etc.).
    /// Names are given with `/` as the hierarchy separator.
    pub special_use: Vec<(String, String)>,
    /// `mail_fsync = never` (benchmarks: shows the tools' own overhead).
    pub fsync_never: bool,
    /// Extra lines appended to the configuration.
    pub extra_conf: String,
    /// A master user (login, password) who logs in as anyone with
    /// `LOGIN user*login password` (Dovecot's master user syntax).
    pub master_user: Option<(String, String)>,
    /// Serve this certificate and key (e.g. from [`certs::generate_kind`])
    /// instead of a freshly generated valid one. The files must outlive the server.
    pub certs: Option<TestCerts>,
    /// Also serve POP3 (STLS offered) and POP3S on their own loopback ports,
    /// with APOP enabled (the passwd-file holds plaintext passwords, which APOP needs).
    pub pop3: bool,
    /// Also take mail by LMTP on a loopback port (an MTA delivers there):
    /// `user@any.domain` is delivered to `user`'s INBOX.
    pub lmtp: bool,
    /// Also answer an MTA's SMTP AUTH (Postfix's `smtpd_sasl_type =
    /// dovecot`) on a loopback port, against the same users.
    pub sasl: bool,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            layout: Layout::FsSlash,
            users: vec![("alice".into(), "alice-secret".into())],
            special_use: vec![
                ("Sent".into(), "\\Sent".into()),
                ("Drafts".into(), "\\Drafts".into()),
                ("Trash".into(), "\\Trash".into()),
                ("Junk".into(), "\\Junk".into()),
                ("Archive".into(), "\\Archive".into()),
            ],
            fsync_never: false,
            extra_conf: String::new(),
            master_user: None,
            certs: None,
            pop3: false,
            lmtp: false,
            sasl: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("dovecot is not installed (apt-get install dovecot-imapd); scripts/test installs it")]
    NotInstalled,
    #[error("a test server failed to start: {0}")]
    Start(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running private Dovecot. Stopped on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    pub imap_port: u16,
    pub imaps_port: u16,
    /// Plain POP3 listener (STLS offered); 0 unless [`DovecotOptions::pop3`].
    pub pop3_port: u16,
    /// Implicit-TLS POP3 listener; 0 unless [`DovecotOptions::pop3`].
    pub pop3s_port: u16,
    /// LMTP listener; 0 unless [`DovecotOptions::lmtp`].
    pub lmtp_port: u16,
    /// The authentication service for an MTA; 0 unless [`DovecotOptions::sasl`].
    pub sasl_port: u16,
    pub certs: TestCerts,
    pub options: DovecotOptions,
}

const MAIL_UID: u32 = 8;
/// Where Debian's dovecot-pop3d puts the POP3 process.
const POP3_BINARY: &str = "/usr/lib/dovecot/pop3";
/// Where Debian's dovecot-lmtpd puts the LMTP process.
const LMTP_BINARY: &str = "/usr/lib/dovecot/lmtp";

impl Dovecot {
    pub fn start(options: DovecotOptions) -> Result<Dovecot, HarnessError> {
        let binary = which("dovecot").ok_or(HarnessError::NotInstalled)?;
        if options.pop3 && !Path::new(POP3_BINARY).exists() {
            return Err(HarnessError::Start(format!(
                "{POP3_BINARY} is missing (apt-get install dovecot-pop3d); scripts/setup installs it"
            )));
        }
        if options.lmtp && !Path::new(LMTP_BINARY).exists() {
            return Err(HarnessError::Start(format!(
                "{LMTP_BINARY} is missing (apt-get install dovecot-lmtpd); scripts/setup installs it"
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("mailport-dovecot-")
            .tempdir()?;
        let root = dir.path();
        // The mail user must reach the homes below the temp dir.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        let certs = match &options.certs {
            Some(given) => given.clone(),
            None => certs::generate(root)?,
        };
        let imap_port = free_port()?;
        let imaps_port = free_port()?;
        let (pop3_port, pop3s_port) = if options.pop3 {
            (free_port()?, free_port()?)
        } else {
            (0, 0)
        };
        let lmtp_port = if options.lmtp { free_port()? } else { 0 };
        let sasl_port = if options.sasl { free_port()? } else { 0 };
        let ports = Ports {
            imap: imap_port,
            imaps: imaps_port,
            pop3: pop3_port,
            pop3s: pop3s_port,
            lmtp: lmtp_port,
            sasl: sasl_port,
        };
        let mut passwd = String::new();
        for (user, pass) in &options.users {
            let home = root.join("home").join(user);
            std::fs::create_dir_all(&home)?;
            chown(&home, MAIL_UID)?;
            writeln!(
                passwd,
                "{user}:{{PLAIN}}{pass}:{MAIL_UID}:{MAIL_UID}::{}::",
                home.display()
            )
            .ok();
        }
        std::fs::write(root.join("passwd"), passwd)?;
        if let Some((login, password)) = &options.master_user {
            std::fs::write(
                root.join("master-users"),
                format!("{login}:{{PLAIN}}{password}\n"),
            )?;
        }
        std::fs::write(
            root.join("dovecot.conf"),
            config(root, &options, &certs, &ports),
        )?;

        // The daemon keeps inherited descriptors open: a pipe here would never
        // reach EOF, so its early complaints go to a file.
        let startup_log = std::fs::File::create(root.join("startup.log"))?;
        let status = Command::new(binary)
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(startup_log)
            .status()?;
        let server = Dovecot {
            dir,
            imap_port,
            imaps_port,
            pop3_port,
            pop3s_port,
            lmtp_port,
            sasl_port,
            certs,
            options,
        };
        if !status.success() {
            return Err(HarnessError::Start(format!(
                "{}{}",
                std::fs::read_to_string(server.dir().join("startup.log")).unwrap_or_default(),
                server.log_tail()
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in [imap_port, pop3_port, lmtp_port, sasl_port] {
            if port == 0 {
                continue;
            }
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > deadline {
                    return Err(HarnessError::Start(format!(
                        "no listener on port {port}: {}",
                        server.log_tail()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        server.create_special_folders()?;
        Ok(server)
    }

    /// Dovecot creates `auto = subscribe` folders lazily, on first access; two
    /// sessions doing that at once can make Dovecot 2.3 panic ("fcntl ...
    /// Resource deadlock avoided") and lose the folder from its list index.
    /// One session opening each folder first takes that race out of tests.
    fn create_special_folders(&self) -> Result<(), HarnessError> {
        use std::io::{BufRead, BufReader, Write};
        if self.options.special_use.is_empty() {
            return Ok(());
        }
        let (separator, prefix) = match self.options.layout {
            Layout::CourierDot => (".", "INBOX."),
            Layout::FsSlash => ("/", ""),
        };
        let fail = |what: &str| HarnessError::Start(format!("{what}: {}", self.log_tail()));
        for (user, pass) in &self.options.users {
            let stream = std::net::TcpStream::connect(("127.0.0.1", self.imap_port))?;
            stream.set_read_timeout(Some(Duration::from_secs(15)))?;
            let mut reader = BufReader::new(stream.try_clone()?);
            let mut writer = stream;
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let mut commands = vec![format!("LOGIN \"{user}\" \"{pass}\"")];
            for (name, _) in &self.options.special_use {
                let name = name.replace('/', separator);
                commands.push(format!("EXAMINE \"{prefix}{name}\""));
            }
            commands.push("LOGOUT".into());
            for (n, cmd) in commands.iter().enumerate() {
                let tag = format!("w{n}");
                writer.write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        if cmd == "LOGOUT" {
                            break;
                        }
                        return Err(fail("the warm-up session ended early"));
                    }
                    if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                        if !rest.starts_with("OK") {
                            return Err(fail(&format!("warm-up {cmd:?} got {}", rest.trim())));
                        }
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Maildir of `user` (Dovecot's mail processes need it to belong to `mail`).
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.dir().join("home").join(user).join("Maildir")
    }

    /// CPU seconds (user + system) this server has used so far: the master,
    /// every live process it forked and every one it has reaped. Benchmarks
    /// read it before and after a tool's run to see what the tool cost the server.
    pub fn cpu_seconds(&self) -> f64 {
        let pidfile = self.dir.path().join("run").join("master.pid");
        let Some(master) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return 0.0;
        };
        let mut ticks = 0u64;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(stat) = ProcStat::read(pid) else {
                continue;
            };
            if pid == master {
                ticks += stat.own + stat.reaped_children;
            } else if stat.parent == master {
                // Zombies not yet reaped still report their times here.
                ticks += stat.own;
            }
        }
        // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
        ticks as f64 / 100.0
    }

    /// The last lines of the server log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("dovecot.log"), 20)
    }

    /// Replaces `user`'s password field in the passwd-file with `field`
    /// (`{SCHEME}hash`, as an exported passwd-file has it); Dovecot reads
    /// the file again when it changes.
    pub fn set_password_field(&self, user: &str, field: &str) -> std::io::Result<()> {
        let path = self.dir.path().join("passwd");
        let text = std::fs::read_to_string(&path)?;
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.split_once(':') {
                Some((u, rest)) if u == user => {
                    let after = rest.split_once(':').map_or("", |(_, a)| a);
                    format!("{u}:{field}:{after}")
                }
                _ => l.to_string(),
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n")
    }

    pub fn password(&self, user: &str) -> &str {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
            .expect("user configured in DovecotOptions")
    }

    // The URL helpers live in [`ImapServer`]; these forward to it so
    // that tests using only Dovecot need not import the trait.

    pub fn imap_url(&self, user: &str) -> String {
        ImapServer::imap_url(self, user)
    }

    pub fn imaps_url(&self, user: &str) -> String {
        ImapServer::imaps_url(self, user)
    }

    fn stop(&self) {
        let pidfile = self.dir.path().join("run").join("master.pid");
        let Ok(pid) = std::fs::read_to_string(&pidfile) else {
            return;
        };
        let pid = pid.trim().to_string();
        let _ = Command::new("kill")
            .arg(&pid)
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

crate::server::private_server!(Dovecot);

struct Ports {
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
    lmtp: u16,
    sasl: u16,
}

fn config(root: &Path, o: &DovecotOptions, certs: &TestCerts, ports: &Ports) -> String {
    let r = root.display();
    let (location, separator, prefix) = match o.layout {
        Layout::CourierDot => ("maildir:~/Maildir", ".", "INBOX."),
        Layout::FsSlash => ("maildir:~/Maildir:LAYOUT=fs", "/", ""),
    };
    let mut mailboxes = String::new();
    for (name, usage) in &o.special_use {
        let name = name.replace('/', separator);
        // Names inside a namespace block are relative to its prefix.
        writeln!(
            mailboxes,
            "  mailbox \"{name}\" {{\n    special_use = {usage}\n    auto = subscribe\n  }}"
        )
        .ok();
    }
    let (protocols, mechanisms, pop3) = if o.pop3 {
        (
            "imap pop3",
            "plain login apop",
            format!(
                r#"# Dovecot's default UIDL format depends on the mailbox format; this one
# is stable and unique per (UIDVALIDITY, UID), like most servers' UIDs.
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
"#,
                pop3 = ports.pop3,
                pop3s = ports.pop3s,
            ),
        )
    } else {
        ("imap", "plain login", String::new())
    };
    let (protocols, lmtp) = match o.lmtp {
        false => (protocols.to_string(), String::new()),
        true => (
            format!("{protocols} lmtp"),
            format!(
                r#"# Mail for user@any.domain goes to user.
postmaster_address = postmaster@mailport.test
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
protocol lmtp {{
  auth_username_format = %Ln
}}
"#,
                lmtp = ports.lmtp
            ),
        ),
    };
    format!(
        r#"# generated by mailport-testbed
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
listen = 127.0.0.1
protocols = {protocols}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_dh = </usr/share/dovecot/dh.pem
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = {location}
mail_max_userip_connections = 100
mail_fsync = {fsync}
# flock, not fcntl: the kernel's fcntl deadlock detection answers EDEADLK when several
# imap processes of one user chain their locks on the list index, and Dovecot panics
# ("Resource deadlock avoided"), seen under parallel copies into a fresh account.
lock_method = flock
passdb {{
  driver = passwd-file
  args = {r}/passwd
}}
userdb {{
  driver = passwd-file
  args = {r}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
{master}{pop3}{lmtp}{sasl}service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"#,
        cert = certs.cert_pem.display(),
        key = certs.key_pem.display(),
        fsync = if o.fsync_never { "never" } else { "optimized" },
        imap_port = ports.imap,
        imaps_port = ports.imaps,
        extra = o.extra_conf,
        sasl = match o.sasl {
            true => format!(
                "service auth {{\n  inet_listener sasl {{\n    address = 127.0.0.1\n    port = {}\n  }}\n}}\n",
                ports.sasl
            ),
            false => String::new(),
        },
        master = match o.master_user {
            Some(_) => format!(
                "auth_master_user_separator = *\npassdb {{\n  driver = passwd-file\n  master = yes\n  pass = yes\n  args = {r}/master-users\n}}\n"
            ),
            None => String::new(),
        },
    )
}

fn chown(path: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(uid))
}

/// The fields of `/proc/PID/stat` that [`Dovecot::cpu_seconds`] needs, in clock ticks.
struct ProcStat {
    parent: u32,
    own: u64,
    reaped_children: u64,
}

impl ProcStat {
    fn read(pid: u32) -> Option<ProcStat> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces; fields follow the last ')'.
        let rest = &text[text.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        Some(ProcStat {
            parent: f.get(1)?.parse().ok()?,
            own: n(11)? + n(12)?,
            reaped_children: n(13)? + n(14)?,
        })
    }
}
