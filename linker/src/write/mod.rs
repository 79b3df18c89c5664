//! Phase 6: write the output file in one parallel pass over a memory map.
//!
//! The file is created next to the target, sized up front, split into disjoint slices (one
//! set per job: an input chunk with its dynamic relocations, or a synthetic section) and
//! filled in parallel. Relocations are applied while copying. Only after the build id is
//! computed is the file renamed over the target; any error drops the temporary file, so a
//! failed link never leaves a partial output. Must not change the layout.

pub mod build_id;
pub mod compress;
pub mod map_file;
pub mod patches;
mod synthetic;

use crate::arch::{Arch, DynReloc, Overflow, RelocExpr};
use crate::config::Config;
use crate::input::object_file::{rela_parts, reloc_bytes, ENDIAN};
use crate::layout::{self, Layout};
use crate::resolve::SymbolDb;
use crate::scan::{self, Chunk, GotKind, Plan, Scanner, SymRef, SymbolFacts};
use crate::sections::Synthetic;
use crate::tables::ImageDirectory;
use crate::util::background::Background;
use crate::util::error::{Error, Result};
use crate::util::files::Temporary;
pub use build_id::BuildIdRecord;
use build_id::PieceDigest;
use object::elf;
use object::read::elf::SectionHeader as _;
use patches::{ChunkPatches, Depends, Patches};
use rayon::prelude::*;
use std::io::Write as _;
use std::ops::Range;
use std::path::Path;

/// Writes `bytes`, which lie in a file mapping (an input's, a prepared base's), at
/// `offset` of `to` through the page cache, as `cp` does. Their pages are mapped in bulk
/// first: `write` would otherwise fault them in one at a time. (Measured on ext4, this is
/// faster than `copy_file_range`, which moves the data through a pipe page by page.)
fn write_mapped(bytes: &[u8], to: &std::fs::File, offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    crate::util::mapping::populate(bytes);
    to.write_all_at(bytes, offset)
}

/// Writes a prepared base's stored region at `start` of the output. A low-priority thread
/// lets the pages fault instead of populating them (`at_low_priority`): populating holds
/// the process's memory-map lock, and preempted holding it, such a thread would keep the
/// link's own threads from allocating.
fn write_region(stored: &[u8], output: &std::fs::File, start: u64, at_low_priority: bool) -> Result<()> {
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
    range: Range<u64>,
    copier: Background<Result<Temporary>>,
}

impl EarlyRegion {
    /// Starts copying `range` of the future output from offset `at` (page-aligned) of
    /// `file` into a new temporary file beside `output`.
    pub fn start(output: &Path, file: &std::fs::File, at: u64, range: Range<u64>) -> Option<EarlyRegion> {
        let file = file.try_clone().ok()?;
        let output = output.to_path_buf();
        let len = usize::try_from(range.end - range.start).ok()?;
        let start = range.start;
        // Resolution runs meanwhile and is what the link waits for; the copy has until the
        // write phase, through the mostly single-threaded phases between.
        let copier = Background::spawn("chainlink-region", move |stop| {
            let temp = temporary_beside(&output)?;
            allocate(temp.as_file(), start + len as u64)?;
            // SAFETY: prepared bases are replaced by rename, never changed in place.
            let stored = unsafe { memmap2::MmapOptions::new().offset(at).len(len).map(&file) }
                .map_err(|e| Error::new(format!("cannot map the prepared base region: {e}")))?;
            const BLOCK: usize = 8 << 20;
            for (index, block) in stored.chunks(BLOCK).enumerate() {
                if stop.is_set() {
                    return Err(Error::new("the base region is not wanted"));
                }
                write_region(block, temp.as_file(), start + (index * BLOCK) as u64, true)?;
            }
            Ok(temp)
        })?;
        Some(EarlyRegion { range, copier })
    }

    /// Waits for the copy; the file holding it.
    fn finish(self) -> Result<Temporary> {
        self.copier.finish().unwrap_or_else(|| Err(Error::new("the base region copier panicked")))
    }
}

/// Little-endian field writers for a byte slice.
trait Put {
    fn put16(&mut self, at: usize, value: u16);
    fn put32(&mut self, at: usize, value: u32);
    fn put64(&mut self, at: usize, value: u64);
}

