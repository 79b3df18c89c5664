//! The sections the linker makes itself, one module each, and the dispatch from a writer
//! job to its section's module. Sizes and addresses are layout's and the entries the
//! scan's plan; a section's module encodes them into the slices it is given and must not
//! write anywhere else, nor change the layout or the plan.

pub(super) mod build_id_note;
mod dynamic;
mod dynsym;
pub(super) mod eh_frame_hdr;
pub(super) mod got;
mod hash;
mod headers;
pub(super) mod image_directory;
mod plt;
mod relr;
mod section_headers;
mod versions;

use crate::arch::Arch;
use crate::layout;
use crate::sections::Synthetic;
use crate::util::error::Result;
use crate::write::Writer;

/// Writes the synthetic section `synthetic` into its slices (the first is the section's
/// own; `.symtab` has `.strtab` too, the PLT `.got.plt` and `.rela.plt`).
pub(super) fn write<A: Arch>(w: &Writer, synthetic: Synthetic, slices: &mut [&mut [u8]]) -> Result<()> {
    let layout = w.layout;
    let out = &mut *slices[0];
    match synthetic {
        Synthetic::Headers => headers::write::<A>(w, out),
        Synthetic::DynStr => out.copy_from_slice(&layout.dynamic.dynstr.bytes),
        Synthetic::Manifest => out.copy_from_slice(layout.manifest.as_bytes()),
        Synthetic::Deps => out.copy_from_slice(layout.deps.as_bytes()),
        Synthetic::SymTab => {
            let [symtab, strtab] = slices else { unreachable!("two slots for the symbol table") };
            layout::symtab::write(w.symtab, layout, w.db, w.config, symtab, strtab);
        }
        Synthetic::SectionHeaderNames => out.copy_from_slice(&layout.shstrtab.bytes),
        Synthetic::SectionHeaders => section_headers::write(w, out),
        Synthetic::GnuHash if !out.is_empty() => hash::write_gnu_hash(w, out),
        Synthetic::DynSym => dynsym::write(w, out)?,
        Synthetic::Hash if !out.is_empty() => hash::write_sysv_hash(w, out),
        Synthetic::VerSym => versions::write_versym(layout, out),
        Synthetic::VerDef => layout.dynamic.verdef.write(out),
        Synthetic::VerNeed => versions::write_verneed(layout, out),
        Synthetic::RelrDyn => relr::write(layout, out),
        Synthetic::Plt => {
            let [plt, got_plt, rela_plt] = slices else { unreachable!("three slots for the PLT") };
            plt::write::<A>(w, plt, got_plt, rela_plt);
        }
        Synthetic::Dynamic => dynamic::write(w, out),
        _ => {}
    }
    Ok(())
}
