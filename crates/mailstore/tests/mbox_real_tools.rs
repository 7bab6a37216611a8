//! mbox files written by real tools (Python's `mailbox` module, procmail's
//! `formail`), read by us and by Python's `mailbox`; both readings and the
//! original messages must agree.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{crlf, read_all};
use mailport_mail::date::parse_internal_date;
use mailport_mailstore::{mbox, Mbox, Variant};
use mailport_testbed::{Corpus, CorpusOptions};

/// Debian's python3 (the one whose test suite provides the real-world mail).
const PYTHON: &str = "/usr/bin/python3";

const SCRIPT: &str = r#"
import base64, json, mailbox, sys, time
manifest, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if mode != "read":
    box = mailbox.mbox(path, create=True)
    box.lock()
    for it in json.load(open(manifest)):
        raw = open(it["file"], "rb").read()
        when = time.gmtime(it["date"])
        if mode == "raw":
            if not raw.startswith(b"From "):
                raw = b"From sender@example.org " + time.asctime(when).encode() + b"\n" + raw
            box.add(raw)
        else:
            msg = mailbox.mboxMessage(raw)
            msg.set_from("sender@example.org", when)
            msg.set_flags(it["letters"])
            if it["keywords"]:
                msg["X-Keywords"] = ", ".join(it["keywords"])
            box.add(msg)
    box.flush()
    box.unlock()
    box.close()
box = mailbox.mbox(path, create=False)
out = []
for key in box.iterkeys():
    m = box.get_message(key)
    out.append({"bytes": base64.b64encode(box.get_bytes(key)).decode(),
                "flags": m.get_flags(), "from": m.get_from()})
print(json.dumps(out))
"#;

struct Input {
    raw: Vec<u8>,
    flags: Vec<String>,
    date: i64,
}

fn letters(flags: &[String], old: bool) -> String {
    let mut s = String::new();
    for (flag, l) in [
        ("\\Seen", 'R'),
        ("\\Deleted", 'D'),
        ("\\Flagged", 'F'),
        ("\\Answered", 'A'),
        ("\\Draft", 'T'),
    ] {
        if flags.iter().any(|f| f == flag) {
            s.push(l);
        }
    }
    if old {
        s.push('O');
    }
    s
}

fn keywords(flags: &[String]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.starts_with('\\'))
        .cloned()
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &c)| {
            acc | (u32::from(val(c)) << (18 - 6 * i))
        });
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

struct PyMessage {
    bytes: Vec<u8>,
    flags: String,
    from: String,
}

/// Runs the script: writes `path` from `inputs` (unless mode is "read"),
/// then returns what Python's mailbox reads from it.
fn python(dir: &Path, path: &Path, mode: &str, inputs: &[Input]) -> Vec<PyMessage> {
    let mut manifest = Vec::new();
    for (i, m) in inputs.iter().enumerate() {
        let file = dir.join(format!("in-{mode}-{i}.eml"));
        std::fs::write(&file, &m.raw).unwrap();
        manifest.push(serde_json::json!({
            "file": file,
            "date": m.date,
            "letters": letters(&m.flags, i % 2 == 0),
            "keywords": keywords(&m.flags),
        }));
    }
    let manifest_path = dir.join(format!("manifest-{mode}.json"));
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&manifest_path)
        .arg(path)
        .arg(mode)
        .output()
        .expect("python3 must run (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| PyMessage {
            bytes: base64_decode(m["bytes"].as_str().unwrap()),
            flags: m["flags"].as_str().unwrap().to_string(),
            from: m["from"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Python keeps the mbox headers and the quoting in the bytes it hands out;
/// this is what is left of them once both are taken away (our reading).
fn python_as_imap(bytes: &[u8]) -> Vec<u8> {
    const INTERNAL: [&str; 7] = [
        "status",
        "x-status",
        "x-keywords",
        "x-uid",
        "x-imapbase",
        "x-imap",
        "content-length",
    ];
    let mut out = Vec::new();
    let mut in_headers = true;
    let mut dropping = false;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if in_headers {
            if line == b"\n" || line == b"\r\n" {
                in_headers = false;
            } else if line[0] == b' ' || line[0] == b'\t' {
                if dropping {
                    continue;
                }
            } else {
                let name = line.split(|&b| b == b':').next().unwrap();
                let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
                dropping = INTERNAL.contains(&name.as_str());
                if dropping {
                    continue;
                }
            }
        }
        if let Some(rest) = line.strip_prefix(b">") {
            if rest.starts_with(b"From ") {
                out.extend_from_slice(rest);
                continue;
            }
        }
        out.extend_from_slice(line);
    }
    crlf(&out)
}

fn imap_flags(letters: &str, keywords: &[String]) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = [
        ('R', "\\Seen"),
        ('A', "\\Answered"),
        ('F', "\\Flagged"),
        ('T', "\\Draft"),
        ('D', "\\Deleted"),
    ]
    .iter()
    .filter(|(l, _)| letters.contains(*l))
    .map(|(_, f)| f.to_string())
    .collect();
    set.extend(keywords.iter().cloned());
    set
}

