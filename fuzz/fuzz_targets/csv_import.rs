//! Mailbox lists (crates/project/src/csv_import.rs), compiled here from the
//! project crate's own file so that the fuzzer does not build the project
//! crate's database and engine dependencies.
//!
//! Properties, for any bytes and any format (detected or given):
//! - `parse` never panics;
//! - every row and every bad row names a line of the file, in file order,
//!   and no line is both a row and a bad row;
//! - a row's source login is non-empty, without surrounding spaces, and no
//!   login appears in two rows (case aside);
//! - giving the detected format explicitly yields the same rows.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/project/src/csv_import.rs"]
mod csv_import;

use std::collections::HashSet;

use csv_import::{parse, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let given = match mode % 4 {
        0 => None,
        1 => Some(Format::Mailport),
        2 => Some(Format::Microsoft365),
        _ => Some(Format::Imapsync),
    };
    let Ok(parsed) = parse(bytes, given) else {
        return;
    };
    // Lines as the parser counts them: ended by LF, CRLF or a lone CR.
    let lines = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
        + 1;
    let mut last = 0;
    for row in &parsed.rows {
        assert!(row.line >= 1 && row.line <= lines, "row on line {} of {lines}", row.line);
        assert!(row.line > last, "rows out of order");
        last = row.line;
        assert!(!row.source_login.is_empty());
        assert_eq!(row.source_login.trim(), row.source_login);
    }
    let row_lines: HashSet<usize> = parsed.rows.iter().map(|r| r.line).collect();
    for bad in &parsed.bad {
        assert!(bad.line >= 1 && bad.line <= lines, "bad row on line {} of {lines}", bad.line);
        assert!(!row_lines.contains(&bad.line), "line {} both good and bad", bad.line);
        assert!(!bad.reason.is_empty());
    }
    // Logins compare without case, as most servers compare them.
    let logins: HashSet<String> = parsed.rows.iter().map(|r| r.source_login.to_lowercase()).collect();
    assert_eq!(logins.len(), parsed.rows.len(), "a login in two rows");
    if given.is_none() {
        let again = parse(bytes, Some(parsed.format)).expect("the detected format parses");
        assert_eq!(again.rows, parsed.rows);
    }
});
