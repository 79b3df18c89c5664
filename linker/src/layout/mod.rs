//! Phase 5: fix the whole output before a byte is written.
//!
//! Plans the dynamic-linking data (`.dynsym` order, `.dynstr`, versions, `.dynamic`), sizes
//! every synthetic section, assigns file offsets and addresses (address == file offset for
//! loaded sections, each segment on its own page), and computes every global's address.
//! After this phase nothing moves; the writer only fills in bytes.

pub mod defsym;
pub mod exec_stack;
pub mod gnu_hash;
pub mod symtab;
pub mod sysv_hash;
pub mod verdef;

use crate::arch::Arch;
use crate::config::Config;
use crate::input::eh_frame;
use crate::input::object_file::ENDIAN;
use crate::resolve::{self, ArrayKind, Definition, GlobalId, SymbolDb};
use crate::scan::{Plan, SymRef, SymbolFacts};
use crate::sections::{SectionMap, SegmentClass, Synthetic};
use crate::tables::{self, ImageDirectory};
use crate::util::error::{Error, Result};
use crate::util::hash::FxHashMap;
use gnu_hash::GnuHashPlan;
use object::elf;
use object::read::elf::Sym as _;
use rayon::prelude::*;

pub use crate::util::mapping::PAGE_SIZE;
/// `Layout::local_addr` of a symbol whose section was not linked.
const DISCARDED: u64 = u64::MAX;
pub const BUILD_ID_SIZE: usize = 20;
const ELF_HEADER_SIZE: u64 = 64;
const PROGRAM_HEADER_SIZE: u64 = 56;
pub const SECTION_HEADER_SIZE: u64 = 64;

/// A string table under construction; identical strings share one offset.
#[derive(Default)]
pub struct StringTable {
    pub bytes: Vec<u8>,
    offsets: FxHashMap<Vec<u8>, u32>,
}

impl StringTable {
    fn new() -> StringTable {
        StringTable { bytes: vec![0], offsets: Default::default() }
    }

    /// Appends strings known to be distinct and not in the table yet (copied in parallel:
    /// `.dynstr` gets a hundred thousand names); their offsets.
    pub fn append_all(&mut self, strings: &[&[u8]]) -> Vec<u32> {
        let start = self.bytes.len();
        let mut offsets = Vec::with_capacity(strings.len());
        let mut end = start;
        for s in strings {
            offsets.push(end as u32);
            end += s.len() + 1;
        }
        // Zeros: every string's terminator is in place already.
        self.bytes.resize(end, 0);
        // Groups of strings fill disjoint runs of the table.
        let mut runs = Vec::new();
        let mut rest = &mut self.bytes[start..];
        for group in strings.chunks(4096) {
            let (run, tail) = rest.split_at_mut(group.iter().map(|s| s.len() + 1).sum());
            runs.push((group, run));
            rest = tail;
        }
        runs.into_par_iter().for_each(|(group, run)| {
            let mut at = 0;
            for s in group {
                run[at..at + s.len()].copy_from_slice(s);
                at += s.len() + 1;
            }
        });
        offsets
    }

    pub fn add(&mut self, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(&offset) = self.offsets.get(s) {
            return offset;
        }
        let offset = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s);
        self.bytes.push(0);
        self.offsets.insert(s.to_vec(), offset);
        offset
    }
}

/// A library the output depends on, with the symbol versions it needs from it.
pub struct Needed {
    pub name_offset: u32,
    /// (version name offset, ELF hash of the name, version index)
    pub versions: Vec<(u32, u32, u16)>,
}

pub struct Segment {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub addr: u64,
    pub file_size: u64,
    pub mem_size: u64,
    pub align: u64,
}

impl Segment {
    /// A segment covering exactly one section: (offset, address, size).
    fn covering(p_type: elf::ProgramType, flags: u32, (offset, addr, size): (u64, u64, u64), align: u64) -> Segment {
        Segment { p_type: p_type.0, flags, offset, addr, file_size: size, mem_size: size, align }
    }
}

/// How segments are made (`-z max-page-size`, `-z norelro`, `-z execstack`,
/// `-z stack-size`).
#[derive(Clone, Copy)]
pub struct SegmentOptions {
    /// Segments start on a multiple of it, their `p_align`.
    pub page_size: u64,
    pub relro: bool,
    pub exec_stack: bool,
    pub stack_size: u64,
}

pub struct Tls {
    pub start: u64,
    pub end: u64,
    pub align: u64,
}

pub struct Layout {
    pub sections: SectionMap,
    /// `.dynsym` entries after the null symbol: imports, then exports in `.gnu.hash` order.
    pub dynsym: Vec<GlobalId>,
    pub dynsym_index: Vec<u32>,
    pub dynsym_name: Vec<u32>,
    /// `.gnu.version` entry per `.dynsym` entry after the null symbol (empty: no versions).
    pub versym: Vec<u16>,
    /// `.gnu.version_d`, when the output defines versions.
    pub verdef: crate::layout::verdef::VerdefPlan,
    /// Some symbol needs a version of a library (`.gnu.version_r` is written).
    pub has_verneed: bool,
    pub import_count: usize,
    pub gnu_hash: GnuHashPlan,
    pub dynstr: StringTable,
    pub needed: Vec<Needed>,
    pub soname: Option<u32>,
    pub runpath: Option<u32>,
    pub segments: Vec<Segment>,
    pub tls: Option<Tls>,
    pub global_addr: Vec<u64>,
    /// Address of every object's local symbols (`DISCARDED` when their section is not
    /// linked): one load per relocation in the writer's hot loop.
    pub local_addr: Vec<Vec<u64>>,
    /// Address of each COMMON symbol, by global.
    pub common_addr: FxHashMap<GlobalId, u64>,
    /// Encoded `.relr.dyn` words.
    pub relr: Vec<u64>,
    pub relr_enabled: bool,
    pub eh_frame_fdes: usize,
    pub shstrtab: StringTable,
    pub section_names: Vec<u32>,
    pub file_size: u64,
    pub init: Option<u64>,
    pub fini: Option<u64>,
    /// `e_entry` (`-e`; 0 without it).
    pub entry: u64,
    pub segment_options: SegmentOptions,
    pub static_tls: bool,
    /// Local indirect functions: their address is their PLT entry, not their resolver.
    pub canonical_plt: FxHashMap<SymRef, u64>,
    /// The chain manifest recorded in the output.
    pub manifest: String,
    /// The dependency records recorded in the output (empty: none).
    pub deps: String,
    /// The addresses (and file offsets) the base region spans, when there is one.
    pub base_region: Option<std::ops::Range<u64>>,
}

