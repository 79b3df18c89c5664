//! Dispatch tables: find every unit's function and global-slot tables in its object, decode
//! them (compressed `int32` offsets or 64-bit pointer tables), and plan the uncompressed
//! directory `chainlink_image` that the output exports.
//!
//! Tables are read from the objects' bytes, so a unit whose tables sat in a stripped
//! uniqueness section is still described. This module validates and records positions
//! (object, section, offset); it does not assign addresses or write the directory.

use crate::arch::{Arch, RelocExpr};
use crate::input::object_file::{rela_parts, ObjectFile, ENDIAN};
use crate::resolve::{Definition, FileId, SymbolDb};
use crate::util::error::{Error, Result};
use object::elf;
use object::read::elf::Sym as _;
use rayon::prelude::*;
use std::ops::Range;

type Rela = elf::Rela64<object::LittleEndian>;

/// `"CLNK"` read as a little-endian `u32`.
pub const IMAGE_MAGIC: u32 = 0x4b4e_4c43;
pub const IMAGE_VERSION: u32 = 1;
/// Bytes of `struct chainlink_image` and of each `struct chainlink_unit`.
pub const IMAGE_HEADER_SIZE: u64 = 24;
pub const UNIT_SIZE: u64 = 40;

pub use crate::config::table_names::{TableForm, TableNames};

/// A place in an input section: where a table entry points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: FileId,
    pub section: u32,
    pub offset: u64,
}

/// One decoded table.
#[derive(Clone, Debug)]
pub struct Table {
    /// The symbol the entries came from (`jl_fvar_offsets_3`, `jl_sysimg_fvars_ptrs`).
    pub symbol: String,
    pub entries: Vec<Place>,
}

/// A compilation unit with tables: one shard of one generation.
#[derive(Clone, Debug)]
pub struct Unit {
    pub generation: u32,
    pub shard: u32,
    /// The object defining the tables, and its name.
    pub file: FileId,
    pub object: String,
    pub fvars: Table,
    pub gvars: Table,
}

impl Unit {
    pub fn entries(&self) -> u64 {
        (self.fvars.entries.len() + self.gvars.entries.len()) as u64
    }
}

/// What a manifest records of a unit.
impl From<&Unit> for crate::chain::UnitRecord {
    fn from(unit: &Unit) -> crate::chain::UnitRecord {
        crate::chain::UnitRecord {
            generation: unit.generation,
            shard: unit.shard,
            nfvars: unit.fvars.entries.len() as u64,
            ngvars: unit.gvars.entries.len() as u64,
            fvars_symbol: unit.fvars.symbol.clone(),
            gvars_symbol: unit.gvars.symbol.clone(),
            member: crate::chain::simple_name(&unit.object).to_string(),
        }
    }
}

/// The directory to emit: units in order, oldest generation first, shards ascending.
#[derive(Default)]
pub struct ImageDirectory {
    pub units: Vec<Unit>,
}

impl ImageDirectory {
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Bytes of the directory section: header, units, then every pointer array.
    pub fn size(&self) -> u64 {
        if self.is_empty() {
            return 0;
        }
        IMAGE_HEADER_SIZE + UNIT_SIZE * self.units.len() as u64 + 8 * self.units.iter().map(Unit::entries).sum::<u64>()
    }

    /// Pointers in the directory, each fixed up by a relative relocation.
    pub fn pointer_count(&self) -> u64 {
        if self.is_empty() {
            return 0;
        }
        1 + 2 * self.units.len() as u64 + self.units.iter().map(Unit::entries).sum::<u64>()
    }
}

/// Which shard a name is for, when it matches a `{i}` pattern.
#[cfg(test)]
fn shard_of(pattern: &str, name: &[u8]) -> Option<u32> {
    let (prefix, suffix) = pattern.split_once("{i}")?;
    shard_index(name.strip_prefix(prefix.as_bytes())?, suffix.as_bytes())
}

