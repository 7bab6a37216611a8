//! The mbox reader (crates/mailstore/src/mbox.rs): indexing a file into
//! messages and streaming each one (crlf.rs), as `Mbox::open_with` and
//! `Mbox::open_message` do for a migration.
//!
//! Modes:
//! 0. arbitrary file, read as mboxrd or mboxo, streamed in fuzzer-chosen read
//!    sizes: no panic; each message streams exactly its announced size, with
//!    CRLF line ends only; messages in file order, one per `From ` line at
//!    most, distinct keys; the total out is at most twice the file (LF ->
//!    CRLF); the From_ line date parser never panics on any line.
//! 1. generated messages written the way mbox writers do (mboxrd quoting, or
//!    mboxo quoting, or mboxcl2 `Content-Length:` with raw `From ` lines in
//!    the body), with Status/X-Status/X-Keywords headers: every message reads
//!    back byte for byte (CRLF, the writer's headers left out) with its flags.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use mailport_fuzz::{all_crlf, block_on, Gen, Input, Pieces};
use mailport_mailstore::fuzzing::{from_line_date, mboxrd_escape, to_crlf};
use mailport_mailstore::{Mbox, Variant};
use tokio::io::AsyncReadExt;

/// One scratch file per fuzzing process, rewritten for every input (on
/// /dev/shm when there is one: no disk I/O).
fn scratch() -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("mailport-fuzz-mbox-{}", std::process::id()))
}

/// Indexes `file` and streams every message; (message, bytes) in order.
fn read_all(
    file: &[u8],
    variant: Variant,
    mut rooms: Pieces,
) -> Vec<(mailport_mailstore::MboxMessage, Vec<u8>)> {
    let path = scratch();
    std::fs::write(&path, file).expect("scratch file");
    let out = block_on(async {
        let mbox = match Mbox::open_with(&path, variant).await {
            Ok(m) => m,
            Err(mailport_mailstore::Error::NotMbox { .. }) => {
                assert!(!file.starts_with(b"From "));
                return Vec::new();
            }
            Err(e) => panic!("{e}"),
        };
        let mut out = Vec::new();
        for m in mbox.messages() {
            let mut s = mbox.open_message(m).await.expect("open");
            let mut bytes = Vec::new();
            loop {
                let mut buf = vec![0u8; rooms.next_size()];
                let n = s.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..n]);
            }
            out.push((m.clone(), bytes));
        }
        out
    });
    out
}

fn arbitrary(input: &Input) {
    let file = input.payload;
    let mut p = input.pieces;
    let variant = if p.next_size().is_multiple_of(2) {
        Variant::Mboxrd
    } else {
        Variant::Mboxo
    };
    for line in file.split_inclusive(|&b| b == b'\n') {
        let _ = from_line_date(line);
    }
    let got = read_all(file, variant, input.pieces);
    let from_lines = file
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"From "))
        .count();
    assert!(got.len() <= from_lines);
    let mut total = 0u64;
    let mut last_offset = None;
    for (i, (m, bytes)) in got.iter().enumerate() {
        assert_eq!(
            bytes.len() as u64,
            m.size,
            "size differs from the bytes streamed"
        );
        assert!(all_crlf(bytes), "a bare LF was served: {bytes:?}");
        assert!(last_offset < Some(m.offset), "messages out of order");
        last_offset = Some(m.offset);
        assert!(file[m.offset as usize..].starts_with(b"From "));
        assert!(
            got[..i].iter().all(|(o, _)| o.key != m.key),
            "duplicate key"
        );
        total += m.size;
    }
    assert!(total <= 2 * file.len() as u64);
}

const FROM_LINES: [&str; 4] = [
    "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n",
    "From alice@example.org Tue Mar  4 12:00:00 2015 +0100\n",
    "From bob Tue, 4 Mar 2015 12:00:00 +0100\n",
    "From x\n",
];

