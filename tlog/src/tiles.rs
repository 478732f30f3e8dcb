//! C2SP `tlog-tiles`: tile paths, entry bundles, and the Merkle tree computed from
//! stored hash tiles.
//!
//! The log stores only what it serves: the entries and the hash tiles of height 8
//! (level-0 tiles hold leaf hashes, a level-`L` tile the hashes at tree level `8L`).
//! Every other hash (roots, proofs, the right edge while appending) is recomputed from
//! tiles. The arithmetic is `tlog_tiles`, a port of Go's `sumdb/tlog`. Computations
//! run on a [`TileMap`] of tiles already loaded; one that needs a tile not loaded ends
//! with [`Error::Missing`] naming the tiles, the caller loads them and tries again
//! (a few rounds at most: the tiles a computation needs do not depend on hashes).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use tlog_tiles::{HashReader, Tile};

use crate::{Error, Result};

pub use tlog_tiles::Hash;

/// Tile height (C2SP tlog-tiles fixes it at 8).
pub const HEIGHT: u8 = 8;
/// Entries or hashes in a full tile.
pub const WIDTH: u32 = 1 << HEIGHT;
/// Bytes of one hash.
pub const HASH_BYTES: usize = 32;
/// The highest tile level a path may name (a 64-bit tree needs levels 0..=7).
pub const MAX_LEVEL: u8 = 7;

/// RFC 6962 leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`: hashes at tree level 8L.
    Hashes {
        /// Tile level.
        level: u8,
        /// Tile index within the level.
        n: u64,
        /// Hashes in the tile (256 for a full tile).
        width: u32,
    },
    /// `tile/entries/<N>[.p/<W>]`: entries `256N ..` in a bundle.
    Entries {
        /// Bundle index.
        n: u64,
        /// Entries in the bundle (256 for a full bundle).
        width: u32,
    },
}

fn encode_n(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

impl TilePath {
    /// Parses a path relative to the log's root (`tile/0/x001/234.p/7`). Exactly the
    /// spelling [`TilePath::to_path`] gives back is accepted.
    pub fn parse(path: &str) -> Result<TilePath> {
        let bad = || Error::Path(path.chars().take(80).collect());
        if path.len() > 64 {
            return Err(bad());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (head, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (rest, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w: u32 = w.parse().map_err(|_| bad())?;
                if w == 0 || w >= WIDTH {
                    return Err(bad());
                }
                (n, w)
            }
            None => (rest, WIDTH),
        };
        let groups: Vec<&str> = rest.split('/').collect();
        let mut n: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x').ok_or_else(bad)?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let d: u64 = digits.parse().map_err(|_| bad())?;
            n = n
                .checked_mul(1000)
                .and_then(|n| n.checked_add(d))
                .ok_or_else(bad)?;
        }
        let tile = if head == "entries" {
            TilePath::Entries { n, width }
        } else {
            if head.len() != 1 {
                return Err(bad());
            }
            let level: u8 = head.parse().map_err(|_| bad())?;
            if level > MAX_LEVEL {
                return Err(bad());
            }
            TilePath::Hashes { level, n, width }
        };
        if tile.to_path() != path {
            return Err(bad());
        }
        Ok(tile)
    }

    /// The path, relative to the log's root.
    pub fn to_path(&self) -> String {
        let (head, n, width) = match *self {
            TilePath::Hashes { level, n, width } => (level.to_string(), n, width),
            TilePath::Entries { n, width } => ("entries".to_string(), n, width),
        };
        let partial = if width == WIDTH {
            String::new()
        } else {
            format!(".p/{width}")
        };
        format!("tile/{head}/{}{partial}", encode_n(n))
    }

    /// Whether the tile is full, and so never changes.
    pub fn is_full(&self) -> bool {
        match *self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => width == WIDTH,
        }
    }

    /// Whether a tree of `size` entries has this tile (a partial tile only at exactly
    /// its width: C2SP clients ask for the width the checkpoint implies).
    pub fn within(&self, size: u64) -> bool {
        let (level, n, width) = match *self {
            TilePath::Hashes { level, n, width } => (level, n, width),
            TilePath::Entries { n, width } => (0, n, width),
        };
        let at_level = size >> (u32::from(HEIGHT) * u32::from(level));
        let Some(start) = n.checked_mul(u64::from(WIDTH)) else {
            return false;
        };
        let Some(end) = start.checked_add(u64::from(width)) else {
            return false;
        };
        if width == WIDTH {
            end <= at_level
        } else {
            end == at_level
        }
    }

    /// The hash tiles a tree of `size` entries has, one per (level, index), each at
    /// the widest width the tree gives it.
    pub fn hash_tiles(size: u64) -> Vec<TilePath> {
        Tile::new_tiles(HEIGHT, 0, size)
            .into_iter()
            .map(|t| TilePath::Hashes {
                level: t.level(),
                n: t.level_index(),
                width: t.width(),
            })
            .collect()
    }

    /// The hash tiles that change when the tree grows from `old` to `new` entries.
    pub fn changed(old: u64, new: u64) -> Vec<TilePath> {
        Tile::new_tiles(HEIGHT, old, new)
            .into_iter()
            .map(|t| TilePath::Hashes {
                level: t.level(),
                n: t.level_index(),
                width: t.width(),
            })
            .collect()
    }
}

