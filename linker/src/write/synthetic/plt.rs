//! The procedure linkage table with its `.got.plt` slots and `.rela.plt` relocations:
//! the architecture's stubs (`Arch::write_plt_header`, `write_plt_entry`), each slot's
//! lazy target, and a `JUMP_SLOT` (or, for a local indirect function, `IRELATIVE`)
//! relocation per entry. Which symbols have entries is the scan's plan; must not encode
//! instructions itself.

use crate::arch::{Arch, DynReloc};
use crate::scan::SymRef;
use crate::sections::Synthetic;
use crate::write::{Put, RelaWriter, Writer};

pub(super) fn write<A: Arch>(w: &Writer, plt_out: &mut [u8], got_plt: &mut [u8], rela_plt: &mut [u8]) {
    let layout = w.layout;
    let mut rela_plt = RelaWriter::new(rela_plt);
    let plt = layout.section(Synthetic::Plt).addr;
    let got_plt_addr = layout.section(Synthetic::GotPlt).addr;
    got_plt.put64(0, layout.section(Synthetic::Dynamic).addr);
    if !w.plan.plt.is_empty() {
        A::write_plt_header(&mut plt_out[..A::PLT_HEADER_SIZE], plt, got_plt_addr);
    }
    for (i, &target) in w.plan.plt.iter().enumerate() {
        let entry_offset = A::PLT_HEADER_SIZE + A::PLT_ENTRY_SIZE * i;
        let entry_addr = plt + entry_offset as u64;
        let slot_addr = got_plt_addr + 8 * (3 + i as u64);
        A::write_plt_entry(
            &mut plt_out[entry_offset..entry_offset + A::PLT_ENTRY_SIZE],
            i as u32,
            entry_addr,
            slot_addr,
            plt,
        );
        got_plt.put64(8 * (3 + i), A::plt_lazy_target(entry_addr));
        match target {
            SymRef::Global(id) if i < w.plan.plt_ifunc_start => {
                let dynsym = layout.dynamic.dynsym_index[id.0 as usize];
                rela_plt.push::<A>(slot_addr, dynsym, DynReloc::JumpSlot, 0);
            }
            _ => {
                let resolver = layout.resolved_address(w.db, target).unwrap_or(0);
                rela_plt.push::<A>(slot_addr, 0, DynReloc::IRelative, resolver as i64);
            }
        }
    }
}