const LINES: [&[u8]; 10] = [
    b"From here on\n",
    b">From quoted\n",
    b">>From deeper\n",
    b"From\n",
    b"\n",
    b"\r\n",
    b"Status: RO\n",
    b"Content-Length: 3\n",
    b". dot\r\n",
    b"From: someone\n",
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Writer {
    Mboxrd,
    Mboxo,
    Mboxcl2,
}

/// A body's lines: fixed tricky ones and arbitrary ones, each ending in LF.
fn body(g: &mut Gen) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..g.below(10) {
        if g.bool() {
            body.extend_from_slice(LINES[g.below(LINES.len())]);
        } else {
            let raw = g.bytes(40);
            body.extend(raw.iter().filter(|&&b| b != b'\n'));
            body.push(b'\n');
        }
    }
    body
}

fn quoted_from(line: &[u8]) -> bool {
    let gts = line.iter().take_while(|&&b| b == b'>').count();
    gts > 0 && line[gts..].starts_with(b"From ")
}

fn mboxo_escape(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    out
}

fn round_trip(input: &Input) {
    let mut g = Gen::new(input.payload);
    let writer = [Writer::Mboxrd, Writer::Mboxo, Writer::Mboxcl2][g.below(3)];
    let mut file = Vec::new();
    let mut want = Vec::new();
    for _ in 0..1 + g.below(4) {
        let mut body = body(&mut g);
        if writer != Writer::Mboxrd {
            // mboxo and mboxcl2 cannot tell ">From " written by the user
            // from one written by the writer: that loss is in the formats.
            let lines: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect();
            body = lines
                .into_iter()
                .filter(|l| !quoted_from(l))
                .flatten()
                .copied()
                .collect();
        }
        let mut flags = Vec::new();
        let mut mbox_headers = String::new();
        if g.bool() {
            mbox_headers.push_str("Status: RO\n");
            flags.push("\\Seen".to_string());
        }
        if g.bool() {
            mbox_headers.push_str("X-Status: AF\n");
            flags.extend(["\\Answered".to_string(), "\\Flagged".to_string()]);
        }
        if g.bool() {
            mbox_headers.push_str("X-Keywords: $Label1, work\n");
            flags.extend(["$Label1".to_string(), "work".to_string()]);
        }
        let headers = b"Subject: fuzz\nMessage-ID: <1@x>\n\n";
        file.extend_from_slice(FROM_LINES[g.below(FROM_LINES.len())].as_bytes());
        match writer {
            Writer::Mboxrd | Writer::Mboxo => {
                file.extend_from_slice(mbox_headers.as_bytes());
                let mut message = headers.to_vec();
                message.extend_from_slice(&body);
                file.extend_from_slice(&if writer == Writer::Mboxrd {
                    mboxrd_escape(&message)
                } else {
                    mboxo_escape(&message)
                });
            }
            Writer::Mboxcl2 => {
                file.extend_from_slice(format!("Content-Length: {}\n", body.len()).as_bytes());
                file.extend_from_slice(mbox_headers.as_bytes());
                file.extend_from_slice(headers);
                file.extend_from_slice(&body);
            }
        }
        file.push(b'\n');
        let mut message = headers.to_vec();
        message.extend_from_slice(&body);
        let mut crlf = Vec::new();
        to_crlf(&message, &mut false, &mut crlf);
        want.push((crlf, flags));
    }
    let variant = match writer {
        Writer::Mboxo => Variant::Mboxo,
        _ => Variant::Mboxrd,
    };
    let got = read_all(&file, variant, input.pieces);
    let got: Vec<(Vec<u8>, Vec<String>)> =
        got.into_iter().map(|(m, bytes)| (bytes, m.flags)).collect();
    assert_eq!(
        got,
        want,
        "{writer:?} file {:?}",
        String::from_utf8_lossy(&file)
    );
}

fuzz_target!(|data: &[u8]| {
    let input = Input::split(data, 2);
    match input.mode {
        0 => arbitrary(&input),
        _ => round_trip(&input),
    }
});
