//! Phase 3: map every kept input section to an output section, in output order.
//!
//! Output sections are merged by kind and name the way GNU ld's default script merges them
//! (`.text.*` into `.text`, `.init_array.N` sorted by priority, …) and ranked so that the
//! file has one read-only header page, then text, read-only data, RELRO data and writable
//! data. Sizes of input-backed sections are fixed here; addresses are not.

pub mod debug_remap;
pub mod gc;

use crate::arch::Arch;
use crate::input::object_file::ENDIAN;
use crate::resolve::{FileId, SymbolDb};
use crate::util::error::Result;
use object::elf;
use object::read::elf::SectionHeader as _;
use std::borrow::Cow;

/// Where an output section lives. Order matters: it is the segment order in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SegmentClass {
    Headers,
    Text,
    ReadOnly,
    Relro,
    Writable,
    NotLoaded,
}

/// Sections the linker makes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synthetic {
    Headers,
    BuildId,
    /// `.hash`.
    Hash,
    GnuHash,
    DynSym,
    DynStr,
    VerSym,
    VerDef,
    VerNeed,
    RelaDyn,
    RelrDyn,
    RelaPlt,
    Plt,
    EhFrameHdr,
    Dynamic,
    Got,
    /// `.got.base`: the GOT entries base generations' code loads (`Plan::base_got_slots`),
    /// part of the base region.
    BaseGot,
    GotPlt,
    /// COMMON symbols, placed at the end of `.bss`.
    Commons,
    /// The chain manifest (non-allocated): generations, members, strip list.
    Manifest,
    /// The dependency records of a chained link (non-allocated; `deps`).
    Deps,
    /// `chainlink_image`: every unit's uncompressed dispatch tables.
    ImageDirectory,
    /// The static symbol table and its names.
    SymTab,
    StrTab,
    SectionHeaderNames,
    SectionHeaders,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSectionId {
    pub file: FileId,
    pub section: u32,
}

pub struct OutputSection {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub align: u64,
    pub class: SegmentClass,
    rank: u32,
    /// Part of the base region (see [`assign`]): base generations' code, read-only data
    /// and initialised data, laid out before everything else.
    pub base: bool,
    /// Input sections in output order, with their offsets inside this section.
    pub inputs: Vec<(InputSectionId, u64)>,
    pub synthetic: Option<Synthetic>,
    /// Bytes; for synthetic sections set once their contents are planned.
    pub size: u64,
    pub offset: u64,
    pub addr: u64,
    /// Index in the output's section header table (0 when the section is not emitted).
    pub header_index: u32,
}

impl OutputSection {
    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS.0
    }

    pub fn is_tls(&self) -> bool {
        self.flags & elf::SHF_TLS.0 != 0
    }

    pub fn end(&self) -> u64 {
        self.addr + self.size
    }
}

/// Where one input section landed: output section and offset within it.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub output: u32,
    pub offset: u64,
}

impl Placement {
    pub const NONE: Placement = Placement { output: u32::MAX, offset: 0 };

    pub fn is_placed(&self) -> bool {
        self.output != u32::MAX
    }
}

pub struct SectionMap {
    pub outputs: Vec<OutputSection>,
    /// `placements[file][section]`.
    pub placements: Vec<Vec<Placement>>,
    /// Index in `outputs` of each synthetic section (by `Synthetic as usize`), and of the
    /// input-backed ones sorted by (name, index): asked per chunk and per symbol, so never
    /// a search of every output (an object may have a million orphan sections).
    synthetic: Vec<usize>,
    by_name: Vec<u32>,
}

impl SectionMap {
    fn new(outputs: Vec<OutputSection>, placements: Vec<Vec<Placement>>) -> SectionMap {
        let mut synthetic = vec![usize::MAX; SYNTHETIC.len()];
        for (index, output) in outputs.iter().enumerate() {
            if let Some(kind) = output.synthetic {
                synthetic[kind as usize] = index;
            }
        }
        let mut by_name: Vec<u32> =
            (0..outputs.len() as u32).filter(|&i| outputs[i as usize].synthetic.is_none()).collect();
        by_name.sort_by(|&a, &b| outputs[a as usize].name.cmp(&outputs[b as usize].name).then(a.cmp(&b)));
        SectionMap { outputs, placements, synthetic, by_name }
    }

