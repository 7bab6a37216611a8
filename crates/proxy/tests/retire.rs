//! The retirement report on real traffic: mail sent with swaks through the
//! proxy's SMTP front to two real Postfix MTAs, accounts moved by a real
//! cut-over, mail dropped on the old server behind the proxy's back and
//! carried over by following passes. Every alias, catch-all address and
//! never-logged-in mailbox the test made appears with its counts; moved
//! accounts appear only for the mail that reached the old server after.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    account_row, append, eventually, inbox_count, mtas, proxy, smtp_config, wait_for, world, World,
    USERS,
};
use mailport_project::csv_import::{Credential, ImportRow};
use mailport_proxy::retire;
use mailport_proxy::{Listen, Schedule};
use mailport_store::{MailboxState, ServedBy};

fn swaks(port: u16, to: &str) {
    let out = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string()])
        .args(["--from", "sender@elsewhere.test", "--to", to])
        .output()
        .expect("swaks must run (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_report_names_everything_that_still_needs_the_old_server() {
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (old_mta, new_mta) = mtas(&src, &dst);
    let store = &project.store;
    let (alice, alice_pw) = USERS[0];
    let (bob, bob_pw) = USERS[1];
    // alice and bob logged in through the proxy; carol and dave are
    // mailboxes of the project that never did.
    for (user, pw) in USERS {
        project.capture(user, pw).await.unwrap();
        let row = account_row(user, ServedBy::Source);
        store.put_account("acme", &row).await.unwrap();
    }
    let waiting: Vec<_> = ["carol", "dave"]
        .iter()
        .map(|login| {
            project
                .mailbox_row(&ImportRow {
                    line: 1,
                    source_login: login.to_string(),
                    source_credential: Credential::AskUser,
                    destination_login: None,
                    destination_credential: Credential::Admin,
                    folders: None,
                    destination_prefix: None,
                    source_host: None,
                    destination_host: None,
                })
                .unwrap()
        })
        .collect();
    store.put_mailboxes(&waiting).await.unwrap();
    let config = smtp_config(&old_mta, &new_mta);
    let (addrs, cancel, running) = proxy(
        &project,
        vec![Listen::Smtp("127.0.0.1:0".parse().unwrap())],
        None,
        |c| {
            c.smtp = Some(config);
            c.schedule = Schedule {
                delta_every: None,
                follow_every: Some(Duration::from_secs(1)),
                cutover_below: None,
                keep_credentials: false,
                ..Schedule::default()
            };
        },
    )
    .await;
    let port = addrs[0].addr().port();
    let since = mailport_mail::date::now() - 1;
    wait_for(&project, alice, MailboxState::Completed).await;
    wait_for(&project, bob, MailboxState::Completed).await;
    mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap();

    // Traffic: the moved account's mail goes to the new server (not in
    // the report); everyone else's to the old one.
    for to in [
        "alice@example.org",
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
        "carol@example.org",
        "sales@example.org",
        "sales@example.org",
        "sales@example.org",
        "typo1@example.org",
        "typo2@example.org",
    ] {
        swaks(port, to);
    }
    // Mail that reached the old server by another route after the move:
    // the following pass carries it, and the report names the route.
    let moved_count = inbox_count(&dst, alice).await;
    append(src.imap_port, alice, alice_pw, "straight-to-the-old-server");
    eventually("the following pass", || async {
        inbox_count(&dst, alice).await == moved_count + 1
    })
    .await;
    let _ = bob_pw;

    // The following pass is recorded a moment after its message landed.
    eventually("the following pass recorded", || async {
        let now = mailport_mail::date::now();
        let r = retire::build(&project, since, now + 1).await.unwrap();
        !r.stale_routes.is_empty()
    })
    .await;
    let now = mailport_mail::date::now();
    let r = retire::build(&project, since, now + 1).await.unwrap();
    let not_moved: Vec<_> = r
        .not_moved
        .iter()
        .map(|m| (m.login.as_str(), m.served_by.as_str(), m.messages))
        .collect();
    assert_eq!(
        not_moved,
        [
            ("bob", "source", 1),
            ("carol", "never logged in", 2),
            ("dave", "never logged in", 0)
        ],
        "{r:?}"
    );
    assert!(r.not_moved[0]
        .suggestion
        .contains("accounts cutover acme bob"));
    assert!(r.not_moved[1].suggestion.contains("log in once"));
    assert!(r.not_moved[2].suggestion.starts_with("no mail"));
    let unboxed: Vec<_> = r
        .no_mailbox
        .iter()
        .map(|u| (u.address.as_str(), u.messages, u.per_day.len()))
        .collect();
    assert_eq!(
        unboxed,
        [
            ("sales@example.org", 3, 1),
            ("typo1@example.org", 1, 1),
            ("typo2@example.org", 1, 1)
        ]
    );
    let stale: Vec<_> = r
        .stale_routes
        .iter()
        .map(|s| (s.login.as_str(), s.relayed, s.arrived_directly))
        .collect();
    assert_eq!(stale, [("alice", 0, 1)]);
    assert!(!r.safe_to_retire());
    assert_eq!(
        r.verdict(),
        "NOT safe to retire: 3 mailboxes not moved; 3 addresses without a mailbox still receiving mail; 1 moved account whose mail still reaches the old server"
    );

    // Every format carries every item and the verdict.
    let csv = retire::to_csv(&r);
    assert_eq!(csv.lines().count(), 1 + 3 + 3 + 1 + 1, "{csv}");
    assert!(csv.contains("no mailbox,sales@example.org,3,"), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&retire::to_json(&r)).unwrap();
    assert_eq!(json["safe_to_retire"], false);
    assert_eq!(json["no_mailbox"][0]["messages"], 3);
    assert_eq!(json["stale_routes"][0]["login"], "alice");
    let html = retire::to_html(&r);
    assert!(html.contains("typo2@example.org") && html.contains("NOT safe to retire"));

    // A window that starts after all this: only what is still not moved.
    let later = retire::build(&project, now + 1, now + 2).await.unwrap();
    assert!(later.no_mailbox.is_empty() && later.stale_routes.is_empty());
    assert_eq!(later.not_moved.len(), 3);
    cancel.cancel();
    running.await.unwrap();
}
