//! Complaint attachments: screenshots and PDFs that a party adds to a complaint as
//! evidence. This module is the pure part: what an upload must be to be taken, and
//! how it is made fit to store and serve.
//!
//! An upload becomes an [`Attachment`] only through [`Attachment::parse`] (parse,
//! don't validate): holding one means the bytes are of a type we take, within the
//! limits, and fit to store and serve. What it checks, and why:
//!
//! - **The type is sniffed from the bytes**, never taken from the client's
//!   `Content-Type` or the file name, which the client chooses freely: the image
//!   crate's signature check ([`image::guess_format`]) for PNG, JPEG and WebP, and the
//!   `%PDF-` header for PDF. Everything else is refused, SVG and HTML first among them
//!   since both can carry script.
//! - **Images must decode, and are re-encoded** in their own format (PNG → PNG, JPEG
//!   → JPEG at quality 90, WebP → lossless WebP), so what is stored is only the
//!   pixels: EXIF (with its GPS position), text chunks, colour profiles and anything
//!   after the image data (the tail of a polyglot file) are gone. The EXIF orientation
//!   is applied to the pixels first, so a phone photo still shows the right way up.
//! - **Decompression bombs**: the pixel count is read from the header and checked
//!   before any pixel buffer is allocated, and the decoder gets an allocation limit
//!   to match ([`image::Limits`]).
//! - **PDFs are parsed with a PDF library and written anew** without metadata;
//!   scripts, links, form actions, embedded files, media and encryption are refused,
//!   wherever they are, compressed object streams included (the `pdf` module says how).
//! - **Sizes**: at most [`AttachmentLimits::max_bytes`] per file (5 MiB by default),
//!   uploaded and as stored (re-encoding can make a file larger), and at most
//!   [`AttachmentLimits::per_complaint`] (5) files per complaint.
//!
//! The bytes are stored in the database (`complaint_attachments`, migration 0012,
//! [`crate::store::attachments`]), not on disk: outside any web root by construction,
//! the same for every replica (two servers share one PostgreSQL), and written in the
//! transaction of the upload's timeline event and audit entry
//! ([`crate::service::attachments::attach`]), so a failed upload leaves nothing behind.
//!
//! They are served only as downloads ([`crate::http::attachments::download`]): with the sniffed type,
//! `Content-Disposition: attachment`, `nosniff`, a sandboxing CSP and no caching, so
//! that even a file that slipped through does not run as a page of our origin.

use std::io::Cursor;

mod pdf;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

/// How much an upload may be. The defaults are those of `badge-server serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// Largest file in bytes, uploaded and as stored.
    pub max_bytes: usize,
    /// Most attachments one complaint may have.
    pub per_complaint: i64,
    /// Most pixels an image may have (width × height), checked before decoding. 16 MP
    /// covers phone photos and long screenshots; a decode then allocates at most
    /// [`AttachmentLimits::max_alloc`].
    pub max_pixels: u64,
    /// Uploads (taken or refused) one account may make per hour: a refused image bomb
    /// costs CPU too, so refusals count.
    pub uploads_per_hour: u32,
    /// Images decoded at once, across all uploaders.
    pub decodes_at_once: usize,
    /// How long an upload waits for a decoding slot before it is answered 429.
    pub decode_wait: std::time::Duration,
}

impl AttachmentLimits {
    /// The most a decoder may allocate: the largest image taken at 16 bits × 4
    /// channels, and 16 MiB for the decoder's own buffers and metadata chunks.
    pub fn max_alloc(&self) -> u64 {
        self.max_pixels
            .saturating_mul(8)
            .saturating_add(16 * 1024 * 1024)
    }
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        AttachmentLimits {
            max_bytes: 5 * 1024 * 1024,
            per_complaint: 5,
            max_pixels: 16_000_000,
            uploads_per_hour: 30,
            decodes_at_once: 1,
            decode_wait: std::time::Duration::from_secs(10),
        }
    }
}

/// What a browser's `multipart/form-data` upload adds around the file: boundaries,
/// part headers and the CSRF token. The page's upload route takes at most
/// `max_bytes` plus this; the API's raw upload takes `max_bytes` exactly.
pub const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// JPEG quality of re-encoded photos: visually the same, a fraction of the size of
/// lossless.
const JPEG_QUALITY: u8 = 90;

/// Longest display name, in characters.
const MAX_NAME: usize = 120;

