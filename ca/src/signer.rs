//! Signing keys: the [`Signer`] trait, the encrypted-PKCS#8 file signer, and the
//! adapter that lets rcgen sign through either signer.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use der::Decode;
use der::asn1::UintRef;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, pkcs5::pbes2};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The key algorithms the CA signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (issuing CA).
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384 (root CA).
    EcdsaP384,
}

impl KeyAlgorithm {
    pub(crate) fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }

    fn ring_signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        }
    }

    /// ring's verification algorithm for signatures this key makes.
    pub fn ring_verify(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        }
    }

    /// The signature AlgorithmIdentifier OID (ecdsa-with-SHA256 / -SHA384).
    pub fn signature_oid(self) -> der::oid::ObjectIdentifier {
        match self {
            KeyAlgorithm::EcdsaP256 => {
                der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2")
            }
            KeyAlgorithm::EcdsaP384 => {
                der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3")
            }
        }
    }

    /// The named-curve OID.
    pub fn curve_oid(self) -> der::oid::ObjectIdentifier {
        match self {
            KeyAlgorithm::EcdsaP256 => {
                der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")
            }
            KeyAlgorithm::EcdsaP384 => der::oid::ObjectIdentifier::new_unwrap("1.3.132.0.34"),
        }
    }

    /// The size in bytes of one of r, s.
    pub fn scalar_len(self) -> usize {
        match self {
            KeyAlgorithm::EcdsaP256 => 32,
            KeyAlgorithm::EcdsaP384 => 48,
        }
    }
}

/// A private key that signs on the CA's behalf: a decrypted file in memory or a key
/// that never leaves an HSM. Both give DER-encoded ECDSA signatures.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The key's algorithm.
    fn algorithm(&self) -> KeyAlgorithm;
    /// The public key as it appears in the SubjectPublicKeyInfo BIT STRING (an
    /// uncompressed EC point).
    fn public_key(&self) -> &[u8];
    /// Signs `message` (hashing it with the algorithm's hash) and returns the DER
    /// `ECDSA-Sig-Value`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// A key held in memory, loaded from an encrypted PKCS#8 file or freshly generated.
pub struct FileSigner {
    key: EcdsaKeyPair,
    alg: KeyAlgorithm,
    rng: SystemRandom,
}

impl fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// PBKDF2 iterations for key files (OWASP's figure for PBKDF2-HMAC-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;

impl FileSigner {
    /// Generates a new key pair; returns the signer and its unencrypted PKCS#8 DER.
    pub fn generate(alg: KeyAlgorithm) -> Result<(Self, Zeroizing<Vec<u8>>)> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg.ring_signing(), &rng)
            .map_err(|_| Error::Signer("key generation failed".into()))?;
        let der = Zeroizing::new(pkcs8.as_ref().to_vec());
        Ok((Self::from_pkcs8(alg, &der)?, der))
    }

    /// Loads an unencrypted PKCS#8 DER key.
    pub fn from_pkcs8(alg: KeyAlgorithm, der: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(alg.ring_signing(), der, &rng)
            .map_err(|e| Error::Signer(format!("not a {alg:?} PKCS#8 key: {e}")))?;
        Ok(FileSigner { key, alg, rng })
    }

    /// Loads an `ENCRYPTED PRIVATE KEY` PEM file, decrypting it with `passphrase`.
    pub fn load_encrypted(path: &Path, alg: KeyAlgorithm, passphrase: &[u8]) -> Result<Self> {
        Self::from_pkcs8(alg, &read_encrypted_pkcs8(path, passphrase)?)
    }
}

/// Reads an `ENCRYPTED PRIVATE KEY` PEM file ([`write_encrypted_key`]) and decrypts it
/// with `passphrase`: the PKCS#8 bytes, wiped when dropped.
pub fn read_encrypted_pkcs8(path: &Path, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    {
        let pem = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let (label, der) =
            pem_rfc7468_decode(&pem).map_err(|_| Error::WrongPassphrase(path.into()))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(Error::Signer(format!(
                "{}: expected an ENCRYPTED PRIVATE KEY, found {label}",
                path.display()
            )));
        }
        let info = EncryptedPrivateKeyInfo::from_der(&der)
            .map_err(|_| Error::WrongPassphrase(path.into()))?;
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| Error::WrongPassphrase(path.into()))?;
        Ok(Zeroizing::new(plain.as_bytes().to_vec()))
    }
}

