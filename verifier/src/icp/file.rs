//! The offline provider: MIIT rows from a file, and the import that normalizes one.
//!
//! Accepted formats, so an export from a licensed source or a test fixture loads
//! without conversion:
//! - JSONL: one object per line, either a bare MIIT row or an object with a `row`
//!   field (like `shared/fixtures/miit-rows.json` entries); blank lines are skipped;
//! - a JSON array of the same objects (the fixture file itself);
//! - CSV (`.csv`, or any file not starting with `[` or `{`) whose header row names the
//!   MIIT keys (`domain`, `unitName`, `serviceLicence`, …); RFC 4180 quoting.
//!
//! A bad row refuses the whole file, naming its line: a dataset that is partly wrong
//! must not quietly serve the part that parsed.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{IcpProvider, IcpRecord, ProviderAnswer, ProviderError};

/// Serves MIIT rows from a dataset file loaded into memory, indexed by lower-case
/// domain and by filing number (MIIT's `unitName` accepts both).
#[derive(Debug, Clone)]
pub struct FileProvider {
    path: PathBuf,
    by_domain: HashMap<String, Vec<IcpRecord>>,
    by_licence: HashMap<String, Vec<IcpRecord>>,
    len: usize,
}

impl FileProvider {
    /// Loads and indexes a dataset (JSONL, JSON array or CSV, see the module docs).
    /// Fails with [`crate::Error::Dataset`] naming the line of the first bad row.
    pub fn load(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let records = read_records(path)?;
        Ok(Self::from_records(path, records))
    }

    /// Indexes rows already in memory; `path` only names the provider.
    pub fn from_records(path: impl AsRef<Path>, records: Vec<IcpRecord>) -> Self {
        let mut by_domain: HashMap<String, Vec<IcpRecord>> = HashMap::new();
        let mut by_licence: HashMap<String, Vec<IcpRecord>> = HashMap::new();
        let len = records.len();
        for record in records {
            for key in keys_of(&record) {
                let (index, key) = match key.split_at(2) {
                    ("d:", k) => (&mut by_domain, k.to_string()),
                    (_, k) => (&mut by_licence, k.to_string()),
                };
                index.entry(key).or_default().push(record.clone());
            }
        }
        FileProvider {
            path: path.as_ref().to_path_buf(),
            by_domain,
            by_licence,
            len,
        }
    }

    /// How many rows the dataset holds (for the import command and start-up logs).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset is empty (an empty dataset fails every check).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[async_trait::async_trait]
impl IcpProvider for FileProvider {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    async fn query(&self, registrable_domain: &str) -> Result<ProviderAnswer, ProviderError> {
        let term = registrable_domain.trim();
        let rows = self
            .by_domain
            .get(&term.to_lowercase())
            .or_else(|| self.by_licence.get(term))
            .cloned()
            .unwrap_or_default();
        Ok(ProviderAnswer {
            provider: self.name(),
            asked: json!({"file": self.path.display().to_string(), "body": super::query_body(term)}),
            raw: Value::Array(rows.iter().map(|r| r.raw.clone()).collect()),
            rows,
        })
    }
}

/// The keys a row is found under: `d:` + its domain in lower case (and its A-label
/// when that differs), `l:` + its site filing number and its subject's (MIIT's
/// `unitName` field takes a domain or a filing number). Shared by the in-memory
/// provider and the on-disk index, so both answer the same questions.
pub(crate) fn keys_of(record: &IcpRecord) -> Vec<String> {
    let mut domains = vec![record.domain.trim().to_lowercase()];
    if let Ok(d) = crate::identity::Domain::parse(&record.domain)
        && !domains.iter().any(|k| k == d.as_str())
    {
        domains.push(d.as_str().to_string());
    }
    let mut licences = vec![record.service_licence.clone()];
    if !record.main_licence.is_empty() && record.main_licence != record.service_licence {
        licences.push(record.main_licence.clone());
    }
    domains
        .into_iter()
        .map(|d| format!("d:{d}"))
        .chain(licences.into_iter().map(|l| format!("l:{l}")))
        .collect()
}

/// Reads and validates every row of a dataset file, in file order.
pub fn read_records(path: &Path) -> crate::Result<Vec<IcpRecord>> {
    let fail = |reason: String| crate::Error::Dataset {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        fail(format!("line {line}: not UTF-8"))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let records = match text.trim_start().chars().next() {
        None => Ok(Vec::new()),
        Some(_) if is_csv => parse_csv(text),
        Some('[') => parse_array(text),
        Some('{') => parse_jsonl(text),
        Some(_) => parse_csv(text),
    };
    records.map_err(fail)
}

/// Validates `input` (any accepted format) and writes it to `output` as normalized
/// JSONL, one MIIT-shaped row per line with ids as numbers; returns the row count.
/// The output appears whole or not at all (written beside it, then renamed), so a
/// running verifier never loads half a dataset.
pub fn import(input: &Path, output: &Path) -> crate::Result<usize> {
    let records = read_records(input)?;
    let fail = |reason: String| crate::Error::Dataset {
        path: output.display().to_string(),
        reason,
    };
    let file_name = output
        .file_name()
        .ok_or_else(|| fail("the output path names no file".into()))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = output.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for record in &records {
            serde_json::to_writer(&mut out, &record.to_json())?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, output)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("cannot write: {e}")));
    }
    Ok(records.len())
}

