//! `scripts/demo`: two private Dovecot servers on loopback, a generated
//! mailbox on the first, `mailport copy` to the second with progress, the
//! summary, and an independent check that both sides hold the same mail.
//!
//! Usage: mailport-demo [PATH-TO-mailport]   (default: next to this binary)

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

use mailport_testbed::session::{self, Snapshot};
use mailport_testbed::{Corpus, CorpusOptions, Dovecot, DovecotOptions, Layout};

fn main() -> ExitCode {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(demo()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo() -> Result<bool, Box<dyn std::error::Error>> {
    let mailport = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .expect("own path")
                .with_file_name("mailport")
        });
    println!("== Starting two private Dovecot servers on 127.0.0.1");
    let old = Dovecot::start(DovecotOptions {
        layout: Layout::CourierDot,
        special_use: vec![
            ("Gesendete Objekte".into(), "\\Sent".into()),
            ("Papierkorb".into(), "\\Trash".into()),
        ],
        ..Default::default()
    })?;
    let new = Dovecot::start(DovecotOptions::default())?;
    println!("   old server: Courier-style (INBOX. prefix, '.' separator), German special folders, port {}", old.imaps_port);
    println!(
        "   new server: '/' separator, English special folders, port {}",
        new.imaps_port
    );

    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 300,
        large_attachment: 18 << 20,
        seed: 2026,
    })
    .with_folder("Gesendete Objekte", 40, 7)
    .with_folder("Papierkorb", 10, 8);
    println!(
        "== Loading a sample mailbox: {} messages, {:.1} MB, {} folders (umlauts, CJK, emoji, U+3000, 25 MB attachment, flags, keywords)",
        corpus.message_count(),
        corpus.total_bytes() as f64 / 1e6,
        corpus.folders.len()
    );
    let mut c = session::login(old.imap_port, "alice", old.password("alice")).await?;
    session::load(&mut c, &corpus).await?;
    let before = session::snapshot(&mut c).await?;

    let dir = tempfile::tempdir()?;
    let (pf, pt) = (dir.path().join("from.pw"), dir.path().join("to.pw"));
    std::fs::write(&pf, old.password("alice"))?;
    std::fs::write(&pt, new.password("alice"))?;
    let args = [
        "copy".to_string(),
        "--from".into(),
        old.imaps_url("alice"),
        "--to".into(),
        new.imaps_url("alice"),
        "--from-password-file".into(),
        pf.display().to_string(),
        "--to-password-file".into(),
        pt.display().to_string(),
        "--from-tls-ca".into(),
        old.certs.ca_pem.display().to_string(),
        "--to-tls-ca".into(),
        new.certs.ca_pem.display().to_string(),
        "--state".into(),
        dir.path().join("state.db").display().to_string(),
    ];
    println!("== Running: {} {}", mailport.display(), args.join(" "));
    let status = Command::new(&mailport).args(&args).status()?;
    println!("   mailport exited with {status}");

    println!(
        "== Checking both sides independently (SHA-256 of every message, flags, INTERNALDATE)"
    );
    let mut c = session::login(new.imap_port, "alice", new.password("alice")).await?;
    let after = session::snapshot(&mut c).await?;
    let mapping = BTreeMap::from([
        ("Gesendete Objekte", "Sent"),
        ("Papierkorb", "Trash"),
        ("Entwürfe", "Drafts"),
    ]);
    let ok = compare(&before, &after, &mapping);

    println!("== Running the same copy again (a delta pass from the state file): nothing new must be copied");
    let out = Command::new(&mailport).args(&args).arg("--json").output()?;
    let json = String::from_utf8_lossy(&out.stdout);
    let copied_again = json
        .lines()
        .find(|l| l.trim_start().starts_with("\"copied\""))
        .map(str::trim)
        .unwrap_or("?")
        .to_string();
    let mut c = session::login(new.imap_port, "alice", new.password("alice")).await?;
    let again = session::snapshot(&mut c).await?;
    let no_dups = again == after;
    println!(
        "   second run exit {}, totals {copied_again} ; destination unchanged: {no_dups}",
        out.status
    );
    Ok(status.success() && ok && no_dups && out.status.success())
}

fn compare(src: &Snapshot, dst: &Snapshot, mapping: &BTreeMap<&str, &str>) -> bool {
    let mut all = true;
    for (name, msgs) in &src.folders {
        let target = mapping.get(name.as_str()).copied().unwrap_or(name);
        let mut a = msgs.clone();
        let mut b = dst.folders.get(target).cloned().unwrap_or_default();
        a.sort();
        b.sort();
        let same = a == b;
        all &= same;
        println!(
            "   {} {name:<24} -> {target:<24} {:>4} messages",
            if same { "OK  " } else { "DIFF" },
            a.len()
        );
    }
    println!(
        "   {}",
        if all {
            "All folders match."
        } else {
            "MISMATCH: see DIFF lines above."
        }
    );
    all
}
