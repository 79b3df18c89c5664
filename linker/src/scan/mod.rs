//! Phase 4: read every relocation once to find what the output must provide for it.
//!
//! Splits large relocation sections into chunks and scans them in parallel, recording per
//! symbol whether it needs a GOT entry, a PLT entry or TLS GOT entries, and per chunk how
//! many dynamic relocations it will emit. Then plans the GOT, PLT and dynamic symbol table
//! in a deterministic order. Must not assign addresses or write bytes.
//!
//! A base generation's chunks may instead be *replayed* from a prepared base (see
//! `record.rs`): a chunk's scan depends only on its bytes, its relocations and a few facts
//! about each symbol it names, so when every one of those facts is what it was when the
//! chunk was recorded, the recorded result is the result. Any difference rescans the chunk.

use crate::arch::{Arch, RelocExpr};
use crate::input::object_file::{rela_parts, reloc_bytes, ENDIAN};
use crate::resolve::{Definition, FileId, GlobalId, LoadedObject, SymbolDb};
use crate::sections::{InputSectionId, SectionMap};
use crate::tables::ImageDirectory;
use crate::util::error::{Error, Result};
use object::elf;
use object::read::elf::{SectionHeader as _, Sym as _};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

pub mod record;

pub use record::{RecordedScan, ScanRecords};

pub const NEEDS_GOT: u8 = 1;
pub const NEEDS_PLT: u8 = 2;
pub const NEEDS_TLS_GD: u8 = 4;
pub const NEEDS_TLS_IE: u8 = 8;
pub const NEEDS_TLS_DESC: u8 = 16;
pub const REFERENCED: u8 = 32;
/// Some base generation's code calls the symbol through the PLT: its entry goes first, so
/// that such calls keep their value from link to link (see `Plan::base_plt`).
pub const BASE_PLT: u8 = 64;
/// Some base generation's code loads the symbol's address from the GOT: its entries go in
/// the base GOT, inside the base region, so that such loads keep their value from link to
/// link (see `Plan::base_got_slots`).
pub const BASE_GOT: u8 = 128;

/// The flags a chunk's relocations mark on a symbol: `bits`, with [`BASE_PLT`] when a base
/// generation's code asks for a PLT entry and [`BASE_GOT`] when it asks for a GOT entry.
#[inline]
fn marked(bits: u8, from_base: bool) -> u8 {
    match from_base {
        true => {
            bits | if bits & NEEDS_PLT != 0 { BASE_PLT } else { 0 } | if bits & NEEDS_GOT != 0 { BASE_GOT } else { 0 }
        }
        false => bits,
    }
}

/// Facts about a relocation target that a chunk's scan depends on (see
/// [`Scanner::target_facts`]); a recorded chunk is replayed only if they are unchanged.
pub const FACT_PREEMPTIBLE: u8 = 1;
pub const FACT_IFUNC: u8 = 2;
pub const FACT_ABSOLUTE: u8 = 4;
pub const FACT_STRIPPED: u8 = 8;
pub const FACT_DEFINED_LOCALLY: u8 = 16;

/// One symbol a chunk's relocations name: the facts the scan saw and the `NEEDS_*` bits
/// (with `REFERENCED`) it marked, or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetRecord {
    /// Index in the object's symbol table.
    pub symbol: u32,
    pub facts: u8,
    pub bits: u8,
}

/// A relocation's target after symbol resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymRef {
    Global(GlobalId),
    Local(FileId, u32),
}

/// A run of one input section that one thread copies and relocates.
pub struct Chunk {
    pub input: InputSectionId,
    /// Indices into the section's relocation array.
    pub relocs: Range<usize>,
    /// Byte range of the section this chunk copies.
    pub bytes: Range<u64>,
    /// Dynamic relocations this chunk emits: relative ones and ones naming a symbol.
    pub relative: u32,
    pub symbolic: u32,
    /// Index of this chunk's first entry among all relative / symbolic dynamic relocations.
    pub relative_base: u32,
    pub symbolic_base: u32,
    /// Section offsets of the relative relocations, when they are packed as RELR.
    pub relr_offsets: Vec<u64>,
    /// Some relocation is local-dynamic TLS (the module needs its TLS_LD GOT entry).
    pub uses_tls_ld: bool,
    /// Some dynamic relocation of this chunk applies to a read-only section.
    pub text_relocations: bool,
    /// What its scan recorded, when that is being recorded for a prepared base (boxed:
    /// an object may have a million chunks, and most links record none).
    pub recorded: Option<Box<ScanRecord>>,
    /// Index of this chunk's record in the prepared base, when it has one.
    pub prepared: Option<u32>,
}

/// What a chunk's scan records for a prepared base.
#[derive(Clone, Debug, Default)]
pub struct ScanRecord {
    /// The symbols the chunk names.
    pub targets: Vec<TargetRecord>,
    /// Its relocations by type: (type slot, see [`type_slot`], count) for the types
    /// present (the plan keeps the link's totals).
    pub type_counts: Vec<(u32, u64)>,
}

/// Relocation types counted individually in statistics.
pub const COUNTED_TYPES: usize = 64;

/// The slot a relocation type is counted in: its number, the last slot for types beyond.
#[inline]
pub fn type_slot(r_type: u32) -> usize {
    (r_type as usize).min(COUNTED_TYPES - 1)
}