impl Layout {
    pub fn plt_entry_address<A: Arch>(&self, index: u32) -> u64 {
        self.section(Synthetic::Plt).addr + (A::PLT_HEADER_SIZE + A::PLT_ENTRY_SIZE * index as usize) as u64
    }

    /// Whether an input section lies in the base region.
    pub fn in_base_region(&self, input: crate::sections::InputSectionId) -> bool {
        let placement = self.sections.placements[input.file.0 as usize][input.section as usize];
        self.sections.outputs.get(placement.output as usize).is_some_and(|output| output.base)
    }

    /// A digest of where the base region's sections and their inputs lie, and of the PLT
    /// entries base code calls through (where the PLT is, which symbols come first): equal
    /// digests mean a stored copy of the region's bytes fits this layout.
    pub fn region_signature(&self, db: &SymbolDb, plan: &Plan) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.section(Synthetic::Plt).addr.to_le_bytes());
        for &target in &plan.plt[..plan.base_plt] {
            let name = match target {
                SymRef::Global(id) => db.global(id).name,
                SymRef::Local(..) => b"",
            };
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name);
        }
        for (index, output) in self.sections.outputs.iter().enumerate().filter(|(_, o)| o.base) {
            hasher.update(output.name.as_bytes());
            for value in [index as u64, output.sh_type as u64, output.flags, output.addr, output.offset, output.size] {
                hasher.update(&value.to_le_bytes());
            }
            for &(input, offset) in &output.inputs {
                for value in [input.file.0 as u64, input.section as u64, offset] {
                    hasher.update(&value.to_le_bytes());
                }
            }
        }
        if let Some(region) = &self.base_region {
            hasher.update(&region.start.to_le_bytes());
            hasher.update(&region.end.to_le_bytes());
        }
        *hasher.finalize().as_bytes()
    }

    pub fn section(&self, synthetic: Synthetic) -> &crate::sections::OutputSection {
        &self.sections.outputs[self.sections.find(synthetic)]
    }

    /// `_GLOBAL_OFFSET_TABLE_`: the start of `.got.plt`, as on every x86-64 linker.
    pub fn got_base(&self) -> u64 {
        self.section(Synthetic::GotPlt).addr
    }

    /// The address references to a symbol resolve to, or `None` when its section was
    /// discarded.
    pub fn symbol_address(&self, db: &SymbolDb, target: SymRef) -> Option<u64> {
        if !self.canonical_plt.is_empty() {
            if let Some(&address) = self.canonical_plt.get(&target) {
                return Some(address);
            }
        }
        self.resolved_address(db, target)
    }

    /// The symbol's own value as placed (for an indirect function, its resolver).
    pub fn resolved_address(&self, db: &SymbolDb, target: SymRef) -> Option<u64> {
        match target {
            // Zero for imports: their value comes from the dynamic loader.
            SymRef::Global(id) => Some(self.global_addr[id.0 as usize]),
            SymRef::Local(file, index) => match self.local_addr[file.0 as usize].get(index as usize).copied() {
                Some(DISCARDED) | None => {
                    // DISCARDED is also a legal absolute value: check the symbol itself.
                    let local = db.object(file).locals.get(index as usize)?;
                    (local.section == resolve::LOCAL_ABSOLUTE).then_some(local.value)
                }
                address => address,
            },
        }
    }

    /// A local symbol's address as placed, or `DISCARDED`.
    fn local_address(&self, local: &resolve::LocalSymbol, file: usize) -> u64 {
        match local.section {
            resolve::LOCAL_ABSOLUTE => local.value,
            resolve::LOCAL_NOWHERE => 0,
            section => {
                let placement = self.sections.placements[file][section as usize];
                if !placement.is_placed() {
                    return DISCARDED;
                }
                self.sections.outputs[placement.output as usize].addr + placement.offset + local.value
            }
        }
    }

    fn defined_address(
        &self,
        db: &SymbolDb,
        file: resolve::FileId,
        index: usize,
        symbol: &object::elf::Sym64<object::LittleEndian>,
    ) -> Option<u64> {
        let object = &db.object(file).object;
        let value = symbol.st_value(ENDIAN);
        if symbol.st_shndx(ENDIAN) == elf::SHN_ABS {
            return Some(value);
        }
        match object.symbol_section(symbol, index).ok()? {
            Some(section) => {
                let placement = self.sections.placements[file.0 as usize][section];
                if !placement.is_placed() {
                    return None;
                }
                Some(self.sections.outputs[placement.output as usize].addr + placement.offset + value)
            }
            None => Some(0),
        }
    }

    /// The size a `SIZE32`/`SIZE64` relocation sees.
    pub fn symbol_size(&self, db: &SymbolDb, target: SymRef) -> u64 {
        let (file, index) = match target {
            SymRef::Local(file, index) => (file, index),
            SymRef::Global(id) => match db.global(id).definition {
                Definition::Object { file, index } => {
                    if let Some((size, _)) = db.global(id).common {
                        return size;
                    }
                    (file, index)
                }
                Definition::Shared { lib, index } => {
                    return db.shared[lib as usize].library.symbols[index as usize].size;
                }
                _ => return 0,
            },
        };
        db.object(file).object.symbol(index as usize).map(|s| s.st_size(ENDIAN)).unwrap_or(0)
    }

    pub fn tls_start(&self) -> u64 {
        self.tls.as_ref().map_or(0, |tls| tls.start)
    }
}

