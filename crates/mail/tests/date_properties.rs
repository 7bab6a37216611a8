//! Property tests of INTERNALDATE (the quick, every-`cargo test` side of the
//! date checks in the fuzz target imap_response; docs/FUZZING.md).

use mailport_mail::date::{format_internal_date, parse_internal_date};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// INTERNALDATE: every instant of years 0000-9999 survives formatting.
    #[test]
    fn internaldate_round_trips(t in -62_167_219_200i64..=253_402_300_799) {
        prop_assert_eq!(parse_internal_date(&format_internal_date(t)), Some(t));
    }

    /// A server's INTERNALDATE, however odd, is a date or None.
    #[test]
    fn internaldate_never_panics(
        s in "[ 0-9]{0,3}-[A-Za-z]{0,4}-[+-]?[0-9]{0,20} [+-]?[0-9]{0,20}:[+-]?[0-9]{0,20}:[0-9]{0,3} [+-]\\PC{0,5}",
    ) {
        let _ = parse_internal_date(&s);
    }
}