/// The GOT entry kinds a symbol's `NEEDS_*` bits ask for, in the order its entries follow
/// each other from its first slot (`Plan::got_first_slot`).
pub const GOT_KINDS: [(u8, GotKind); 4] = [
    (NEEDS_GOT, GotKind::Address),
    (NEEDS_TLS_GD, GotKind::TlsGd),
    (NEEDS_TLS_IE, GotKind::TlsIe),
    (NEEDS_TLS_DESC, GotKind::TlsDesc),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GotKind {
    /// The symbol's address.
    Address,
    /// Two slots: module id and offset, for general-dynamic TLS.
    TlsGd,
    /// The module's own id and a zero, for local-dynamic TLS.
    TlsLd,
    /// The offset from the thread pointer, for initial-exec TLS.
    TlsIe,
    /// A two-slot TLS descriptor.
    TlsDesc,
}

impl GotKind {
    pub fn slots(self) -> u32 {
        match self {
            GotKind::Address | GotKind::TlsIe => 1,
            _ => 2,
        }
    }
}

pub struct GotEntry {
    pub kind: GotKind,
    /// `None` only for the module's local-dynamic entry.
    pub target: Option<SymRef>,
    pub slot: u32,
}

/// What the relocations asked for.
pub struct Plan {
    pub chunks: Vec<Chunk>,
    /// Per symbol key (see [`Keys`]): `NEEDS_*` flags.
    pub flags: Vec<u8>,
    pub got: Vec<GotEntry>,
    pub got_slots: u32,
    /// How many of the first GOT slots are the base GOT's: the entries of symbols some base
    /// generation's code loads from the GOT, in `.got.base` inside the base region (where
    /// every link with that base puts them; see `Layout::got_slot_address`).
    pub base_got_slots: u32,
    /// First GOT slot of each key's entries (u32::MAX when none).
    pub got_first_slot: Vec<u32>,
    pub tls_ld_slot: Option<u32>,
    /// Symbols with a PLT entry, in PLT order: imports first, then local GNU indirect
    /// functions (from `plt_ifunc_start`), whose entry is their address in this library.
    pub plt: Vec<SymRef>,
    /// How many of the first PLT entries base generations' code calls through.
    pub base_plt: usize,
    pub plt_ifunc_start: usize,
    /// PLT index per symbol key (u32::MAX when none).
    pub plt_index: Vec<u32>,
    /// Imports and exports in `.dynsym`, in the order they will be written (imports first;
    /// exports are reordered for `.gnu.hash` by the layout).
    pub dynamic_imports: Vec<GlobalId>,
    pub dynamic_exports: Vec<GlobalId>,
    /// Dynamic relocations made by input chunks, and by GOT entries (which follow them).
    pub chunk_relative: u32,
    pub chunk_symbolic: u32,
    pub got_relative: u32,
    pub got_symbolic: u32,
    /// Relative relocations of the dispatch-table directory (after the GOT's).
    pub image_relative: u32,
    /// Initial-exec TLS is used: the library needs static TLS space (`DF_STATIC_TLS`).
    pub static_tls: bool,
    /// Some dynamic relocation applies to a read-only section (`-z notext`: `DT_TEXTREL`).
    pub text_relocations: bool,
    /// What the prepared base saved: chunks replayed, and chunks rescanned with the reason.
    pub replayed_chunks: usize,
    pub rescanned_chunks: usize,
    pub rescan_reason: Option<String>,
    /// Relocations of every chunk by type (index: [`type_slot`]).
    pub type_counts: Vec<u64>,
}

/// Dense numbering of every symbol that a relocation can name: globals first, then each
/// object's local symbols.
pub struct Keys {
    pub globals: usize,
    pub local_base: Vec<usize>,
    pub total: usize,
}

impl Keys {
    pub fn new(db: &SymbolDb) -> Keys {
        let mut local_base = Vec::with_capacity(db.objects.len());
        let mut next = db.globals.len();
        for loaded in &db.objects {
            local_base.push(next);
            next += loaded.object.first_global;
        }
        Keys { globals: db.globals.len(), local_base, total: next }
    }

    #[inline]
    pub fn of(&self, target: SymRef) -> usize {
        match target {
            SymRef::Global(id) => id.0 as usize,
            SymRef::Local(file, index) => self.local_base[file.0 as usize] + index as usize,
        }
    }

    /// The symbol of key `key` (the inverse of [`Keys::of`]).
    pub fn target(&self, key: usize) -> SymRef {
        if key < self.globals {
            return SymRef::Global(GlobalId(key as u32));
        }
        let file = self.local_base.partition_point(|&base| base <= key) - 1;
        SymRef::Local(FileId(file as u32), (key - self.local_base[file]) as u32)
    }
}

/// Facts about symbols that scanning and writing both need, computed once.
pub struct SymbolFacts {
    /// Per global: binds outside this library (dynamic import, or an export others may
    /// interpose on).
    pub preemptible: Vec<bool>,
    /// Per global: exported in `.dynsym`.
    pub exported: Vec<bool>,
    /// Per global: defined as an absolute value (`SHN_ABS`), not an address here.
    absolute: Vec<bool>,
    /// Per global: defined as a GNU indirect function (its value is a resolver to call).
    ifunc: Vec<bool>,
    /// Per global: defined only in a section the chain policy stripped.
    pub stripped: Vec<bool>,
}

impl SymbolFacts {
    pub fn new(db: &SymbolDb, sections: &SectionMap, exports: &crate::resolve::exports::Exports) -> SymbolFacts {
        // [preemptible, exported, absolute, ifunc] per global, in parallel: a big base has
        // a hundred thousand globals whose symbols are read at random.
        let facts: Vec<[bool; 4]> = db
            .globals
            .par_iter()
            .enumerate()
            .with_min_len(4096)
            .map(|(id, global)| {
                let visible = global.visibility == elf::STV_DEFAULT.0 || global.visibility == elf::STV_PROTECTED.0;
                let mut fact = [false; 4];
                match global.definition {
                    // Zero, bound here: an absolute value, not an import.
                    Definition::Undefined if global.is_null_weak() => fact[2] = true,
                    Definition::Undefined | Definition::Shared { .. } => fact[0] = true,
                    Definition::Object { file, index } => {
                        let loaded = db.object(file);
                        let placed = match loaded.object.symbol(index as usize) {
                            Ok(symbol) => match loaded.object.symbol_section(symbol, index as usize) {
                                Ok(Some(section)) => sections.placements[file.0 as usize][section].is_placed(),
                                _ => true,
                            },
                            Err(_) => false,
                        };
                        fact[1] = visible && placed && !exports.local[id];
                        if let (Ok(symbol), None) = (loaded.object.symbol(index as usize), global.common) {
                            fact[2] = symbol.st_shndx(ENDIAN) == elf::SHN_ABS;
                            fact[3] = symbol.st_type() == elf::STT_GNU_IFUNC;
                        }
                        fact[0] = fact[1] && global.visibility == elf::STV_DEFAULT.0 && !exports.bound_here[id];
                    }
                    // The dispatch-table directory is for the runtime to find: exported, but
                    // the library's own references bind to it directly.
                    Definition::Synthetic(crate::resolve::Synthetic::ImageDirectory) => fact[1] = true,
                    // A --defsym symbol is exported; a number is an absolute value.
                    Definition::Synthetic(crate::resolve::Synthetic::Defsym { absolute, .. }) => {
                        fact[1] = visible;
                        fact[2] = absolute;
                    }
                    Definition::Synthetic(_) => {}
                }
                fact
            })
            .collect();
        let column = |which: usize| facts.iter().map(|fact| fact[which]).collect::<Vec<bool>>();
        let (preemptible, exported, absolute, ifunc) = (column(0), column(1), column(2), column(3));
        let stripped = db
            .globals
            .iter()
            .map(|g| g.definition == Definition::Undefined && g.stripped_definition.is_some())
            .collect();
        SymbolFacts { preemptible, exported, absolute, ifunc, stripped }
    }

    /// Whether a symbol is an absolute value rather than an address in this library.
    #[inline]
    pub fn is_absolute(&self, db: &SymbolDb, target: SymRef) -> bool {
        match target {
            SymRef::Global(id) => self.absolute[id.0 as usize],
            SymRef::Local(file, index) => db
                .object(file)
                .locals
                .get(index as usize)
                .is_some_and(|local| local.section == crate::resolve::LOCAL_ABSOLUTE),
        }
    }

    /// Whether a symbol is a GNU indirect function (its value is a resolver to call).
    #[inline]
    pub fn is_ifunc(&self, db: &SymbolDb, target: SymRef) -> bool {
        match target {
            SymRef::Global(id) => self.ifunc[id.0 as usize],
            SymRef::Local(file, _) if !db.object(file).has_local_ifunc => false,
            SymRef::Local(file, index) => {
                db.object(file).object.symbol(index as usize).is_ok_and(|s| s.st_type() == elf::STT_GNU_IFUNC)
            }
        }
    }
}

const CHUNK_RELOCS: usize = 1 << 14;
const CHUNK_BYTES: u64 = 1 << 20;

/// Splits every placed input section into chunks at relocation boundaries; a base
/// section the prepared base recorded keeps its recorded chunks.
fn make_chunks<A: Arch>(db: &SymbolDb, sections: &SectionMap, prepared: Option<&dyn ScanRecords>) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for output in &sections.outputs {
        for &(input, _) in &output.inputs {
            let object = &db.object(input.file).object;
            let header = object.section(input.section as usize);
            let size =
                if header.sh_type(ENDIAN) == elf::SHT_NOBITS { 0 } else { object.section_size(input.section as usize) };
            let relocs = object.relocations(input.section as usize);
            if let Some(recorded) = prepared.and_then(|p| p.chunks_of(input, relocs.len(), size)) {
                chunks.extend(recorded);
                continue;
            }
            let sorted = relocs.windows(2).all(|w| w[0].r_offset.get(ENDIAN) <= w[1].r_offset.get(ENDIAN));
            let mut start_reloc = 0;
            let mut start_byte = 0;
            if sorted && (relocs.len() > CHUNK_RELOCS || size > CHUNK_BYTES) {
                let mut i = 0;
                while i < relocs.len() {
                    let (offset, _, r_type, _) = rela_parts(&relocs[i]);
                    let big_enough = i - start_reloc >= CHUNK_RELOCS || offset - start_byte >= CHUNK_BYTES;
                    // A relaxed GOT load rewrites bytes before its field: never split there.
                    let splittable = !matches!(
                        A::reloc_info(r_type).map(|info| info.expr),
                        Some(RelocExpr::GotPcRelative { relaxable: true })
                    );
                    if big_enough && splittable && offset > start_byte && offset <= size {
                        chunks.push(Chunk::new(input, start_reloc..i, start_byte..offset));
                        start_reloc = i;
                        start_byte = offset;
                    }
                    i += 1;
                }
                while size - start_byte > CHUNK_BYTES && relocs.len() == start_reloc {
                    chunks.push(Chunk::new(input, start_reloc..start_reloc, start_byte..start_byte + CHUNK_BYTES));
                    start_byte += CHUNK_BYTES;
                }
            }
            chunks.push(Chunk::new(input, start_reloc..relocs.len(), start_byte..size));
        }
    }
    chunks
}

