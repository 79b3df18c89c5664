//! Undefined-symbol errors as the best linkers give them: every symbol (up to a limit),
//! each with the object that references it, the function it is referenced from and
//! where, and how many other places reference it.
//!
//! Only runs when a link fails, so it may read every relocation. Must not decide what is
//! undefined: its caller (symbol resolution) does.

use crate::error::Error;
use crate::hash::FxHashMap;
use crate::object_file::{rela_parts, ObjectFile, ENDIAN};
use crate::symbols::{GlobalId, SymbolDb};
use object::elf;
use object::read::elf::{SectionHeader as _, Sym as _};
use rayon::prelude::*;

/// A reference to one of the symbols: object, section and offset.
#[derive(Clone, Copy)]
struct Place {
    file: usize,
    section: usize,
    offset: u64,
}

/// One error line per symbol in `undefined` (`(symbol, what is wrong, why)`), at most
/// `limit` of them (0: all), then a line saying how many were left out. A line reads
/// `a.o: section .text: offset 0x12: undefined symbol `foo` (in `bar`), and 2 more places`.
pub fn error(db: &SymbolDb, undefined: &[(GlobalId, &str, String)], limit: usize) -> Error {
    let shown = if limit == 0 { undefined.len() } else { undefined.len().min(limit) };
    let wanted: FxHashMap<GlobalId, usize> =
        undefined[..shown].iter().enumerate().map(|(index, &(id, ..))| (id, index)).collect();
    // (first place, count) per symbol, objects in order.
    let found: Vec<Vec<(usize, Place)>> = db
        .objects
        .par_iter()
        .enumerate()
        .map(|(file, loaded)| {
            let object = &loaded.object;
            let mut places = Vec::new();
            for (section, header) in object.sections.enumerate() {
                if header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 == 0 || loaded.discarded[section.0] {
                    continue;
                }
                for rela in object.relocations(section.0) {
                    let (offset, symbol, _, _) = rela_parts(rela);
                    if let Some(&index) = loaded.global(symbol as usize).and_then(|id| wanted.get(&id)) {
                        places.push((index, Place { file, section: section.0, offset }));
                    }
                }
            }
            places
        })
        .collect();
    let mut first: Vec<Option<Place>> = vec![None; shown];
    let mut count = vec![0usize; shown];
    for (index, place) in found.into_iter().flatten() {
        first[index].get_or_insert(place);
        count[index] += 1;
    }
    let mut lines: Vec<String> = Vec::with_capacity(shown + 1);
    for (index, (id, what, why)) in undefined[..shown].iter().enumerate() {
        let name = db.name(*id);
        let line = match first[index] {
            Some(place) => {
                let object = &db.objects[place.file].object;
                let within = match enclosing_symbol(object, place.section, place.offset) {
                    Some(function) => format!(" (in `{function}`)"),
                    None => String::new(),
                };
                let more = match count[index] - 1 {
                    0 => String::new(),
                    1 => ", and 1 more place".to_string(),
                    n => format!(", and {n} more places"),
                };
                format!("{}: {what} `{name}`{why}{within}{more}", object.locate(place.section, place.offset))
            }
            None => match referencing_object(db, *id) {
                Some(object) => format!("{object}: {what} `{name}`{why}"),
                None => format!("{what} `{name}`{why}"),
            },
        };
        lines.push(line);
    }
    if shown < undefined.len() {
        lines.push(format!(
            "... and {} more undefined symbol(s) (--error-limit=0 shows them all)",
            undefined.len() - shown
        ));
    }
    Error::several(lines)
}

/// The first object whose symbol table names `id` as undefined.
fn referencing_object(db: &SymbolDb, id: GlobalId) -> Option<String> {
    db.objects.iter().find_map(|loaded| {
        let position = loaded.global_ids.iter().position(|&g| g == id)?;
        let symbol = loaded.object.symbol(loaded.object.first_global + position).ok()?;
        symbol.is_undefined(ENDIAN).then(|| loaded.object.name.clone())
    })
}

/// The name of the function (or object) of `section` that covers `offset`, else the
/// nearest one before it.
fn enclosing_symbol(object: &ObjectFile, section: usize, offset: u64) -> Option<String> {
    let mut best: Option<(bool, u64, &[u8])> = None;
    for (index, symbol) in object.symbols.enumerate() {
        if !matches!(symbol.st_type(), elf::STT_FUNC | elf::STT_OBJECT | elf::STT_NOTYPE | elf::STT_GNU_IFUNC) {
            continue;
        }
        if object.symbol_section(symbol, index.0).ok().flatten() != Some(section) {
            continue;
        }
        let (value, size) = (symbol.st_value(ENDIAN), symbol.st_size(ENDIAN));
        let name = object.symbol_name(symbol);
        if value > offset || name.is_empty() || name.starts_with(b".L") {
            continue;
        }
        let covers = offset < value.saturating_add(size);
        if best.is_none_or(|(best_covers, best_value, _)| (covers, value) > (best_covers, best_value)) {
            best = Some((covers, value, name));
        }
    }
    best.map(|(_, _, name)| String::from_utf8_lossy(name).into_owned())
}

/// `--require-defined NAME`: an error naming every such symbol nothing defines.
pub fn check_required(db: &SymbolDb, config: &crate::config::Config) -> crate::error::Result<()> {
    let missing: Vec<String> = config
        .gnu
        .require_defined
        .iter()
        .filter(|name| !db.lookup(name.as_bytes()).is_some_and(|id| db.global(id).is_defined_locally()))
        .map(|name| format!("required symbol `{name}` (--require-defined) is not defined"))
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(Error::several(missing)),
    }
}
