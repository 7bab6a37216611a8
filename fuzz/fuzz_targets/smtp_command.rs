//! The SMTP server side (crates/smtp): any command line a sender on the
//! internet can send, and any bytes after DATA.
//!
//! Properties: `parse_command` never panics; a refusal is one reply line
//! with a 4xx/5xx code and an enhanced code; every address it accepts is
//! written back (`to_path`) into a command that parses to the same address;
//! `read_data` never panics or hangs, and what it hands on is a prefix of
//! the input ending at the end it found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_smtp::data::read_data;
use mailport_smtp::server::{parse_command, Command, Recipient};

fuzz_target!(|data: &[u8]| {
    match parse_command(data) {
        Err(r) => {
            assert!((400..600).contains(&r.code) && r.enhanced.is_some());
            let bytes = r.to_bytes();
            assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        }
        Ok(Command::Mail { from: Some(a), .. }) => {
            let again = format!("MAIL FROM:<{}>", a.to_path());
            match parse_command(again.as_bytes()) {
                Ok(Command::Mail { from: Some(b), .. }) => assert_eq!(a, b),
                other => panic!("{again:?} -> {other:?}"),
            }
        }
        Ok(Command::Rcpt { to: Recipient::Address(a), .. }) => {
            let again = format!("RCPT TO:<{}>", a.to_path());
            match parse_command(again.as_bytes()) {
                Ok(Command::Rcpt { to: Recipient::Address(b), .. }) => assert_eq!(a, b),
                other => panic!("{again:?} -> {other:?}"),
            }
        }
        Ok(_) => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut reader = tokio::io::BufReader::with_capacity(16, data);
    let mut sink = Vec::new();
    let got = rt.block_on(read_data(
        &mut reader,
        Some(&mut sink),
        64,
        std::time::Duration::from_secs(1),
    ));
    if let Ok(end) = got {
        assert!(end.bytes as usize <= data.len());
        if !end.too_big {
            assert_eq!(&sink[..], &data[..end.bytes as usize]);
            assert!(sink.ends_with(b"\n"));
        }
    }
});