/// Dynamic section tags in output order; values come from [`dynamic_entries`].
pub fn dynamic_entries(layout: &Layout, plan: &Plan, config: &Config) -> Vec<(i64, u64)> {
    let mut entries = Vec::new();
    let tag = |t: elf::DynamicTag| t.0;
    for needed in &layout.needed {
        entries.push((tag(elf::DT_NEEDED), needed.name_offset as u64));
    }
    if let Some(soname) = layout.soname {
        entries.push((tag(elf::DT_SONAME), soname as u64));
    }
    if let Some(runpath) = layout.runpath {
        let dt = if config.gnu.new_dtags { elf::DT_RUNPATH } else { elf::DT_RPATH };
        entries.push((tag(dt), runpath as u64));
    }
    if let Some(init) = layout.init {
        entries.push((tag(elf::DT_INIT), init));
    }
    if let Some(fini) = layout.fini {
        entries.push((tag(elf::DT_FINI), fini));
    }
    for (name, start, size) in [
        (".init_array", elf::DT_INIT_ARRAY, elf::DT_INIT_ARRAYSZ),
        (".fini_array", elf::DT_FINI_ARRAY, elf::DT_FINI_ARRAYSZ),
    ] {
        if let Some(section) = layout.sections.by_name(name).filter(|s| s.size > 0) {
            entries.push((tag(start), section.addr));
            entries.push((tag(size), section.size));
        }
    }
    let section = |s: Synthetic| layout.section(s);
    if config.gnu.hash_style.sysv() {
        entries.push((tag(elf::DT_HASH), section(Synthetic::Hash).addr));
    }
    if config.gnu.hash_style.gnu() {
        entries.push((tag(elf::DT_GNU_HASH), section(Synthetic::GnuHash).addr));
    }
    entries.push((tag(elf::DT_STRTAB), section(Synthetic::DynStr).addr));
    entries.push((tag(elf::DT_SYMTAB), section(Synthetic::DynSym).addr));
    entries.push((tag(elf::DT_STRSZ), section(Synthetic::DynStr).size));
    entries.push((tag(elf::DT_SYMENT), 24));
    entries.push((tag(elf::DT_PLTGOT), section(Synthetic::GotPlt).addr));
    if !plan.plt.is_empty() {
        entries.push((tag(elf::DT_PLTRELSZ), section(Synthetic::RelaPlt).size));
        entries.push((tag(elf::DT_PLTREL), elf::DT_RELA.0 as u64));
        entries.push((tag(elf::DT_JMPREL), section(Synthetic::RelaPlt).addr));
    }
    let rela = section(Synthetic::RelaDyn);
    if rela.size > 0 {
        entries.push((tag(elf::DT_RELA), rela.addr));
        entries.push((tag(elf::DT_RELASZ), rela.size));
        entries.push((tag(elf::DT_RELAENT), 24));
        let relative = plan.chunk_relative + plan.got_relative + plan.image_relative;
        if relative > 0 {
            entries.push((tag(elf::DT_RELACOUNT), relative as u64));
        }
    }
    if layout.relr_enabled && section(Synthetic::RelrDyn).size > 0 {
        entries.push((tag(elf::DT_RELR), section(Synthetic::RelrDyn).addr));
        entries.push((tag(elf::DT_RELRSZ), section(Synthetic::RelrDyn).size));
        entries.push((tag(elf::DT_RELRENT), 8));
    }
    if !layout.versym.is_empty() {
        entries.push((tag(elf::DT_VERSYM), section(Synthetic::VerSym).addr));
    }
    if layout.verdef.count() > 0 {
        entries.push((tag(elf::DT_VERDEF), section(Synthetic::VerDef).addr));
        entries.push((tag(elf::DT_VERDEFNUM), layout.verdef.count() as u64));
    }
    if layout.has_verneed {
        entries.push((tag(elf::DT_VERNEED), section(Synthetic::VerNeed).addr));
        entries.push((tag(elf::DT_VERNEEDNUM), layout.needed.iter().filter(|n| !n.versions.is_empty()).count() as u64));
    }
    let mut flags = 0u64;
    if layout.static_tls {
        flags |= elf::DF_STATIC_TLS.0;
    }
    if config.symbolic {
        flags |= elf::DF_SYMBOLIC.0;
    }
    if config.bind_now {
        flags |= elf::DF_BIND_NOW.0;
    }
    if plan.text_relocations {
        flags |= elf::DF_TEXTREL.0;
    }
    let flags_1 = config.gnu.flags_1 | if config.bind_now { elf::DF_1_NOW.0 } else { 0 };
    if flags_1 & elf::DF_1_ORIGIN.0 != 0 {
        flags |= elf::DF_ORIGIN.0;
    }
    if plan.text_relocations {
        entries.push((tag(elf::DT_TEXTREL), 0));
    }
    if flags != 0 {
        entries.push((tag(elf::DT_FLAGS), flags));
    }
    if flags_1 != 0 {
        entries.push((tag(elf::DT_FLAGS_1), flags_1));
    }
    entries.push((tag(elf::DT_NULL), 0));
    entries
}

