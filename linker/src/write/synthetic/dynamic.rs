//! `.dynamic`: the dynamic section's tags and values, in the order and with the values
//! `layout::dynamic_entries` gives. Must not compute an entry itself.

use crate::layout;
use crate::write::{Put, Writer};

pub(super) fn write(w: &Writer, out: &mut [u8]) {
    for (i, (tag, value)) in layout::dynamic_entries(w.layout, w.plan, w.config).into_iter().enumerate() {
        out.put64(16 * i, tag as u64);
        out.put64(16 * i + 8, value);
    }
}