/// Writes entries as a C2SP entry bundle: each a big-endian 16-bit length, then the bytes.
pub fn bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len())
            .map_err(|_| Error::Tile(format!("an entry of {} bytes", e.len())))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle back into entries.
pub fn unbundle(mut bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 2 {
            return Err(Error::Tile("a bundle ends inside a length".into()));
        }
        let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        let rest = &bytes[2..];
        if rest.len() < len {
            return Err(Error::Tile("a bundle ends inside an entry".into()));
        }
        out.push(&rest[..len]);
        bytes = &rest[len..];
    }
    Ok(out)
}

/// A hash tile's path and bytes, as stored.
pub type StoredTile = (TilePath, Vec<u8>);

/// Hash tiles in memory, keyed by (level, index), each at the width it was stored
/// with, plus hashes computed but not yet in a tile. Reading a hash whose tile is not
/// here records the tile as missing.
#[derive(Debug, Default)]
pub struct TileMap {
    tiles: HashMap<(u8, u64), Vec<u8>>,
    fresh: HashMap<u64, Hash>,
    missing: RefCell<BTreeSet<(u8, u64)>>,
}

impl TileMap {
    /// An empty map.
    pub fn new() -> TileMap {
        TileMap::default()
    }

    /// Adds a stored tile's bytes (a whole number of hashes, at most 256).
    pub fn insert(&mut self, level: u8, n: u64, data: Vec<u8>) -> Result<()> {
        if data.is_empty()
            || !data.len().is_multiple_of(HASH_BYTES)
            || data.len() > WIDTH as usize * HASH_BYTES
        {
            return Err(Error::Tile(format!(
                "tile {level}/{n} has {} bytes",
                data.len()
            )));
        }
        self.tiles.insert((level, n), data);
        Ok(())
    }

    /// The stored bytes of a tile, if loaded.
    pub fn get(&self, level: u8, n: u64) -> Option<&[u8]> {
        self.tiles.get(&(level, n)).map(Vec::as_slice)
    }

    /// Runs `f`, turning reads of tiles not loaded into [`Error::Missing`].
    fn run<T>(
        &self,
        f: impl FnOnce(&Self) -> std::result::Result<T, tlog_tiles::Error>,
    ) -> Result<T> {
        self.missing.borrow_mut().clear();
        let out = f(self);
        let missing: Vec<(u8, u64)> = std::mem::take(&mut *self.missing.borrow_mut())
            .into_iter()
            .collect();
        if !missing.is_empty() {
            return Err(Error::Missing(missing));
        }
        Ok(out?)
    }

    /// The root hash of the tree of `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash> {
        self.run(|m| tlog_tiles::tree_hash(size, m))
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries
    /// (RFC 6962 audit path, leaf to root).
    pub fn inclusion(&self, size: u64, index: u64) -> Result<Vec<Hash>> {
        if index >= size {
            return Err(Error::Merkle(format!(
                "entry {index} is not in a tree of {size}"
            )));
        }
        self.run(|m| tlog_tiles::prove_record(size, index, m))
    }

    /// The consistency proof from the tree of `old` entries to the tree of `new`.
    pub fn consistency(&self, new: u64, old: u64) -> Result<Vec<Hash>> {
        if old > new {
            return Err(Error::Merkle(format!(
                "a tree of {old} does not precede one of {new}"
            )));
        }
        self.run(|m| tlog_tiles::prove_tree(new, old, m))
    }

