//! The clock, times as people read them, and public ids.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AppError;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A short random public id with a prefix (`app_…`, `s_…`, `c_…`).
pub fn new_id(prefix: &str) -> Result<String, AppError> {
    let mut raw = [0u8; 9];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AppError::Internal(ca::Error::Config("no system randomness".into())))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

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

    #[test]
    fn ids_carry_their_prefix_and_twelve_url_safe_characters() {
        let a = super::new_id("app_").unwrap();
        assert_eq!(a.len(), 16);
        assert!(a.starts_with("app_"));
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, super::new_id("app_").unwrap());
    }
}
