//! The homepage seal: one image per (state, domain, date, language, size, format),
//! naming the certified domain large enough to compare with the address bar, and
//! today's date, so a screenshot of last year's seal looks stale.
//!
//! The seal is an SVG template whose text is set as the outlines of an embedded CJK
//! font subset (it looks the same on a machine without Chinese fonts, and a copy
//! cannot be re-worded with a text editor); the outlines are written compactly enough
//! that the default seal is under 4 KiB on the wire. The PNG is that same SVG
//! rasterised by resvg. Rendered bytes are
//! kept in memory keyed by everything that decides them, so a state change, a new day
//! or another domain simply asks for another entry: nothing needs invalidating.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use askama::Template;
use bytes::Bytes;
use ca::identity::Domain;
use resvg::{tiny_skia, usvg};
use skrifa::MetadataProvider;

use crate::domain::site::SiteStatus;

/// WenQuanYi Micro Hei (Apache-2.0 option of its dual licence), cut down by
/// `scripts/make-seal-font` to printable ASCII and GB 2312: every glyph the seal's
/// own words need, and the characters of nearly every Chinese domain name.
static FONT: &[u8] = include_bytes!("../../assets/wqy-microhei-gb2312.ttf");

/// Rendered bytes kept in memory before the cache starts over, by default
/// (`CHENGXIN_SEAL_CACHE_MIB`). A seal with its compressed forms is some 17 KiB, so
/// this holds about five hundred variants: the sites most visited; the rest are put
/// together again from cached glyphs in some 40 µs. It was 16 MiB: with 100,000
/// sites a load spread over all of them took the process from 79 to 110 MiB resident
/// (over the 100 MiB of issue 14), while a cache of either size holds about 1% of
/// such a load's seals (some 1,000 or 500 of 100,000).
pub const CACHE_BYTES: usize = 8 << 20;

/// What the seal says about the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealState {
    /// Certified and in force.
    Certified,
    /// On hold (re-verification failed, or staff hold).
    Suspended,
    /// Revoked.
    Revoked,
    /// Past notAfter.
    Expired,
    /// No such site.
    Unknown,
    /// Shown on a host the certificate does not cover: a copied seal.
    NotThisSite,
    /// Certified, but the request named no page (no `Referer`): the seal cannot tell
    /// whether it stands on the site, so it asks the visitor to compare the address
    /// bar with the domain instead of vouching. The snippet sends the page's origin
    /// (`referrerpolicy="strict-origin"`), so only a copy that suppresses it, or an
    /// outdated snippet, gets this.
    CheckAddress,
}

impl SealState {
    /// Every state, in the order the seal gallery and the metrics list them.
    pub const ALL: [SealState; 7] = [
        SealState::Certified,
        SealState::Suspended,
        SealState::Revoked,
        SealState::Expired,
        SealState::Unknown,
        SealState::NotThisSite,
        SealState::CheckAddress,
    ];

    /// The seal's colour, also what a browser test looks for in the pixels.
    pub fn color(self) -> &'static str {
        match self {
            SealState::Certified => "#1a7f37",
            SealState::Suspended => "#9a6700",
            SealState::Revoked | SealState::NotThisSite => "#cf222e",
            SealState::Expired | SealState::Unknown => "#59636e",
            SealState::CheckAddress => "#0969da",
        }
    }

    /// The mark drawn in white on the shield: a tick only when the seal vouches
    /// for the site, a cross when it warns, a bar when it cannot say.
    fn mark(self) -> &'static str {
        match self {
            SealState::Certified => "M12 26 L16.5 31 L25 20",
            SealState::Revoked | SealState::NotThisSite => "M13 21 L23 31 M23 21 L13 31",
            SealState::Suspended => "M15 20 L15 32 M21 20 L21 32",
            SealState::Expired | SealState::Unknown => "M12 26 L24 26",
            // An "i": look closer.
            SealState::CheckAddress => "M18 19 L18 19.5 M18 24 L18 33",
        }
    }

    /// The Chinese and English words for this state.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            SealState::Certified => ("网站身份已验证", "Verified"),
            SealState::Suspended => ("认证已暂停", "Suspended"),
            SealState::Revoked => ("认证已撤销", "Revoked"),
            SealState::Expired => ("认证已过期", "Expired"),
            SealState::Unknown => ("未认证网站", "Not certified"),
            SealState::NotThisSite => ("非本站认证", "Not certified for this site"),
            SealState::CheckAddress => ("请核对地址栏", "Check the address bar"),
        }
    }

    /// From the site status the API reports.
    pub fn from_status(status: SiteStatus) -> Self {
        match status {
            SiteStatus::Certified => SealState::Certified,
            SiteStatus::Suspended => SealState::Suspended,
            SiteStatus::Revoked => SealState::Revoked,
            SiteStatus::Expired => SealState::Expired,
            SiteStatus::Pending | SiteStatus::Validated => SealState::Unknown,
        }
    }
}

/// Language order of the seal's two lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Chinese first (default).
    Zh,
    /// English first.
    En,
}

impl Lang {
    /// From `?lang=`: absent means Chinese.
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s {
            None | Some("zh") => Ok(Lang::Zh),
            Some("en") => Ok(Lang::En),
            Some(other) => Err(format!("lang must be zh or en, not {other:?}")),
        }
    }
}

