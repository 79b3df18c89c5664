//! `.hash` (`DT_HASH`): the System V symbol hash table over `.dynsym`, for
//! `--hash-style=sysv|both` (loaders and tools that predate `.gnu.hash` read it).
//!
//! Sizes and writes the section from the `.dynsym` order the layout fixed. Must not
//! decide what is in `.dynsym`.

use crate::layout::gnu_hash::sysv_hash;

/// GNU ld's bucket counts: the largest of these not above the number of symbols.
const BUCKET_COUNTS: &[u32] =
    &[1, 3, 17, 37, 67, 97, 131, 197, 263, 521, 1031, 2053, 4099, 8209, 16411, 32771, 65537, 131101, 262147];

/// Buckets for `symbols` `.dynsym` entries (the null symbol included).
pub fn bucket_count(symbols: usize) -> u32 {
    let last = BUCKET_COUNTS[BUCKET_COUNTS.len() - 1];
    BUCKET_COUNTS.windows(2).find(|pair| (symbols as u64) < u64::from(pair[1])).map_or(last, |pair| pair[0])
}

/// The section's size for `symbols` `.dynsym` entries (the null symbol included).
pub fn section_size(symbols: usize) -> u64 {
    4 * (2 + u64::from(bucket_count(symbols)) + symbols as u64)
}

/// Writes the table for `.dynsym` entries named `names` (entry `i + 1` is `names[i]`).
pub fn write(names: &[&[u8]], out: &mut [u8]) {
    let symbols = names.len() + 1;
    let nbucket = bucket_count(symbols) as usize;
    let mut buckets = vec![0u32; nbucket];
    let mut chains = vec![0u32; symbols];
    for (i, name) in names.iter().enumerate() {
        let index = i as u32 + 1;
        let bucket = sysv_hash(name) as usize % nbucket;
        chains[index as usize] = buckets[bucket];
        buckets[bucket] = index;
    }
    let words = [nbucket as u32, symbols as u32].into_iter().chain(buckets).chain(chains);
    for (at, word) in words.enumerate() {
        out[4 * at..4 * at + 4].copy_from_slice(&word.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader's lookup, written from the ELF specification.
    fn lookup(table: &[u8], names: &[&[u8]], name: &[u8]) -> Option<u32> {
        let word = |i: usize| u32::from_le_bytes(table[4 * i..4 * i + 4].try_into().unwrap());
        let (nbucket, nchain) = (word(0) as usize, word(1) as usize);
        let mut index = word(2 + sysv_hash(name) as usize % nbucket);
        while index != 0 {
            if names[index as usize - 1] == name {
                return Some(index);
            }
            index = word(2 + nbucket + index as usize);
            assert!((index as usize) < nchain);
        }
        None
    }

    #[test]
    fn finds_every_symbol() {
        assert_eq!(bucket_count(1), 1);
        assert_eq!(bucket_count(3), 3);
        assert_eq!(bucket_count(16), 3);
        assert_eq!(bucket_count(17), 17);
        assert_eq!(bucket_count(1_000_000), 262147);
        let owned: Vec<Vec<u8>> = (0..300).map(|i| format!("symbol_{i}").into_bytes()).collect();
        let names: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut table = vec![0xff; section_size(names.len() + 1) as usize];
        write(&names, &mut table);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(lookup(&table, &names, name), Some(i as u32 + 1));
        }
        assert_eq!(lookup(&table, &names, b"absent"), None);
    }
}
