//! What the tests of the `mailport` binary share: servers that fail the test
//! when they cannot start (never skip it), alice's mailbox loaded and read
//! back, and a [`Migration`] that builds `mailport` command lines between two
//! servers, runs them and checks what they report.
//!
//! The binary is a parameter (tests pass `env!("CARGO_BIN_EXE_mailport")`):
//! Cargo only tells the crate that builds it where it is.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::session::{self, Session, Snapshot};
use crate::ImapServer;
use crate::{Corpus, Courier, CourierOptions, Cyrus, CyrusOptions, Dovecot, DovecotOptions};

/// A private Dovecot.
pub fn start_dovecot(options: DovecotOptions) -> Dovecot {
    Dovecot::start(options).unwrap_or_else(|e| panic!("Dovecot must start for this test: {e}"))
}

/// A private Cyrus.
pub fn start_cyrus(options: CyrusOptions) -> Cyrus {
    Cyrus::start(options).unwrap_or_else(|e| panic!("Cyrus must start for this test: {e}"))
}

/// A private Courier-IMAP.
pub fn start_courier(options: CourierOptions) -> Courier {
    Courier::start(options).unwrap_or_else(|e| panic!("Courier-IMAP must start for this test: {e}"))
}

/// Alice logged in to `server` over plain IMAP on loopback.
pub async fn login(server: &dyn ImapServer) -> Session {
    session::login(server.imap_port(), "alice", server.password("alice"))
        .await
        .unwrap_or_else(|e| panic!("alice cannot log in: {e}\n{}", server.log_tail()))
}

/// Loads `corpus` into alice's mailbox on `server`.
pub async fn load(server: &dyn ImapServer, corpus: &Corpus) {
    session::load(&mut login(server).await, corpus)
        .await
        .unwrap_or_else(|e| panic!("the corpus did not load: {e}\n{}", server.log_tail()));
}

/// Everything alice's mailbox on `server` holds.
pub async fn snapshot(server: &dyn ImapServer) -> Snapshot {
    session::snapshot(&mut login(server).await)
        .await
        .unwrap_or_else(|e| panic!("no snapshot: {e}\n{}", server.log_tail()))
}

/// A run's output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The run ended with `code`; otherwise its output and `context` (a server log).
pub fn assert_exit(out: &Output, code: i32, context: &str) {
    assert_eq!(out.status.code(), Some(code), "{}\n{context}", text(out));
}

/// What a run printed with `--json` (a copy summary, a verify report, a check).
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// A copy summary printed with `--json`, its totals checked to add up.
pub fn summary(o: &Output) -> serde_json::Value {
    let j = json(o);
    assert_totals_add_up(&j);
    j
}

/// source = copied + already present + deleted on the destination + skipped
/// + failed (+ to copy, in a dry run), per folder: nothing unaccounted for.
pub fn assert_totals_add_up(j: &serde_json::Value) {
    let sum = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| o.values().filter_map(|n| n.as_u64()).sum::<u64>())
            .unwrap_or(0)
    };
    for f in j["folders"].as_array().unwrap() {
        let parts = f["copied"].as_u64().unwrap()
            + f["already_present"].as_u64().unwrap()
            + f["deleted_on_destination"].as_u64().unwrap()
            + f["to_copy"].as_u64().unwrap()
            + sum(&f["skipped"])
            + sum(&f["failed"]);
        assert_eq!(
            f["source_messages"].as_u64().unwrap(),
            parts,
            "totals of {} do not add up: {f}",
            f["source"]
        );
    }
}

/// `mailport SUB --from FROM --to alice at dst` (STARTTLS, its CA trusted,
/// password in the environment), with the state file `state`: for sources
/// that are not a server (a Maildir, an mbox), or not alice at one.
pub fn command_to(
    mailport: impl AsRef<Path>,
    sub: &str,
    from: &str,
    dst: &dyn ImapServer,
    state: &Path,
) -> Command {
    let mut c = Command::new(mailport.as_ref());
    // A run must never wait for a password on the test's terminal.
    c.stdin(Stdio::null())
        .args([sub, "--from", from, "--to", &dst.imap_url("alice")])
        .arg("--to-tls-ca")
        .arg(dst.ca_pem())
        .env("MAILPORT_TO_PASSWORD", dst.password("alice"))
        .env("MAILPORT_STATE", state);
    c
}

/// Alice's mailbox moved from `src` to `dst` by the `mailport` binary, with
/// a state file (and room for manifests and the like) that lives and dies
/// with the test, never in `$HOME`.
///
/// The servers are owned, or borrowed (`&server`) when one serves several
/// migrations.
pub struct Migration<S = Dovecot, D = Dovecot> {
    pub src: S,
    pub dst: D,
    mailport: PathBuf,
    /// `--to` is this Maildir (which `dst` serves once mailport wrote it), not `dst` over IMAP.
    maildir: Option<PathBuf>,
    work: tempfile::TempDir,
}

impl Migration {
    /// Between two private Dovecots with the default options.
    pub fn dovecots(mailport: impl AsRef<Path>) -> Self {
        Migration::new(
            mailport,
            start_dovecot(DovecotOptions::default()),
            start_dovecot(DovecotOptions::default()),
        )
    }
}

