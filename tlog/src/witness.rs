//! Witnessing: C2SP `tlog-cosignature` (the Ed25519 `cosignature/v1` type) and the
//! wire formats of C2SP `tlog-witness` (`add-checkpoint`).
//!
//! A witness keeps, for each log it follows, the last checkpoint it cosigned, and
//! cosigns a new one only when a consistency proof shows the new tree extends it. A
//! client that needs a quorum of cosignatures before trusting a checkpoint cannot be
//! shown one tree while the witnesses saw another: that is the split view this module
//! exists to make impossible, or at least provable ([`find_fork`]).
//!
//! Everything here is bytes in, bytes out, so that the witness binary, the log that
//! asks for cosignatures and whoever checks a quorum share one reading of the specs.
//! Notes are parsed by `signed_note` (an implementation we did not write); signing and
//! checking use ring's Ed25519 like [`crate::note`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{Ed25519KeyPair, KeyPair};
use signed_note::{Note, Signature, Verifier};

use crate::note::{Checkpoint, ed25519_named, ed25519_verify, generate_ed25519, key_id, name_ok};
use crate::tiles::{HASH_BYTES, Hash, check_consistency};
use crate::{Error, Result};

/// The signed-note signature type of a timestamped Ed25519 cosignature
/// (`cosignature/v1`, C2SP signed-note and tlog-cosignature).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The header line of the message a `cosignature/v1` signs (domain separation).
const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";

/// The largest cosignature timestamp: tlog-cosignature says it MUST NOT exceed 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Bytes of a `cosignature/v1` signature after the key id: the 8-byte timestamp and
/// the 64-byte Ed25519 signature.
const COSIGNATURE_V1_BYTES: usize = 8 + 64;

/// The most consistency proof lines a request may carry (tlog-witness: clients MUST
/// NOT send more than 63, the longest proof in a tree of 2^64 entries).
pub const MAX_PROOF_LINES: usize = 63;

/// The largest checkpoint note accepted or sent. signed-note asks verifiers to accept
/// at least 16 signatures, and a post-quantum one can be nearly 5 kB: 16 of those plus
/// the checkpoint text fit with room to spare.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;

/// The most signature lines a checkpoint note may carry (signed-note: at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 64;

/// The largest `add-checkpoint` request body: the note plus the old size line,
/// [`MAX_PROOF_LINES`] proof lines of 45 bytes and the blank line (under 3 kB).
pub const MAX_REQUEST_BYTES: usize = MAX_NOTE_BYTES + 4 * 1024;

/// The most cosignature lines read from one witness's response (a witness answers with
/// one line per key it holds; tlog-witness sets no bound, this is ours).
pub const MAX_RESPONSE_LINES: usize = 16;

/// The largest witness response read: [`MAX_RESPONSE_LINES`] lines of post-quantum size.
pub const MAX_RESPONSE_BYTES: usize = MAX_RESPONSE_LINES * 4 * 1024;

/// The `Content-Type` of a 409 answer that carries the witness's latest size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The message a `cosignature/v1` signs: the header line, the time line, and the
/// checkpoint's whole note text (extension lines included, signatures not).
fn cosigned_message(text: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// A signed note within our limits, and the byte offset where its signature lines begin.
fn parse_note(note: &[u8]) -> Result<(Note, usize)> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(Error::Checkpoint(format!(
            "a note of {} bytes (at most {MAX_NOTE_BYTES})",
            note.len()
        )));
    }
    let parsed = Note::from_bytes(note).map_err(|e| Error::Checkpoint(e.to_string()))?;
    // signed_note splits at the last blank line: the text (with its final newline),
    // then the blank line's newline, then the signature lines.
    let sigs_at = parsed.text().len() + 1;
    let lines = note
        .get(sigs_at..)
        .map_or(0, |s| s.iter().filter(|&&b| b == b'\n').count());
    if lines > MAX_NOTE_SIGNATURES {
        return Err(Error::Checkpoint(format!(
            "a note with {lines} signatures (at most {MAX_NOTE_SIGNATURES})"
        )));
    }
    Ok((parsed, sigs_at))
}

/// The signature lines of a note already parsed by [`parse_note`], each with its `\n`.
fn signature_lines(note: &[u8], sigs_at: usize) -> Vec<&[u8]> {
    note.get(sigs_at..)
        .unwrap_or_default()
        .split_inclusive(|&b| b == b'\n')
        .collect()
}

/// One signature line (`— name base64(id || sig)`, with or without its final `\n`).
fn parse_line(line: &[u8]) -> Result<Signature> {
    let bare = line.strip_suffix(b"\n").unwrap_or(line);
    if bare.iter().any(|&b| b < 0x20) {
        return Err(Error::Signature(
            "a control character in a signature line".into(),
        ));
    }
    Signature::from_bytes(bare).map_err(|e| Error::Signature(format!("signature line: {e}")))
}

