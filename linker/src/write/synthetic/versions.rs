//! The symbol versioning sections: `.gnu.version` (one index per dynamic symbol) and
//! `.gnu.version_r` (the versions needed from each shared library); `.gnu.version_d`
//! encodes itself (`layout::verdef`). Must not decide versions: resolution and layout do.

use crate::layout::Layout;
use crate::write::Put;

/// Writes `.gnu.version`: entry 0 is the null symbol's.
pub(super) fn write_versym(layout: &Layout, out: &mut [u8]) {
    for (i, &v) in layout.dynamic.versym.iter().enumerate() {
        out.put16(2 * (i + 1), v);
    }
}

/// Writes `.gnu.version_r`: a `Verneed` per library with versions, each followed by its
/// `Vernaux` entries.
pub(super) fn write_verneed(layout: &Layout, out: &mut [u8]) {
    let files: Vec<_> = layout.dynamic.needed.iter().filter(|n| !n.versions.is_empty()).collect();
    let mut at = 0usize;
    for (i, needed) in files.iter().enumerate() {
        let size = 16 + 16 * needed.versions.len();
        out.put16(at, 1);
        out.put16(at + 2, needed.versions.len() as u16);
        out.put32(at + 4, needed.name_offset);
        out.put32(at + 8, 16);
        out.put32(at + 12, if i + 1 < files.len() { size as u32 } else { 0 });
        for (j, &(name, hash, index)) in needed.versions.iter().enumerate() {
            let aux = at + 16 + 16 * j;
            out.put32(aux, hash);
            out.put16(aux + 4, 0);
            out.put16(aux + 6, index);
            out.put32(aux + 8, name);
            out.put32(aux + 12, if j + 1 < needed.versions.len() { 16 } else { 0 });
        }
        at += size;
    }
}
