//! Each kind of failure has its own exit code and one message naming the
//! thing and the fix (docs/errors.md). These need no server: local stores
//! and the state file fail on their own. (The mapping of every kind to its
//! code is unit-tested in the engine's `error` module.)

use std::process::{Command, Output, Stdio};

fn mailport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailport"))
        .stdin(Stdio::null())
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A Maildir with one message, for a source that works.
fn maildir(dir: &std::path::Path) -> String {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("cur/1700000000.1.host:2,S"),
        "From: a@example.org\r\nSubject: hi\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n",
    )
    .unwrap();
    format!("maildir:{}", dir.display())
}

/// The store opens (a path that exists) but its folder cannot be read: that
/// folder fails with the store's own words (exit 1), not as a lost connection.
#[test]
fn a_file_that_is_not_an_mbox_fails_its_folder_in_its_own_words() {
    let work = tempfile::tempdir().unwrap();
    let not_mbox = work.path().join("notes.txt");
    std::fs::write(&not_mbox, "just some text\n").unwrap();
    let from = format!("mbox:{}", not_mbox.display());
    let to = format!("maildir:{}", work.path().join("out").display());
    let out = mailport(&["copy", "--no-state", "--from", &from, "--to", &to]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not an mbox file") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(
        !err.contains("connection"),
        "a local store has no connection: {err}"
    );
}

#[test]
fn a_state_file_that_cannot_be_created_is_a_state_failure() {
    let work = tempfile::tempdir().unwrap();
    let from = maildir(&work.path().join("in"));
    let to = format!("maildir:{}", work.path().join("out").display());
    let blocker = work.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let state = blocker.join("state.db");
    let state = state.to_str().unwrap();
    let out = mailport(&["copy", "--state", state, "--from", &from, "--to", &to]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains(state), "{}", stderr(&out));
    // The same copy with a usable state file works: the failure was the file's.
    let good = work.path().join("state.db");
    let out = mailport(&[
        "copy",
        "--state",
        good.to_str().unwrap(),
        "--from",
        &from,
        "--to",
        &to,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_help_lists_every_exit_code() {
    let out = mailport(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "] {
        assert!(help.contains(&format!("  {code}")), "{code}: {help}");
    }
    assert!(help.contains("docs/errors.md"), "{help}");
}