impl Put for [u8] {
    fn put16(&mut self, at: usize, value: u16) {
        self[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn put32(&mut self, at: usize, value: u32) {
        self[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    fn put64(&mut self, at: usize, value: u64) {
        self[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
}

/// Appends `Elf64_Rela` entries to the slice of a dynamic relocation section reserved for
/// one job. The job must fill its slice exactly: that is how scan and write are kept honest.
struct RelaWriter<'a> {
    out: &'a mut [u8],
    next: usize,
}

impl<'a> RelaWriter<'a> {
    fn new(out: &'a mut [u8]) -> RelaWriter<'a> {
        RelaWriter { out, next: 0 }
    }

    fn push<A: Arch>(&mut self, offset: u64, symbol: u32, kind: DynReloc, addend: i64) {
        let at = self.next;
        self.out.put64(at, offset);
        self.out.put64(at + 8, ((symbol as u64) << 32) | A::dyn_reloc_type(kind).0 as u64);
        self.out.put64(at + 16, addend as u64);
        self.next += 24;
    }

    fn relative<A: Arch>(&mut self, offset: u64, value: u64) {
        self.push::<A>(offset, 0, DynReloc::Relative, value as i64);
    }

    fn is_full(&self) -> bool {
        self.next == self.out.len()
    }
}

pub struct Writer<'a, 'data> {
    pub config: &'a Config,
    pub db: &'a SymbolDb<'data>,
    pub plan: &'a Plan,
    pub layout: &'a Layout,
    pub facts: &'a SymbolFacts,
    pub scanner: &'a Scanner<'a, 'data>,
    pub directory: &'a ImageDirectory,
    pub symtab: &'a layout::symtab::SymtabPlan,
    /// Every mapped input, to copy big verbatim sections file to file.
    pub sources: &'a [&'a crate::input::InputFile],
    pub base_region: &'a BaseRegion<'a>,
}

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

/// A chunk being recorded (its index in the plan) and its patches.
type JobPatches = (usize, ChunkPatches);

/// What one writer job may take on at most when it writes several consecutive chunks of
/// one output section (see [`Writer::batches`]): bytes, relocations and chunks.
const BATCH_BYTES: u64 = 256 << 10;
const BATCH_RELOCS: usize = 4096;
const BATCH_CHUNKS: usize = 1024;

/// How one chunk is written.
#[derive(Clone, Copy)]
enum ChunkMode<'a> {
    Full,
    Record,
    Patch(Patches<'a>),
}

/// What the writer produced besides the file.
pub struct Written<'data> {
    pub file: Temporary,
    /// The file's mapping, kept until the link is over: unmapping it costs time, which the
    /// caller may not have to wait for (see `link_then`).
    pub map: Option<memmap2::MmapMut>,
    pub build_id: BuildIdRecord,
    /// For each range the build id leaves out: the member it copies, and where it starts.
    pub skipped_members: Vec<(&'data [u8], u64)>,
    /// With [`BaseRegion::Record`]: each base-region chunk's patches, indexed like the plan's
    /// chunks (`None` for other chunks, and for a chunk whose relocations overlap); empty
    /// when no chunk was recorded.
    pub patches: Vec<Option<ChunkPatches>>,
}

/// The output being written: its file (for verbatim runs written to it) and where its
/// mapping starts.
struct OutputFile<'a> {
    file: &'a std::fs::File,
    map_start: usize,
}

/// Relocation-free runs at least this long are written to the file from the input's
/// mapping (`write_mapped`) instead of copied through the output's: no page faults on the
/// output, no zeroing of its pages before they are overwritten.
const VERBATIM_WRITE_MIN: u64 = 256 << 10;

enum Job {
    /// Consecutive chunks of one output section.
    Chunks(Range<usize>),
    Synthetic(Synthetic),
    GotRelocs,
    ImageDirectory,
}

/// Regions of the output each job writes: (offset, length, job, slot within job).
struct Regions {
    list: Vec<(u64, u64, usize, usize)>,
}

impl Regions {
    fn add(&mut self, job: usize, slot: usize, offset: u64, len: u64) {
        self.list.push((offset, len, job, slot));
    }

    /// Splits `buffer` into the regions, grouped per job and slot.
    fn carve<'b>(mut self, buffer: &'b mut [u8], jobs: usize) -> Vec<Vec<&'b mut [u8]>> {
        self.list.sort_by_key(|&(offset, len, job, slot)| (offset, len, job, slot));
        let mut per_job: Vec<Vec<Option<&'b mut [u8]>>> = (0..jobs).map(|_| Vec::new()).collect();
        let mut rest = buffer;
        let mut consumed = 0u64;
        for (offset, len, job, slot) in self.list {
            let slots = &mut per_job[job];
            if slots.len() <= slot {
                slots.resize_with(slot + 1, || None);
            }
            if len == 0 {
                // Empty regions take nothing from the buffer, wherever they are.
                continue;
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut((offset - consumed) as usize);
            let (region, tail) = tail.split_at_mut(len as usize);
            rest = tail;
            consumed = offset + len;
            per_job[job][slot] = Some(region);
        }
        per_job.into_iter().map(|slots| slots.into_iter().map(|s| s.unwrap_or_default()).collect()).collect()
    }
}

impl<'data> Writer<'_, 'data> {
    /// Writes the whole output into a temporary file next to the target and returns it,
    /// not yet renamed into place (see [`persist`]), with what its build id hashed. The file
    /// is `early`'s when that copied the region this link reuses.
    pub fn write<A: Arch>(&self, early: Option<EarlyRegion>) -> Result<Written<'data>> {
        let mut record = BuildIdRecord::default();
        let mut skipped_members = Vec::new();
        let mut patches = Vec::new();
        let (mut temp, region_copied) = match (self.base_region, early) {
            (BaseRegion::Reuse { range, .. }, Some(early)) if early.range == *range => (early.finish()?, true),
            (_, early) => {
                drop(early);
                (temporary_beside(&self.config.output)?, false)
            }
        };
        allocate(temp.as_file(), self.layout.file_size)?;
        let mut kept_map = None;
        let mut length = self.layout.file_size;
        if self.layout.file_size > 0 {
            // SAFETY: the temporary file is ours alone until it is renamed into place.
            let mut map = unsafe { memmap2::MmapOptions::new().map_mut(temp.as_file()) }
                .map_err(|e| Error::new(format!("cannot map the output: {e}")))?;
            let output = OutputFile { file: temp.as_file(), map_start: map.as_ptr() as usize };
            let mut covered = self.manifest_covered();
            if self.config.gnu.compress_debug.is_some() {
                // The tail moves when its debug sections are compressed: hash it all.
                let tail = crate::write::compress::tail_start(self.layout);
                covered.retain(|&((_, end), ..)| end <= tail);
            }
            let note = self.layout.section(Synthetic::BuildId).offset + 16;
            let style = &self.config.gnu.build_id;
            record = BuildIdRecord {
                digest: [0; 32],
                // A digest is written last, over zeros; other styles are content.
                descriptor: (note, note + if style.is_digest() { style.note_len() as u64 } else { 0 }),
                skipped: covered.iter().map(|&(range, ..)| range).collect(),
            };
            let mut known_pieces;
            (patches, known_pieces) = self.fill::<A>(&mut map, &output, region_copied, &record)?;
            if let Some(kind) = self.config.gnu.compress_debug {
                length = crate::write::compress::compress_debug_sections(&mut map, self.layout, kind)?;
            }
            let buffer = &mut map[..length as usize];
            synthetic::build_id_note::write_note(self, buffer);
            known_pieces.extend(synthetic::eh_frame_hdr::write(self, buffer, &record, &known_pieces)?);
            record.digest = synthetic::build_id_note::write_digest(self, buffer, &record, &known_pieces);
            skipped_members = covered.into_iter().map(|(_, member, at)| (member, at)).collect();
            // No msync: like every linker, leave write-back to the kernel. The blocks were
            // allocated up front, so the page cache can always be written back.
            kept_map = Some(map);
        }
        if length < self.layout.file_size {
            temp.as_file().set_len(length).map_err(|e| Error::new(format!("cannot shorten the output: {e}")))?;
        }
        temp.as_file_mut().flush()?;
        Ok(Written { file: temp, map: kept_map, build_id: record, skipped_members, patches })
    }

    /// Fills every region of the output; returns the chunks' patches when recording them.
    ///
    /// Writes into one file take its inode lock one at a time, so they all
    /// run in one task (the stored base region first, then the big verbatim runs) while
    /// the other threads prefault the rest and fill it; the chunks patched over the region
    /// run once it is there.
    fn fill<A: Arch>(
        &self,
        buffer: &mut [u8],
        output: &OutputFile,
        region_copied: bool,
        build_id: &BuildIdRecord,
    ) -> Result<(Vec<Option<ChunkPatches>>, Vec<PieceDigest>)> {
        let layout = self.layout;
        let plan = self.plan;
        let mut jobs: Vec<Job> = self.batches().into_iter().map(Job::Chunks).collect();
        let mut regions = Regions { list: Vec::new() };
        let rela_dyn = layout.section(Synthetic::RelaDyn).offset;
        let relative_total = plan.chunk_relative + plan.got_relative + plan.image_relative;
        let symbolic_base = rela_dyn + 24 * relative_total as u64;
        for (index, job) in jobs.iter().enumerate() {
            let Job::Chunks(batch) = job else { continue };
            // Consecutive chunks of one output section: their bytes, and their dynamic
            // relocations, follow each other (in that order), so each slot is one span.
            let (first, last) = (&plan.chunks[batch.start], &plan.chunks[batch.end - 1]);
            let (start, _) = self.chunk_region(first);
            let (last_start, last_len) = self.chunk_region(last);
            let chunks = &plan.chunks[batch.clone()];
            let relative: u64 = chunks.iter().map(|chunk| chunk.relative as u64).sum();
            let symbolic: u64 = chunks.iter().map(|chunk| chunk.symbolic as u64).sum();
            regions.add(index, 0, start, last_start + last_len - start);
            regions.add(index, 1, rela_dyn + 24 * first.relative_base as u64, 24 * relative);
            regions.add(index, 2, symbolic_base + 24 * first.symbolic_base as u64, 24 * symbolic);
        }
        let got_job = jobs.len();
        jobs.push(Job::GotRelocs);
        regions.add(got_job, 0, layout.section(Synthetic::Got).offset, layout.section(Synthetic::Got).size);
        regions.add(got_job, 1, rela_dyn + 24 * plan.chunk_relative as u64, 24 * plan.got_relative as u64);
        regions.add(got_job, 2, symbolic_base + 24 * plan.chunk_symbolic as u64, 24 * plan.got_symbolic as u64);
        let image_job = jobs.len();
        jobs.push(Job::ImageDirectory);
        let image = layout.section(Synthetic::ImageDirectory);
        regions.add(image_job, 0, image.offset, image.size);
        let image_relative_start = rela_dyn + 24 * (plan.chunk_relative + plan.got_relative) as u64;
        regions.add(image_job, 1, image_relative_start, 24 * plan.image_relative as u64);
        for synthetic in [
            Synthetic::Headers,
            Synthetic::Hash,
            Synthetic::GnuHash,
            Synthetic::DynSym,
            Synthetic::DynStr,
            Synthetic::VerSym,
            Synthetic::VerDef,
            Synthetic::VerNeed,
            Synthetic::RelrDyn,
            Synthetic::Plt,
            Synthetic::Dynamic,
            Synthetic::SectionHeaderNames,
            Synthetic::SectionHeaders,
            Synthetic::Manifest,
            Synthetic::Deps,
            Synthetic::SymTab,
        ] {
            let job = jobs.len();
            jobs.push(Job::Synthetic(synthetic));
            let section = layout.section(synthetic);
            regions.add(job, 0, section.offset, if section.is_nobits() { 0 } else { section.size });
            if synthetic == Synthetic::SymTab {
                let strtab = layout.section(Synthetic::StrTab);
                regions.add(job, 1, strtab.offset, strtab.size);
            }
            if synthetic == Synthetic::Plt {
                for (slot, extra) in [(1, Synthetic::GotPlt), (2, Synthetic::RelaPlt)] {
                    let section = layout.section(extra);
                    regions.add(job, slot, section.offset, section.size);
                }
            }
        }
        let slices = regions.carve(buffer, jobs.len());
        let mut work: Vec<(&Job, Vec<&mut [u8]>)> = jobs.iter().zip(slices).collect();
        // Chunks over the stored region go on top of it, whether patched or written anew.
        let reusing = matches!(self.base_region, BaseRegion::Reuse { .. });
        let first_chunk = |job: &Job| match job {
            Job::Chunks(batch) => Some(&plan.chunks[batch.start]),
            _ => None,
        };
        let (over_region, rest): (Vec<_>, Vec<_>) = work.drain(..).partition(|(job, _)| {
            first_chunk(job).is_some_and(|chunk| reusing && self.layout.in_base_region(chunk.input))
        });
        let (copies, mut rest): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|(job, _)| first_chunk(job).is_some_and(|chunk| self.writes_verbatim(chunk)));
        // The linker's own sections are the biggest single jobs (.symtab, .dynsym, .gnu.hash
        // are each one): they go first, and the chunks (at most about 1 MiB each) fill in
        // behind them, so that no thread is left alone with one of them at the end.
        rest.sort_by_key(|(job, _)| matches!(job, Job::Chunks(_)));
        let run = |(job, mut slices): (&Job, Vec<&mut [u8]>)| -> Result<Vec<JobPatches>> {
            match job {
                Job::Chunks(batch) => {
                    let [out, relative, symbolic] = &mut slices[..] else { unreachable!("three slots per batch") };
                    self.write_batch::<A>(batch.clone(), out, relative, symbolic, output)
                }
                Job::GotRelocs => {
                    let [got, relative, symbolic] = &mut slices[..] else { unreachable!("three slots for the GOT") };
                    synthetic::got::write::<A>(self, got, relative, symbolic).map(|()| Vec::new())
                }
                Job::Synthetic(synthetic) => synthetic::write::<A>(self, *synthetic, &mut slices).map(|()| Vec::new()),
                Job::ImageDirectory => {
                    let [out, relative] = &mut slices[..] else { unreachable!("two slots for the directory") };
                    synthetic::image_directory::write::<A>(self, out, relative).map(|()| Vec::new())
                }
            }
        };
        // One arm writes the region (unless that is done already), then the verbatim runs
        // while the chunks over the region are written and the region's build-id pieces
        // hashed (by whichever thread is free); the other prefaults and fills the rest. (A
        // region that cannot be written fails the link.)
        let mut region_digests = Vec::new();
        let (copied, filled) = rayon::join(
            || -> Result<Vec<Vec<JobPatches>>> {
                match self.base_region {
                    BaseRegion::Reuse { stored, range, .. } if !region_copied => {
                        write_region(stored, output.file, range.start, false)?
                    }
                    _ => {}
                }
                let (copied, patched) = rayon::join(
                    || copies.into_iter().map(&run).collect::<Result<Vec<_>>>(),
                    || -> Result<Vec<_>> {
                        let patched =
                            over_region.into_par_iter().with_max_len(1).map(&run).collect::<Result<Vec<_>>>()?;
                        if let BaseRegion::Reuse { range, .. } = self.base_region {
                            region_digests = self.region_pieces(output.file, range, build_id);
                        }
                        Ok(patched)
                    },
                );
                let mut done = copied?;
                done.extend(patched?);
                Ok(done)
            },
            || -> Result<Vec<Vec<JobPatches>>> {
                self.prefault(output, region_copied);
                // One job per task: any of them can be taken by a thread that is free.
                rest.into_par_iter().with_max_len(1).map(&run).collect()
            },
        );
        let mut done = copied?;
        done.extend(filled?);
        // (Only a recording link has any: the others need no list as long as the plan.)
        let mut patches: Vec<Option<ChunkPatches>> = Vec::new();
        for (index, recorded) in done.into_iter().flatten() {
            if patches.is_empty() {
                patches.resize_with(plan.chunks.len(), || None);
            }
            patches[index] = Some(recorded);
        }
        Ok((patches, region_digests))
    }

