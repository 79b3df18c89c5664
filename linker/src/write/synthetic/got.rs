//! `.got`: the global offset table's entries (addresses, TLS module ids and offsets, TLS
//! descriptors) and the dynamic relocations that fill them at load time. Writes only the
//! GOT and its slices of `.rela.dyn`; which entries exist is the scan's plan.

use crate::arch::{Arch, DynReloc};
use crate::scan::{GotKind, SymRef};
use crate::sections::Synthetic;
use crate::util::error::{Error, Result};
use crate::write::{Put, RelaWriter, Writer};

/// Writes the GOT into `got`, with its relative and symbolic dynamic relocations.
pub(in crate::write) fn write<A: Arch>(
    w: &Writer,
    got: &mut [u8],
    relative_out: &mut [u8],
    symbolic_out: &mut [u8],
) -> Result<()> {
    let layout = w.layout;
    let got_addr = layout.section(Synthetic::Got).addr;
    let tls_start = layout.tls_start();
    let (mut relative, mut symbolic) = (RelaWriter::new(relative_out), RelaWriter::new(symbolic_out));
    for entry in &w.plan.got {
        let at = 8 * entry.slot as usize;
        let slot_addr = got_addr + at as u64;
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