    pub fn find(&self, synthetic: Synthetic) -> usize {
        self.synthetic[synthetic as usize]
    }

    /// The first input-backed output section called `name`.
    pub fn by_name(&self, name: &str) -> Option<&OutputSection> {
        let first = self.by_name.partition_point(|&i| self.outputs[i as usize].name.as_str() < name);
        let index = *self.by_name.get(first)? as usize;
        (self.outputs[index].name == name).then(|| &self.outputs[index])
    }
}

const ALLOC: u64 = elf::SHF_ALLOC.0;
const WRITE: u64 = elf::SHF_WRITE.0;
const EXEC: u64 = elf::SHF_EXECINSTR.0;
const TLS: u64 = elf::SHF_TLS.0;
/// Sections that exist only for the link (`SHF_EXCLUDE`).
const SHF_EXCLUDE: u64 = 0x8000_0000;

/// The output name, rank and segment of an input section, or `None` when it is not output.
/// (Asked once per input section: the usual names cost no allocation.)
fn classify(name: &[u8], sh_type: u32, flags: u64) -> Option<(Cow<'static, str>, u32, SegmentClass)> {
    use SegmentClass::*;
    let has_prefix = |prefix: &[u8]| name.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest[0] == b'.');
    let own_name = || Cow::Owned(String::from_utf8_lossy(name).into_owned());
    if matches!(sh_type, 2 | 3 | 4 | 9 | 17 | 18) {
        // SYMTAB, STRTAB, RELA, REL, GROUP, SYMTAB_SHNDX: consumed by the linker.
        return None;
    }
    // Link-time-only sections: stack notes, GNU properties, LTO bytecode, glibc's link
    // warnings, and anything marked SHF_EXCLUDE (e.g. clang's `.llvm_addrsig`).
    if name == b".note.GNU-stack"
        || name == b".note.gnu.property"
        || name.starts_with(b".gnu.lto_")
        || name.starts_with(b".gnu.warning")
        || flags & SHF_EXCLUDE != 0
    {
        return None;
    }
    if flags & ALLOC == 0 {
        return Some((own_name(), if name == b".comment" { 600 } else { 610 }, NotLoaded));
    }
    let known: Option<(&str, u32)> = if flags & TLS != 0 {
        Some(if sh_type == elf::SHT_NOBITS.0 { (".tbss", 410) } else { (".tdata", 400) })
    } else if has_prefix(b".text") {
        Some((".text", 110))
    } else if name == b".init" {
        Some((".init", 101))
    } else if name == b".fini" {
        Some((".fini", 130))
    } else if has_prefix(b".rodata") {
        Some((".rodata", 290))
    } else if has_prefix(b".lrodata") {
        Some((".lrodata", 310))
    } else if name == b".eh_frame" {
        Some((".eh_frame", 330))
    } else if has_prefix(b".gcc_except_table") {
        Some((".gcc_except_table", 340))
    } else if has_prefix(b".preinit_array") {
        Some((".preinit_array", 420))
    } else if has_prefix(b".init_array") {
        Some((".init_array", 430))
    } else if has_prefix(b".fini_array") {
        Some((".fini_array", 440))
    } else if has_prefix(b".data.rel.ro") {
        Some((".data.rel.ro", 450))
    } else if has_prefix(b".ldata") {
        Some((".ldata", 530))
    } else if has_prefix(b".lbss") {
        Some((".lbss", 560))
    } else if has_prefix(b".bss") {
        Some((".bss", 540))
    } else if has_prefix(b".data") {
        Some((".data", 510))
    } else {
        None
    };
    // NOBITS sections take no file space, so they must end their segment: every one goes
    // with `.bss`, and a `.bss`-named section with contents goes with the data.
    let nobits = sh_type == elf::SHT_NOBITS.0;
    let known = match known {
        Some((_, 540)) if !nobits => Some((".data", 510)),
        Some((_, 560)) if !nobits => Some((".ldata", 530)),
        Some((_, rank)) if nobits && flags & TLS == 0 && rank != 540 && rank != 560 => None,
        other => other,
    };
    if let Some((name, rank)) = known {
        return Some((Cow::Borrowed(name), rank, class_of_rank(rank)));
    }
    // An orphan keeps its own name and goes where its flags say.
    let rank = if nobits {
        550
    } else if sh_type == elf::SHT_NOTE.0 && flags & WRITE == 0 {
        205
    } else if flags & EXEC != 0 {
        120
    } else if flags & WRITE == 0 {
        300
    } else {
        520
    };
    Some((own_name(), rank, class_of_rank(rank)))
}

