//! Capture time: nanoseconds since the Unix epoch, UTC.

use std::fmt;

/// A point in time as nanoseconds since 1970-01-01T00:00:00Z.
///
/// Every timestamp becomes a `Timestamp` at ingest; the library never reads the wall clock.
/// The range of `i64` nanoseconds covers the years 1677 to 2262, which holds every value a
/// pcap (32-bit seconds) or pcapng (64-bit units) file can carry at nanosecond resolution or
/// coarser, except far-future garbage, which ingest clamps and reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable time, used as "not set" for maxima.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable time, used as "not set" for minima.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Builds a timestamp from seconds and nanoseconds, saturating at the ends of the range.
    #[inline]
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Timestamp {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(i64::from(nanos)),
        )
    }

    /// Nanoseconds since the epoch.
    #[inline]
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Signed distance `self - earlier` in nanoseconds, saturating.
    #[inline]
    pub fn since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 text in UTC with nanoseconds, e.g. `2011-03-18T19:06:07.096535000Z`.
    pub fn rfc3339(self) -> Rfc3339 {
        Rfc3339(self)
    }

    /// Parses RFC 3339 date-time text (`2019-11-14T12:00:00.5+01:00`, `...Z`; a space may
    /// stand for the `T`, fractions up to nanoseconds) and converts it to UTC.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = Date::parse(&s[..10])?;
        let num = |t: &str| -> Option<i64> {
            (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        };
        let (h, mi, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut rest = &s[19..];
        let mut nanos = 0i64;
        if let Some(r) = rest.strip_prefix('.') {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            for (i, c) in r.bytes().take(digits.min(9)).enumerate() {
                nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
            }
            rest = &r[digits..];
        }
        let offset_s = match rest {
            "Z" | "z" => 0,
            o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
                let (oh, om) = (num(&o[1..3])?, num(&o[4..6])?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let v = oh * 3600 + om * 60;
                if o.starts_with('-') { -v } else { v }
            }
            _ => return None,
        };
        let secs = date.0 * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
        Some(Timestamp(
            secs.checked_mul(1_000_000_000)?.checked_add(nanos)?,
        ))
    }
}

/// Display adapter for [`Timestamp::rfc3339`].
pub struct Rfc3339(Timestamp);

impl Rfc3339 {
    /// The text as fixed-width bytes, for years 0 to 9999 (every capture's): the flow table
    /// writes one per row, so this avoids the formatting machinery.
    fn fixed(&self) -> Option<[u8; 30]> {
        let ns = self.0.0;
        let secs = ns.div_euclid(1_000_000_000);
        let frac = ns.rem_euclid(1_000_000_000);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut b = *b"0000-00-00T00:00:00.000000000Z";
        digits(&mut b[0..4], y as u64);
        digits(&mut b[5..7], u64::from(m));
        digits(&mut b[8..10], u64::from(d));
        digits(&mut b[11..13], (sod / 3600) as u64);
        digits(&mut b[14..16], ((sod / 60) % 60) as u64);
        digits(&mut b[17..19], (sod % 60) as u64);
        digits(&mut b[20..29], frac as u64);
        Some(b)
    }
}

