//! Inputs that failed a fuzz target's properties (fuzz/, docs/FUZZING.md),
//! kept as they were found. Each must stay fixed.

use mailport_mailstore::flags::valid_keyword;
use mailport_mailstore::fuzzing::{
    format_keywords, from_line_date, parse_file_name, parse_keywords,
};
use mailport_mailstore::Mbox;

/// mbox_reader, mode 0 (crash-873ac079…, and 33 more like it): `time_of`
/// computed `h * 3600 + m * 60 + s` before its range check held (eager
/// `then_some`) and accepted signed fields, so a From_ line with a huge or
/// negative hour or minute overflowed: a panic (debug builds) while indexing
/// the file, a wrong INTERNALDATE in release.
#[test]
fn from_line_with_huge_time_fields_has_no_date() {
    for line in [
        &b"eu Jan  1 0000:9223372036854775807:00:0:000"[..],
        b"-'_.org Tue Mar  4 12 Jan  1 01555555555555550009:00 +\xfdo twht e\x85\xeed",
        b"rg Tue Mar  4 12:-9223372036854775712:00:00\n",
        b"From a@b Tue Mar  4 -9223372036854775808:00 2015\n",
        b"From a@b Tue Mar  4 -1:00:00 2015\n",
    ] {
        assert_eq!(
            from_line_date(line),
            None,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(
        from_line_date(b"From a@b Tue Mar  4 11:00:00 2015\n"),
        Some(1_425_466_800)
    );
}

/// The same through the reader: the message is there, without a date.
#[tokio::test]
async fn an_mbox_with_an_overflowing_from_line_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbox");
    std::fs::write(
        &path,
        b"From a@b Tue Mar  4 99999999999999999:00 2015\nSubject: x\n\nbody\n",
    )
    .unwrap();
    let mbox = Mbox::open(&path).await.unwrap();
    assert_eq!(mbox.messages().len(), 1);
    assert_eq!(mbox.messages()[0].internal_date, None);
}

/// maildir_filename, mode 1 (minimised crash input `7\0+\0Z\n7 \r`): the
/// `dovecot-keywords` line `7 \r` gave keyword 7 the name "\r", which a
/// rewrite of the file (when a new keyword is added) turned into nothing,
/// freeing letter `h` while messages still carried it.
#[test]
fn a_keywords_file_reads_back_after_a_rewrite() {
    for text in ["7 \r", "0 work\r\r\n1 $Label1\n", "3 x \t\n"] {
        let slots = parse_keywords(text);
        assert_eq!(parse_keywords(&format_keywords(&slots)), slots, "{text:?}");
    }
    assert_eq!(parse_keywords("0 work\r\r\n")[0].as_deref(), Some("work"));
    assert_eq!(parse_keywords("7 \r")[7], None);
}

/// maildir_filename, mode 0 (every flag must be one IMAP can carry): a
/// `dovecot-keywords` name that is not an IMAP atom (a space, a parenthesis,
/// a CR) was served as a keyword, to be sent unquoted in the flag list of an
/// APPEND or STORE. Such a name keeps its letter but is not served.
#[test]
fn keywords_imap_cannot_carry_are_not_served() {
    let slots = parse_keywords("0 ok\n1 two words\n2 a)b\n3 x\ry\n4 \\Seen\n");
    let name = parse_file_name("1700000000.M1P2.host,S=5,W=6:2,Sabcde", &slots);
    assert_eq!(name.flags, ["\\Seen", "ok"]);
    assert!(name.flags.iter().skip(1).all(|k| valid_keyword(k)));
    // The slots stay taken: their letters are not handed to new keywords.
    assert!(slots[..5].iter().all(Option::is_some));
}

/// maildir_filename, mode 0 (10-minute run, crash-72acd8ef…, minimised to
/// name `:2,bc` with keywords file `1 b\n2 b`): a `dovecot-keywords` file that
/// lists one name under two letters made a message carrying both letters
/// have the keyword twice. Each keyword is now given once (ignoring case, as
/// the letters are assigned).
#[test]
fn a_keyword_listed_twice_is_served_once() {
    let input: &[u8] = b"\0\0\0\n9:2,bc\x001 b\n2 b";
    let payload = &input[5..];
    let nul = payload.iter().position(|&b| b == 0).unwrap();
    let name = std::str::from_utf8(&payload[..nul]).unwrap();
    let slots = parse_keywords(std::str::from_utf8(&payload[nul + 1..]).unwrap());
    assert_eq!(parse_file_name(name, &slots).flags, ["b"]);
    let slots = parse_keywords("0 Work\n1 work\n2 x\n");
    assert_eq!(
        parse_file_name("1.M2P3.h:2,Sabc", &slots).flags,
        ["\\Seen", "Work", "x"]
    );
}
