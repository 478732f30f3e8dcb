//! The witness's key file: its name and its Ed25519 key (PKCS#8), mode 0600.
//!
//! ```text
//! name witness.example/w1
//! pkcs8 <base64 PKCS#8>
//! ```
//!
//! The name lives with the key because a `cosignature/v1` key must never cosign under
//! two names (the signed message does not include the name).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tlog::WitnessKey;

/// The largest key file read (a name and a PKCS#8 Ed25519 key are under 300 bytes).
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Makes a new key named `name` and writes it to `path`, which must not exist yet;
/// returns the key.
pub fn create(path: &Path, name: &str) -> Result<WitnessKey, String> {
    let pkcs8 = WitnessKey::generate().map_err(|e| e.to_string())?;
    let key = WitnessKey::from_pkcs8(name, &pkcs8).map_err(|e| e.to_string())?;
    let text = format!("name {name}\npkcs8 {}\n", STANDARD.encode(&pkcs8));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    })();
    written.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(key)
}

/// Reads the key file at `path`.
pub fn load(path: &Path) -> Result<WitnessKey, String> {
    let at = |e: String| format!("{}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| at(e.to_string()))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(at("too large for a key file".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let mut lines = text.lines();
    let name = lines
        .next()
        .and_then(|l| l.strip_prefix("name "))
        .ok_or_else(|| at("the first line is not `name <NAME>`".into()))?;
    let pkcs8 = lines
        .next()
        .and_then(|l| l.strip_prefix("pkcs8 "))
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| at("the second line is not `pkcs8 <BASE64>`".into()))?;
    if lines.next().is_some() {
        return Err(at("more than two lines".into()));
    }
    WitnessKey::from_pkcs8(name, &pkcs8).map_err(|e| at(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_kept_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness.key");
        let made = create(&path, "witness.test/w1").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = load(&path).unwrap();
        assert_eq!(read.verifier_key(), made.verifier_key());
        assert!(
            create(&path, "witness.test/w2").is_err(),
            "an existing key is never replaced"
        );
        assert_eq!(load(&path).unwrap().name(), "witness.test/w1");
        for bad in ["", "name a b\npkcs8 AAAA\n", "pkcs8 AAAA\nname x\n"] {
            std::fs::write(&path, bad).unwrap();
            assert!(load(&path).is_err(), "{bad:?}");
        }
        assert!(create(&dir.path().join("k2"), "bad name").is_err());
    }
}
