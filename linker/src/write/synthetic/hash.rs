//! The dynamic symbol hash tables: `.gnu.hash` (over the exports, whose order and bloom
//! parameters layout chose) and the SysV `.hash` (over every dynamic symbol). Must not
//! reorder `.dynsym`.

use crate::layout;
use crate::write::Writer;

/// Writes `.gnu.hash` for the exports (`.dynsym` after the imports).
pub(super) fn write_gnu_hash(w: &Writer, out: &mut [u8]) {
    let (layout, db) = (w.layout, w.db);
    let hashes: Vec<u32> = layout.dynamic.dynsym[layout.import_count..]
        .iter()
        .map(|&id| layout::gnu_hash::gnu_hash(db.global(id).name))
        .collect();
    layout.dynamic.gnu_hash.write(layout.import_count as u32 + 1, &hashes, out);
}

/// Writes the SysV `.hash` for every dynamic symbol.
pub(super) fn write_sysv_hash(w: &Writer, out: &mut [u8]) {
    let names: Vec<&[u8]> = w.layout.dynamic.dynsym.iter().map(|&id| w.db.global(id).name).collect();
    layout::sysv_hash::write(&names, out);
}