/// Rendered size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// 120 × 45.
    Small,
    /// 160 × 60 (default).
    Medium,
    /// 240 × 90.
    Large,
}

impl Size {
    /// From `?size=`: absent means medium.
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s {
            None | Some("m") => Ok(Size::Medium),
            Some("s") => Ok(Size::Small),
            Some("l") => Ok(Size::Large),
            Some(other) => Err(format!("size must be s, m or l, not {other:?}")),
        }
    }

    /// Width and height in CSS pixels, what the snippet's `<img>` declares.
    pub fn dims(self) -> (u32, u32) {
        match self {
            Size::Small => (120, 45),
            Size::Medium => (160, 60),
            Size::Large => (240, 90),
        }
    }
}

/// The image format of a seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// SVG with its text as paths.
    Svg,
    /// PNG at 1× or 2× the CSS size.
    Png {
        /// Device pixels per CSS pixel: 1 or 2.
        scale: u8,
    },
}

impl Format {
    /// The `Content-Type` to serve it with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml; charset=utf-8",
            Format::Png { .. } => "image/png",
        }
    }
}

/// One way to embed a site's seal, as the portal offers it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SealVariant {
    // Fields in alphabetical order: the site view serializes them as the `json!`
    // object it replaced did.
    /// `svg` or `png` (the PNG snippet also offers the `@2x` image for dense screens).
    pub format: &'static str,
    /// CSS height.
    pub height: u32,
    /// `zh` (Chinese first) or `en`.
    pub lang: &'static str,
    /// `s`, `m` or `l`.
    pub size: &'static str,
    /// Plain HTML, no script: the image linked to the certificate page.
    pub snippet: String,
    /// The image.
    pub url: String,
    /// CSS width.
    pub width: u32,
}

#[derive(Template)]
#[template(path = "snippet.html")]
struct Snippet<'a> {
    certificate_url: &'a str,
    src: &'a str,
    src_2x: Option<&'a str>,
    alt: &'a str,
    width: u32,
    height: u32,
}

/// Every way to embed the seal of `site` (served under `base`), the default
/// (SVG, Chinese first, medium) first. `domain` goes into the `alt` text.
pub fn variants(base: &str, site: &str, domain: &str) -> Vec<SealVariant> {
    let certificate_url = format!("{base}/cert/{site}");
    let alt = format!("网站身份已验证 Verified: {domain}");
    let mut out = Vec::with_capacity(12);
    for format in ["svg", "png"] {
        for (lang, size) in [
            ("zh", "m"),
            ("zh", "s"),
            ("zh", "l"),
            ("en", "m"),
            ("en", "s"),
            ("en", "l"),
        ] {
            let (width, height) = Size::parse(Some(size)).unwrap_or(Size::Medium).dims();
            let query = match (lang, size) {
                ("zh", "m") => String::new(),
                ("zh", s) => format!("?size={s}"),
                (l, "m") => format!("?lang={l}"),
                (l, s) => format!("?lang={l}&size={s}"),
            };
            let url = format!("{base}/seal/{site}.{format}{query}");
            let x2 = (format == "png").then(|| format!("{base}/seal/{site}@2x.png{query}"));
            let snippet = Snippet {
                certificate_url: &certificate_url,
                src: &url,
                src_2x: x2.as_deref(),
                alt: &alt,
                width,
                height,
            }
            .render()
            .unwrap_or_default();
            out.push(SealVariant {
                format,
                lang,
                size,
                width,
                height,
                url,
                snippet,
            });
        }
    }
    out
}

/// Everything that decides a seal's bytes; the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Seal {
    /// What it says.
    pub state: SealState,
    /// The domain shown, from `display_domain`.
    pub domain: Arc<str>,
    /// Today, in China.
    pub date: time::Date,
    /// Line order.
    pub lang: Lang,
    /// CSS size.
    pub size: Size,
    /// SVG or PNG.
    pub format: Format,
}

impl Seal {
    /// The accessible name: both lines and the domain.
    pub fn label(&self) -> String {
        let (first, second) = self.lines();
        format!("{first} / {second}: {}", self.domain)
    }

    fn lines(&self) -> (String, String) {
        let (zh, en) = self.state.words();
        match self.lang {
            Lang::Zh => (format!("诚信 · {zh}"), format!("Chengxin · {en}")),
            Lang::En => (format!("Chengxin · {en}"), format!("诚信 · {zh}")),
        }
    }
}

/// One rendered seal, shared by every request that asks for the same variant.
#[derive(Debug)]
pub struct Rendered {
    /// The image.
    pub bytes: Bytes,
    /// A strong validator of `bytes`, quoted as HTTP wants it; a header value made
    /// once here rather than validated again on every response.
    pub etag: http::HeaderValue,
    /// The same image content-coded (brotli, gzip), each made the first time a
    /// client asks for it and kept: never per request, and never for a seal no
    /// browser fetched (a load spread over every site mostly draws seals once).
    /// SVG only: a PNG is compressed already.
    encoded: [std::sync::OnceLock<Encoded>; 2],
    /// Whether the codings are offered at all (SVG).
    codable: bool,
    /// The plain validator's hex, for the coded validators.
    tag: String,
}

