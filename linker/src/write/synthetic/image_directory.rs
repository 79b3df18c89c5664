//! `chainlink_image`: the image directory, its units and their pointer arrays (see
//! `tables`), with a relative relocation per pointer unless they are packed as RELR. Writes
//! only its section and its slice of `.rela.dyn`; the tables are the scan's.

use crate::arch::Arch;
use crate::layout;
use crate::sections::Synthetic;
use crate::tables;
use crate::util::error::{Error, Result};
use crate::write::{Put, RelaWriter, Writer};

/// `struct chainlink_image`, its units and their pointer arrays (see tables.rs).
pub(in crate::write) fn write<A: Arch>(w: &Writer, out: &mut [u8], relative_out: &mut [u8]) -> Result<()> {
    let directory = w.directory;
    if directory.is_empty() {
        return Ok(());
    }
    let layout = w.layout;
    let base = layout.section(Synthetic::ImageDirectory).addr;
    let units = directory.units.len() as u64;
    let mut pointers: Vec<u64> = Vec::with_capacity(directory.pointer_count() as usize);
    out.put32(0, tables::IMAGE_MAGIC);
    out.put32(4, tables::IMAGE_VERSION);
    out.put64(8, units);
    pointers.push(base + tables::IMAGE_HEADER_SIZE);
    let mut array = tables::IMAGE_HEADER_SIZE + tables::UNIT_SIZE * units;
    let mut arrays: Vec<&tables::Table> = Vec::new();
    for (k, unit) in directory.units.iter().enumerate() {
        let at = (tables::IMAGE_HEADER_SIZE + tables::UNIT_SIZE * k as u64) as usize;
        out.put32(at, unit.generation);
        out.put32(at + 4, unit.shard);
        out.put64(at + 8, unit.fvars.entries.len() as u64);
        pointers.push(base + array);
        array += 8 * unit.fvars.entries.len() as u64;
        out.put64(at + 24, unit.gvars.entries.len() as u64);
        pointers.push(base + array);
        array += 8 * unit.gvars.entries.len() as u64;
        arrays.push(&unit.fvars);
        arrays.push(&unit.gvars);
    }
    for table in arrays {
        for (i, place) in table.entries.iter().enumerate() {
            let placement = layout.sections.placements[place.file.0 as usize][place.section as usize];
            if !placement.is_placed() {
                let object = &w.db.object(place.file).object;
                return Err(Error::new(format!(
                    "{}: table `{}` entry {i} points into section {}, which is not linked",
                    object.name,
                    table.symbol,
                    object.section_name_str(place.section as usize)
                )));
            }
            pointers.push(layout.sections.outputs[placement.output as usize].addr + placement.offset + place.offset);
        }
    }
    let pack = w.config.pack_relative_relocs;
    let mut relative = RelaWriter::new(relative_out);
    for (offset, value) in layout::directory_pointer_offsets(directory).zip(pointers) {
        out.put64(offset as usize, value);
        if !pack {
            relative.relative::<A>(base + offset, value);
        }
    }
    if !relative.is_full() {
        return Err(Error::new("internal error: directory relocation count changed between layout and write"));
    }
    Ok(())
}
