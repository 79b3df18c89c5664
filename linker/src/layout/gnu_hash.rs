//! Hash functions and the `.gnu.hash` table layout for the dynamic symbol table.
//!
//! This module only computes hashes, the order of hashed `.dynsym` entries, and the bytes of
//! `.gnu.hash`. It must not decide which symbols are exported or where sections go; the caller
//! hands it hashes and a `.dynsym` index and gets bytes back.

/// The hash used by `DT_GNU_HASH` (Bernstein's `h * 33 + c`, starting from 5381).
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |hash, &byte| hash.wrapping_mul(33).wrapping_add(u32::from(byte)))
}

/// The classic System V ELF hash, used by `DT_HASH` and by `vd_hash` / `vna_hash` in the
/// symbol-versioning sections.
pub fn sysv_hash(name: &[u8]) -> u32 {
    let mut hash: u32 = 0;
    for &byte in name {
        hash = (hash << 4).wrapping_add(u32::from(byte));
        let high = hash & 0xf000_0000;
        hash ^= high >> 24;
        hash &= !high;
    }
    hash
}

/// Size of the fixed `.gnu.hash` header: nbuckets, symoffset, bloom_size, bloom_shift.
const HEADER_SIZE: usize = 16;
/// Bloom filter words are 64 bits wide in ELF64.
const BLOOM_WORD_BITS: u32 = 64;
/// Roughly how many bloom filter bits to spend per hashed symbol.
const BLOOM_BITS_PER_SYMBOL: usize = 12;
/// Shift for the second bloom filter bit (the value GNU tools and lld use for ELF64).
const BLOOM_SHIFT: u32 = 26;

/// Layout plan for the hashed (defined, exported) part of `.dynsym`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GnuHashPlan {
    pub nbuckets: u32,
    pub bloom_words: u32,
    pub bloom_shift: u32,
}

impl GnuHashPlan {
    /// Chooses table sizes for `symbol_count` hashed symbols: about four symbols per bucket
    /// (at least one bucket) and a power-of-two number of 64-bit bloom words giving about
    /// twelve bits per symbol (at least one word).
    pub fn new(symbol_count: usize) -> GnuHashPlan {
        let nbuckets = u32::try_from((symbol_count / 4).max(1)).unwrap_or(u32::MAX);
        let bloom_bits = symbol_count.saturating_mul(BLOOM_BITS_PER_SYMBOL);
        let words = (bloom_bits / BLOOM_WORD_BITS as usize).max(1);
        let bloom_words = u32::try_from(words.next_power_of_two()).unwrap_or(1 << 31);
        GnuHashPlan { nbuckets, bloom_words, bloom_shift: BLOOM_SHIFT }
    }

    /// The bucket a hash falls into.
    pub fn bucket(&self, hash: u32) -> u32 {
        hash % self.nbuckets.max(1)
    }

    /// The order in which hashed symbols must appear in `.dynsym`: indices into `hashes`,
    /// sorted by bucket. The sort is stable, so symbols sharing a bucket keep their input
    /// order and the output is deterministic.
    pub fn order(&self, hashes: &[u32]) -> Vec<u32> {
        // A counting sort: one pass to count each bucket, one to place (stable).
        let mut next = vec![0u32; self.nbuckets.max(1) as usize + 1];
        for &hash in hashes {
            next[self.bucket(hash) as usize + 1] += 1;
        }
        for bucket in 1..next.len() {
            next[bucket] += next[bucket - 1];
        }
        let mut indices = vec![0u32; hashes.len()];
        for (index, &hash) in hashes.iter().enumerate() {
            let slot = &mut next[self.bucket(hash) as usize];
            indices[*slot as usize] = u32::try_from(index).unwrap_or(u32::MAX);
            *slot += 1;
        }
        indices
    }

    /// Size in bytes of the `.gnu.hash` section for `symbol_count` hashed symbols.
    pub fn section_size(&self, symbol_count: usize) -> usize {
        HEADER_SIZE + 8 * self.bloom_words as usize + 4 * self.nbuckets as usize + 4 * symbol_count
    }