/// A witness's signing key. `cosignature/v1` does not sign the witness's name, so one
/// key must never serve two witnesses (tlog-cosignature).
pub struct WitnessKey {
    name: String,
    pair: Ed25519KeyPair,
    id: u32,
}

impl std::fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessKey")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl WitnessKey {
    /// A new key, as PKCS#8 bytes for the caller to keep.
    pub fn generate() -> Result<Vec<u8>> {
        generate_ed25519()
    }

    /// The key in `pkcs8`, cosigning under `name` (a schema-less URL, by the spec's
    /// recommendation: `witness.example/w1`).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<WitnessKey> {
        let (pair, id) = ed25519_named(name, ALG_COSIGNATURE_V1, pkcs8)?;
        Ok(WitnessKey {
            name: name.to_owned(),
            pair,
            id,
        })
    }

    /// The name the key cosigns under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id: the first 4 bytes of SHA-256(name, `\n`, 0x04, key).
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// What anyone checks this key's cosignatures with.
    pub fn verifier(&self) -> WitnessVerifier {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.public_key());
        WitnessVerifier {
            name: self.name.clone(),
            id: self.id,
            public,
        }
    }

    /// The verifier key in signed-note form: `name+hexid+base64(0x04 || key)`.
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// Cosigns the checkpoint in the signed note `note` as of `timestamp` (POSIX
    /// seconds): the signature line, `— name base64(id || timestamp || sig)\n`. The
    /// caller has checked the note's log signature and its consistency first.
    pub fn cosign(&self, note: &[u8], timestamp: u64) -> Result<String> {
        if timestamp > MAX_TIMESTAMP {
            return Err(Error::Signature(format!(
                "timestamp {timestamp} exceeds 2^63-1"
            )));
        }
        let (parsed, _) = parse_note(note)?;
        Checkpoint::parse_text(parsed.text())?;
        let mut sig = timestamp.to_be_bytes().to_vec();
        sig.extend_from_slice(
            self.pair
                .sign(&cosigned_message(parsed.text(), timestamp))
                .as_ref(),
        );
        let line = Signature::new(self.name.clone(), self.id, sig)
            .map_err(|e| Error::Signature(e.to_string()))?
            .to_bytes();
        String::from_utf8(line).map_err(|e| Error::Signature(e.to_string()))
    }
}

/// A witness's public key, to check its `cosignature/v1` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    public: [u8; 32],
}

impl WitnessVerifier {
    /// Reads a verifier key `name+hexid+base64(0x04 || key)`; the id must be the one
    /// the name and key give, and the type byte must be `cosignature/v1`'s.
    pub fn parse(vkey: &str) -> Result<WitnessVerifier> {
        let bad = |why: &str| Error::Key(format!("witness verifier key: {why}"));
        let (name, rest) = vkey.split_once('+').ok_or_else(|| bad("no '+'"))?;
        let (id16, key64) = rest.split_once('+').ok_or_else(|| bad("one '+'"))?;
        name_ok(name)?;
        if id16.len() != 8
            || !id16
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("the key id is not 8 lowercase hex digits"));
        }
        let id = u32::from_str_radix(id16, 16).map_err(|_| bad("key id"))?;
        let key = STANDARD.decode(key64).map_err(|_| bad("not base64"))?;
        let (&alg, public) = key.split_first().ok_or_else(|| bad("empty key"))?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(bad(&format!(
                "signature type 0x{alg:02x}, not cosignature/v1 (0x04)"
            )));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| bad("not a 32-byte Ed25519 key"))?;
        if key_id(name, ALG_COSIGNATURE_V1, &public) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(WitnessVerifier {
            name: name.to_owned(),
            id,
            public,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The verifier key in signed-note form.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_COSIGNATURE_V1];
        k.extend_from_slice(&self.public);
        format!("{}+{:08x}+{}", self.name, self.id, STANDARD.encode(k))
    }

    /// The timestamp of `sig` (the bytes after the key id) if it is this key's valid
    /// cosignature of the note text `text`.
    fn check(&self, text: &[u8], sig: &[u8]) -> Option<u64> {
        if sig.len() != COSIGNATURE_V1_BYTES {
            return None;
        }
        let (ts, ed) = sig.split_at(8);
        let timestamp = u64::from_be_bytes(ts.try_into().ok()?);
        if timestamp > MAX_TIMESTAMP {
            return None;
        }
        ed25519_verify(&self.public, &cosigned_message(text, timestamp), ed).then_some(timestamp)
    }

    /// Checks one cosignature line (as a witness answers it) on the checkpoint in the
    /// signed note `note`; returns the cosignature's timestamp. A line of another key
    /// (name or id) is an error here: the caller asked about this key.
    pub fn verify(&self, note: &[u8], line: &str) -> Result<u64> {
        let (parsed, _) = parse_note(note)?;
        let sig = parse_line(line.as_bytes())?;
        if sig.name() != self.name || sig.id() != self.id {
            return Err(Error::Signature(format!(
                "a line of {}+{:08x}, not of {}+{:08x}",
                sig.name(),
                sig.id(),
                self.name,
                self.id
            )));
        }
        self.check(parsed.text(), sig.signature()).ok_or_else(|| {
            Error::Signature(format!("the cosignature of {} does not verify", self.name))
        })
    }
}