/// What the earlier phases decided, as the layout reads it.
pub struct Decisions<'a, 'data> {
    pub config: &'a Config,
    pub db: &'a SymbolDb<'data>,
    pub plan: &'a Plan,
    pub facts: &'a SymbolFacts,
    pub inputs: &'a [crate::input::InputFile],
    pub manifest: &'a str,
    pub deps: &'a str,
    pub directory: &'a ImageDirectory,
    pub symtab: &'a crate::layout::symtab::SymtabPlan,
    pub exports: &'a resolve::exports::Exports,
}

pub fn layout<A: Arch>(decisions: &Decisions, mut sections: SectionMap) -> Result<Layout> {
    let Decisions { config, db, plan, facts, inputs, manifest, deps, directory, symtab, exports } = *decisions;
    let mut dynstr = StringTable::new();

    // Libraries: DT_NEEDED for every shared input that is not as-needed or supplies an
    // import some reference needs (as GNU ld says: a weak reference needs no library).
    let mut used_libs = vec![false; db.shared.len()];
    for &id in &plan.dynamic_imports {
        if let (Definition::Shared { lib, .. }, true) = (db.global(id).definition, db.global(id).strong_reference) {
            used_libs[lib as usize] = true;
        }
    }
    let mut needed: Vec<Needed> = Vec::new();
    let mut lib_needed_index = vec![usize::MAX; db.shared.len()];
    let mut seen_names: FxHashMap<Vec<u8>, usize> = Default::default();
    for (lib, shared) in db.shared.iter().enumerate() {
        if shared.as_needed && !used_libs[lib] {
            continue;
        }
        let name = match shared.library.soname {
            Some(soname) => soname.to_vec(),
            None => inputs[shared.input].file_name().as_bytes().to_vec(),
        };
        let index = *seen_names.entry(name.clone()).or_insert_with(|| {
            needed.push(Needed { name_offset: dynstr.add(&name), versions: Vec::new() });
            needed.len() - 1
        });
        lib_needed_index[lib] = index;
    }
    let soname = config.soname.as_ref().map(|s| dynstr.add(s.as_bytes()));
    let runpath = (!config.rpaths.is_empty()).then(|| dynstr.add(config.rpaths.join(":").as_bytes()));

    // .dynsym: imports, then exports ordered for .gnu.hash.
    let export_hashes: Vec<u32> =
        plan.dynamic_exports.par_iter().map(|&id| gnu_hash::gnu_hash(db.global(id).name)).collect();
    let gnu_hash = GnuHashPlan::new(plan.dynamic_exports.len());
    let order = gnu_hash.order(&export_hashes);
    let mut dynsym: Vec<GlobalId> = plan.dynamic_imports.clone();
    dynsym.extend(order.iter().map(|&i| plan.dynamic_exports[i as usize]));
    let mut dynsym_index = vec![0u32; db.globals.len()];
    for (i, &id) in dynsym.iter().enumerate() {
        dynsym_index[id.0 as usize] = i as u32 + 1;
    }
    // Each name and definition read once, in parallel: the globals are read at random.
    let (names, definitions): (Vec<&[u8]>, Vec<Definition>) = dynsym
        .par_iter()
        .map(|&id| {
            let global = db.global(id);
            (global.name, global.definition)
        })
        .unzip();
    // Dynamic symbol names are distinct: no need to look for an earlier copy.
    let dynsym_name = dynstr.append_all(&names);

    // The versions this library defines (indices from 2), then those it needs.
    let base_name = config.soname.clone().unwrap_or_else(|| {
        config.output.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    });
    let verdef = crate::layout::verdef::VerdefPlan::new(&exports.definitions, &base_name, &mut dynstr);
    let first_needed_version = 2 + exports.definitions.len() as u16;
    let mut version_index: FxHashMap<(usize, &[u8]), u16> = Default::default();
    let mut versym = vec![1u16; dynsym.len()];
    let mut next_version = first_needed_version;
    for (i, definition) in definitions.into_iter().enumerate() {
        match definition {
            Definition::Shared { lib, index } => {
                let Some(version) = db.shared[lib as usize].library.symbols[index as usize].version else {
                    continue;
                };
                let needed_index = lib_needed_index[lib as usize];
                if needed_index == usize::MAX {
                    continue;
                }
                let v = *version_index.entry((needed_index, version)).or_insert_with(|| {
                    let v = next_version;
                    next_version += 1;
                    needed[needed_index].versions.push((dynstr.add(version), gnu_hash::sysv_hash(version), v));
                    v
                });
                versym[i] = v;
            }
            Definition::Object { .. } => versym[i] = exports.version_of(dynsym[i]),
            _ => {}
        }
    }
    // glibc refuses DT_RELR unless the object asks for the version that promises support.
    if config.pack_relative_relocs {
        const RELR_VERSION: &[u8] = b"GLIBC_ABI_DT_RELR";
        let provider = db.shared.iter().enumerate().find(|(lib, shared)| {
            lib_needed_index[*lib] != usize::MAX && shared.library.version_definitions.contains(&RELR_VERSION)
        });
        if let Some((lib, _)) = provider {
            let needed_index = lib_needed_index[lib];
            if !version_index.contains_key(&(needed_index, RELR_VERSION)) {
                needed[needed_index].versions.push((
                    dynstr.add(RELR_VERSION),
                    gnu_hash::sysv_hash(RELR_VERSION),
                    next_version,
                ));
                next_version += 1;
            }
        }
    }
    if next_version == 2 {
        versym.clear();
    }
    let has_verneed = next_version > first_needed_version;

    // COMMON symbols go after .bss.
    let common_addr = FxHashMap::default();
    let mut commons: Vec<(GlobalId, u64)> = Vec::new();
    let mut commons_size = 0u64;
    let mut commons_align = 1u64;
    for (id, global) in db.globals.iter().enumerate() {
        if let (Definition::Object { .. }, Some((size, align))) = (global.definition, global.common) {
            let align = align.max(1).next_power_of_two();
            commons_size = commons_size.next_multiple_of(align);
            commons.push((GlobalId(id as u32), commons_size));
            commons_size += size;
            commons_align = commons_align.max(align);
        }
    }

    let eh_frame_fdes = count_fdes(db, &sections)?;
    let hash_style = config.gnu.hash_style;
    let relr_enabled = config.pack_relative_relocs;
    let rela_dyn_entries =
        plan.chunk_symbolic + plan.got_symbolic + plan.chunk_relative + plan.got_relative + plan.image_relative;

    let section_sizes: Vec<(Synthetic, u64)> = vec![
        (Synthetic::BuildId, build_id_note_size(&config.gnu.build_id)),
        (Synthetic::Hash, if hash_style.sysv() { crate::layout::sysv_hash::section_size(dynsym.len() + 1) } else { 0 }),
        (
            Synthetic::GnuHash,
            if hash_style.gnu() { gnu_hash.section_size(plan.dynamic_exports.len()) as u64 } else { 0 },
        ),
        (Synthetic::DynSym, 24 * (dynsym.len() as u64 + 1)),
        (Synthetic::VerSym, if versym.is_empty() { 0 } else { 2 * (dynsym.len() as u64 + 1) }),
        (Synthetic::VerDef, verdef.size()),
        (
            Synthetic::VerNeed,
            needed.iter().filter(|n| !n.versions.is_empty()).map(|n| 16 + 16 * n.versions.len() as u64).sum(),
        ),
        (Synthetic::RelaDyn, 24 * rela_dyn_entries as u64),
        (Synthetic::RelaPlt, 24 * plan.plt.len() as u64),
        (
            Synthetic::Plt,
            if plan.plt.is_empty() { 0 } else { (A::PLT_HEADER_SIZE + A::PLT_ENTRY_SIZE * plan.plt.len()) as u64 },
        ),
        (
            Synthetic::EhFrameHdr,
            if sections.by_name(".eh_frame").is_some() { eh_frame::eh_frame_hdr_size(eh_frame_fdes) as u64 } else { 0 },
        ),
        (Synthetic::Got, 8 * plan.got_slots as u64),
        (Synthetic::GotPlt, 8 * (3 + plan.plt.len() as u64)),
        (Synthetic::Manifest, manifest.len() as u64),
        (Synthetic::Deps, deps.len() as u64),
        (Synthetic::ImageDirectory, directory.size()),
        (Synthetic::SymTab, symtab.symtab_size()),
        (Synthetic::StrTab, symtab.strtab_size),
    ];
    for (synthetic, size) in section_sizes {
        let index = sections.find(synthetic);
        sections.outputs[index].size = size;
    }
    // Commons extend an existing .bss, or become it.
    let commons_base = match sections.outputs.iter().position(|o| o.name == ".bss" && o.synthetic.is_none()) {
        Some(bss) => {
            let out = &mut sections.outputs[bss];
            out.align = out.align.max(commons_align);
            let base = out.size.next_multiple_of(commons_align);
            out.size = base + commons_size;
            (bss, base)
        }
        None => {
            let index = sections.find(Synthetic::Commons);
            let out = &mut sections.outputs[index];
            out.align = commons_align;
            out.size = commons_size;
            (index, 0)
        }
    };

    let mut layout = Layout {
        sections,
        dynsym,
        dynsym_index,
        dynsym_name,
        versym,
        verdef,
        has_verneed,
        import_count: plan.dynamic_imports.len(),
        gnu_hash,
        dynstr,
        needed,
        soname,
        runpath,
        segments: Vec::new(),
        tls: None,
        global_addr: vec![0; db.globals.len()],
        local_addr: Vec::new(),
        common_addr,
        relr: Vec::new(),
        relr_enabled,
        eh_frame_fdes,
        shstrtab: StringTable::new(),
        section_names: Vec::new(),
        file_size: 0,
        init: None,
        fini: None,
        entry: 0,
        segment_options: SegmentOptions {
            page_size: config.gnu.max_page_size,
            relro: config.gnu.relro,
            exec_stack: crate::layout::exec_stack::executable_stack(db, config),
            stack_size: config.gnu.stack_size,
        },
        static_tls: plan.static_tls,
        canonical_plt: FxHashMap::default(),
        manifest: manifest.to_string(),
        deps: deps.to_string(),
        base_region: None,
    };
    // The init/fini entry points and the tag count are known before addresses are.
    let defined = |name: &str| db.lookup(name.as_bytes()).is_some_and(|id| db.global(id).is_defined_locally());
    let (has_init, has_fini) = (defined(&config.gnu.init), defined(&config.gnu.fini));
    layout.init = has_init.then_some(0);
    layout.fini = has_fini.then_some(0);
    // .dynstr must be complete before sizing; .dynamic's entry count must be fixed too.
    {
        let dynstr_index = layout.sections.find(Synthetic::DynStr);
        layout.sections.outputs[dynstr_index].size = layout.dynstr.bytes.len() as u64;
    }
    // RELR's size depends on addresses: lay out until the size it was given is the size it
    // needs. A new RELR size moves later segments by whole pages (which its encoding
    // ignores), but its first words also add `.dynamic` tags, which moves the GOT after it.
    for pass in 0.. {
        if relr_enabled {
            let index = layout.sections.find(Synthetic::RelrDyn);
            layout.sections.outputs[index].size = 8 * layout.relr.len() as u64;
        }
        let tags = dynamic_entries(&layout, plan, config).len() as u64;
        let dynamic_index = layout.sections.find(Synthetic::Dynamic);
        layout.sections.outputs[dynamic_index].size = 16 * tags;
        assign_addresses(&mut layout);
        if !relr_enabled {
            break;
        }
        let relr = encode_relr(&relative_addresses(&layout, db, plan, facts, directory));
        let settled = relr.len() == layout.relr.len();
        layout.relr = relr;
        if settled {
            break;
        }
        if pass == 4 {
            return Err(Error::new("internal error: RELR layout did not converge"));
        }
    }

    let mut base_sections = layout.sections.outputs.iter().filter(|o| o.base && o.size > 0);
    layout.base_region = base_sections.next().map(|first| {
        let end = base_sections.next_back().unwrap_or(first).end();
        first.addr..end
    });

    // Global addresses.
    let (bss_index, base) = commons_base;
    let commons_start = layout.sections.outputs[bss_index].addr + base;
    for (id, offset) in commons {
        layout.common_addr.insert(id, commons_start + offset);
    }
    let global_addr: Vec<u64> = db
        .globals
        .par_iter()
        .enumerate()
        .map(|(id, global)| match global.definition {
            Definition::Object { file, index } => match layout.common_addr.get(&GlobalId(id as u32)) {
                Some(&addr) => addr,
                None => db
                    .object(file)
                    .object
                    .symbol(index as usize)
                    .ok()
                    .and_then(|symbol| layout.defined_address(db, file, index as usize, symbol))
                    .unwrap_or(0),
            },
            Definition::Synthetic(synthetic) => synthetic_address(&layout, synthetic, global.name),
            _ => 0,
        })
        .collect();
    layout.global_addr = global_addr;
    defsym::assign_addresses(&mut layout.global_addr, db, config);
    let local_addr = db
        .objects
        .par_iter()
        .enumerate()
        .map(|(file, loaded)| loaded.locals.iter().map(|local| layout.local_address(local, file)).collect())
        .collect();
    layout.local_addr = local_addr;
    for (index, &target) in plan.plt.iter().enumerate().skip(plan.plt_ifunc_start) {
        let address = layout.plt_entry_address::<A>(index as u32);
        layout.canonical_plt.insert(target, address);
    }
    let address_of = |name: &[u8]| db.lookup(name).map(|id| layout.global_addr[id.0 as usize]);
    layout.init = if has_init { address_of(config.gnu.init.as_bytes()) } else { None };
    layout.fini = if has_fini { address_of(config.gnu.fini.as_bytes()) } else { None };
    layout.entry = config.gnu.entry.as_ref().and_then(|name| address_of(name.as_bytes())).unwrap_or(0);
    Ok(layout)
}

