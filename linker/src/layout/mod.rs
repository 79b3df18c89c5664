//! Phase 5: fix the whole output before a byte is written.
//!
//! Plans the dynamic-linking data (`.dynsym` order, `.dynstr`, versions, `.dynamic`), sizes
//! every synthetic section, assigns file offsets and addresses (address == file offset for
//! loaded sections, each segment on its own page), and computes every global's address.
//! After this phase nothing moves; the writer only fills in bytes.

pub mod defsym;
pub mod dynamic;
pub mod exec_stack;
pub mod gnu_hash;
mod segments;
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
use dynamic::DynamicPlan;
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
    /// Libraries needed, `.dynsym`, `.dynstr` and versions (`dynamic.rs`).
    pub dynamic: DynamicPlan,
    pub import_count: usize,
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

    /// Puts in the manifest that the layout sized with stand-in hashes: it must have the
    /// same length.
    pub fn replace_manifest(&mut self, manifest: String) -> Result<()> {
        if manifest.len() != self.manifest.len() {
            return Err(Error::new("internal error: the manifest's size changed after the layout"));
        }
        self.manifest = manifest;
        Ok(())
    }

    /// A digest of where the base region's sections and their inputs lie, of the PLT
    /// entries base code calls through (where the PLT is, which symbols come first), and of
    /// the base GOT's entries: equal digests mean a stored copy of the region's bytes fits
    /// this layout.
    pub fn region_signature(&self, db: &SymbolDb, plan: &Plan) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.section(Synthetic::Plt).addr.to_le_bytes());
        let base_got = plan.got.iter().take_while(|entry| entry.slot < plan.base_got_slots);
        let base_got = base_got.map(|entry| (entry.target, entry.kind as u64 + 1));
        for (target, kind) in plan.plt[..plan.base_plt].iter().map(|&target| (Some(target), 0)).chain(base_got) {
            let name = match target {
                Some(SymRef::Global(id)) => db.global(id).name,
                Some(SymRef::Local(file, index)) => {
                    hasher.update(&[u64::from(file.0), u64::from(index)].map(u64::to_le_bytes).concat());
                    b""
                }
                None => b"",
            };
            hasher.update(&kind.to_le_bytes());
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

    /// The address of GOT slot `slot`: the base GOT's (the first `plan.base_got_slots`) in
    /// `.got.base`, inside the base region; the others in `.got`.
    pub fn got_slot_address(&self, plan: &Plan, slot: u32) -> u64 {
        match slot.checked_sub(plan.base_got_slots) {
            Some(in_got) => self.section(Synthetic::Got).addr + 8 * in_got as u64,
            None => self.section(Synthetic::BaseGot).addr + 8 * slot as u64,
        }
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
    for needed in &layout.dynamic.needed {
        entries.push((tag(elf::DT_NEEDED), needed.name_offset as u64));
    }
    if let Some(soname) = layout.dynamic.soname {
        entries.push((tag(elf::DT_SONAME), soname as u64));
    }
    if let Some(runpath) = layout.dynamic.runpath {
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
    if !layout.dynamic.versym.is_empty() {
        entries.push((tag(elf::DT_VERSYM), section(Synthetic::VerSym).addr));
    }
    if layout.dynamic.verdef.count() > 0 {
        entries.push((tag(elf::DT_VERDEF), section(Synthetic::VerDef).addr));
        entries.push((tag(elf::DT_VERDEFNUM), layout.dynamic.verdef.count() as u64));
    }
    if layout.dynamic.has_verneed {
        entries.push((tag(elf::DT_VERNEED), section(Synthetic::VerNeed).addr));
        entries.push((
            tag(elf::DT_VERNEEDNUM),
            layout.dynamic.needed.iter().filter(|n| !n.versions.is_empty()).count() as u64,
        ));
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

pub fn layout<A: Arch>(decisions: &Decisions, sections: SectionMap) -> Result<Layout> {
    let Decisions { config, db, plan, inputs, manifest, deps, exports, .. } = *decisions;
    let dynamic = dynamic::plan(db, plan, inputs, config, exports);
    let eh_frame_fdes = count_fdes(db, &sections)?;
    let mut layout = Layout {
        sections,
        dynamic,
        import_count: plan.dynamic_imports.len(),
        segments: Vec::new(),
        tls: None,
        global_addr: vec![0; db.globals.len()],
        local_addr: Vec::new(),
        common_addr: FxHashMap::default(),
        relr: Vec::new(),
        relr_enabled: config.pack_relative_relocs,
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
    size_synthetics::<A>(&mut layout, decisions);
    let commons = place_commons(&mut layout.sections, db);
    // The init/fini entry points and the tag count are known before addresses are.
    let defined = |name: &str| db.lookup(name.as_bytes()).is_some_and(|id| db.global(id).is_defined_locally());
    let (has_init, has_fini) = (defined(&config.gnu.init), defined(&config.gnu.fini));
    layout.init = has_init.then_some(0);
    layout.fini = has_fini.then_some(0);
    settle_addresses(&mut layout, decisions)?;
    let mut base_sections = layout.sections.outputs.iter().filter(|o| o.base && o.size > 0);
    layout.base_region = base_sections.next().map(|first| {
        let end = base_sections.next_back().unwrap_or(first).end();
        first.addr..end
    });
    let commons_start = layout.sections.outputs[commons.output].addr + commons.offset;
    for &(id, offset) in &commons.symbols {
        layout.common_addr.insert(id, commons_start + offset);
    }
    assign_symbol_addresses::<A>(&mut layout, decisions);
    let address_of = |name: &[u8]| db.lookup(name).map(|id| layout.global_addr[id.0 as usize]);
    layout.init = if has_init { address_of(config.gnu.init.as_bytes()) } else { None };
    layout.fini = if has_fini { address_of(config.gnu.fini.as_bytes()) } else { None };
    layout.entry = config.gnu.entry.as_ref().and_then(|name| address_of(name.as_bytes())).unwrap_or(0);
    Ok(layout)
}

/// Gives every linker-made section its size (`.dynstr` is complete by now). `.dynamic`
/// and `.relr.dyn` are sized by `settle_addresses`, the commons by `place_commons`.
fn size_synthetics<A: Arch>(layout: &mut Layout, decisions: &Decisions) {
    let Decisions { config, plan, manifest, deps, directory, symtab, .. } = *decisions;
    let (dynsym, versym, verdef, needed, gnu_hash) = (
        &layout.dynamic.dynsym,
        &layout.dynamic.versym,
        &layout.dynamic.verdef,
        &layout.dynamic.needed,
        &layout.dynamic.gnu_hash,
    );
    let sections = &layout.sections;
    let eh_frame_fdes = layout.eh_frame_fdes;
    let hash_style = config.gnu.hash_style;
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
        (Synthetic::BaseGot, 8 * plan.base_got_slots as u64),
        (Synthetic::Got, 8 * (plan.got_slots - plan.base_got_slots) as u64),
        (Synthetic::GotPlt, 8 * (3 + plan.plt.len() as u64)),
        (Synthetic::Manifest, manifest.len() as u64),
        (Synthetic::Deps, deps.len() as u64),
        (Synthetic::ImageDirectory, directory.size()),
        (Synthetic::SymTab, symtab.symtab_size()),
        (Synthetic::StrTab, symtab.strtab_size),
        (Synthetic::DynStr, layout.dynamic.dynstr.bytes.len() as u64),
    ];
    for (synthetic, size) in section_sizes {
        let index = layout.sections.find(synthetic);
        layout.sections.outputs[index].size = size;
    }
}

/// COMMON symbols, laid out one after another.
struct Commons {
    /// Each symbol's offset from the start of the commons.
    symbols: Vec<(GlobalId, u64)>,
    /// The output section that holds them, and their offset in it.
    output: usize,
    offset: u64,
}

/// Places the COMMON symbols after an existing `.bss`, or makes them a `.bss`.
fn place_commons(sections: &mut SectionMap, db: &SymbolDb) -> Commons {
    let mut symbols: Vec<(GlobalId, u64)> = Vec::new();
    let (mut size, mut commons_align) = (0u64, 1u64);
    for (id, global) in db.globals.iter().enumerate() {
        if let (Definition::Object { .. }, Some((symbol_size, align))) = (global.definition, global.common) {
            let align = align.max(1).next_power_of_two();
            size = size.next_multiple_of(align);
            symbols.push((GlobalId(id as u32), size));
            size += symbol_size;
            commons_align = commons_align.max(align);
        }
    }
    let (output, offset) = match sections.outputs.iter().position(|o| o.name == ".bss" && o.synthetic.is_none()) {
        Some(bss) => {
            let out = &mut sections.outputs[bss];
            out.align = out.align.max(commons_align);
            let offset = out.size.next_multiple_of(commons_align);
            out.size = offset + size;
            (bss, offset)
        }
        None => {
            let index = sections.find(Synthetic::Commons);
            let out = &mut sections.outputs[index];
            out.align = commons_align;
            out.size = size;
            (index, 0)
        }
    };
    Commons { symbols, output, offset }
}

/// Assigns addresses until `.relr.dyn` has the size its encoding of them needs. A new RELR
/// size moves later segments by whole pages (which its encoding ignores), but its first
/// words also add `.dynamic` tags, which moves the GOT after it.
fn settle_addresses(layout: &mut Layout, decisions: &Decisions) -> Result<()> {
    let Decisions { config, db, plan, facts, directory, .. } = *decisions;
    let relr_enabled = layout.relr_enabled;
    for pass in 0.. {
        if relr_enabled {
            let index = layout.sections.find(Synthetic::RelrDyn);
            layout.sections.outputs[index].size = 8 * layout.relr.len() as u64;
        }
        let tags = dynamic_entries(layout, plan, config).len() as u64;
        let dynamic_index = layout.sections.find(Synthetic::Dynamic);
        layout.sections.outputs[dynamic_index].size = 16 * tags;
        segments::assign_addresses(layout);
        if !relr_enabled {
            break;
        }
        let relr = encode_relr(&relative_addresses(layout, db, plan, facts, directory));
        let settled = relr.len() == layout.relr.len();
        layout.relr = relr;
        if settled {
            break;
        }
        if pass == 4 {
            return Err(Error::new("internal error: RELR layout did not converge"));
        }
    }

    Ok(())
}

/// Every symbol's address: globals (the commons placed already; then `--defsym`), locals,
/// and the canonical PLT entries of IFUNCs.
fn assign_symbol_addresses<A: Arch>(layout: &mut Layout, decisions: &Decisions) {
    let Decisions { config, db, plan, .. } = *decisions;
    let layout_ref: &Layout = layout;
    let global_addr: Vec<u64> = db
        .globals
        .par_iter()
        .enumerate()
        .map(|(id, global)| match global.definition {
            Definition::Object { file, index } => match layout_ref.common_addr.get(&GlobalId(id as u32)) {
                Some(&addr) => addr,
                None => db
                    .object(file)
                    .object
                    .symbol(index as usize)
                    .ok()
                    .and_then(|symbol| layout_ref.defined_address(db, file, index as usize, symbol))
                    .unwrap_or(0),
            },
            Definition::Synthetic(synthetic) => synthetic_address(layout_ref, synthetic, global.name),
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
    for entry in &plan.got {
        if let (crate::scan::GotKind::Address, Some(target)) = (entry.kind, entry.target) {
            let preemptible = matches!(target, SymRef::Global(id) if facts.preemptible[id.0 as usize]);
            if !preemptible && !facts.is_absolute(db, target) {
                addresses.push(layout.got_slot_address(plan, entry.slot));
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
