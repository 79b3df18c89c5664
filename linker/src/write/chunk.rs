//! Writing the input chunks: batching consecutive chunks of one output section into one
//! job, copying a chunk's bytes (or writing them to the file from its input's mapping),
//! and applying its relocations with [`reloc::value`], with the dynamic relocations they
//! need; when recording a base-region chunk, what each relocation's value depends on
//! (`patches.rs`), and when patching one over a stored region, only its listed relocations.
//!
//! Must not decide which relocations need GOT or PLT entries or dynamic relocations: the
//! scan did, and a job that does not fill its dynamic relocation slices exactly fails.

use super::patches::{ChunkPatches, Depends, Patches};
use super::reloc::{self, write_field, RelocError, Value};
use super::{write_mapped, BaseRegion, OutputFile, RelaWriter, Writer};
use crate::arch::{Arch, DynReloc, RelocExpr};
use crate::input::object_file::{rela_parts, reloc_bytes, ENDIAN};
use crate::resolve::LoadedObject;
use crate::scan::{self, Chunk, GotKind, SymRef};
use crate::util::error::{Error, Result};
use object::elf::{self, RelocationType};
use object::read::elf::SectionHeader as _;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

/// A chunk being recorded (its index in the plan) and its patches.
pub(super) type JobPatches = (usize, ChunkPatches);

/// What one writer job may take on at most when it writes several consecutive chunks of
/// one output section (see [`Writer::batches`]): bytes, relocations and chunks.
const BATCH_BYTES: u64 = 256 << 10;
const BATCH_RELOCS: usize = 4096;
const BATCH_CHUNKS: usize = 1024;

/// How one chunk is written.
#[derive(Clone, Copy)]
pub(super) enum ChunkMode<'a> {
    Full,
    Record,
    Patch(Patches<'a>),
}

/// Relocation-free runs at least this long are written to the file from the input's
/// mapping (`write_mapped`) instead of copied through the output's: no page faults on the
/// output, no zeroing of its pages before they are overwritten.
const VERBATIM_WRITE_MIN: u64 = 256 << 10;

