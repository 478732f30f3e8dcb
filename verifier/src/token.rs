//! Challenge tokens: at least 128 random bits, base64url without padding.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Shortest token accepted: 22 base64url characters carry 132 bits.
const MIN_LEN: usize = 22;
/// Longest token accepted (it goes into DNS names' TXT data and URL paths).
const MAX_LEN: usize = 128;

/// A domain-control challenge token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    /// A fresh token of 256 random bits (43 characters).
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Config("system random generator failed".into()))?;
        Ok(Token(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Parses a token given back to us (CLI, stored challenges).
    pub fn parse(input: &str) -> Result<Self> {
        let t = input.trim();
        if t.len() < MIN_LEN || t.len() > MAX_LEN {
            return Err(Error::InvalidToken(format!(
                "a token has {MIN_LEN} to {MAX_LEN} characters, this one {}",
                t.len()
            )));
        }
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::InvalidToken(
                "a token holds only base64url characters".into(),
            ));
        }
        Ok(Token(t.to_string()))
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({})", self.0)
    }
}
impl TryFrom<String> for Token {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Token::parse(&s)
    }
}
impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_distinct_and_parse_back() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(Token::parse(a.as_str()).unwrap(), a);
        assert!(Token::parse("short").is_err());
        assert!(Token::parse("abcdefghijklmnopqrstuvwxyz/+=").is_err());
    }
}