/// The shard number at the start of `rest` when `suffix` follows it: decimal, no leading zero.
fn shard_index(rest: &[u8], suffix: &[u8]) -> Option<u32> {
    let digits = rest.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The table symbols one object defines, by (shard, role).
#[derive(Default)]
struct Found {
    /// (shard, kind 0 = fvars / 1 = gvars, role 0 base / 1 offsets / 2 ptrs / 3 count) → symbol index,
    /// sorted by key (stably: among equal keys, the first symbol first).
    symbols: Vec<((u32, usize, usize), usize)>,
}

impl Found {
    fn get(&self, shard: u32, kind: usize, role: usize) -> Option<usize> {
        let first = self.symbols.partition_point(|(key, _)| *key < (shard, kind, role));
        self.symbols.get(first).filter(|(key, _)| *key == (shard, kind, role)).map(|(_, index)| *index)
    }
}

/// One name a table symbol may have: `prefix{i}suffix` when sharded, else exactly `prefix`.
struct Pattern<'a> {
    prefix: &'a [u8],
    suffix: Option<&'a [u8]>,
    kind: usize,
    role: usize,
}

impl TableNames {
    fn patterns(&self) -> Vec<Pattern<'_>> {
        let mut patterns = Vec::new();
        for (kind, form) in [&self.fvars, &self.gvars].into_iter().enumerate() {
            let plain = [&form.base, &form.offsets, &form.ptrs, &form.count];
            let sharded = [&form.shard_base, &form.shard_offsets, &form.shard_ptrs, &form.shard_count];
            for role in 0..4 {
                patterns.push(Pattern { prefix: plain[role].as_bytes(), suffix: None, kind, role });
                if let Some((prefix, suffix)) = sharded[role].split_once("{i}") {
                    patterns.push(Pattern { prefix: prefix.as_bytes(), suffix: Some(suffix.as_bytes()), kind, role });
                }
            }
        }
        patterns
    }
}

fn find_table_symbols(object: &ObjectFile, patterns: &[Pattern]) -> Found {
    // Every pattern shares the first byte in practice (`jl_`); reject most names cheaply.
    let first_bytes: Vec<u8> = patterns.iter().filter_map(|p| p.prefix.first().copied()).collect();
    // In parallel, in symbol order: a newest generation's object has tens of thousands.
    let symbols = (1..object.symbols.len())
        .into_par_iter()
        .with_min_len(4096)
        .fold(Vec::new, |mut found, index| {
            let Ok(symbol) = object.symbol(index) else { return found };
            let name = object.symbol_name(symbol);
            if !name.first().is_some_and(|c| first_bytes.contains(c)) || symbol.is_undefined(ENDIAN) {
                return found;
            }
            for pattern in patterns {
                match pattern.suffix {
                    None if name == pattern.prefix => found.push(((0, pattern.kind, pattern.role), index)),
                    Some(suffix) if name.starts_with(pattern.prefix) => {
                        if let Some(shard) = shard_index(&name[pattern.prefix.len()..], suffix) {
                            found.push(((shard, pattern.kind, pattern.role), index));
                        }
                    }
                    _ => {}
                }
            }
            found
        })
        .reduce(Vec::new, |mut left, mut right| {
            left.append(&mut right);
            left
        });
    let mut symbols = symbols;
    symbols.sort_by_key(|(key, _)| *key);
    Found { symbols }
}

/// Dispatch-table units an earlier link decoded from the base generations' objects (the
/// prepared base keeps them), to stand in for decoding those objects again.
pub trait RecordedUnits: Sync {
    /// Whether units are recorded for this link's base objects.
    fn has_units_for(&self, db: &SymbolDb) -> bool;
    /// How many objects, the first ones, the recorded units stand for.
    fn base_objects(&self) -> usize;
    /// The recorded units (object names from `db`), when `has_units_for`.
    fn units(&self, db: &SymbolDb) -> Option<Vec<Unit>>;
}