impl Chunk {
    pub fn new(input: InputSectionId, relocs: Range<usize>, bytes: Range<u64>) -> Chunk {
        Chunk {
            input,
            relocs,
            bytes,
            relative: 0,
            symbolic: 0,
            relative_base: 0,
            symbolic_base: 0,
            relr_offsets: Vec::new(),
            uses_tls_ld: false,
            text_relocations: false,
            recorded: None,
            prepared: None,
        }
    }
}

/// Resolves a relocation's symbol index to what it binds to.
#[inline]
pub fn target_of(loaded: &LoadedObject, file: FileId, symbol: u32) -> SymRef {
    match loaded.global(symbol as usize) {
        Some(id) => SymRef::Global(id),
        None => SymRef::Local(file, symbol),
    }
}

pub struct Scanner<'a, 'data> {
    pub db: &'a SymbolDb<'data>,
    pub facts: &'a SymbolFacts,
    pub keys: &'a Keys,
    pub pack_relative: bool,
    /// Record the scans of base generations' chunks for a prepared base.
    pub record_base: bool,
    /// `-z notext`: dynamic relocations may apply to read-only sections.
    pub text_relocations: bool,
}

impl<'a, 'data> Scanner<'a, 'data> {
    /// A scanner for this link's options; `record_base`: see the field.
    pub fn new(
        config: &crate::config::Config,
        db: &'a SymbolDb<'data>,
        facts: &'a SymbolFacts,
        keys: &'a Keys,
        record_base: bool,
    ) -> Self {
        let (pack_relative, text_relocations) = (config.pack_relative_relocs, config.gnu.text_relocations);
        Scanner { db, facts, keys, pack_relative, record_base, text_relocations }
    }
}

