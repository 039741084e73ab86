//! Times and sizes as people read them, the same in every shell (the CLI, the desktop app).

/// A moment the service or the ledger recorded (unix seconds), as people read it:
/// `2026-12-07 01:02 UTC`.
pub fn utc(at: i64) -> String {
    let secs = at.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        crate::api::day(at),
        secs / 3_600,
        secs / 60 % 60
    )
}

/// How long ago `at` was, `now` being now: `40 s ago`, `5 min ago`, `3 h ago`, `2 days ago`.
pub fn ago(at: i64, now: i64) -> String {
    match (now - at).max(0) {
        s @ 0..120 => format!("{s} s ago"),
        s @ 120..7_200 => format!("{} min ago", s / 60),
        s @ 7_200..172_800 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// A size in bytes, kB or MB.
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_dates_and_ages_and_sizes_in_units() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_796_605_320), "2026-12-07 01:02 UTC");
        assert_eq!(utc(-86_400), "1969-12-31 00:00 UTC");
        assert_eq!(ago(100, 100), "0 s ago");
        assert_eq!(ago(0, 119), "119 s ago");
        assert_eq!(ago(0, 300), "5 min ago");
        assert_eq!(ago(0, 3 * 3_600 + 5), "3 h ago");
        assert_eq!(ago(0, 2 * 86_400), "2 days ago");
        assert_eq!(ago(500, 100), "0 s ago", "a clock behind says now");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(10_500), "10.5 kB");
        assert_eq!(bytes(17_900_000), "17.9 MB");
    }
}
