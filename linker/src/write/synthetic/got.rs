//! `.got` and `.got.base`: the global offset table's entries (addresses, TLS module ids and
//! offsets, TLS descriptors) and the dynamic relocations that fill them at load time. Writes
//! only the GOT and its slices of `.rela.dyn`; which entries exist, and which are the base
//! GOT's, is the scan's plan.

use crate::arch::{Arch, DynReloc};
use crate::scan::{GotKind, SymRef};
use crate::util::error::{Error, Result};
use crate::write::{Put, RelaWriter, Writer};

/// Writes the GOT into `base_got` (`.got.base`) and `got`, with their relative and
/// symbolic dynamic relocations.
pub(in crate::write) fn write<A: Arch>(
    w: &Writer,
    [base_got, got, relative_out, symbolic_out]: [&mut [u8]; 4],
) -> Result<()> {
    let layout = w.layout;
    let tls_start = layout.tls_start();
    let (mut relative, mut symbolic) = (RelaWriter::new(relative_out), RelaWriter::new(symbolic_out));
    let base_slots = w.plan.base_got_slots;
    for entry in &w.plan.got {
        let slot_addr = layout.got_slot_address(w.plan, entry.slot);
        let (got, at) = match entry.slot.checked_sub(base_slots) {
            Some(slot) => (&mut *got, 8 * slot as usize),
            None => (&mut *base_got, 8 * entry.slot as usize),
        };
        let (preemptible, s, dynsym, absolute) = match entry.target {
            Some(target) => {
                let s = layout.symbol_address(w.db, target).unwrap_or(0);
                let dynsym = match target {
                    SymRef::Global(id) => layout.dynamic.dynsym_index[id.0 as usize],
                    SymRef::Local(..) => 0,
                };
                (w.scanner.is_preemptible(target), s, dynsym, w.facts.is_absolute(w.db, target))
            }
            None => (false, 0, 0, false),
        };
        let tls_offset = s.wrapping_sub(tls_start);
        match entry.kind {
            GotKind::Address if preemptible => symbolic.push::<A>(slot_addr, dynsym, DynReloc::GlobDat, 0),
            GotKind::Address => {
                got.put64(at, s);
                if !absolute && !w.config.pack_relative_relocs {
                    relative.relative::<A>(slot_addr, s);
                }
            }
            GotKind::TlsGd if preemptible => {
                symbolic.push::<A>(slot_addr, dynsym, DynReloc::DtpMod, 0);
                symbolic.push::<A>(slot_addr + 8, dynsym, DynReloc::DtpOff, 0);
            }
            GotKind::TlsGd => {
                symbolic.push::<A>(slot_addr, 0, DynReloc::DtpMod, 0);
                got.put64(at + 8, tls_offset);
            }
            GotKind::TlsLd => symbolic.push::<A>(slot_addr, 0, DynReloc::DtpMod, 0),
            GotKind::TlsIe if preemptible => symbolic.push::<A>(slot_addr, dynsym, DynReloc::TpOff, 0),
            GotKind::TlsIe => symbolic.push::<A>(slot_addr, 0, DynReloc::TpOff, tls_offset as i64),
            GotKind::TlsDesc if preemptible => symbolic.push::<A>(slot_addr, dynsym, DynReloc::TlsDesc, 0),
            GotKind::TlsDesc => symbolic.push::<A>(slot_addr, 0, DynReloc::TlsDesc, tls_offset as i64),
        }
    }
    if !relative.is_full() || !symbolic.is_full() {
        return Err(Error::new("internal error: GOT dynamic relocation count changed between scan and write"));
    }
    Ok(())
}