impl Scanner<'_, '_> {
    pub fn is_preemptible(&self, target: SymRef) -> bool {
        match target {
            SymRef::Global(id) => self.facts.preemptible[id.0 as usize],
            SymRef::Local(..) => false,
        }
    }

    /// A message prefix naming a relocation: file, section, offset and symbol.
    pub fn describe(&self, input: InputSectionId, offset: u64, r_type_name: &str, target: SymRef) -> String {
        let object = &self.db.object(input.file).object;
        let symbol = match target {
            SymRef::Global(id) => self.db.name(id),
            SymRef::Local(_, index) => object.describe_symbol(index as usize),
        };
        format!("{}: {r_type_name} against `{symbol}`", object.locate(input.section as usize, offset))
    }

    /// Why a relocation may not refer to `target`: it was defined in a section the chain
    /// policy stripped, and no newer generation defines it (objcopy's rule).
    fn stripped_target(&self, target: SymRef, local_strips: bool) -> Option<String> {
        let (file, section) = match target {
            SymRef::Local(file, index) if local_strips => {
                (file, self.db.object(file).locals.get(index as usize)?.section)
            }
            SymRef::Global(id) if self.facts.stripped[id.0 as usize] => self.db.global(id).stripped_definition?,
            SymRef::Global(_) => return None,
            SymRef::Local(..) => return None,
        };
        let loaded = self.db.object(file);
        if !loaded.stripped.get(section as usize).copied().unwrap_or(false) {
            return None;
        }
        Some(format!(
            "refers to a symbol defined in section {} of {} (generation {}), which is stripped from base generations, and no newer generation defines it with default or protected visibility",
            loaded.object.section_name_str(section as usize),
            loaded.object.name,
            loaded.generation
        ))
    }

    /// [`Scanner::target_facts`] of every global: what replaying a recorded chunk checks of
    /// each global it names, computed once (in order, in parallel) so that the chunks'
    /// references, read at random, find one byte each instead of a whole `Global`.
    fn global_facts(&self) -> Vec<u8> {
        (0..self.db.globals.len())
            .into_par_iter()
            .with_min_len(4096)
            .map(|id| self.target_facts(SymRef::Global(GlobalId(id as u32)), false))
            .collect()
    }