/// Decodes the tables of every unit of every generation; recorded units stand in for
/// the base objects' (which are then not read).
pub fn decode<A: Arch>(
    db: &SymbolDb,
    names: &TableNames,
    prepared: Option<&dyn RecordedUnits>,
) -> Result<ImageDirectory> {
    // The base's units, when recorded, are read beside the others.
    let prepared = prepared.filter(|prepared| prepared.has_units_for(db));
    let recorded_objects = prepared.map_or(0, |prepared| prepared.base_objects());
    let (recorded, per_object) = rayon::join(
        || prepared.and_then(|prepared| prepared.units(db)),
        || decode_objects::<A>(db, names, recorded_objects),
    );
    let mut units: Vec<Unit> = per_object?.into_iter().flatten().chain(recorded.unwrap_or_default()).collect();
    units.sort_by_key(|unit| (unit.generation, unit.shard));
    for pair in units.windows(2) {
        if (pair[0].generation, pair[0].shard) == (pair[1].generation, pair[1].shard) {
            return Err(Error::new(format!(
                "generation {} has two units for shard {}: {} and {}",
                pair[0].generation, pair[0].shard, pair[0].object, pair[1].object
            )));
        }
    }
    Ok(ImageDirectory { units })
}

/// The units of every object from `first_object` on, decoded from its bytes.
fn decode_objects<A: Arch>(db: &SymbolDb, names: &TableNames, first_object: usize) -> Result<Vec<Vec<Unit>>> {
    let patterns = names.patterns();
    db.objects
        .par_iter()
        .enumerate()
        .map(|(file, loaded)| {
            if file < first_object {
                return Ok(Vec::new());
            }
            let object = &loaded.object;
            let found = find_table_symbols(object, &patterns);
            let mut shards: Vec<u32> = found.symbols.iter().map(|((shard, _, _), _)| *shard).collect();
            shards.dedup();
            let decoder = Decoder::new(db, object, FileId(file as u32), &found);
            shards
                .into_iter()
                .map(|shard| {
                    let table = |kind: usize| decoder.table::<A>(&found, shard, kind, names);
                    Ok(Unit {
                        generation: loaded.generation,
                        shard,
                        file: FileId(file as u32),
                        object: object.name.clone(),
                        fvars: table(0)?,
                        gvars: table(1)?,
                    })
                })
                .collect::<Result<Vec<Unit>>>()
        })
        .collect()
}

/// Decodes one object's tables. What several tables of an object may ask (where its
/// symbols are, the relocations of the sections holding tables) is indexed once per
/// object, not read again per table or per entry.
struct Decoder<'a, 'data> {
    db: &'a SymbolDb<'data>,
    object: &'a ObjectFile<'data>,
    file: FileId,
    /// Where the symbols of each object an entry lands in are, built when first needed.
    symbols: std::sync::Mutex<crate::util::hash::FxHashMap<FileId, std::sync::Arc<SymbolPlaces>>>,
    /// For each section holding an offsets or pointer table: its relocations as (offset,
    /// index), sorted by offset (stably).
    table_relocations: crate::util::hash::FxHashMap<usize, Vec<(u64, u32)>>,
}

impl<'a, 'data> Decoder<'a, 'data> {
    fn new(db: &'a SymbolDb<'data>, object: &'a ObjectFile<'data>, file: FileId, found: &Found) -> Decoder<'a, 'data> {
        let mut table_relocations = crate::util::hash::FxHashMap::default();
        for &((_, _, role), index) in &found.symbols {
            let section = object.symbol(index).ok().and_then(|symbol| object.symbol_section(symbol, index).ok()?);
            if let (1 | 2, Some(section)) = (role, section) {
                table_relocations.entry(section).or_insert_with(|| {
                    let mut relocations: Vec<(u64, u32)> = object
                        .file_relocations(section)
                        .iter()
                        .enumerate()
                        .map(|(index, rela)| (rela_parts(rela).0, index as u32))
                        .collect();
                    relocations.sort_by_key(|&(offset, _)| offset);
                    relocations
                });
            }
        }
        Decoder { db, object, file, symbols: Default::default(), table_relocations }
    }

    /// The relocations of a table's section at offsets in `range`, in offset order.
    fn relocations_in(&self, section: usize, range: Range<u64>) -> impl Iterator<Item = &'data Rela> + '_ {
        let sorted = self.table_relocations.get(&section).map_or(&[][..], Vec::as_slice);
        let first = sorted.partition_point(|&(offset, _)| offset < range.start);
        let relocations = self.object.file_relocations(section);
        sorted[first..]
            .iter()
            .take_while(move |&&(offset, _)| offset < range.end)
            .map(move |&(_, i)| &relocations[i as usize])
    }

    fn fail(&self, what: String) -> Error {
        Error::new(format!("{}: {what}", self.object.name))
    }

