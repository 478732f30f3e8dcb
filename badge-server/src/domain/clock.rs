//! Times as people read them.

/// A unix time as Beijing time, to the minute.
pub fn date_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(|d| d.to_offset(time::macros::offset!(+8)))
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] (UTC+8)"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_reads_as_beijing_time_to_the_minute() {
        assert_eq!(super::date_time(0), "1970-01-01 08:00 (UTC+8)");
        assert_eq!(super::date_time(1_700_000_059), "2023-11-15 06:14 (UTC+8)");
    }
}
