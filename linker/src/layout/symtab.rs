//! The static symbol table (`.symtab` + `.strtab`): what debuggers, profilers and `nm` read
//! to name code that `.dynsym` does not export (local and hidden functions).
//!
//! Planned before addresses (sizes only), written per object in parallel. Locals first:
//! every object's named local symbols in kept sections, then hidden definitions (bound
//! locally, as ELF requires once linked); then exported definitions and imports. File
//! symbols are left out: they can carry build paths. Must not affect anything else.

use crate::config::Config;
use crate::input::object_file::ENDIAN;
use crate::layout::Layout;
use crate::resolve::{self, Definition, FileId, GlobalId, SymbolDb};
use crate::scan::{Plan, SymRef, SymbolFacts};
use crate::sections::{SectionMap, Synthetic};
use object::elf;
use object::read::elf::Sym as _;
use rayon::prelude::*;

pub const SYMBOL_SIZE: u64 = 24;

/// One object's share of the table: which of its locals are written, and where.
struct ObjectPart {
    locals: Vec<u32>,
    first_name: u64,
    /// Bytes of `.strtab` its names take.
    name_bytes: u64,
}

pub struct SymtabPlan {
    parts: Vec<ObjectPart>,
    /// Hidden definitions, written as locals after the objects' own locals.
    hidden: Vec<GlobalId>,
    /// Exported definitions and imports.
    globals: Vec<GlobalId>,
    hidden_first: (u64, u64),
    pub first_global: u64,
    globals_first_name: u64,
    pub symbols: u64,
    pub strtab_size: u64,
}

impl SymtabPlan {
    /// An empty table (`--strip-all`).
    pub fn none() -> SymtabPlan {
        SymtabPlan {
            parts: Vec::new(),
            hidden: Vec::new(),
            globals: Vec::new(),
            hidden_first: (0, 0),
            first_global: 0,
            globals_first_name: 0,
            symbols: 0,
            strtab_size: 0,
        }
    }

    pub fn symtab_size(&self) -> u64 {
        SYMBOL_SIZE * self.symbols
    }
}

fn keeps_local(db: &SymbolDb, sections: &SectionMap, file: usize, index: usize) -> Option<u64> {
    let loaded = &db.objects[file];
    let symbol = loaded.object.symbol(index).ok()?;
    if matches!(symbol.st_type(), elf::STT_SECTION | elf::STT_FILE) {
        return None;
    }
    let name = loaded.object.symbol_name(symbol);
    // `.L` names are assembler temporaries, kept in objects only for relocations.
    if name.is_empty() || name.starts_with(b".L") {
        return None;
    }
    let local = loaded.locals.get(index)?;
    let placed = local.section == resolve::LOCAL_ABSOLUTE
        || (local.section != resolve::LOCAL_NOWHERE && sections.placements[file][local.section as usize].is_placed());
    placed.then_some(name.len() as u64 + 1)
}

/// The symbol table this link writes: none with `--strip-all` (`-s`); `-x`
/// (`--discard-locals`) leaves the objects' own local symbols out.
pub fn plan(
    config: &crate::config::Config,
    db: &SymbolDb,
    sections: &SectionMap,
    facts: &SymbolFacts,
    scan: &Plan,
) -> SymtabPlan {
    if config.strip_all {
        return SymtabPlan::none();
    }
    let discard_locals = config.gnu.discard_locals;
    // A base object alone has tens of thousands of locals: split within objects too.
    let per_object: Vec<(Vec<u32>, u64)> = (0..db.objects.len())
        .into_par_iter()
        .map(|file| {
            let locals = if discard_locals { 1 } else { db.objects[file].object.first_global };
            let kept: Vec<(u32, u64)> = (1..locals)
                .into_par_iter()
                .with_min_len(4096)
                .filter_map(|index| keeps_local(db, sections, file, index).map(|bytes| (index as u32, bytes)))
                .collect();
            (kept.iter().map(|&(index, _)| index).collect(), kept.iter().map(|&(_, bytes)| bytes).sum())
        })
        .collect();
    let mut symbol = 1u64;
    let mut name = 1u64;
    let mut parts = Vec::with_capacity(per_object.len());
    for (locals, names) in per_object {
        parts.push(ObjectPart { first_name: name, locals, name_bytes: names });
        symbol += parts.last().map_or(0, |p| p.locals.len() as u64);
        name += names;
    }
    let hidden: Vec<GlobalId> = db
        .globals
        .par_iter()
        .enumerate()
        .filter(|(id, g)| matches!(g.definition, Definition::Object { .. }) && !facts.exported[*id])
        .map(|(id, _)| GlobalId(id as u32))
        .filter(|&id| defined_in_kept_section(db, sections, id))
        .collect();
    let hidden_first = (symbol, name);
    symbol += hidden.len() as u64;
    name += hidden.par_iter().map(|&id| db.global(id).name.len() as u64 + 1).sum::<u64>();
    let first_global = symbol;
    let globals: Vec<GlobalId> = scan.dynamic_imports.iter().chain(&scan.dynamic_exports).copied().collect();
    let globals_first_name = name;
    symbol += globals.len() as u64;
    name += globals.par_iter().map(|&id| db.global(id).name.len() as u64 + 1).sum::<u64>();
    SymtabPlan {
        parts,
        hidden,
        globals,
        hidden_first,
        first_global,
        globals_first_name,
        symbols: symbol,
        strtab_size: name,
    }
}