    /// The writer's jobs for the plan's chunks: runs of consecutive chunks of one output
    /// section, each at most about `BATCH_BYTES`, `BATCH_RELOCS` and `BATCH_CHUNKS` (a
    /// chunk written from its input's file, `writes_verbatim`, alone), so that objects of
    /// many small sections do not cost a job, and its slices, per section.
    fn batches(&self) -> Vec<Range<usize>> {
        let chunks = &self.plan.chunks;
        let placements = &self.layout.sections.placements;
        let output_of = |chunk: &Chunk| placements[chunk.input.file.0 as usize][chunk.input.section as usize].output;
        let mut batches: Vec<Range<usize>> = Vec::new();
        let (mut bytes, mut relocs, mut alone) = (0u64, 0usize, false);
        for (index, chunk) in chunks.iter().enumerate() {
            let (len, count) = (chunk.bytes.end - chunk.bytes.start, chunk.relocs.len());
            let verbatim = self.writes_verbatim(chunk);
            match batches.last_mut() {
                Some(batch)
                    if !alone
                        && !verbatim
                        && output_of(&chunks[batch.start]) == output_of(chunk)
                        && bytes + len <= BATCH_BYTES
                        && relocs + count <= BATCH_RELOCS
                        && batch.len() < BATCH_CHUNKS =>
                {
                    batch.end = index + 1;
                    (bytes, relocs) = (bytes + len, relocs + count);
                }
                _ => {
                    batches.push(index..index + 1);
                    (bytes, relocs, alone) = (len, count, verbatim);
                }
            }
        }
        batches
    }

