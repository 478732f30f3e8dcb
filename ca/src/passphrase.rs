//! The passphrases that encrypt the CA's key files, and the rules `ca init` holds them
//! to.
//!
//! The root key and the issuing key have a passphrase each: the root key is kept
//! offline and brought in only to create or replace an issuing CA, so the passphrase
//! the online CA holds (in its environment or a file beside it) must not open it.

use crate::{Error, Result};

/// Shortest passphrase `ca init` accepts, in bytes.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// The two passphrases `ca init` encrypts the keys with.
#[derive(Clone, Copy)]
pub struct KeyPassphrases<'a> {
    /// Encrypts `root.key.pem` (`CHENGXIN_CA_ROOT_PASSPHRASE_FILE` or
    /// `CHENGXIN_CA_ROOT_PASSPHRASE`).
    pub root: &'a [u8],
    /// Encrypts `issuing.key.pem` (`CHENGXIN_CA_PASSPHRASE_FILE` or
    /// `CHENGXIN_CA_PASSPHRASE`); `None` when the issuing key is in a token.
    pub issuing: Option<&'a [u8]>,
}

impl std::fmt::Debug for KeyPassphrases<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPassphrases(..)")
    }
}

impl KeyPassphrases<'_> {
    /// Refuses a passphrase that is short or easy to guess ([`check_strength`]), and an
    /// issuing passphrase equal to the root one.
    pub fn check(&self) -> Result<()> {
        check_strength("root key", self.root)?;
        if let Some(issuing) = self.issuing {
            check_strength("issuing key", issuing)?;
            if issuing == self.root {
                return Err(Error::SamePassphrase);
            }
        }
        Ok(())
    }
}

/// Words that make up the most common passwords (the top of the published leak
/// lists, in English and in pinyin), and this project's own name. A passphrase made of
/// nothing but these, keyboard or alphabet runs and a few filler characters is among
/// the first guesses of any cracking dictionary.
const COMMON_WORDS: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "passphrase",
    "pass",
    "qwerty",
    "iloveyou",
    "admin",
    "administrator",
    "welcome",
    "letmein",
    "monkey",
    "dragon",
    "master",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "shadow",
    "superman",
    "trustno1",
    "changeme",
    "secret",
    "default",
    "root",
    "login",
    "guest",
    "test",
    "hello",
    "love",
    "woaini",
    "aini",
    "zhongguo",
    "china",
    "beijing",
    "shanghai",
    "chengxin",
    "qazwsx",
];

/// Sequences people type instead of choosing: the alphabet and the digits (twice, so a
/// run may wrap), keyboard rows and columns, the shifted digit row. A run is any
/// stretch of three or more characters of one of these, forwards or backwards.
const SEQUENCES: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "0123456789012345678901234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
    "!@#$%^&*()",
];

/// At most this many pieces (common words, runs, and fillers of one or two
/// characters) make a passphrase guessable: `password` + `1234`, `iloveyou` + `20` +
/// `24`, `qwertyuiop` + `12`.
const MAX_GUESSABLE_PIECES: usize = 3;

/// Refuses a passphrase shorter than [`MIN_PASSPHRASE_LEN`] or trivially weak: fewer
/// than four different characters, one short unit repeated (`abcabcabcabc`), or
/// nothing but common passwords, keyboard or alphabet runs and filler
/// (`aaaaaaaaaaaa`, `123456789012`, `abcdefghijkl`, `qwertyuiop12`, `password1234`).
/// `which` names the key in the message.
pub fn check_strength(which: &'static str, passphrase: &[u8]) -> Result<()> {
    let weak = |reason: String| Error::WeakPassphrase { which, reason };
    if passphrase.len() < MIN_PASSPHRASE_LEN {
        return Err(weak(format!(
            "it has {} bytes; at least {MIN_PASSPHRASE_LEN} are required",
            passphrase.len()
        )));
    }
    let text: Vec<char> = String::from_utf8_lossy(passphrase)
        .to_lowercase()
        .chars()
        .collect();
    let mut distinct = text.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err(weak(format!(
            "it uses only {} different characters",
            distinct.len()
        )));
    }
    let n = text.len();
    if let Some(unit) =
        (1..=n / 2).find(|&u| n.is_multiple_of(u) && text.chunks(u).all(|c| c == &text[..u]))
    {
        return Err(weak(format!(
            "it repeats a unit of {unit} characters {} times",
            n / unit
        )));
    }
    if let Some(pieces) = guessable_pieces(&text) {
        return Err(weak(format!(
            "it is made only of common passwords, keyboard or alphabet runs and filler ({})",
            pieces.join(" + ")
        )));
    }
    Ok(())
}