    /// Appends leaves to the tree of `size` entries whose right-edge tiles are loaded
    /// ([`TileMap::edge`]): returns the new root and the tiles that changed, with
    /// their new bytes, and keeps them in the map.
    pub fn append(&mut self, size: u64, leaves: &[Hash]) -> Result<(Hash, Vec<StoredTile>)> {
        self.fresh.clear();
        for (i, leaf) in leaves.iter().enumerate() {
            let n = size + i as u64;
            let stored = self.run(|m| tlog_tiles::stored_hashes_for_record_hash(n, *leaf, m))?;
            let first = tlog_tiles::stored_hash_count(n);
            for (k, h) in stored.into_iter().enumerate() {
                self.fresh.insert(first + k as u64, h);
            }
        }
        let new = size + leaves.len() as u64;
        let changed = TilePath::changed(size, new);
        let mut out = Vec::with_capacity(changed.len());
        for path in changed {
            let TilePath::Hashes { level, n, width } = path else {
                continue;
            };
            let tile = Tile::new(HEIGHT, level, n, width, false);
            let data = self.run(|m| tile.read_data(m))?;
            out.push((path, data));
        }
        for (path, data) in &out {
            if let TilePath::Hashes { level, n, .. } = *path {
                self.tiles.insert((level, n), data.clone());
            }
        }
        self.fresh.clear();
        let root = self.root(new)?;
        Ok((root, out))
    }

    /// The tiles to load before appending to a tree of `size` entries: the last tile
    /// of each level.
    pub fn edge(size: u64) -> Vec<(u8, u64)> {
        let mut last: HashMap<u8, u64> = HashMap::new();
        for t in TilePath::hash_tiles(size) {
            if let TilePath::Hashes { level, n, .. } = t {
                let e = last.entry(level).or_insert(n);
                *e = (*e).max(n);
            }
        }
        let mut out: Vec<(u8, u64)> = last.into_iter().collect();
        out.sort_unstable();
        out
    }
}

impl HashReader for TileMap {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<Hash>, tlog_tiles::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            if let Some(h) = self.fresh.get(&i) {
                out.push(*h);
                continue;
            }
            let want = Tile::from_index(HEIGHT, i);
            match self.tiles.get(&(want.level(), want.level_index())) {
                Some(data) => {
                    let width = u32::try_from(data.len() / HASH_BYTES).unwrap_or(WIDTH);
                    let have = Tile::new(HEIGHT, want.level(), want.level_index(), width, false);
                    match have.hash_at_index(data, i) {
                        Ok(h) => out.push(h),
                        Err(_) => {
                            self.missing
                                .borrow_mut()
                                .insert((want.level(), want.level_index()));
                            out.push(Hash([0; 32]));
                        }
                    }
                }
                None => {
                    self.missing
                        .borrow_mut()
                        .insert((want.level(), want.level_index()));
                    out.push(Hash([0; 32]));
                }
            }
        }
        Ok(out)
    }
}

/// Checks an inclusion proof: that `leaf` is entry `index` of the tree of `size`
/// entries with root `root`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<()> {
    Ok(tlog_tiles::check_record(
        &proof.to_vec(),
        size,
        root,
        index,
        leaf,
    )?)
}

