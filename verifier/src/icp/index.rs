//! A national ICP dataset on disk: a sorted index file read with positioned reads, so
//! millions of filings cost a few megabytes of memory instead of gigabytes.
//!
//! [`FileProvider`](super::FileProvider) keeps every row in memory, indexed twice
//! (about 12.7 KB a row): right for fixtures and small exports, wrong for the
//! millions of rows of a national dataset. `verifier icp-index INPUT OUTPUT` writes
//! the index; `CHENGXIN_ICP_PROVIDER=file:OUTPUT` then serves it through
//! [`IndexedProvider`], which keeps only every [`STRIDE`]th key in memory and reads
//! the rest with `pread` (no memory map: that would need `unsafe`).
//!
//! Format (UTF-8 lines): the header [`MAGIC`], then one line per key and row,
//! `KEY \t ROW-JSON`, sorted by key bytes. A row appears once under each of its keys:
//! `d:` + its domain in lower case (and its A-label when different), and `l:` + its
//! site and subject filing numbers, the same keys the in-memory provider answers.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::file::{keys_of, read_records};
use super::{IcpProvider, IcpRecord, ProviderAnswer, ProviderError};

/// The first line of an index file.
pub const MAGIC: &str = "#chengxin-icp-index v1";
/// Every how many lines a key is kept in memory: a lookup reads at most this many
/// lines (a few kilobytes) past the nearest kept key.
pub const STRIDE: usize = 64;
/// Bytes read per positioned read while scanning.
const CHUNK: usize = 16 * 1024;

/// Whether `path` is an index file (starts with [`MAGIC`]).
pub fn is_index(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut first = String::new();
    BufReader::new(f).read_line(&mut first).is_ok() && first.trim_end() == MAGIC
}

/// Validates `input` (any format the file provider reads) and writes its index to
/// `output`, whole or not at all (written beside it, then renamed). Returns how many
/// rows it holds. JSONL is read a line at a time; the sort happens in memory over the
/// compact rows and their keys (about the dataset's size, once, at import).
pub fn build(input: &Path, output: &Path) -> crate::Result<usize> {
    let fail = |reason: String| crate::Error::Dataset {
        path: output.display().to_string(),
        reason,
    };
    let records = Records::read(input)?;
    let mut keys: Vec<(String, u32)> = Vec::with_capacity(records.rows.len() * 3);
    for (i, key_list) in records.keys.into_iter().enumerate() {
        for key in key_list {
            if key.contains(['\t', '\n', '\r']) {
                return Err(fail(format!("key {key:?} holds a tab or a line break")));
            }
            keys.push((key, i as u32));
        }
    }
    keys.sort_unstable();
    let tmp = output.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        writeln!(out, "{MAGIC}")?;
        for (key, i) in &keys {
            writeln!(out, "{key}\t{}", records.rows[*i as usize])?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, output)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("cannot write: {e}")));
    }
    Ok(records.rows.len())
}

/// Checked rows as compact JSON, with the keys of each.
struct Records {
    rows: Vec<String>,
    keys: Vec<Vec<String>>,
}

impl Records {
    fn read(input: &Path) -> crate::Result<Self> {
        let fail = |reason: String| crate::Error::Dataset {
            path: input.display().to_string(),
            reason,
        };
        let mut out = Records {
            rows: Vec::new(),
            keys: Vec::new(),
        };
        let mut push = |record: IcpRecord| -> crate::Result<()> {
            out.keys.push(keys_of(&record));
            out.rows.push(
                serde_json::to_string(&record.to_json())
                    .map_err(|e| fail(format!("cannot encode a row: {e}")))?,
            );
            Ok(())
        };
        let file = File::open(input).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut reader = BufReader::new(file);
        let mut first = String::new();
        reader
            .read_line(&mut first)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        let jsonl = first
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{')
            && !input
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if !jsonl {
            // Arrays and CSV are small exports: the file provider's reader.
            for record in read_records(input)? {
                push(record)?;
            }
            return Ok(out);
        }
        // JSONL, a line at a time: a national dataset never sits in memory as rows.
        let mut line = first;
        let mut number = 1;
        loop {
            let text = line.trim_start_matches('\u{feff}').trim();
            if !text.is_empty() {
                let value: Value =
                    serde_json::from_str(text).map_err(|e| fail(format!("line {number}: {e}")))?;
                push(super::file::entry(value).map_err(|e| fail(format!("line {number}: {e}")))?)?;
            }
            line.clear();
            if reader
                .read_line(&mut line)
                .map_err(|e| fail(format!("line {}: {e}", number + 1)))?
                == 0
            {
                break;
            }
            number += 1;
        }
        Ok(out)
    }
}

/// Serves an index file written by [`build`].
#[derive(Debug, Clone)]
pub struct IndexedProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    /// Every [`STRIDE`]th key with the offset of its line, in file order.
    sparse: Vec<(String, u64)>,
    /// Where the first line after the header starts.
    first: u64,
    lines: usize,
}

