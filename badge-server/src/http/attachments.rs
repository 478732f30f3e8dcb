//! Attachments over HTTP: the status of a refusal, the early size check, and
//! downloads served so that no file runs as a page of our origin.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::domain::attachment::{MediaType, Refusal, RefusalClass, Stored};

/// 413 for size, 415 for a type we do not take (active PDFs included), 422 for a
/// file of a type we take that is broken or too large in pixels.
pub fn status(refusal: &Refusal) -> StatusCode {
    match refusal.class() {
        RefusalClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RefusalClass::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RefusalClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Whether a request's `Content-Length` announces more than `max` bytes: refused
/// (413) before a byte of the body is read.
pub fn declares_more_than(headers: &HeaderMap, max: usize) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64)
}

/// Characters left as they are in an RFC 8187 `filename*` value (`attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` with the name twice: as UTF-8 in `filename*`
/// (RFC 6266, 8187) and as an ASCII stand-in in `filename` for old clients.
pub fn content_disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The download of a stored attachment as `name`: the type sniffed at upload and
/// nothing that lets a browser treat it as a page of ours: `attachment` (saved, not
/// shown), `nosniff` (the type is not second-guessed), `sandbox; default-src 'none'`
/// (opened anyway, it runs no script and loads nothing, in an opaque origin), and
/// `private, no-store` (evidence with personal data stays out of shared caches).
pub fn download(stored: &Stored, name: &str, content: Vec<u8>) -> Response {
    // Only a type we take is ever stored (the table checks it too).
    let media_type = MediaType::from_stored(&stored.media_type)
        .map_or("application/octet-stream", MediaType::as_str);
    let mut r = (StatusCode::OK, content).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    h.insert(CONTENT_DISPOSITION, content_disposition(name));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_download_name_is_utf8_in_filename_star_and_ascii_in_filename() {
        let v = content_disposition("截图 1;\"x\".png");
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"__ 1;_x_.png\"; \
             filename*=UTF-8''%E6%88%AA%E5%9B%BE%201%3B%22x%22.png"
        );
    }
}
