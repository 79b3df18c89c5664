//! Zero-copy view of one ELF64 relocatable object (a loose `.o` or an archive member).
//!
//! Validates the header and the tables every later phase indexes into, so that those phases
//! can index without re-checking. Knows nothing of other objects or of the output.

use crate::util::error::{Error, Result};
use object::elf::{self, FileHeader64, Rela64, SectionHeader64, Sym64};
use object::read::elf::{FileHeader, Rela as _, SectionHeader, SectionTable, SymbolTable};
use object::read::{SectionIndex, SymbolIndex};
use object::LittleEndian as LE;

pub type Elf64 = FileHeader64<LE>;

/// Bounds on what one input section may ask of the layout (1 TiB, 1 GiB alignment).
const MAX_SECTION_SIZE: u64 = 1 << 40;
const MAX_SECTION_ALIGN: u64 = 1 << 30;
pub const ENDIAN: LE = LE;

pub struct ObjectFile<'data> {
    /// `foo.o`, or `libfoo.a(bar.o)` for an archive member.
    pub name: String,
    pub data: &'data [u8],
    pub sections: SectionTable<'data, Elf64>,
    pub symbols: SymbolTable<'data, Elf64>,
    /// Index of the first non-local symbol (the symbol table's `sh_info`).
    pub first_global: usize,
    /// For each section, the index of the `SHT_RELA` section that applies to it (0 = none).
    pub rela_for_section: Vec<u32>,
    /// Sections whose contents or relocations a later phase replaced (sorted by section;
    /// empty unless `--remap-path-prefix` rewrote this object's debug information).
    pub overrides: Vec<SectionOverride>,
}

/// New contents and/or relocations for one section of an object, used instead of the
/// file's wherever the section is read ([`ObjectFile::section_data`],
/// [`ObjectFile::section_size`], [`ObjectFile::relocations`]). Only non-allocated
/// sections (debug information) are ever replaced: what reads code and data for its
/// meaning (dispatch tables, dependency records) reads the file's own.
pub struct SectionOverride {
    pub section: u32,
    pub data: Option<Vec<u8>>,
    pub relocations: Option<Vec<Rela64<LE>>>,
}

impl<'data> ObjectFile<'data> {
    pub fn parse(name: String, data: &'data [u8], machine: elf::Machine) -> Result<ObjectFile<'data>> {
        Self::parse_inner(data, machine)
            .map(|parts| ObjectFile { name: name.clone(), ..parts })
            .map_err(|e| e.context(name))
    }

    fn parse_inner(data: &'data [u8], machine: elf::Machine) -> Result<ObjectFile<'data>> {
        let header = Elf64::parse(data).map_err(|_| Error::new("not a valid 64-bit little-endian ELF file"))?;
        if header.e_type(ENDIAN) != elf::ET_REL {
            return Err(Error::new("not a relocatable object"));
        }
        let file_machine = header.e_machine(ENDIAN);
        if file_machine != machine {
            return Err(Error::new(format!(
                "wrong architecture: e_machine {} but the link is for e_machine {}",
                file_machine.0, machine.0
            )));
        }
        let sections = header.sections(ENDIAN, data)?;
        let symbols = sections.symbols(ENDIAN, data, elf::SHT_SYMTAB)?;
        let mut first_global = symbols.len();
        let mut rela_for_section = vec![0u32; sections.len()];
        for (index, section) in sections.enumerate() {
            let sh_type = section.sh_type(ENDIAN);
            // Contents must lie in the file; sizes and alignments must be ones a link can lay
            // out (a corrupt header must not make the output terabytes long).
            if sh_type != elf::SHT_NOBITS && section.data(ENDIAN, data).is_err() {
                return Err(Error::new(format!("section {} extends past the end of the file", index.0)));
            }
            if section.sh_size(ENDIAN) > MAX_SECTION_SIZE || section.sh_addralign(ENDIAN) > MAX_SECTION_ALIGN {
                return Err(Error::new(format!(
                    "section {} has an implausible size ({:#x}) or alignment ({:#x})",
                    index.0,
                    section.sh_size(ENDIAN),
                    section.sh_addralign(ENDIAN)
                )));
            }
            if sh_type == elf::SHT_SYMTAB {
                first_global = (section.sh_info(ENDIAN) as usize).min(symbols.len());
            } else if sh_type == elf::SHT_RELA {
                let target = section.sh_info(ENDIAN) as usize;
                if target == 0 || target >= sections.len() {
                    return Err(Error::new(format!(
                        "relocation section {} applies to invalid section {target}",
                        index.0
                    )));
                }
                if section.sh_link(ENDIAN) as usize != symbols.section().0 {
                    return Err(Error::new(format!("relocation section {} does not use the symbol table", index.0)));
                }
                // Check once here so later phases can read the entries without failing.
                section.data_as_array::<Rela64<LE>, _>(ENDIAN, data)?;
                rela_for_section[target] = index.0 as u32;
            } else if sh_type == elf::SHT_REL {
                return Err(Error::new(format!(
                    "section {}: SHT_REL relocations are not valid on this architecture",
                    index.0
                )));
            }
        }
        Ok(ObjectFile {
            name: String::new(),
            data,
            sections,
            symbols,
            first_global,
            rela_for_section,
            overrides: Vec::new(),
        })
    }

    pub fn section(&self, index: usize) -> &'data SectionHeader64<LE> {
        // Indices come from the section table itself or were range-checked by callers.
        self.sections.section(SectionIndex(index)).expect("section index checked")
    }

    pub fn section_name(&self, index: usize) -> &'data [u8] {
        self.sections.section_name(ENDIAN, self.section(index)).unwrap_or(b"<bad name>")
    }