fn synthetic_address(layout: &Layout, synthetic: resolve::Synthetic, name: &[u8]) -> u64 {
    use crate::resolve::Synthetic as S;
    let named = |name: &str| layout.sections.by_name(name);
    match synthetic {
        S::GlobalOffsetTable => layout.got_base(),
        S::Dynamic => layout.section(Synthetic::Dynamic).addr,
        S::EhFrameHdr => layout.section(Synthetic::EhFrameHdr).addr,
        S::ElfHeader => 0,
        S::ImageDirectory => layout.section(Synthetic::ImageDirectory).addr,
        S::TlsModuleBase => layout.tls_start(),
        // Set once every other address is known (defsym.rs).
        S::Defsym { .. } => 0,
        S::ArrayStart(kind) | S::ArrayEnd(kind) => {
            let section = named(match kind {
                ArrayKind::PreInit => ".preinit_array",
                ArrayKind::Init => ".init_array",
                ArrayKind::Fini => ".fini_array",
            });
            match (section, matches!(synthetic, S::ArrayEnd(_))) {
                (Some(s), false) => s.addr,
                (Some(s), true) => s.end(),
                (None, _) => 0,
            }
        }
        S::SectionStart | S::SectionStop => {
            let section = String::from_utf8_lossy(resolve::bracketed_section(name)).into_owned();
            match (named(&section), synthetic == S::SectionStop) {
                (Some(s), false) => s.addr,
                (Some(s), true) => s.end(),
                (None, _) => 0,
            }
        }
    }
}