/// Writes `v` as decimal digits filling `out`, zero-padded on the left (the lowest
/// `out.len()` digits).
pub(crate) fn digits(out: &mut [u8], mut v: u64) {
    for c in out.iter_mut().rev() {
        *c = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl Rfc3339 {
    /// Appends the text as [`Display`](fmt::Display) writes it, without the formatting
    /// machinery for years 0 to 9999.
    pub fn push_to(&self, out: &mut String) {
        match self.fixed() {
            // The buffer holds ASCII digits and separators only.
            Some(b) => out.push_str(std::str::from_utf8(&b).unwrap_or_default()),
            None => {
                use fmt::Write as _;
                // Writing into a String cannot fail.
                let _ = write!(out, "{self}");
            }
        }
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(b) = self.fixed() {
            // The buffer holds ASCII digits and separators only.
            return f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?);
        }
        let ns = self.0.0;
        let secs = ns.div_euclid(1_000_000_000);
        let frac = ns.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Gregorian date from days since 1970-01-01 (proleptic calendar, valid for the whole `i64`
/// nanosecond range). This is the well-known era-based conversion; a date crate would bring
/// time zones and parsing we do not need in the hot output path.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

/// A calendar day (UTC), as days since 1970-01-01. Used for "as of" dates: database build
/// dates, treaty entry into force, the date of a communication.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Date(pub i64);

impl Date {
    /// The day a timestamp falls on (UTC).
    pub fn of(t: Timestamp) -> Date {
        Date(t.0.div_euclid(86_400 * 1_000_000_000))
    }

    /// The day `secs` seconds after the epoch falls on (UTC).
    pub fn from_unix_secs(secs: i64) -> Date {
        Date(secs.div_euclid(86_400))
    }

    /// Builds a date from year, month (1-12) and day (1-31); `None` if it does not exist.
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Date> {
        let dim = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            _ => return None,
        };
        if d == 0 || d > dim {
            return None;
        }
        Some(Date(days_from_civil(y, m, d)))
    }

    /// Parses `YYYY-MM-DD` (ISO 8601 calendar date).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let t = &s[r];
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse().ok())
                .flatten()
        };
        Date::from_ymd(i64::from(num(0..4)?), num(5..7)?, num(8..10)?)
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i64, u32, u32) {
        civil_from_days(self.0)
    }

    /// Midnight UTC at the start of the day.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(86_400 * 1_000_000_000))
    }

    /// Whole days from `earlier` to `self` (negative if `earlier` is later).
    pub fn days_since(self, earlier: Date) -> i64 {
        self.0 - earlier.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in nanoseconds written as seconds with nine decimals (`3.157831000`).
pub struct Seconds(pub i64);

impl Seconds {
    /// Appends the text to `out`.
    pub fn push_to(&self, out: &mut Vec<u8>) {
        if self.0 < 0 {
            out.push(b'-');
        }
        let a = self.0.unsigned_abs();
        out.extend_from_slice(itoa::Buffer::new().format(a / 1_000_000_000).as_bytes());
        let mut frac = *b".000000000";
        digits(&mut frac[1..], a % 1_000_000_000);
        out.extend_from_slice(&frac);
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = Vec::with_capacity(24);
        self.push_to(&mut b);
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-width writer agrees with the general one (kept for years outside 0–9999)
    /// on instants across the calendar, before the epoch included.
    #[test]
    fn fast_rfc3339_matches_the_general_format() {
        let general = |t: Timestamp| {
            let ns = t.0;
            let secs = ns.div_euclid(1_000_000_000);
            let sod = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
                sod / 3600,
                (sod / 60) % 60,
                sod % 60,
                ns.rem_euclid(1_000_000_000)
            )
        };
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Years 0 to 9999 lie within ±2.5e20 ns of the epoch, more than i64 holds
            // beyond 2262: take any i64.
            let t = Timestamp(x);
            let text = t.rfc3339().to_string();
            assert_eq!(text, general(t), "{x}");
            assert_eq!(Timestamp::parse_rfc3339(&text), Some(t), "{text}");
        }
        let t = Timestamp(i64::MIN);
        assert_eq!(t.rfc3339().to_string(), general(t));
    }

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        for (txt, days) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2026-08-18", 20_683),
            ("1969-12-31", -1),
        ] {
            let d = Date::parse(txt).unwrap();
            assert_eq!(d.0, days, "{txt}");
            assert_eq!(d.to_string(), txt);
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20260101",
            "2026-01-3x",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Date::of(Timestamp(1_300_475_167_096_535_000)).to_string(),
            "2011-03-18"
        );
        assert_eq!(
            Date::parse("2011-03-18")
                .unwrap()
                .start()
                .rfc3339()
                .to_string(),
            "2011-03-18T00:00:00.000000000Z"
        );
    }

    #[test]
    fn formats_rfc3339_with_nanoseconds() {
        let t = Timestamp::from_secs_nanos(1_300_475_167, 96_535_000);
        assert_eq!(t.rfc3339().to_string(), "2011-03-18T19:06:07.096535000Z");
        assert_eq!(
            Timestamp(0).rfc3339().to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            Timestamp(-1).rfc3339().to_string(),
            "1969-12-31T23:59:59.999999999Z"
        );
        // A leap day.
        let t = Timestamp::from_secs_nanos(951_782_400, 0);
        assert_eq!(t.rfc3339().to_string(), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn formats_durations_as_decimal_seconds() {
        assert_eq!(Seconds(3_157_831_000).to_string(), "3.157831000");
        assert_eq!(Seconds(0).to_string(), "0.000000000");
        assert_eq!(Seconds(-5).to_string(), "-0.000000005");
    }
}