fn class_of_rank(rank: u32) -> SegmentClass {
    match rank {
        0..=99 => SegmentClass::Headers,
        100..=199 => SegmentClass::Text,
        200..=399 => SegmentClass::ReadOnly,
        400..=499 => SegmentClass::Relro,
        500..=599 => SegmentClass::Writable,
        _ => SegmentClass::NotLoaded,
    }
}

/// Synthetic sections: name, rank, type, flags, alignment.
const SYNTHETIC: &[(Synthetic, &str, u32, u32, u64, u64)] = &[
    (Synthetic::Headers, "", 0, 0, 0, 8),
    // First after the base region: base code's PLT calls keep their value (scan.rs).
    (Synthetic::Plt, ".plt", 100, elf::SHT_PROGBITS.0, ALLOC | EXEC, 16),
    (Synthetic::BuildId, ".note.gnu.build-id", 200, elf::SHT_NOTE.0, ALLOC, 4),
    (Synthetic::Hash, ".hash", 207, elf::SHT_HASH.0, ALLOC, 8),
    (Synthetic::GnuHash, ".gnu.hash", 210, elf::SHT_GNU_HASH.0, ALLOC, 8),
    (Synthetic::DynSym, ".dynsym", 220, elf::SHT_DYNSYM.0, ALLOC, 8),
    (Synthetic::DynStr, ".dynstr", 230, elf::SHT_STRTAB.0, ALLOC, 1),
    (Synthetic::VerSym, ".gnu.version", 240, elf::SHT_GNU_VERSYM.0, ALLOC, 2),
    (Synthetic::VerDef, ".gnu.version_d", 245, elf::SHT_GNU_VERDEF.0, ALLOC, 8),
    (Synthetic::VerNeed, ".gnu.version_r", 250, elf::SHT_GNU_VERNEED.0, ALLOC, 8),
    (Synthetic::RelaDyn, ".rela.dyn", 260, elf::SHT_RELA.0, ALLOC, 8),
    (Synthetic::RelrDyn, ".relr.dyn", 270, elf::SHT_RELR.0, ALLOC, 8),
    (Synthetic::RelaPlt, ".rela.plt", 280, elf::SHT_RELA.0, ALLOC | elf::SHF_INFO_LINK.0, 8),
    (Synthetic::EhFrameHdr, ".eh_frame_hdr", 320, elf::SHT_PROGBITS.0, ALLOC, 4),
    (Synthetic::ImageDirectory, ".data.rel.ro.chainlink_image", 455, elf::SHT_PROGBITS.0, ALLOC | WRITE, 8),
    (Synthetic::Dynamic, ".dynamic", 460, elf::SHT_DYNAMIC.0, ALLOC | WRITE, 8),
    (Synthetic::Got, ".got", 470, elf::SHT_PROGBITS.0, ALLOC | WRITE, 8),
    // In the base region, after its read-only part (see `synthetic_outputs`).
    (Synthetic::BaseGot, ".got.base", 505, elf::SHT_PROGBITS.0, ALLOC | WRITE, 8),
    (Synthetic::GotPlt, ".got.plt", 500, elf::SHT_PROGBITS.0, ALLOC | WRITE, 8),
    (Synthetic::Commons, ".bss", 541, elf::SHT_NOBITS.0, ALLOC | WRITE, 1),
    (Synthetic::Manifest, crate::chain::MANIFEST_SECTION, 680, elf::SHT_PROGBITS.0, 0, 1),
    (Synthetic::Deps, crate::resolve::deps::DEPS_SECTION, 681, elf::SHT_PROGBITS.0, 0, 1),
    (Synthetic::SymTab, ".symtab", 685, elf::SHT_SYMTAB.0, 0, 8),
    (Synthetic::StrTab, ".strtab", 686, elf::SHT_STRTAB.0, 0, 1),
    (Synthetic::SectionHeaderNames, ".shstrtab", 690, elf::SHT_STRTAB.0, 0, 1),
    (Synthetic::SectionHeaders, "", 699, 0, 0, 8),
];