    /// The facts about `target` that scanning a relocation to it depends on (`FACT_*`).
    pub fn target_facts(&self, target: SymRef, local_strips: bool) -> u8 {
        let mut facts = 0;
        for (fact, holds) in [
            (FACT_PREEMPTIBLE, self.is_preemptible(target)),
            (FACT_IFUNC, self.facts.is_ifunc(self.db, target)),
            (FACT_ABSOLUTE, self.facts.is_absolute(self.db, target)),
            (FACT_STRIPPED, self.stripped_target(target, local_strips).is_some()),
            (FACT_DEFINED_LOCALLY, matches!(target, SymRef::Global(id) if self.db.global(id).is_defined_locally())),
        ] {
            if holds {
                facts |= fact;
            }
        }
        facts
    }

    fn scan_chunk<A: Arch>(&self, chunk: &mut Chunk, marks: &Marks) -> Result<()> {
        let input = chunk.input;
        let loaded = self.db.object(input.file);
        let object = &loaded.object;
        let header = object.section(input.section as usize);
        let relocations = &object.relocations(input.section as usize)[chunk.relocs.clone()];
        let from_base = self.db.is_base(input.file);
        let mut recorded = (self.record_base && from_base).then(Box::<ScanRecord>::default);
        chunk.uses_tls_ld = relocations
            .iter()
            .any(|rela| A::reloc_info(rela_parts(rela).2).is_some_and(|info| info.expr == RelocExpr::TlsLocalDynamic));
        if !relocations.is_empty() {
            let mut counts = [0u64; COUNTED_TYPES];
            for rela in relocations {
                counts[type_slot(rela_parts(rela).2 .0)] += 1;
            }
            let present = counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(slot, &n)| (slot as u32, n));
            marks.count_types(present.clone());
            if let Some(recorded) = recorded.as_mut() {
                recorded.type_counts = present.collect();
            }
        }
        if header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 == 0 {
            chunk.recorded = recorded;
            return Ok(());
        }
        let strips_here = loaded.strips_any;
        for rela in relocations {
            let (_, symbol, _, _) = rela_parts(rela);
            let bits = self.scan_reloc::<A>(chunk, rela, strips_here)?;
            if bits != 0 {
                marks.flags[self.keys.of(target_of(loaded, input.file, symbol))]
                    .fetch_or(marked(bits, from_base), Ordering::Relaxed);
                if bits & NEEDS_TLS_IE != 0 {
                    marks.static_tls.store(true, Ordering::Relaxed);
                }
            }
            if let Some(recorded) = recorded.as_mut() {
                recorded.targets.push(TargetRecord { symbol, facts: 0, bits });
            }
        }
        if let Some(recorded) = recorded.as_mut() {
            recorded.targets.sort_unstable_by_key(|record| record.symbol);
            recorded.targets.dedup_by(|later, kept| {
                let same = later.symbol == kept.symbol;
                if same {
                    kept.bits |= later.bits;
                }
                same
            });
            for record in &mut recorded.targets {
                record.facts = self.target_facts(target_of(loaded, input.file, record.symbol), strips_here);
            }
        }
        chunk.recorded = recorded;
        Ok(())
    }

    /// Checks one relocation of an allocated section, counts the dynamic relocation it
    /// needs in `chunk`, and returns the `NEEDS_*` bits (with `REFERENCED`) to mark on its
    /// target, or 0.
    fn scan_reloc<A: Arch>(
        &self,
        chunk: &mut Chunk,
        rela: &elf::Rela64<object::LittleEndian>,
        strips_here: bool,
    ) -> Result<u8> {
        let input = chunk.input;
        let loaded = self.db.object(input.file);
        let object = &loaded.object;
        let header = object.section(input.section as usize);
        let (offset, symbol, r_type, _) = rela_parts(rela);
        let target = target_of(loaded, input.file, symbol);
        let error = |what: &str| {
            Error::new(format!("{}: {what}", self.describe(input, offset, &A::reloc_name(r_type), target)))
        };
        let Some(info) = A::reloc_info(r_type) else {
            return Err(error("unsupported relocation type"));
        };
        if reloc_bytes(&(0..object.section_size(input.section as usize)), offset, 0, info.size as u64).is_none() {
            return Err(error("relocation offset is outside its section"));
        }
        if symbol as usize >= object.symbols.len() {
            return Err(error("invalid symbol index"));
        }
        if let Some(why) = self.stripped_target(target, strips_here) {
            return Err(error(&why));
        }
        let preemptible = self.is_preemptible(target);
        let mut bits = 0u8;
        let mut mark = |needs: u8| bits |= needs | REFERENCED;
        if preemptible {
            mark(0);
        } else if self.facts.is_ifunc(self.db, target) {
            // Every reference to a local indirect function goes through its PLT entry.
            mark(NEEDS_PLT);
        }
        match info.expr {
            RelocExpr::None | RelocExpr::GotBasePcRelative | RelocExpr::Size => {}
            RelocExpr::DtpOffset => {
                // An offset inside this module's TLS block: the symbol must live in it.
                if matches!(target, SymRef::Global(id) if !self.db.global(id).is_defined_locally()) {
                    return Err(error("unresolvable: the thread-local symbol is not defined in this library"));
                }
            }
            RelocExpr::Absolute if info.size == 8 => {
                if self.facts.is_absolute(self.db, target) && !preemptible {
                    return Ok(bits);
                }
                if header.sh_flags(ENDIAN).0 & elf::SHF_WRITE.0 == 0 {
                    if !self.text_relocations {
                        return Err(error(&format!(
                            "dynamic relocation in read-only section {}; recompile with -fPIC (or link with -z notext)",
                            object.section_name_str(input.section as usize)
                        )));
                    }
                    chunk.text_relocations = true;
                }
                if preemptible {
                    chunk.symbolic += 1;
                } else if packs_as_relr(self.pack_relative, header.sh_addralign(ENDIAN), offset) {
                    chunk.relr_offsets.push(offset);
                } else {
                    chunk.relative += 1;
                }
            }
            RelocExpr::Absolute => {
                if preemptible || !self.facts.is_absolute(self.db, target) {
                    return Err(error("cannot be used when making a shared object; recompile with -fPIC"));
                }
            }
            RelocExpr::PcRelative => {
                if preemptible {
                    return Err(error(
                        "cannot be used against a symbol that may be preempted when making a shared object; recompile with -fPIC",
                    ));
                }
            }
            RelocExpr::PltPcRelative | RelocExpr::PltOffsetFromGotBase => {
                if preemptible {
                    mark(NEEDS_PLT);
                }
            }
            RelocExpr::GotPcRelative { relaxable } => {
                let data = object.section_data(input.section as usize)?;
                let relax = relaxable
                    && relaxes_got_load::<A>(
                        self.facts,
                        self.db,
                        target,
                        preemptible,
                        r_type,
                        data,
                        offset,
                        &chunk.bytes,
                    );
                if !relax {
                    mark(NEEDS_GOT);
                }
            }
            RelocExpr::GotOffset => mark(NEEDS_GOT),
            RelocExpr::OffsetFromGotBase => {
                if preemptible && !matches!(target, SymRef::Global(id) if self.db.global(id).is_defined_locally()) {
                    return Err(error("cannot refer to a symbol defined outside this library"));
                }
            }
            RelocExpr::TlsGeneralDynamic => mark(NEEDS_TLS_GD),
            RelocExpr::TlsLocalDynamic => mark(0),
            RelocExpr::TlsInitialExec => mark(NEEDS_TLS_IE),
            RelocExpr::TlsDescriptor => mark(NEEDS_TLS_DESC),
            RelocExpr::TpOffset => {
                return Err(error("local-exec TLS cannot be used in a shared object; recompile with -fPIC"));
            }
        }
        Ok(bits)
    }

    /// Gives `chunk` the recorded result of its scan if every symbol it names still has the
    /// facts it had when recorded; otherwise returns that symbol's index (nothing marked;
    /// 0 when the record itself does not fit the chunk).
    fn replay_chunk(
        &self,
        chunk: &mut Chunk,
        prepared: &dyn ScanRecords,
        record: usize,
        global_facts: &[u8],
        marks: &Marks,
    ) -> std::result::Result<(), u32> {
        let loaded = self.db.object(chunk.input.file);
        let record = prepared.scan_of(record);
        let targets = record.targets();
        let relr_offsets: Vec<u64> = record.relr_offsets().collect();
        if relr_offsets.iter().any(|offset| !chunk.bytes.contains(offset)) {
            return Err(0);
        }
        for target in targets.clone() {
            if target.symbol as usize >= loaded.object.symbols.len() {
                return Err(target.symbol);
            }
            // The facts of a base object's local symbols come from the base alone: the
            // prepared base's key already says they are as recorded. A global may bind
            // elsewhere from one link to the next (see `crate::resolve::binding`): its facts are
            // checked, and they are all a chunk's scan depends on.
            let SymRef::Global(id) = target_of(loaded, chunk.input.file, target.symbol) else { continue };
            if global_facts[id.0 as usize] != target.facts {
                return Err(target.symbol);
            }
        }
        for target in targets.filter(|target| target.bits != 0) {
            marks.flags[self.keys.of(target_of(loaded, chunk.input.file, target.symbol))]
                .fetch_or(marked(target.bits, true), Ordering::Relaxed);
            if target.bits & NEEDS_TLS_IE != 0 {
                marks.static_tls.store(true, Ordering::Relaxed);
            }
        }
        chunk.relative = record.relative;
        chunk.symbolic = record.symbolic;
        chunk.relr_offsets = relr_offsets;
        marks.count_types(record.type_counts());
        chunk.uses_tls_ld = record.uses_tls_ld;
        Ok(())
    }
}

