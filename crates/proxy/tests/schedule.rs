//! The passes nobody asks for, against private Dovecots: after the first
//! login's full pass, delta passes on a clock carry new mail; with
//! automatic cut-over the account moves by itself once a delta finds
//! (almost) nothing; a moved account is followed — mail that still reaches
//! the old server appears on the new one within seconds, and at once when
//! the user logs in — until following stops; then the captured password is
//! erased and the proxy still lets the user in (the hash checks it). With
//! `migrate-now`, a first login waits for its move instead.

mod common;

use std::time::Duration;

use common::{append, eventually, inbox_count, plain_proxy, python, wait_for, world, World, USERS};
use mailport_proxy::Schedule;
use mailport_store::{MailboxState, ServedBy};

const COUNT: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
print(c.select("INBOX", readonly=True)[1][0].decode())
c.logout()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delta_follow_and_automatic_cutover() {
    // The directory holds the state file: kept to the end.
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (alice, alice_pw) = USERS[0];
    let second = Some(Duration::from_secs(1));
    let store = &project.store;
    let passes = |kind: &'static str| async move {
        store
            .passes("acme", Some(alice))
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.kind == kind)
            .collect::<Vec<_>>()
    };

    // A proxy with delta passes every second, cut-over by hand.
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.schedule = Schedule {
            delta_every: second,
            follow_every: None,
            cutover_below: None,
            keep_credentials: false,
            ..Schedule::default()
        };
    })
    .await;
    let count = |port: u16| python(COUNT, &[port.to_string(), alice.into(), alice_pw.into()]);
    let at_source = tokio::task::spawn_blocking(move || count(port))
        .await
        .unwrap();
    wait_for(&project, alice, MailboxState::Completed).await;
    for tag in ["new-1", "new-2", "new-3"] {
        append(src.imap_port, alice, alice_pw, tag);
    }
    let all = inbox_count(&src, alice).await;
    assert_eq!(all, at_source.trim().parse::<u32>().unwrap() + 3);
    eventually("a delta pass carrying the 3 new messages", || async {
        inbox_count(&dst, alice).await == all
    })
    .await;
    // The pass is recorded when it ends, a moment after its last message
    // reached the destination.
    eventually("the delta pass recorded with its 3 messages", || async {
        passes("delta").await.iter().map(|p| p.copied).sum::<i64>() == 3
    })
    .await;
    assert_eq!(
        store
            .account("acme", alice)
            .await
            .unwrap()
            .unwrap()
            .served_by,
        ServedBy::Source,
        "moved without being asked"
    );
    cancel.cancel();
    running.await.unwrap();

    // Automatic cut-over: the next delta finds nothing new, the account moves.
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.schedule = Schedule {
            delta_every: second,
            follow_every: second,
            cutover_below: Some(0),
            keep_credentials: false,
            ..Schedule::default()
        };
    })
    .await;
    eventually("the automatic cut-over", || async {
        store
            .account("acme", alice)
            .await
            .unwrap()
            .unwrap()
            .served_by
            == ServedBy::Destination
    })
    .await;
    let finals = passes("final").await;
    assert!(
        finals.len() == 1 && finals[0].verified.as_deref() == Some("ok"),
        "{finals:?}"
    );

    // Followed: mail that still reaches the old server appears on the new
    // one by itself.
    append(src.imap_port, alice, alice_pw, "late-1");
    eventually("a following pass", || async {
        inbox_count(&dst, alice).await == all + 1
    })
    .await;

    // Following stops: the captured password is erased; the hash still
    // lets the user in, to the destination.
    assert_eq!(
        store
            .set_following("acme", Some(alice), false)
            .await
            .unwrap(),
        1
    );
    eventually("the password erased", || async {
        let m = store.mailbox("acme", alice).await.unwrap().unwrap();
        m.source_secret.is_none() && m.source_auth == "ask"
    })
    .await;
    // The erasure's event is written just after it.
    eventually("the erasure recorded", || async {
        let events = store.events("acme", Some(alice), 20).await.unwrap();
        events.iter().any(|e| e.kind == "erase")
    })
    .await;
    append(src.imap_port, alice, alice_pw, "after-following");
    let through = tokio::task::spawn_blocking(move || count(port))
        .await
        .unwrap();
    assert_eq!(through.trim(), (all + 1).to_string());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        inbox_count(&dst, alice).await,
        all + 1,
        "followed after stop"
    );
    cancel.cancel();
    running.await.unwrap();
}