/// Turns one dataset entry (bare row, or `{"row": …}`) into a checked record.
pub(crate) fn entry(value: Value) -> Result<IcpRecord, String> {
    let row = match value {
        Value::Object(mut obj) if obj.get("row").is_some_and(Value::is_object) => {
            obj.remove("row").unwrap_or_default()
        }
        other => other,
    };
    let record = IcpRecord::from_json(row)?;
    validate(&record)?;
    Ok(record)
}

/// The fields without which a row can be neither indexed nor judged.
fn validate(record: &IcpRecord) -> Result<(), String> {
    if record.domain.trim().is_empty() {
        return Err("row has no domain".into());
    }
    if record.domain.chars().any(char::is_whitespace) {
        return Err(format!("domain {:?} contains white space", record.domain));
    }
    if record.unit_name.trim().is_empty() {
        return Err(format!("row for {} has no unitName", record.domain));
    }
    if record.service_licence.trim().is_empty() {
        return Err(format!("row for {} has no serviceLicence", record.domain));
    }
    Ok(())
}

fn parse_jsonl(text: &str) -> Result<Vec<IcpRecord>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| format!("line {line_no}: not a JSON object: {e}"))?;
        out.push(entry(value).map_err(|e| format!("line {line_no}: {e}"))?);
    }
    Ok(out)
}

fn parse_array(text: &str) -> Result<Vec<IcpRecord>, String> {
    let values: Vec<Value> = serde_json::from_str(text).map_err(|e| {
        format!(
            "line {}, column {}: not a JSON array of rows: {e}",
            e.line(),
            e.column()
        )
    })?;
    let lines = element_lines(text);
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let line = lines.get(i).copied().unwrap_or(0);
            entry(v).map_err(|e| format!("line {line} (entry {}): {e}", i + 1))
        })
        .collect()
}

/// The 1-based line on which each element of a top-level JSON array starts, so a
/// bad entry can be named by line like a JSONL row. Only called on text that already
/// parsed as an array.
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut line, mut depth) = (1usize, 0usize);
    let (mut in_string, mut escaped, mut expecting) = (false, false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if expecting && depth == 1 && !c.is_whitespace() && c != ']' {
            lines.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expecting = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    lines
}

/// MIIT's integer keys; a CSV cell for them is a number or empty.
const ID_KEYS: [&str; 3] = ["mainId", "serviceId", "domainId"];

fn parse_csv(text: &str) -> Result<Vec<IcpRecord>, String> {
    let mut records = csv_records(text)?.into_iter();
    let Some((_, header)) = records.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if !header.iter().any(|h| h == "domain") {
        return Err(format!(
            "line 1: the CSV header must name the MIIT keys (domain, unitName, serviceLicence, …); found {}",
            header.join(",")
        ));
    }
    let mut out = Vec::new();
    for (line, fields) in records {
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(format!(
                "line {line}: {} fields, but the header has {}",
                fields.len(),
                header.len()
            ));
        }
        let mut row = Map::new();
        for (key, cell) in header.iter().zip(fields) {
            if ID_KEYS.contains(&key.as_str()) {
                let cell = cell.trim();
                if cell.is_empty() {
                    continue;
                }
                let id: i64 = cell
                    .parse()
                    .map_err(|_| format!("line {line}: {key} {cell:?} is not an integer"))?;
                row.insert(key.clone(), Value::from(id));
            } else {
                row.insert(key.clone(), Value::String(cell));
            }
        }
        out.push(entry(Value::Object(row)).map_err(|e| format!("line {line}: {e}"))?);
    }
    Ok(out)
}

/// Splits RFC 4180 CSV into records, each with the line it starts on. Quoted fields may
/// hold commas, doubled quotes and line breaks.
fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let (mut line, mut start_line) = (1usize, 1usize);
    let (mut quoted, mut after_quote, mut field_started) = (false, false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    after_quote = true;
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut field));
                after_quote = false;
                field_started = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut fields)));
                line += 1;
                start_line = line;
                after_quote = false;
                field_started = false;
            }
            _ if after_quote => {
                return Err(format!(
                    "line {line}: unexpected {c:?} after a closing quote"
                ));
            }
            '"' if field.is_empty() => {
                quoted = true;
                field_started = true;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if quoted {
        return Err(format!("line {start_line}: quoted field never closed"));
    }
    if field_started || !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_keeps_commas_quotes_and_line_numbers() {
        let recs =
            csv_records("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\nlast,row").unwrap();
        assert_eq!(recs[1], (2, vec!["x, y".into(), "say \"hi\"".into()]));
        assert_eq!(recs[2], (3, vec!["multi\nline".into(), "z".into()]));
        assert_eq!(recs[3], (5, vec!["last".into(), "row".into()]));
        assert!(csv_records("a\n\"open").unwrap_err().contains("line 2"));
    }

    #[test]
    fn array_elements_are_located_by_line() {
        let text = "[\n {\"a\": \"[,]\"},\n {\"b\": [1, 2]}\n,\n3]";
        assert_eq!(element_lines(text), vec![2, 3, 5]);
        assert_eq!(element_lines("[]"), Vec::<usize>::new());
    }
}
