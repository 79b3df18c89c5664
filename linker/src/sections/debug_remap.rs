//! `--remap-path-prefix`: rewrites the source paths in every loaded object's DWARF before
//! the layout, as replacement sections on the object (`ObjectFile::overrides`).
//!
//! gimli reads each object's `.debug_info` and `.debug_line` through its relocations (in a
//! relocatable object a string offset is a relocation's addend, not the field's bytes) to
//! find the paths: each compilation unit's `DW_AT_name` and `DW_AT_comp_dir`, and every
//! line table's directories and file names. Then only strings move:
//!
//! - a path in `.debug_str` or `.debug_line_str` (`DW_FORM_strp`, `DW_FORM_line_strp`,
//!   `DW_FORM_strx` through `.debug_str_offsets`) is appended, remapped, to that string
//!   section, and the relocation of each field that named it gets its addend moved there;
//!   the old string is zeroed when nothing refers into it any more (so the old prefix
//!   leaves the output), and kept otherwise;
//! - a path inline in a line table's header (DWARF 4's directories and file names) is
//!   replaced in place; the unit's two lengths are patched, the relocations inside
//!   `.debug_line` after it move with it, and those that point into `.debug_line` (a unit's
//!   `DW_AT_stmt_list`) follow.
//!
//! Nothing else of an object changes, and an object none of whose paths match gets no
//! replacement at all, so a link without the option is the same as before it existed.
//! A path inline in `.debug_info` (`DW_FORM_string`, which moving would shift every DIE
//! after it) is left as it is, with a warning; so is an object whose DWARF cannot be read
//! or is compressed. Must not interpret relocation types (x86-64's live under `arch/`):
//! a relocation's value is its symbol's value plus its addend, whatever its type.

use crate::config::remap::{remap, PathRemap};
use crate::input::object_file::{ObjectFile, SectionOverride, ENDIAN};
use crate::resolve::{LoadedObject, SymbolDb};
use crate::util::error::{Error, Result};
use gimli::write::Writer as _;
use gimli::{EndianSlice, LittleEndian, Reader as _, RelocateReader};
use object::elf;
use object::read::elf::{Rela as _, SectionHeader as _, Sym as _};
use rayon::prelude::*;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

/// Rewrites every loaded object's paths by `rules` (nothing when there are none). Prints a
/// warning, in object order, for each object or path it has to leave as it is.
pub fn remap_paths(db: &mut SymbolDb, rules: &[PathRemap]) {
    if rules.is_empty() {
        return;
    }
    let warnings: Vec<Vec<String>> = db
        .objects
        .par_iter_mut()
        .map(|loaded| {
            let mut warnings = Vec::new();
            match rewrite(loaded, rules, &mut warnings) {
                Ok(overrides) => loaded.object.overrides = overrides,
                Err(e) => warnings.push(format!(
                    "{}: {e}; --remap-path-prefix leaves its debug information as it is",
                    loaded.object.name
                )),
            }
            warnings
        })
        .collect();
    for warning in warnings.iter().flatten() {
        crate::say!("chainlink: warning: {}", crate::util::error::one_line(warning));
    }
}

/// The string sections a path can live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Table {
    Str,
    LineStr,
}

/// A relocated field that names a path in a string section.
struct PathField {
    table: Table,
    /// Where the field is: a section of the object and the index of its relocation.
    section: u32,
    relocation: u32,
    /// The string's offset in its table.
    string: u64,
}

/// One relocation of a section, decoded: where it applies, and what it points at (a
/// section of the object and an offset in it, when its symbol is defined in one).
#[derive(Clone, Copy, Debug)]
struct Reloc {
    offset: u64,
    index: u32,
    target: Option<u32>,
    value: u64,
    addend: i64,
}

/// The relocations of one section, sorted by offset, as gimli's reader applies them; the
/// offset of the last field it relocated is kept, so that a caller can tell where the
/// string reference it just read lies.
#[derive(Clone, Copy, Debug)]
struct Fields<'a> {
    relocs: &'a [Reloc],
    last: &'a Cell<Option<u64>>,
}

