//! The build id's digest: what of the output it covers, hashed in pieces that can be
//! hashed as soon as their bytes are final (a reused base region's before the rest of the
//! output is written), and checked again by the output cache without a second pass.
//!
//! Only hashing: where the note lies and what it holds are the build-id note's
//! (`synthetic::build_id_note`); this must not write the output.

use rayon::prelude::*;

/// What the build id is a hash of, so that the output cache can check a stored output
/// without hashing it again when it stores it. The output is cut into pieces of
/// `BUILD_ID_PIECE` bytes (by file offset); each piece's XXH3-128 covers its bytes, with the
/// build id's own descriptor read as zeros, except verbatim copies of members whose blake3
/// the manifest section already records (`skipped`; each counts by its length, in the piece
/// where it starts). The digest is the blake3 of the file size and the pieces' digests, and
/// the build id its first bytes. Pieces are hashed in parallel, and those of a reused base
/// region as soon as it is patched, while the rest of the output is still being written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildIdRecord {
    pub digest: [u8; 32],
    /// File range of the build id's bytes.
    pub descriptor: (u64, u64),
    /// Sorted, disjoint file ranges left out.
    pub skipped: Vec<(u64, u64)>,
}

/// Output bytes per build-id piece.
pub const BUILD_ID_PIECE: usize = 4 << 20;

/// A build-id piece's index and digest. (XXH3 rather than blake3: the digest only has to
/// tell outputs apart and catch damage, and hashing is on the warm relink's critical path.)
pub type PieceDigest = (usize, u128);

impl BuildIdRecord {
    /// The digest of `bytes` (a whole output) under this record's rule.
    pub fn digest_of(&self, bytes: &[u8]) -> [u8; 32] {
        self.digest_with(bytes, &[])
    }

    /// As `digest_of`, with the digests of some pieces known already.
    pub(super) fn digest_with(&self, bytes: &[u8], known: &[PieceDigest]) -> [u8; 32] {
        let mut pieces: Vec<Option<u128>> = vec![None; bytes.len().div_ceil(BUILD_ID_PIECE)];
        for &(index, digest) in known {
            pieces[index] = Some(digest);
        }
        let pieces: Vec<u128> = pieces
            .into_par_iter()
            .enumerate()
            .map(|(index, known)| {
                known.unwrap_or_else(|| {
                    let start = index * BUILD_ID_PIECE;
                    self.piece_digest(index, &bytes[start..(start + BUILD_ID_PIECE).min(bytes.len())])
                })
            })
            .collect();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        for digest in &pieces {
            hasher.update(&digest.to_le_bytes());
        }
        *hasher.finalize().as_bytes()
    }

