//! A realistic, deterministic sample mailbox, and the code to load it into a
//! server over IMAP.
//!
//! What it holds (the cases migrations break on): nested folders; non-ASCII
//! names (umlauts, CJK, emoji, U+3000 ideographic space); a `\Noselect`
//! parent; a special folder under a German name without SPECIAL-USE; plain,
//! HTML, multipart messages and attachments (one up to `large_attachment`
//! bytes); system flags and keywords; INTERNALDATEs over two decades and
//! several time zones; the same message in two folders and twice in one;
//! a message without Message-ID; raw 8-bit header bytes; bare LF line ends;
//! a message flagged `\Deleted` but not expunged.

use std::fmt::Write as _;

/// One message as it will be appended.
#[derive(Debug, Clone)]
pub struct Message {
    pub raw: Vec<u8>,
    pub flags: Vec<String>,
    /// RFC 3501 date-time, e.g. `17-Jul-2019 02:44:25 -0700`.
    pub internal_date: String,
}

#[derive(Debug, Clone)]
pub struct Folder {
    /// Logical name, `/` between levels, Unicode.
    pub name: String,
    pub subscribed: bool,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone)]
pub struct Corpus {
    pub folders: Vec<Folder>,
}

#[derive(Debug, Clone)]
pub struct CorpusOptions {
    /// Messages in INBOX besides the special cases; other folders get fewer.
    pub inbox_messages: usize,
    /// Size of the largest attachment (raw bytes before base64). 0: none.
    pub large_attachment: usize,
    pub seed: u64,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            inbox_messages: 40,
            large_attachment: 2 << 20,
            seed: 1,
        }
    }
}

/// xorshift64*: deterministic and dependency-free; quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WORDS: [&str; 24] = [
    "migration",
    "server",
    "mailbox",
    "quarterly",
    "report",
    "meeting",
    "invoice",
    "draft",
    "Grüße",
    "übermorgen",
    "projet",
    "café",
    "日程",
    "確認",
    "budget",
    "schedule",
    "review",
    "release",
    "notes",
    "follow-up",
    "agenda",
    "Résumé",
    "naïve",
    "coöperate",
];

fn date(rng: &mut Rng) -> (String, String) {
    let year = 2003 + rng.below(23);
    let month = rng.below(12) as usize;
    let day = 1 + rng.below(28);
    let (h, m, s) = (rng.below(24), rng.below(60), rng.below(60));
    let zone = *rng.pick(&["+0000", "-0700", "+0100", "+0530", "+0900", "-0330"]);
    let internal = format!(
        "{day:02}-{}-{year} {h:02}:{m:02}:{s:02} {zone}",
        MONTHS[month]
    );
    let header = format!(
        "{}, {day} {} {year} {h:02}:{m:02}:{s:02} {zone}",
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][rng.below(7) as usize],
        MONTHS[month]
    );
    (internal, header)
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| *rng.pick(&WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 4);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                A[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out.push_str("\r\n");
    out
}

enum Kind {
    Plain,
    Html,
    Alternative,
    Attachment(usize),
}

