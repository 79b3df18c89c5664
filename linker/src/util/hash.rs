//! A fast, deterministic hasher for symbol-name maps (FxHash's multiply-rotate scheme).
//!
//! Not for anything security sensitive: inputs are trusted to be linker inputs, and only
//! lookup speed matters here. Iteration order of these maps must never reach the output.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(value as u64);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    /// The multiply-rotate state has weak low bits (it can only carry entropy upwards), and
    /// hash tables index buckets with the low bits: finish with a full avalanche so names that
    /// differ only in their last bytes spread over the table.
    #[inline]
    fn finish(&self) -> u64 {
        let mut hash = self.hash;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash
    }
}

pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Hashes a symbol name once; the result keys [`NameTable`] without hashing again.
#[inline]
pub fn name_hash(name: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(name);
    hasher.finish()
}

/// A (name, scope) key that carries its own hash, so the hashing of millions of symbol
/// names can happen in parallel before the single-threaded resolution loop.
#[derive(Clone, Copy, Debug)]
pub struct NameKey<'data> {
    pub hash: u64,
    pub name: &'data [u8],
    pub scope: u32,
}

impl<'data> NameKey<'data> {
    pub fn new(name: &'data [u8], scope: u32) -> NameKey<'data> {
        NameKey { hash: name_hash(name), name, scope }
    }
}

impl PartialEq for NameKey<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.scope == other.scope && self.name == other.name
    }
}

impl Eq for NameKey<'_> {}

impl NameKey<'_> {
    /// The hash of the (name, scope) pair.
    #[inline]
    pub fn table_hash(&self) -> u64 {
        self.hash ^ (self.scope as u64).wrapping_mul(SEED)
    }
}

/// (name, scope) → dense id, holding only the ids: the keys live with whoever owns the ids
/// (`key_of`). A big link puts hundreds of thousands of names in; four bytes a slot keep
/// the table in cache where a map of whole keys (a DRAM miss or three per insert) would
/// not be.
#[derive(Default)]
pub struct NameTable {
    table: hashbrown::HashTable<u32>,
}

impl NameTable {
    /// The id of `key`, if it is in the table.
    #[inline]
    pub fn get<'k>(&self, key: &NameKey, key_of: impl Fn(u32) -> NameKey<'k>) -> Option<u32> {
        self.table.find(key.table_hash(), |&id| key_of(id) == *key).copied()
    }

    /// The id of `key`, which becomes `next` if it was not in the table; and whether it was
    /// inserted.
    #[inline]
    pub fn get_or_insert<'k>(&mut self, key: &NameKey, next: u32, key_of: impl Fn(u32) -> NameKey<'k>) -> (u32, bool) {
        let hash_of = |&id: &u32| key_of(id).table_hash();
        match self.table.entry(key.table_hash(), |&id| key_of(id) == *key, hash_of) {
            hashbrown::hash_table::Entry::Occupied(entry) => (*entry.get(), false),
            hashbrown::hash_table::Entry::Vacant(entry) => {
                entry.insert(next);
                (next, true)
            }
        }
    }

    /// Makes room for `additional` more ids without rehashing on the way.
    pub fn reserve<'k>(&mut self, additional: usize, key_of: impl Fn(u32) -> NameKey<'k>) {
        self.table.reserve(additional, |&id| key_of(id).table_hash());
    }
}