/// So that `signed_note::Note::verify` checks cosignatures next to the log's
/// signature, as tlog-witness suggests clients do.
impl Verifier for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.check(msg, sig).is_some()
    }
}

/// A cosignature found on a note by [`cosigners`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosigned {
    /// Which of the witnesses given (an index into the slice).
    pub witness: usize,
    /// When the witness cosigned (POSIX seconds).
    pub timestamp: u64,
}

/// Which of `witnesses` cosigned the checkpoint in `note`, once each, in the order of
/// `witnesses`: count them against a quorum. Lines of other keys are ignored; a line
/// of a listed key that does not verify rejects the whole note (signed-note: clients
/// SHOULD). The log's own signature is not checked here: open the note with
/// [`Checkpoint::open`] too.
pub fn cosigners(note: &[u8], witnesses: &[WitnessVerifier]) -> Result<Vec<Cosigned>> {
    let (parsed, sigs_at) = parse_note(note)?;
    let mut found: Vec<Option<u64>> = vec![None; witnesses.len()];
    for line in signature_lines(note, sigs_at) {
        let sig = parse_line(line)?;
        for (i, w) in witnesses.iter().enumerate() {
            if w.name != sig.name() || w.id != sig.id() {
                continue;
            }
            let ts = w.check(parsed.text(), sig.signature()).ok_or_else(|| {
                Error::Signature(format!("a cosignature of {} does not verify", w.name))
            })?;
            // A witness that cosigned twice counts once, at its latest time.
            found[i] = Some(found[i].map_or(ts, |t| t.max(ts)));
        }
    }
    Ok(found
        .into_iter()
        .enumerate()
        .filter_map(|(witness, ts)| ts.map(|timestamp| Cosigned { witness, timestamp }))
        .collect())
}

/// Adds signature lines (a witness's answer, [`parse_response`]) to the signed note
/// `note`. A line of a key that already signed replaces that key's line, as
/// signed_note's `add_sigs` does; the lines are not checked here ([`cosigners`] does).
pub fn add_cosignatures(note: &[u8], lines: &[String]) -> Result<Vec<u8>> {
    let (parsed, sigs_at) = parse_note(note)?;
    let new: Vec<Signature> = lines
        .iter()
        .map(|l| parse_line(l.as_bytes()))
        .collect::<Result<_>>()?;
    let mut out = parsed.text().to_vec();
    out.push(b'\n');
    for line in signature_lines(note, sigs_at) {
        let old = parse_line(line)?;
        if !new
            .iter()
            .any(|n| n.name() == old.name() && n.id() == old.id())
        {
            out.extend_from_slice(line);
        }
    }
    for sig in &new {
        out.extend_from_slice(&sig.to_bytes());
    }
    parse_note(&out)?;
    Ok(out)
}

/// The same log showing two different trees of one size: a checkpoint signed by the
/// log for each, and who cosigned which. Anyone holding both notes can prove it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fork {
    /// The log's origin.
    pub origin: String,
    /// The size both trees claim.
    pub size: u64,
    /// The two roots, in the order the notes were given.
    pub roots: [Hash; 2],
    /// The names of the witnesses (of those given) that cosigned each note.
    pub cosigners: [Vec<String>; 2],
}

