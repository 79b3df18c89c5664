//! The section header table: each emitted output section's header, with the links and
//! entry sizes its type calls for. Must not decide which sections exist or where they lie.

use crate::layout::{self, SECTION_HEADER_SIZE};
use crate::sections::Synthetic;
use crate::write::{Put, Writer};

/// Writes one header per emitted output section (the null one is left zero).
pub(super) fn write(w: &Writer, out: &mut [u8]) {
    let layout = w.layout;
    let index_of = |s: Synthetic| layout.section(s).header_index;
    let emitted = layout.sections.outputs.iter().filter(|s| s.header_index != 0);
    for (section, &name) in emitted.zip(&layout.section_names) {
        let at = SECTION_HEADER_SIZE as usize * section.header_index as usize;
        let (link, info, entsize) = match section.synthetic {
            Some(Synthetic::DynSym) => (index_of(Synthetic::DynStr), 1, 24),
            Some(Synthetic::GnuHash) => (index_of(Synthetic::DynSym), 0, 0),
            Some(Synthetic::Hash) => (index_of(Synthetic::DynSym), 0, 4),
            Some(Synthetic::VerSym) => (index_of(Synthetic::DynSym), 0, 2),
            Some(Synthetic::VerDef) => (index_of(Synthetic::DynStr), layout.dynamic.verdef.count() as u32, 0),
            Some(Synthetic::VerNeed) => (
                index_of(Synthetic::DynStr),
                layout.dynamic.needed.iter().filter(|n| !n.versions.is_empty()).count() as u32,
                0,
            ),
            Some(Synthetic::RelaDyn) => (index_of(Synthetic::DynSym), 0, 24),
            Some(Synthetic::RelaPlt) => (index_of(Synthetic::DynSym), index_of(Synthetic::GotPlt), 24),
            Some(Synthetic::RelrDyn) => (0, 0, 8),
            Some(Synthetic::SymTab) => (layout::symtab::header_link(layout), w.symtab.first_global as u32, 24),
            Some(Synthetic::Dynamic) => (index_of(Synthetic::DynStr), 0, 16),
            Some(Synthetic::Got | Synthetic::BaseGot | Synthetic::GotPlt) => (0, 0, 8),
            Some(Synthetic::Plt) => (0, 0, 16),
            _ => (0, 0, 0),
        };
        out.put32(at, name);
        out.put32(at + 4, section.sh_type);
        out.put64(at + 8, section.flags);
        out.put64(at + 16, section.addr);
        out.put64(at + 24, section.offset);
        out.put64(at + 32, section.size);
        out.put32(at + 40, link);
        out.put32(at + 44, info);
        out.put64(at + 48, section.align);
        out.put64(at + 56, entsize);
    }
}