fn special_messages() -> Vec<Input> {
    vec![
        Input {
            raw: b"From: a@example.org\nSubject: From lines\n\nFrom the start of a line.\nFrom here\n>From quoted once\n>>From quoted twice\nnot From at start\n".to_vec(),
            flags: vec!["\\Seen".into(), "\\Draft".into(), "Projekt-X".into()],
            date: 1_000_000_000,
        },
        Input {
            raw: b"From: b@example.org\r\nSubject: no final newline\r\n\r\nlast line without newline".to_vec(),
            flags: vec!["\\Answered".into(), "\\Deleted".into()],
            date: 1_100_000_000,
        },
        Input {
            raw: b"From: c@example.org\nSubject: empty body\n\n".to_vec(),
            flags: vec![],
            date: 1_200_000_000,
        },
    ]
}

fn corpus_inputs() -> Vec<Input> {
    let corpus = Corpus::generate(&CorpusOptions {
        inbox_messages: 12,
        large_attachment: 200_000,
        seed: 5,
    });
    corpus
        .folders
        .iter()
        .flat_map(|f| &f.messages)
        .map(|m| Input {
            raw: m.raw.clone(),
            flags: m.flags.clone(),
            date: parse_internal_date(&m.internal_date).unwrap(),
        })
        .chain(special_messages())
        .collect()
}

fn real_world_inputs() -> Vec<Input> {
    let corpus = Corpus::real_world().expect(
        "CPython's email test data must be installed (scripts/setup: libpython3.11-testsuite)",
    );
    let msgs: Vec<Input> = corpus.folders[0]
        .messages
        .iter()
        .map(|m| Input {
            raw: m.raw.clone(),
            flags: m.flags.clone(),
            date: parse_internal_date(&m.internal_date).unwrap(),
        })
        .collect();
    assert!(msgs.len() > 40, "{} real-world messages", msgs.len());
    msgs
}

struct Ours {
    bytes: Vec<u8>,
    flags: BTreeSet<String>,
    date: Option<i64>,
    old: bool,
    key: String,
}

async fn read_ours(path: &Path, variant: Variant) -> Vec<Ours> {
    let mbox = Mbox::open_with(path, variant).await.unwrap();
    let mut out = Vec::new();
    for m in mbox.messages() {
        let bytes = read_all(mbox.open_message(m).await.unwrap()).await;
        assert_eq!(bytes.len() as u64, m.size, "size of {}", m.key);
        out.push(Ours {
            bytes,
            flags: m.flags.iter().cloned().collect(),
            date: m.internal_date,
            old: m.old,
            key: m.key.clone(),
        });
    }
    out
}

