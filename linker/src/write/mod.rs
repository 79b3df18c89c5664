//! Phase 6: write the output file in one parallel pass over a memory map.
//!
//! The file is created next to the target, sized up front, split into disjoint slices (one
//! set per job: an input chunk with its dynamic relocations, or a synthetic section) and
//! filled in parallel. Relocations are applied while copying. Only after the build id is
//! computed is the file renamed over the target; any error drops the temporary file, so a
//! failed link never leaves a partial output. Must not change the layout, nor know about
//! the cache or prepared bases (`incremental` plugs in through `BaseRegion` and the
//! patches it records).
//!
//! Here: the jobs and the slices they write, and the file. `chunk` writes input chunks
//! (relocation values from `reloc`), `synthetic` the linker's own sections, `region` the
//! base region, `build_id` hashes the output; `compress` and `map_file` are optional passes.

pub mod build_id;
mod chunk;
pub mod compress;
pub mod map_file;
pub mod patches;
mod region;
pub mod reloc;
mod synthetic;

use crate::arch::{Arch, DynReloc};
use crate::config::Config;
use crate::layout::{self, Layout};
use crate::resolve::SymbolDb;
use crate::scan::{Chunk, Plan, Scanner, SymbolFacts};
use crate::sections::Synthetic;
use crate::tables::ImageDirectory;
use crate::util::error::{Error, Result};
use crate::util::files::Temporary;
pub use build_id::BuildIdRecord;
use build_id::PieceDigest;
use chunk::JobPatches;
use patches::ChunkPatches;
use rayon::prelude::*;
use region::write_region;
pub use region::{BaseRegion, EarlyRegion, RegionCopy};
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

impl<'a, 'data> Writer<'a, 'data> {
    pub fn new(
        decisions: &layout::Decisions<'a, 'data>,
        layout: &'a Layout,
        scanner: &'a Scanner<'a, 'data>,
        sources: &'a [&'a crate::input::InputFile],
        base_region: &'a BaseRegion<'a>,
    ) -> Self {
        let layout::Decisions { config, db, plan, facts, directory, symtab, .. } = *decisions;
        Writer { config, db, plan, layout, facts, scanner, directory, symtab, sources, base_region }
    }
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
    /// How a reused base region reached the file before the write phase.
    pub region_copy: RegionCopy,
}

/// The output being written: its file (for verbatim runs written to it) and where its
/// mapping starts.
struct OutputFile<'a> {
    file: &'a std::fs::File,
    map_start: usize,
}

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
        let (mut temp, region_copy) = match (self.base_region, early) {
            (BaseRegion::Reuse { range, .. }, Some(early)) if early.range == *range => early.finish()?,
            (_, early) => {
                drop(early);
                (temporary_beside(&self.config.output)?, RegionCopy::NotYet)
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
            (patches, known_pieces) = self.fill::<A>(&mut map, &output, region_copy, &record)?;
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
        Ok(Written { file: temp, map: kept_map, build_id: record, skipped_members, patches, region_copy })
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
        region_copy: RegionCopy,
        build_id: &BuildIdRecord,
    ) -> Result<(Vec<Option<ChunkPatches>>, Vec<PieceDigest>)> {
        let plan = self.plan;
        let (jobs, regions) = self.jobs();
        let slices = regions.carve(buffer, jobs.len());
        let mut work: Vec<(&Job, Vec<&mut [u8]>)> = jobs.iter().zip(slices).collect();
        // Chunks over the stored region go on top of it, whether patched or written anew, and
        // so does the GOT when the base GOT is in it.
        let reusing = matches!(self.base_region, BaseRegion::Reuse { .. });
        let first_chunk = |job: &Job| match job {
            Job::Chunks(batch) => Some(&plan.chunks[batch.start]),
            _ => None,
        };
        let (over_region, rest): (Vec<_>, Vec<_>) = work.drain(..).partition(|(job, _)| match job {
            Job::GotRelocs => reusing && plan.base_got_slots > 0,
            _ => first_chunk(job).is_some_and(|chunk| reusing && self.layout.in_base_region(chunk.input)),
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
                    let [base_got, got, relative, symbolic] = &mut slices[..] else {
                        unreachable!("four slots for the GOT")
                    };
                    synthetic::got::write::<A>(self, [base_got, got, relative, symbolic]).map(|()| Vec::new())
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
                    BaseRegion::Reuse { stored, range, .. } if region_copy == RegionCopy::NotYet => {
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
                self.prefault(output, region_copy);
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

    /// The writer's jobs, and the regions of the output each writes: the chunks' batches
    /// (their bytes and dynamic relocations), the GOT, the image directory and the other
    /// synthetic sections.
    fn jobs(&self) -> (Vec<Job>, Regions) {
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
        for (slot, got) in [(0, Synthetic::BaseGot), (1, Synthetic::Got)] {
            regions.add(got_job, slot, layout.section(got).offset, layout.section(got).size);
        }
        regions.add(got_job, 2, rela_dyn + 24 * plan.chunk_relative as u64, 24 * plan.got_relative as u64);
        regions.add(got_job, 3, symbolic_base + 24 * plan.chunk_symbolic as u64, 24 * plan.got_symbolic as u64);
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
        (jobs, regions)
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
    /// region copied into the file already is mapped writable in bulk too (its chunks are
    /// written over it); a cloned one is not: that would unshare every block.
    fn prefault(&self, output: &OutputFile, region_copy: RegionCopy) {
        const PIECE: u64 = 8 << 20;
        let page = crate::util::mapping::PAGE_SIZE;
        let mut direct = self.verbatim_ranges();
        if let (BaseRegion::Reuse { range, .. }, RegionCopy::NotYet | RegionCopy::Cloned) =
            (self.base_region, region_copy)
        {
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