/// The types we take, as sniffed from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/webp`.
    WebP,
    /// `application/pdf`.
    Pdf,
}

impl MediaType {
    /// Every type we take.
    pub const ALL: [MediaType; 4] = [
        MediaType::Png,
        MediaType::Jpeg,
        MediaType::WebP,
        MediaType::Pdf,
    ];

    /// The media type, as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Png => "image/png",
            MediaType::Jpeg => "image/jpeg",
            MediaType::WebP => "image/webp",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// File extensions of the type, the usual one first.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaType::Png => &["png"],
            MediaType::Jpeg => &["jpg", "jpeg"],
            MediaType::WebP => &["webp"],
            MediaType::Pdf => &["pdf"],
        }
    }

    /// The type of a stored name.
    pub fn from_stored(s: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Why an upload was refused. The message (English) goes to API clients; pages show
/// [`Refusal::zh`] beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nothing was sent.
    #[error("the file is empty")]
    Empty,
    /// More than [`AttachmentLimits::max_bytes`].
    #[error("the file is larger than {max} bytes, the most taken")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Re-encoded (or, a PDF, rewritten), the file is over the limit (a small but very
    /// compressible file).
    #[error(
        "re-encoded without its metadata the file is {size} bytes; at most {max} are taken: send it smaller"
    )]
    TooLargeReencoded {
        /// Bytes after re-encoding.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not PNG, JPEG, WebP or PDF, by its content.
    #[error(
        "only PNG, JPEG and WebP images and PDF documents are taken; the type is decided by the content, not the file name or Content-Type"
    )]
    UnsupportedType,
    /// Width × height over [`AttachmentLimits::max_pixels`].
    #[error("the image is {width} × {height} pixels; at most {max} pixels are taken")]
    TooManyPixels {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// Looks like an image but does not decode.
    #[error("the image does not decode (truncated or damaged?): {0}")]
    Undecodable(String),
    /// A PDF without `%%EOF` at its end.
    #[error("the PDF does not end with %%EOF: it is truncated or damaged")]
    TruncatedPdf,
    /// A PDF that the PDF library cannot read.
    #[error("the PDF cannot be read: {0}")]
    UnreadablePdf(String),
    /// A PDF with scripts, links, form actions, embedded files, media or encryption.
    #[error(
        "PDFs with {0} (scripts, links, form actions, launch actions, embedded files, media, encryption) are not taken"
    )]
    ActivePdf(&'static str),
}

/// The three kinds of refusal a client must tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalClass {
    /// Over a size limit.
    TooLarge,
    /// Not a type we take, or one with active content.
    UnsupportedType,
    /// A type we take, but broken, empty or too many pixels.
    Unprocessable,
}

impl Refusal {
    /// Too large, a type we do not take (active PDFs included), or a file of a type
    /// we take that is broken or too large in pixels: what the HTTP answer says
    /// (413, 415, 422).
    pub fn class(&self) -> RefusalClass {
        match self {
            Refusal::TooLarge { .. } | Refusal::TooLargeReencoded { .. } => RefusalClass::TooLarge,
            Refusal::UnsupportedType | Refusal::ActivePdf(_) => RefusalClass::UnsupportedType,
            Refusal::Empty
            | Refusal::TooManyPixels { .. }
            | Refusal::Undecodable(_)
            | Refusal::UnreadablePdf(_)
            | Refusal::TruncatedPdf => RefusalClass::Unprocessable,
        }
    }

    /// The reason in Chinese, for pages.
    pub fn zh(&self) -> String {
        match self {
            Refusal::Empty => "文件为空。".into(),
            Refusal::TooLarge { max, .. } => format!("文件过大，单个文件最大 {} 字节。", max),
            Refusal::TooLargeReencoded { max, .. } => {
                format!(
                    "去除元数据后重新编码的文件超过 {} 字节，请缩小后再上传。",
                    max
                )
            }
            Refusal::UnsupportedType => {
                "仅接受 PNG、JPEG、WebP 图片和 PDF 文件（按文件内容判断，而非文件名或声明的类型）。"
                    .into()
            }
            Refusal::TooManyPixels { max, .. } => format!("图片像素过多，最多 {} 像素。", max),
            Refusal::Undecodable(_) => "图片无法解码，可能已损坏或不完整。".into(),
            Refusal::TruncatedPdf => "PDF 文件不完整（缺少 %%EOF 结尾）。".into(),
            Refusal::UnreadablePdf(_) => "PDF 文件无法解析，可能已损坏。".into(),
            Refusal::ActivePdf(name) => format!(
                "不接受含脚本、链接、表单动作、启动动作、嵌入文件、多媒体或加密的 PDF（发现 {name}）。"
            ),
        }
    }
}