    fn symbol_name(&self, index: usize) -> String {
        self.object.describe_symbol(index)
    }

    /// Section and value of a defined symbol.
    fn locate(&self, index: usize) -> Result<(usize, u64, u64)> {
        let symbol = self.object.symbol(index)?;
        let section = self
            .object
            .symbol_section(symbol, index)?
            .ok_or_else(|| self.fail(format!("table symbol `{}` is not in a section", self.symbol_name(index))))?;
        Ok((section, symbol.st_value(ENDIAN), symbol.st_size(ENDIAN)))
    }

    fn table<A: Arch>(&self, found: &Found, shard: u32, kind: usize, names: &TableNames) -> Result<Table> {
        let kind_name = if kind == 0 { "function" } else { "global-slot" };
        if let (Some(base), Some(offsets)) = (found.get(shard, kind, 0), found.get(shard, kind, 1)) {
            return self.compressed::<A>(base, offsets);
        }
        if let (Some(ptrs), Some(count)) = (found.get(shard, kind, 2), found.get(shard, kind, 3)) {
            return self.uncompressed::<A>(ptrs, count);
        }
        let form = if kind == 0 { &names.fvars } else { &names.gvars };
        Err(self.fail(format!(
            "shard {shard} has an incomplete {kind_name} table: it needs `{}` with `{}`, or `{}` with `{}` (or the sharded forms `{}`/`{}`)",
            form.base, form.offsets, form.ptrs, form.count, form.shard_base, form.shard_offsets
        )))
    }

    /// `[n, off_0, …, off_{n-1}]` as `int32`, offsets from the base symbol: assembly-time
    /// constants (the base shares a section with the functions), or, when the base label is
    /// in the table's own section, 32-bit PC-relative relocations against each entry's
    /// target (`.long f - base` is `f + (P - base) - P`), decoded exactly.
    fn compressed<A: Arch>(&self, base: usize, offsets: usize) -> Result<Table> {
        let symbol = self.symbol_name(offsets);
        let (table_section, table_value, _) = self.locate(offsets)?;
        let (base_section, base_value, _) = self.locate(base)?;
        let data = self.object.section_data(table_section)?;
        let read = |i: u64| -> Option<i32> {
            let at = usize::try_from(table_value.checked_add(4 * i)?).ok()?;
            Some(i32::from_le_bytes(data.get(at..at.checked_add(4)?)?.try_into().ok()?))
        };
        let count = read(0).ok_or_else(|| self.fail(format!("table `{symbol}` lies outside its section")))?;
        let room = (data.len() as u64).saturating_sub(table_value) / 4;
        if count < 0 || count as u64 + 1 > room {
            return Err(self.fail(format!(
                "table `{symbol}` declares {count} entries but its section has room for {}",
                room.saturating_sub(1)
            )));
        }
        let table_end = table_value + 4 * (count as u64 + 1);
        // The relocations at the table's words, by entry (0 is the count).
        let mut relocated: Vec<Option<(u32, i64)>> = vec![None; count as usize + 1];
        for rela in self.relocations_in(table_section, table_value..table_end) {
            let (offset, target, r_type, addend) = rela_parts(rela);
            if !(table_value..table_end).contains(&offset) {
                continue;
            }
            let word = (offset - table_value) / 4;
            let pc32 = A::reloc_info(r_type).is_some_and(|i| i.expr == RelocExpr::PcRelative && i.size == 4);
            if word == 0 || (offset - table_value) % 4 != 0 || !pc32 {
                return Err(self.fail(format!(
                    "compressed table `{symbol}` has a {} relocation at word {word}: only its entries may be relocated, each by one 32-bit PC-relative relocation",
                    A::reloc_name(r_type)
                )));
            }
            if base_section != table_section {
                return Err(self.fail(format!(
                    "compressed table `{symbol}` entry {} is a relocation, but its base `{}` is not in the table's section {}",
                    word - 1,
                    self.symbol_name(base),
                    self.object.section_name_str(table_section)
                )));
            }
            relocated[word as usize] = Some((target, addend));
        }
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count as u64 {
            let place = match relocated[i as usize + 1] {
                // f - base = (S + A - P) + (P - base), P - base known inside this section.
                Some((target, addend)) => {
                    let from_base = (table_value + 4 * (i + 1)).wrapping_sub(base_value);
                    self.entry(&symbol, i, target, addend.wrapping_sub(from_base as i64))?
                }
                None => {
                    let offset = read(i + 1).expect("checked against the section size");
                    let place = Place {
                        file: self.file,
                        section: base_section as u32,
                        offset: base_value.wrapping_add(offset as i64 as u64),
                    };
                    if !self.lands_on_symbol(place) {
                        return Err(self.fail(format!(
                            "table `{symbol}` entry {i}: offset {offset:#x} from the base lands at {} {:#x}, where no symbol of this unit is defined",
                            self.object.section_name_str(base_section),
                            place.offset
                        )));
                    }
                    place
                }
            };
            entries.push(place);
        }
        Ok(Table { symbol, entries })
    }

