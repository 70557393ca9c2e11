//! Release dates: RFC 1123 in UTC, as apt parses them, without a calendar crate.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 to (year, month 1-12, day), Howard Hinnant's civil_from_days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Thu, 01 Jan 1970 00:00:00 UTC` for a Unix time.
pub fn format(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} UTC",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses the dates `format` writes (and the `GMT`/`+0000` spellings of UTC).
pub fn parse(text: &str) -> Option<i64> {
    let mut words = text.split_whitespace();
    let _weekday = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    let month_name = words.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
    let year: i64 = words.next()?.parse().ok()?;
    let mut hms = words.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !matches!(words.next()?, "UTC" | "GMT" | "+0000" | "Z") || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        // `date -u -d @1700000000 -R` prints Tue, 14 Nov 2023 22:13:20 +0000.
        assert_eq!(format(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 UTC");
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 1_700_000_000, 951_782_400, 4_102_444_799, 1_234_567_890] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(parse("Sat, 10 May 2025 09:03:08 UTC"), Some(1_746_867_788));
        assert_eq!(parse("yesterday"), None);
    }
}
