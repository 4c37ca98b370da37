//! Calendar arithmetic for PostgreSQL's date/time wire formats (counted from 2000-01-01) and the
//! Unix epoch JavaScript uses. Proleptic Gregorian, like PostgreSQL, with year 0 written `1 BC`.

/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i64 = 10_957;
/// Milliseconds from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_MS: i64 = PG_EPOCH_DAYS * 86_400_000;
/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// (year, month, day) of a day count from 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes `YYYY-MM-DD`, returning whether the date is BC (the caller appends ` BC` where
/// PostgreSQL's syntax puts it).
pub fn write_date(days_since_unix: i64, out: &mut String) -> bool {
    let (y, m, d) = civil_from_days(days_since_unix);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    out.push_str(&format!("{year:04}-{m:02}-{d:02}"));
    bc
}

/// Writes `HH:MM:SS[.ffffff]` with trailing zeros of the fraction removed, as PostgreSQL does.
pub fn write_time(micros_of_day: i64, out: &mut String) {
    let secs = micros_of_day / 1_000_000;
    let frac = micros_of_day % 1_000_000;
    out.push_str(&format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    ));
    write_fraction(frac, out);
}

/// Writes `.ffffff` without trailing zeros, or nothing for zero.
pub fn write_fraction(micros: i64, out: &mut String) {
    if micros != 0 {
        let digits = format!("{:06}", micros.abs());
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// PostgreSQL text of a `timestamp` (`utc_suffix` adds `+00` for `timestamptz`, which we always
/// render in UTC: the session time zone is the server's business, not a property of the value).
pub fn write_timestamp(pg_micros: i64, utc_suffix: bool, out: &mut String) {
    match pg_micros {
        i64::MAX => return out.push_str("infinity"),
        i64::MIN => return out.push_str("-infinity"),
        _ => {}
    }
    let unix_micros = pg_micros + PG_EPOCH_DAYS * DAY_US;
    let days = unix_micros.div_euclid(DAY_US);
    let bc = write_date(days, out);
    out.push(' ');
    write_time(unix_micros.rem_euclid(DAY_US), out);
    if utc_suffix {
        out.push_str("+00");
    }
    if bc {
        out.push_str(" BC");
    }
}

/// Milliseconds since the Unix epoch of a PostgreSQL timestamp, rounded down like `Date`
/// truncates; the infinities map to the float infinities.
pub fn timestamp_to_unix_ms(pg_micros: i64) -> f64 {
    match pg_micros {
        i64::MAX => f64::INFINITY,
        i64::MIN => f64::NEG_INFINITY,
        us => (us.div_euclid(1000) + PG_EPOCH_MS) as f64,
    }
}

/// PostgreSQL microseconds of a JavaScript time value (milliseconds since the Unix epoch).
pub fn unix_ms_to_timestamp(ms: f64) -> Option<i64> {
    if !ms.is_finite() {
        return None;
    }
    // `as` saturates; the checked steps refuse what an i64 of microseconds cannot hold
    // (JavaScript's Dates stop at +/-8.64e15 ms, well inside, but the buffer is not trusted).
    let ms = ms.floor() as i64;
    ms.checked_sub(PG_EPOCH_MS)?.checked_mul(1000)
}

/// ISO 8601 text of a JavaScript time value, as `Date#toISOString` writes it, for text
/// parameters (arrays, json). `zone` appends `Z`.
pub fn iso_from_unix_ms(ms: f64, zone: bool) -> Option<String> {
    if !ms.is_finite() {
        return None;
    }
    let ms = ms.floor() as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let mut out = String::with_capacity(32);
    let bc = write_date(days, &mut out);
    out.push_str(&format!(
        "T{:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        (in_day / 60_000) % 60,
        (in_day / 1000) % 60,
        in_day % 1000
    ));
    if zone {
        out.push('Z');
    }
    if bc {
        out.push_str(" BC");
    }
    Some(out)
}

/// Writes a `timetz` zone (seconds *west* of UTC on the wire) as `+HH[:MM[:SS]]`.
pub fn write_zone(seconds_west: i32, out: &mut String) {
    let east = -(seconds_west as i64);
    out.push(if east < 0 { '-' } else { '+' });
    let a = east.abs();
    out.push_str(&format!("{:02}", a / 3600));
    if a % 3600 != 0 {
        out.push_str(&format!(":{:02}", (a / 60) % 60));
        if a % 60 != 0 {
            out.push_str(&format!(":{:02}", a % 60));
        }
    }
}

/// Writes an interval in PostgreSQL's default `postgres` style
/// (`1 year 2 mons 3 days 04:05:06.5`).
pub fn write_interval(micros: i64, days: i32, months: i32, out: &mut String) {
    // PostgreSQL marks a positive field with `+` only when the nonzero field just before it
    // was negative ("-1 years +2 mons"), and the time part likewise.
    let mut before_negative = false;
    let mut unit = |value: i64, name: &str, out: &mut String| {
        if value == 0 {
            return;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if before_negative && value > 0 {
            out.push('+');
        }
        // PostgreSQL pluralises everything but exactly 1 ("-1 days").
        let plural = if value == 1 { "" } else { "s" };
        out.push_str(&format!("{value} {name}{plural}"));
        before_negative = value < 0;
    };
    unit((months / 12) as i64, "year", out);
    unit((months % 12) as i64, "mon", out);
    unit(days as i64, "day", out);
    let had_date = !out.is_empty();
    if micros != 0 || !had_date {
        if had_date {
            out.push(' ');
        }
        if micros < 0 {
            out.push('-');
        } else if before_negative {
            out.push('+');
        }
        let a = micros.unsigned_abs() as i64;
        let secs = a / 1_000_000;
        out.push_str(&format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        ));
        write_fraction(a % 1_000_000, out);
    }
}

/// `YYYY-MM-DD[ BC]` of a JavaScript time value's UTC date.
pub fn date_text_from_unix_ms(ms: f64) -> Option<String> {
    if !ms.is_finite() {
        return None;
    }
    let mut out = String::new();
    if write_date((ms.floor() as i64).div_euclid(86_400_000), &mut out) {
        out.push_str(" BC");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(PG_EPOCH_DAYS), (2000, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn timestamps_render_like_postgres() {
        let mut s = String::new();
        write_timestamp(0, true, &mut s);
        assert_eq!(s, "2000-01-01 00:00:00+00");
        s.clear();
        write_timestamp(1_500_000, false, &mut s);
        assert_eq!(s, "2000-01-01 00:00:01.5");
        s.clear();
        // 0044-03-15 BC is year -43 in astronomical numbering.
        let days_bc = -(2_000 + 43) * 365;
        write_timestamp(days_bc * DAY_US, false, &mut s);
        assert!(s.ends_with(" BC"), "{s}");
    }

    #[test]
    fn js_times_round_trip() {
        let ms = 1_700_000_000_123.0;
        let pg = unix_ms_to_timestamp(ms).unwrap();
        assert_eq!(timestamp_to_unix_ms(pg), ms);
        assert_eq!(timestamp_to_unix_ms(-1), (PG_EPOCH_MS - 1) as f64);
        assert_eq!(
            iso_from_unix_ms(ms, true).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn intervals_render_like_postgres() {
        let cases = [
            ((0, 0, 0), "00:00:00"),
            (
                (14_706_000_000 + 500_000, 3, 14),
                "1 year 2 mons 3 days 04:05:06.5",
            ),
            ((0, -1, 0), "-1 days"),
            ((-3_600_000_000, 1, 0), "1 day -01:00:00"),
            ((0, 0, -10), "-10 mons"),
            ((0, 2, -12), "-1 years +2 days"),
            ((10_800_000_000, 2, -1), "-1 mons +2 days 03:00:00"),
            ((3_600_000_000, -1, 0), "-1 days +01:00:00"),
        ];
        for ((us, d, m), want) in cases {
            let mut s = String::new();
            write_interval(us, d, m, &mut s);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn zones() {
        let mut s = String::new();
        write_zone(-19_800, &mut s);
        assert_eq!(s, "+05:30");
        s.clear();
        write_zone(3600, &mut s);
        assert_eq!(s, "-01");
    }
}