/// An upload that passed every check: its sniffed type, the bytes to store
/// (re-encoded for images), their SHA-256 and the name to show.
#[derive(Debug, Clone)]
pub struct Attachment {
    media_type: MediaType,
    content: Vec<u8>,
    sha256: String,
    name: String,
}

impl Attachment {
    /// Parses an upload: `bytes` as sent, `name` as the client gave it (used for
    /// display only, never for the type).
    pub fn parse(
        bytes: &[u8],
        name: Option<&str>,
        limits: &AttachmentLimits,
    ) -> Result<Attachment, Refusal> {
        if bytes.is_empty() {
            return Err(Refusal::Empty);
        }
        if bytes.len() > limits.max_bytes {
            return Err(Refusal::TooLarge {
                max: limits.max_bytes,
            });
        }
        let (media_type, content) = if bytes.starts_with(b"%PDF-") {
            (MediaType::Pdf, pdf::sanitize(bytes, limits)?)
        } else {
            let media_type = match image::guess_format(bytes) {
                Ok(ImageFormat::Png) => MediaType::Png,
                Ok(ImageFormat::Jpeg) => MediaType::Jpeg,
                Ok(ImageFormat::WebP) => MediaType::WebP,
                _ => return Err(Refusal::UnsupportedType),
            };
            (media_type, reencode(bytes, media_type, limits)?)
        };
        if content.len() > limits.max_bytes {
            return Err(Refusal::TooLargeReencoded {
                size: content.len(),
                max: limits.max_bytes,
            });
        }
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &content));
        Ok(Attachment {
            media_type,
            sha256,
            name: display_name(name, media_type),
            content,
        })
    }

    /// The sniffed type.
    pub fn media_type(&self) -> MediaType {
        self.media_type
    }

    /// The bytes to store and serve.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// SHA-256 of [`Attachment::content`], lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The name to show and to download as.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Decodes an image of `media_type` (its pixel count checked from the header first)
/// and encodes its pixels again in the same format, with nothing else.
fn reencode(
    bytes: &[u8],
    media_type: MediaType,
    limits: &AttachmentLimits,
) -> Result<Vec<u8>, Refusal> {
    let broken = |e: ImageError| Refusal::Undecodable(e.to_string());
    let format = match media_type {
        MediaType::Png => ImageFormat::Png,
        MediaType::Jpeg => ImageFormat::Jpeg,
        MediaType::WebP => ImageFormat::WebP,
        MediaType::Pdf => return Err(Refusal::UnsupportedType),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc());
    reader.limits(decoder_limits);
    // Reads the header only.
    let mut decoder = reader.into_decoder().map_err(broken)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Refusal::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(broken)?;
    pixels.apply_orientation(orientation);
    let mut out = Vec::new();
    let written = match media_type {
        MediaType::Jpeg => {
            // JPEG holds grey or RGB; anything else (CMYK decodes to RGB) goes to RGB.
            let pixels = match pixels {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => pixels,
                other => DynamicImage::ImageRgb8(other.to_rgb8()),
            };
            pixels.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        MediaType::WebP => {
            let pixels = match pixels {
                DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_)
                | DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_) => pixels,
                other => DynamicImage::ImageRgba8(other.to_rgba8()),
            };
            pixels.write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
        _ => pixels.write_with_encoder(PngEncoder::new(&mut out)),
    };
    written.map_err(broken)?;
    Ok(out)
}

/// The client's file name made fit to show and to download as: its last path
/// component, without control, bidirectional-override or invisible characters, with
/// characters that file systems refuse replaced, at most `MAX_NAME` characters,
/// and ending in an extension of the sniffed type (`x.html` that is a PNG becomes
/// `x.html.png`, so it is never saved as a page).
pub fn display_name(given: Option<&str>, media_type: MediaType) -> String {
    let last = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let hidden = |c: char| {
        c.is_control()
            || matches!(c,
                '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}' | '\u{feff}')
    };
    let cleaned: String = last
        .chars()
        .filter(|c| !hidden(*c))
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let mut name: String = cleaned
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(MAX_NAME)
        .collect();
    if name.trim().is_empty() {
        name = "attachment".into();
    }
    let extensions = media_type.extensions();
    let fits = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| extensions.contains(&ext.to_ascii_lowercase().as_str()));
    if !fits {
        name.push('.');
        name.push_str(extensions[0]);
    }
    name
}