/// The `NT_GNU_BUILD_ID` note's size: its header, name and descriptor (padded to 4
/// bytes); 0 without a build id.
pub fn build_id_note_size(build_id: &crate::config::BuildId) -> u64 {
    match build_id.note_len() {
        0 => 0,
        len => 16 + (len as u64).next_multiple_of(4),
    }
}

/// Counts FDEs in every input `.eh_frame`, the most `.eh_frame_hdr` can index.
fn count_fdes(db: &SymbolDb, sections: &SectionMap) -> Result<usize> {
    let Some(eh_frame) = sections.by_name(".eh_frame") else {
        return Ok(0);
    };
    eh_frame
        .inputs
        .par_iter()
        .map(|&(input, _)| {
            let object = &db.object(input.file).object;
            let data = object.section_data(input.section as usize)?;
            eh_frame::count_fdes(data).map_err(|e| e.context(format!("{}: section .eh_frame", object.name)))
        })
        .sum()
}

/// Whether a section appears in the output at all (and gets a section header).
fn is_emitted(section: &crate::sections::OutputSection) -> bool {
    match section.synthetic {
        Some(Synthetic::Headers | Synthetic::SectionHeaders) => false,
        Some(Synthetic::DynSym | Synthetic::DynStr | Synthetic::Dynamic) => true,
        Some(Synthetic::SectionHeaderNames) => true,
        _ => section.size > 0,
    }
}

fn segment_flags(class: SegmentClass) -> u32 {
    let (r, w, x) = (elf::PF_R.0, elf::PF_W.0, elf::PF_X.0);
    match class {
        SegmentClass::Headers | SegmentClass::ReadOnly => r,
        SegmentClass::Text => r | x,
        SegmentClass::Relro | SegmentClass::Writable => r | w,
        SegmentClass::NotLoaded => 0,
    }
}

