//! Content negotiation of `Accept-Encoding` (RFC 9110 §12.5.3) for the precompressed
//! seal: which of the codings we made a client prefers, by its q-values.
//!
//! A header we cannot read (not ASCII, a malformed element or q-value) is never an
//! error: the unreadable elements are skipped, and a client that names nothing we
//! have gets the plain bytes.

use axum::http::HeaderValue;
use axum::http::header::GetAll;

use crate::domain::seal::Coding;

/// The coding of `offered` (best first, as the server ranks them) that the client's
/// `Accept-Encoding` lines prefer, or `None` for the plain bytes.
///
/// A coding is acceptable with the q-value given for it, else that of `*`, else not
/// at all. The plain bytes are acceptable unless excluded (`identity;q=0`, or `*;q=0`
/// without an `identity` entry); a coding is chosen over them unless the client gave
/// `identity` (or `*`) a higher q-value. Ties go to the server's order.
pub fn negotiate(
    accept: GetAll<'_, HeaderValue>,
    offered: impl Iterator<Item = Coding>,
) -> Option<Coding> {
    // The q-value of the first element naming each token (read in one pass, with
    // nothing allocated: this runs on every seal).
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for line in accept {
        let Ok(line) = line.to_str() else { continue };
        for (token, q) in line.split(',').filter_map(element) {
            let slot = match token {
                Token::Coding(Coding::Br) => &mut br,
                Token::Coding(Coding::Gzip) => &mut gzip,
                Token::Identity => &mut identity,
                Token::Any => &mut any,
                Token::Other => continue,
            };
            slot.get_or_insert(q);
        }
    }
    let identity = identity.or(any);
    let mut best: Option<(Coding, u16)> = None;
    for coding in offered {
        let named = match coding {
            Coding::Br => br,
            Coding::Gzip => gzip,
        };
        let Some(q) = named.or(any) else {
            continue;
        };
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((coding, q));
        }
    }
    match (best, identity) {
        (Some((coding, q)), Some(i)) if q >= i => Some(coding),
        (Some((coding, _)), None) => Some(coding),
        _ => None,
    }
}

/// What an element of `Accept-Encoding` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Coding(Coding),
    Identity,
    Any,
    Other,
}

/// One element (`coding[;q=…]`) as the token and its q-value in thousandths, or
/// `None` when it cannot be read (then it is ignored).
fn element(raw: &str) -> Option<(Token, u16)> {
    let mut parts = raw.split(';');
    let name = parts.next()?.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let token = if name.eq_ignore_ascii_case("br") {
        Token::Coding(Coding::Br)
    } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
        Token::Coding(Coding::Gzip)
    } else if name.eq_ignore_ascii_case("identity") {
        Token::Identity
    } else if name == "*" {
        Token::Any
    } else {
        Token::Other
    };
    let mut q = 1000;
    for param in parts {
        let (key, value) = param.split_once('=')?;
        if key.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some((token, q))
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`; at most three decimals) in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, place)| u16::from(digit - b'0') * place)
        .sum::<u16>();
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use axum::http::header::ACCEPT_ENCODING;

    use super::*;

    fn pick(lines: &[&[u8]]) -> Option<Coding> {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(ACCEPT_ENCODING, HeaderValue::from_bytes(l).unwrap());
        }
        negotiate(
            h.get_all(ACCEPT_ENCODING),
            [Coding::Br, Coding::Gzip].into_iter(),
        )
    }

    #[test]
    fn browsers_get_brotli_and_others_what_they_name_by_q_value() {
        use Coding::{Br, Gzip};
        // What Chromium and Firefox send.
        assert_eq!(pick(&[b"gzip, deflate, br, zstd"]), Some(Br));
        assert_eq!(pick(&[b"gzip, deflate"]), Some(Gzip));
        assert_eq!(pick(&[b"x-gzip"]), Some(Gzip));
        assert_eq!(pick(&[b"GZIP;Q=0.5"]), Some(Gzip));
        assert_eq!(pick(&[b"br;q=0.5, gzip;q=0.8"]), Some(Gzip));
        assert_eq!(
            pick(&[b"br;q=0.8, gzip;q=0.8"]),
            Some(Br),
            "ties go to our order"
        );
        assert_eq!(pick(&[b"*"]), Some(Br));
        assert_eq!(pick(&[b"*;q=0.3, br;q=0"]), Some(Gzip));
        assert_eq!(pick(&[b"deflate", b"gzip"]), Some(Gzip), "several lines");
    }

    #[test]
    fn identity_is_chosen_when_asked_for_or_nothing_we_have_is_acceptable() {
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[b"identity"]), None);
        assert_eq!(pick(&[b"deflate, zstd"]), None);
        assert_eq!(pick(&[b"gzip;q=0, br;q=0"]), None);
        assert_eq!(
            pick(&[b"gzip;q=0.5, identity"]),
            None,
            "identity ranks higher"
        );
        assert_eq!(pick(&[b"gzip, identity;q=0.5"]), Some(Coding::Gzip));
    }

    #[test]
    fn unreadable_headers_and_elements_are_ignored_not_errors() {
        assert_eq!(
            pick(&[b"\xff\xfe br"]),
            None,
            "not ASCII: the line is skipped"
        );
        assert_eq!(
            pick(&[b"br;q=2, gzip"]),
            Some(Coding::Gzip),
            "a q over 1 is not a q-value"
        );
        assert_eq!(pick(&[b"br;q=0.0001"]), None, "four decimals");
        assert_eq!(pick(&[b"br;q=abc"]), None);
        assert_eq!(pick(&[b"br;q"]), None);
        assert_eq!(pick(&[b",,, ;;, br"]), Some(Coding::Br));
        assert_eq!(
            pick(&[b"br;level=3"]),
            Some(Coding::Br),
            "other parameters are ignored"
        );
        assert_eq!(pick(&[&[b'a'; 8000]]), None);
    }
}