fn pem_rfc7468_decode(pem: &str) -> std::result::Result<(String, Zeroizing<Vec<u8>>), ()> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|_| ())?;
    Ok((label.to_string(), Zeroizing::new(der)))
}

/// Encrypts a PKCS#8 key with PBES2 (PBKDF2-SHA256, AES-256-CBC) and writes it as PEM
/// with mode 0600, refusing to replace an existing file. `openssl pkey` reads it.
pub fn write_encrypted_key(path: &Path, pkcs8_der: &[u8], passphrase: &[u8]) -> Result<()> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt)
        .and_then(|_| rng.fill(&mut iv))
        .map_err(|_| Error::Signer("system random generator failed".into()))?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(|e| Error::Signer(e.to_string()))?;
    let info = PrivateKeyInfo::try_from(pkcs8_der).map_err(|e| Error::Signer(e.to_string()))?;
    let encrypted = info
        .encrypt_with_params(params, passphrase)
        .map_err(|e| Error::Signer(e.to_string()))?;
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF)
        .map_err(|e| Error::Signer(e.to_string()))?;
    write_private_file(path, pem.as_bytes())
}

/// Writes a secret file with mode 0600, whole or not at all; never replaces an
/// existing file.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    write_file_atomically(path, contents, 0o600, false)
}

/// Writes `contents` to `path` so that it appears whole or not at all, even across a
/// crash or a kill: into a new temporary file beside it (mode `mode`), fsynced, then
/// moved into place and the directory fsynced. With `replace` an existing file is
/// replaced by a rename (never truncated and rewritten); without, a hard link puts it
/// in place, which fails if the name exists.
pub fn write_file_atomically(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{} is not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            std::fs::hard_link(&tmp, path).and_then(|()| std::fs::remove_file(&tmp))
        }
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

impl Signer for FileSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }
    fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::Signer("ECDSA signing failed".into()))
    }
}

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279), encoded with
/// the `der` crate; HSMs return the raw `r ‖ s` concatenation instead.
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Converts a raw `r ‖ s` signature (PKCS#11 `CKM_ECDSA`) to DER.
pub fn raw_ecdsa_to_der(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(Error::Signer(format!(
            "raw ECDSA signature has odd length {}",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let value = EcdsaSigValue {
        r: UintRef::new(r)?,
        s: UintRef::new(s)?,
    };
    Ok(der::Encode::to_der(&value)?)
}

/// Checks a signature made by `signer` with its public key, so that a faulty HSM or
/// memory corruption never lets a bad signature leave the CA.
pub fn verify_with(signer: &dyn Signer, message: &[u8], sig: &[u8]) -> Result<()> {
    signature::UnparsedPublicKey::new(signer.algorithm().ring_verify(), signer.public_key())
        .verify(message, sig)
        .map_err(|_| {
            Error::SignatureCheck("signature does not verify with the signer's public key".into())
        })
}

/// Lets rcgen sign certificates and CRLs through a [`Signer`].
pub(crate) struct RcgenSigner<'a>(pub &'a dyn Signer);

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.0.algorithm().rcgen()
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_key_file_reloads_only_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let (signer, der) = FileSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
        write_encrypted_key(&path, &der, b"correct horse").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let back =
            FileSigner::load_encrypted(&path, KeyAlgorithm::EcdsaP256, b"correct horse").unwrap();
        assert_eq!(back.public_key(), signer.public_key());
        let err = FileSigner::load_encrypted(&path, KeyAlgorithm::EcdsaP256, b"wrong").unwrap_err();
        assert!(matches!(err, Error::WrongPassphrase(_)), "{err}");
        assert!(
            write_encrypted_key(&path, &der, b"x").is_err(),
            "overwrote a key file"
        );
    }

    #[test]
    fn a_raw_signature_converted_to_der_verifies() {
        let (signer, _) = FileSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let rng = SystemRandom::new();
        let (_, der) = FileSigner::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let fixed =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                .unwrap();
        let raw = fixed.sign(&rng, b"msg").unwrap();
        let converted = raw_ecdsa_to_der(raw.as_ref()).unwrap();
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_ASN1,
            fixed.public_key().as_ref(),
        )
        .verify(b"msg", &converted)
        .unwrap();
        let sig = signer.sign(b"hello").unwrap();
        verify_with(&signer, b"hello", &sig).unwrap();
        assert!(verify_with(&signer, b"hellO", &sig).is_err());
    }
}