fn program_header_count(layout: &Layout) -> u64 {
    let mut classes: Vec<SegmentClass> = layout
        .sections
        .outputs
        .iter()
        .filter(|s| s.class != SegmentClass::NotLoaded && (is_emitted(s) || s.synthetic == Some(Synthetic::Headers)))
        .map(|s| s.class)
        .collect();
    classes.dedup();
    let loads = classes.len() as u64;
    let tls = layout.sections.outputs.iter().any(|s| s.is_tls() && s.size > 0) as u64;
    let eh = (layout.section(Synthetic::EhFrameHdr).size > 0) as u64;
    let note = (layout.section(Synthetic::BuildId).size > 0) as u64;
    let relro = (layout.segment_options.relro && classes.contains(&SegmentClass::Relro)) as u64;
    // PT_DYNAMIC and PT_GNU_STACK are always present.
    loads + tls + eh + note + relro + 2
}

/// Assigns offsets and addresses to every section and builds the program headers.
fn assign_addresses(layout: &mut Layout) {
    let phdrs = program_header_count(layout);
    let headers = layout.sections.find(Synthetic::Headers);
    layout.sections.outputs[headers].size = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * phdrs;

    // Section header names and indices.
    let mut shstrtab = StringTable::new();
    let mut names = Vec::new();
    let mut next_header = 1u32;
    for section in layout.sections.outputs.iter_mut() {
        section.header_index = 0;
        if is_emitted(section) {
            section.header_index = next_header;
            next_header += 1;
            names.push(shstrtab.add(section.name.as_bytes()));
        }
    }
    let shstrtab_index = layout.sections.find(Synthetic::SectionHeaderNames);
    layout.sections.outputs[shstrtab_index].size = shstrtab.bytes.len() as u64;
    let section_headers = layout.sections.find(Synthetic::SectionHeaders);
    layout.sections.outputs[section_headers].size = SECTION_HEADER_SIZE * next_header as u64;
    layout.shstrtab = shstrtab;
    layout.section_names = names;

    let mut offset = 0u64;
    let mut addr = 0u64;
    let mut current: Option<SegmentClass> = None;
    let mut segments: Vec<Segment> = Vec::new();
    let mut tls: Option<Tls> = None;
    let mut relro_segment = None;
    for section in layout.sections.outputs.iter_mut() {
        let placed =
            is_emitted(section) || matches!(section.synthetic, Some(Synthetic::Headers | Synthetic::SectionHeaders));
        if !placed {
            // Keep empty sections at a sensible address for __start_/__stop_ symbols.
            section.addr = if section.class == SegmentClass::NotLoaded { 0 } else { addr };
            section.offset = offset;
            continue;
        }
        if section.class == SegmentClass::NotLoaded {
            offset = offset.next_multiple_of(section.align);
            section.offset = offset;
            section.addr = 0;
            offset += section.size;
            current = Some(SegmentClass::NotLoaded);
            continue;
        }
        if current != Some(section.class) {
            // Each segment starts on a fresh page, at address == file offset.
            offset = offset.max(addr).next_multiple_of(layout.segment_options.page_size);
            addr = offset;
            current = Some(section.class);
            if section.class == SegmentClass::Relro {
                relro_segment = Some(segments.len());
            }
            segments.push(Segment {
                p_type: elf::PT_LOAD.0,
                flags: segment_flags(section.class),
                offset,
                addr,
                file_size: 0,
                mem_size: 0,
                align: layout.segment_options.page_size,
            });
        }
        let segment = segments.last_mut().expect("pushed above");
        if section.is_nobits() {
            let start = addr.next_multiple_of(section.align);
            section.addr = start;
            section.offset = offset;
            if section.is_tls() {
                extend_tls(&mut tls, section.addr, section.end(), section.align);
                // .tbss takes no room in the image; the sections after it overlap it.
            } else {
                addr = start + section.size;
                segment.mem_size = addr - segment.addr;
            }
            continue;
        }
        offset = offset.next_multiple_of(section.align);
        addr = offset;
        section.offset = offset;
        section.addr = addr;
        offset += section.size;
        addr = offset;
        if section.is_tls() {
            extend_tls(&mut tls, section.addr, section.end(), section.align);
        }
        segment.file_size = offset - segment.offset;
        segment.mem_size = addr - segment.addr;
    }
    layout.file_size = offset;

    let find = |layout: &Layout, s: Synthetic| {
        let section = layout.section(s);
        (section.offset, section.addr, section.size)
    };
    let mut extra = Vec::new();
    extra.push(Segment::covering(elf::PT_DYNAMIC, elf::PF_R.0 | elf::PF_W.0, find(layout, Synthetic::Dynamic), 8));
    if layout.section(Synthetic::BuildId).size > 0 {
        extra.push(Segment::covering(elf::PT_NOTE, elf::PF_R.0, find(layout, Synthetic::BuildId), 4));
    }
    if layout.section(Synthetic::EhFrameHdr).size > 0 {
        extra.push(Segment::covering(elf::PT_GNU_EH_FRAME, elf::PF_R.0, find(layout, Synthetic::EhFrameHdr), 4));
    }
    if let Some(tls) = &tls {
        let tdata_end = layout
            .sections
            .outputs
            .iter()
            .filter(|s| s.is_tls() && !s.is_nobits() && s.size > 0)
            .map(|s| s.end())
            .max()
            .unwrap_or(tls.start);
        let offset = layout.sections.outputs.iter().find(|s| s.is_tls() && s.size > 0).map_or(0, |s| s.offset);
        extra.push(Segment {
            p_type: elf::PT_TLS.0,
            flags: elf::PF_R.0,
            offset,
            addr: tls.start,
            file_size: tdata_end - tls.start,
            mem_size: tls.end - tls.start,
            align: tls.align,
        });
    }
    let options = layout.segment_options;
    extra.push(Segment {
        p_type: elf::PT_GNU_STACK.0,
        flags: elf::PF_R.0 | elf::PF_W.0 | if options.exec_stack { elf::PF_X.0 } else { 0 },
        offset: 0,
        addr: 0,
        file_size: 0,
        mem_size: options.stack_size,
        align: 16,
    });
    // The RELRO segment is padded to its page end (the writable segment starts on the next
    // page), so the loader's page-granular mprotect covers all of it and nothing else.
    if let Some(relro) = relro_segment.filter(|_| options.relro).map(|index| &mut segments[index]) {
        let size = relro.mem_size.next_multiple_of(options.page_size);
        relro.file_size = size;
        relro.mem_size = size;
        extra.push(Segment {
            p_type: elf::PT_GNU_RELRO.0,
            flags: elf::PF_R.0,
            offset: relro.offset,
            addr: relro.addr,
            file_size: size,
            mem_size: size,
            align: 1,
        });
    }
    segments.extend(extra);
    debug_assert_eq!(segments.len() as u64, phdrs);
    layout.segments = segments;
    layout.tls = tls;
}

