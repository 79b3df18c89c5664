//! `.dynsym`: the dynamic symbol table's entries (imports, then exports in `.gnu.hash`
//! order), from each symbol's definition and where layout placed it. The order and the
//! names' offsets are layout's; this only encodes them.

use crate::input::object_file::ENDIAN;
use crate::resolve::Definition;
use crate::sections::Synthetic;
use crate::tables;
use crate::util::error::Result;
use crate::write::{Put, Writer};
use object::elf;
use object::read::elf::Sym as _;

/// Writes `.dynsym`'s entries after the null one.
pub(super) fn write(w: &Writer, out: &mut [u8]) -> Result<()> {
    let layout = w.layout;
    let db = w.db;
    let bss = layout.sections.outputs.iter().find(|o| o.name == ".bss" && o.header_index != 0);
    for (i, &id) in layout.dynamic.dynsym.iter().enumerate() {
        let at = 24 * (i + 1);
        let global = db.global(id);
        let (info, other, shndx, value, size) = match global.definition {
            Definition::Object { file, index } => {
                let object = &db.object(file).object;
                let symbol = object.symbol(index as usize)?;
                let bind = if global.weak_definition { elf::STB_WEAK } else { symbol.st_bind() };
                let (sym_type, shndx, size) = if let Some((size, _)) = global.common {
                    (elf::STT_OBJECT.0, bss.map_or(0, |o| o.header_index as u16), size)
                } else if symbol.st_shndx(ENDIAN) == elf::SHN_ABS {
                    (symbol.st_type().0, elf::SHN_ABS.0, symbol.st_size(ENDIAN))
                } else {
                    let section = object.symbol_section(symbol, index as usize)?.unwrap_or(0);
                    let placement = layout.sections.placements[file.0 as usize][section];
                    let header = layout.sections.outputs.get(placement.output as usize).map_or(0, |o| o.header_index);
                    (symbol.st_type().0, header.min(0xfeff) as u16, symbol.st_size(ENDIAN))
                };
                let mut value = layout.global_addr[id.0 as usize];
                if sym_type == elf::STT_TLS.0 {
                    value = value.wrapping_sub(layout.tls_start());
                }
                ((bind.0 << 4) | sym_type, global.visibility, shndx, value, size)
            }
            Definition::Shared { .. } => {
                ((import_binding(global).0 << 4) | db.import_type(id), elf::STV_DEFAULT.0, 0, 0, 0)
            }
            Definition::Synthetic(crate::resolve::Synthetic::Defsym { .. }) => {
                let (sym_type, shndx, value) = crate::layout::defsym::symbol_fields(layout, db, id, w.config);
                ((elf::STB_GLOBAL.0 << 4) | sym_type, global.visibility, shndx, value, 0)
            }
            Definition::Synthetic(crate::resolve::Synthetic::ImageDirectory) => {
                let section = layout.section(Synthetic::ImageDirectory);
                let info = (elf::STB_GLOBAL.0 << 4) | elf::STT_OBJECT.0;
                (info, elf::STV_DEFAULT.0, section.header_index as u16, section.addr, tables::IMAGE_HEADER_SIZE)
            }
            _ => ((import_binding(global).0 << 4) | global.reference_type, elf::STV_DEFAULT.0, 0, 0, 0),
        };
        out.put32(at, layout.dynamic.dynsym_name[i]);
        out[at + 4] = info;
        out[at + 5] = other;
        out.put16(at + 6, shndx);
        out.put64(at + 8, value);
        out.put64(at + 16, size);
    }
    Ok(())
}

/// An import only weakly referenced may be missing at run time.
fn import_binding(global: &crate::resolve::Global) -> elf::SymbolBind {
    if global.strong_reference {
        elf::STB_GLOBAL
    } else {
        elf::STB_WEAK
    }
}
