//! A [`Signer`] whose key never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests).

use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
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
/// `CKM_ECDSA` over the digest, which every token supports.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: Vec<u8>,
    alg: KeyAlgorithm,
    _ctx: Pkcs11,
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

fn open_session(config: &Pkcs11Config) -> Result<(Pkcs11, Session)> {
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
    Ok((ctx, session))
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
    /// Finds the key pair labelled `config.key_label` in the token.
    pub fn open(config: &Pkcs11Config) -> Result<Self> {
        let (ctx, session) = open_session(config)?;
        let label = Attribute::Label(config.key_label.as_bytes().to_vec());
        let find = |class: ObjectClass| -> Result<ObjectHandle> {
            session
                .find_objects(&[Attribute::Class(class), label.clone()])
                .map_err(p11)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::Signer(format!(
                        "no key labelled {:?} in the token",
                        config.key_label
                    ))
                })
        };
        let private = find(ObjectClass::PRIVATE_KEY)?;
        let public = find(ObjectClass::PUBLIC_KEY)?;
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
        Ok(Pkcs11Signer {
            session: Mutex::new(session),
            key: private,
            public,
            alg,
            _ctx: ctx,
        })
    }

    /// Generates a non-extractable EC key pair in the token under `config.key_label`.
    pub fn generate(config: &Pkcs11Config, alg: KeyAlgorithm) -> Result<Self> {
        let (_ctx, session) = open_session(config)?;
        let label = config.key_label.as_bytes().to_vec();
        let params = der::Encode::to_der(&alg.curve_oid())?;
        let public_template = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(params),
            Attribute::Label(label.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
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