/// Compares two checkpoints of the log whose verifier key is `log_vkey`: both must
/// carry the log's valid signature; if they have the same size and different roots,
/// the log forked, and the answer says which of `witnesses` cosigned each side.
/// Checkpoints of different sizes are not compared (that takes a consistency proof,
/// [`check_consistency`]): the answer is `None`, as for two equal checkpoints.
pub fn find_fork(
    log_vkey: &str,
    witnesses: &[WitnessVerifier],
    a: &[u8],
    b: &[u8],
) -> Result<Option<Fork>> {
    let ca = Checkpoint::open(a, log_vkey)?;
    let cb = Checkpoint::open(b, log_vkey)?;
    if ca.size != cb.size || ca.root == cb.root {
        return Ok(None);
    }
    let names = |note: &[u8]| -> Result<Vec<String>> {
        Ok(cosigners(note, witnesses)?
            .into_iter()
            .map(|c| witnesses[c.witness].name.clone())
            .collect())
    };
    Ok(Some(Fork {
        origin: ca.origin,
        size: ca.size,
        roots: [ca.root, cb.root],
        cosigners: [names(a)?, names(b)?],
    }))
}

/// An `add-checkpoint` request (tlog-witness): the size the witness last cosigned, the
/// consistency proof from it, and the new checkpoint as a signed note.
#[derive(Debug, Clone, PartialEq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// The RFC 6962 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint, signed by the log (and perhaps others).
    pub note: Vec<u8>,
}

/// Takes the next line (without its `\n`) off `rest`; `None` when no newline is left.
fn next_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let at = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..at];
    *rest = &rest[at + 1..];
    Some(line)
}

/// Reads a canonical ASCII decimal: digits only, no leading zero unless it is `0`.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s[0] == b'0') || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

impl AddCheckpoint {
    /// The request body: `old N\n`, one base64 hash per line, a blank line, the note.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.proof.len() > MAX_PROOF_LINES {
            return Err(Error::Request(format!(
                "a proof of {} hashes (at most {MAX_PROOF_LINES})",
                self.proof.len()
            )));
        }
        self.checkpoint()?;
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(STANDARD.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.note);
        Ok(out)
    }

    /// Reads a request body strictly: every line as the spec writes it, base64 in its
    /// canonical form, a well-formed note holding a checkpoint, within the limits, and
    /// an old size not above the checkpoint's (tlog-witness: else 400).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint> {
        let bad = |why: String| Error::Request(format!("add-checkpoint: {why}"));
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad(format!(
                "{} bytes (at most {MAX_REQUEST_BYTES})",
                body.len()
            )));
        }
        let mut rest = body;
        let first = next_line(&mut rest).ok_or_else(|| bad("no old size line".into()))?;
        let old_size = first
            .strip_prefix(b"old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line is not `old <size>`".into()))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest).ok_or_else(|| bad("no blank line".into()))?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad(format!("more than {MAX_PROOF_LINES} proof lines")));
            }
            let raw = STANDARD
                .decode(line)
                .map_err(|_| bad("a proof line is not base64".into()))?;
            let hash: [u8; HASH_BYTES] = raw
                .try_into()
                .map_err(|_| bad("a proof line is not a 32-byte hash".into()))?;
            proof.push(Hash(hash));
        }
        let req = AddCheckpoint {
            old_size,
            proof,
            note: rest.to_vec(),
        };
        let checkpoint = req.checkpoint()?;
        if old_size > checkpoint.size {
            return Err(bad(format!(
                "old size {old_size} is above the checkpoint's {}",
                checkpoint.size
            )));
        }
        Ok(req)
    }

    /// The checkpoint in the note, its signatures not checked: the origin says which
    /// log key to open it with ([`Checkpoint::open`]).
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (parsed, _) = parse_note(&self.note)?;
        Checkpoint::parse_text(parsed.text())
    }
}

/// A witness's decision on a request whose note the log's key opened as `new`, given
/// `last`, the checkpoint it last cosigned for that log (`None`: never). `Ok` means
/// cosign and record `new`; the errors say why not, each with its own status
/// ([`Error::OldSize`] 409 with the size, [`Error::SplitView`] 409, [`Error::Merkle`] 422).
pub fn check_request(
    last: Option<&Checkpoint>,
    request: &AddCheckpoint,
    new: &Checkpoint,
) -> Result<()> {
    let latest = last.map_or(0, |c| c.size);
    if request.old_size != latest {
        return Err(Error::OldSize { latest });
    }
    if new.size < latest {
        // Only a request that bypassed AddCheckpoint::parse gets here.
        return Err(Error::Request(format!(
            "old size {latest} above the checkpoint's {}",
            new.size
        )));
    }
    let proof_must_be_empty = |why: &str| {
        if request.proof.is_empty() {
            Ok(())
        } else {
            Err(Error::Merkle(format!("a non-empty proof {why}")))
        }
    };
    match last {
        // The same size again: the same tree, or two trees of one size.
        Some(last) if new.size == last.size => {
            if new.root != last.root {
                return Err(Error::SplitView {
                    size: new.size,
                    root: new.root,
                });
            }
            proof_must_be_empty("between equal trees")
        }
        Some(last) if last.size > 0 => {
            check_consistency(&request.proof, new.size, new.root, last.size, last.root)
        }
        // Nothing cosigned yet (or only the empty tree, which every tree extends).
        _ => {
            if new.size == 0 && new.root != tlog_tiles::EMPTY_HASH {
                return Err(Error::SplitView {
                    size: 0,
                    root: new.root,
                });
            }
            proof_must_be_empty("from size 0")
        }
    }
}