/// Whether an input section goes to the base region. In a chained link, base generations'
/// code (`.text`), read-only data (`.rodata`, `.gcc_except_table`) and initialised data
/// (`.data`) come first, in segments of their own, so their addresses depend on the base
/// alone: the same in every link with that base, whatever the newest generation holds.
/// Relocations between them then have the same value in every such link (what a prepared
/// base keeps). Sections that must be one block with the newest generation's (`.eh_frame`
/// for `.eh_frame_hdr`, TLS, RELRO, `.bss`, arrays, `__start_`/`__stop_` orphans) and the
/// large code model's sections stay in the usual order.
fn in_base_region<A: Arch>(is_base: bool, rank: u32, out_type: u32, flags: u64) -> bool {
    is_base
        && matches!(rank, 110 | 290 | 340 | 510)
        && out_type == elf::SHT_PROGBITS.0
        && flags & (TLS | A::LARGE_SECTION_FLAG) == 0
}

/// `.init_array.00101` → 101; sections without a priority run after all prioritised ones.
fn init_priority(name: &[u8]) -> u32 {
    let digits = name.rsplit(|&c| c == b'.').next().unwrap_or(b"");
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || name.ends_with(b"_array") {
        return 65536;
    }
    std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).unwrap_or(65536)
}

/// The synthetic output sections, empty, in `SYNTHETIC` order. `.got.base` belongs to the
/// base region (placed by the base alone; empty without base GOT entries).
fn synthetic_outputs() -> Vec<OutputSection> {
    SYNTHETIC
        .iter()
        .map(|&(synthetic, name, rank, sh_type, flags, align)| OutputSection {
            name: name.to_string(),
            sh_type,
            flags,
            align,
            class: class_of_rank(rank),
            rank,
            base: synthetic == Synthetic::BaseGot,
            inputs: Vec::new(),
            synthetic: Some(synthetic),
            size: 0,
            offset: 0,
            addr: 0,
            header_index: 0,
        })
        .collect()
}

