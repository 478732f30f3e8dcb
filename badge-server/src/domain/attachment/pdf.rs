//! PDFs, parsed with a real PDF library (`lopdf`) and written out again from what it
//! parsed, so that what we store and serve is exactly what was inspected.
//!
//! A byte filter over the upload cannot see inside compressed object streams (PDF 1.5,
//! ISO 32000-1 §7.5.7), so a script there passed it; and keeping the upload as sent kept
//! its document information (`/Author` can name the complainant) and XMP metadata.
//! Here the document is loaded (object streams expanded, within a decompression
//! bound), every object is walked, and:
//!
//! - **active content is refused**: actions that run script, open links or other
//!   files, submit or import form data, or play media (`/S /JavaScript`, `/URI`,
//!   `/Launch`, `/SubmitForm`, `/ImportData`, `/GoToR`, `/GoToE`, …), triggers
//!   (`/AA`), script name trees (`/JavaScript`, `/JS`), XFA forms (`/XFA`), embedded
//!   files (`/EmbeddedFile(s)`, `/EF`), rich media, and encryption (which would hide
//!   all of it);
//! - **metadata is removed**: the trailer's `/Info` and `/ID`, every `/Metadata`
//!   stream and `/PieceInfo` (application private data);
//! - the document is **written anew** with a classic cross-reference table: objects
//!   the library could not parse, object-stream containers and anything after the
//!   last `%%EOF` (a polyglot's tail) are not in it.
//!
//! Refusing rather than stripping actions keeps the evidence honest: a PDF whose
//! links were silently cut would not be the document the party sent.

use lopdf::{Dictionary, Document, LoadOptions, Object};

use super::{AttachmentLimits, Refusal};

/// Action types (`/S`, ISO 32000-1 §12.6.4) that reach outside the document or run
/// something, as the refusal names them.
const ACTIVE_ACTIONS: [&str; 13] = [
    "/JavaScript",
    "/Launch",
    "/URI",
    "/SubmitForm",
    "/ImportData",
    "/ResetForm",
    "/GoToR",
    "/GoToE",
    "/Rendition",
    "/Movie",
    "/Sound",
    "/RichMediaExecute",
    "/Hide",
];

/// Dictionary keys that carry script, triggers, forms or files whatever their value.
const ACTIVE_KEYS: [&str; 9] = [
    "/JS",
    "/JavaScript",
    "/AA",
    "/XFA",
    "/EmbeddedFile",
    "/EmbeddedFiles",
    "/EF",
    "/RichMediaContent",
    "/RichMediaSettings",
];

/// Object types and annotation subtypes that are files or media.
const ACTIVE_TYPES: [&str; 6] = [
    "/EmbeddedFile",
    "/FileAttachment",
    "/RichMedia",
    "/Screen",
    "/Movie",
    "/Sound",
];

/// Keys removed from every dictionary: XMP metadata and application private data.
const METADATA_KEYS: [&[u8]; 2] = [b"Metadata", b"PieceInfo"];

/// Loads `bytes`, refuses active content and returns the document rewritten without
/// metadata.
pub(super) fn sanitize(bytes: &[u8], limits: &AttachmentLimits) -> Result<Vec<u8>, Refusal> {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(Refusal::TruncatedPdf);
    }
    let options = LoadOptions {
        max_decompressed_size: usize::try_from(limits.max_alloc()).ok(),
        ..LoadOptions::default()
    };
    // A parser bug must cost the upload, not the worker thread: a panic is a refusal.
    let loaded = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options))
        .map_err(|_| Refusal::UnreadablePdf("the PDF parser gave up".into()))?;
    let mut doc = loaded.map_err(|e| Refusal::UnreadablePdf(e.to_string()))?;
    if doc.is_encrypted() || doc.trailer.has(b"Encrypt") {
        return Err(Refusal::ActivePdf("/Encrypt"));
    }
    for object in doc.objects.values() {
        if let Some(found) = active_in(object) {
            return Err(Refusal::ActivePdf(found));
        }
    }
    if let Some(found) = active_in_dict(&doc.trailer) {
        return Err(Refusal::ActivePdf(found));
    }
    strip_metadata(&mut doc);
    let mut out = Vec::new();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.save_to(&mut out)))
        .map_err(|_| Refusal::UnreadablePdf("the PDF could not be written again".into()))?
        .map_err(|e| Refusal::UnreadablePdf(e.to_string()))?;
    Ok(out)
}

/// The first active construct in `object` (recursively), as the name to show.
fn active_in(object: &Object) -> Option<&'static str> {
    match object {
        Object::Dictionary(d) => active_in_dict(d),
        Object::Stream(s) => active_in_dict(&s.dict),
        Object::Array(items) => items.iter().find_map(active_in),
        _ => None,
    }
}

fn active_in_dict(dict: &Dictionary) -> Option<&'static str> {
    let named = |table: &[&'static str], name: &[u8]| {
        table.iter().copied().find(|t| &t.as_bytes()[1..] == name)
    };
    let value_in = |key: &[u8], table: &[&'static str]| match dict.get(key) {
        Ok(Object::Name(n)) => named(table, n),
        _ => None,
    };
    let direct = value_in(b"S", &ACTIVE_ACTIONS)
        .or_else(|| value_in(b"Type", &ACTIVE_TYPES))
        .or_else(|| value_in(b"Subtype", &ACTIVE_TYPES));
    direct.or_else(|| {
        dict.iter()
            .find_map(|(key, value)| named(&ACTIVE_KEYS, key).or_else(|| active_in(value)))
    })
}

/// Drops the document information, identifiers, XMP metadata and private data, then
/// every object nothing refers to any more (the old `/Info` dictionary, metadata
/// streams, object-stream containers).
fn strip_metadata(doc: &mut Document) {
    doc.trailer.remove(b"Info");
    doc.trailer.remove(b"ID");
    for object in doc.objects.values_mut() {
        let dict = match object {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &mut s.dict,
            _ => continue,
        };
        for key in METADATA_KEYS {
            dict.remove(key);
        }
    }
    doc.objects.retain(|_, o| {
        !matches!(o, Object::Stream(s) if s.dict.has_type(b"ObjStm") || s.dict.has_type(b"XRef") || s.dict.has_type(b"Metadata"))
    });
    doc.prune_objects();
    doc.renumber_objects();
    doc.trailer.set("Size", i64::from(doc.max_id) + 1);
}