fn extend_tls(tls: &mut Option<Tls>, start: u64, end: u64, align: u64) {
    match tls {
        Some(tls) => {
            tls.end = tls.end.max(end);
            tls.align = tls.align.max(align);
        }
        None => *tls = Some(Tls { start, end, align }),
    }
}

/// Every address that needs a relative relocation, sorted (for RELR).
fn relative_addresses(
    layout: &Layout,
    db: &SymbolDb,
    plan: &Plan,
    facts: &SymbolFacts,
    directory: &ImageDirectory,
) -> Vec<u64> {
    let mut addresses = Vec::new();
    for chunk in &plan.chunks {
        if chunk.relr_offsets.is_empty() {
            continue;
        }
        let placement = layout.sections.placements[chunk.input.file.0 as usize][chunk.input.section as usize];
        let base = layout.sections.outputs[placement.output as usize].addr + placement.offset;
        addresses.extend(chunk.relr_offsets.iter().map(|offset| base + offset));
    }
    let got = layout.section(Synthetic::Got).addr;
    for entry in &plan.got {
        if let (crate::scan::GotKind::Address, Some(target)) = (entry.kind, entry.target) {
            let preemptible = matches!(target, SymRef::Global(id) if facts.preemptible[id.0 as usize]);
            if !preemptible && !facts.is_absolute(db, target) {
                addresses.push(got + 8 * entry.slot as u64);
            }
        }
    }
    let image = layout.section(Synthetic::ImageDirectory).addr;
    addresses.extend(directory_pointer_offsets(directory).map(|offset| image + offset));
    addresses.sort_unstable();
    addresses
}

/// Offsets inside the directory section of every pointer it holds, in address order.
pub fn directory_pointer_offsets(directory: &ImageDirectory) -> impl Iterator<Item = u64> + '_ {
    let units = directory.units.len() as u64;
    let header = (!directory.is_empty()).then_some(16);
    let unit_pointers = (0..units).flat_map(|k| {
        let unit = tables::IMAGE_HEADER_SIZE + tables::UNIT_SIZE * k;
        [unit + 16, unit + 32]
    });
    let arrays_start = tables::IMAGE_HEADER_SIZE + tables::UNIT_SIZE * units;
    let entries: u64 = directory.units.iter().map(tables::Unit::entries).sum();
    header.into_iter().chain(unit_pointers).chain((0..entries).map(move |i| arrays_start + 8 * i))
}

/// Encodes sorted, 8-byte aligned addresses as `DT_RELR` words: an address word, then
/// bitmap words each covering the next 63 words.
pub fn encode_relr(addresses: &[u64]) -> Vec<u64> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < addresses.len() {
        let base = addresses[i];
        words.push(base);
        let mut next = base + 8;
        i += 1;
        loop {
            let mut bitmap = 0u64;
            while i < addresses.len() {
                let delta = addresses[i].wrapping_sub(next);
                if addresses[i] < next || !delta.is_multiple_of(8) || delta / 8 >= 63 {
                    break;
                }
                bitmap |= 1 << (delta / 8);
                i += 1;
            }
            if bitmap == 0 {
                break;
            }
            words.push((bitmap << 1) | 1);
            next += 63 * 8;
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::encode_relr;

    /// The loader's decoding of `DT_RELR`, written independently of the encoder.
    fn decode_relr(words: &[u64]) -> Vec<u64> {
        let mut addresses = Vec::new();
        let mut next = 0;
        for &word in words {
            if word & 1 == 0 {
                addresses.push(word);
                next = word + 8;
            } else {
                for bit in 0..63 {
                    if (word >> (bit + 1)) & 1 == 1 {
                        addresses.push(next + 8 * bit);
                    }
                }
                next += 63 * 8;
            }
        }
        addresses
    }

    #[test]
    fn relr_encoding_round_trips() {
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0x1000],
            (0..200).map(|i| 0x2000 + 8 * i).collect(),
            vec![0x1000, 0x1008, 0x1010, 0x1400, 0x1408, 0x9000],
            (0..500).filter(|i| i % 3 != 0).map(|i| 0x4000 + 8 * i).collect(),
            vec![0x1000, 0x1000 + 8 * 63, 0x1000 + 8 * 64, 0x1000 + 8 * 200],
        ];
        for addresses in cases {
            let words = encode_relr(&addresses);
            assert_eq!(decode_relr(&words), addresses);
        }
    }

    #[test]
    fn relr_packs_dense_runs() {
        let addresses: Vec<u64> = (0..64).map(|i| 0x1000 + 8 * i).collect();
        assert_eq!(encode_relr(&addresses).len(), 2);
    }
}
