//! What resolution reads of an object's symbols, decoded in parallel before the
//! sequential part of resolution: a global's name, hash, binding and place; a local's
//! section and value. Decides nothing about binding.

use crate::input::object_file::{ObjectFile, ENDIAN};
use crate::util::error::Result;
use crate::util::hash::name_hash;
use object::elf;
use object::read::elf::Sym as _;
use rayon::prelude::*;

/// Where a local symbol is: `section` is a section index, or one of the `LOCAL_*` codes.
#[derive(Clone, Copy, Debug)]
pub struct LocalSymbol {
    pub section: u32,
    pub value: u64,
}

/// What resolution needs of one global symbol of an object, decoded in parallel.
pub(super) struct GlobalSymbol<'data> {
    pub(super) name: &'data [u8],
    pub(super) hash: u64,
    pub(super) bind: elf::SymbolBind,
    pub(super) visibility: u8,
    pub(super) st_type: u8,
    pub(super) section: Option<usize>,
    pub(super) undefined: bool,
    pub(super) common: bool,
    pub(super) value: u64,
    pub(super) size: u64,
}

impl<'data> GlobalSymbol<'data> {
    pub(super) fn decode(object: &ObjectFile<'data>, index: usize) -> Result<GlobalSymbol<'data>> {
        let symbol = object.symbol(index)?;
        let name = object.symbol_name(symbol);
        Ok(GlobalSymbol {
            name,
            hash: name_hash(name),
            bind: symbol.st_bind(),
            visibility: symbol.st_visibility().0,
            st_type: symbol.st_type().0,
            section: object.symbol_section(symbol, index)?,
            undefined: symbol.is_undefined(ENDIAN),
            common: symbol.is_common(ENDIAN),
            value: symbol.st_value(ENDIAN),
            size: symbol.st_size(ENDIAN),
        })
    }
}

/// `LocalSymbol::section` of an absolute symbol.
pub const LOCAL_ABSOLUTE: u32 = u32::MAX - 1;
/// `LocalSymbol::section` of a symbol in no section (undefined, common, malformed).
pub const LOCAL_NOWHERE: u32 = u32::MAX;

impl LocalSymbol {
    fn decode(object: &ObjectFile, index: usize) -> (LocalSymbol, bool) {
        let Ok(symbol) = object.symbol(index) else {
            return (LocalSymbol { section: LOCAL_NOWHERE, value: 0 }, false);
        };
        let value = symbol.st_value(ENDIAN);
        let section = if symbol.st_shndx(ENDIAN) == elf::SHN_ABS {
            LOCAL_ABSOLUTE
        } else {
            match object.symbol_section(symbol, index) {
                Ok(Some(section)) => section as u32,
                _ => LOCAL_NOWHERE,
            }
        };
        (LocalSymbol { section, value }, symbol.st_type() == elf::STT_GNU_IFUNC)
    }
}

/// An object's local symbols, decoded in parallel, and whether one is an IFUNC.
pub(super) fn decode_locals(object: &ObjectFile) -> (Vec<LocalSymbol>, bool) {
    let decoded: Vec<(LocalSymbol, bool)> =
        (0..object.first_global).into_par_iter().with_min_len(4096).map(|i| LocalSymbol::decode(object, i)).collect();
    let has_local_ifunc = decoded.iter().any(|(_, ifunc)| *ifunc);
    (decoded.into_iter().map(|(local, _)| local).collect(), has_local_ifunc)
}
