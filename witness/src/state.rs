//! What the witness remembers: for each log, the last checkpoint it cosigned. Losing
//! it would let the witness cosign a second tree of a size it already cosigned, so it
//! is written whole or not at all before any cosignature leaves, and `serve` refuses to
//! start without it unless told to begin afresh (`--new-state`).
//!
//! The file is text, one log per line after a header, sorted by origin:
//!
//! ```text
//! chengxin-witness state v1
//! chengxin.example/log 20852163 CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tlog::{Checkpoint, Hash};

/// The first line of a state file; another version is refused, not guessed at.
const HEADER: &str = "chengxin-witness state v1";

/// The largest state file read (a line per log; a witness follows a few thousand).
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// The last checkpoint cosigned, per origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    logs: BTreeMap<String, Checkpoint>,
}

impl State {
    /// The last checkpoint cosigned for `origin`.
    pub fn get(&self, origin: &str) -> Option<&Checkpoint> {
        self.logs.get(origin)
    }

    /// Records `checkpoint` as the last cosigned for its origin.
    pub fn set(&mut self, checkpoint: Checkpoint) {
        self.logs.insert(checkpoint.origin.clone(), checkpoint);
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        for c in self.logs.values() {
            out.push_str(&format!(
                "{} {} {}\n",
                c.origin,
                c.size,
                STANDARD.encode(c.root.0)
            ));
        }
        out.into_bytes()
    }

    /// Reads a state file's bytes; anything but what [`State::to_bytes`] writes is
    /// refused (a witness must not guess what it cosigned).
    pub fn parse(bytes: &[u8]) -> Result<State, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let body = text
            .strip_prefix(HEADER)
            .and_then(|t| t.strip_prefix('\n'))
            .ok_or_else(|| format!("the first line is not {HEADER:?}"))?;
        let mut logs = BTreeMap::new();
        for (i, line) in body.split_inclusive('\n').enumerate() {
            let bad = |why: &str| format!("line {}: {why}", i + 2);
            let line = line
                .strip_suffix('\n')
                .ok_or_else(|| bad("no final newline"))?;
            let fields: Vec<&str> = line.split(' ').collect();
            let [origin, size, root] = fields[..] else {
                return Err(bad("not `<origin> <size> <root>`"));
            };
            if origin.is_empty() || origin.contains('+') {
                return Err(bad("not an origin"));
            }
            let size: u64 = size
                .parse()
                .ok()
                .filter(|s: &u64| s.to_string() == size)
                .ok_or_else(|| bad("not a size"))?;
            let root: [u8; 32] = STANDARD
                .decode(root)
                .ok()
                .and_then(|r| r.try_into().ok())
                .ok_or_else(|| bad("not a base64 hash"))?;
            let c = Checkpoint {
                origin: origin.to_owned(),
                size,
                root: Hash(root),
            };
            if logs.insert(c.origin.clone(), c).is_some() {
                return Err(bad("a second line for this origin"));
            }
        }
        Ok(State { logs })
    }

    /// Reads the state file at `path`.
    pub fn load(path: &Path) -> Result<State, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > MAX_STATE_BYTES {
            return Err(format!(
                "{}: {} bytes (at most {MAX_STATE_BYTES})",
                path.display(),
                meta.len()
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        State::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the state to `path` so that the file holds either the old state or this
    /// one, even across a crash: a temporary file beside it, fsynced, renamed over it,
    /// and the directory fsynced so that the rename itself is durable.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name")
        })?;
        let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
        let written = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(origin: &str, size: u64, b: u8) -> Checkpoint {
        Checkpoint {
            origin: origin.into(),
            size,
            root: Hash([b; 32]),
        }
    }

    #[test]
    fn the_state_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut s = State::default();
        s.save(&path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"chengxin-witness state v1\n"
        );
        s.set(cp("b.test/log", 10, 1));
        s.set(cp("a.test/log", 0, 2));
        s.set(cp("b.test/log", 20, 3));
        s.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "chengxin-witness state v1\na.test/log 0 {}\nb.test/log 20 {}\n",
                STANDARD.encode([2; 32]),
                STANDARD.encode([3; 32])
            )
        );
        assert_eq!(State::load(&path).unwrap(), s);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join(".state.tmp").exists());
    }

    #[test]
    fn a_state_file_not_as_written_is_refused() {
        let mut s = State::default();
        s.set(cp("a.test/log", 5, 2));
        let good = String::from_utf8(s.to_bytes()).unwrap();
        assert_eq!(State::parse(good.as_bytes()).unwrap(), s);
        let line = good.lines().nth(1).unwrap().to_string();
        for bad in [
            String::new(),
            good.replace("v1", "v2"),
            good.trim_end().to_string(),
            good.replace(" 5 ", " 05 "),
            good.replace(" 5 ", " -5 "),
            good.replace(" 5 ", "  5 "),
            good.replace('=', ""),
            format!("{good}{line}\n"),
            format!("{good}\n"),
            good.replace("a.test/log", "a+test/log"),
        ] {
            assert!(State::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(State::load(Path::new("/nonexistent/state")).is_err());
    }
}
