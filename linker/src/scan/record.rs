//! The recorded form of a chunk's scan: what a later link with the same base replays
//! instead of scanning again (see `replay_chunk`). This module owns the byte encoding of
//! that result and the interface through which the scan asks for recorded chunks; where
//! the records are kept (the prepared base, in `incremental`) is not its business, and it
//! decides nothing about whether a record may be used.

use super::{Chunk, TargetRecord};
use crate::sections::InputSectionId;

/// Bytes per target record: symbol index (u32), facts (u8), bits (u8), two zero bytes.
pub const TARGET_RECORD: usize = 8;
/// Bytes per relocation-type count: type slot (u32), count (u64).
pub const TYPE_RECORD: usize = 12;

/// Recorded scans of base chunks, as an earlier link with the same base left them.
pub trait ScanRecords: Sync {
    /// The recorded chunks of one input section, ready to be replayed, if they cover the
    /// section exactly (`relocations` relocations, `size` bytes). Each chunk's `prepared`
    /// names its record.
    fn chunks_of(&self, input: InputSectionId, relocations: usize, size: u64) -> Option<Vec<Chunk>>;

    /// The recorded scan numbered `index` (a chunk's `prepared`).
    fn scan_of(&self, index: usize) -> RecordedScan<'_>;
}

/// One chunk's recorded scan, read in place from its encoded records.
#[derive(Clone, Copy)]
pub struct RecordedScan<'a> {
    pub relative: u32,
    pub symbolic: u32,
    pub uses_tls_ld: bool,
    /// `TARGET_RECORD`-byte records.
    pub targets: &'a [u8],
    /// Little-endian u64 output offsets.
    pub relr_offsets: &'a [u8],
    /// `TYPE_RECORD`-byte records.
    pub type_counts: &'a [u8],
}

impl<'a> RecordedScan<'a> {
    pub fn targets(&self) -> impl Iterator<Item = TargetRecord> + Clone + 'a {
        self.targets.chunks_exact(TARGET_RECORD).map(|record| TargetRecord {
            symbol: u32::from_le_bytes(record[..4].try_into().expect("four bytes")),
            facts: record[4],
            bits: record[5],
        })
    }

    pub fn relr_offsets(&self) -> impl Iterator<Item = u64> + 'a {
        self.relr_offsets.chunks_exact(8).map(|word| u64::from_le_bytes(word.try_into().expect("eight bytes")))
    }

    /// The chunk's relocations by type: (type slot, count) for the types present.
    pub fn type_counts(&self) -> impl Iterator<Item = (u32, u64)> + Clone + 'a {
        self.type_counts.chunks_exact(TYPE_RECORD).map(|record| {
            let slot = u32::from_le_bytes(record[..4].try_into().expect("four bytes"));
            (slot, u64::from_le_bytes(record[4..].try_into().expect("eight bytes")))
        })
    }
}

/// Appends the encoding of `targets` to `out`.
pub fn encode_targets(targets: impl IntoIterator<Item = TargetRecord>, out: &mut Vec<u8>) {
    for target in targets {
        out.extend_from_slice(&target.symbol.to_le_bytes());
        out.extend_from_slice(&[target.facts, target.bits, 0, 0]);
    }
}

/// Appends the encoding of `(type slot, count)` pairs to `out`.
pub fn encode_type_counts(counts: impl IntoIterator<Item = (u32, u64)>, out: &mut Vec<u8>) {
    for (slot, count) in counts {
        out.extend_from_slice(&slot.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_type_counts_read_back_as_written() {
        let targets = [
            TargetRecord { symbol: 0, facts: 0, bits: 0 },
            TargetRecord { symbol: u32::MAX, facts: 0x1f, bits: 0x80 },
            TargetRecord { symbol: 70_000, facts: 3, bits: 1 },
        ];
        let counts = [(0, 1), (41, u64::MAX), (7, 1 << 40)];
        let (mut target_bytes, mut count_bytes) = (Vec::new(), Vec::new());
        encode_targets(targets, &mut target_bytes);
        encode_type_counts(counts, &mut count_bytes);
        let relr: Vec<u8> = [8u64, 1 << 33].iter().flat_map(|v| v.to_le_bytes()).collect();
        let scan = RecordedScan {
            relative: 1,
            symbolic: 2,
            uses_tls_ld: false,
            targets: &target_bytes,
            relr_offsets: &relr,
            type_counts: &count_bytes,
        };
        assert_eq!(target_bytes.len(), targets.len() * TARGET_RECORD);
        assert_eq!(scan.targets().collect::<Vec<_>>(), targets);
        assert_eq!(scan.type_counts().collect::<Vec<_>>(), counts);
        assert_eq!(scan.relr_offsets().collect::<Vec<_>>(), [8, 1 << 33]);
    }
}