    /// Where a chunk's bytes go in the output: (file offset, length); nothing for a chunk
    /// of a `SHT_NOBITS` section.
    fn chunk_region(&self, chunk: &Chunk) -> (u64, u64) {
        let layout = self.layout;
        let placement = layout.sections.placements[chunk.input.file.0 as usize][chunk.input.section as usize];
        let output = &layout.sections.outputs[placement.output as usize];
        if output.is_nobits() {
            (output.offset, 0)
        } else {
            (output.offset + placement.offset + chunk.bytes.start, chunk.bytes.end - chunk.bytes.start)
        }
    }

    /// Writes a batch of chunks (see [`Writer::batches`]) into its slices: `out` from the
    /// first chunk's bytes to the last's, the dynamic relocations of all of them. Returns
    /// the patches of the chunks being recorded.
    fn write_batch<A: Arch>(
        &self,
        batch: Range<usize>,
        out: &mut [u8],
        relative: &mut [u8],
        symbolic: &mut [u8],
        output: &OutputFile,
    ) -> Result<Vec<JobPatches>> {
        let mut recorded = Vec::new();
        let (mut out, mut relative, mut symbolic) = (out, relative, symbolic);
        let mut at = self.chunk_region(&self.plan.chunks[batch.start]).0;
        for index in batch {
            let chunk = &self.plan.chunks[index];
            let (start, len) = self.chunk_region(chunk);
            let gap = start.checked_sub(at).ok_or_else(|| Error::new("internal error: chunks out of order"))?;
            let (_, rest) = std::mem::take(&mut out).split_at_mut(gap as usize);
            let (bytes, rest) = rest.split_at_mut(len as usize);
            (out, at) = (rest, start + len);
            let (chunk_relative, rest) = std::mem::take(&mut relative).split_at_mut(24 * chunk.relative as usize);
            relative = rest;
            let (chunk_symbolic, rest) = std::mem::take(&mut symbolic).split_at_mut(24 * chunk.symbolic as usize);
            symbolic = rest;
            let mode = self.chunk_mode(index, chunk);
            if let Some(patches) = self.write_chunk::<A>(chunk, mode, bytes, chunk_relative, chunk_symbolic, output)? {
                recorded.push((index, patches));
            }
        }
        Ok(recorded)
    }

