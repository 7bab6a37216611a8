//! `mailport project/mailbox/run/status` as an admin uses them, on real
//! Dovecots: a project created with a master user on the destination, a
//! CSV imported (a bad file refused whole, with line numbers), credentials
//! checked, a run with three workers, a delta pass; secrets never in any
//! output nor in the state file.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailport_testbed::cli::text;
use mailport_testbed::session;
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, ImapServer};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");
const USERS: [&str; 4] = ["ann", "ben", "cat", "dan"];
const ADMIN_PASSWORD: &str = "migrator-Secret9";

fn password(user: &str) -> String {
    format!("{user}-pw-Zq7")
}

fn mailport(state: &Path, args: &[&str]) -> Output {
    Command::new(MAILPORT)
        .stdin(Stdio::null())
        .args(args)
        .arg("--state")
        .arg(state)
        .env("MAILPORT_TO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("MAILPORT_KEY")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    text(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_organisation_moves_with_project_commands() {
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<(String, String)> = USERS.iter().map(|u| (u.to_string(), password(u))).collect();
    let src = Dovecot::start(DovecotOptions {
        users: users.clone(),
        ..Default::default()
    })
    .expect("source Dovecot must start");
    let dst = Dovecot::start(DovecotOptions {
        users,
        master_user: Some(("migrator".into(), ADMIN_PASSWORD.into())),
        ..Default::default()
    })
    .expect("destination Dovecot must start");
    let mut expected = std::collections::HashMap::new();
    for (i, user) in USERS.iter().enumerate() {
        let corpus = Corpus::generate(&CorpusOptions {
            inbox_messages: 6 + i,
            large_attachment: 10_000,
            seed: 40 + i as u64,
        });
        let mut c = session::login(src.imap_port, user, &password(user))
            .await
            .unwrap();
        session::load(&mut c, &corpus).await.unwrap();
        expected.insert(user.to_string(), corpus.message_count() as u64);
    }
    let state = dir.path().join("state.db");
    let from = format!("imap://127.0.0.1:{}", src.imap_port);
    let to = format!("imap://127.0.0.1:{}", dst.imap_port);
    let out = mailport(
        &state,
        &[
            "project",
            "create",
            "acme",
            "--from",
            &from,
            "--to",
            &to,
            "--to-admin",
            "migrator",
            "--to-admin-style",
            "dovecot-master",
            "--from-tls-ca",
            src.ca_pem().to_str().unwrap(),
            "--to-tls-ca",
            dst.ca_pem().to_str().unwrap(),
            "--verify",
        ],
    );
    let said = ok(&out);

    // A project-wide rate limit is shared by the mailboxes that may run at
    // once: without a cap on them it cannot hold, and create says so.
    let limited = |extra: &[&str]| {
        let mut args = vec!["project", "create", "slow", "--from", &from, "--to", &to];
        args.extend_from_slice(extra);
        mailport(&state, &args)
    };
    let out = limited(&["--max-bytes-per-second", "4M"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--max-running N"), "{}", text(&out));
    ok(&limited(&[
        "--max-bytes-per-second",
        "4M",
        "--max-running",
        "2",
    ]));
    let show = ok(&mailport(&state, &["project", "show", "slow"]));
    assert!(
        show.contains("\"max_bytes_per_second\": \"4M\"") && show.contains("\"max_running\": 2"),
        "{show}"
    );
    ok(&mailport(&state, &["project", "delete", "slow", "--yes"]));
    let key = dir.path().join("keys/acme.key");
    assert!(said.contains(key.to_str().unwrap()), "{said}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // '-' means admin impersonation: refused while the project has no source admin.
    // A folder filter that is no regular expression is a bad row, named at
    // import, not a failure hours into the run.
    let regex_row = dir.path().join("regex.csv");
    std::fs::write(
        &regex_row,
        "source_login,source_password,folders\nzed,pw,(Work\n",
    )
    .unwrap();
    let out = mailport(
        &state,
        &["mailbox", "import", "acme", regex_row.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("line 2")
            && text(&out).contains("folders \"(Work\" is not a valid regular expression"),
        "{}",
        text(&out)
    );
    let admin_row = dir.path().join("admin.csv");
    std::fs::write(&admin_row, "source_login,source_password\nann,-\n").unwrap();
    let out = mailport(
        &state,
        &["mailbox", "import", "acme", admin_row.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("mailport project update acme --from-admin LOGIN"),
        "{}",
        text(&out)
    );
    // Admins can be changed later (the password again from the environment).
    let said = ok(&mailport(
        &state,
        &[
            "project",
            "update",
            "acme",
            "--to-admin",
            "migrator",
            "--to-admin-style",
            "dovecot-master",
        ],
    ));
    assert!(said.contains("updated project acme"), "{said}");

    // A file with bad rows is refused whole, each row named by its line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "source_login,source_password\nann,x\nben@,y\nann,z\n").unwrap();
    let out = mailport(
        &state,
        &["mailbox", "import", "acme", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let out = mailport(&state, &["status", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 0, "{rows}");

    // The good file: dan's password is wrong.
    let users = dir.path().join("users.csv");
    std::fs::write(
        &users,
        format!(
            "source_login,source_password\nann,{}\nben,{}\ncat,{}\ndan,not-his-password\n",
            password("ann"),
            password("ben"),
            password("cat")
        ),
    )
    .unwrap();
    let said = ok(&mailport(
        &state,
        &["mailbox", "import", "acme", users.to_str().unwrap()],
    ));
    assert!(
        said.contains("4 mailboxes imported (4 new, 0 updated"),
        "{said}"
    );
    // Importing again updates in place.
    let said = ok(&mailport(
        &state,
        &["mailbox", "import", "acme", users.to_str().unwrap()],
    ));
    assert!(said.contains("(0 new, 4 updated"), "{said}");

    let out = mailport(&state, &["mailbox", "verify-credentials", "acme"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("3 mailboxes logged in on both sides, 1 failed"),
        "{said}"
    );
    assert!(said.contains("dan: source"), "{said}");

    let out = mailport(&state, &["run", "acme", "--workers", "3"]);
    assert_eq!(out.status.code(), Some(1), "dan fails: {}", text(&out));
    let run_output = text(&out);
    let out = mailport(&state, &["status", "acme", "--json"]);
    let status_output = text(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        let login = row["login"].as_str().unwrap();
        let want = if login == "dan" {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(row["state"], want, "{row}");
    }
    for user in ["ann", "ben", "cat"] {
        let out = mailport(&state, &["status", "acme", user, "--json"]);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let passes = j["passes"].as_array().unwrap();
        let full = passes.iter().find(|p| p["kind"] == "full").unwrap();
        assert_eq!(full["copied"].as_u64(), Some(expected[user]), "{j}");
        assert_eq!(full["outcome"], "ok", "{j}");
        let diff =
            session::mailbox_differences(src.imap_port, dst.imap_port, user, &password(user))
                .await
                .unwrap();
        assert_eq!(diff, Vec::<String>::new(), "{user}");
    }

    // Fixed password, then a delta pass: dan copied, nobody twice.
    std::fs::write(
        &users,
        format!(
            "source_login,source_password\nann,{}\nben,{}\ncat,{}\ndan,{}\n",
            password("ann"),
            password("ben"),
            password("cat"),
            password("dan")
        ),
    )
    .unwrap();
    ok(&mailport(
        &state,
        &["mailbox", "import", "acme", users.to_str().unwrap()],
    ));
    // On a terminal (a pseudo-terminal from `script`): the overall bar.
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{MAILPORT} run acme --pass delta --state {}",
            state.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .env("MAILPORT_TO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("MAILPORT_KEY")
        .output()
        .expect("script (util-linux) gives mailport a terminal");
    let delta_output = ok(&out);
    assert!(
        delta_output.contains("/4 mailboxes"),
        "no progress bar on a terminal: {delta_output}"
    );
    let out = mailport(&state, &["status", "acme", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "completed"),
        "{rows}"
    );
    for user in ["ann", "ben"] {
        let out = mailport(&state, &["status", "acme", user, "--json"]);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let delta = j["passes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == "delta")
            .cloned();
        assert_eq!(delta.unwrap()["copied"], 0, "{j}");
    }

    // The report: totals equal what the sources held (counted above over IMAP).
    let out = mailport(&state, &["report", "acme", "--format", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    let total: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!(total[0], "total", "{csv}");
    let sources: u64 = expected.values().sum();
    assert_eq!(
        total[3].parse::<u64>().unwrap(),
        sources,
        "source messages: {csv}"
    );
    assert_eq!(
        total[4].parse::<u64>().unwrap(),
        sources,
        "copied over all passes: {csv}"
    );
    let html = dir.path().join("report.html");
    ok(&mailport(
        &state,
        &[
            "report",
            "acme",
            "--format",
            "html",
            "-o",
            html.to_str().unwrap(),
        ],
    ));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<td class=\"text\">ann</td>") && page.contains("Migration report: acme")
    );

    // No secret anywhere: outputs, status, reports, the state file.
    let show = ok(&mailport(&state, &["project", "show", "acme"]));
    let mut everything = [run_output, status_output, delta_output, show, csv, page].join("\n");
    let mut bytes = std::fs::read(&state).unwrap();
    for extra in ["-wal", "-shm"] {
        let mut p = state.clone().into_os_string();
        p.push(extra);
        bytes.extend(std::fs::read(p).unwrap_or_default());
    }
    everything.push_str(&String::from_utf8_lossy(&bytes));
    for secret in USERS
        .iter()
        .map(|u| password(u))
        .chain([ADMIN_PASSWORD.to_string()])
    {
        assert!(!everything.contains(&secret), "{secret} leaked");
    }

    // One mailbox with the user's own password on the destination too: a
    // delta pass through it copies nothing twice.
    let out = Command::new(MAILPORT)
        .stdin(Stdio::null())
        .args([
            "mailbox",
            "add",
            "acme",
            "ben",
            "--destination-password",
            "--state",
        ])
        .arg(&state)
        .env("MAILPORT_FROM_PASSWORD", password("ben"))
        .env("MAILPORT_TO_PASSWORD", password("ben"))
        .output()
        .unwrap();
    ok(&out);
    let out = mailport(&state, &["status", "acme", "ben", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["mailbox"]["destination_auth"], "password", "{j}");
    ok(&mailport(
        &state,
        &["run", "acme", "--only", "ben", "--pass", "delta"],
    ));
    let out = mailport(&state, &["status", "acme", "ben", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = j["passes"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["copied"].as_i64()),
        (Some("delta"), Some(0)),
        "{j}"
    );

    // A wrong key is refused in one line naming where it came from.
    let other = dir.path().join("other.key");
    mailport_project::ProjectKey::generate()
        .write_new(&other)
        .unwrap();
    let out = mailport(
        &state,
        &["status", "acme", "--key-file", other.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.key") && err.contains("not the key of project"),
        "{err}"
    );
}