/// What the chunks' scans mark, from every thread at once: per symbol key the `NEEDS_*`
/// flags, whether initial-exec TLS is used, and relocations by type.
struct Marks {
    flags: Vec<AtomicU8>,
    static_tls: AtomicBool,
    type_counts: Vec<AtomicU64>,
}

impl Marks {
    /// Adds one chunk's (type slot, count) pairs to the totals.
    fn count_types(&self, counts: impl Iterator<Item = (u32, u64)>) {
        for (slot, count) in counts {
            self.type_counts[type_slot(slot)].fetch_add(count, Ordering::Relaxed);
        }
    }
}

/// Scans all relocations and plans the GOT, PLT and dynamic symbols.
pub fn scan<A: Arch>(
    scanner: &Scanner,
    sections: &SectionMap,
    directory: &ImageDirectory,
    prepared: Option<&dyn ScanRecords>,
) -> Result<Plan> {
    let db = scanner.db;
    let keys = scanner.keys;
    let mut chunks = make_chunks::<A>(db, sections, prepared);
    let marks = Marks {
        flags: (0..keys.total).map(|_| AtomicU8::new(0)).collect(),
        static_tls: AtomicBool::new(false),
        type_counts: (0..COUNTED_TYPES).map(|_| AtomicU64::new(0)).collect(),
    };
    let (replayed, rescanned) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let rescan_reason = Mutex::new(None);
    let base = |chunk: &Chunk| scanner.record_base && db.is_base(chunk.input.file);
    let global_facts = match prepared {
        Some(_) if scanner.record_base => scanner.global_facts(),
        _ => Vec::new(),
    };
    chunks.par_iter_mut().try_for_each(|chunk| {
        let Some(prepared) = prepared.filter(|_| base(chunk)) else {
            return scanner.scan_chunk::<A>(chunk, &marks);
        };
        let replay =
            chunk.prepared.map(|record| scanner.replay_chunk(chunk, prepared, record as usize, &global_facts, &marks));
        if let Some(Ok(())) = replay {
            replayed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let why = why_rescanned(&db.object(chunk.input.file).object, chunk, replay.and_then(|r| r.err()));
        // Rescanned, and recorded afresh. The reason reported is the first chunk's, in
        // input order, whichever thread gets there first.
        chunk.prepared = None;
        rescanned.fetch_add(1, Ordering::Relaxed);
        let place = (chunk.input.file.0, chunk.input.section, chunk.bytes.start);
        let mut first = rescan_reason.lock().unwrap_or_else(|e| e.into_inner());
        if first.as_ref().is_none_or(|(earlier, _)| place < *earlier) {
            *first = Some((place, why));
        }
        drop(first);
        scanner.scan_chunk::<A>(chunk, &marks)
    })?;
    let flags: Vec<u8> = marks.flags.into_iter().map(AtomicU8::into_inner).collect();
    let static_tls = marks.static_tls;
    let type_counts = marks.type_counts.into_iter().map(AtomicU64::into_inner).collect();
    let (replayed_chunks, rescanned_chunks) = (replayed.into_inner(), rescanned.into_inner());
    let uses_tls_ld = chunks.iter().any(|chunk| chunk.uses_tls_ld);
    let text_relocations = chunks.iter().any(|chunk| chunk.text_relocations);

    let mut relative_total = 0u32;
    let mut symbolic_total = 0u32;
    for chunk in &mut chunks {
        chunk.relative_base = relative_total;
        chunk.symbolic_base = symbolic_total;
        relative_total += chunk.relative;
        symbolic_total += chunk.symbolic;
    }

    let mut got = plan_got(scanner, db, &flags, keys);
    let mut plt = Vec::new();
    let mut plt_index = vec![u32::MAX; keys.total];
    // PLT entries: the base generations' calls first (their entries are then where every
    // link with that base puts them), the other imports next, indirect functions last
    // (their resolvers may call through the other PLT slots).
    let plt_keys = (0..flags.len()).filter(|&key| flags[key] & NEEDS_PLT != 0);
    let (imports, ifuncs): (Vec<usize>, Vec<usize>) =
        plt_keys.partition(|&key| scanner.is_preemptible(keys.target(key)));
    let (base_imports, other_imports): (Vec<usize>, Vec<usize>) =
        imports.into_iter().partition(|&key| flags[key] & BASE_PLT != 0);
    let base_plt = base_imports.len();
    let plt_ifunc_start = base_plt + other_imports.len();
    for key in base_imports.into_iter().chain(other_imports).chain(ifuncs) {
        plt_index[key] = plt.len() as u32;
        plt.push(keys.target(key));
    }
    let tls_ld_slot = uses_tls_ld.then(|| {
        got.entries.push(GotEntry { kind: GotKind::TlsLd, target: None, slot: got.slots });
        got.symbolic += 1;
        got.slots += 2;
        got.slots - 2
    });

    let (dynamic_imports, dynamic_exports) = dynamic_symbols(db, scanner.facts, &flags);

    Ok(Plan {
        chunks,
        flags,
        got: got.entries,
        got_slots: got.slots,
        base_got_slots: got.base_slots,
        got_first_slot: got.first_slot,
        tls_ld_slot,
        plt,
        base_plt,
        plt_ifunc_start,
        plt_index,
        dynamic_imports,
        dynamic_exports,
        chunk_relative: relative_total,
        chunk_symbolic: symbolic_total,
        got_relative: got.relative,
        got_symbolic: got.symbolic,
        image_relative: if scanner.pack_relative { 0 } else { directory.pointer_count() as u32 },
        static_tls: static_tls.into_inner(),
        text_relocations,
        replayed_chunks,
        rescanned_chunks,
        rescan_reason: rescan_reason.into_inner().unwrap_or_else(|e| e.into_inner()).map(|(_, why)| why),
        type_counts,
    })
}

/// Why a base chunk is rescanned: the symbol its record names that binds differently now
/// (0: the record does not fit the chunk), or, with no symbol, it has no record.
fn why_rescanned(object: &crate::input::object_file::ObjectFile, chunk: &Chunk, symbol: Option<u32>) -> String {
    let section = chunk.input.section as usize;
    let Some(symbol) = symbol else {
        return format!("section {} of {} has no record", object.section_name_str(section), object.name);
    };
    let relocations = &object.relocations(section)[chunk.relocs.clone()];
    let offset =
        relocations.iter().map(rela_parts).find(|parts| parts.1 == symbol).map_or(chunk.bytes.start, |parts| parts.0);
    format!(
        "`{}` (named at {}) binds differently now",
        object.describe_symbol(symbol as usize),
        object.locate(section, offset)
    )
}

/// The GOT the scan's marks ask for (see [`plan_got`]).
struct GotPlan {
    entries: Vec<GotEntry>,
    slots: u32,
    base_slots: u32,
    first_slot: Vec<u32>,
    relative: u32,
    symbolic: u32,
}

/// GOT entries in key order, each symbol's kinds in a fixed order: the base GOT's symbols
/// first (see `Plan::base_got_slots`), then the others.
fn plan_got(scanner: &Scanner, db: &SymbolDb, flags: &[u8], keys: &Keys) -> GotPlan {
    let mut got = GotPlan {
        entries: Vec::new(),
        slots: 0,
        base_slots: 0,
        first_slot: vec![u32::MAX; keys.total],
        relative: 0,
        symbolic: 0,
    };
    let wants_got = |bits: u8| bits & (NEEDS_GOT | NEEDS_TLS_GD | NEEDS_TLS_IE | NEEDS_TLS_DESC) != 0;
    let (base_keys, other_keys): (Vec<usize>, Vec<usize>) =
        (0..flags.len()).filter(|&key| wants_got(flags[key])).partition(|&key| flags[key] & BASE_GOT != 0);
    let add = |got: &mut GotPlan, key: usize| {
        let (target, bits) = (keys.target(key), flags[key]);
        let preemptible = scanner.is_preemptible(target);
        got.first_slot[key] = got.slots;
        for (_, kind) in GOT_KINDS.into_iter().filter(|&(bit, _)| bits & bit != 0) {
            let (relative, symbolic) =
                got_dynamic_relocs(kind, preemptible, scanner.facts.is_absolute(db, target), scanner.pack_relative);
            got.relative += relative;
            got.symbolic += symbolic;
            got.entries.push(GotEntry { kind, target: Some(target), slot: got.slots });
            got.slots += kind.slots();
        }
    };
    base_keys.into_iter().for_each(|key| add(&mut got, key));
    got.base_slots = got.slots;
    other_keys.into_iter().for_each(|key| add(&mut got, key));
    got
}

/// The dynamic symbol table's two parts: imports (preemptible and referenced) and exports.
fn dynamic_symbols(db: &SymbolDb, facts: &SymbolFacts, flags: &[u8]) -> (Vec<GlobalId>, Vec<GlobalId>) {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    for (id, &bits) in flags.iter().enumerate().take(db.globals.len()) {
        if facts.exported[id] {
            exports.push(GlobalId(id as u32));
        } else if facts.preemptible[id] && bits & REFERENCED != 0 {
            imports.push(GlobalId(id as u32));
        }
    }
    (imports, exports)
}

/// How many (relative, symbolic) dynamic relocations a GOT entry needs.
pub fn got_dynamic_relocs(kind: GotKind, preemptible: bool, absolute: bool, pack_relative: bool) -> (u32, u32) {
    match kind {
        GotKind::Address if preemptible => (0, 1),
        GotKind::Address if absolute => (0, 0),
        GotKind::Address => (if pack_relative { 0 } else { 1 }, 0),
        GotKind::TlsGd if preemptible => (0, 2),
        GotKind::TlsGd | GotKind::TlsLd | GotKind::TlsIe | GotKind::TlsDesc => (0, 1),
    }
}

/// Whether a GOT load at `offset` is rewritten to address its symbol directly: the symbol
/// binds here to an address, the instruction allows it, and the bytes the rewrite touches
/// (`Arch::GOT_LOAD_PREFIX` before the field) lie in the same chunk. Scan and write both
/// ask this.
#[allow(clippy::too_many_arguments)]
pub fn relaxes_got_load<A: Arch>(
    facts: &SymbolFacts,
    db: &SymbolDb,
    target: SymRef,
    preemptible: bool,
    r_type: elf::RelocationType,
    section: &[u8],
    offset: u64,
    chunk: &Range<u64>,
) -> bool {
    !preemptible
        && !facts.is_absolute(db, target)
        && got_load_instruction::<A>(section, offset, chunk)
            .is_some_and(|at| A::can_relax_got_load(r_type, &section[at]))
}

/// Where in `section` the instruction of a relaxable GOT load at `offset` lies, when all
/// of it is inside `chunk`.
pub fn got_load_instruction<A: Arch>(section: &[u8], offset: u64, chunk: &Range<u64>) -> Option<Range<usize>> {
    let within = chunk.start..chunk.end.min(section.len() as u64);
    let at = reloc_bytes(&within, offset, A::GOT_LOAD_PREFIX, 4)?;
    let start = usize::try_from(chunk.start).ok()?;
    Some(start + at.start..start + at.end)
}

/// Whether a relative relocation at `offset` of a section is packed into `.relr.dyn`
/// (RELR can only describe word-aligned places).
#[inline]
pub fn packs_as_relr(pack_relative: bool, section_align: u64, offset: u64) -> bool {
    pack_relative && section_align >= 8 && offset.is_multiple_of(8)
}