    /// The build-id pieces wholly inside the (reused, now patched) base region at `range`,
    /// read through a mapping of their own: the output's is still being written elsewhere.
    /// Empty if the region cannot be mapped (its pieces are then hashed with the rest).
    fn region_pieces(&self, file: &std::fs::File, range: &Range<u64>, build_id: &BuildIdRecord) -> Vec<PieceDigest> {
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

    /// Whether a chunk is written in full, in full and classified, or patched over the
    /// base region's stored bytes.
    fn chunk_mode(&self, index: usize, chunk: &Chunk) -> ChunkMode<'_> {
        match self.base_region {
            BaseRegion::Write => ChunkMode::Full,
            BaseRegion::Record if self.layout.in_base_region(chunk.input) => ChunkMode::Record,
            BaseRegion::Record => ChunkMode::Full,
            BaseRegion::Reuse { patches, .. } => patches[index].map_or(ChunkMode::Full, ChunkMode::Patch),
        }
    }

    /// Writes one chunk: its bytes (unless they are already there, `ChunkMode::Patch`) and
    /// its relocations (only the listed ones when patching), with the dynamic relocations
    /// they need. When recording, returns which relocations may change value in another
    /// link with the same base: every one that does not depend on base-region addresses
    /// alone, or that needs a dynamic relocation; and the bindings the others rely on.
    fn write_chunk<A: Arch>(
        &self,
        chunk: &Chunk,
        mode: ChunkMode,
        out: &mut [u8],
        relative_out: &mut [u8],
        symbolic_out: &mut [u8],
        output: &OutputFile,
    ) -> Result<Option<ChunkPatches>> {
        let db = self.db;
        let layout = self.layout;
        let input = chunk.input;
        let loaded = db.object(input.file);
        let object = &loaded.object;
        let header = object.section(input.section as usize);
        let nobits = header.sh_type(ENDIAN) == elf::SHT_NOBITS;
        let input_data = object.section_data(input.section as usize)?;
        if !nobits && !matches!(mode, ChunkMode::Patch(_)) {
            let bytes = input_data.get(chunk.bytes.start as usize..chunk.bytes.end as usize).ok_or_else(|| {
                Error::new(format!(
                    "{}: section data is truncated",
                    object.locate(input.section as usize, chunk.bytes.start)
                ))
            })?;
            if self.writes_verbatim(chunk) {
                write_mapped(bytes, output.file, (out.as_ptr() as usize - output.map_start) as u64).map_err(|e| {
                    Error::new(format!(
                        "cannot write {} to the output: {e}",
                        object.locate(input.section as usize, chunk.bytes.start)
                    ))
                })?;
            } else {
                out.copy_from_slice(bytes);
            }
        }
        let flags = header.sh_flags(ENDIAN).0;
        let alloc = flags & elf::SHF_ALLOC.0 != 0;
        let section_align = header.sh_addralign(ENDIAN);
        let placement = layout.sections.placements[input.file.0 as usize][input.section as usize];
        let section_addr = layout.sections.outputs[placement.output as usize].addr + placement.offset;
        let name = object.section_name(input.section as usize);
        let is_eh_frame = name == b".eh_frame";
        let tombstone: u64 = if name == b".debug_loc" || name == b".debug_ranges" { 1 } else { 0 };
        let got_base = layout.got_base();
        let got = layout.section(Synthetic::Got).addr;
        let region = layout.base_region.clone().unwrap_or(0..0);
        let (mut relative, mut symbolic) = (RelaWriter::new(relative_out), RelaWriter::new(symbolic_out));
        let relocations = &object.relocations(input.section as usize)[chunk.relocs.clone()];
        // Applies one relocation; says what its value depends on.
        let mut apply = |rela: &elf::Rela64<object::LittleEndian>| -> Result<Depends> {
            let (offset, symbol, r_type, addend) = rela_parts(rela);
            let target = scan::target_of(loaded, input.file, symbol);
            let fail = |what: &str| {
                Error::new(format!("{}: {what}", self.scanner.describe(input, offset, &A::reloc_name(r_type), target)))
            };
            let info = A::reloc_info(r_type).ok_or_else(|| fail("unsupported relocation type"))?;
            if info.expr == RelocExpr::None {
                return Ok(Depends::Nothing);
            }
            if symbol as usize >= object.symbols.len() {
                return Err(fail("invalid symbol index"));
            }
            let written = chunk.bytes.start..chunk.bytes.start + out.len() as u64;
            let field = reloc_bytes(&written, offset, 0, info.size as u64)
                .ok_or_else(|| fail("relocation offset is outside its section"))?
                .start;
            let place = section_addr + offset;
            let a = addend;
            let Some(s) = layout.symbol_address(db, target) else {
                // The target's section was discarded (a COMDAT duplicate).
                if !alloc {
                    write_field(out, field, info.size, tombstone);
                    return Ok(Depends::Link);
                }
                if is_eh_frame {
                    write_field(out, field, info.size, 0);
                    return Ok(Depends::Link);
                }
                return Err(fail("refers to a symbol in a discarded section"));
            };
            let preemptible = self.scanner.is_preemptible(target);
            let key = self.scanner.keys.of(target);
            let got_slot = |kind: GotKind| -> Result<u64> {
                let first = self.plan.got_first_slot[key];
                if first == u32::MAX {
                    return Err(fail("internal error: no GOT entry was planned"));
                }
                let bits = self.plan.flags[key];
                let mut slot = first as u64;
                for (bit, k) in [
                    (scan::NEEDS_GOT, GotKind::Address),
                    (scan::NEEDS_TLS_GD, GotKind::TlsGd),
                    (scan::NEEDS_TLS_IE, GotKind::TlsIe),
                    (scan::NEEDS_TLS_DESC, GotKind::TlsDesc),
                ] {
                    if k == kind {
                        break;
                    }
                    if bits & bit != 0 {
                        slot += k.slots() as u64;
                    }
                }
                Ok(got + 8 * slot)
            };
            let through_plt = preemptible && self.plan.plt_index[key] != u32::MAX;
            // A local indirect function's address already is its PLT entry.
            let plt_or_symbol =
                || if through_plt { layout.plt_entry_address::<A>(self.plan.plt_index[key]) } else { s };
            let s_a = s.wrapping_add(a as u64);
            // What the value below depends on: by default `s` (and the place) alone.
            let mut depends = Depends::Region;
            let value: u64 = match info.expr {
                RelocExpr::None => return Ok(Depends::Nothing),
                RelocExpr::Absolute if alloc && info.size == 8 => {
                    if preemptible {
                        let SymRef::Global(id) = target else { unreachable!("locals never preempt") };
                        let dynsym = layout.dynsym_index[id.0 as usize];
                        symbolic.push::<A>(place, dynsym, DynReloc::Absolute, a);
                        depends = Depends::Link;
                        0
                    } else if self.facts.is_absolute(db, target)
                        || scan::packs_as_relr(self.config.pack_relative_relocs, section_align, offset)
                    {
                        s_a
                    } else {
                        relative.relative::<A>(place, s_a);
                        depends = Depends::Link;
                        s_a
                    }
                }
                RelocExpr::Absolute => s_a,
                RelocExpr::PcRelative => s_a.wrapping_sub(place),
                RelocExpr::PltPcRelative => {
                    if through_plt {
                        // The base's own PLT entries are where every link with this base
                        // (and this region signature) puts them.
                        let index = self.plan.plt_index[key] as usize;
                        depends = if index < self.plan.base_plt { Depends::BasePlt } else { Depends::Link };
                    }
                    plt_or_symbol().wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::GotPcRelative { relaxable } => {
                    // The same decision the scan made, from the same input bytes.
                    let relax = relaxable
                        && scan::relaxes_got_load::<A>(
                            self.facts,
                            db,
                            target,
                            preemptible,
                            r_type,
                            input_data,
                            offset,
                            &chunk.bytes,
                        );
                    if relax {
                        let direct = s_a.wrapping_sub(place) as i64;
                        if i32::try_from(direct).is_err() {
                            return Err(fail("relaxed GOT load is out of range"));
                        }
                        // The chunk holds the whole instruction (`relaxes_got_load` checked).
                        // It is rewritten from the input's bytes: over a stored base region,
                        // the output holds an earlier rewrite.
                        let inside = || fail("internal error: the relaxed instruction left its chunk");
                        let instruction =
                            scan::got_load_instruction::<A>(input_data, offset, &chunk.bytes).ok_or_else(inside)?;
                        let skip = chunk.bytes.start as usize;
                        let out_instruction =
                            out.get_mut(instruction.start - skip..instruction.end - skip).ok_or_else(inside)?;
                        A::relax_got_load(&input_data[instruction], out_instruction, direct);
                        return Ok(if region.contains(&s) { Depends::Region } else { Depends::Link });
                    }
                    depends = Depends::Link;
                    got_slot(GotKind::Address)?.wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::GotOffset => {
                    depends = Depends::Link;
                    got_slot(GotKind::Address)?.wrapping_add(a as u64).wrapping_sub(got_base)
                }
                RelocExpr::GotBasePcRelative => {
                    depends = Depends::Link;
                    got_base.wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::OffsetFromGotBase => {
                    depends = Depends::Link;
                    s_a.wrapping_sub(got_base)
                }
                RelocExpr::PltOffsetFromGotBase => {
                    depends = Depends::Link;
                    plt_or_symbol().wrapping_add(a as u64).wrapping_sub(got_base)
                }
                RelocExpr::Size => layout.symbol_size(db, target).wrapping_add(a as u64),
                RelocExpr::TlsGeneralDynamic => {
                    depends = Depends::Link;
                    got_slot(GotKind::TlsGd)?.wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::TlsLocalDynamic => {
                    depends = Depends::Link;
                    let slot = self.plan.tls_ld_slot.ok_or_else(|| fail("internal error: no TLS module entry"))?;
                    (got + 8 * slot as u64).wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::DtpOffset => {
                    depends = Depends::Link;
                    s_a.wrapping_sub(layout.tls_start())
                }
                RelocExpr::TlsInitialExec => {
                    depends = Depends::Link;
                    got_slot(GotKind::TlsIe)?.wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::TlsDescriptor => {
                    depends = Depends::Link;
                    got_slot(GotKind::TlsDesc)?.wrapping_add(a as u64).wrapping_sub(place)
                }
                RelocExpr::TpOffset => {
                    return Err(fail("local-exec TLS cannot be used in a shared object; recompile with -fPIC"))
                }
            };
            if !fits(value, info.size, info.overflow) {
                return Err(fail(&format!("value {:#x} does not fit in {} bytes", value as i64, info.size)));
            }
            write_field(out, field, info.size, value);
            Ok(match depends {
                Depends::Region if !region.contains(&s) => Depends::Link,
                other => other,
            })
        };
        let recorded = match mode {
            ChunkMode::Full => {
                for rela in relocations {
                    apply(rela)?;
                }
                None
            }
            ChunkMode::Patch(patches) => {
                for index in patches.iter() {
                    let rela = relocations.get(index).ok_or_else(|| {
                        Error::new(format!(
                            "{}: internal error: a recorded patch names no relocation",
                            object.locate(input.section as usize, chunk.bytes.start)
                        ))
                    })?;
                    apply(rela)?;
                }
                None
            }
            ChunkMode::Record => {
                let mut patches = ChunkPatches::default();
                // A relocation whose field overlaps an earlier one's (or relocations out of
                // order) could not be applied alone: such a chunk is always written in full.
                let mut overlapping = false;
                let mut field_end = 0u64;
                for (index, rela) in relocations.iter().enumerate() {
                    let (offset, symbol, r_type, _) = rela_parts(rela);
                    let size = A::reloc_info(r_type).map_or(0, |info| info.size as u64);
                    overlapping |= size > 0 && offset < field_end;
                    field_end = field_end.max(offset.saturating_add(size));
                    let depends = apply(rela)?;
                    let definition = loaded.global(symbol as usize).map(|id| db.global(id).definition);
                    patches.note(db, index as u32, symbol, depends, definition);
                }
                patches.finish();
                (!overlapping).then_some(patches)
            }
        };
        if !relative.is_full() || !symbolic.is_full() {
            return Err(Error::new(format!(
                "{}: internal error: dynamic relocation count changed between scan and write",
                object.locate(input.section as usize, chunk.bytes.start)
            )));
        }
        Ok(recorded)
    }

    /// The input a chunk's bytes are written from (see `VERBATIM_WRITE_MIN`), rather than
    /// copied through the output's mapping.
    fn verbatim_source(&self, chunk: &Chunk) -> Option<&crate::input::InputFile> {
        if !chunk.relocs.is_empty() || chunk.bytes.end - chunk.bytes.start < VERBATIM_WRITE_MIN {
            return None;
        }
        let object = &self.db.object(chunk.input.file).object;
        if object.section(chunk.input.section as usize).sh_type(ENDIAN) == elf::SHT_NOBITS {
            return None;
        }
        let data = object.section_data(chunk.input.section as usize).ok()?;
        crate::input::source_of(self.sources, data).map(|(input, _)| input)
    }

    fn writes_verbatim(&self, chunk: &Chunk) -> bool {
        self.verbatim_source(chunk).is_some()
    }

    /// Output ranges written from input mappings, sorted: the rest is prefaulted.
    fn verbatim_ranges(&self) -> Vec<(u64, u64)> {
        self.chunk_ranges(|chunk| self.writes_verbatim(chunk))
    }

    /// Output ranges that are verbatim copies of members whose blake3 the manifest (in
    /// this same output) records, so that the build id need not hash them again; with the
    /// member each copies and where in it the range starts. Consecutive chunks of one
    /// member are one range.
    fn manifest_covered(&self) -> Vec<((u64, u64), &'data [u8], u64)> {
        let mut covered: Vec<((u64, u64), &'data [u8], u64)> = self
            .plan
            .chunks
            .iter()
            .filter(|chunk| self.verbatim_source(chunk).is_some_and(|source| source.recorded_in_manifest()))
            .filter_map(|chunk| {
                let object = &self.db.object(chunk.input.file).object;
                let data = object.section_data(chunk.input.section as usize).ok()?;
                let at = data.as_ptr() as u64 - object.data.as_ptr() as u64 + chunk.bytes.start;
                Some((self.output_range(chunk), object.data, at))
            })
            .collect();
        covered.sort_unstable_by_key(|&(range, ..)| range);
        let mut merged: Vec<((u64, u64), &'data [u8], u64)> = Vec::with_capacity(covered.len());
        for (range, member, at) in covered {
            if let Some(((start, end), last_member, last_at)) = merged.last_mut() {
                if *end == range.0 && std::ptr::eq(*last_member, member) && *last_at + (*end - *start) == at {
                    *end = range.1;
                    continue;
                }
            }
            merged.push((range, member, at));
        }
        merged
    }

    fn chunk_ranges(&self, keep: impl Fn(&Chunk) -> bool) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> =
            self.plan.chunks.iter().filter(|chunk| keep(chunk)).map(|chunk| self.output_range(chunk)).collect();
        ranges.sort_unstable();
        ranges
    }

    /// The file range a chunk's bytes occupy in the output.
    fn output_range(&self, chunk: &Chunk) -> (u64, u64) {
        let (start, len) = self.chunk_region(chunk);
        (start, start + len)
    }

    /// Faults in, in one go per range, the pages this process writes through the mapping,
    /// so that neither the per-page fault cost nor the pages written to the file directly
    /// (verbatim runs, and a reused region still to be written) land in our memory. A
    /// region already in the file (`region_copied`) is patched nearly everywhere: its pages
    /// are mapped writable in bulk too.
    fn prefault(&self, output: &OutputFile, region_copied: bool) {
        const PIECE: u64 = 8 << 20;
        let page = crate::util::mapping::PAGE_SIZE;
        let mut direct = self.verbatim_ranges();
        if let (BaseRegion::Reuse { range, .. }, false) = (self.base_region, region_copied) {
            direct.push((range.start, range.end));
            direct.sort_unstable();
        }
        let mut ranges = Vec::new();
        let mut next = 0u64;
        for (start, end) in direct {
            ranges.push((next, start));
            next = next.max(end);
        }
        ranges.push((next, self.layout.file_size));
        let mut pieces = Vec::new();
        for (from, to) in ranges {
            let (mut from, to) = (from.next_multiple_of(page), to / page * page);
            while from < to {
                pieces.push((from, (from + PIECE).min(to)));
                from += PIECE;
            }
        }
        // The kernel zeroes the pages: spread that over the threads too.
        pieces.into_par_iter().for_each(|(from, to)| {
            crate::util::mapping::populate_pages(
                output.map_start + from as usize,
                (to - from) as usize,
                libc::MADV_POPULATE_WRITE,
            );
        });
    }
}

fn write_field(out: &mut [u8], at: usize, size: u8, value: u64) {
    match size {
        1 => out[at] = value as u8,
        2 => out.put16(at, value as u16),
        4 => out.put32(at, value as u32),
        8 => out.put64(at, value),
        _ => {}
    }
}

fn fits(value: u64, size: u8, overflow: Overflow) -> bool {
    if size >= 8 {
        return true;
    }
    let bits = size as u32 * 8;
    let signed = value as i64;
    match overflow {
        Overflow::None => true,
        Overflow::Signed => signed >= -(1i64 << (bits - 1)) && signed < (1i64 << (bits - 1)),
        Overflow::Unsigned => value < (1u64 << bits),
    }
}

/// A new file beside `target` for a shared library to be renamed over it: executable, as
/// ld makes them (0777 less the umask).
pub fn temporary_beside(target: &Path) -> Result<Temporary> {
    Temporary::beside(target, 0o777)
}

/// Sizes the output with its blocks allocated: writing through the mapping then cannot
/// fault (a sparse page on a full disk would SIGBUS), and file systems that report a full
/// disk only at write-back (NFS, say) report it here for the pages written with `write`.
fn allocate(file: &std::fs::File, size: u64) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    let no_space = |e: std::io::Error| Error::new(format!("cannot allocate {size} bytes for the output: {e}"));
    if size > 0 {
        // SAFETY: fallocate only reads its integer arguments and the descriptor we own.
        let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
        if result != 0 {
            let error = std::io::Error::last_os_error();
            // File systems without fallocate get a plain (sparse) size instead.
            if !matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) {
                return Err(no_space(error));
            }
        }
    }
    file.set_len(size).map_err(no_space)
}