impl Fields<'_> {
    fn at(&self, offset: u64) -> Option<&Reloc> {
        let i = self.relocs.partition_point(|r| r.offset < offset);
        self.relocs.get(i).filter(|r| r.offset == offset)
    }
}

impl gimli::read::Relocate for Fields<'_> {
    fn relocate_address(&self, _offset: usize, value: u64) -> gimli::Result<u64> {
        // Addresses do not matter to the paths.
        Ok(value)
    }

    fn relocate_offset(&self, offset: usize, value: usize) -> gimli::Result<usize> {
        self.last.set(Some(offset as u64));
        match self.at(offset as u64) {
            Some(reloc) => usize::try_from(reloc.value).map_err(|_| gimli::Error::OffsetOutOfBounds(reloc.value)),
            None => Ok(value),
        }
    }
}

type Reader<'a> = RelocateReader<EndianSlice<'a, LittleEndian>, Fields<'a>>;

/// The debug sections of one object the remap reads, by section index.
#[derive(Default)]
struct DebugSections {
    info: Option<u32>,
    abbrev: Option<u32>,
    line: Option<u32>,
    str_offsets: Option<u32>,
    str: Option<u32>,
    line_str: Option<u32>,
}

impl DebugSections {
    /// The first kept section of each name; an error if one of them is compressed.
    fn find(loaded: &LoadedObject) -> Result<DebugSections> {
        let object = &loaded.object;
        let mut found = DebugSections::default();
        for (index, header) in object.sections.enumerate().skip(1) {
            if loaded.discarded[index.0] || header.sh_type(ENDIAN) == elf::SHT_NOBITS {
                continue;
            }
            let slot = match object.section_name(index.0) {
                b".debug_info" => &mut found.info,
                b".debug_abbrev" => &mut found.abbrev,
                b".debug_line" => &mut found.line,
                b".debug_str_offsets" => &mut found.str_offsets,
                b".debug_str" => &mut found.str,
                b".debug_line_str" => &mut found.line_str,
                _ => continue,
            };
            if slot.is_some() {
                continue;
            }
            if header.sh_flags(ENDIAN).0 & elf::SHF_COMPRESSED.0 != 0 {
                return Err(Error::new(format!("section {} is compressed", object.section_name_str(index.0))));
            }
            *slot = Some(index.0 as u32);
        }
        Ok(found)
    }

    fn table(&self, table: Table) -> Option<u32> {
        match table {
            Table::Str => self.str,
            Table::LineStr => self.line_str,
        }
    }

    fn table_of(&self, section: u32) -> Option<Table> {
        [Table::Str, Table::LineStr].into_iter().find(|&table| self.table(table) == Some(section))
    }
}

/// Decodes a section's relocations, sorted by offset.
fn decode_relocs(object: &ObjectFile, section: usize) -> Result<Vec<Reloc>> {
    let mut relocs = Vec::with_capacity(object.file_relocations(section).len());
    for (index, rela) in object.file_relocations(section).iter().enumerate() {
        let symbol_index = rela.r_sym(ENDIAN, false) as usize;
        let symbol = object.symbol(symbol_index)?;
        let target = object.symbol_section(symbol, symbol_index)?;
        let addend = rela.r_addend(ENDIAN);
        relocs.push(Reloc {
            offset: rela.r_offset(ENDIAN),
            index: index as u32,
            target: target.map(|s| s as u32),
            value: symbol.st_value(ENDIAN).wrapping_add(addend as u64),
            addend,
        });
    }
    relocs.sort_by_key(|r| (r.offset, r.index));
    Ok(relocs)
}

/// What one object's paths need: fields to re-point, and inline strings to replace.
#[derive(Default)]
struct Found {
    fields: Vec<PathField>,
    /// `.debug_line`: (unit offset, range of an inline path, its new bytes).
    inline: Vec<(u64, std::ops::Range<u64>, Vec<u8>)>,
}

