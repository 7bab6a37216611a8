//! The peer tools people use today, set up against the private servers:
//! used by the benchmark and by tests that start from a destination another
//! tool filled.

use std::path::Path;
use std::process::Command;

use crate::Dovecot;

pub use crate::server::Transport;

/// mbsync (Debian `isync`) copying alice at `src` to alice at `dst` over IMAPS
/// (or plain IMAP): IMAP-to-IMAP channel, all folders, `CopyArrivalDate yes`.
/// State lives in `dir`.
pub fn mbsync(src: &Dovecot, dst: &Dovecot, dir: &Path, transport: Transport) -> Command {
    let store = |name: &str, d: &Dovecot| {
        let (port, security) = match transport {
            Transport::Tls => (
                d.imaps_port,
                format!(
                    "SSLType IMAPS\nCertificateFile {}\n",
                    d.certs.ca_pem.display()
                ),
            ),
            Transport::Plain => (d.imap_port, "SSLType None\n".to_string()),
        };
        format!(
            "IMAPAccount {name}\nHost localhost\nPort {port}\nUser alice\nPass {}\n{security}\nIMAPStore {name}-store\nAccount {name}\n\n",
            d.password("alice"),
        )
    };
    let conf = format!(
        "{}{}Channel migrate\nFar :src-store:\nNear :dst-store:\nPatterns *\nCreate Near\nSync Pull\nCopyArrivalDate yes\nSyncState {}/\n",
        store("src", src),
        store("dst", dst),
        dir.display()
    );
    let path = dir.join("mbsyncrc");
    std::fs::write(&path, conf).expect("write mbsyncrc");
    let mut c = Command::new("mbsync");
    c.arg("-c").arg(path).arg("-q").arg("migrate");
    c
}

/// OfflineIMAP copying alice at `src` to alice at `dst` over IMAPS (or plain
/// IMAP), the source read-only. Metadata lives in `dir`.
pub fn offlineimap(src: &Dovecot, dst: &Dovecot, dir: &Path, transport: Transport) -> Command {
    let repo = |name: &str, d: &Dovecot| {
        let security = match transport {
            Transport::Tls => format!(
                "remoteport = {}\nssl = yes\nsslcacertfile = {}\n",
                d.imaps_port,
                d.certs.ca_pem.display()
            ),
            Transport::Plain => format!("remoteport = {}\nssl = no\n", d.imap_port),
        };
        format!(
            "[Repository {name}]\ntype = IMAP\nremotehost = localhost\nremoteuser = alice\nremotepass = {}\n{security}",
            d.password("alice"),
        )
    };
    let conf = format!(
        "[general]\naccounts = migrate\nmetadata = {0}/meta\nui = quiet\n\n[Account migrate]\nremoterepository = src\nlocalrepository = dst\n\n{1}readonly = True\n\n{2}createfolders = True\n",
        dir.display(),
        repo("src", src),
        repo("dst", dst)
    );
    let path = dir.join("offlineimaprc");
    std::fs::write(&path, conf).expect("write offlineimaprc");
    let mut c = Command::new("offlineimap");
    c.arg("-c").arg(path).arg("-o").arg("-u").arg("quiet");
    c
}

/// imapsync (not packaged in Debian): the script named by `$IMAPSYNC`, if set.
/// Copies alice at `src` to alice at `dst` over IMAPS checking both test CAs
/// (or over plain IMAP).
pub fn imapsync(src: &Dovecot, dst: &Dovecot, transport: Transport) -> Option<Command> {
    let script = std::env::var_os("IMAPSYNC")?;
    let mut c = Command::new(script);
    for (n, d) in [("1", src), ("2", dst)] {
        c.arg(format!("--host{n}")).arg("localhost");
        c.arg(format!("--user{n}")).arg("alice");
        c.arg(format!("--password{n}")).arg(d.password("alice"));
        match transport {
            Transport::Tls => {
                c.arg(format!("--port{n}")).arg(d.imaps_port.to_string());
                c.arg(format!("--ssl{n}"));
                c.arg(format!("--sslargs{n}"))
                    .arg(format!("SSL_ca_file={}", d.certs.ca_pem.display()));
            }
            Transport::Plain => {
                c.arg(format!("--port{n}")).arg(d.imap_port.to_string());
            }
        }
    }
    c.args(["--nolog", "--noreleasecheck", "--subscribeall"]);
    Some(c)
}
