//! `.relr.dyn`: the packed relative relocations, as the words layout encoded. Must not
//! decide which relocations are packed.

use crate::layout::Layout;
use crate::write::Put;

pub(super) fn write(layout: &Layout, out: &mut [u8]) {
    for (i, &word) in layout.relr.iter().enumerate() {
        out.put64(8 * i, word);
    }
}