impl Rendered {
    /// The bytes and validator to send for `coding` (`None`: as drawn); the plain
    /// bytes when that coding was not made (yet).
    pub fn body(&self, coding: Option<Coding>) -> (Option<Coding>, &Bytes, &http::HeaderValue) {
        match coding.and_then(|c| self.encoded(c)) {
            Some(e) => (Some(e.coding), &e.bytes, &e.etag),
            None => (None, &self.bytes, &self.etag),
        }
    }

    /// The content codings offered for this seal, best first.
    pub fn codings(&self) -> impl Iterator<Item = Coding> + '_ {
        [Coding::Br, Coding::Gzip]
            .into_iter()
            .filter(|_| self.codable)
    }

    /// `coding`'s bytes if they were made already.
    pub fn encoded(&self, coding: Coding) -> Option<&Encoded> {
        self.encoded[coding.index()].get()
    }

    /// Makes `coding`'s bytes unless made already (CPU-bound for about a millisecond:
    /// call it off the async workers); nothing for a seal that is not offered coded.
    pub fn encode(&self, coding: Coding) -> Result<(), SealError> {
        if !self.codable || self.encoded(coding).is_some() {
            return Ok(());
        }
        let made = Encoded {
            coding,
            bytes: kept(coding.encode(&self.bytes)?),
            etag: http::HeaderValue::from_str(&format!("\"{}-{}\"", self.tag, coding.token()))
                .map_err(|e| SealError::Raster(format!("etag: {e}")))?,
        };
        // Two requests racing to make it make the same bytes: either is kept.
        let _ = self.encoded[coding.index()].set(made);
        Ok(())
    }

    /// What the cache counts: the plain bytes, and room for the codings.
    fn size(&self) -> usize {
        if self.codable {
            self.bytes.len() * 2
        } else {
            self.bytes.len()
        }
    }
}

/// `bytes` as the render cache keeps them: without the spare capacity the writer
/// grew them with (an 11 kB SVG sat in a 16 kB buffer, and the cache counts only the
/// bytes: a load spread over every site kept some 15 MiB resident for an 8 MiB cache).
/// Shrinking in place moves nothing.
fn kept(mut bytes: Vec<u8>) -> Bytes {
    bytes.shrink_to_fit();
    Bytes::from(bytes)
}

/// Brotli quality of the coded seal: the smallest output; a few milliseconds once per
/// variant and day, when the first client that takes brotli asks.
const BROTLI_QUALITY: u32 = 11;

/// A content coding of a seal (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (RFC 7932): the smallest; every current browser takes it over https.
    Br,
    /// gzip (RFC 1952): for everyone else.
    Gzip,
}

impl Coding {
    fn index(self) -> usize {
        match self {
            Coding::Br => 0,
            Coding::Gzip => 1,
        }
    }

    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    fn encode(self, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        use std::io::Write as _;
        let failed = |e: std::io::Error| SealError::Raster(format!("{}: {e}", self.token()));
        match self {
            Coding::Br => {
                let mut out = Vec::with_capacity(plain.len() / 3);
                {
                    // Quality 11 and a 4 MiB window (only a few KiB are used): the
                    // seal is compressed once per variant, when a client first asks,
                    // and then sent to every visitor of the day.
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, 22);
                    w.write_all(plain).map_err(failed)?;
                    w.flush().map_err(failed)?;
                }
                Ok(out)
            }
            Coding::Gzip => {
                let mut w = flate2::write::GzEncoder::new(
                    Vec::with_capacity(plain.len() / 2),
                    flate2::Compression::best(),
                );
                w.write_all(plain).map_err(failed)?;
                w.finish().map_err(failed)
            }
        }
    }
}

/// One content-coded form of a seal.
#[derive(Debug)]
pub struct Encoded {
    /// How it is coded.
    pub coding: Coding,
    /// The coded bytes.
    pub bytes: Bytes,
    /// Its own strong validator: the plain bytes' with the coding appended, since
    /// RFC 9110 §8.8.3 wants a different entity tag for a different representation.
    pub etag: http::HeaderValue,
}

/// Why a seal could not be drawn (our template or font, never the request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The template did not render.
    #[error("seal template: {0}")]
    Template(#[from] askama::Error),
    /// usvg refused the SVG we generated.
    #[error("seal layout: {0}")]
    Layout(#[from] usvg::Error),
    /// The raster could not be made or encoded.
    #[error("seal raster: {0}")]
    Raster(String),
}

#[derive(Template)]
#[template(path = "seal.svg")]
struct SealSvg<'a> {
    width: u32,
    height: u32,
    color: &'a str,
    mark: &'a str,
    label: &'a str,
    /// The text lines' paths, already SVG (numbers and command letters only).
    text: &'a str,
}

/// A line of text and the font size that makes it fit the seal.
struct Line<'a> {
    text: &'a str,
    size: f32,
}

/// Width (in viewBox units) that text may take right of the shield.
const TEXT_WIDTH: f32 = 116.0;

/// Draws seals and remembers what it drew.
pub struct SealRenderer {
    font: skrifa::FontRef<'static>,
    cache: Mutex<Cache>,
    /// The render cache's budget in bytes.
    cache_bytes: usize,
    /// Seals found in the render cache (`chengxin_seal_render_cache_hits_total`).
    hits: AtomicU64,
    /// Seals drawn because they were not (`chengxin_seal_render_cache_misses_total`).
    misses: AtomicU64,
    /// Each glyph's path data once per size: a seal is then put together from
    /// strings instead of drawing outlines, which is what lets a load spread over
    /// every site be served without a drawing per request.
    glyphs: Mutex<Glyphs>,
}