/// Followed accounts get a pass at login, without waiting for the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_account_is_brought_up_to_date_at_login() {
    // The directory holds the state file: kept to the end.
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (alice, alice_pw) = USERS[0];
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.schedule = Schedule {
            delta_every: None,
            follow_every: None,
            cutover_below: None,
            keep_credentials: true,
            ..Schedule::default()
        };
    })
    .await;
    let count = move || python(COUNT, &[port.to_string(), alice.into(), alice_pw.into()]);
    tokio::task::spawn_blocking(count).await.unwrap();
    wait_for(&project, alice, MailboxState::Completed).await;
    mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap();
    let moved = inbox_count(&dst, alice).await;
    append(src.imap_port, alice, alice_pw, "late");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(inbox_count(&dst, alice).await, moved, "no clock, no pass");
    tokio::task::spawn_blocking(count).await.unwrap();
    eventually("the pass at login", || async {
        inbox_count(&dst, alice).await == moved + 1
    })
    .await;
    // Kept credentials are not erased when following ends.
    project
        .store
        .set_following("acme", Some(alice), false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = project.store.mailbox("acme", alice).await.unwrap().unwrap();
    assert!(m.source_secret.is_some());
    cancel.cancel();
    running.await.unwrap();
}

/// Mail the old server's MTA puts in the mailbox just after the final pass
/// (accepted before it, delivered a moment later) is carried over by one
/// settling pass, even for an account nobody follows; then no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moved_account_gets_one_settling_pass() {
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (alice, alice_pw) = USERS[0];
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.schedule = Schedule {
            delta_every: None,
            follow_every: None,
            cutover_below: None,
            keep_credentials: false,
            settle_after: Duration::from_secs(2),
        };
    })
    .await;
    let count = move || python(COUNT, &[port.to_string(), alice.into(), alice_pw.into()]);
    tokio::task::spawn_blocking(count).await.unwrap();
    wait_for(&project, alice, MailboxState::Completed).await;
    mailport_proxy::cutover::cut_over(&project, alice)
        .await
        .unwrap();
    let moved = inbox_count(&dst, alice).await;
    append(
        src.imap_port,
        alice,
        alice_pw,
        "delivered-after-the-final-pass",
    );
    eventually("the settling pass", || async {
        inbox_count(&dst, alice).await == moved + 1
    })
    .await;
    append(src.imap_port, alice, alice_pw, "much-later");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(inbox_count(&dst, alice).await, moved + 1, "settled twice");
    cancel.cancel();
    running.await.unwrap();
}

/// `--on-first-login migrate-now`: the first login waits while the mailbox
/// moves and is then served by the new server; the old one never serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_first_login_can_wait_for_its_move() {
    let World {
        dir: _dir,
        src,
        dst,
        project,
    } = world(false).await;
    let (alice, alice_pw) = USERS[0];
    let (port, cancel, running) = plain_proxy(&project, |c| {
        c.migrate_now = Some(Duration::from_secs(60));
    })
    .await;
    let seen = tokio::task::spawn_blocking(move || {
        python(COUNT, &[port.to_string(), alice.into(), alice_pw.into()])
    })
    .await
    .unwrap();
    let account = project.store.account("acme", alice).await.unwrap().unwrap();
    assert_eq!(account.served_by, ServedBy::Destination);
    assert_eq!(seen.trim(), inbox_count(&dst, alice).await.to_string());
    assert_eq!(
        inbox_count(&src, alice).await,
        inbox_count(&dst, alice).await
    );
    let events = project.store.events("acme", Some(alice), 20).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "move" && e.outcome.starts_with("moved")),
        "{events:?}"
    );
    cancel.cancel();
    running.await.unwrap();
}