    pub fn section_name_str(&self, index: usize) -> String {
        String::from_utf8_lossy(self.section_name(index)).into_owned()
    }

    fn overridden(&self, section: usize) -> Option<&SectionOverride> {
        if self.overrides.is_empty() {
            return None;
        }
        let at = self.overrides.binary_search_by_key(&section, |o| o.section as usize).ok()?;
        Some(&self.overrides[at])
    }

    /// The section's contents (as a later phase may have replaced them).
    pub fn section_data(&self, index: usize) -> Result<&[u8]> {
        if let Some(data) = self.overridden(index).and_then(|o| o.data.as_deref()) {
            return Ok(data);
        }
        self.file_section_data(index)
    }

    /// The section's contents as the file holds them.
    pub fn file_section_data(&self, index: usize) -> Result<&'data [u8]> {
        self.section(index).data(ENDIAN, self.data).map_err(|_| {
            Error::new(format!(
                "{}: section {} extends past the end of the file",
                self.name,
                self.section_name_str(index)
            ))
        })
    }

    /// The section's size: `sh_size`, or the length of contents that replaced the file's.
    pub fn section_size(&self, index: usize) -> u64 {
        match self.overridden(index).and_then(|o| o.data.as_ref()) {
            Some(data) => data.len() as u64,
            None => self.section(index).sh_size(ENDIAN),
        }
    }

    /// The relocations that apply to `section` (empty when it has none; as a later phase
    /// may have replaced them).
    pub fn relocations(&self, section: usize) -> &[Rela64<LE>] {
        if let Some(relocations) = self.overridden(section).and_then(|o| o.relocations.as_deref()) {
            return relocations;
        }
        self.file_relocations(section)
    }

    /// The relocations that apply to `section` as the file holds them.
    pub fn file_relocations(&self, section: usize) -> &'data [Rela64<LE>] {
        match self.rela_for_section[section] {
            0 => &[],
            rela => self.section(rela as usize).data_as_array(ENDIAN, self.data).unwrap_or(&[]),
        }
    }

    pub fn symbol(&self, index: usize) -> Result<&'data Sym64<LE>> {
        self.symbols
            .symbol(SymbolIndex(index))
            .map_err(|_| Error::new(format!("{}: invalid symbol index {index}", self.name)))
    }

    pub fn symbol_name(&self, symbol: &Sym64<LE>) -> &'data [u8] {
        self.symbols.symbol_name(ENDIAN, symbol).unwrap_or(b"<bad name>")
    }

    /// The section a symbol is defined in, resolving extended indices; `None` for
    /// undefined, absolute and common symbols.
    pub fn symbol_section(&self, symbol: &Sym64<LE>, index: usize) -> Result<Option<usize>> {
        match self.symbols.symbol_section(ENDIAN, symbol, SymbolIndex(index)) {
            Ok(Some(section)) if section.0 < self.sections.len() => Ok(Some(section.0)),
            Ok(Some(section)) => Err(Error::new(format!(
                "{}: symbol `{}` refers to invalid section {}",
                self.name,
                String::from_utf8_lossy(self.symbol_name(symbol)),
                section.0
            ))),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::new(format!("{}: {e}", self.name))),
        }
    }

    /// How a relocation's target is named in messages: the symbol, or `section+offset`.
    pub fn describe_symbol(&self, index: usize) -> String {
        let Ok(symbol) = self.symbol(index) else {
            return format!("symbol #{index}");
        };
        if symbol.st_type() == elf::STT_SECTION {
            if let Ok(Some(section)) = self.symbol_section(symbol, index) {
                return format!("section {}", self.section_name_str(section));
            }
        }
        String::from_utf8_lossy(self.symbol_name(symbol)).into_owned()
    }

    /// "file: section S: offset 0xN" — the prefix of every relocation message.
    pub fn locate(&self, section: usize, offset: u64) -> String {
        format!("{}: section {}: offset {offset:#x}", self.name, self.section_name_str(section))
    }
}

/// The bytes a relocation touches, as a range of `within` (a section's or a chunk's bytes,
/// by section offset) counted from its start: `before` bytes ahead of the field (an
/// instruction a relaxation reads or rewrites) and the field's `size` bytes at `offset`.
/// `None` when any of them lies outside `within`. Every phase that reads or writes the
/// bytes of a relocation gets them here: each sum is checked, so an offset near 2^64
/// cannot wrap round into range.
#[inline]
pub fn reloc_bytes(
    within: &std::ops::Range<u64>,
    offset: u64,
    before: u64,
    size: u64,
) -> Option<std::ops::Range<usize>> {
    let (start, end) = (offset.checked_sub(before)?, offset.checked_add(size)?);
    if start < within.start || end > within.end {
        return None;
    }
    Some(usize::try_from(start - within.start).ok()?..usize::try_from(end - within.start).ok()?)
}

/// Reads a relocation's fields in one place so every phase decodes them alike.
#[inline]
pub fn rela_parts(rela: &Rela64<LE>) -> (u64, u32, elf::RelocationType, i64) {
    (rela.r_offset(ENDIAN), rela.r_sym(ENDIAN, false), rela.r_type(ENDIAN, false), rela.r_addend(ENDIAN))
}