/// The body of a 409 answer to a request with the wrong old size: the witness's
/// latest cosigned size in decimal and a newline ([`SIZE_CONTENT_TYPE`]).
pub fn size_body(latest: u64) -> String {
    format!("{latest}\n")
}

/// Reads the body of a 409 answer: the size to retry from.
pub fn parse_size_body(body: &[u8]) -> Result<u64> {
    body.strip_suffix(b"\n")
        .and_then(parse_decimal)
        .ok_or_else(|| Error::Request("a 409 body that is not `<size>\\n`".into()))
}

/// Reads a witness's 200 answer: one or more signature lines, each ending in a
/// newline. The lines are not verified here (the caller knows which keys it trusts:
/// [`cosigners`] after [`add_cosignatures`], or [`WitnessVerifier::verify`]).
pub fn parse_response(body: &[u8]) -> Result<Vec<String>> {
    let bad = |why: String| Error::Request(format!("witness response: {why}"));
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(bad(format!(
            "{} bytes (at most {MAX_RESPONSE_BYTES})",
            body.len()
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8".into()))?;
    let text = text
        .strip_suffix('\n')
        .ok_or_else(|| bad("empty, or the last line has no newline".into()))?;
    let mut out = Vec::new();
    for line in text.split('\n') {
        if out.len() == MAX_RESPONSE_LINES {
            return Err(bad(format!("more than {MAX_RESPONSE_LINES} lines")));
        }
        parse_line(line.as_bytes())?;
        out.push(format!("{line}\n"));
    }
    Ok(out)
}

/// Checks that `vkey` is an Ed25519 note verifier key named `origin`, as a witness
/// configured with `ORIGIN=VKEY` needs ([`Checkpoint::open`] refuses a note whose
/// origin is not the key's name).
pub fn check_log_key(origin: &str, vkey: &str) -> Result<()> {
    let v = signed_note::StandardVerifier::new(vkey)
        .map_err(|e| Error::Key(format!("log verifier key for {origin}: {e}")))?;
    if v.name() != origin {
        return Err(Error::Key(format!(
            "the log key is named {:?}, not the origin {origin:?}",
            v.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::LogKey;
    use crate::tiles::{TileMap, leaf_hash};
    use signed_note::VerifierList;

    const ORIGIN: &str = "chengxin.test/log";

    fn log_key() -> LogKey {
        LogKey::from_pkcs8(ORIGIN, &LogKey::generate().unwrap()).unwrap()
    }

    fn witness(name: &str) -> WitnessKey {
        WitnessKey::from_pkcs8(name, &WitnessKey::generate().unwrap()).unwrap()
    }

    /// A tree of `n` entries named by `tag` (two tags give two different trees).
    fn tree(tag: &str, n: u64) -> TileMap {
        let mut map = TileMap::new();
        let leaves: Vec<Hash> = (0..n)
            .map(|i| leaf_hash(format!("{tag} {i}").as_bytes()))
            .collect();
        map.append(0, &leaves).unwrap();
        map
    }

    fn signed(log: &LogKey, map: &TileMap, size: u64) -> Vec<u8> {
        log.sign(&Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: map.root(size).unwrap(),
        })
        .unwrap()
    }

    fn b64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap()
    }

    #[test]
    fn a_cosignature_has_the_spec_s_shape_and_verifies_with_its_key_only() {
        let log = log_key();
        let w = witness("witness.test/w1");
        let note = signed(&log, &tree("a", 10), 10);
        let line = w.cosign(&note, 1_679_315_147).unwrap();
        assert!(line.starts_with("— witness.test/w1 ") && line.ends_with('\n'));
        let raw = b64(line.trim_end().rsplit(' ').next().unwrap());
        assert_eq!(raw.len(), 4 + 8 + 64);
        assert_eq!(&raw[..4], &w.key_id().to_be_bytes());
        assert_eq!(&raw[4..12], &1_679_315_147u64.to_be_bytes());
        // The signature is over the spec's message, checked with ring directly.
        let text = note.split_inclusive(|&b| b == b'\n').take(3).flatten();
        let mut msg = b"cosignature/v1\ntime 1679315147\n".to_vec();
        msg.extend(text);
        assert!(ed25519_verify(w.public_key(), &msg, &raw[12..]));

        let v = w.verifier();
        assert_eq!(v.verify(&note, &line).unwrap(), 1_679_315_147);
        // Another key under the same name: same name, other id: refused.
        let other = witness("witness.test/w1");
        assert!(other.verifier().verify(&note, &line).is_err());
        // The signature bytes relabelled with the other key's id: do not verify.
        let mut forged = other.key_id().to_be_bytes().to_vec();
        forged.extend_from_slice(&raw[4..]);
        let forged = format!("— witness.test/w1 {}\n", STANDARD.encode(forged));
        assert!(other.verifier().verify(&note, &forged).is_err());
        // The cosignature is of this checkpoint only.
        let note11 = signed(&log, &tree("a", 11), 11);
        assert!(v.verify(&note11, &line).is_err());
    }

    #[test]
    fn a_tampered_timestamp_fails() {
        let log = log_key();
        let w = witness("witness.test/w1");
        let note = signed(&log, &tree("a", 3), 3);
        let line = w.cosign(&note, 1_700_000_000).unwrap();
        let mut raw = b64(line.trim_end().rsplit(' ').next().unwrap());
        raw[11] ^= 1;
        let tampered = format!("— witness.test/w1 {}\n", STANDARD.encode(&raw));
        assert!(w.verifier().verify(&note, &tampered).is_err());
        // A timestamp above 2^63-1 is neither signed nor accepted.
        assert!(w.cosign(&note, MAX_TIMESTAMP + 1).is_err());
        raw[4] = 0x80;
        let high = format!("— witness.test/w1 {}\n", STANDARD.encode(&raw));
        assert!(w.verifier().verify(&note, &high).is_err());
    }

    #[test]
    fn verifier_keys_round_trip_and_refuse_other_types() {
        let w = witness("witness.test/w1");
        let vkey = w.verifier_key();
        let parts: Vec<&str> = vkey.splitn(3, '+').collect();
        assert_eq!(parts[0], "witness.test/w1");
        assert_eq!(
            u32::from_str_radix(parts[1], 16).unwrap(),
            key_id("witness.test/w1", 0x04, w.public_key())
        );
        assert_eq!(b64(parts[2])[0], ALG_COSIGNATURE_V1);
        assert_eq!(WitnessVerifier::parse(&vkey).unwrap(), w.verifier());
        // A log's (0x01) key is not a witness key, and a witness key opens no checkpoint.
        let log = log_key();
        assert!(WitnessVerifier::parse(&log.verifier_key()).is_err());
        let note = signed(&log, &tree("a", 1), 1);
        assert!(Checkpoint::open(&note, &vkey).is_err());
        for bad in [
            "",
            "witness.test/w1",
            &vkey.replacen('+', "+0", 1),
            &vkey.replacen(parts[1], &format!("{:08x}", w.key_id() ^ 1), 1),
            &vkey.replacen("witness.test/w1", "witness.test/w2", 1),
            &format!("{}+{}+{}", parts[0], parts[1], &parts[2][4..]),
        ] {
            assert!(WitnessVerifier::parse(bad).is_err(), "{bad}");
        }
        let upper = vkey.replacen(parts[1], &parts[1].to_uppercase(), 1);
        assert_eq!(WitnessVerifier::parse(&upper).is_ok(), upper == vkey);
    }

    #[test]
    fn cosignatures_added_to_a_note_count_towards_a_quorum_and_signed_note_agrees() {
        let log = log_key();
        let (w1, w2, w3) = (
            witness("witness.test/w1"),
            witness("witness.test/w2"),
            witness("witness.test/w3"),
        );
        let note = signed(&log, &tree("a", 300), 300);
        let l1 = w1.cosign(&note, 100).unwrap();
        let l2 = w2.cosign(&note, 200).unwrap();
        let cosigned = add_cosignatures(&note, &[l1.clone(), l2]).unwrap();
        let keys = [w1.verifier(), w2.verifier(), w3.verifier()];
        assert_eq!(
            cosigners(&cosigned, &keys).unwrap(),
            [
                Cosigned {
                    witness: 0,
                    timestamp: 100
                },
                Cosigned {
                    witness: 1,
                    timestamp: 200
                }
            ]
        );
        assert!(cosigners(&note, &keys).unwrap().is_empty());
        // The log's signature still opens it, and signed_note checks all three keys.
        assert!(Checkpoint::open(&cosigned, &log.verifier_key()).is_ok());
        let list = VerifierList::new(vec![
            Box::new(signed_note::StandardVerifier::new(&log.verifier_key()).unwrap()),
            Box::new(w1.verifier()),
            Box::new(w2.verifier()),
        ]);
        let (ok, unknown) = Note::from_bytes(&cosigned).unwrap().verify(&list).unwrap();
        assert_eq!((ok.len(), unknown.len()), (3, 0));
        // A newer line of the same key replaces the old one.
        let again = add_cosignatures(&cosigned, &[w1.cosign(&note, 150).unwrap()]).unwrap();
        assert_eq!(String::from_utf8_lossy(&again).matches("— ").count(), 3);
        assert_eq!(cosigners(&again, &keys).unwrap()[0].timestamp, 150);
        // A bad line of a known key rejects the note; an unknown key's line is ignored.
        let text = String::from_utf8(cosigned.clone()).unwrap();
        let sig = l1.trim_end().rsplit(' ').next().unwrap();
        let mut raw = b64(sig);
        raw[20] ^= 1;
        let broken = text.replace(sig, &STANDARD.encode(&raw));
        assert!(cosigners(broken.as_bytes(), &keys).is_err());
        assert_eq!(cosigners(broken.as_bytes(), &keys[1..]).unwrap().len(), 1);
        assert!(add_cosignatures(&note, &["— bad".to_string()]).is_err());
    }

    #[test]
    fn requests_round_trip_and_malformed_ones_are_refused() {
        let log = log_key();
        let map = tree("a", 20);
        let note = signed(&log, &map, 20);
        let req = AddCheckpoint {
            old_size: 7,
            proof: map.consistency(20, 7).unwrap(),
            note: note.clone(),
        };
        let body = req.to_bytes().unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.starts_with("old 7\n"), "{text}");
        assert!(text.contains(&format!("=\n\n{ORIGIN}\n20\n")), "{text}");
        assert_eq!(AddCheckpoint::parse(&body).unwrap(), req);
        assert_eq!(req.checkpoint().unwrap().size, 20);
        let first = format!("{}\n", STANDARD.encode(req.proof[0].0));
        let bad: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"garbage".to_vec(),
            text.replacen("old 7", "old 07", 1).into(),
            text.replacen("old 7", "old  7", 1).into(),
            text.replacen("old 7", "old -7", 1).into(),
            text.replacen("old 7", "Old 7", 1).into(),
            text.replacen("old 7", "old 21", 1).into(),
            text.replacen("old 7", "old 18446744073709551616", 1).into(),
            text.replacen(&first, "AAAA\n", 1).into(),
            text.replacen(&first, &first.replace('=', ""), 1).into(),
            text.replacen(&first, "not base64!\n", 1).into(),
            text.replacen("\n\n", "\n", 1).into(),
            text.replacen("\n\n", "\n \n", 1).into(),
            text.replacen("\n\n", "\r\n\n", 1).into(),
            body[..body.len() - 1].to_vec(),
            text.replace('—', "-").into(),
            text.replacen(&format!("{ORIGIN}\n20\n"), &format!("{ORIGIN}\n2x\n"), 1)
                .into(),
            text.replacen("\n\n", &format!("\n{}\n", first.repeat(64)), 1)
                .into(),
            [body.clone(), vec![b'x'; MAX_REQUEST_BYTES]].concat(),
        ];
        for b in &bad {
            assert!(
                AddCheckpoint::parse(b).is_err(),
                "{}",
                String::from_utf8_lossy(&b[..b.len().min(200)])
            );
        }
        // Exactly 63 proof lines parse (the proof is wrong, the shape is not).
        let many = text.replacen(
            &first,
            &first.repeat(MAX_PROOF_LINES - req.proof.len() + 1),
            1,
        );
        assert_eq!(
            AddCheckpoint::parse(many.as_bytes()).unwrap().proof.len(),
            MAX_PROOF_LINES
        );
        let too_long = AddCheckpoint {
            proof: vec![Hash([0; 32]); MAX_PROOF_LINES + 1],
            ..req
        };
        assert!(too_long.to_bytes().is_err());
    }

    #[test]
    fn the_witness_decision_follows_tlog_witness() {
        let map = tree("a", 40);
        let other = tree("b", 40);
        let cp = |m: &TileMap, size| Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: m.root(size).unwrap(),
        };
        let req = |old, proof: Vec<Hash>| AddCheckpoint {
            old_size: old,
            proof,
            note: Vec::new(),
        };
        // First contact: old 0 and no proof.
        check_request(None, &req(0, vec![]), &cp(&map, 10)).unwrap();
        assert!(matches!(
            check_request(None, &req(0, vec![Hash([1; 32])]), &cp(&map, 10)),
            Err(Error::Merkle(_))
        ));
        assert!(matches!(
            check_request(None, &req(5, vec![]), &cp(&map, 10)),
            Err(Error::OldSize { latest: 0 })
        ));
        // Growth with a proof from the last cosigned size.
        let last = cp(&map, 10);
        let proof = map.consistency(30, 10).unwrap();
        check_request(Some(&last), &req(10, proof.clone()), &cp(&map, 30)).unwrap();
        assert!(matches!(
            check_request(Some(&last), &req(10, proof.clone()), &cp(&other, 30)),
            Err(Error::Merkle(_))
        ));
        assert!(matches!(
            check_request(Some(&last), &req(0, vec![]), &cp(&map, 30)),
            Err(Error::OldSize { latest: 10 })
        ));
        // The same size: the same root is cosigned again, another root is a split view.
        check_request(Some(&last), &req(10, vec![]), &cp(&map, 10)).unwrap();
        assert!(matches!(
            check_request(Some(&last), &req(10, vec![]), &cp(&other, 10)),
            Err(Error::SplitView { size: 10, .. })
        ));
        assert!(matches!(
            check_request(Some(&last), &req(10, proof), &cp(&map, 10)),
            Err(Error::Merkle(_))
        ));
        // An empty tree has one root.
        check_request(None, &req(0, vec![]), &cp(&map, 0)).unwrap();
        let mut empty = cp(&map, 0);
        empty.root = Hash([7; 32]);
        assert!(check_request(None, &req(0, vec![]), &empty).is_err());
    }

    #[test]
    fn responses_and_size_bodies_parse_strictly() {
        let log = log_key();
        let w = witness("witness.test/w1");
        let note = signed(&log, &tree("a", 5), 5);
        let l1 = w.cosign(&note, 1).unwrap();
        let l2 = w.cosign(&note, 2).unwrap();
        let body = format!("{l1}{l2}");
        assert_eq!(parse_response(body.as_bytes()).unwrap(), [l1.clone(), l2]);
        for bad in [
            "".to_string(),
            "\n".to_string(),
            l1.trim_end().to_string(),
            format!("{l1}\n"),
            l1.replace('—', "-"),
            format!("{l1}garbage\n"),
            l1.repeat(MAX_RESPONSE_LINES + 1),
        ] {
            assert!(parse_response(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_response(&[0xff, b'\n']).is_err());
        assert_eq!(
            parse_size_body(size_body(20_852_014).as_bytes()).unwrap(),
            20_852_014
        );
        for bad in ["", "12", "012\n", "1 2\n", "-1\n", "12\n\n"] {
            assert!(parse_size_body(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_fork_is_two_log_signed_checkpoints_of_one_size() {
        let log = log_key();
        let (w1, w2) = (witness("witness.test/w1"), witness("witness.test/w2"));
        let keys = [w1.verifier(), w2.verifier()];
        let (a, b) = (tree("a", 50), tree("b", 50));
        let na = signed(&log, &a, 50);
        let nb = signed(&log, &b, 50);
        let ca = add_cosignatures(&na, &[w1.cosign(&na, 1).unwrap()]).unwrap();
        let cb = add_cosignatures(&nb, &[w2.cosign(&nb, 2).unwrap()]).unwrap();
        let fork = find_fork(&log.verifier_key(), &keys, &ca, &cb)
            .unwrap()
            .unwrap();
        assert_eq!(fork.origin, ORIGIN);
        assert_eq!(fork.size, 50);
        assert_eq!(fork.roots, [a.root(50).unwrap(), b.root(50).unwrap()]);
        assert_eq!(
            fork.cosigners,
            [
                vec!["witness.test/w1".to_string()],
                vec!["witness.test/w2".to_string()]
            ]
        );
        // The same tree twice, or two sizes, is no fork.
        assert_eq!(
            find_fork(&log.verifier_key(), &keys, &ca, &na).unwrap(),
            None
        );
        let n40 = signed(&log, &a, 40);
        assert_eq!(
            find_fork(&log.verifier_key(), &keys, &ca, &n40).unwrap(),
            None
        );
        // A checkpoint the log did not sign is no evidence.
        let stranger = log_key();
        let forged = signed(&stranger, &b, 50);
        assert!(find_fork(&log.verifier_key(), &keys, &ca, &forged).is_err());
    }

    #[test]
    fn a_log_key_must_be_named_for_its_origin() {
        let log = log_key();
        check_log_key(ORIGIN, &log.verifier_key()).unwrap();
        assert!(check_log_key("other.test/log", &log.verifier_key()).is_err());
        assert!(check_log_key(ORIGIN, &witness(ORIGIN).verifier_key()).is_err());
        assert!(check_log_key(ORIGIN, "garbage").is_err());
    }
}
