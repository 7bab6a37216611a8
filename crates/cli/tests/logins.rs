//! Logins other than the user's own password, end to end against Dovecot:
//! an administrator acting for the user (master user, SASL authzid) and
//! OAuth 2.0 access tokens checked by Dovecot's oauth2 passdb against the
//! harness's token endpoint.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;

use mailport_testbed::cli::{json, start_dovecot, text, Migration};
use mailport_testbed::oauth::TokenEndpoint;
use mailport_testbed::{Corpus, CorpusOptions, DovecotOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

/// A directory Dovecot's auth processes can read (test temp dirs are 0700).
fn readable_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn small_corpus() -> Corpus {
    Corpus::generate(&CorpusOptions {
        inbox_messages: 8,
        large_attachment: 0,
        seed: 5,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_migrates_a_user_without_the_users_password() {
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions::default()),
        start_dovecot(DovecotOptions {
            master_user: Some(("migrator".into(), "migrator-secret".into())),
            ..Default::default()
        }),
    );
    let corpus = small_corpus();
    m.load(&corpus).await;

    // Dovecot master user syntax: LOGIN alice*migrator.
    let out = m.run(
        m.command("copy")
            .args([
                "--to-admin",
                "migrator",
                "--to-admin-style",
                "dovecot-master",
                "--json",
            ])
            .env("MAILPORT_TO_PASSWORD", "migrator-secret"),
        0,
    );
    let j = json(&out);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count()
    );

    // SASL PLAIN with authzid=alice, authcid=migrator: it opens alice's mailbox,
    // so verify finds every message there.
    m.run(
        m.command("verify")
            .args(["--to-admin", "migrator"])
            .env("MAILPORT_TO_PASSWORD", "migrator-secret"),
        0,
    );

    // A wrong admin password: login failure (exit 3), named, never echoed.
    let out = m.run(
        m.command("copy")
            .args(["--to-admin", "migrator", "--debug"])
            .env("MAILPORT_TO_PASSWORD", "wrong-admin-pw"),
        3,
    );
    let all = text(&out);
    assert!(all.contains("alice"), "{all}");
    assert!(
        !all.contains("wrong-admin-pw"),
        "the password leaked: {all}"
    );

    // The exchange style needs DOMAIN/ADMIN: a usage error before connecting.
    let out = m.run(
        m.command("copy")
            .args(["--to-admin", "migrator", "--to-admin-style", "exchange"]),
        2,
    );
    assert!(text(&out).contains("DOMAIN/ADMIN"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_log_in_and_an_expired_token_is_fetched_again() {
    let tokens = TokenEndpoint::start(vec![("good-token-123".into(), "alice".into())]).unwrap();
    let conf = readable_dir();
    let m = Migration::new(
        MAILPORT,
        start_dovecot(DovecotOptions {
            extra_conf: tokens.dovecot_conf(conf.path()).unwrap(),
            pop3: true,
            ..Default::default()
        }),
        start_dovecot(DovecotOptions::default()),
    );
    let corpus = small_corpus();
    m.load(&corpus).await;

    // A token command whose first token has expired: mailport asks again.
    let counter = m.work().join("runs");
    let script = format!(
        "n=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}; if [ $n = 1 ]; then echo stale-token-999; else echo good-token-123; fi",
        counter.display()
    );
    let out = m.run(
        m.command("copy")
            .env_remove("MAILPORT_FROM_PASSWORD")
            .args(["--from-oauth-token-command", &script, "--json"]),
        0,
    );
    let j = json(&out);
    assert_eq!(
        j["totals"]["copied"].as_u64().unwrap() as usize,
        corpus.message_count()
    );
    let runs: u32 = std::fs::read_to_string(&counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        runs, 2,
        "the command runs again once, then its token is reused"
    );
    assert!(tokens.lookups.load(Ordering::Relaxed) >= 2);

    // XOAUTH2 forced, token from a file: verify logs in the same way.
    let token_file = m.work().join("token");
    std::fs::write(&token_file, "good-token-123\n").unwrap();
    m.run(
        m.command("verify")
            .env_remove("MAILPORT_FROM_PASSWORD")
            .arg("--from-oauth-token-file")
            .arg(&token_file)
            .args(["--from-auth-mech", "xoauth2"]),
        0,
    );

    // A token the server refuses: exit 3 with the server's reason; the token
    // appears nowhere, not even in the protocol trace.
    std::fs::write(&token_file, "revoked-token-777\n").unwrap();
    let out = m.run(
        m.command("copy")
            .env_remove("MAILPORT_FROM_PASSWORD")
            .arg("--from-oauth-token-file")
            .arg(&token_file)
            .arg("--debug"),
        3,
    );
    let all = text(&out);
    assert!(all.contains("login as \"alice\""), "{all}");
    assert!(
        !all.contains("revoked-token-777"),
        "the token leaked: {all}"
    );

    // The same token logs in to the POP3 service (SASL over AUTH).
    std::fs::write(&token_file, "good-token-123\n").unwrap();
    let pop_dst = start_dovecot(DovecotOptions::default());
    let m2 = Migration::new(MAILPORT, &m.src, &pop_dst);
    let from = format!("pop3s://alice@localhost:{}", m.src.pop3s_port);
    let out = m2.run(
        m2.command_from("copy", &from)
            .env_remove("MAILPORT_FROM_PASSWORD")
            .arg("--json")
            .arg("--from-oauth-token-file")
            .arg(&token_file),
        0,
    );
    let inbox = corpus
        .folders
        .iter()
        .find(|f| f.name == "INBOX")
        .map_or(0, |f| f.messages.len());
    assert_eq!(
        json(&out)["totals"]["copied"].as_u64().unwrap() as usize,
        inbox
    );

    // A password where a token is needed: clear usage error.
    let out = m.run(
        m.command("copy").args(["--from-auth-mech", "oauthbearer"]),
        2,
    );
    assert!(
        text(&out).contains("--from-oauth-token-file"),
        "{}",
        text(&out)
    );
}