/// Glyph outlines by glyph and size (in hundredths of a pixel), bounded by
/// [`GLYPH_CACHE_BYTES`].
#[derive(Default)]
struct Glyphs {
    map: HashMap<(u32, u32), Arc<Glyph>>,
    bytes: usize,
}

/// Glyph path data kept at once. A glyph is some 100–600 bytes: this holds the
/// seal's own words, the digits of the date and thousands of domain letters at the
/// few sizes long domains shrink to.
const GLYPH_CACHE_BYTES: usize = 4 << 20;

/// One glyph at one size, as [`GridPen`] writes it in the glyph's own frame.
#[derive(Debug)]
struct Glyph {
    /// Where its first contour starts, relative to its origin (`None`: no outline,
    /// like a space).
    first: Option<(i32, i32)>,
    /// The commands after that first move (relative, so the same wherever the glyph
    /// stands).
    body: Box<str>,
    /// The current point after its last command, relative to its origin.
    end: (i32, i32),
    /// How far the pen moves on, in grid units.
    advance: f32,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Seal, Arc<Rendered>>,
    bytes: usize,
}

impl std::fmt::Debug for SealRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealRenderer").finish_non_exhaustive()
    }
}

impl SealRenderer {
    /// Loads the embedded font; the render cache holds [`CACHE_BYTES`].
    pub fn new() -> Result<Self, SealError> {
        Self::with_cache_bytes(CACHE_BYTES)
    }

    /// Loads the embedded font; the render cache holds `cache_bytes`.
    pub fn with_cache_bytes(cache_bytes: usize) -> Result<Self, SealError> {
        let font = skrifa::FontRef::new(FONT)
            .map_err(|e| SealError::Raster(format!("embedded font: {e}")))?;
        Ok(SealRenderer {
            font,
            cache: Mutex::default(),
            cache_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            glyphs: Mutex::default(),
        })
    }

    /// Whether the embedded font can draw every character of `text`.
    pub fn can_draw(&self, text: &str) -> bool {
        let map = self.font.charmap();
        text.chars().all(|c| map.map(c).is_some())
    }