    /// A table of 64-bit pointers (absolute relocations) and its count beside it.
    fn uncompressed<A: Arch>(&self, ptrs: usize, count_symbol: usize) -> Result<Table> {
        let symbol = self.symbol_name(ptrs);
        let (count_section, count_value, count_size) = self.locate(count_symbol)?;
        let count_data = self.object.section_data(count_section)?;
        let width = if count_size == 4 { 4 } else { 8 };
        let count = usize::try_from(count_value)
            .ok()
            .and_then(|at| count_data.get(at..at.checked_add(width)?))
            .map(|bytes| bytes.iter().rev().fold(0u64, |value, &byte| value << 8 | byte as u64))
            .ok_or_else(|| self.fail(format!("count `{}` lies outside its section", self.symbol_name(count_symbol))))?;
        let (table_section, table_value, _) = self.locate(ptrs)?;
        let section_size = self.object.section_data(table_section)?.len() as u64;
        if count.checked_mul(8).and_then(|bytes| bytes.checked_add(table_value)).is_none_or(|end| end > section_size) {
            return Err(self.fail(format!(
                "table `{symbol}` has count {count} but its section has room for {}",
                section_size.saturating_sub(table_value) / 8
            )));
        }
        // Entries are the absolute relocations at each slot.
        let mut by_slot: Vec<Option<(u32, i64)>> = vec![None; count as usize];
        for rela in self.relocations_in(table_section, table_value..table_value + 8 * count) {
            let (offset, target, r_type, addend) = rela_parts(rela);
            let slot = (offset - table_value) / 8;
            let absolute = A::reloc_info(r_type).is_some_and(|i| i.expr == RelocExpr::Absolute && i.size == 8);
            if (offset - table_value) % 8 != 0 || !absolute {
                return Err(self.fail(format!("table `{symbol}` entry {slot} is not a 64-bit absolute pointer")));
            }
            by_slot[slot as usize] = Some((target, addend));
        }
        let mut entries = Vec::with_capacity(count as usize);
        for (slot, entry) in by_slot.into_iter().enumerate() {
            let (target, addend) =
                entry.ok_or_else(|| self.fail(format!("table `{symbol}` entry {slot} has no relocation")))?;
            entries.push(self.entry(&symbol, slot as u64, target, addend)?);
        }
        Ok(Table { symbol, entries })
    }

    /// Where entry `slot` of `table` points: symbol `target` of this unit plus `addend`. A
    /// symbol the unit defines is its own definition; any other binds by the chain's rules
    /// (`crate::resolve::binding`), so a unit's table may reach code of older generations. The
    /// place must be a symbol's address (a section symbol's or an addend's result too).
    fn entry(&self, table: &str, slot: u64, target: u32, addend: i64) -> Result<Place> {
        let object = self.object;
        let target_symbol = object.symbol(target as usize)?;
        let defined_here = object.symbol_section(target_symbol, target as usize)?;
        let (file, section, value) = match defined_here {
            Some(section) => (self.file, section, target_symbol.st_value(ENDIAN)),
            None => self.bound_definition(table, slot, target)?,
        };
        let place = Place { file, section: section as u32, offset: value.wrapping_add(addend as u64) };
        let named = target_symbol.st_type() != elf::STT_SECTION && addend == 0;
        if !named && !self.lands_on_symbol(place) {
            let holder = &self.db.object(file).object;
            return Err(self.fail(format!(
                "table `{table}` entry {slot} lands at {} {:#x} of {}, where no symbol is defined",
                holder.section_name_str(section),
                place.offset,
                holder.name
            )));
        }
        Ok(place)
    }

