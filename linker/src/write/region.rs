//! The base region in the writer: what it does with it (write it, record its chunks'
//! patches, or reuse a stored copy and patch it), the copy of a stored region into the
//! output (early, on a thread of its own, or in the write phase; cloned rather than copied
//! where the file system shares blocks between files), and the build-id pieces of a
//! patched region. The region's bytes come from the caller (a prepared base); this
//! must not read or decide anything about prepared bases.

use super::build_id::{BuildIdRecord, PieceDigest};
use super::patches::Patches;
use super::{allocate, temporary_beside, write_mapped, Writer};
use crate::util::background::Background;
use crate::util::error::{Error, Result};
use crate::util::files::Temporary;
use std::ops::Range;
use std::path::Path;

/// What the writer does with the base region (see `sections::in_base_region` and
/// `prepared.rs`).
pub enum BaseRegion<'a> {
    /// Nothing special: every chunk is copied and relocated.
    Write,
    /// As `Write`, and every chunk of the region is also classified for a prepared base:
    /// which of its relocations may change value in another link with the same base.
    Record,
    /// The region's bytes (`range` of the output) are copied from `stored` (a prepared
    /// base's, for this layout); a chunk with patches (indexed like the plan's chunks) then
    /// only applies those relocations, any other chunk is written in full over the copy.
    Reuse { stored: &'a [u8], range: Range<u64>, patches: Vec<Option<Patches<'a>>> },
}

/// How a stored region reached the output before the write phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionCopy {
    /// It has not (there is none, or the write phase copies it).
    NotYet,
    /// Its bytes were copied.
    Copied,
    /// Its whole blocks share the prepared base's (`util::files::clone_range`); the rest,
    /// if any, was copied. Writing a page unshares its block: such pages are not mapped
    /// writable in bulk.
    Cloned,
}

/// Shares the whole pages of `len` bytes at `at` of `from` with `to` at `start` where the
/// file system can (both offsets page-aligned); how many bytes were cloned (0: none).
fn clone_pages(from: &std::fs::File, at: u64, to: &std::fs::File, start: u64, len: u64) -> u64 {
    let page = crate::util::mapping::PAGE_SIZE;
    let whole = len / page * page;
    if !at.is_multiple_of(page) || !start.is_multiple_of(page) || whole == 0 {
        return 0;
    }
    match crate::util::files::clone_range(from, at, to, start, whole) {
        Ok(()) => whole,
        Err(_) => 0,
    }
}

/// Writes a prepared base's stored region at `start` of the output. A low-priority thread
/// lets the pages fault instead of populating them (`at_low_priority`): populating holds
/// the process's memory-map lock, and preempted holding it, such a thread would keep the
/// link's own threads from allocating.
pub(super) fn write_region(stored: &[u8], output: &std::fs::File, start: u64, at_low_priority: bool) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let written =
        if at_low_priority { output.write_all_at(stored, start) } else { write_mapped(stored, output, start) };
    written.map_err(|e| Error::new(format!("cannot copy the prepared base region into the output: {e}")))
}

/// A new output file into which a prepared base's region is being written on a thread of
/// its own, started as soon as the prepared base is open: the copy then overlaps symbol
/// resolution, scanning and layout instead of the write phase. Dropping it waits for the
/// copy (cut short: it goes in blocks and stops at the next) and removes the file.
pub struct EarlyRegion {
    pub(super) range: Range<u64>,
    copier: Background<Result<(Temporary, RegionCopy)>>,
}

impl EarlyRegion {
    /// Starts copying `range` of the future output from offset `at` (page-aligned) of
    /// `file` into a new temporary file beside `output`: its whole pages are cloned where
    /// the file system can (XFS with `reflink=1`, btrfs), the rest copied.
    pub fn start(output: &Path, file: &std::fs::File, at: u64, range: Range<u64>) -> Option<EarlyRegion> {
        let file = file.try_clone().ok()?;
        let output = output.to_path_buf();
        let len = usize::try_from(range.end - range.start).ok()?;
        let start = range.start;
        // Resolution runs meanwhile and is what the link waits for; the copy has until the
        // write phase, through the mostly single-threaded phases between.
        let copier = Background::spawn("chainlink-region", move |stop| {
            let temp = temporary_beside(&output)?;
            let end = start + len as u64;
            temp.as_file().set_len(end).map_err(|e| Error::new(format!("cannot size the output: {e}")))?;
            let cloned = clone_pages(&file, at, temp.as_file(), start, len as u64) as usize;
            if cloned == 0 {
                allocate(temp.as_file(), end)?;
            }
            let rest = len - cloned;
            if rest > 0 {
                // SAFETY: prepared bases are replaced by rename, never changed in place.
                let stored = unsafe { memmap2::MmapOptions::new().offset(at + cloned as u64).len(rest).map(&file) }
                    .map_err(|e| Error::new(format!("cannot map the prepared base region: {e}")))?;
                const BLOCK: usize = 8 << 20;
                for (index, block) in stored.chunks(BLOCK).enumerate() {
                    if stop.is_set() {
                        return Err(Error::new("the base region is not wanted"));
                    }
                    write_region(block, temp.as_file(), start + (cloned + index * BLOCK) as u64, true)?;
                }
            }
            Ok((temp, if cloned > 0 { RegionCopy::Cloned } else { RegionCopy::Copied }))
        })?;
        Some(EarlyRegion { range, copier })
    }

    /// Waits for the copy; the file holding it, and how the region got there.
    pub(super) fn finish(self) -> Result<(Temporary, RegionCopy)> {
        self.copier.finish().unwrap_or_else(|| Err(Error::new("the base region copier panicked")))
    }
}

impl Writer<'_, '_> {
    /// The build-id pieces wholly inside the (reused, now patched) base region at `range`,
    /// read through a mapping of their own: the output's is still being written elsewhere.
    /// Empty if the region cannot be mapped (its pieces are then hashed with the rest).
    pub(super) fn region_pieces(
        &self,
        file: &std::fs::File,
        range: &Range<u64>,
        build_id: &BuildIdRecord,
    ) -> Vec<PieceDigest> {
        let Ok(len) = usize::try_from(range.end - range.start) else { return Vec::new() };
        // SAFETY: the file is this link's own temporary output, and nothing writes this
        // range any more: the jobs over the region have finished, and every other job
        // writes outside it (the base region holds base chunks only).
        let Ok(region) = (unsafe { memmap2::MmapOptions::new().offset(range.start).len(len).map(file) }) else {
            return Vec::new();
        };
        crate::util::mapping::populate(&region);
        build_id.pieces_within(&region, range.start, &[])
    }
}
