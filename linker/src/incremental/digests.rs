//! Digests of base definitions that warm relinks learned (see `resolve::deps`): a
//! prepared base keeps those of the link that recorded it, and the definitions later
//! newest generations bind anew are kept beside it, in `bases/<key>.digests`, so that each
//! is hashed once per base rather than once per link. A definition's digest depends on the
//! base's bytes alone, and `FileId`s and symbol indices of base objects are the same in
//! every link with that base (base objects are loaded first).
//!
//! The file: `CLNKDIGS`, a format number, the blake3 of the base key, the record count,
//! the records (object `u32`, symbol `u32`, digest `u128`, little-endian, sorted), and a
//! blake3 checksum of everything before it. Must not be believed unless all of that holds:
//! a damaged or foreign file is ignored (and rewritten by the next link that learns).

use crate::incremental::prepared::PreparedBase;
use crate::resolve::deps::{Digest, KnownDigest, KnownDigests};
use crate::resolve::FileId;

const MAGIC: &[u8; 8] = b"CLNKDIGS";
const FORMAT: u32 = 1;
const HEADER: usize = 8 + 4 + 32 + 8;
const RECORD: usize = 24;

/// The file's name in the cache's `bases/` directory.
pub fn file_name(base_key: &str) -> String {
    format!("{base_key}.digests")
}

/// The records `bytes` hold, if they are an intact digests file for `base_key`.
pub fn decode(bytes: &[u8], base_key: &str) -> Option<Vec<KnownDigest>> {
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if body.len() < HEADER || &body[..8] != MAGIC || blake3::hash(body).as_bytes() != checksum {
        return None;
    }
    let format = u32::from_le_bytes(body[8..12].try_into().ok()?);
    let count = usize::try_from(u64::from_le_bytes(body[44..52].try_into().ok()?)).ok()?;
    if format != FORMAT || body[12..44] != *blake3::hash(base_key.as_bytes()).as_bytes() {
        return None;
    }
    let (records, rest) = body[HEADER..].as_chunks::<RECORD>();
    if records.len() != count || !rest.is_empty() {
        return None;
    }
    let decoded: Vec<KnownDigest> = records
        .iter()
        .map(|record| {
            let field = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().expect("four bytes"));
            (FileId(field(0)), field(4), Digest::from_le_bytes(record[8..].try_into().expect("sixteen bytes")))
        })
        .collect();
    decoded.is_sorted_by_key(|&(file, symbol, _)| (file, symbol)).then_some(decoded)
}

/// The file holding `records` (sorted) for `base_key`.
pub fn encode(records: &[KnownDigest], base_key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + records.len() * RECORD + 32);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(blake3::hash(base_key.as_bytes()).as_bytes());
    bytes.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for &(file, symbol, digest) in records {
        bytes.extend_from_slice(&file.0.to_le_bytes());
        bytes.extend_from_slice(&symbol.to_le_bytes());
        bytes.extend_from_slice(&digest.to_le_bytes());
    }
    let checksum = blake3::hash(&bytes);
    bytes.extend_from_slice(checksum.as_bytes());
    bytes
}

/// `learned` with this link's `used` digests added (both sorted), leaving out what the
/// prepared base keeps; `None` when that adds nothing.
pub fn merged(learned: &[KnownDigest], used: &[KnownDigest], prepared: &PreparedBase) -> Option<Vec<KnownDigest>> {
    let key = |&(file, symbol, _): &KnownDigest| (file, symbol);
    let new: Vec<KnownDigest> = used
        .iter()
        .filter(|&&(file, symbol, _)| prepared.digest(file, symbol).is_none())
        .filter(|digest| learned.binary_search_by_key(&key(digest), key).is_err())
        .copied()
        .collect();
    if new.is_empty() {
        return None;
    }
    let mut all: Vec<KnownDigest> = learned.iter().chain(&new).copied().collect();
    all.sort_unstable_by_key(key);
    Some(all)
}

/// What a link knows: the prepared base's digests, then those learned beside it.
pub struct Known<'a> {
    pub prepared: Option<&'a PreparedBase>,
    pub learned: &'a [KnownDigest],
}

impl KnownDigests for Known<'_> {
    fn digest(&self, file: FileId, symbol: u32) -> Option<Digest> {
        self.prepared.and_then(|prepared| prepared.digest(file, symbol)).or_else(|| {
            let at = self.learned.binary_search_by_key(&(file, symbol), |&(f, s, _)| (f, s)).ok()?;
            Some(self.learned[at].2)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `encode` writes `decode` reads, for that key only; any damaged byte, a
    /// truncation or unsorted records make it unreadable.
    #[test]
    fn digests_files_round_trip_and_damage_is_noticed() {
        let records = [(FileId(0), 3, 7), (FileId(0), 9, u128::MAX), (FileId(2), 1, 0x1234)];
        let bytes = encode(&records, "key");
        assert_eq!(decode(&bytes, "key").as_deref(), Some(&records[..]));
        assert_eq!(decode(&bytes, "another key"), None);
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert_eq!(decode(&damaged, "key"), None, "byte {at}");
        }
        assert_eq!(decode(&bytes[..bytes.len() - 1], "key"), None);
        assert_eq!(decode(&[], "key"), None);
        let unsorted = [(FileId(1), 0, 1), (FileId(0), 0, 2)];
        assert_eq!(decode(&encode(&unsorted, "key"), "key"), None);
        let none: [KnownDigest; 0] = [];
        assert_eq!(decode(&encode(&none, "key"), "key").as_deref(), Some(&none[..]));
    }
}