impl<'data> Writer<'_, 'data> {
    /// The writer's jobs for the plan's chunks: runs of consecutive chunks of one output
    /// section, each at most about `BATCH_BYTES`, `BATCH_RELOCS` and `BATCH_CHUNKS` (a
    /// chunk written from its input's file, `writes_verbatim`, alone), so that objects of
    /// many small sections do not cost a job, and its slices, per section.
    pub(super) fn batches(&self) -> Vec<Range<usize>> {
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
    pub(super) fn chunk_region(&self, chunk: &Chunk) -> (u64, u64) {
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
    pub(super) fn write_batch<A: Arch>(
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
        let input = chunk.input;
        let loaded = self.db.object(input.file);
        let object = &loaded.object;
        let header = object.section(input.section as usize);
        let input_data = object.section_data(input.section as usize)?;
        if header.sh_type(ENDIAN) != elf::SHT_NOBITS && !matches!(mode, ChunkMode::Patch(_)) {
            self.copy_chunk(chunk, input_data, out, output)?;
        }
        let layout = self.layout;
        let placement = layout.sections.placements[input.file.0 as usize][input.section as usize];
        let name = object.section_name(input.section as usize);
        let mut writing = ChunkWrite {
            writer: self,
            chunk,
            loaded,
            input_data,
            alloc: header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 != 0,
            section_align: header.sh_addralign(ENDIAN),
            section_addr: layout.sections.outputs[placement.output as usize].addr + placement.offset,
            is_eh_frame: name == b".eh_frame",
            tombstone: if name == b".debug_loc" || name == b".debug_ranges" { 1 } else { 0 },
            got_base: layout.got_base(),
            tls_start: layout.tls_start(),
            region: layout.base_region.clone().unwrap_or(0..0),
            out,
            relative: RelaWriter::new(relative_out),
            symbolic: RelaWriter::new(symbolic_out),
        };
        let relocations = &object.relocations(input.section as usize)[chunk.relocs.clone()];
        let recorded = match mode {
            ChunkMode::Full => {
                for rela in relocations {
                    writing.apply::<A, false>(rela)?;
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
                    writing.apply::<A, false>(rela)?;
                }
                None
            }
            ChunkMode::Record => writing.record::<A>(relocations)?,
        };
        if !writing.relative.is_full() || !writing.symbolic.is_full() {
            return Err(Error::new(format!(
                "{}: internal error: dynamic relocation count changed between scan and write",
                object.locate(input.section as usize, chunk.bytes.start)
            )));
        }
        Ok(recorded)
    }

    /// Copies a chunk's bytes from its input into `out`, or writes them to the output file
    /// from the input's mapping (`writes_verbatim`).
    fn copy_chunk(&self, chunk: &Chunk, input_data: &[u8], out: &mut [u8], output: &OutputFile) -> Result<()> {
        let (input, object) = (chunk.input, &self.db.object(chunk.input.file).object);
        let locate = || object.locate(input.section as usize, chunk.bytes.start);
        let bytes = input_data
            .get(chunk.bytes.start as usize..chunk.bytes.end as usize)
            .ok_or_else(|| Error::new(format!("{}: section data is truncated", locate())))?;
        if self.writes_verbatim(chunk) {
            write_mapped(bytes, output.file, (out.as_ptr() as usize - output.map_start) as u64)
                .map_err(|e| Error::new(format!("cannot write {} to the output: {e}", locate())))?;
        } else {
            out.copy_from_slice(bytes);
        }
        Ok(())
    }

    /// The address of the GOT entry of `kind` for the symbol of scan key `key`, or `None`
    /// when the scan planned none.
    #[inline]
    fn got_slot(&self, key: usize, kind: GotKind) -> Option<u64> {
        let first = self.plan.got_first_slot[key];
        if first == u32::MAX {
            return None;
        }
        let bits = self.plan.flags[key];
        let mut slot = first as u64;
        for (bit, k) in scan::GOT_KINDS {
            if k == kind {
                break;
            }
            if bits & bit != 0 {
                slot += k.slots() as u64;
            }
        }
        Some(self.layout.got_slot_address(self.plan, slot as u32))
    }
    /// The input a chunk's bytes are written from (see `VERBATIM_WRITE_MIN`), rather than
    /// copied through the output's mapping.
    pub(super) fn verbatim_source(&self, chunk: &Chunk) -> Option<&crate::input::InputFile> {
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

    pub(super) fn writes_verbatim(&self, chunk: &Chunk) -> bool {
        self.verbatim_source(chunk).is_some()
    }
}

/// One chunk being written: what is the same for all its relocations, and where they go.
struct ChunkWrite<'w, 'data, 'o> {
    writer: &'w Writer<'w, 'data>,
    chunk: &'w Chunk,
    loaded: &'w LoadedObject<'data>,
    input_data: &'data [u8],
    alloc: bool,
    section_align: u64,
    /// The address of the chunk's input section in the output.
    section_addr: u64,
    is_eh_frame: bool,
    /// What a non-allocated section's reference to a discarded section holds.
    tombstone: u64,
    got_base: u64,
    tls_start: u64,
    /// The base region's addresses (empty without one).
    region: Range<u64>,
    /// The chunk's bytes in the output.
    out: &'o mut [u8],
    relative: RelaWriter<'o>,
    symbolic: RelaWriter<'o>,
}

impl ChunkWrite<'_, '_, '_> {
    /// Applies one relocation; says what its value depends on when `RECORD`ing (else
    /// `Depends::Link`: working it out costs a few instructions per relocation).
    #[inline]
    fn apply<A: Arch, const RECORD: bool>(&mut self, rela: &elf::Rela64<object::LittleEndian>) -> Result<Depends> {
        let (w, chunk) = (self.writer, self.chunk);
        let (db, layout, plan) = (w.db, w.layout, w.plan);
        let input = chunk.input;
        let (offset, symbol, r_type, addend) = rela_parts(rela);
        let target = scan::target_of(self.loaded, input.file, symbol);
        let fail = |what: &str| {
            Error::new(format!("{}: {what}", w.scanner.describe(input, offset, &A::reloc_name(r_type), target)))
        };
        let info = A::reloc_info(r_type).ok_or_else(|| fail("unsupported relocation type"))?;
        if info.expr == RelocExpr::None {
            return Ok(Depends::Nothing);
        }
        if symbol as usize >= self.loaded.object.symbols.len() {
            return Err(fail("invalid symbol index"));
        }
        let written = chunk.bytes.start..chunk.bytes.start + self.out.len() as u64;
        let field = reloc_bytes(&written, offset, 0, info.size as u64)
            .ok_or_else(|| fail("relocation offset is outside its section"))?
            .start;
        let place = self.section_addr + offset;
        let Some(s) = layout.symbol_address(db, target) else {
            // The target's section was discarded (a COMDAT duplicate).
            let value = match (self.alloc, self.is_eh_frame) {
                (false, _) => self.tombstone,
                (true, true) => 0,
                (true, false) => return Err(fail("refers to a symbol in a discarded section")),
            };
            write_field(self.out, field, info.size, value);
            return Ok(Depends::Link);
        };
        let preemptible = w.scanner.is_preemptible(target);
        let key = w.scanner.keys.of(target);
        let plt_index = plan.plt_index[key];
        // A local indirect function's address already is its PLT entry.
        let through_plt = preemptible && plt_index != u32::MAX;
        let inputs = reloc::Inputs {
            s,
            a: addend,
            p: place,
            got: self.got_base,
            plt: if through_plt { layout.plt_entry_address::<A>(plt_index) } else { s },
            tls_start: self.tls_start,
        };
        let mut lookup = Lookup::<A> { chunk: self, target, key, preemptible, r_type, offset, arch: PhantomData };
        let (mut value, relax) = match reloc::value(info, &inputs, &mut lookup) {
            Ok(Value::Field(value)) => (value, false),
            Ok(Value::RelaxedGotLoad(value)) => (value, true),
            Err(failure) => return Err(fail(&failure.to_string())),
        };
        let mut depends = match info.expr {
            _ if !RECORD => Depends::Link,
            RelocExpr::Absolute | RelocExpr::PcRelative | RelocExpr::Size => Depends::Region,
            // The base's own PLT entries are where every link with this base (and this
            // region signature) puts them.
            RelocExpr::PltPcRelative if through_plt && (plt_index as usize) < plan.base_plt => Depends::BasePlt,
            RelocExpr::PltPcRelative if through_plt => Depends::Link,
            RelocExpr::PltPcRelative => Depends::Region,
            RelocExpr::GotPcRelative { .. } if relax => Depends::Region,
            // The base GOT's entries are where every link with this base puts them.
            RelocExpr::GotPcRelative { .. } if plan.got_first_slot[key] < plan.base_got_slots => Depends::BaseGot,
            _ => Depends::Link,
        };
        if info.expr == RelocExpr::Absolute && self.alloc && info.size == 8 {
            depends = self.absolute_address::<A>(target, preemptible, offset, &inputs, &mut value);
        }
        if relax {
            self.relax_got_load::<A>(offset, value, &fail)?;
        } else {
            write_field(self.out, field, info.size, value);
        }
        Ok(match depends {
            Depends::Region if RECORD && !self.region.contains(&s) => Depends::Link,
            other => other,
        })
    }

    /// An absolute address in an allocated section: a dynamic relocation supplies it at
    /// load time unless it is the same wherever the output is loaded, or packed as RELR.
    /// The field holds `value` (S + A), or zero under a symbolic relocation.
    #[inline]
    fn absolute_address<A: Arch>(
        &mut self,
        target: SymRef,
        preemptible: bool,
        offset: u64,
        inputs: &reloc::Inputs,
        value: &mut u64,
    ) -> Depends {
        let w = self.writer;
        let place = inputs.p;
        if preemptible {
            let SymRef::Global(id) = target else { unreachable!("locals never preempt") };
            let dynsym = w.layout.dynamic.dynsym_index[id.0 as usize];
            self.symbolic.push::<A>(place, dynsym, DynReloc::Absolute, inputs.a);
            *value = 0;
            Depends::Link
        } else if w.facts.is_absolute(w.db, target)
            || scan::packs_as_relr(w.config.pack_relative_relocs, self.section_align, offset)
        {
            Depends::Region
        } else {
            self.relative.relative::<A>(place, *value);
            Depends::Link
        }
    }

    /// Rewrites the GOT load at `offset` to the direct instruction with displacement
    /// `value`, from the input's bytes: over a stored base region, the output holds an
    /// earlier rewrite. The chunk holds the whole instruction (`relaxes_got_load` checked).
    #[inline]
    fn relax_got_load<A: Arch>(&mut self, offset: u64, value: u64, fail: &impl Fn(&str) -> Error) -> Result<()> {
        let chunk = self.chunk;
        let inside = || fail("internal error: the relaxed instruction left its chunk");
        let instruction = scan::got_load_instruction::<A>(self.input_data, offset, &chunk.bytes).ok_or_else(inside)?;
        let skip = chunk.bytes.start as usize;
        let out_instruction = self.out.get_mut(instruction.start - skip..instruction.end - skip).ok_or_else(inside)?;
        A::relax_got_load(&self.input_data[instruction], out_instruction, value as i64);
        Ok(())
    }

    /// Applies every relocation of the chunk and notes what each depends on: the chunk's
    /// patches, or `None` when a relocation's field overlaps an earlier one's (or they are
    /// out of order): such a chunk could not be patched one relocation at a time, and is
    /// always written in full.
    fn record<A: Arch>(&mut self, relocations: &[elf::Rela64<object::LittleEndian>]) -> Result<Option<ChunkPatches>> {
        let db = self.writer.db;
        let mut patches = ChunkPatches::default();
        let mut overlapping = false;
        let mut field_end = 0u64;
        for (index, rela) in relocations.iter().enumerate() {
            let (offset, symbol, r_type, _) = rela_parts(rela);
            let size = A::reloc_info(r_type).map_or(0, |info| info.size as u64);
            overlapping |= size > 0 && offset < field_end;
            field_end = field_end.max(offset.saturating_add(size));
            let depends = self.apply::<A, true>(rela)?;
            let definition = self.loaded.global(symbol as usize).map(|id| db.global(id).definition);
            patches.note(db, index as u32, symbol, depends, definition);
        }
        patches.finish();
        Ok((!overlapping).then_some(patches))
    }
}