/// The fewest pieces (common words, runs of [`SEQUENCES`] or of one character, and
/// fillers of one or two characters) that spell `text`, when there are at most
/// [`MAX_GUESSABLE_PIECES`]; `None` otherwise. The fillers are shown as `…`.
fn guessable_pieces(text: &[char]) -> Option<Vec<String>> {
    let n = text.len();
    // best[i]: the cheapest spelling of text[..i] — fewest pieces, then fewest
    // fillers — by where its last piece starts and whether that piece is filler.
    #[derive(Clone, Copy)]
    struct Step {
        cost: (usize, usize),
        start: usize,
        filler: bool,
    }
    let mut best: Vec<Option<Step>> = vec![None; n + 1];
    best[0] = Some(Step {
        cost: (0, 0),
        start: 0,
        filler: false,
    });
    for start in 0..n {
        let Some(Step {
            cost: (pieces, fillers),
            ..
        }) = best[start]
        else {
            continue;
        };
        if pieces >= MAX_GUESSABLE_PIECES {
            continue;
        }
        let mut relax = |end: usize, filler: bool| {
            let cost = (pieces + 1, fillers + usize::from(filler));
            if best[end].is_none_or(|s| s.cost > cost) {
                best[end] = Some(Step {
                    cost,
                    start,
                    filler,
                });
            }
        };
        for end in start + 1..=n.min(start + 2) {
            relax(end, true);
        }
        for end in start + 3..=n {
            let piece: String = text[start..end].iter().collect();
            if is_common_word(&piece) || is_run(&text[start..end]) {
                relax(end, false);
            }
        }
    }
    best[n]?;
    let mut pieces = Vec::new();
    let mut end = n;
    while end > 0 {
        let Step { start, filler, .. } = best[end]?;
        pieces.push(if filler {
            "…".to_string()
        } else {
            text[start..end].iter().collect()
        });
        end = start;
    }
    pieces.reverse();
    Some(pieces)
}

fn is_common_word(piece: &str) -> bool {
    COMMON_WORDS.contains(&piece)
}

/// One character repeated, or a stretch of one of [`SEQUENCES`], either way round.
fn is_run(piece: &[char]) -> bool {
    if piece.iter().all(|c| *c == piece[0]) {
        return true;
    }
    let forwards: String = piece.iter().collect();
    let backwards: String = piece.iter().rev().collect();
    SEQUENCES
        .iter()
        .any(|s| s.contains(&forwards) || s.contains(&backwards))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(p: &str) -> String {
        match check_strength("root key", p.as_bytes()) {
            Err(Error::WeakPassphrase { reason, .. }) => reason,
            other => panic!("{p:?} was not refused as weak: {other:?}"),
        }
    }

    #[test]
    fn a_short_passphrase_is_refused_with_the_minimum() {
        assert!(reason("short-pass").contains("at least 12"));
    }

    #[test]
    fn one_character_and_repeated_short_units_are_refused() {
        assert!(reason("aaaaaaaaaaaaaaaa").contains("only 1 different"));
        assert!(reason("abababababab").contains("only 2 different"));
        assert!(reason("abcdabcdabcd").contains("repeats a unit of 4"));
        assert!(reason("passwordpassword").contains("repeats a unit of 8"));
        assert!(reason("Xk9!Xk9!Xk9!Xk9!").contains("repeats a unit of 4"));
    }

    #[test]
    fn sequences_and_keyboard_runs_are_refused() {
        for p in [
            "123456789012",
            "abcdefghijklmnop",
            "ZYXWVUTSRQPONM",
            "987654321098",
            "qwertyuiopasdf",
            "1q2w3e4r5t6y",
            "1qaz2wsx3edc",
            "!@#$%^&*()!@",
        ] {
            assert!(reason(p).contains("keyboard or alphabet runs"), "{p}");
        }
    }

    #[test]
    fn common_passwords_with_digits_or_symbols_around_them_are_refused() {
        for (p, pieces) in [
            ("password1234", "password + 1234"),
            ("Password123!", "password + 123 + …"),
            ("iloveyou2024", "iloveyou + … + …"),
            ("qwerty123456", "qwerty + 123456"),
            ("admin@123456", "admin + … + 123456"),
            ("woaini123456", "woaini + 123456"),
            ("chengxin2026", "chengxin + … + …"),
        ] {
            let r = reason(p);
            assert!(r.contains("common passwords"), "{p}: {r}");
            assert!(r.contains(&format!("({pieces})")), "{p}: {r}");
        }
    }

    #[test]
    fn real_passphrases_pass() {
        for p in [
            "correct-horse-battery-staple",
            "recheck-test-passphrase",
            "Tr0ub4dor&3-extended",
            "诚信根密钥口令请妥善保管",
            "9f86d081884c7d659a2feaa0c55ad015",
            "password-is-not-this-one-2024",
        ] {
            check_strength("root key", p.as_bytes()).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn the_issuing_passphrase_must_differ_from_the_root_passphrase() {
        let same = KeyPassphrases {
            root: b"correct-horse-battery-staple",
            issuing: Some(b"correct-horse-battery-staple"),
        };
        assert!(matches!(same.check(), Err(Error::SamePassphrase)));
        let two = KeyPassphrases {
            root: b"correct-horse-battery-staple",
            issuing: Some(b"purple-monkey-dishwasher-42"),
        };
        two.check().unwrap();
        let hsm = KeyPassphrases {
            root: b"correct-horse-battery-staple",
            issuing: None,
        };
        hsm.check().unwrap();
        let weak_issuing = KeyPassphrases {
            root: b"correct-horse-battery-staple",
            issuing: Some(b"password1234"),
        };
        match weak_issuing.check() {
            Err(Error::WeakPassphrase { which, .. }) => assert_eq!(which, "issuing key"),
            other => panic!("{other:?}"),
        }
    }
}