/// The replacement sections for one object; empty when none of its paths match.
fn rewrite(loaded: &LoadedObject, rules: &[PathRemap], warnings: &mut Vec<String>) -> Result<Vec<SectionOverride>> {
    let sections = DebugSections::find(loaded)?;
    let object = &loaded.object;
    if sections.info.is_none() && sections.line.is_none() {
        return Ok(Vec::new());
    }
    let relocs_of = |section: Option<u32>| -> Result<Vec<Reloc>> {
        section.map_or(Ok(Vec::new()), |s| decode_relocs(object, s as usize))
    };
    let (info_relocs, line_relocs, offsets_relocs) =
        (relocs_of(sections.info)?, relocs_of(sections.line)?, relocs_of(sections.str_offsets)?);
    let last = Cell::new(None);
    let reader = |section, relocs| reader(object, section, relocs, &last);
    let mut found = Found::default();
    let dwarf_error = |e: gimli::Error| Error::new(format!("cannot read its DWARF: {e}"));
    if let Some(info) = sections.info {
        let abbrev = reader(sections.abbrev, &[])?;
        let units = UnitReader {
            info,
            info_reader: reader(Some(info), &info_relocs)?,
            abbrev,
            info_fields: Fields { relocs: &info_relocs, last: &last },
            offsets: Fields { relocs: &offsets_relocs, last: &last },
            last: &last,
        };
        units.find_paths(&sections, rules, &mut found, warnings).map_err(dwarf_error)?;
    }
    if let Some(line) = sections.line {
        let line_reader = reader(Some(line), &line_relocs)?;
        find_line_paths(line, line_reader, &line_relocs, &sections, rules, &mut found).map_err(dwarf_error)?;
    }
    Rewriter::new(object, &sections, rules).apply(found)
}

/// A reader of a section (empty when the object has none) that applies `relocs`.
fn reader<'a>(
    object: &'a ObjectFile,
    section: Option<u32>,
    relocs: &'a [Reloc],
    last: &'a Cell<Option<u64>>,
) -> Result<Reader<'a>> {
    let data = match section {
        Some(s) => object.file_section_data(s as usize)?,
        None => &[],
    };
    Ok(RelocateReader::new(EndianSlice::new(data, LittleEndian), Fields { relocs, last }))
}

/// Reads each unit's root entry in `.debug_info`.
struct UnitReader<'a> {
    info: u32,
    info_reader: Reader<'a>,
    abbrev: Reader<'a>,
    info_fields: Fields<'a>,
    offsets: Fields<'a>,
    last: &'a Cell<Option<u64>>,
}