    /// The digests of the pieces wholly inside `bytes`, which start at file offset `start`,
    /// but those in `known`.
    pub(super) fn pieces_within(&self, bytes: &[u8], start: u64, known: &[PieceDigest]) -> Vec<PieceDigest> {
        let (start, end) = (start as usize, start as usize + bytes.len());
        (start.div_ceil(BUILD_ID_PIECE)..end / BUILD_ID_PIECE)
            .filter(|index| !known.iter().any(|&(known, _)| known == *index))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|index| {
                let from = index * BUILD_ID_PIECE - start;
                (index, self.piece_digest(index, &bytes[from..from + BUILD_ID_PIECE]))
            })
            .collect()
    }

    /// The digest of piece `index`, whose bytes are `bytes`.
    fn piece_digest(&self, index: usize, bytes: &[u8]) -> u128 {
        let start = index * BUILD_ID_PIECE;
        let end = start + bytes.len();
        let (zeros_from, zeros_to) = (self.descriptor.0 as usize, self.descriptor.1 as usize);
        let mut hasher = twox_hash::XxHash3_128::new();
        let feed = |hasher: &mut twox_hash::XxHash3_128, from: usize, to: usize| {
            if from >= to {
                return;
            }
            if to <= zeros_from || from >= zeros_to {
                hasher.write(&bytes[from - start..to - start]);
                return;
            }
            hasher.write(&bytes[from - start..zeros_from.max(from) - start]);
            hasher.write(&vec![0; zeros_to.min(to) - zeros_from.max(from)]);
            hasher.write(&bytes[zeros_to.min(to) - start..to - start]);
        };
        let mut next = start;
        let first = self.skipped.partition_point(|&(_, skipped_end)| (skipped_end as usize) <= start);
        for &(skipped_start, skipped_end) in &self.skipped[first..] {
            let (skipped_start, skipped_end) = (skipped_start as usize, skipped_end as usize);
            if skipped_start >= end {
                break;
            }
            if skipped_start >= start {
                feed(&mut hasher, next, skipped_start);
                hasher.write(&((skipped_end - skipped_start) as u64).to_le_bytes());
            }
            next = next.max(skipped_end.min(end));
        }
        feed(&mut hasher, next, end);
        hasher.finish_128()
    }

    /// Whether `bytes` is an output this record describes, skipped ranges aside: its
    /// digest matches and its build id is the digest's.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let (from, to) = (self.descriptor.0 as usize, self.descriptor.1 as usize);
        let in_bounds = from <= to
            && to - from <= self.digest.len()
            && to <= bytes.len()
            && self.skipped.iter().all(|&(s, e)| s <= e && e as usize <= bytes.len())
            && self.skipped.windows(2).all(|w| w[0].1 <= w[1].0);
        in_bounds && bytes[from..to] == self.digest[..to - from] && self.digest_of(bytes) == self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that differ everywhere (a counter hashed through xorshift).
    fn bytes(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    const PIECE: u64 = BUILD_ID_PIECE as u64;

    fn record() -> BuildIdRecord {
        BuildIdRecord {
            digest: [0; 32],
            descriptor: (PIECE + 100, PIECE + 120),
            // One range inside a piece, one across a boundary, one ending on a boundary.
            skipped: vec![(1000, 5000), (2 * PIECE - 10, 2 * PIECE + 700), (3 * PIECE - 64, 3 * PIECE)],
        }
    }

    #[test]
    fn pieces_hashed_early_give_the_same_digest() {
        let output = bytes(3 * BUILD_ID_PIECE + 12345);
        let record = record();
        let whole = record.digest_of(&output);
        // A region from the middle of piece 0 to inside piece 3: pieces 1 and 2 lie within.
        let (start, end) = (PIECE / 2, 3 * PIECE + 10);
        let known = record.pieces_within(&output[start as usize..end as usize], start, &[]);
        assert_eq!(known.iter().map(|&(index, _)| index).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(record.digest_with(&output, &known), whole);
    }

    #[test]
    fn the_digest_covers_every_byte_but_the_left_out_ones() {
        let output = bytes(3 * BUILD_ID_PIECE + 12345);
        let record = record();
        let whole = record.digest_of(&output);
        let changed = |at: u64| {
            let mut copy = output.clone();
            copy[at as usize] ^= 1;
            record.digest_of(&copy) != whole
        };
        for at in [0, 999, 5000, PIECE, PIECE + 99, PIECE + 120, 2 * PIECE - 11, 2 * PIECE + 700, 3 * PIECE] {
            assert!(changed(at), "byte {at:#x} is not covered");
        }
        for at in [1000, 4999, PIECE + 100, PIECE + 119, 2 * PIECE - 10, 2 * PIECE, 2 * PIECE + 699, 3 * PIECE - 1] {
            assert!(!changed(at), "byte {at:#x} should be left out");
        }
        // A left-out range still counts by its length; so does the file's.
        let mut moved = record.clone();
        moved.skipped[0] = (1000, 5001);
        assert_ne!(moved.digest_of(&output), whole);
        assert_ne!(record.digest_of(&output[..output.len() - 1]), whole);
    }
}
