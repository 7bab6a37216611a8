//! Inputs that failed a fuzz target's properties (fuzz/, docs/FUZZING.md),
//! kept as they were found. Each must stay fixed.

use mailport_mail::date::{format_internal_date, parse_internal_date, parse_ymd};

/// Found while writing imap_response (whose mode 0 now runs every string of a
/// response through the INTERNALDATE parser) and confirmed there with these
/// inputs before the fix: the zone was sliced by
/// bytes after checking only its length, so a non-ASCII zone panicked
/// ("byte index 3 is not a char boundary") — a server could stop a migration
/// with one FETCH answer. Signed time fields and an unbounded year overflowed
/// the arithmetic (a panic in debug builds, a wrong date in release).
#[test]
fn hostile_internaldates_are_refused_not_panicked_on() {
    for bad in [
        "01-Jan-2020 00:00:00 +0\u{e9}0",
        "01-Jan-2020 00:00:00 +\u{e9}00",
        "01-Jan-2020 -9223372036854775808:00:00 +0000",
        "01-Jan-2020 00:-9223372036854775808:00 +0000",
        "01-Jan-99999999999999 00:00:00 +0000",
        "01-Jan-2020 -1:00:00 +0000",
    ] {
        assert_eq!(parse_internal_date(bad), None, "{bad:?}");
    }
    assert_eq!(parse_ymd("99999999999999-01-01"), None);
    // What servers send still parses, and survives formatting.
    let t = parse_internal_date("17-Jul-1996 02:44:25 -0700").unwrap();
    assert_eq!(t, 837_596_665);
    assert_eq!(parse_internal_date(&format_internal_date(t)), Some(t));
    assert_eq!(
        parse_internal_date("31-Dec-9999 23:59:59 +0000"),
        Some(253_402_300_799)
    );
}