/// Checks a consistency proof: that the tree of `old` entries with root `old_root`
/// is a prefix of the tree of `new` entries with root `new_root`.
pub fn check_consistency(
    proof: &[Hash],
    new: u64,
    new_root: Hash,
    old: u64,
    old_root: Hash,
) -> Result<()> {
    Ok(tlog_tiles::check_tree(
        &proof.to_vec(),
        new,
        new_root,
        old,
        old_root,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_hash(s: &str) -> Hash {
        let mut h = [0u8; 32];
        hex::decode_to_slice(s, &mut h).unwrap();
        Hash(h)
    }

    /// The leaves and roots of RFC 6962's reference tests (certificate-transparency's
    /// `merkle_tree_test`), as Go's `sumdb/tlog` tests them too.
    const RFC6962_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const RFC6962_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    /// RFC 6962 §2.1 MTH, straight from the definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash(tlog_tiles::EMPTY_HASH.0),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                tlog_tiles::node_hash(mth(&leaves[..k]), mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_rfc_6962_reference_vectors() {
        let mut map = TileMap::new();
        let mut size = 0;
        for (i, leaf) in RFC6962_LEAVES.iter().enumerate() {
            let (root, _) = map
                .append(size, &[leaf_hash(&hex::decode(leaf).unwrap())])
                .unwrap();
            size += 1;
            assert_eq!(root, hex_hash(RFC6962_ROOTS[i]), "size {size}");
        }
    }

    #[test]
    fn appending_in_any_batches_gives_the_definition_s_roots_and_the_same_tiles() {
        let all = leaves(70_000);
        let mut whole = TileMap::new();
        let (root, _) = whole.append(0, &all).unwrap();
        assert_eq!(root, mth(&all));
        // Appends in uneven batches, each starting from only the edge tiles, as the
        // log does (it loads nothing else from the database).
        let mut stored: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        let mut size = 0usize;
        for step in [1usize, 2, 253, 1, 255, 256, 257, 3000, 65_535, 440] {
            let mut edge = TileMap::new();
            for (l, n) in TileMap::edge(size as u64) {
                edge.insert(l, n, stored[&(l, n)].clone()).unwrap();
            }
            let take = step.min(all.len() - size);
            let (root, tiles) = edge.append(size as u64, &all[size..size + take]).unwrap();
            size += take;
            assert_eq!(root, mth(&all[..size]), "size {size}");
            for (path, data) in tiles {
                let TilePath::Hashes { level, n, width } = path else {
                    unreachable!()
                };
                assert_eq!(data.len(), width as usize * HASH_BYTES);
                stored.insert((level, n), data);
            }
        }
        assert_eq!(size, all.len());
        for ((l, n), data) in &stored {
            assert_eq!(Some(data.as_slice()), whole.get(*l, *n), "tile {l}/{n}");
        }
    }

    #[test]
    fn proofs_from_stored_tiles_check_and_name_the_tiles_they_need() {
        let all = leaves(1_000);
        let mut full = TileMap::new();
        let (root, tiles) = full.append(0, &all).unwrap();
        // A map with nothing loaded says which tiles to fetch, then succeeds.
        let mut lazy = TileMap::new();
        let mut rounds = 0;
        let proof = loop {
            match lazy.inclusion(1_000, 517) {
                Ok(p) => break p,
                Err(Error::Missing(want)) => {
                    rounds += 1;
                    for (l, n) in want {
                        let (_, data) = tiles
                            .iter()
                            .find(|(p, _)| matches!(p, TilePath::Hashes { level, n: m, .. } if *level == l && *m == n))
                            .unwrap();
                        lazy.insert(l, n, data.clone()).unwrap();
                    }
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert!(rounds <= 2, "{rounds} rounds");
        check_inclusion(&proof, 1_000, root, 517, all[517]).unwrap();
        assert!(check_inclusion(&proof, 1_000, root, 518, all[517]).is_err());
        let old_root = mth(&all[..300]);
        let c = full.consistency(1_000, 300).unwrap();
        check_consistency(&c, 1_000, root, 300, old_root).unwrap();
        assert!(check_consistency(&c, 1_000, root, 300, mth(&all[..301])).is_err());
        assert!(full.inclusion(1_000, 1_000).is_err());
    }

    #[test]
    fn tile_paths_follow_c2sp_and_refuse_other_spellings() {
        for (path, tile) in [
            (
                "tile/0/000",
                TilePath::Hashes {
                    level: 0,
                    n: 0,
                    width: 256,
                },
            ),
            (
                "tile/0/x001/234.p/7",
                TilePath::Hashes {
                    level: 0,
                    n: 1234,
                    width: 7,
                },
            ),
            (
                "tile/2/x001/x002/003",
                TilePath::Hashes {
                    level: 2,
                    n: 1_002_003,
                    width: 256,
                },
            ),
            (
                "tile/entries/005.p/255",
                TilePath::Entries { n: 5, width: 255 },
            ),
        ] {
            assert_eq!(TilePath::parse(path).unwrap(), tile, "{path}");
            assert_eq!(tile.to_path(), path);
        }
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/07",
            "tile/8/000",
            "tile/8/0/000",
            "tile/data/000",
            "tile/0/abc",
            "tile/0/001/",
            "tile/-1/000",
            "tiles/0/000",
            "tile/0/x1844/x674/x407/x370/x955/x161/615",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
        let t = TilePath::parse("tile/0/001.p/4").unwrap();
        assert!(t.within(260));
        assert!(
            !t.within(261),
            "a partial tile exists only at the checkpoint's width"
        );
        assert!(TilePath::parse("tile/0/000").unwrap().within(260));
        assert!(!TilePath::parse("tile/0/001").unwrap().within(260));
        assert!(TilePath::parse("tile/1/000.p/1").unwrap().within(260));
        assert!(
            !TilePath::parse("tile/0/x018/x446/x744/x073/x709/x551/615")
                .unwrap()
                .within(u64::MAX)
        );
    }

    #[test]
    fn bundles_round_trip_and_truncation_is_caught() {
        let entries: [&[u8]; 3] = [b"a", b"", b"ccc"];
        let b = bundle(entries).unwrap();
        assert_eq!(b, [0, 1, b'a', 0, 0, 0, 3, b'c', b'c', b'c']);
        assert_eq!(unbundle(&b).unwrap(), entries);
        assert!(unbundle(&b[..b.len() - 1]).is_err());
        assert!(unbundle(&b[..1]).is_err());
    }
}