    /// The definition an undefined table target binds to: (file, section, value).
    fn bound_definition(&self, table: &str, slot: u64, target: u32) -> Result<(FileId, usize, u64)> {
        let not_here = |why: &str| {
            self.fail(format!(
                "table `{table}` entry {slot} points at `{}`, which {why}",
                self.symbol_name(target as usize)
            ))
        };
        let loaded = self.db.object(self.file);
        let Some(id) = loaded.global(target as usize) else {
            return Err(not_here("is not defined in this unit"));
        };
        let Definition::Object { file, index } = self.db.global(id).definition else {
            return Err(not_here("is not defined in this image (nor in any generation this unit can see)"));
        };
        let holder = self.db.object(file);
        let symbol = holder.object.symbol(index as usize)?;
        match holder.object.symbol_section(symbol, index as usize)? {
            Some(section) if !holder.discarded[section] => Ok((file, section, symbol.st_value(ENDIAN))),
            _ => Err(not_here(&format!("{} defines outside any linked section", holder.object.name))),
        }
    }

    /// Whether some symbol (not a section or file symbol) is defined at `place`.
    fn lands_on_symbol(&self, place: Place) -> bool {
        let places = {
            let mut built = self.symbols.lock().unwrap_or_else(|e| e.into_inner());
            let object = &self.db.object(place.file).object;
            built.entry(place.file).or_insert_with(|| std::sync::Arc::new(SymbolPlaces::new(object))).clone()
        };
        places.contains(place.section, place.offset)
    }
}

/// Every defined symbol of one object as a sorted (section, value) list, to check that table
/// entries land on one: built once per object, whatever the number of sections.
struct SymbolPlaces {
    places: Vec<(u32, u64)>,
}

impl SymbolPlaces {
    fn new(object: &ObjectFile) -> SymbolPlaces {
        let mut places: Vec<(u32, u64)> = (1..object.symbols.len())
            .into_par_iter()
            .with_min_len(4096)
            .filter_map(|index| {
                let symbol = object.symbol(index).ok()?;
                if matches!(symbol.st_type(), elf::STT_SECTION | elf::STT_FILE) {
                    return None;
                }
                let section = object.symbol_section(symbol, index).ok()??;
                Some((section as u32, symbol.st_value(ENDIAN)))
            })
            .collect();
        places.par_sort_unstable();
        SymbolPlaces { places }
    }

    fn contains(&self, section: u32, value: u64) -> bool {
        self.places.binary_search(&(section, value)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_patterns_match_only_decimal_indices() {
        assert_eq!(shard_of("jl_fvar_offsets_{i}", b"jl_fvar_offsets_12"), Some(12));
        assert_eq!(shard_of("jl_fvar_offsets_{i}", b"jl_fvar_offsets_0"), Some(0));
        assert_eq!(shard_of("jl_fvar_offsets_{i}", b"jl_fvar_offsets_012"), None);
        assert_eq!(shard_of("jl_fvar_offsets_{i}", b"jl_fvar_offsets_"), None);
        assert_eq!(shard_of("jl_fvar_offsets_{i}", b"jl_fvar_offsets_1x"), None);
        assert_eq!(shard_of("{i}_tab", b"7_tab"), Some(7));
    }

    #[test]
    fn directory_size_counts_header_units_and_arrays() {
        let place = Place { file: FileId(0), section: 1, offset: 0 };
        let table = |n| Table { symbol: "t".into(), entries: vec![place; n] };
        let unit =
            Unit { generation: 0, shard: 0, file: FileId(0), object: "x".into(), fvars: table(3), gvars: table(2) };
        let directory = ImageDirectory { units: vec![unit.clone(), unit] };
        assert_eq!(directory.size(), IMAGE_HEADER_SIZE + 2 * UNIT_SIZE + 8 * 10);
        assert_eq!(directory.pointer_count(), 1 + 4 + 10);
        assert_eq!(ImageDirectory::default().size(), 0);
    }
}
