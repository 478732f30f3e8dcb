//! Certificate serial numbers.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::{Error, Result};

/// Random bits after the instance prefix: 136, as design §3 requires (> 64 per CA/B BR).
const RANDOM_BYTES: usize = 17;

/// A certificate serial number: a positive integer of at most 20 octets, kept in its
/// minimal big-endian form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh serial: the instance prefix byte (0x01–0x7f, so the integer is positive
    /// and never has a leading zero) followed by 136 CSPRNG bits. Always set explicitly
    /// on the certificate, since rcgen would otherwise derive one from the key.
    pub fn generate(instance: u8, rng: &SystemRandom) -> Result<Self> {
        if !(0x01..=0x7f).contains(&instance) {
            return Err(Error::Config(format!(
                "CA instance prefix must be 1 to 127, got {instance}"
            )));
        }
        let mut bytes = vec![instance; 1 + RANDOM_BYTES];
        rng.fill(&mut bytes[1..])
            .map_err(|_| Error::Signer("system random generator failed".into()))?;
        Ok(Serial(bytes))
    }

    /// Parses a hexadecimal serial as openssl prints it, with or without colons.
    pub fn parse_hex(input: &str) -> Result<Self> {
        let cleaned: String = input
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        if cleaned.is_empty() || cleaned.len() > 40 {
            return Err(Error::InvalidSerial(format!(
                "{input:?}: expected 1 to 40 hexadecimal digits"
            )));
        }
        let padded = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned
        };
        let bytes = hex::decode(&padded)
            .map_err(|_| Error::InvalidSerial(format!("{input:?} is not hexadecimal")))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// From big-endian bytes (leading zero bytes are dropped).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let minimal = &bytes[first..];
        Serial(if minimal.is_empty() {
            vec![0]
        } else {
            minimal.to_vec()
        })
    }

    /// Big-endian bytes, minimal form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_serial_is_eighteen_bytes_behind_its_prefix() {
        let rng = SystemRandom::new();
        let s = Serial::generate(0x01, &rng).unwrap();
        assert_eq!(s.as_bytes().len(), 18);
        assert_eq!(s.as_bytes()[0], 0x01);
        assert!(Serial::generate(0x80, &rng).is_err());
        assert!(Serial::generate(0, &rng).is_err());
    }

    #[test]
    fn hex_with_colons_and_odd_length_parses_to_the_same_serial() {
        assert_eq!(
            Serial::parse_hex("01:AB:cd").unwrap(),
            Serial::parse_hex("1abcd").unwrap()
        );
        assert!(Serial::parse_hex("xyz").is_err());
        assert!(Serial::parse_hex("").is_err());
    }
}