    /// `text` at `nominal` size, or smaller so that it fits [`TEXT_WIDTH`]: long
    /// English wording and long domains shrink instead of being cut off.
    fn fit<'a>(&self, text: &'a str, nominal: f32) -> Line<'a> {
        let map = self.font.charmap();
        let metrics = self.font.glyph_metrics(
            skrifa::instance::Size::new(1.0),
            skrifa::instance::LocationRef::default(),
        );
        let ems: f32 = text
            .chars()
            .map(|c| {
                map.map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(1.0)
            })
            .sum();
        let size = if ems * nominal > TEXT_WIDTH {
            // Rounded down to a tenth so the SVG stays short and stable.
            (TEXT_WIDTH / ems * 10.0).floor() / 10.0
        } else {
            nominal
        };
        Line { text, size }
    }

    /// The domain as a visitor compares it with the address bar: Unicode when the
    /// font can draw it, otherwise the A-label (never a box of missing glyphs).
    pub fn display_domain(&self, domain: &Domain) -> String {
        let unicode = domain.to_unicode();
        if self.can_draw(&unicode) {
            unicode
        } else {
            domain.as_str().to_string()
        }
    }

    /// Look-ups the render cache answered, and seals drawn because it could not.
    pub fn cache_counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The cached bytes of `seal`, if drawn before.
    pub fn cached(&self, seal: &Seal) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let found = cache.entries.get(seal).cloned();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// The bytes of `seal`, drawn now if not cached. CPU-bound for a millisecond or
    /// two on a miss: call it off the async workers.
    pub fn get(&self, seal: &Seal) -> Result<Arc<Rendered>, SealError> {
        if let Some(r) = self.cached(seal) {
            return Ok(r);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let bytes = kept(self.render(seal)?);
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let tag = hex::encode(&digest.as_ref()[..12]);
        let etag = |suffix: &str| {
            http::HeaderValue::from_str(&format!("\"{tag}{suffix}\""))
                .map_err(|e| SealError::Raster(format!("etag: {e}")))
        };
        let rendered = Arc::new(Rendered {
            etag: etag("")?,
            bytes,
            encoded: Default::default(),
            codable: seal.format == Format::Svg,
            tag,
        });
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.bytes + rendered.size() > self.cache_bytes {
            // Starting over is cheaper to reason about than LRU bookkeeping on the
            // hot path, and a redraw costs milliseconds.
            *cache = Cache::default();
        }
        cache.bytes += rendered.size();
        cache.entries.insert(seal.clone(), rendered.clone());
        Ok(rendered)
    }

    /// Draws `seal` without the cache.
    pub fn render(&self, seal: &Seal) -> Result<Vec<u8>, SealError> {
        let svg = self.svg(seal)?;
        match seal.format {
            Format::Svg => Ok(svg.into_bytes()),
            Format::Png { scale } => {
                // The PNG is the served SVG rasterised: the two cannot disagree.
                let tree = usvg::Tree::from_str(&svg, &usvg::Options::default())?;
                let (w, h) = seal.size.dims();
                let s = u32::from(scale.clamp(1, 2));
                let mut pixmap = tiny_skia::Pixmap::new(w * s, h * s)
                    .ok_or_else(|| SealError::Raster("empty pixmap".into()))?;
                let f = s as f32;
                resvg::render(
                    &tree,
                    tiny_skia::Transform::from_scale(f, f),
                    &mut pixmap.as_mut(),
                );
                pixmap
                    .encode_png()
                    .map_err(|e| SealError::Raster(e.to_string()))
            }
        }
    }

    /// The seal as SVG: the frame, shield and mark as drawn by the template, and
    /// each line of text as one path of the font's outlines (hinting-free, on a grid
    /// of a tenth of a pixel, relative commands). A glyph's commands do not depend on
    /// where it stands, so a repeated letter repeats bytes that the content coding
    /// then sends almost for free.
    fn svg(&self, seal: &Seal) -> Result<String, SealError> {
        let (first, second) = seal.lines();
        let (width, height) = seal.size.dims();
        let color = seal.state.color();
        let date = seal.date.to_string();
        let lines = [
            (self.fit(&first, 11.0), 18.0, color),
            (self.fit(&second, 8.5), 30.0, color),
            (self.fit(&seal.domain, 8.5), 43.0, "#1f2328"),
            (self.fit(&date, 7.0), 54.0, "#59636e"),
        ];
        let label = seal.label();
        let mut text = String::with_capacity(8 * 1024);
        for (line, baseline, fill) in &lines {
            text.push_str(&format!("<path fill=\"{fill}\" d=\""));
            self.outline(line, 38.0, *baseline, &mut text)?;
            text.push_str("\"/>");
        }
        Ok(SealSvg {
            width,
            height,
            color,
            mark: seal.state.mark(),
            label: &label,
            text: &text,
        }
        .render()?)
    }

    /// Appends the path data of `line` set from (`x`, `baseline`) in CSS pixels,
    /// in grid units ([`GRID`] per pixel), from the glyph cache: the first glyph
    /// moves absolutely, each next one relatively from where the last one ended.
    fn outline(
        &self,
        line: &Line<'_>,
        x: f32,
        baseline: f32,
        out: &mut String,
    ) -> Result<(), SealError> {
        let map = self.font.charmap();
        let size_key = (line.size * 100.0).round() as u32;
        let mut pen = GridPen::new(out);
        let mut advance = x * GRID;
        let baseline = (baseline * GRID).round() as i32;
        for c in line.text.chars() {
            let Some(gid) = map.map(c) else { continue };
            let glyph = self.glyph(gid, size_key, line.size, c)?;
            let origin = (advance.round() as i32, baseline);
            if let Some(first) = glyph.first {
                pen.move_to_point((origin.0 + first.0, origin.1 + first.1));
                pen.out.push_str(&glyph.body);
                pen.at = (origin.0 + glyph.end.0, origin.1 + glyph.end.1);
            }
            advance += glyph.advance;
        }
        Ok(())
    }

    /// Glyph `gid` at `size` (CSS pixels; `size_key` in hundredths), drawn on the
    /// first use and kept.
    fn glyph(
        &self,
        gid: skrifa::GlyphId,
        size_key: u32,
        size: f32,
        c: char,
    ) -> Result<Arc<Glyph>, SealError> {
        let key = (gid.to_u32(), size_key);
        if let Some(g) = self
            .glyphs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(&key)
        {
            return Ok(g.clone());
        }
        let scale = size * GRID;
        let skrifa_size = skrifa::instance::Size::new(scale);
        let location = skrifa::instance::LocationRef::default();
        let advance = self
            .font
            .glyph_metrics(skrifa_size, location)
            .advance_width(gid)
            .unwrap_or(scale);
        let mut body = String::new();
        let mut pen = GridPen::new(&mut body);
        // Drawn in its own frame: the first move is made relative to the origin and
        // kept apart, so that the rest reads the same wherever the glyph stands.
        pen.begun = true;
        if let Some(outline) = self.font.outline_glyphs().get(gid) {
            outline
                .draw(
                    skrifa::outline::DrawSettings::unhinted(skrifa_size, location),
                    &mut pen,
                )
                .map_err(|e| SealError::Raster(format!("glyph {c:?}: {e}")))?;
        }
        let (first, end) = (pen.first, pen.at);
        let body = match first {
            Some((_, from)) => body[from..].into(),
            None => Box::from(""),
        };
        let glyph = Arc::new(Glyph {
            first: first.map(|(p, _)| p),
            body,
            end,
            advance,
        });
        let mut glyphs = self.glyphs.lock().unwrap_or_else(PoisonError::into_inner);
        let cost = glyph.body.len() + 64;
        if glyphs.bytes + cost > GLYPH_CACHE_BYTES {
            *glyphs = Glyphs::default();
        }
        glyphs.bytes += cost;
        glyphs.map.insert(key, glyph.clone());
        Ok(glyph)
    }
}

/// Path units per CSS pixel of the seal's text: whole tenths of a pixel, finer than a
/// device pixel at 2× and short to write.
const GRID: f32 = 10.0;

