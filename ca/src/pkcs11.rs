//! A [`Signer`] whose key never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests).

use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::Decode;
use der::asn1::OctetString;
use ring::digest::{SHA256, SHA384, digest};

use crate::signer::{KeyAlgorithm, Signer, raw_ecdsa_to_der};
use crate::{Error, Result};

/// Where the key lives: module, token label, user PIN and key label.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: std::path::PathBuf,
    /// Label of the token.
    pub token_label: String,
    /// User PIN.
    pub pin: String,
    /// Label (CKA_LABEL) of the key pair.
    pub key_label: String,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// An EC key in a PKCS#11 token. Signing hashes in software and asks the token for
/// `CKM_ECDSA` over the digest, which every token supports. One signer is one
/// session, and a session signs one message at a time: work that must not wait
/// for other signing (issuance behind a long OCSP refresh) gets a signer of its own
/// from [`Pkcs11Signer::with_own_session`].
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: Vec<u8>,
    alg: KeyAlgorithm,
    ctx: Pkcs11,
    slot: Slot,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn p11(e: cryptoki::error::Error) -> Error {
    Error::Signer(format!("PKCS#11: {e}"))
}

fn open_session(config: &Pkcs11Config) -> Result<(Pkcs11, Slot, Session)> {
    let ctx = Pkcs11::new(&config.module).map_err(p11)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => return Err(p11(e)),
    }
    let slot = ctx
        .get_slots_with_token()
        .map_err(p11)?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|t| t.label() == config.token_label)
                .unwrap_or(false)
        })
        .ok_or_else(|| {
            Error::Signer(format!(
                "no PKCS#11 token labelled {:?}",
                config.token_label
            ))
        })?;
    let session = ctx.open_rw_session(slot).map_err(p11)?;
    // Login state belongs to the application, not the session: a second session
    // (after key generation, say) finds the user already logged in.
    match session.login(UserType::User, Some(&AuthPin::from(config.pin.clone()))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => return Err(p11(e)),
    }
    Ok((ctx, slot, session))
}

/// The one object of `class` labelled `label`: none or several is an error that
/// names the label, since either means the token is not what `ca init` left.
fn only_object(
    session: &Session,
    class: ObjectClass,
    what: &str,
    label: &str,
) -> Result<ObjectHandle> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(p11)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Signer(format!(
            "no {what} key labelled {label:?} in the token"
        ))),
        many => Err(Error::Signer(format!(
            "{} {what} keys labelled {label:?} in the token: cannot tell which is the CA's; \
             give each key its own label",
            many.len()
        ))),
    }
}

/// The CKA_ID of an object (empty when it has none).
fn object_id(session: &Session, object: ObjectHandle) -> Result<Vec<u8>> {
    Ok(session
        .get_attributes(object, &[AttributeType::Id])
        .map_err(p11)?
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(id) => Some(id),
            _ => None,
        })
        .unwrap_or_default())
}

fn curve_of(params: &[u8]) -> Result<KeyAlgorithm> {
    let oid = der::asn1::ObjectIdentifier::from_der(params)
        .map_err(|_| Error::Signer("token key has no named curve".into()))?;
    [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384]
        .into_iter()
        .find(|a| a.curve_oid() == oid)
        .ok_or_else(|| Error::Signer(format!("token key is on unsupported curve {oid}")))
}