fn defined_in_kept_section(db: &SymbolDb, sections: &SectionMap, id: GlobalId) -> bool {
    let Definition::Object { file, index } = db.global(id).definition else { return false };
    if db.global(id).common.is_some() {
        return true;
    }
    let object = &db.object(file).object;
    match object.symbol(index as usize).ok().map(|s| (s.st_shndx(ENDIAN), object.symbol_section(s, index as usize))) {
        Some((shndx, _)) if shndx == elf::SHN_ABS => true,
        Some((_, Ok(Some(section)))) => sections.placements[file.0 as usize][section].is_placed(),
        _ => false,
    }
}

struct Entry {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

fn put(out: &mut [u8], at: usize, entry: &Entry) {
    out[at..at + 4].copy_from_slice(&entry.name.to_le_bytes());
    out[at + 4] = entry.info;
    out[at + 5] = entry.other;
    out[at + 6..at + 8].copy_from_slice(&entry.shndx.to_le_bytes());
    out[at + 8..at + 16].copy_from_slice(&entry.value.to_le_bytes());
    out[at + 16..at + 24].copy_from_slice(&entry.size.to_le_bytes());
}

/// The section header index a symbol gets for each output section it may be in, and for
/// a COMMON symbol; worked out once, not per symbol.
struct Shndx {
    /// Per output section: its own header index, or (not emitted, being empty) the
    /// nearest emitted section's before it, where its address lies.
    of_output: Vec<u16>,
    common: u16,
}

impl Shndx {
    fn new(layout: &Layout) -> Shndx {
        let mut last = 0;
        let of_output = layout
            .sections
            .outputs
            .iter()
            .map(|output| {
                if output.header_index != 0 {
                    last = output.header_index.min(0xfeff) as u16;
                }
                last
            })
            .collect();
        let bss = layout.sections.outputs.iter().find(|o| o.name == ".bss" && o.header_index != 0);
        Shndx { of_output, common: bss.map_or(0, |o| o.header_index as u16) }
    }
}

/// Section header index and value of a symbol as placed (TLS symbols: offset in the block).
fn placed(layout: &Layout, shndx_of: &Shndx, db: &SymbolDb, file: FileId, index: usize, target: SymRef) -> (u16, u64) {
    let object = &db.object(file).object;
    let Ok(symbol) = object.symbol(index) else { return (0, 0) };
    if symbol.st_shndx(ENDIAN) == elf::SHN_ABS {
        return (elf::SHN_ABS.0, symbol.st_value(ENDIAN));
    }
    let mut value = layout.resolved_address(db, target).unwrap_or(0);
    if symbol.st_type() == elf::STT_TLS {
        value = value.wrapping_sub(layout.tls_start());
    }
    let shndx = match object.symbol_section(symbol, index) {
        Ok(Some(section)) => {
            // A symbol in an empty output section (not emitted) is given the nearest
            // emitted section before it, as its address lies there.
            let placement = layout.sections.placements[file.0 as usize][section];
            let last = shndx_of.of_output.len().saturating_sub(1);
            shndx_of.of_output.get((placement.output as usize).min(last)).copied().unwrap_or(0)
        }
        _ if db.objects[file.0 as usize].global(index).is_some_and(|id| db.global(id).common.is_some()) => {
            shndx_of.common
        }
        _ => 0,
    };
    (shndx, value)
}

fn global_entry(
    layout: &Layout,
    shndx_of: &Shndx,
    db: &SymbolDb,
    config: &Config,
    id: GlobalId,
    name: u32,
    local: bool,
) -> Entry {
    let global = db.global(id);
    let bind = |weak: bool| {
        if local {
            elf::STB_LOCAL.0
        } else if weak {
            elf::STB_WEAK.0
        } else {
            elf::STB_GLOBAL.0
        }
    };
    match global.definition {
        Definition::Object { file, index } => {
            let object = &db.object(file).object;
            let symbol = object.symbol(index as usize).ok();
            let (shndx, value) = placed(layout, shndx_of, db, file, index as usize, SymRef::Global(id));
            let sym_type = if global.common.is_some() {
                elf::STT_OBJECT.0
            } else {
                symbol.map_or(elf::STT_NOTYPE.0, |s| s.st_type().0)
            };
            let size = global.common.map(|(size, _)| size).or(symbol.map(|s| s.st_size(ENDIAN))).unwrap_or(0);
            Entry {
                name,
                info: (bind(global.weak_definition) << 4) | sym_type,
                other: global.visibility,
                shndx,
                value: if global.common.is_some() { layout.global_addr[id.0 as usize] } else { value },
                size,
            }
        }
        Definition::Synthetic(resolve::Synthetic::Defsym { .. }) => {
            let (sym_type, shndx, value) = crate::layout::defsym::symbol_fields(layout, db, id, config);
            Entry { name, info: (bind(false) << 4) | sym_type, other: global.visibility, shndx, value, size: 0 }
        }
        _ => Entry {
            name,
            info: (bind(!global.strong_reference) << 4) | db.import_type(id),
            other: elf::STV_DEFAULT.0,
            shndx: 0,
            value: 0,
            size: 0,
        },
    }
}

/// Writes `.symtab` and `.strtab`.
pub fn write(plan: &SymtabPlan, layout: &Layout, db: &SymbolDb, config: &Config, symtab: &mut [u8], strtab: &mut [u8]) {
    if plan.symbols == 0 {
        return;
    }
    let shndx_of = &Shndx::new(layout);
    // Carve per-object slices so objects are written in parallel.
    let mut jobs = Vec::with_capacity(plan.parts.len());
    let (mut symbols_rest, mut names_rest) = (&mut symtab[SYMBOL_SIZE as usize..], &mut strtab[1..]);
    for (file, part) in plan.parts.iter().enumerate() {
        let names = part.name_bytes as usize;
        let (symbols, rest) = std::mem::take(&mut symbols_rest).split_at_mut(part.locals.len() * SYMBOL_SIZE as usize);
        symbols_rest = rest;
        let (name_bytes, rest) = std::mem::take(&mut names_rest).split_at_mut(names);
        names_rest = rest;
        jobs.push((file, part, symbols, name_bytes));
    }
    jobs.into_par_iter().for_each(|(file, part, symbols, name_bytes)| {
        let object = &db.objects[file].object;
        let mut name_at = 0usize;
        for (k, &index) in part.locals.iter().enumerate() {
            let Ok(symbol) = object.symbol(index as usize) else { continue };
            let name = object.symbol_name(symbol);
            name_bytes[name_at..name_at + name.len()].copy_from_slice(name);
            let (shndx, value) = placed(
                layout,
                shndx_of,
                db,
                FileId(file as u32),
                index as usize,
                SymRef::Local(FileId(file as u32), index),
            );
            let entry = Entry {
                name: (part.first_name as usize + name_at) as u32,
                info: (elf::STB_LOCAL.0 << 4) | symbol.st_type().0,
                other: symbol.st_other().0,
                shndx,
                value,
                size: symbol.st_size(ENDIAN),
            };
            put(symbols, k * SYMBOL_SIZE as usize, &entry);
            name_at += name.len() + 1;
        }
    });
    let mut write_globals = |ids: &[GlobalId], first: (u64, u64), local: bool| {
        let (mut symbol, mut name) = first;
        for &id in ids {
            let bytes = db.global(id).name;
            strtab[name as usize..name as usize + bytes.len()].copy_from_slice(bytes);
            let entry = global_entry(layout, shndx_of, db, config, id, name as u32, local);
            put(symtab, (symbol * SYMBOL_SIZE) as usize, &entry);
            symbol += 1;
            name += bytes.len() as u64 + 1;
        }
    };
    write_globals(&plan.hidden, plan.hidden_first, true);
    write_globals(&plan.globals, (plan.first_global, plan.globals_first_name), false);
}

/// Section indices `.symtab` links to, for its header.
pub fn header_link(layout: &Layout) -> u32 {
    layout.section(Synthetic::StrTab).header_index
}
