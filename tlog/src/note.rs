//! Checkpoints (C2SP `tlog-checkpoint`) signed as C2SP `signed-note`s with the
//! log's Ed25519 key, and the verifier key that anyone uses to check them.
//!
//! We sign with ring (the CA's library); notes are formatted, parsed and verified by
//! `signed_note`, so a checkpoint we could only read back ourselves cannot pass.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use signed_note::{Note, Signer, StandardVerifier, Verifier, VerifierList};

use crate::tiles::Hash;
use crate::{Error, Result};

/// The signed-note algorithm byte of an Ed25519 key.
pub const ALG_ED25519: u8 = 0x01;

/// A tree head: which log, how many entries, which root.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The log's origin line (`chengxin.example/log`).
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's RFC 6962 root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint's note text: origin, size and base64 root, one per line.
    pub fn text(&self) -> Result<Vec<u8>> {
        Ok(
            tlog_tiles::Checkpoint::new(&self.origin, self.size, self.root, "")
                .map_err(|e| Error::Checkpoint(e.to_string()))?
                .to_bytes(),
        )
    }

    /// Reads a checkpoint's text (extension lines are allowed and ignored).
    pub fn parse_text(text: &[u8]) -> Result<Checkpoint> {
        let c = tlog_tiles::Checkpoint::from_bytes(text)
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
        Ok(Checkpoint {
            origin: c.origin().to_owned(),
            size: c.size(),
            root: *c.hash(),
        })
    }

    /// Opens a signed checkpoint: the note must carry a valid signature of the key
    /// `vkey` (other signatures, a witness's cosignatures, are left to the caller),
    /// and its origin must be the key's name, as C2SP tlog-checkpoint asks.
    pub fn open(note: &[u8], vkey: &str) -> Result<Checkpoint> {
        let verifier =
            StandardVerifier::new(vkey).map_err(|e| Error::Key(format!("verifier key: {e}")))?;
        let name = verifier.name().to_owned();
        let parsed = Note::from_bytes(note).map_err(|e| Error::Checkpoint(e.to_string()))?;
        parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .map_err(|e| Error::Signature(e.to_string()))?;
        let c = Checkpoint::parse_text(parsed.text())?;
        if c.origin != name {
            return Err(Error::Checkpoint(format!(
                "origin {:?} is not the key's name {name:?}",
                c.origin
            )));
        }
        Ok(c)
    }
}

/// The log's signing key. Its name is the log's origin.
pub struct LogKey {
    name: String,
    pair: Ed25519KeyPair,
    id: u32,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

/// A signed-note key name: not empty, no spaces, no `+`.
pub(crate) fn name_ok(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(Error::Key(format!(
            "a key name has no spaces or '+': {name:?}"
        )));
    }
    Ok(())
}

/// The signed-note key id: the first four bytes of SHA-256(name, "\n", alg, key).
pub fn key_id(name: &str, alg: u8, public: &[u8]) -> u32 {
    let mut c = ring::digest::Context::new(&ring::digest::SHA256);
    c.update(name.as_bytes());
    c.update(b"\n");
    c.update(&[alg]);
    c.update(public);
    let d = c.finish();
    u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]])
}

/// A new Ed25519 key as PKCS#8 bytes (the log's key and a witness's alike).
pub(crate) fn generate_ed25519() -> Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    Ok(Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| Error::Key("could not generate an Ed25519 key".into()))?
        .as_ref()
        .to_vec())
}

/// The Ed25519 key in `pkcs8` under `name`, and its key id for signature type `alg`.
pub(crate) fn ed25519_named(name: &str, alg: u8, pkcs8: &[u8]) -> Result<(Ed25519KeyPair, u32)> {
    name_ok(name)?;
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| Error::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
    let id = key_id(name, alg, pair.public_key().as_ref());
    Ok((pair, id))
}

impl LogKey {
    /// A new key, as PKCS#8 bytes for the caller to keep (encrypted).
    pub fn generate() -> Result<Vec<u8>> {
        generate_ed25519()
    }

    /// The key in `pkcs8`, signing under `name` (the log's origin).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<LogKey> {
        let (pair, id) = ed25519_named(name, ALG_ED25519, pkcs8)?;
        Ok(LogKey {
            name: name.to_owned(),
            pair,
            id,
        })
    }

    /// The name the key signs under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The verifier key in signed-note form: `name+hexid+base64(0x01 || key)`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.public_key());
        format!("{}+{:08x}+{}", self.name, self.id, STANDARD.encode(k))
    }

    /// Signs a checkpoint: its text, a blank line, and this key's signature line.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<Vec<u8>> {
        if checkpoint.origin != self.name {
            return Err(Error::Checkpoint(format!(
                "origin {:?} is not the key's name {:?}",
                checkpoint.origin, self.name
            )));
        }
        let mut note =
            Note::new(&checkpoint.text()?, &[]).map_err(|e| Error::Checkpoint(e.to_string()))?;
        note.add_sigs(&[self as &dyn Signer])
            .map_err(|e| Error::Signature(e.to_string()))?;
        Ok(note.to_bytes())
    }
}

impl Signer for LogKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.pair.sign(msg).as_ref().to_vec())
    }
}

/// Checks an Ed25519 signature with ring (for cosignatures and other raw uses).
pub fn ed25519_verify(public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public)
        .verify(msg, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LogKey {
        LogKey::from_pkcs8("chengxin.test/log", &LogKey::generate().unwrap()).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "chengxin.test/log".into(),
            size: 1234,
            root: Hash([9; 32]),
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_verifier_key_only() {
        let k = key();
        let note = k.sign(&checkpoint()).unwrap();
        let text = String::from_utf8(note.clone()).unwrap();
        assert!(
            text.starts_with("chengxin.test/log\n1234\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n\n— chengxin.test/log "),
            "{text}"
        );
        assert_eq!(
            Checkpoint::open(&note, &k.verifier_key()).unwrap(),
            checkpoint()
        );
        let other = key();
        assert!(Checkpoint::open(&note, &other.verifier_key()).is_err());
        let forged = text.replace("\n1234\n", "\n1235\n");
        assert!(Checkpoint::open(forged.as_bytes(), &k.verifier_key()).is_err());
    }

    #[test]
    fn the_verifier_key_has_the_signed_note_shape() {
        let k = key();
        let v = k.verifier_key();
        let parts: Vec<&str> = v.splitn(3, '+').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "chengxin.test/log");
        assert_eq!(parts[1].len(), 8);
        let raw = STANDARD.decode(parts[2]).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        assert_eq!(&raw[1..], k.public_key());
        assert!(StandardVerifier::new(&v).is_ok());
    }

    #[test]
    fn a_checkpoint_of_another_origin_is_not_signed() {
        let mut c = checkpoint();
        c.origin = "elsewhere/log".into();
        assert!(key().sign(&c).is_err());
        assert!(LogKey::from_pkcs8("a b", &LogKey::generate().unwrap()).is_err());
    }
}