impl UnitReader<'_> {
    /// The `DW_AT_name` and `DW_AT_comp_dir` of every compilation unit.
    fn find_paths(
        &self,
        sections: &DebugSections,
        rules: &[PathRemap],
        found: &mut Found,
        warnings: &mut Vec<String>,
    ) -> gimli::Result<()> {
        let debug_info = gimli::DebugInfo::from(self.info_reader.clone());
        let debug_abbrev = gimli::DebugAbbrev::from(self.abbrev.clone());
        let mut units = debug_info.units();
        while let Some(header) = units.next()? {
            let abbreviations = header.abbreviations(&debug_abbrev)?;
            let unit_start = header.offset().0 as u64;
            let mut entries = header.entries_raw(&abbreviations, None)?;
            let Some(abbrev) = entries.read_abbreviation()? else { continue };
            if ![gimli::DW_TAG_compile_unit, gimli::DW_TAG_partial_unit, gimli::DW_TAG_skeleton_unit]
                .contains(&abbrev.tag())
            {
                continue;
            }
            let (mut offsets_base, mut indexed) = (None, Vec::new());
            for spec in abbrev.attributes() {
                self.last.set(None);
                let attribute = entries.read_attribute(*spec)?;
                let field = self.last.get();
                let is_path = matches!(attribute.name(), gimli::DW_AT_name | gimli::DW_AT_comp_dir);
                let (table, string) = match attribute.value() {
                    gimli::AttributeValue::DebugStrOffsetsBase(base) => {
                        offsets_base = Some(base.0 as u64);
                        continue;
                    }
                    _ if !is_path => continue,
                    gimli::AttributeValue::DebugStrRef(o) => (Table::Str, o.0 as u64),
                    gimli::AttributeValue::DebugLineStrRef(o) => (Table::LineStr, o.0 as u64),
                    gimli::AttributeValue::DebugStrOffsetsIndex(index) => {
                        indexed.push(index.0 as u64);
                        continue;
                    }
                    gimli::AttributeValue::String(text) => {
                        if remap(rules, text.inner().slice()).is_some() {
                            warnings.push(format!(
                                "unit at {unit_start:#x} of .debug_info has its {} inline (DW_FORM_string); --remap-path-prefix leaves it as it is",
                                attribute.name()
                            ));
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Some(reloc) = field.and_then(|offset| self.info_fields.at(offset)) {
                    found.fields.push(PathField { table, section: self.info, relocation: reloc.index, string });
                }
            }
            // `DW_FORM_strx`: the field is the unit's entry in `.debug_str_offsets`.
            if let (Some(base), Some(section)) = (offsets_base, sections.str_offsets) {
                let size = header.format().word_size() as u64;
                for index in indexed {
                    let offset = base.wrapping_add(index.wrapping_mul(size));
                    if let Some(reloc) = self.offsets.at(offset) {
                        let (relocation, string) = (reloc.index, reloc.value);
                        found.fields.push(PathField { table: Table::Str, section, relocation, string });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The directories and file names of every line table in `.debug_line`.
fn find_line_paths(
    line: u32,
    reader: Reader,
    relocs: &[Reloc],
    sections: &DebugSections,
    rules: &[PathRemap],
    found: &mut Found,
) -> gimli::Result<()> {
    let debug_line = gimli::DebugLine::from(reader.clone());
    let section = reader.inner().slice();
    let mut offset = 0usize;
    while offset < section.len() {
        let program = debug_line.program(gimli::DebugLineOffset(offset), 8, None, None)?;
        let header = program.header();
        let unit_end = offset
            .checked_add(header.format().initial_length_size() as usize)
            .and_then(|o| o.checked_add(header.unit_length()))
            .filter(|&end| end <= section.len())
            .ok_or(gimli::Error::UnexpectedEof(gimli::ReaderOffsetId(offset as u64)))?;
        let program_start = header.raw_program_buf().offset_from(&reader) as u64;
        let paths =
            header.include_directories().iter().cloned().chain(header.file_names().iter().map(|f| f.path_name()));
        let mut named = std::collections::HashSet::new();
        for path in paths {
            match path {
                gimli::AttributeValue::DebugStrRef(o) => {
                    named.insert((Table::Str, o.0 as u64));
                }
                gimli::AttributeValue::DebugLineStrRef(o) => {
                    named.insert((Table::LineStr, o.0 as u64));
                }
                gimli::AttributeValue::String(text) => {
                    let bytes = text.inner().slice();
                    // (Only what lies in the section itself: a reader may make entries up.)
                    let start = (bytes.as_ptr() as usize).wrapping_sub(section.as_ptr() as usize) as u64;
                    if start.checked_add(bytes.len() as u64).is_some_and(|end| end <= section.len() as u64) {
                        if let Some(new) = remap(rules, bytes) {
                            found.inline.push((offset as u64, start..start + bytes.len() as u64, new));
                        }
                    }
                }
                _ => {}
            }
        }
        // The header's string fields: its relocations that name one of those strings.
        let first = relocs.partition_point(|r| r.offset < offset as u64);
        for reloc in relocs[first..].iter().take_while(|r| r.offset < program_start) {
            let Some(table) = reloc.target.and_then(|s| sections.table_of(s)) else { continue };
            if named.contains(&(table, reloc.value)) {
                found.fields.push(PathField { table, section: line, relocation: reloc.index, string: reloc.value });
            }
        }
        offset = unit_end;
    }
    Ok(())
}

/// Builds the replacement sections from what was found.
struct Rewriter<'o, 'data> {
    object: &'o ObjectFile<'data>,
    sections: &'o DebugSections,
    rules: &'o [PathRemap],
    /// New contents by section.
    data: BTreeMap<u32, Vec<u8>>,
    /// New relocations by section (copies of the file's, changed in place).
    relocations: BTreeMap<u32, Vec<elf::Rela64<object::LittleEndian>>>,
}

/// A string table's remapped strings: old start → (old end, new start).
type Moved = BTreeMap<u64, (u64, u64)>;

impl<'o, 'data> Rewriter<'o, 'data> {
    fn new(object: &'o ObjectFile<'data>, sections: &'o DebugSections, rules: &'o [PathRemap]) -> Self {
        Rewriter { object, sections, rules, data: BTreeMap::new(), relocations: BTreeMap::new() }
    }

    fn apply(mut self, found: Found) -> Result<Vec<SectionOverride>> {
        let mut moved: HashMap<Table, Moved> = HashMap::new();
        for table in [Table::Str, Table::LineStr] {
            let strings: Vec<u64> = found.fields.iter().filter(|f| f.table == table).map(|f| f.string).collect();
            if let Some(section) = self.sections.table(table) {
                let table_moved = self.append_remapped(section, strings)?;
                if !table_moved.is_empty() {
                    moved.insert(table, table_moved);
                }
            }
        }
        // Re-point each path field whose string moved.
        for field in &found.fields {
            let Some(&(_, new)) = moved.get(&field.table).and_then(|m| m.get(&field.string)) else { continue };
            let delta = new.wrapping_sub(field.string) as i64;
            let rela = self.relocations_mut(field.section).get_mut(field.relocation as usize);
            let rela = rela.ok_or_else(|| Error::new("a path field's relocation is missing"))?;
            rela.r_addend.set(ENDIAN, rela.r_addend(ENDIAN).wrapping_add(delta));
        }
        let line_map = match (found.inline.is_empty(), self.sections.line) {
            (false, Some(line)) => Some(self.splice_line(line, &found.inline)?),
            _ => None,
        };
        self.follow_references(&moved, line_map.as_ref())?;
        let mut overrides: BTreeMap<u32, SectionOverride> = BTreeMap::new();
        for (section, data) in self.data {
            overrides.entry(section).or_insert_with(|| empty_override(section)).data = Some(data);
        }
        for (section, relocations) in self.relocations {
            overrides.entry(section).or_insert_with(|| empty_override(section)).relocations = Some(relocations);
        }
        Ok(overrides.into_values().collect())
    }

    /// Appends the remapped form of each string (by offset) that has one; says where each went.
    fn append_remapped(&mut self, section: u32, mut strings: Vec<u64>) -> Result<Moved> {
        strings.sort_unstable();
        strings.dedup();
        let old = self.object.file_section_data(section as usize)?;
        let mut moved = Moved::new();
        let mut new = old.to_vec();
        for start in strings {
            let text = usize::try_from(start).ok().and_then(|s| old.get(s..)).unwrap_or_default();
            let len = text.iter().position(|&b| b == 0).ok_or_else(|| {
                Error::new(format!(
                    "string at {start:#x} of {} is not terminated",
                    self.object.section_name_str(section as usize)
                ))
            })?;
            if let Some(remapped) = remap(self.rules, &text[..len]) {
                moved.insert(start, (start + len as u64, new.len() as u64));
                new.extend_from_slice(&remapped);
                new.push(0);
            }
        }
        if !moved.is_empty() {
            self.data.insert(section, new);
        }
        Ok(moved)
    }

    fn relocations_mut(&mut self, section: u32) -> &mut Vec<elf::Rela64<object::LittleEndian>> {
        let object = self.object;
        self.relocations.entry(section).or_insert_with(|| object.file_relocations(section as usize).to_vec())
    }

    /// Replaces `.debug_line`'s inline paths and patches the lengths of their units;
    /// returns the map of old offsets to new.
    fn splice_line(&mut self, line: u32, inline: &[(u64, std::ops::Range<u64>, Vec<u8>)]) -> Result<LineMap> {
        let old = self.object.file_section_data(line as usize)?;
        let mut splices: Vec<&(u64, std::ops::Range<u64>, Vec<u8>)> = inline.iter().collect();
        splices.sort_by_key(|(_, range, _)| range.start);
        let mut out = gimli::write::EndianVec::new(LittleEndian);
        let mut map = LineMap::default();
        let mut at = 0u64;
        let mut unit_growth: BTreeMap<u64, i64> = BTreeMap::new();
        for (unit, range, new) in splices {
            if range.start < at {
                return Err(Error::new("overlapping paths in .debug_line"));
            }
            write_all(&mut out, &old[at as usize..range.start as usize])?;
            write_all(&mut out, new)?;
            let delta = new.len() as i64 - (range.end - range.start) as i64;
            *unit_growth.entry(*unit).or_default() += delta;
            map.push(range.clone(), delta);
            at = range.end;
        }
        write_all(&mut out, &old[at as usize..])?;
        for (&unit, &growth) in &unit_growth {
            patch_lengths(&mut out, old, unit, map.map(unit), growth)?;
        }
        self.data.insert(line, out.into_vec());
        // The relocations inside `.debug_line` move with their fields.
        let relocations = self.relocations_mut(line);
        for rela in relocations.iter_mut() {
            let offset = rela.r_offset(ENDIAN);
            if map.inside(offset) {
                return Err(Error::new(format!("a relocation at {offset:#x} of .debug_line lies in a path")));
            }
            rela.r_offset.set(ENDIAN, map.map(offset));
        }
        Ok(map)
    }

    /// Every relocation of a non-allocated section that points into a moved string or into
    /// `.debug_line` follows it; old strings nothing points into any more are zeroed.
    fn follow_references(&mut self, moved: &HashMap<Table, Moved>, line_map: Option<&LineMap>) -> Result<()> {
        if moved.is_empty() && line_map.is_none() {
            return Ok(());
        }
        let object = self.object;
        // The old strings something still points into, by (table, start).
        let mut kept: std::collections::HashSet<(Table, u64)> = std::collections::HashSet::new();
        for (index, header) in object.sections.enumerate().skip(1) {
            if header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 != 0 || object.rela_for_section[index.0] == 0 {
                continue;
            }
            let section = index.0 as u32;
            for reloc in decode_relocs(object, index.0)? {
                let Some(target) = reloc.target else { continue };
                if let (Some(map), Some(line)) = (line_map, self.sections.line) {
                    if target == line {
                        let delta = map.map(reloc.value).wrapping_sub(reloc.value) as i64;
                        if delta != 0 {
                            let rela = &mut self.relocations_mut(section)[reloc.index as usize];
                            rela.r_addend.set(ENDIAN, rela.r_addend(ENDIAN).wrapping_add(delta));
                        }
                    }
                }
                let Some(table) = self.sections.table_of(target) else { continue };
                let Some(table_moved) = moved.get(&table) else { continue };
                // The value as it is now (a re-pointed field points past the old strings).
                let addend =
                    self.relocations.get(&section).map_or(reloc.addend, |r| r[reloc.index as usize].r_addend(ENDIAN));
                let value = reloc.value.wrapping_add(addend.wrapping_sub(reloc.addend) as u64);
                if let Some((&start, &(end, _))) = table_moved.range(..=value).next_back() {
                    if value <= end {
                        kept.insert((table, start));
                    }
                }
            }
        }
        for (&table, table_moved) in moved {
            let section = self.sections.table(table).expect("a moved table exists");
            let data = self.data.get_mut(&section).expect("a moved table was rewritten");
            for (&start, &(end, _)) in table_moved {
                if !kept.contains(&(table, start)) {
                    data[start as usize..end as usize].fill(0);
                }
            }
        }
        Ok(())
    }
}

fn empty_override(section: u32) -> SectionOverride {
    SectionOverride { section, data: None, relocations: None }
}

fn write_all(out: &mut gimli::write::EndianVec<LittleEndian>, bytes: &[u8]) -> Result<()> {
    out.write(bytes).map_err(|e| Error::new(format!("cannot write .debug_line: {e}")))
}

/// Adds `growth` to the unit length and header length of the line table that starts at
/// `old_unit` (now at `new_unit`).
fn patch_lengths(
    out: &mut gimli::write::EndianVec<LittleEndian>,
    old: &[u8],
    old_unit: u64,
    new_unit: u64,
    growth: i64,
) -> Result<()> {
    let mut input = EndianSlice::new(old.get(old_unit as usize..).unwrap_or_default(), LittleEndian);
    let bad = |e: gimli::Error| Error::new(format!("cannot read the line table at {old_unit:#x}: {e}"));
    let (unit_length, format) = gimli::Reader::read_initial_length(&mut input).map_err(bad)?;
    let version = gimli::Reader::read_u16(&mut input).map_err(bad)?;
    if version >= 5 {
        gimli::Reader::skip(&mut input, 2).map_err(bad)?; // address and segment selector sizes
    }
    let header_length = gimli::Reader::read_offset(&mut input, format).map_err(bad)?;
    let size = format.word_size();
    let limit = if size == 4 { 0xffff_fff0 } else { u64::MAX };
    let grown = |length: u64| {
        length.checked_add_signed(growth).filter(|&l| l < limit).ok_or_else(|| Error::new("a line table grew too long"))
    };
    let (unit_length, header_length) = (grown(unit_length as u64)?, grown(header_length as u64)?);
    let length_field = new_unit as usize + if size == 4 { 0 } else { 4 };
    let header_field = new_unit as usize + format.initial_length_size() as usize + if version >= 5 { 4 } else { 2 };
    let write = |out: &mut gimli::write::EndianVec<LittleEndian>, at: usize, value: u64| {
        out.write_udata_at(at, value, size).map_err(|e| Error::new(format!("cannot patch .debug_line: {e}")))
    };
    write(out, length_field, unit_length)?;
    write(out, header_field, header_length)
}

/// Old `.debug_line` offsets to new, after inline strings were replaced.
#[derive(Default)]
struct LineMap {
    /// Each replaced range, in order, with the total growth up to and including it.
    splices: Vec<(std::ops::Range<u64>, i64)>,
}

impl LineMap {
    fn push(&mut self, range: std::ops::Range<u64>, delta: i64) {
        let total = self.splices.last().map_or(0, |(_, total)| *total) + delta;
        self.splices.push((range, total));
    }

    /// Where an old offset is now (an offset at a string's end, its terminator, stays at
    /// the new string's end).
    fn map(&self, offset: u64) -> u64 {
        let before = self.splices.partition_point(|(range, _)| range.end <= offset);
        let growth = if before == 0 { 0 } else { self.splices[before - 1].1 };
        offset.wrapping_add(growth as u64)
    }

    /// Whether an offset lies strictly inside a replaced string (after its first byte).
    fn inside(&self, offset: u64) -> bool {
        let i = self.splices.partition_point(|(range, _)| range.end <= offset);
        self.splices.get(i).is_some_and(|(range, _)| range.start < offset)
    }
}

#[cfg(test)]
mod tests {
    use super::LineMap;

    #[test]
    fn line_offsets_follow_the_splices() {
        let mut map = LineMap::default();
        map.push(10..20, -6); // a 10-byte path became 4 bytes
        map.push(30..32, 5); // a 2-byte path became 7 bytes
        assert_eq!([0, 10, 20, 29, 30, 32, 40].map(|o| map.map(o)), [0, 10, 14, 23, 24, 31, 39]);
        assert!(!map.inside(10) && map.inside(11) && map.inside(19) && !map.inside(20) && map.inside(31));
    }
}