impl IndexedProvider {
    /// Opens an index, reading it once to keep every [`STRIDE`]th key; refuses a file
    /// that is not an index or whose keys are out of order.
    pub fn open(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let fail = |reason: String| crate::Error::Dataset {
            path: path.display().to_string(),
            reason,
        };
        let file = File::open(&path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut reader =
            BufReader::with_capacity(1 << 20, file.try_clone().map_err(|e| fail(e.to_string()))?);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        if line.trim_end() != MAGIC {
            return Err(fail(format!("not an index (no {MAGIC:?} header)")));
        }
        let first = line.len() as u64;
        let mut offset = first;
        let mut sparse = Vec::new();
        let mut previous = String::new();
        let mut lines = 0;
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| fail(format!("line {}: {e}", lines + 2)))?;
            if n == 0 {
                break;
            }
            let key = line
                .split_once('\t')
                .map(|(k, _)| k)
                .ok_or_else(|| fail(format!("line {}: no key", lines + 2)))?;
            if key < previous.as_str() {
                return Err(fail(format!("line {}: keys out of order", lines + 2)));
            }
            if lines % STRIDE == 0 {
                sparse.push((key.to_string(), offset));
            }
            previous.clear();
            previous.push_str(key);
            offset += n as u64;
            lines += 1;
        }
        Ok(IndexedProvider {
            inner: Arc::new(Inner {
                path,
                file,
                sparse,
                first,
                lines,
            }),
        })
    }

    /// Lines (keys) in the index.
    pub fn lines(&self) -> usize {
        self.inner.lines
    }
}

impl Inner {
    /// The rows stored under `key`, read from the nearest kept key on.
    fn rows(&self, key: &str) -> std::io::Result<Vec<Value>> {
        let at = self.sparse.partition_point(|(k, _)| k.as_str() < key);
        let mut offset = match at {
            0 => self.first,
            n => self.sparse[n - 1].1,
        };
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = self.file.read_at(&mut buf, offset)?;
            if n == 0 {
                return Ok(out);
            }
            offset += n as u64;
            pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                let line = &pending[start..start + end];
                start += end + 1;
                let Some(tab) = line.iter().position(|&b| b == b'\t') else {
                    continue;
                };
                match line[..tab].cmp(key.as_bytes()) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        if let Ok(v) = serde_json::from_slice(&line[tab + 1..]) {
                            out.push(v);
                        }
                    }
                    std::cmp::Ordering::Greater => return Ok(out),
                }
            }
            pending.drain(..start);
        }
    }
}

#[async_trait::async_trait]
impl IcpProvider for IndexedProvider {
    fn name(&self) -> String {
        format!("file:{}", self.inner.path.display())
    }

    async fn query(&self, registrable_domain: &str) -> Result<ProviderAnswer, ProviderError> {
        let term = registrable_domain.trim().to_string();
        let inner = self.inner.clone();
        let raw = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Value>> {
            let by_domain = inner.rows(&format!("d:{}", term.to_lowercase()))?;
            if !by_domain.is_empty() {
                return Ok(by_domain);
            }
            inner.rows(&format!("l:{term}"))
        })
        .await
        .map_err(|e| ProviderError::Transport(format!("index read: {e}")))?
        .map_err(|e| ProviderError::Transport(format!("index read: {e}")))?;
        let rows = raw
            .iter()
            .cloned()
            .map(IcpRecord::from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ProviderError::Malformed)?;
        let term = registrable_domain.trim();
        Ok(ProviderAnswer {
            provider: self.name(),
            asked: json!({"file": self.inner.path.display().to_string(), "body": super::query_body(term)}),
            raw: Value::Array(raw),
            rows,
        })
    }
}