/// Writes a glyph outline as SVG path data: coordinates rounded to the grid in the
/// glyph's own frame (so a glyph writes the same bytes wherever it stands), relative
/// commands, a command letter only when it changes, and no space before a minus.
struct GridPen<'a> {
    out: &'a mut String,
    /// The current point, in grid units of the whole seal.
    at: (i32, i32),
    /// Where the current subpath began (a `z` returns there).
    start: (i32, i32),
    /// The glyph's origin on the baseline.
    origin: (i32, i32),
    /// The last command letter written.
    last: Option<char>,
    /// Whether anything was written (the first move is absolute).
    begun: bool,
    /// The first move's point and where the commands after it begin in `out`.
    first: Option<((i32, i32), usize)>,
}

impl<'a> GridPen<'a> {
    /// A pen at the origin that has written nothing.
    fn new(out: &'a mut String) -> Self {
        GridPen {
            out,
            at: (0, 0),
            start: (0, 0),
            origin: (0, 0),
            last: None,
            begun: false,
            first: None,
        }
    }

    /// Starts a subpath at `p` (grid units): absolute the first time, relative after.
    fn move_to_point(&mut self, p: (i32, i32)) {
        if self.begun {
            self.command('m', &[p]);
        } else {
            self.out.push_str(&format!("M{} {}", p.0, p.1));
            self.last = Some('M');
            self.at = p;
            self.begun = true;
        }
        self.start = p;
        if self.first.is_none() {
            self.first = Some((p, self.out.len()));
        }
    }
}

impl GridPen<'_> {
    /// A point of the outline (font units, y up) in the seal's grid (y down).
    fn point(&self, x: f32, y: f32) -> (i32, i32) {
        (
            self.origin.0 + x.round() as i32,
            self.origin.1 - y.round() as i32,
        )
    }

    fn command(&mut self, letter: char, points: &[(i32, i32)]) {
        let from = self.at;
        let repeat = self.last == Some(letter) && letter != 'm';
        if !repeat {
            self.out.push(letter);
        }
        for (i, &(x, y)) in points.iter().enumerate() {
            for (j, n) in [x - from.0, y - from.1].into_iter().enumerate() {
                if (i > 0 || j > 0 || repeat) && n >= 0 {
                    self.out.push(' ');
                }
                self.out.push_str(&n.to_string());
            }
        }
        self.last = Some(letter);
        if let Some(&end) = points.last() {
            self.at = end;
        }
    }
}

impl GridPen<'_> {
    /// A one-number command (`h`, `v`): the move is the caller's to record.
    fn single(&mut self, letter: char, n: i32) {
        let repeat = self.last == Some(letter);
        if !repeat {
            self.out.push(letter);
        } else if n >= 0 {
            self.out.push(' ');
        }
        self.out.push_str(&n.to_string());
        self.last = Some(letter);
    }
}