fn message(rng: &mut Rng, n: u64, kind: Kind, message_id: bool) -> (Vec<u8>, String) {
    let (internal, header_date) = date(rng);
    let mut h = String::new();
    let _ = write!(h, "Return-Path: <sender{n}@old.example.net>\r\n");
    let _ = write!(
        h,
        "From: \"Sender {n}\" <sender{n}@old.example.net>\r\nTo: alice@example.org\r\n"
    );
    let _ = write!(
        h,
        "Subject: {}\r\nDate: {header_date}\r\n",
        sentence(rng, 4)
    );
    if message_id {
        let _ = write!(
            h,
            "Message-ID: <{n}.{}@corpus.mailport.test>\r\n",
            rng.next() % 1_000_000
        );
    }
    h.push_str("MIME-Version: 1.0\r\n");
    let body = match kind {
        Kind::Plain => {
            h.push_str("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
            (0..1 + rng.below(30))
                .map(|_| sentence(rng, 10) + "\r\n")
                .collect::<String>()
        }
        Kind::Html => {
            h.push_str("Content-Type: text/html; charset=utf-8\r\n\r\n");
            format!(
                "<html><body><p>{}</p><p>{}</p></body></html>\r\n",
                sentence(rng, 20),
                sentence(rng, 15)
            )
        }
        Kind::Alternative => {
            h.push_str("Content-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n");
            format!(
                "--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{0}\r\n--alt-b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{0}</p>\r\n--alt-b--\r\n",
                sentence(rng, 25)
            )
        }
        Kind::Attachment(size) => {
            h.push_str("Content-Type: multipart/mixed; boundary=\"mix-b\"\r\n\r\n");
            let data: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
            format!(
                "--mix-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n--mix-b\r\nContent-Type: application/octet-stream; name=\"data-{n}.bin\"\r\nContent-Disposition: attachment; filename=\"data-{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--mix-b--\r\n",
                sentence(rng, 12),
                base64_lines(&data)
            )
        }
    };
    h.push_str(&body);
    (h.into_bytes(), internal)
}

fn flags(rng: &mut Rng) -> Vec<String> {
    let mut f = Vec::new();
    for (flag, odds) in [
        ("\\Seen", 2),
        ("\\Answered", 5),
        ("\\Flagged", 7),
        ("$Forwarded", 9),
        ("$Label1", 11),
        ("Projekt-X", 13),
    ] {
        if rng.below(odds) == 0 {
            f.push(flag.to_string());
        }
    }
    f
}

fn regular(rng: &mut Rng, n: &mut u64, count: usize) -> Vec<Message> {
    (0..count)
        .map(|_| {
            *n += 1;
            let kind = match rng.below(10) {
                0..=4 => Kind::Plain,
                5 | 6 => Kind::Html,
                7 | 8 => Kind::Alternative,
                _ => Kind::Attachment(1024 + rng.below(60_000) as usize),
            };
            let (raw, internal_date) = message(rng, *n, kind, true);
            Message {
                raw,
                flags: flags(rng),
                internal_date,
            }
        })
        .collect()
}

impl Corpus {
    pub fn generate(o: &CorpusOptions) -> Corpus {
        let mut rng = Rng(o.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut n = 0u64;
        let folder = |name: &str, subscribed: bool, messages: Vec<Message>| Folder {
            name: name.into(),
            subscribed,
            messages,
        };

        let mut inbox = regular(&mut rng, &mut n, o.inbox_messages);
        // The same message twice in one folder must stay twice.
        let twin = inbox[0].clone();
        inbox.push(twin);
        // No Message-ID.
        let (raw, d) = message(&mut rng, 9001, Kind::Plain, false);
        inbox.push(Message {
            raw,
            flags: vec!["\\Seen".into()],
            internal_date: d,
        });
        // Raw 8-bit (Latin-1) header bytes.
        let mut raw = b"From: J\xfcrgen M\xfcller <jm@old.example.net>\r\nTo: alice@example.org\r\nSubject: Gr\xfc\xdfe aus K\xf6ln\r\nDate: Mon, 3 Feb 2014 10:00:00 +0100\r\nMessage-ID: <latin1@corpus.mailport.test>\r\n\r\nRaw 8-bit header bytes.\r\n".to_vec();
        raw.extend_from_slice("UTF-8 body: Grüße\r\n".as_bytes());
        inbox.push(Message {
            raw,
            flags: vec![],
            internal_date: "03-Feb-2014 10:00:00 +0100".into(),
        });
        // Bare LF line endings.
        inbox.push(Message {
            raw: b"From: lf@old.example.net\nTo: alice@example.org\nSubject: bare LF\nDate: Tue, 4 Mar 2015 11:00:00 +0000\nMessage-ID: <bare-lf@corpus.mailport.test>\n\nThis message uses bare LF.\nSecond line.\n".to_vec(),
            flags: vec!["\\Seen".into(), "\\Flagged".into()],
            internal_date: "04-Mar-2015 11:00:00 +0000".into(),
        });
        // Flagged \Deleted, not expunged.
        let (raw, d) = message(&mut rng, 9002, Kind::Plain, true);
        inbox.push(Message {
            raw,
            flags: vec!["\\Deleted".into(), "\\Seen".into()],
            internal_date: d,
        });
        // Draft flag.
        let (raw, d) = message(&mut rng, 9003, Kind::Plain, true);
        inbox.push(Message {
            raw,
            flags: vec!["\\Draft".into()],
            internal_date: d,
        });
        if o.large_attachment > 0 {
            n += 1;
            let (raw, d) = message(&mut rng, n, Kind::Attachment(o.large_attachment), true);
            inbox.push(Message {
                raw,
                flags: vec!["\\Seen".into()],
                internal_date: d,
            });
        }

        let work = {
            let mut m = regular(&mut rng, &mut n, 8);
            m.push(inbox[1].clone()); // same message in two folders
            m
        };
        let few = o.inbox_messages / 8 + 2;
        let folders = vec![
            folder("INBOX", true, inbox),
            folder("Work", true, work),
            folder("Work/Projects", true, regular(&mut rng, &mut n, few)),
            folder("Work/Projects/2024", false, regular(&mut rng, &mut n, few)),
            // The parent "Old" is never created: it stays a \Noselect parent.
            folder("Old/Letters", true, regular(&mut rng, &mut n, 3)),
            folder("Entwürfe", true, regular(&mut rng, &mut n, 2)),
            folder("Ümlaute & Co", true, regular(&mut rng, &mut n, 2)),
            folder("日本語のフォルダ", true, regular(&mut rng, &mut n, 2)),
            folder("📧 Emoji", false, regular(&mut rng, &mut n, 2)),
            folder(
                "Ideographic\u{3000}Space",
                true,
                regular(&mut rng, &mut n, 2),
            ),
            folder("Empty", true, Vec::new()),
        ];
        Corpus { folders }
    }

    /// Adds a folder (for per-test special cases).
    pub fn with_folder(mut self, name: &str, messages: usize, seed: u64) -> Corpus {
        let mut rng = Rng(seed | 1);
        let mut n = 100_000 + seed;
        self.folders.push(Folder {
            name: name.into(),
            subscribed: true,
            messages: regular(&mut rng, &mut n, messages),
        });
        self
    }

    /// Every bare LF line end turned into CRLF: servers that refuse bare LF
    /// in APPEND (Cyrus, Courier) get their mail through an MTA that writes
    /// CRLF, so a corpus loaded into them does too.
    pub fn with_crlf(mut self) -> Corpus {
        for m in self.folders.iter_mut().flat_map(|f| &mut f.messages) {
            m.raw = crlf(&m.raw);
        }
        self
    }

    pub fn message_count(&self) -> usize {
        self.folders.iter().map(|f| f.messages.len()).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        self.folders
            .iter()
            .flat_map(|f| &f.messages)
            .map(|m| m.raw.len() as u64)
            .sum()
    }
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A corpus for benchmarks: `messages` spread over `folders` folders, sizes
/// drawn between `min_size` and `max_size` (realistic mix of kinds below 64 KiB,
/// attachments above), flags and dates as in the sample corpus.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    pub messages: usize,
    pub folders: usize,
    pub min_size: usize,
    pub max_size: usize,
    pub seed: u64,
}

impl Corpus {
    pub fn bulk(o: &BulkOptions) -> Corpus {
        let mut rng = Rng(o.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut folders: Vec<Folder> = (0..o.folders.max(1))
            .map(|i| Folder {
                name: if i == 0 {
                    "INBOX".into()
                } else {
                    format!("Folder {i:02}")
                },
                subscribed: true,
                messages: Vec::new(),
            })
            .collect();
        for n in 0..o.messages {
            let target = o.min_size + rng.below((o.max_size - o.min_size + 1) as u64) as usize;
            let kind = if target < 4096 {
                Kind::Plain
            } else {
                // Attachment bytes grow by 4/3 in base64, plus headers.
                Kind::Attachment(target.saturating_sub(1200) * 3 / 4)
            };
            let (raw, internal_date) = message(&mut rng, n as u64 + 1, kind, true);
            let f = flags(&mut rng);
            // Folder sizes fall off like real mailboxes: INBOX holds the most.
            let idx = (rng.below(100) as usize * rng.below(100) as usize / 100 * folders.len()
                / 100)
                .min(folders.len() - 1);
            folders[idx].messages.push(Message {
                raw,
                flags: f,
                internal_date,
            });
        }
        Corpus { folders }
    }
}

/// Where Debian's `libpython3.11-testsuite` (installed by `scripts/setup`)
/// keeps CPython's email test messages: real-world mail collected from bug
/// reports, with the odd MIME and broken headers that real mail has.
pub const REAL_WORLD_DIRS: &[&str] = &[
    "/usr/lib/python3.11/test/test_email/data",
    "/usr/lib/python3/test/test_email/data",
];

impl Corpus {
    /// One folder "Real World" holding every `msg_*.txt` of the first existing
    /// directory in [`REAL_WORLD_DIRS`]. None when none is installed.
    pub fn real_world() -> Option<Corpus> {
        let dir = REAL_WORLD_DIRS
            .iter()
            .map(std::path::Path::new)
            .find(|d| d.is_dir())?;
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("msg_") && n.ends_with(".txt"))
            })
            .collect();
        files.sort();
        let mut rng = Rng(99);
        let messages = files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|raw| Message {
                raw,
                flags: flags(&mut rng),
                internal_date: date(&mut rng).0,
            })
            .collect();
        Some(Corpus {
            folders: vec![Folder {
                name: "Real World".into(),
                subscribed: true,
                messages,
            }],
        })
    }
}