/// A size for people: `812 B`, `12.3 KiB`, `4.8 MiB`.
pub fn size_label(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// A stored attachment, without its bytes.
#[derive(Debug, Clone)]
pub struct Stored {
    /// `att_…`.
    pub id: String,
    /// The complaint or shared record it belongs to.
    pub owner_id: String,
    /// The sniffed media type.
    pub media_type: String,
    /// Bytes stored.
    pub size: i64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// Display name (see [`display_name`]).
    pub name: String,
    /// `complainant`, `operator` or `staff` (a complaint's), `member` (a record's).
    pub uploader_role: String,
    /// When (unix seconds).
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use image::GenericImageView;
    use proptest::prelude::*;

    fn limits() -> AttachmentLimits {
        AttachmentLimits::default()
    }

    /// A 3 × 2 RGB image with distinct pixels.
    fn pixels() -> image::RgbImage {
        image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 80, y as u8 * 120, 200]))
    }

    /// `pixels()` as a PNG with a tEXt chunk (`GPS`) and an eXIf chunk, both naming
    /// where the photo was taken.
    fn png_with_metadata() -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, 3, 2);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        e.add_text_chunk("GPS".into(), "39.9087N 116.3975E secret-place".into())
            .unwrap();
        let mut w = e.write_header().unwrap();
        w.write_chunk(png::chunk::ChunkType(*b"eXIf"), b"MM\0*secret-place")
            .unwrap();
        w.write_image_data(pixels().as_raw()).unwrap();
        w.finish().unwrap();
        out
    }

    fn chunk_types(png_bytes: &[u8]) -> Vec<String> {
        let mut types = vec![];
        let mut i = 8;
        while i + 8 <= png_bytes.len() {
            let len = u32::from_be_bytes(png_bytes[i..i + 4].try_into().unwrap()) as usize;
            types.push(String::from_utf8_lossy(&png_bytes[i + 4..i + 8]).into_owned());
            i += 12 + len;
        }
        types
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_png_with_exif_and_text_chunks_comes_back_with_the_same_pixels_and_nothing_else() {
        let sent = png_with_metadata();
        assert!(contains(&sent, b"secret-place"));
        let a = Attachment::parse(&sent, Some("截图.png"), &limits()).unwrap();
        assert_eq!(a.media_type(), MediaType::Png);
        assert!(!contains(a.content(), b"secret-place"));
        assert_eq!(chunk_types(a.content()), ["IHDR", "IDAT", "IEND"]);
        let back = image::load_from_memory(a.content()).unwrap().to_rgb8();
        assert_eq!(back, pixels());
        assert_eq!(a.name(), "截图.png");
        assert_eq!(
            a.sha256(),
            hex::encode(ring::digest::digest(&ring::digest::SHA256, a.content()))
        );
    }

    #[test]
    fn a_polyglot_png_with_html_after_its_end_loses_the_html() {
        let mut sent = png_with_metadata();
        sent.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
        let a = Attachment::parse(&sent, Some("x.png"), &limits()).unwrap();
        assert!(!contains(a.content(), b"<script>"));
        assert!(
            a.content().ends_with(&[0xae, 0x42, 0x60, 0x82]),
            "ends at IEND"
        );
    }

    #[test]
    fn a_jpeg_s_exif_with_a_gps_position_is_dropped() {
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(pixels())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 95))
            .unwrap();
        // An APP1 Exif segment right after SOI, as a camera writes it.
        let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 39.9087 secret-place";
        let mut sent = jpeg[..2].to_vec();
        sent.extend_from_slice(&[0xff, 0xe1]);
        sent.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        sent.extend_from_slice(payload);
        sent.extend_from_slice(&jpeg[2..]);
        let a = Attachment::parse(&sent, Some("IMG_0001.JPG"), &limits()).unwrap();
        assert_eq!(a.media_type(), MediaType::Jpeg);
        assert!(!contains(a.content(), b"secret-place"));
        assert!(!contains(a.content(), b"Exif"));
        assert_eq!(
            image::load_from_memory(a.content()).unwrap().dimensions(),
            (3, 2)
        );
        assert_eq!(a.name(), "IMG_0001.JPG");
    }

    #[test]
    fn a_webp_is_taken_and_re_encoded_as_webp() {
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(pixels())
            .write_with_encoder(WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        let a = Attachment::parse(&webp, None, &limits()).unwrap();
        assert_eq!(a.media_type(), MediaType::WebP);
        assert_eq!(
            image::load_from_memory(a.content()).unwrap().to_rgb8(),
            pixels()
        );
        assert_eq!(a.name(), "attachment.webp");
    }

    #[test]
    fn an_html_file_named_png_is_refused_whatever_its_name() {
        let html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
        for name in ["evidence.png", "evidence.pdf", "evidence.html"] {
            assert_eq!(
                Attachment::parse(html, Some(name), &limits()).unwrap_err(),
                Refusal::UnsupportedType
            );
        }
    }

    #[test]
    fn an_svg_is_refused() {
        let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#;
        let e = Attachment::parse(svg, Some("seal.svg"), &limits()).unwrap_err();
        assert_eq!(e, Refusal::UnsupportedType);
        assert_eq!(e.class(), RefusalClass::UnsupportedType);
    }

    #[test]
    fn a_truncated_png_is_refused() {
        let png = png_with_metadata();
        for cut in [png.len() - 12, png.len() / 2, 40] {
            let e = Attachment::parse(&png[..cut], Some("cut.png"), &limits()).unwrap_err();
            assert!(matches!(e, Refusal::Undecodable(_)), "cut at {cut}: {e:?}");
            assert_eq!(e.class(), RefusalClass::Unprocessable);
        }
    }

    /// A one-page PDF written by hand (classic cross-reference table), with `extra`
    /// added to its catalog and `objects` after its page.
    fn pdf_with(extra: &str, objects: &[&str]) -> Vec<u8> {
        pdf_with_page(extra, "", objects)
    }

    /// [`pdf_with`], with `page` added to the page's dictionary.
    fn pdf_with_page(extra: &str, page: &str, objects: &[&str]) -> Vec<u8> {
        let mut body = vec![
            format!("<< /Type /Catalog /Pages 2 0 R {extra} >>"),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] {page} >>"),
        ];
        body.extend(objects.iter().map(|o| o.to_string()));
        let mut pdf = b"%PDF-1.4\n".to_vec();
        let mut offsets = vec![];
        for (i, o) in body.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = pdf.len();
        pdf.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", body.len() + 1).as_bytes(),
        );
        for o in offsets {
            pdf.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        let info = if objects.iter().any(|o| o.contains("/Author")) {
            format!(" /Info {} 0 R", body.len())
        } else {
            String::new()
        };
        pdf.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R{info} /ID [<0102> <0102>] >>\nstartxref\n{xref}\n%%EOF\n",
                body.len() + 1
            )
            .as_bytes(),
        );
        pdf
    }

    /// What qpdf (an independent PDF implementation) makes of `pdf`: `--check` must
    /// pass; returns its JSON view of the objects and the trailer.
    fn qpdf_json(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pdf");
        std::fs::write(&path, pdf).unwrap();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("qpdf")
                .args(args)
                .arg(&path)
                .output()
                .expect("qpdf (Debian package qpdf) must be installed");
            assert!(
                out.status.success(),
                "qpdf {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        run(&["--check"]);
        run(&["--json=2", "--json-key=qpdf"])
    }

    #[test]
    fn a_pdf_comes_back_as_a_valid_pdf_with_its_page_and_without_its_author_or_metadata() {
        let sent = pdf_with(
            "/Metadata 4 0 R /PieceInfo << /App << /Private (x) >> >>",
            &[
                "<< /Type /Metadata /Subtype /XML /Length 34 >>\nstream\n<dc:creator>Zhang San</dc:creator>\nendstream",
                "<< /Author (Zhang San) /Title (complaint) /Producer (Word) >>",
            ],
        );
        assert!(qpdf_json(&sent).contains("Zhang San"));
        let a = Attachment::parse(&sent, Some("收据.pdf"), &limits()).unwrap();
        assert_eq!(a.media_type(), MediaType::Pdf);
        assert_eq!(a.name(), "收据.pdf");
        let json = qpdf_json(a.content());
        for gone in [
            "Zhang San",
            "/Author",
            "/Metadata",
            "/PieceInfo",
            "/Info",
            "/ID",
        ] {
            assert!(!json.contains(gone), "{gone} is still there: {json}");
            assert!(!contains(a.content(), gone.as_bytes()), "{gone}");
        }
        assert!(json.contains("/MediaBox"), "the page is kept: {json}");
    }

    #[test]
    fn a_pdf_with_scripts_links_form_actions_embedded_files_or_xfa_is_refused() {
        for (active, named) in [
            (
                "/OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
                "/JavaScript",
            ),
            ("/OpenAction 4 0 R", "/JavaScript"),
            (
                "/OpenAction << /S /J#61vaScript /JS 4 0 R >>",
                "/JavaScript",
            ),
            ("/AA << /O << /S /GoTo /D [3 0 R /Fit] >> >>", "/AA"),
            ("/OpenAction << /S /Launch /F (calc.exe) >>", "/Launch"),
            (
                "/OpenAction << /S /URI /URI (https://evil.example/) >>",
                "/URI",
            ),
            (
                "/OpenAction << /S /SubmitForm /F (https://evil.example/) >>",
                "/SubmitForm",
            ),
            (
                "/OpenAction << /S /GoToR /F (other.pdf) /D [0 /Fit] >>",
                "/GoToR",
            ),
            ("/AcroForm << /Fields [] /XFA 4 0 R >>", "/XFA"),
            ("/Names << /EmbeddedFiles 4 0 R >>", "/EmbeddedFiles"),
        ] {
            let sent = pdf_with(active, &["<< /S /JavaScript /JS (app.alert(2)) >>"]);
            let e = Attachment::parse(&sent, Some("x.pdf"), &limits()).unwrap_err();
            assert_eq!(e, Refusal::ActivePdf(named), "{active}");
            assert_eq!(e.class(), RefusalClass::UnsupportedType);
        }
        // A link annotation on the page.
        let sent = pdf_with_page(
            "",
            "/Annots [4 0 R]",
            &[
                "<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://evil.example/) >> >>",
            ],
        );
        assert_eq!(
            Attachment::parse(&sent, None, &limits()).unwrap_err(),
            Refusal::ActivePdf("/URI")
        );
        // A name that only starts like one is no match.
        let fine = pdf_with("/JSans 1 /URIs 2", &[]);
        assert!(Attachment::parse(&fine, None, &limits()).is_ok());
    }

    #[test]
    fn a_script_inside_a_compressed_object_stream_is_found() {
        use lopdf::{Object, SaveOptions, dictionary};
        let mut doc = lopdf::Document::with_version("1.5");
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages, "MediaBox" => vec![0.into(), 0.into(), 9.into(), 9.into()],
        });
        doc.objects.insert(
            pages,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let script = doc.add_object(dictionary! {
            "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)"),
        });
        let catalog = doc.add_object(dictionary! {
            "Type" => "Catalog", "Pages" => pages, "OpenAction" => script,
        });
        doc.trailer.set("Root", catalog);
        let mut sent = Vec::new();
        let options = SaveOptions::builder()
            .use_object_streams(true)
            .use_xref_streams(true)
            .compression_level(6)
            .build();
        doc.save_with_options(&mut sent, options).unwrap();
        // The script is compressed: no byte filter sees it.
        assert!(!contains(&sent, b"JavaScript"));
        assert!(contains(&sent, b"/ObjStm"));
        assert_eq!(
            Attachment::parse(&sent, Some("x.pdf"), &limits()).unwrap_err(),
            Refusal::ActivePdf("/JavaScript")
        );
    }

    #[test]
    fn an_encrypted_or_unreadable_pdf_is_refused() {
        let encrypted = String::from_utf8(pdf_with("", &[])).unwrap().replace(
            "/Root 1 0 R",
            "/Root 1 0 R /Encrypt << /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>",
        );
        assert!(matches!(
            Attachment::parse(encrypted.as_bytes(), None, &limits()).unwrap_err(),
            Refusal::ActivePdf("/Encrypt") | Refusal::UnreadablePdf(_)
        ));
        let garbage = b"%PDF-1.7\n\x00\x01 not a pdf at all\n%%EOF\n";
        assert!(matches!(
            Attachment::parse(garbage, None, &limits()).unwrap_err(),
            Refusal::UnreadablePdf(_)
        ));
    }

    #[test]
    fn a_pdf_without_its_end_is_refused() {
        let pdf = pdf_with("", &[]);
        let cut = &pdf[..pdf.len() - 7];
        assert_eq!(
            Attachment::parse(cut, Some("x.pdf"), &limits()).unwrap_err(),
            Refusal::TruncatedPdf
        );
    }

    /// A PNG chunk with its CRC.
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut h = crc32fast::Hasher::new();
        h.update(kind);
        h.update(data);
        c.extend_from_slice(&h.finalize().to_be_bytes());
        c
    }

    /// A PNG that declares `width` × `height` RGBA pixels of `depth` bits in a few
    /// dozen bytes: its header, and a valid zlib stream of a few zero bytes (enough to
    /// get past the header).
    fn declared_png(width: u32, height: u32, depth: u8) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[depth, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_decompression_bomb_png_is_refused_from_its_header_before_any_pixel_is_decoded() {
        // 100,000 × 100,000 RGBA: 40 GB of pixels.
        let started = std::time::Instant::now();
        let e = Attachment::parse(
            &declared_png(100_000, 100_000, 8),
            Some("bomb.png"),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Refusal::TooManyPixels {
                width: 100_000,
                height: 100_000,
                max: 16_000_000
            }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // 6,300 × 6,300 at 16 bits × RGBA: 40 MP, 318 MB decoded, once under the old
        // 40 MP limit; now refused from its header, and the decoder's own cap is
        // about 140 MB.
        assert!(matches!(
            Attachment::parse(&declared_png(6_300, 6_300, 16), Some("bomb.png"), &limits()),
            Err(Refusal::TooManyPixels { .. })
        ));
        assert!(limits().max_alloc() < 150 * 1024 * 1024);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_it_is_looked_at() {
        let small = AttachmentLimits {
            max_bytes: 100,
            ..limits()
        };
        let e = Attachment::parse(&[0u8; 101], None, &small).unwrap_err();
        assert_eq!(e, Refusal::TooLarge { max: 100 });
        assert_eq!(e.class(), RefusalClass::TooLarge);
        assert_eq!(
            Attachment::parse(&[], None, &small).unwrap_err(),
            Refusal::Empty
        );
    }

    #[test]
    fn display_names_lose_paths_controls_and_bidi_tricks_and_end_in_the_sniffed_type() {
        let png = MediaType::Png;
        assert_eq!(
            display_name(Some("C:\\Users\\li\\截图 1.png"), png),
            "截图 1.png"
        );
        assert_eq!(display_name(Some("../../etc/passwd"), png), "passwd.png");
        assert_eq!(
            display_name(Some("invoice\u{202e}gnp.exe"), png),
            "invoicegnp.exe.png"
        );
        assert_eq!(display_name(Some("a\r\nb\"<c>.PNG"), png), "ab__c_.PNG");
        assert_eq!(display_name(Some("page.html"), png), "page.html.png");
        assert_eq!(display_name(Some("..."), png), "attachment.png");
        assert_eq!(display_name(None, MediaType::Jpeg), "attachment.jpg");
        assert_eq!(
            display_name(Some("photo.jpeg"), MediaType::Jpeg),
            "photo.jpeg"
        );
        let long = "长".repeat(500);
        assert_eq!(display_name(Some(&long), png).chars().count(), MAX_NAME + 4);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in prop::sample::select(vec![
                &b""[..], b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\0\0\0\0WEBPVP8L", b"%PDF-",
            ]),
            body in prop::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut bytes = prefix.to_vec();
            bytes.extend(body);
            let small = AttachmentLimits { max_pixels: 1_000_000, ..limits() };
            if let Ok(a) = Attachment::parse(&bytes, Some("x"), &small) {
                prop_assert!(a.content().len() <= small.max_bytes);
            }
        }

        /// A real PDF damaged anywhere: refused or rewritten, never a panic, and what
        /// is taken loads again.
        #[test]
        fn damaged_pdfs_never_panic(
            cuts in prop::collection::vec((0usize..1024, any::<u8>()), 1..8),
        ) {
            let mut bytes = pdf_with(
                "/PageMode /UseNone",
                &["<< /Author (x) >>", "<< /Length 5 >>\nstream\nhello\nendstream"],
            );
            for (at, b) in cuts {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            if let Ok(a) = Attachment::parse(&bytes, Some("x.pdf"), &limits()) {
                prop_assert!(lopdf::Document::load_mem(a.content()).is_ok());
            }
        }
    }
}