impl<S: ImapServer> Migration<S, Dovecot> {
    /// From `src` into the Maildir of alice on `served` (fs layout), written
    /// by mailport while that Dovecot leaves it alone; Dovecot then serves
    /// it, so the result is read back over IMAP like any other destination.
    pub fn into_maildir(mailport: impl AsRef<Path>, src: S, served: Dovecot) -> Self {
        let maildir = served.maildir("alice");
        Migration {
            maildir: Some(maildir),
            ..Migration::new(mailport, src, served)
        }
    }
}

impl<S: ImapServer, D: ImapServer> Migration<S, D> {
    pub fn new(mailport: impl AsRef<Path>, src: S, dst: D) -> Self {
        Migration {
            src,
            dst,
            mailport: mailport.as_ref().to_path_buf(),
            maildir: None,
            work: tempfile::Builder::new()
                .prefix("mailport-migration-")
                .tempdir()
                .expect("a temp dir for the state file"),
        }
    }

    /// Loads `corpus` into alice's mailbox on the source.
    pub async fn load(&self, corpus: &Corpus) {
        load(&self.src, corpus).await;
    }

    /// A directory of the test's own (state files, manifests, password files).
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// The state file every command uses unless told otherwise.
    pub fn state(&self) -> PathBuf {
        self.work().join("state.db")
    }

    /// `mailport SUB` from alice at the source (IMAPS) to alice at the
    /// destination (STARTTLS, or the Maildir), both CAs trusted, passwords
    /// in the environment, the state file [`Migration::state`].
    pub fn command(&self, sub: &str) -> Command {
        self.command_from(sub, &self.src.imaps_url("alice"))
    }

    /// [`Migration::command`] with another `--from` of the source server
    /// (its Maildir, its POP3 service), its CA and password still given.
    pub fn command_from(&self, sub: &str, from: &str) -> Command {
        let to = match &self.maildir {
            Some(root) => format!("maildir:{}", root.display()),
            None => self.dst.imap_url("alice"),
        };
        self.command_via(sub, from, &to)
    }

    /// [`Migration::command`] with both addresses given (a relay in between,
    /// another name for a server).
    pub fn command_via(&self, sub: &str, from: &str, to: &str) -> Command {
        let mut c = Command::new(&self.mailport);
        c.stdin(Stdio::null())
            .args([sub, "--from", from, "--to", to])
            .arg("--from-tls-ca")
            .arg(self.src.ca_pem())
            .env("MAILPORT_FROM_PASSWORD", self.src.password("alice"))
            .env("MAILPORT_STATE", self.state());
        if self.maildir.is_some() {
            c.args(["--maildir-layout", "fs"]);
        } else {
            c.arg("--to-tls-ca")
                .arg(self.dst.ca_pem())
                .env("MAILPORT_TO_PASSWORD", self.dst.password("alice"));
        }
        c
    }

    /// Runs `cmd`; the test fails unless it exits with `code`, showing its
    /// output and both servers' logs.
    pub fn run(&self, cmd: &mut Command, code: i32) -> Output {
        let out = cmd.output().expect("mailport runs");
        assert_exit(&out, code, &self.logs());
        out
    }

    /// `mailport copy --json EXTRA` that succeeds: its summary, totals checked.
    pub fn copy(&self, extra: &[&str]) -> serde_json::Value {
        self.copy_ending(0, extra)
    }

    /// `mailport copy --json EXTRA` that exits with `code` (1: some messages
    /// failed): its summary, totals checked.
    pub fn copy_ending(&self, code: i32, extra: &[&str]) -> serde_json::Value {
        summary(&self.run(self.command("copy").arg("--json").args(extra), code))
    }

    /// Everything alice's mailbox at the destination holds (a Maildir is
    /// first handed to the mail user Dovecot reads it as).
    pub async fn dst_snapshot(&self) -> Snapshot {
        if let Some(root) = &self.maildir {
            let chown = Command::new("chown")
                .args(["-R", "mail:mail"])
                .arg(root)
                .status()
                .expect("chown runs");
            assert!(chown.success(), "chown -R mail:mail {}", root.display());
        }
        snapshot(&self.dst).await
    }

    /// How the destination fails to hold exactly what the source holds
    /// (see [`Snapshot::differences`]); empty when it does.
    pub async fn differences(&self) -> Vec<String> {
        snapshot(&self.src)
            .await
            .differences(&self.dst_snapshot().await, &[])
    }

    /// The destination holds every source folder with the same messages,
    /// each exactly once.
    pub async fn assert_same(&self) {
        assert_eq!(
            self.differences().await,
            Vec::<String>::new(),
            "{}",
            self.logs()
        );
    }

    /// Both servers' last log lines, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "source log:\n{}\ndestination log:\n{}",
            self.src.log_tail(),
            self.dst.log_tail()
        )
    }
}

/// A project's mailbox file in mailport's format: each user with its
/// password on both sides (`password(user)`).
pub fn users_csv(users: &[impl AsRef<str>], password: impl Fn(&str) -> String) -> String {
    let mut csv =
        String::from("source_login,source_password,destination_login,destination_password\n");
    for u in users {
        let u = u.as_ref();
        csv.push_str(&format!("{u},{p},{u},{p}\n", p = password(u)));
    }
    csv
}
