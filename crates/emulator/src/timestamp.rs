//! Wall-clock timestamps in the upstream's formats. The emulator is the one place that reads
//! the system clock directly: it stands in for a remote service, whose clock tests never own.

use time::OffsetDateTime;

/// Now, to the millisecond, as namespaces show it: `2024-01-15T10:30:00.000Z`.
pub(crate) fn now_millis() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{}.{:03}Z",
        date_and_time(now),
        now.nanosecond() / 1_000_000
    )
}

/// Now, to the nanosecond, as key listings show it: `2026-06-18T14:48:17.475129983Z`.
pub(crate) fn now_nanos() -> String {
    let now = OffsetDateTime::now_utc();
    format!("{}.{:09}Z", date_and_time(now), now.nanosecond())
}

fn date_and_time(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_have_the_namespace_shape() {
        let at = now_millis();
        assert_eq!(at.len(), "2024-01-15T10:30:00.000Z".len(), "{at}");
        assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
    }

    #[test]
    fn nanos_have_the_key_listing_shape() {
        let at = now_nanos();
        assert_eq!(at.len(), "2026-06-18T14:48:17.475129983Z".len(), "{at}");
    }
}
