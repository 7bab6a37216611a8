//! INTERNALDATE (RFC 3501 `date-time`) to and from Unix time.
//!
//! ```text
//! date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
//! ```
//! Servers keep the instant but not always the zone (Dovecot answers in its own
//! zone), so fidelity is judged on the instant.
//!
//! Every source's dates travel in this form ([`crate::MessageMeta`]'s
//! `internal_date`), whatever the store; [`days_from_civil`] also serves the
//! mbox From_ line parser, and [`parse_ymd`] the command line.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Now, in Unix seconds (0 if the clock is before 1970): the one clock of
/// the store's times, leases and events.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month 1-12, day) of a count of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds for people: `2026-12-04 23:45 UTC`.
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Unix seconds as an INTERNALDATE in UTC: `17-Jul-1996 09:44:25 +0000`.
pub fn format_internal_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}-{}-{y:04} {:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `17-Jul-1996 02:44:25 -0700` (day may be space-padded) to Unix seconds.
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let mut dp = date.split('-');
    let day: u32 = dp.next()?.trim().parse().ok()?;
    let month_name = dp.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as u32
        + 1;
    // Unsigned and bounded, so that no server's date overflows the arithmetic
    // below (RFC 3501: a 4-digit year, 2-digit time fields).
    let year: u16 = dp.next()?.parse().ok()?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let mut tp = time.split(':');
    let h: u8 = tp.next()?.parse().ok()?;
    let mi: u8 = tp.next()?.parse().ok()?;
    let se: u8 = tp.next()?.parse().ok()?;
    if !(1..=31).contains(&day)
        || h > 23
        || mi > 59
        || se > 60
        || zone.len() != 5
        || !zone.as_bytes()[1..].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let (year, h, mi, se) = (i64::from(year), i64::from(h), i64::from(mi), i64::from(se));
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone[1..3].parse().ok()?;
    let zm: i64 = zone[3..5].parse().ok()?;
    let local = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + se;
    Some(local - sign * (zh * 3600 + zm * 60))
}

/// Parses `YYYY-MM-DD` (command-line dates) to Unix seconds at 00:00 UTC.
pub fn parse_ymd(s: &str) -> Option<i64> {
    let mut p = s.split('-');
    let y: u16 = p.next()?.parse().ok()?;
    let m: u32 = p.next()?.parse().ok()?;
    let d: u32 = p.next()?.parse().ok()?;
    if p.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d) * 86_400)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_for_people() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(
            super::format_utc(1_796_342_400 + 3 * 3600 + 4 * 60),
            "2026-12-04 03:04 UTC"
        );
    }

    use super::*;

    #[test]
    fn formats_what_it_parses() {
        assert_eq!(format_internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(
            format_internal_date(837_596_665),
            "17-Jul-1996 09:44:25 +0000"
        );
        for secs in [-86_401, 951_782_400, 4_102_444_799, 1_700_000_000] {
            assert_eq!(parse_internal_date(&format_internal_date(secs)), Some(secs));
        }
    }

    #[test]
    fn known_answers() {
        assert_eq!(parse_internal_date("01-Jan-1970 00:00:00 +0000"), Some(0));
        // RFC 3501 example.
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date(" 4-Sep-2004 08:22:48 +0000"),
            parse_internal_date("04-Sep-2004 04:52:48 -0330")
        );
        assert_eq!(parse_ymd("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_internal_date("17-Jul-1996 02:44:25"), None);
        assert_eq!(parse_internal_date("32-Jul-1996 02:44:25 +0000"), None);
        assert_eq!(parse_ymd("2020-13-01"), None);
    }
}