/// Assigns input sections to output sections and fixes each output section's size.
pub fn assign<A: Arch>(db: &SymbolDb) -> Result<SectionMap> {
    let mut outputs = synthetic_outputs();
    let mut by_key: crate::util::hash::FxHashMap<(Cow<'static, str>, u32, u64, bool), usize> = Default::default();
    let mut placements = Vec::with_capacity(db.objects.len());
    // (output, priority, input) in input order, sorted per output below.
    let mut members: Vec<(usize, u32, InputSectionId)> = Vec::new();
    for (file_index, loaded) in db.objects.iter().enumerate() {
        let object = &loaded.object;
        let mut file_placements = vec![Placement::NONE; object.sections.len()];
        for (index, header) in object.sections.enumerate() {
            if index.0 == 0 || loaded.discarded[index.0] {
                continue;
            }
            let name = object.section_name(index.0);
            let sh_type = header.sh_type(ENDIAN).0;
            let flags = header.sh_flags(ENDIAN).0;
            let old_style =
                name == b".ctors" || name == b".dtors" || name.starts_with(b".ctors.") || name.starts_with(b".dtors.");
            if old_style && flags & ALLOC != 0 && header.sh_size(ENDIAN) > 0 {
                return Err(crate::util::error::Error::new(format!(
                    "{}: section {}: old-style constructor tables (.ctors/.dtors) are not supported; \
                     compilers for this platform use .init_array/.fini_array",
                    object.name,
                    String::from_utf8_lossy(name)
                )));
            }
            let Some((out_name, rank, class)) = classify(name, sh_type, flags) else {
                continue;
            };
            // Merged allocated sections are PROGBITS unless their type means something to
            // the loader (NOBITS, NOTE, the init/fini arrays).
            let keeps_type = flags & ALLOC == 0
                || [elf::SHT_NOBITS, elf::SHT_NOTE, elf::SHT_INIT_ARRAY, elf::SHT_FINI_ARRAY, elf::SHT_PREINIT_ARRAY]
                    .iter()
                    .any(|t| t.0 == sh_type);
            let out_type = if keeps_type { sh_type } else { elf::SHT_PROGBITS.0 };
            let key_flags = flags & (ALLOC | WRITE | EXEC | TLS);
            let base = in_base_region::<A>(db.is_base(FileId(file_index as u32)), rank, out_type, flags);
            let key = (out_name, out_type, key_flags, base);
            let output = match by_key.get(&key) {
                Some(&output) => output,
                None => {
                    outputs.push(OutputSection {
                        name: key.0.clone().into_owned(),
                        sh_type: out_type,
                        flags: key_flags | (flags & A::LARGE_SECTION_FLAG),
                        align: 1,
                        class,
                        rank,
                        base,
                        inputs: Vec::new(),
                        synthetic: None,
                        size: 0,
                        offset: 0,
                        addr: 0,
                        header_index: 0,
                    });
                    by_key.insert(key, outputs.len() - 1);
                    outputs.len() - 1
                }
            };
            let priority = if rank == 430 || rank == 440 || rank == 420 { init_priority(name) } else { 0 };
            members.push((
                output,
                priority,
                InputSectionId { file: FileId(file_index as u32), section: index.0 as u32 },
            ));
            file_placements[index.0] = Placement { output: output as u32, offset: 0 };
        }
        placements.push(file_placements);
    }
    // A stable sort keeps command-line order among equal priorities.
    members.sort_by_key(|&(output, priority, _)| (output, priority));
    for (output, _, id) in members {
        let header = db.object(id.file).object.section(id.section as usize);
        let align = header.sh_addralign(ENDIAN).max(1);
        if !align.is_power_of_two() {
            return Err(crate::util::error::Error::new(format!(
                "{}: section {}: alignment {align} is not a power of two",
                db.object(id.file).object.name,
                db.object(id.file).object.section_name_str(id.section as usize)
            )));
        }
        let out = &mut outputs[output];
        out.align = out.align.max(align);
        let offset = out.size.next_multiple_of(align);
        out.size = offset + db.object(id.file).object.section_size(id.section as usize);
        out.inputs.push((id, offset));
        placements[id.file.0 as usize][id.section as usize].offset = offset;
    }
    // Order output sections: the headers, the base region, then the rest by rank; among
    // equals by first appearance. Keep placements pointing at the reordered indices.
    let mut order: Vec<usize> = (0..outputs.len()).collect();
    order.sort_by_key(|&i| (outputs[i].class != SegmentClass::Headers && !outputs[i].base, outputs[i].rank, i));
    let mut new_index = vec![0u32; outputs.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new as u32;
    }
    let mut slots: Vec<Option<OutputSection>> = outputs.into_iter().map(Some).collect();
    let outputs = order.iter().map(|&i| slots[i].take().expect("each index once")).collect();
    for file in &mut placements {
        for placement in file.iter_mut().filter(|p| p.is_placed()) {
            placement.output = new_index[placement.output as usize];
        }
    }
    Ok(SectionMap::new(outputs, placements))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_section_is_found_by_its_kind() {
        let map = SectionMap::new(synthetic_outputs().into_iter().rev().collect(), Vec::new());
        for &(synthetic, ..) in SYNTHETIC {
            assert_eq!(map.outputs[map.find(synthetic)].synthetic, Some(synthetic));
        }
        assert!(map.by_name(".bss").is_none(), "synthetic sections are not found by name");
    }
}
