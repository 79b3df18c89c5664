//! `-Map FILE` (and `-M`, to standard output): a readable account of the output, in GNU
//! ld's layout: the input sections left out (COMDAT duplicates, `--gc-sections`,
//! `--strip-debug`), then every output section with its address and size, each input
//! section placed in it (address, size, file) and the global symbols defined there.
//!
//! Reads the finished layout; must not change anything.

use crate::input::object_file::ENDIAN;
use crate::layout::Layout;
use crate::resolve::{Definition, SymbolDb};
use crate::sections::Synthetic;
use crate::util::error::{Error, Result};
use object::elf;
use object::read::elf::SectionHeader as _;
use std::fmt::Write as _;
use std::path::Path;

/// A symbol's address and name.
type Named<'a> = (u64, &'a [u8]);

/// Renders the map of a link.
pub fn render(db: &SymbolDb, layout: &Layout, output: &Path) -> String {
    let mut text = format!("Map of {} (chainlink {})\n\n", output.display(), env!("CARGO_PKG_VERSION"));
    text.push_str("Discarded input sections\n\n");
    for loaded in &db.objects {
        let object = &loaded.object;
        for (index, header) in object.sections.enumerate().skip(1) {
            let sh_type = header.sh_type(ENDIAN);
            let linked = !matches!(sh_type, elf::SHT_GROUP | elf::SHT_SYMTAB | elf::SHT_STRTAB | elf::SHT_RELA);
            if loaded.discarded[index.0] && linked && !loaded.stripped[index.0] {
                let name = object.section_name_str(index.0);
                let _ = writeln!(text, " {name:<15} {:#018x} {:>#10x} {}", 0, header.sh_size(ENDIAN), object.name);
            }
        }
    }
    text.push_str("\nMemory map\n\n");
    // Global symbols by the input section that defines them, in address order.
    let mut symbols: crate::util::hash::FxHashMap<(u32, usize), Vec<Named>> = Default::default();
    for (id, global) in db.globals.iter().enumerate() {
        let Definition::Object { file, index } = global.definition else { continue };
        let object = &db.object(file).object;
        let Some(section) =
            object.symbol(index as usize).ok().and_then(|s| object.symbol_section(s, index as usize).ok().flatten())
        else {
            continue;
        };
        symbols.entry((file.0, section)).or_default().push((layout.global_addr[id], global.name));
    }
    for list in symbols.values_mut() {
        list.sort_unstable();
    }
    for output in &layout.sections.outputs {
        if output.header_index == 0 || output.synthetic == Some(Synthetic::SectionHeaders) {
            continue;
        }
        let _ = writeln!(text, "{:<15} {:#018x} {:>#10x}", output.name, output.addr, output.size);
        if output.synthetic.is_some() && output.inputs.is_empty() {
            let _ = writeln!(text, " {:<14} {:#018x} {:>#10x} (linker-made)", output.name, output.addr, output.size);
        }
        for &(input, offset) in &output.inputs {
            let object = &db.object(input.file).object;
            let size = object.section_size(input.section as usize);
            let name = object.section_name_str(input.section as usize);
            let _ = writeln!(text, " {name:<14} {:#018x} {size:>#10x} {}", output.addr + offset, object.name);
            for &(address, symbol) in symbols.get(&(input.file.0, input.section as usize)).into_iter().flatten() {
                let _ = writeln!(text, "{:15} {address:#018x}            {}", "", String::from_utf8_lossy(symbol));
            }
        }
        text.push('\n');
    }
    text
}

/// Writes the map to `path` (`-`: standard output).
pub fn write(db: &SymbolDb, layout: &Layout, output: &Path, path: &Path) -> Result<()> {
    let text = render(db, layout, output);
    if path == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| Error::new(format!("cannot write the map file {}: {e}", path.display())))
}