impl skrifa::outline::OutlinePen for GridPen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let p = self.point(x, y);
        self.move_to_point(p);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.point(x, y);
        if p == self.at {
            return;
        }
        // Horizontal and vertical strokes (most of a CJK glyph) take one number.
        let (dx, dy) = (p.0 - self.at.0, p.1 - self.at.1);
        if dy == 0 {
            self.single('h', dx);
        } else if dx == 0 {
            self.single('v', dy);
        } else {
            self.command('l', &[p]);
        }
        self.at = p;
    }

    fn quad_to(&mut self, cx: f32, cy: f32, x: f32, y: f32) {
        let (c, p) = (self.point(cx, cy), self.point(x, y));
        if p != self.at || c != self.at {
            self.command('q', &[c, p]);
        }
    }

    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        let points = [self.point(cx0, cy0), self.point(cx1, cy1), self.point(x, y)];
        self.command('c', &points);
    }

    fn close(&mut self) {
        self.out.push('z');
        self.last = Some('z');
        self.at = self.start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(state: SealState, domain: &str, lang: Lang, size: Size, format: Format) -> Seal {
        Seal {
            state,
            domain: domain.into(),
            date: time::macros::date!(2026 - 11 - 29),
            lang,
            size,
            format,
        }
    }

    fn renderer() -> SealRenderer {
        SealRenderer::new().unwrap()
    }

    /// The served SVG, byte for byte: a change to the template, the font subset or
    /// usvg's writer shows up here for review before any site embeds it.
    #[test]
    fn the_certified_chinese_seal_and_the_english_copy_warning_look_as_reviewed() {
        let r = renderer();
        let certified = seal(
            SealState::Certified,
            "chenxi-shuzhi.cn",
            Lang::Zh,
            Size::Medium,
            Format::Svg,
        );
        insta::assert_snapshot!(
            "certified-zh-m.svg",
            String::from_utf8(r.render(&certified).unwrap()).unwrap()
        );
        let copied = seal(
            SealState::NotThisSite,
            "chenxi-shuzhi.cn",
            Lang::En,
            Size::Small,
            Format::Svg,
        );
        insta::assert_snapshot!(
            "not-this-site-en-s.svg",
            String::from_utf8(r.render(&copied).unwrap()).unwrap()
        );
    }

    /// The most common opaque colour of a PNG, ignoring white and near-white.
    fn dominant_colour(png: &[u8]) -> [u8; 3] {
        let pixmap = tiny_skia::Pixmap::decode_png(png).unwrap();
        let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
        for p in pixmap.pixels() {
            let c = p.demultiply();
            if c.alpha() == 255 && !(c.red() > 230 && c.green() > 230 && c.blue() > 230) {
                *counts.entry([c.red(), c.green(), c.blue()]).or_default() += 1;
            }
        }
        counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
    }

    fn hex(c: [u8; 3]) -> String {
        format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
    }

    #[test]
    fn the_svg_has_its_text_as_paths_and_names_the_state_in_its_title() {
        let r = renderer();
        let svg = String::from_utf8(
            r.render(&seal(
                SealState::Certified,
                "chenxi-shuzhi.cn",
                Lang::Zh,
                Size::Medium,
                Format::Svg,
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(!svg.contains("<text"), "text left in the SVG: {svg}");
        // The shield, its mark, and one path per line of text, each line with dozens
        // of curves.
        assert_eq!(svg.matches("<path").count(), 6, "{svg}");
        let text = &svg[svg.find("<g transform").unwrap()..];
        assert!(
            text.split("<path")
                .skip(1)
                .all(|p| p.matches(['q', 'l']).count() >= 20),
            "{text}"
        );
        let title = &svg[svg.find("<title>").unwrap()..svg.find("</title>").unwrap()];
        assert!(
            title.find("诚信 · 网站身份已验证").unwrap()
                < title.find("Chengxin · Verified").unwrap(),
            "{title}"
        );
        assert!(title.contains("chenxi-shuzhi.cn"));
        assert!(svg.contains("width=\"160\"") && svg.contains("#1a7f37"));
        let en = String::from_utf8(
            r.render(&seal(
                SealState::Certified,
                "a.cn",
                Lang::En,
                Size::Large,
                Format::Svg,
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(en.find("Chengxin · Verified").unwrap() < en.find("诚信 ·").unwrap());
        assert!(en.contains("width=\"240\""));
        assert_ne!(svg, en);
    }

    #[test]
    fn every_state_is_drawn_in_its_own_colour_in_the_png() {
        let r = renderer();
        let states = [
            SealState::Certified,
            SealState::Suspended,
            SealState::Revoked,
            SealState::Expired,
            SealState::NotThisSite,
            SealState::CheckAddress,
        ];
        for state in states {
            let png = r
                .render(&seal(
                    state,
                    "chenxi-shuzhi.cn",
                    Lang::Zh,
                    Size::Medium,
                    Format::Png { scale: 1 },
                ))
                .unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
            assert_eq!(hex(dominant_colour(&png)), state.color(), "{state:?}");
        }
        let twice = r
            .render(&seal(
                SealState::Certified,
                "a.cn",
                Lang::Zh,
                Size::Small,
                Format::Png { scale: 2 },
            ))
            .unwrap();
        let pixmap = tiny_skia::Pixmap::decode_png(&twice).unwrap();
        assert_eq!((pixmap.width(), pixmap.height()), (240, 90));
    }

    #[test]
    fn the_words_are_actually_drawn_not_left_blank() {
        // The same seal with another state's words must differ in the pixels of
        // the text area, or the font did not draw anything.
        let r = renderer();
        let a = seal(
            SealState::Revoked,
            "a.cn",
            Lang::Zh,
            Size::Medium,
            Format::Png { scale: 1 },
        );
        let b = Seal {
            state: SealState::NotThisSite,
            ..a.clone()
        };
        let (pa, pb) = (r.render(&a).unwrap(), r.render(&b).unwrap());
        let (pa, pb) = (
            tiny_skia::Pixmap::decode_png(&pa).unwrap(),
            tiny_skia::Pixmap::decode_png(&pb).unwrap(),
        );
        let differing = pa
            .pixels()
            .iter()
            .zip(pb.pixels())
            .filter(|(x, y)| x != y)
            .count();
        assert!(differing > 100, "only {differing} pixels differ");
        // Ink in the text area (right of the shield), in any colour.
        let width = pa.width() as usize;
        let inked = pa
            .pixels()
            .iter()
            .enumerate()
            .filter(|(i, p)| i % width >= 38 && p.demultiply().green() < 200)
            .count();
        assert!(inked > 300, "only {inked} inked pixels: no text drawn?");
    }

    #[test]
    fn a_chinese_domain_is_shown_in_chinese_and_an_undrawable_one_as_its_a_label() {
        let r = renderer();
        let zh = Domain::parse("诚信示例.中国").unwrap();
        assert_eq!(r.display_domain(&zh), "诚信示例.中国");
        // 𠀀 (U+20000) is outside GB 2312: a box of missing glyphs would hide the
        // name, so the seal shows the A-label the browser also falls back to.
        let rare = Domain::parse("𠀀示例.cn").unwrap();
        assert!(r.display_domain(&rare).starts_with("xn--"));
        assert!(r.can_draw("网站身份已验证认证已暂停撤销过期未非本站诚信·Chengxin 0123-"));
    }

    #[test]
    fn long_wording_and_long_domains_shrink_to_fit_instead_of_being_cut_off() {
        let r = renderer();
        let long = r.fit("Chengxin · Not certified for this site", 11.0);
        assert!(long.size < 11.0 && long.size > 5.0, "{}", long.size);
        assert_eq!(r.fit("a.cn", 8.5).size, 8.5);
        let domain = "a-very-long-subdomain-name.of-an-organisation.example.com.cn";
        assert!(r.fit(domain, 8.5).size < 8.5);
    }

    #[test]
    fn a_hostile_domain_string_is_escaped_in_the_title() {
        let r = renderer();
        let svg = String::from_utf8(
            r.render(&seal(
                SealState::Unknown,
                "<script>alert(1)</script>\"",
                Lang::Zh,
                Size::Small,
                Format::Svg,
            ))
            .unwrap(),
        )
        .unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&#60;script&#62;"), "{svg}");
    }

    #[test]
    fn the_cache_returns_the_same_bytes_and_a_new_day_draws_a_new_seal() {
        let r = renderer();
        let today = seal(
            SealState::Certified,
            "a.cn",
            Lang::Zh,
            Size::Medium,
            Format::Svg,
        );
        let first = r.get(&today).unwrap();
        let again = r.get(&today).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let tomorrow = Seal {
            date: time::macros::date!(2026 - 11 - 30),
            ..today
        };
        let next = r.get(&tomorrow).unwrap();
        assert_ne!(first.etag, next.etag);
    }

    #[test]
    fn the_render_cache_stays_within_its_byte_budget() {
        // Room for about four SVG seals with their codings
        // (`CHENGXIN_SEAL_CACHE_MIB` sets the budget in MiB; bytes here).
        let one = renderer()
            .get(&seal(
                SealState::Certified,
                "site0.cn",
                Lang::Zh,
                Size::Medium,
                Format::Svg,
            ))
            .unwrap()
            .size();
        let budget = one * 4 + one / 2;
        let r = SealRenderer::with_cache_bytes(budget).unwrap();
        let seals: Vec<Seal> = (0..10)
            .map(|i| {
                seal(
                    SealState::Certified,
                    &format!("site{i}.cn"),
                    Lang::Zh,
                    Size::Medium,
                    Format::Svg,
                )
            })
            .collect();
        for s in &seals {
            r.get(s).unwrap();
            let used = r.cache.lock().unwrap().bytes;
            assert!(used <= budget, "{used} > {budget}");
        }
        // The first ones were let go to make room; the last one is kept.
        assert!(r.cached(&seals[0]).is_none());
        assert!(r.cached(&seals[9]).is_some());
        let kept = r.cache.lock().unwrap().entries.len();
        assert!((1..=4).contains(&kept), "{kept}");
    }

    #[test]
    fn an_svg_seal_is_compressed_once_with_brotli_and_gzip_and_each_has_its_own_etag() {
        use std::io::Read as _;
        let r = renderer();
        let svg = r
            .get(&seal(
                SealState::Certified,
                "chenxi-shuzhi.cn",
                Lang::Zh,
                Size::Medium,
                Format::Svg,
            ))
            .unwrap();
        assert_eq!(
            svg.codings().collect::<Vec<_>>(),
            [Coding::Br, Coding::Gzip]
        );
        // Nothing is compressed until a client asks.
        assert!(svg.encoded(Coding::Br).is_none() && svg.encoded(Coding::Gzip).is_none());
        assert_eq!(svg.body(Some(Coding::Br)).0, None);
        svg.encode(Coding::Br).unwrap();
        svg.encode(Coding::Gzip).unwrap();
        let (_, br, br_tag) = svg.body(Some(Coding::Br));
        let (_, gz, gz_tag) = svg.body(Some(Coding::Gzip));
        let (none, plain, tag) = svg.body(None);
        assert_eq!(none, None);
        assert!(
            br.len() < gz.len() && gz.len() < plain.len(),
            "{} {} {}",
            br.len(),
            gz.len(),
            plain.len()
        );
        assert!(br_tag != gz_tag && gz_tag != tag && br_tag != tag);
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain.as_ref());
        let mut unbrotli = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut unbrotli)
            .unwrap();
        assert_eq!(unbrotli, plain.as_ref());
        // A PNG is compressed already: only its plain bytes.
        let png = r
            .get(&seal(
                SealState::Certified,
                "chenxi-shuzhi.cn",
                Lang::Zh,
                Size::Medium,
                Format::Png { scale: 1 },
            ))
            .unwrap();
        assert_eq!(png.codings().count(), 0);
        assert_eq!(png.body(Some(Coding::Br)).0, None);
    }

    /// Issue 14: the default seal (medium) is at most 4 KiB on the wire in every
    /// state, both languages: the SVG with either content coding, and the 1× PNG.
    #[test]
    fn the_default_seal_is_at_most_4_kib_on_the_wire_in_every_state() {
        let r = renderer();
        for state in SealState::ALL {
            for lang in [Lang::Zh, Lang::En] {
                let get = |format| {
                    r.get(&seal(state, "chenxi-shuzhi.cn", lang, Size::Medium, format))
                        .unwrap()
                };
                let svg = get(Format::Svg);
                for coding in [Coding::Br, Coding::Gzip] {
                    svg.encode(coding).unwrap();
                    let n = svg.body(Some(coding)).1.len();
                    assert!(n <= 4096, "{state:?} {lang:?} {coding:?}: {n} bytes");
                }
                let png = get(Format::Png { scale: 1 }).bytes.len();
                assert!(png <= 4096, "{state:?} {lang:?} PNG: {png} bytes");
            }
        }
    }
}