impl Pkcs11Signer {
    /// Finds the key pair labelled `config.key_label` in the token: exactly one
    /// private and one public key under the label, paired by their CKA_ID, and a
    /// probe signature of the private key must verify with the public one. Objects
    /// found by label independently once paired the private key of one `ca init`
    /// with the public key of another.
    pub fn open(config: &Pkcs11Config) -> Result<Self> {
        let (ctx, slot, session) = open_session(config)?;
        let label = config.key_label.as_str();
        let private = only_object(&session, ObjectClass::PRIVATE_KEY, "private", label)?;
        let public = only_object(&session, ObjectClass::PUBLIC_KEY, "public", label)?;
        if object_id(&session, private)? != object_id(&session, public)? {
            return Err(Error::Signer(format!(
                "the private and the public key labelled {label:?} have different CKA_IDs: \
                 they are not one key pair"
            )));
        }
        let attrs = session
            .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
            .map_err(p11)?;
        let mut params = None;
        let mut point = None;
        for a in attrs {
            match a {
                Attribute::EcParams(p) => params = Some(p),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let alg = curve_of(
            &params.ok_or_else(|| Error::Signer("public key lacks CKA_EC_PARAMS".into()))?,
        )?;
        let point = point.ok_or_else(|| Error::Signer("public key lacks CKA_EC_POINT".into()))?;
        // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
        let public = OctetString::from_der(&point)
            .map(|o| o.as_bytes().to_vec())
            .unwrap_or(point);
        let signer = Pkcs11Signer {
            session: Mutex::new(session),
            key: private,
            public,
            alg,
            ctx,
            slot,
        };
        // Keys made before `ca init` set CKA_ID have an empty one on both halves:
        // the probe is what proves them one pair.
        let probe = b"chengxin key pair probe";
        crate::signer::verify_with(&signer, probe, &signer.sign(probe)?).map_err(|_| {
            Error::Signer(format!(
                "the private key labelled {label:?} does not match the public key labelled so"
            ))
        })?;
        Ok(signer)
    }

    /// Another signer for the same key on a new session of its own (the login is
    /// the application's, so it carries over), for signing that must neither wait
    /// for nor hold up this one's.
    pub fn with_own_session(&self) -> Result<Self> {
        let session = self.ctx.open_rw_session(self.slot).map_err(p11)?;
        Ok(Pkcs11Signer {
            session: Mutex::new(session),
            key: self.key,
            public: self.public.clone(),
            alg: self.alg,
            ctx: self.ctx.clone(),
            slot: self.slot,
        })
    }

    /// Holds this signer's session until the guard is dropped: every signature
    /// on it waits meanwhile, as behind a long run of signatures. Lets a caller
    /// keep a run of its own uninterrupted, and a test show which work shares a
    /// session.
    pub fn hold_session(&self) -> Result<std::sync::MutexGuard<'_, Session>> {
        self.session
            .lock()
            .map_err(|_| Error::Signer("PKCS#11 session lock poisoned".into()))
    }

    /// Generates a non-extractable EC key pair in the token under `config.key_label`,
    /// both halves with one new random CKA_ID. Refuses a label that any object in
    /// the token already has: a second `ca init` on the same token and label once
    /// made a second key pair that neither CA could then tell from its own.
    pub fn generate(config: &Pkcs11Config, alg: KeyAlgorithm) -> Result<Self> {
        let (_ctx, _slot, session) = open_session(config)?;
        let label = config.key_label.as_bytes().to_vec();
        let existing = session
            .find_objects(&[Attribute::Label(label.clone())])
            .map_err(p11)?;
        if !existing.is_empty() {
            return Err(Error::Config(format!(
                "the token {:?} already holds {} object(s) labelled {:?}; refusing to create \
                 another key under that label (choose a new key label)",
                config.token_label,
                existing.len(),
                config.key_label
            )));
        }
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| Error::Signer("system random generator failed".into()))?;
        let params = der::Encode::to_der(&alg.curve_oid())?;
        let public_template = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(params),
            Attribute::Label(label.clone()),
            Attribute::Id(id.to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id.to_vec()),
        ];
        session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(p11)?;
        drop(session);
        Self::open(config)
    }

    /// Opens the token at `module` with the given labels and PIN.
    pub fn open_module(
        module: &Path,
        token_label: &str,
        pin: &str,
        key_label: &str,
    ) -> Result<Self> {
        Self::open(&Pkcs11Config {
            module: module.to_path_buf(),
            token_label: token_label.into(),
            pin: pin.into(),
            key_label: key_label.into(),
        })
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }
    fn public_key(&self) -> &[u8] {
        &self.public
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let hash = match self.alg {
            KeyAlgorithm::EcdsaP256 => digest(&SHA256, message),
            KeyAlgorithm::EcdsaP384 => digest(&SHA384, message),
        };
        let session = self
            .session
            .lock()
            .map_err(|_| Error::Signer("PKCS#11 session lock poisoned".into()))?;
        let raw = session
            .sign(&Mechanism::Ecdsa, self.key, hash.as_ref())
            .map_err(p11)?;
        if raw.len() != 2 * self.alg.scalar_len() {
            return Err(Error::Signer(format!(
                "token returned a {}-byte signature",
                raw.len()
            )));
        }
        raw_ecdsa_to_der(&raw)
    }
}
