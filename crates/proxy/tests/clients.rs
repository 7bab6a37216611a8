//! Real mail clients through the proxy, unmodified except for host, port
//! and CA: mbsync (isync) pulls every folder over IMAPS into Maildirs,
//! fetchmail fetches INBOX over POP3S; both get exactly what the old
//! server holds.

mod common;

use std::process::Command;

use common::{localhost_certificates, proxy, world, World, USERS};
use mailport_proxy::{Listen, Pop3Servers};
use mailport_testbed::session;

/// Messages in every folder of a Maildir tree (files in each `cur` and
/// `new`, however deep).
fn maildir_messages(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        match path.file_name().and_then(|f| f.to_str()) {
            Some("cur" | "new") => n += std::fs::read_dir(&path).unwrap().count(),
            Some("tmp") => {}
            _ => n += maildir_messages(&path),
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mbsync_and_fetchmail_read_the_old_server_through_the_proxy() {
    let World {
        dir,
        src,
        dst: _dst,
        project,
    } = world(true).await;
    let (certificates, ca) = localhost_certificates(&dir);
    let servers = Pop3Servers {
        source: Pop3Servers::parse(&format!("pop3://127.0.0.1:{}", src.pop3_port)).unwrap(),
        destination: Pop3Servers::parse("pop3://127.0.0.1:9").unwrap(),
    };
    let (addrs, cancel, running) = proxy(
        &project,
        vec![
            Listen::Imaps("127.0.0.1:0".parse().unwrap()),
            Listen::Pop3s("127.0.0.1:0".parse().unwrap()),
        ],
        Some(certificates),
        |c| c.pop3 = Some(servers),
    )
    .await;
    let (imaps, pop3s) = (addrs[0].addr().port(), addrs[1].addr().port());
    let (alice, alice_pw) = USERS[0];
    let snapshot = session::snapshot(
        &mut session::login(src.imap_port, alice, alice_pw)
            .await
            .unwrap(),
    )
    .await
    .unwrap();

    // mbsync: every folder, pulled into a Maildir++ tree.
    let local = dir.path().join("mbsync");
    std::fs::create_dir_all(&local).unwrap();
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount proxy\nHost localhost\nPort {imaps}\nUser {alice}\nPass \"{alice_pw}\"\n\
             SSLType IMAPS\nCertificateFile {ca}\n\n\
             IMAPStore remote\nAccount proxy\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\nSubFolders Verbatim\n\n\
             Channel all\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\nSyncState *\n",
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("mbsync")
            .arg("-c")
            .arg(&config)
            .arg("-a")
            .output()
            .expect("mbsync must run (scripts/setup installs isync)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let held: usize = snapshot.folders.values().map(Vec::len).sum();
    assert_eq!(maildir_messages(&local), held);

    // fetchmail: INBOX over POP3S, each message to a file of its own.
    let inbox = dir.path().join("fetched");
    std::fs::create_dir_all(&inbox).unwrap();
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "poll localhost protocol POP3 port {pop3s}\n  user \"{alice}\" password \"{alice_pw}\"\n  \
             ssl sslcertck sslcertfile \"{ca}\" keep fetchall\n  \
             mda \"/bin/sh -c 'cat > {}/$$'\"\n",
            inbox.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .args(["--nosyslog", "-v"])
            .env("HOME", &home)
            .env("FETCHMAILHOME", &home)
            .output()
            .expect("fetchmail must run (scripts/setup installs it)")
    })
    .await
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let fetched = std::fs::read_dir(&inbox).unwrap().count();
    assert_eq!(fetched, snapshot.folders["INBOX"].len(), "{said}");
    cancel.cancel();
    running.await.unwrap();
}