/// What a relocation looks up only when its kind needs it (`reloc::OnDemand`).
struct Lookup<'l, 'w, 'data, 'o, A> {
    chunk: &'l ChunkWrite<'w, 'data, 'o>,
    target: SymRef,
    /// The target's scan key.
    key: usize,
    preemptible: bool,
    r_type: RelocationType,
    offset: u64,
    arch: PhantomData<A>,
}

/// Why a relocation has no value: its own reason, or an entry the scan did not plan.
enum Failure {
    Reloc(RelocError),
    NoGotEntry,
    NoTlsModule,
}

impl From<RelocError> for Failure {
    fn from(error: RelocError) -> Failure {
        Failure::Reloc(error)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Failure::Reloc(error) => error.fmt(f),
            Failure::NoGotEntry => f.write_str("internal error: no GOT entry was planned"),
            Failure::NoTlsModule => f.write_str("internal error: no TLS module entry"),
        }
    }
}

impl<A: Arch> reloc::OnDemand for Lookup<'_, '_, '_, '_, A> {
    type Error = Failure;

    #[inline]
    fn got_entry(&mut self, kind: GotKind) -> std::result::Result<u64, Failure> {
        let chunk = self.chunk;
        if kind == GotKind::TlsLd {
            let slot = chunk.writer.plan.tls_ld_slot.ok_or(Failure::NoTlsModule)?;
            return Ok(chunk.writer.layout.got_slot_address(chunk.writer.plan, slot));
        }
        chunk.writer.got_slot(self.key, kind).ok_or(Failure::NoGotEntry)
    }

    /// The same decision the scan made, from the same input bytes.
    #[inline]
    fn relaxes(&mut self) -> bool {
        let (chunk, w) = (self.chunk, self.chunk.writer);
        scan::relaxes_got_load::<A>(
            w.facts,
            w.db,
            self.target,
            self.preemptible,
            self.r_type,
            chunk.input_data,
            self.offset,
            &chunk.chunk.bytes,
        )
    }

    #[inline]
    fn size(&mut self) -> u64 {
        self.chunk.writer.layout.symbol_size(self.chunk.writer.db, self.target)
    }
}
