//! bpftool's `print_boot_time`: a program's `load_time` (ns since boot) as wall-clock time.
//! The simulated machine booted at a fixed instant ([`BOOT_WALL_SECS`]), so the same journal
//! prints the same times; the zone is UTC (`+0000`).

/// The wall-clock second the simulated machine booted at: 2026-11-24T21:00:00+0000 (the day
/// the spec's outputs were taken).
pub const BOOT_WALL_SECS: i64 = 1_795_554_000;

/// Seconds since the epoch of a `load_time`.
pub fn wall_secs(load_time_ns: u64) -> i64 {
    BOOT_WALL_SECS + (load_time_ns / 1_000_000_000) as i64
}

/// `strftime("%FT%T%z")` in UTC.
pub fn iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil(z: i64) -> (i64, u32, u32) {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_specs_timestamps_format_as_bpftool_printed_them() {
        // `"loaded_at":1795557055` printed as `loaded_at 2026-11-24T21:50:55+0000`.
        assert_eq!(super::iso(1_795_557_055), "2026-11-24T21:50:55+0000");
        assert_eq!(super::iso(0), "1970-01-01T00:00:00+0000");
        assert_eq!(super::iso(951_782_400), "2000-02-29T00:00:00+0000");
    }
}
