//! UTC calendar arithmetic (Howard Hinnant's civil-date algorithms), for
//! recorded timestamps and run ids; no time-zone database needed.

/// Seconds since the Unix epoch for a UTC civil date and time.
pub fn unix_from_civil(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400 + hh * 3600 + mm * 60 + ss
}

/// The UTC civil date and time `(year, month, day, hour, minute, second)` of Unix seconds.
pub fn civil_from_unix(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, (rem / 60) % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(unix_from_civil(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(unix_from_civil(2014, 2, 14, 14, 27, 0), 1_392_388_020);
        assert_eq!(civil_from_unix(1_392_388_020), (2014, 2, 14, 14, 27, 0));
        for s in [0i64, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400] {
            let (y, m, d, hh, mm, ss) = civil_from_unix(s);
            assert_eq!(unix_from_civil(y, m, d, hh, mm, ss), s);
        }
    }
}
