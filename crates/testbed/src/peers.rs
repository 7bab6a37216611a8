//! The peer tools people use today, set up against the private servers:
//! used by the benchmark and by tests that start from a destination another
//! tool filled.

use std::path::Path;
use std::process::Command;

use crate::Dovecot;

/// mbsync (Debian `isync`) copying alice at `src` to alice at `dst` over IMAPS:
/// IMAP-to-IMAP channel, all folders, `CopyArrivalDate yes`. State lives in `dir`.
pub fn mbsync(src: &Dovecot, dst: &Dovecot, dir: &Path) -> Command {
    let store = |name: &str, d: &Dovecot| {
        format!(
            "IMAPAccount {name}\nHost localhost\nPort {}\nUser alice\nPass {}\nSSLType IMAPS\nCertificateFile {}\n\nIMAPStore {name}-store\nAccount {name}\n\n",
            d.imaps_port,
            d.password("alice"),
            d.certs.ca_pem.display()
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

/// OfflineIMAP copying alice at `src` to alice at `dst` over IMAPS, the source
/// read-only. Metadata lives in `dir`.
pub fn offlineimap(src: &Dovecot, dst: &Dovecot, dir: &Path) -> Command {
    let repo = |name: &str, d: &Dovecot| {
        format!(
            "[Repository {name}]\ntype = IMAP\nremotehost = localhost\nremoteport = {}\nremoteuser = alice\nremotepass = {}\nssl = yes\nsslcacertfile = {}\n",
            d.imaps_port,
            d.password("alice"),
            d.certs.ca_pem.display()
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
/// Copies alice at `src` to alice at `dst` over IMAPS, checking both test CAs.
pub fn imapsync(src: &Dovecot, dst: &Dovecot) -> Option<Command> {
    let script = std::env::var_os("IMAPSYNC")?;
    let mut c = Command::new(script);
    c.args([
        "--host1",
        "localhost",
        "--port1",
        &src.imaps_port.to_string(),
        "--ssl1",
    ])
    .args(["--user1", "alice", "--password1", src.password("alice")])
    .args([
        "--sslargs1",
        &format!("SSL_ca_file={}", src.certs.ca_pem.display()),
    ])
    .args([
        "--host2",
        "localhost",
        "--port2",
        &dst.imaps_port.to_string(),
        "--ssl2",
    ])
    .args(["--user2", "alice", "--password2", dst.password("alice")])
    .args([
        "--sslargs2",
        &format!("SSL_ca_file={}", dst.certs.ca_pem.display()),
    ])
    .args(["--nolog", "--noreleasecheck", "--subscribeall"]);
    Some(c)
}
