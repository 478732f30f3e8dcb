//! ES256 JSON Web Signatures over a detached payload (RFC 7515 §7.1 compact form,
//! appendix F: the payload part left empty), and the public key as a JSON Web Key
//! (RFC 7517, RFC 7518 §6.2) named by its thumbprint (RFC 7638).
//!
//! The exchange feed signs each page's exact bytes this way, so that a member can
//! keep a copy that anyone can check against `/.well-known/jwks.json`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use serde_json::{Value, json};

use crate::error::AppError;

fn internal(what: &str) -> AppError {
    AppError::Internal(ca::Error::Config(what.into()))
}

/// An ES256 signing key with its public JWK.
pub struct Es256Key {
    pair: EcdsaKeyPair,
    kid: String,
    jwk: Value,
}

impl std::fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Es256Key {
    /// A new P-256 key as PKCS #8 DER.
    pub fn generate_pkcs8() -> Result<Vec<u8>, AppError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| internal("could not generate a P-256 key"))?;
        Ok(doc.as_ref().to_vec())
    }

    /// The key in PKCS #8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Es256Key, AppError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map_err(|_| internal("the exchange key is not a P-256 PKCS #8 key"))?;
        // The public key is the uncompressed point 04 ‖ x ‖ y (SEC 1 §2.3.3).
        let point = pair.public_key().as_ref();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        );
        // RFC 7638 §3.2: the required members, lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()));
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid,
                          "use": "sig", "alg": "ES256" });
        Ok(Es256Key { pair, kid, jwk })
    }

    /// The key id: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// A compact JWS of `payload` with the payload part left out:
    /// `BASE64URL(header)..BASE64URL(signature)`. Put `BASE64URL(payload)` between the
    /// dots to verify it as any JWS.
    pub fn sign_detached(&self, payload: &[u8]) -> Result<String, AppError> {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, self.kid));
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| internal("could not sign"))?;
        Ok(format!(
            "{header}..{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }
}

/// Checks a detached compact JWS over `payload` against a P-256 JWK: what a member
/// does with the feed (our tests also check it with a JOSE library in Python).
pub fn verify_detached(jwk: &Value, jws: &str, payload: &[u8]) -> bool {
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, "", sig] = parts[..] else {
        return false;
    };
    let point = |k: &str| jwk[k].as_str().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let (Some(x), Some(y), Ok(sig)) = (point("x"), point("y"), URL_SAFE_NO_PAD.decode(sig)) else {
        return false;
    };
    let public = [&[4u8][..], &x, &y].concat();
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
        .verify(input.as_bytes(), &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detached_signature_verifies_for_its_bytes_only() {
        let key = Es256Key::from_pkcs8(&Es256Key::generate_pkcs8().unwrap()).unwrap();
        let jws = key.sign_detached(br#"{"events":[]}"#).unwrap();
        assert!(jws.contains(".."), "{jws}");
        assert!(verify_detached(key.jwk(), &jws, br#"{"events":[]}"#));
        assert!(!verify_detached(key.jwk(), &jws, br#"{"events":[1]}"#));
        let other = Es256Key::from_pkcs8(&Es256Key::generate_pkcs8().unwrap()).unwrap();
        assert!(!verify_detached(other.jwk(), &jws, br#"{"events":[]}"#));
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jws.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, json!({ "alg": "ES256", "kid": key.kid() }));
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 7638 §3.1 uses an RSA key; this checks the same recipe on our members:
        // SHA-256 of the required members in order, base64url.
        let key = Es256Key::from_pkcs8(&Es256Key::generate_pkcs8().unwrap()).unwrap();
        let jwk = key.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(
            key.kid(),
            URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
        );
        assert_eq!(key.kid().len(), 43);
        assert_eq!(jwk["kid"], key.kid());
    }
}