/// Our reading equals Python's (bytes modulo mbox headers, quoting and line
/// ends; flags) message by message.
fn agree_with_python(ours: &[Ours], py: &[PyMessage], inputs: Option<&[Input]>) {
    assert_eq!(ours.len(), py.len(), "message count");
    for (i, (o, p)) in ours.iter().zip(py).enumerate() {
        let want = python_as_imap(&p.bytes);
        assert!(
            o.bytes == want,
            "message {i}: ours {:?}\npython {:?}",
            String::from_utf8_lossy(&o.bytes[..o.bytes.len().min(400)]),
            String::from_utf8_lossy(&want[..want.len().min(400)])
        );
        let kws = inputs
            .map(|ins| keywords(&ins[i].flags))
            .unwrap_or_default();
        assert_eq!(o.flags, imap_flags(&p.flags, &kws), "message {i} flags");
        assert_eq!(o.old, p.flags.contains('O'), "message {i} old");
        assert!(o.date.is_some(), "message {i}: From line {:?}", p.from);
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn python_mbox_messages_with_flags() {
    let dir = tempdir();
    let path = dir.path().join("flags.mbox");
    let inputs = corpus_inputs();
    let py = python(dir.path(), &path, "msg", &inputs);
    let ours = read_ours(&path, Variant::Mboxo).await;
    agree_with_python(&ours, &py, Some(&inputs));
    for (o, i) in ours.iter().zip(&inputs) {
        assert_eq!(o.date, Some(i.date), "From_ line date");
        let want: BTreeSet<String> = i.flags.iter().cloned().collect();
        assert_eq!(o.flags, want, "flags as the corpus has them");
    }
    // Keys are unique; the corpus's twin message gets a #2.
    let keys: BTreeSet<&String> = ours.iter().map(|o| &o.key).collect();
    assert_eq!(keys.len(), ours.len());
    assert!(ours.iter().any(|o| o.key.ends_with("#2")));
}

#[tokio::test]
async fn python_mbox_of_raw_messages_is_byte_exact() {
    let dir = tempdir();
    let path = dir.path().join("raw.mbox");
    let inputs = corpus_inputs();
    let py = python(dir.path(), &path, "raw", &inputs);
    for variant in [Variant::Mboxo, Variant::Mboxrd] {
        let ours = read_ours(&path, variant).await;
        assert_eq!(ours.len(), inputs.len());
        for (i, (o, input)) in ours.iter().zip(&inputs).enumerate() {
            let mut want = input.raw.clone();
            // mbox cannot say that a message lacked its final line end.
            if !want.ends_with(b"\n") {
                want.push(b'\n');
            }
            // Quoting loses which ">From " lines were there before (mboxo), or
            // Python, writing mboxo, did not quote them (read as mboxrd).
            let lossy = want.windows(6).any(|w| w == b"\n>From")
                || want.windows(7).any(|w| w == b"\n>>From");
            if !lossy {
                assert!(o.bytes == crlf(&want), "message {i} ({variant:?})");
            }
            assert_eq!(o.date, Some(input.date));
        }
        if variant == Variant::Mboxo {
            agree_with_python(&ours, &py, None);
        }
    }
}

#[tokio::test]
async fn python_mbox_of_cpython_real_world_messages() {
    let dir = tempdir();
    let inputs = real_world_inputs();
    let path = dir.path().join("real.mbox");
    let py = python(dir.path(), &path, "msg", &inputs);
    let ours = read_ours(&path, Variant::Mboxo).await;
    agree_with_python(&ours, &py, Some(&inputs));

    let raw_path = dir.path().join("real-raw.mbox");
    let py = python(dir.path(), &raw_path, "raw", &inputs);
    let ours = read_ours(&raw_path, Variant::Mboxo).await;
    agree_with_python(&ours, &py, None);
}

#[tokio::test]
async fn formail_mbox() {
    let dir = tempdir();
    let path = dir.path().join("formail.mbox");
    let inputs = corpus_inputs();
    let mut file = Vec::new();
    for m in &inputs {
        // formail writes a From_ line and quotes From lines in the body.
        let mut child = Command::new("formail")
            .args(["-I", "Status: RO"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("formail must run (scripts/setup installs procmail)");
        let mut stdin = child.stdin.take().unwrap();
        let raw = m.raw.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&raw).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success());
        file.extend_from_slice(&out.stdout);
    }
    std::fs::write(&path, &file).unwrap();
    let py = python(dir.path(), &path, "read", &[]);
    assert_eq!(py.len(), inputs.len());
    let ours = read_ours(&path, Variant::Mboxo).await;
    agree_with_python(&ours, &py, None);
    assert!(ours.iter().all(|o| o.flags.contains("\\Seen") && o.old));
}

#[tokio::test]
async fn content_length_is_used_only_when_it_fits() {
    let dir = tempdir();
    let path = dir.path().join("cl");
    // mboxcl2: no quoting; the length protects the From line in the body.
    let body = b"line one\nFrom inside the body\nlast\n";
    let mut f = format!(
        "From a@b Thu Jan  1 00:00:00 1970\nSubject: one\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    f.extend_from_slice(body);
    f.extend_from_slice(b"\nFrom a@b Thu Jan  1 00:00:01 1970\nSubject: two\nContent-Length: 999\n\nFrom wrong length\n");
    std::fs::write(&path, &f).unwrap();
    let ours = read_ours(&path, Variant::Mboxrd).await;
    assert_eq!(ours.len(), 3, "a wrong Content-Length is ignored");
    assert_eq!(
        ours[0].bytes,
        crlf(b"Subject: one\n\nline one\nFrom inside the body\nlast\n")
    );
    // The blank line before a From_ line is the separator, as Python reads it.
    assert_eq!(ours[1].bytes, crlf(b"Subject: two\n"));
    assert_eq!(ours[1].date, Some(1));
}

#[tokio::test]
async fn folder_trees() {
    let dir = tempdir();
    let root = dir.path();
    let mk = |p: &str, data: &[u8]| {
        let path: PathBuf = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    let one = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\nbody\n";
    mk("inbox", one);
    mk("Work", one);
    mk("Work.sbd/Projects", one);
    mk("Entw&APw-rfe", one);
    mk("Gr\u{fc}\u{df}e", one);
    mk("Apple.mbox/mbox", one);
    mk("Apple.mbox/Info.plist", b"<plist/>");
    mk("Archive/2024", b"");
    mk(".subscriptions", b"Work\n");
    mk("Work.msf", b"// mork");
    mk(".imap/Work/dovecot.index", b"x");
    mk("dovecot.index.log", b"x");
    mk("notes.txt", b"not mail");
    let names: Vec<String> = mbox::folders(root)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        [
            "Apple",
            "Archive/2024",
            "Entwürfe",
            "Grüße",
            "INBOX",
            "Work",
            "Work/Projects"
        ]
    );
    let single = mbox::folders(root.join("Work")).await.unwrap();
    assert_eq!(single[0].name, "Work");
    assert_eq!(
        mbox::folders(root.join("inbox")).await.unwrap()[0].name,
        "INBOX"
    );
    let err = Mbox::open(root.join("notes.txt")).await.unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
}
