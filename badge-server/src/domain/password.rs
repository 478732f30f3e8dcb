//! Passwords: argon2id in its PHC string form, the length rules, and a verification
//! that costs the same whether or not the account exists.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

/// Fewest characters a password may have.
pub const MIN_LEN: usize = 10;
/// Most bytes a password may have: argon2 hashes any length, but a megabyte-long
/// password would cost every verification that much more.
pub const MAX_BYTES: usize = 128;

/// OWASP's argon2id baseline: 19 MiB of memory, 2 passes, 1 lane (about 20–40 ms on
/// one core here), written into every hash so raising it later keeps old hashes valid.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Passwords nobody should use, whatever their length.
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "1111111111",
    "qwertyuiop",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou123",
    "woaini1314",
    "a123456789",
    "abcdefghij",
    "qwerty123456",
    "1q2w3e4r5t",
    "chengxin123",
];

/// Checks a new password against the rules; the message is bilingual, for the form.
pub fn check_new(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if password.is_empty() {
        return Err("请输入密码。 / Enter a password.".into());
    }
    if password.len() > MAX_BYTES {
        return Err(format!(
            "密码过长（最多 {MAX_BYTES} 字节）。 / The password is too long (at most {MAX_BYTES} bytes)."
        ));
    }
    if chars < MIN_LEN {
        return Err(format!(
            "密码太弱：至少需要 {MIN_LEN} 个字符。 / The password is too weak: use at least {MIN_LEN} characters."
        ));
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    let distinct = {
        let mut c: Vec<char> = password.chars().collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    if COMMON.contains(&lower.as_str())
        || distinct < 4
        || (local.len() >= 4 && lower.contains(&local))
    {
        return Err(
            "密码太弱：请勿使用常见密码、重复字符或邮箱名。 / The password is too weak: avoid common passwords, repeated characters and your e-mail name."
                .into(),
        );
    }
    Ok(())
}

/// Hashes a password (argon2id PHC string). CPU-heavy: call from a blocking thread.
pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(ca::Error::Config(format!("password hashing: {e}"))))
}

/// Whether `password` matches the PHC string `phc`. With `None` (no such account, or
/// no password set) it verifies against a fixed hash and answers false, so both cost
/// the same. CPU-heavy: call from a blocking thread.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not the password of anyone").unwrap_or_default());
    let too_long = password.len() > MAX_BYTES;
    let (target, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(target) else {
        return false;
    };
    // An oversized password is refused without hashing it (its cost is the attack).
    let ok = !too_long
        && hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
    ok && real
}

/// [`hash`] on a blocking thread.
pub async fn hash_blocking(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| AppError::Internal(ca::Error::Config(e.to_string())))?
}

/// [`verify`] on a blocking thread.
pub async fn verify_blocking(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, phc.as_deref()))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let h = hash("a long enough passphrase").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("a long enough passphrase", Some(&h)));
        assert!(!verify("a long enough passphrasf", Some(&h)));
        assert!(!verify("a long enough passphrase", None));
        assert!(!verify("anything", Some("not a phc string")));
    }

    #[test]
    fn short_long_common_and_repetitive_passwords_are_refused() {
        assert!(check_new("", "a@b.cn").is_err());
        assert!(check_new("short", "a@b.cn").is_err());
        assert!(check_new(&"x1".repeat(65), "a@b.cn").is_err());
        assert!(check_new("1234567890", "a@b.cn").is_err());
        assert!(check_new("aaaaaaaaaaaa", "a@b.cn").is_err());
        assert!(check_new("zhangwei-2024!", "zhangwei@b.cn").is_err());
        assert!(check_new("晨曦数智科技有限公司好", "a@b.cn").is_ok());
        assert!(check_new("correct horse battery", "a@b.cn").is_ok());
    }
}