    /// Writes the complete `.gnu.hash` section for `sorted_hashes` (already in the order
    /// returned by [`GnuHashPlan::order`]), whose first symbol has `.dynsym` index
    /// `symoffset`. With no symbols the result is a valid table in which every lookup fails.
    ///
    /// `out.len()` must equal `self.section_size(sorted_hashes.len())`; anything else is a
    /// bug in the caller.
    pub fn write(&self, symoffset: u32, sorted_hashes: &[u32], out: &mut [u8]) {
        assert_eq!(out.len(), self.section_size(sorted_hashes.len()), ".gnu.hash output buffer has the wrong size");
        debug_assert!(
            sorted_hashes.windows(2).all(|pair| self.bucket(pair[0]) <= self.bucket(pair[1])),
            ".gnu.hash symbols must be sorted by bucket"
        );
        out.fill(0);
        let nbuckets = self.nbuckets.max(1);
        let bloom_words = self.bloom_words.max(1);

        let (header, rest) = out.split_at_mut(HEADER_SIZE);
        for (field, value) in header.chunks_exact_mut(4).zip([nbuckets, symoffset, bloom_words, self.bloom_shift]) {
            field.copy_from_slice(&value.to_le_bytes());
        }

        let (bloom, rest) = rest.split_at_mut(8 * bloom_words as usize);
        let mut words = vec![0u64; bloom_words as usize];
        for &hash in sorted_hashes {
            let word = (hash / BLOOM_WORD_BITS) % bloom_words;
            let bits = (1u64 << (hash % BLOOM_WORD_BITS))
                | (1u64 << (hash.checked_shr(self.bloom_shift).unwrap_or(0) % BLOOM_WORD_BITS));
            if let Some(slot) = words.get_mut(word as usize) {
                *slot |= bits;
            }
        }
        for (field, word) in bloom.chunks_exact_mut(8).zip(words) {
            field.copy_from_slice(&word.to_le_bytes());
        }

        let (buckets, chain) = rest.split_at_mut(4 * nbuckets as usize);
        let mut previous_bucket = None;
        for (position, &hash) in sorted_hashes.iter().enumerate() {
            let bucket = self.bucket(hash);
            if previous_bucket != Some(bucket) {
                let index = symoffset.wrapping_add(u32::try_from(position).unwrap_or(u32::MAX));
                let start = 4 * bucket as usize;
                if let Some(field) = buckets.get_mut(start..start + 4) {
                    field.copy_from_slice(&index.to_le_bytes());
                }
                previous_bucket = Some(bucket);
            }
        }

        for (position, (field, &hash)) in chain.chunks_exact_mut(4).zip(sorted_hashes).enumerate() {
            let last_in_bucket =
                sorted_hashes.get(position + 1).is_none_or(|&next| self.bucket(next) != self.bucket(hash));
            let value = (hash & !1) | u32::from(last_in_bucket);
            field.copy_from_slice(&value.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_u32(data: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(data[offset..offset + 4].try_into().unwrap())
    }

    fn read_u64(data: &[u8], offset: usize) -> u64 {
        u64::from_le_bytes(data[offset..offset + 8].try_into().unwrap())
    }

    /// A plain re-implementation of the dynamic loader's `.gnu.hash` lookup. Returns the
    /// `.dynsym` index whose name is `name`, given the names of all `.dynsym` entries.
    fn lookup(table: &[u8], dynsym_names: &[&[u8]], name: &[u8]) -> Option<u32> {
        let nbuckets = read_u32(table, 0);
        let symoffset = read_u32(table, 4);
        let bloom_size = read_u32(table, 8);
        let bloom_shift = read_u32(table, 12);
        let bloom_start = 16;
        let buckets_start = bloom_start + 8 * bloom_size as usize;
        let chain_start = buckets_start + 4 * nbuckets as usize;

        let hash = gnu_hash(name);
        let word = read_u64(table, bloom_start + 8 * ((hash / 64) % bloom_size) as usize);
        let mask = (1u64 << (hash % 64)) | (1u64 << ((hash >> bloom_shift) % 64));
        if word & mask != mask {
            return None;
        }
        let mut index = read_u32(table, buckets_start + 4 * (hash % nbuckets) as usize);
        if index == 0 {
            return None;
        }
        loop {
            let chain_hash = read_u32(table, chain_start + 4 * (index - symoffset) as usize);
            if (chain_hash | 1) == (hash | 1) && dynsym_names[index as usize] == name {
                return Some(index);
            }
            if chain_hash & 1 != 0 {
                return None;
            }
            index += 1;
        }
    }

    #[test]
    fn known_hash_values() {
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(sysv_hash(b""), 0);
        assert_eq!(sysv_hash(b"printf"), 0x0779_05a6);
        assert_eq!(sysv_hash(b"GLIBC_2.2.5"), 0x0969_1a75);
        assert_eq!(sysv_hash(b"GLIBC_2.14"), 0x0696_9194);
    }

    #[test]
    fn plan_sizes() {
        let empty = GnuHashPlan::new(0);
        assert_eq!((empty.nbuckets, empty.bloom_words), (1, 1));
        assert_eq!(empty.section_size(0), 16 + 8 + 4);
        let plan = GnuHashPlan::new(1000);
        assert_eq!(plan.nbuckets, 250);
        assert!(plan.bloom_words.is_power_of_two());
        assert_eq!(plan.section_size(1000), 16 + 8 * plan.bloom_words as usize + 1000 + 4000);
    }

    #[test]
    fn order_is_stable_by_bucket() {
        let plan = GnuHashPlan { nbuckets: 3, bloom_words: 1, bloom_shift: 26 };
        assert_eq!(plan.order(&[5, 3, 8, 6, 1, 4]), vec![1, 3, 4, 5, 0, 2]);
        assert!(plan.order(&[]).is_empty());
    }

    fn build_and_check(names: &[&[u8]], symoffset: u32) {
        let hashes: Vec<u32> = names.iter().map(|name| gnu_hash(name)).collect();
        let plan = GnuHashPlan::new(names.len());
        let order = plan.order(&hashes);
        let sorted: Vec<u32> = order.iter().map(|&i| hashes[i as usize]).collect();
        let mut table = vec![0xaa; plan.section_size(names.len())];
        plan.write(symoffset, &sorted, &mut table);

        // .dynsym: `symoffset` unhashed entries (index 0 is the null symbol), then the
        // hashed ones in plan order.
        let mut dynsym: Vec<&[u8]> = vec![b"<unhashed>"; symoffset as usize];
        dynsym.extend(order.iter().map(|&i| names[i as usize]));

        for (position, &i) in order.iter().enumerate() {
            let name = names[i as usize];
            assert_eq!(lookup(&table, &dynsym, name), Some(symoffset + position as u32));
        }
        for absent in [&b"absent"[..], b"", b"mallocx", b"foo_", b"<unhashed>"] {
            assert_eq!(lookup(&table, &dynsym, absent), None);
        }
    }

    #[test]
    fn lookup_finds_every_symbol() {
        build_and_check(&[b"foo"], 1);
        build_and_check(&[b"foo", b"bar", b"baz", b"printf", b"malloc", b"free"], 3);
        let many: Vec<Vec<u8>> = (0..500).map(|i| format!("symbol_{i}").into_bytes()).collect();
        let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        build_and_check(&many, 7);
    }

    #[test]
    fn empty_table_finds_nothing() {
        let plan = GnuHashPlan::new(0);
        let mut table = vec![0xff; plan.section_size(0)];
        plan.write(1, &[], &mut table);
        assert_eq!(read_u32(&table, 0), 1);
        assert_eq!(read_u32(&table, 4), 1);
        assert_eq!(lookup(&table, &[b""], b"foo"), None);
        assert_eq!(lookup(&table, &[b""], b""), None);
    }
}
