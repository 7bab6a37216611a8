//! What tests need of any private IMAP server the harness runs (Dovecot,
//! Cyrus, Courier), so one test can pair any two of them without knowing which is which.

use std::path::Path;
use std::process::Command;

use crate::dovecot::HarnessError;

/// A running private IMAP server: plain IMAP (STARTTLS offered) and IMAPS on
/// loopback, a certificate from the harness's throw-away CA, users with passwords.
pub trait ImapServer {
    /// Port of the plain IMAP listener on 127.0.0.1.
    fn imap_port(&self) -> u16;
    /// Port of the implicit-TLS listener on 127.0.0.1 (certificate for `localhost`).
    fn imaps_port(&self) -> u16;
    /// The CA that signed the server certificate: what a client passes as `--tls-ca`.
    fn ca_pem(&self) -> &Path;
    /// The configured password of `user`; panics for a user the test did not configure.
    fn password(&self, user: &str) -> &str;
    /// The instance's temp dir.
    fn dir(&self) -> &Path;
    /// What the server logged last, for failure messages.
    fn log_tail(&self) -> String;

    /// `imap://user@127.0.0.1:PORT` (STARTTLS offered).
    fn imap_url(&self, user: &str) -> String {
        format!("imap://{user}@127.0.0.1:{}", self.imap_port())
    }

    /// `imaps://user@localhost:PORT` (implicit TLS; certificate for localhost).
    fn imaps_url(&self, user: &str) -> String {
        format!("imaps://{user}@localhost:{}", self.imaps_port())
    }
}

/// A borrowed server is one too: one source can serve several migrations.
impl<T: ImapServer + ?Sized> ImapServer for &T {
    fn imap_port(&self) -> u16 {
        (**self).imap_port()
    }
    fn imaps_port(&self) -> u16 {
        (**self).imaps_port()
    }
    fn ca_pem(&self) -> &Path {
        (**self).ca_pem()
    }
    fn password(&self, user: &str) -> &str {
        (**self).password(user)
    }
    fn dir(&self) -> &Path {
        (**self).dir()
    }
    fn log_tail(&self) -> String {
        (**self).log_tail()
    }
}

/// [`ImapServer`] for a harness server with `imap_port`, `imaps_port` and
/// `certs` fields and `password`, `dir`, `log_tail` and `stop` methods, and
/// a `Drop` that stops it: the three servers are alike in this.
macro_rules! private_server {
    ($t:ident) => {
        impl $crate::server::ImapServer for $t {
            fn imap_port(&self) -> u16 {
                self.imap_port
            }
            fn imaps_port(&self) -> u16 {
                self.imaps_port
            }
            fn ca_pem(&self) -> &std::path::Path {
                &self.certs.ca_pem
            }
            fn password(&self, user: &str) -> &str {
                $t::password(self, user)
            }
            fn dir(&self) -> &std::path::Path {
                $t::dir(self)
            }
            fn log_tail(&self) -> String {
                $t::log_tail(self)
            }
        }

        impl Drop for $t {
            fn drop(&mut self) {
                self.stop();
            }
        }
    };
}
pub(crate) use private_server;

/// How a tool reaches the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// IMAPS (or STARTTLS), the certificate checked against the test CA: what users run.
    Tls,
    /// Plain IMAP on loopback: the servers' TLS work is out of the picture,
    /// so a benchmark shows the tools' own overhead.
    Plain,
}

/// `mailport SUBCOMMAND` from alice at `src` to alice at `dst`, passwords in
/// the environment, the state file in `src`'s temp dir: with [`Transport::Tls`]
/// implicit TLS to `src` and STARTTLS to `dst`, both CAs trusted; with
/// [`Transport::Plain`] both sides plain `imap://` that stays plain
/// (`--allow-plaintext --from-no-tls --to-no-tls`). For the benchmarks;
/// tests use [`crate::cli::Migration`].
pub fn mailport_command_over(
    mailport: &Path,
    subcommand: &str,
    src: &dyn ImapServer,
    dst: &dyn ImapServer,
    transport: Transport,
) -> Command {
    let mut c = Command::new(mailport);
    c.arg(subcommand);
    match transport {
        Transport::Tls => c
            .args([
                "--from",
                &src.imaps_url("alice"),
                "--to",
                &dst.imap_url("alice"),
            ])
            .arg("--from-tls-ca")
            .arg(src.ca_pem())
            .arg("--to-tls-ca")
            .arg(dst.ca_pem()),
        Transport::Plain => c.args([
            "--from",
            &src.imap_url("alice"),
            "--to",
            &dst.imap_url("alice"),
            "--allow-plaintext",
            "--from-no-tls",
            "--to-no-tls",
        ]),
    };
    c.env("MAILPORT_FROM_PASSWORD", src.password("alice"))
        .env("MAILPORT_TO_PASSWORD", dst.password("alice"))
        // The state file lives and dies with the test's servers, never in $HOME.
        .env("MAILPORT_STATE", src.dir().join("mailport-state.db"));
    c
}

/// A free loopback port (bound then released), never one this process
/// handed out before: the kernel may give a released port to the next
/// `bind(0)`, and two servers started at once by parallel tests then get
/// the same port. Dovecot refuses to start on a taken port, but Cyrus's
/// master carries on without that listener, and its test then talked to
/// the other test's Cyrus (seen as two foreign messages in a mailbox).
pub fn free_port() -> std::io::Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
}

/// `name` on `$PATH` or in the sbin directories (which a non-login root shell may lack).
pub(crate) fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            std::path::PathBuf::from("/usr/sbin"),
            std::path::PathBuf::from("/sbin"),
        ])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The numeric id of `name` in /etc/passwd or /etc/group.
pub(crate) fn system_id(file: &str, name: &str) -> Result<u32, HarnessError> {
    std::fs::read_to_string(file)?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some(name))
                .then(|| fields.nth(1)?.parse().ok())
                .flatten()
        })
        .ok_or_else(|| HarnessError::Start(format!("no {name} in {file}")))
}

/// Where scripts/setup unpacked a server's Debian packages: `$var`, else `default`.
pub(crate) fn unpacked(var: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(var)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(default))
}

/// The last `n` lines of a log file ("" when there is none).
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod port_tests {
    #[test]
    fn a_port_is_handed_out_once() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            assert!(seen.insert(super::free_port().unwrap()));
        }
    }
}
