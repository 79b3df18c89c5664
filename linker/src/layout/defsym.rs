//! The addresses and symbol-table fields of `--defsym` symbols (defined by
//! `resolve::defsym`), once the layout has placed everything else. Must not define
//! symbols or change any other address.

use crate::config::Config;
use crate::input::object_file::ENDIAN;
use crate::layout::Layout;
use crate::resolve::{Definition, GlobalId, SymbolDb, Synthetic};
use object::elf;
use object::read::elf::Sym as _;

/// Sets every `--defsym` symbol's address in `global_addr`, in command-line order (so that
/// one may name an earlier one).
pub fn assign_addresses(global_addr: &mut [u64], db: &SymbolDb, config: &Config) {
    for defsym in &config.gnu.defsyms {
        let Some(id) = db.lookup(defsym.name.as_bytes()) else { continue };
        let base = match &defsym.symbol {
            Some(target) => db.lookup(target.as_bytes()).map_or(0, |t| global_addr[t.0 as usize]),
            None => 0,
        };
        global_addr[id.0 as usize] = base.wrapping_add(defsym.offset as u64);
    }
}

/// A `--defsym` symbol's `.dynsym`/`.symtab` fields: (type, section header index, value).
/// A number is an absolute `STT_NOTYPE`; otherwise the symbol takes its target's type
/// and lies in the output section that holds its address.
pub fn symbol_fields(layout: &Layout, db: &SymbolDb, id: GlobalId, config: &Config) -> (u8, u16, u64) {
    let value = layout.global_addr[id.0 as usize];
    let mut current = id;
    // Follow `--defsym` chains to a real definition (at most one step per --defsym).
    for _ in 0..=config.gnu.defsyms.len() {
        match db.global(current).definition {
            Definition::Synthetic(Synthetic::Defsym { absolute: true, .. }) => break,
            Definition::Synthetic(Synthetic::Defsym { index, .. }) => {
                let target = config.gnu.defsyms.get(index as usize).and_then(|d| d.symbol.as_ref());
                match target.and_then(|name| db.lookup(name.as_bytes())) {
                    Some(target) => current = target,
                    None => break,
                }
            }
            Definition::Object { file, index } => {
                let Ok(symbol) = db.object(file).object.symbol(index as usize) else { break };
                if symbol.st_shndx(ENDIAN) == elf::SHN_ABS {
                    return (symbol.st_type().0, elf::SHN_ABS.0, value);
                }
                return (symbol.st_type().0, section_holding(layout, value), value);
            }
            _ => return (elf::STT_NOTYPE.0, section_holding(layout, value), value),
        }
    }
    (elf::STT_NOTYPE.0, elf::SHN_ABS.0, value)
}

/// The header index of the allocated output section that holds `address` (the last one
/// starting at or before it).
fn section_holding(layout: &Layout, address: u64) -> u16 {
    let outputs = &layout.sections.outputs;
    let holding = outputs
        .iter()
        .filter(|o| o.header_index != 0 && o.flags & elf::SHF_ALLOC.0 != 0 && o.addr <= address)
        .max_by_key(|o| (o.addr, o.header_index));
    holding.map_or(elf::SHN_ABS.0, |o| o.header_index.min(0xfeff) as u16)
}
