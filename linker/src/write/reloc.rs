//! Relocation values: a pure function from what a relocation computes (`arch::RelocExpr`,
//! with its field's width and overflow rule) and the addresses it is computed from to the
//! value its field holds, or why it has none; and the field's encoding.
//!
//! Like lld's `getRelocTargetVA`, this only computes: it must not look symbols up, plan
//! GOT or PLT entries, emit dynamic relocations or rewrite instructions (the chunk writer,
//! `chunk.rs`, resolves the inputs and does those), and it must not name an architecture.

use crate::arch::{Overflow, RelocExpr, RelocInfo};
use crate::scan::GotKind;
use std::fmt;

/// What a relocation's value is computed from, in the psABI's notation, resolved by the
/// caller. Fields a relocation does not use may hold anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs {
    /// S: the symbol's address.
    pub s: u64,
    /// A: the addend.
    pub a: i64,
    /// P: the place, the address of the field.
    pub p: u64,
    /// GOT: the GOT base (`_GLOBAL_OFFSET_TABLE_`).
    pub got: u64,
    /// The address of the GOT entry [`got_entry`] names.
    pub got_entry: u64,
    /// L: the symbol's PLT entry, or S when references need none.
    pub plt: u64,
    /// Z: the symbol's size.
    pub size: u64,
    /// Where the module's TLS block starts.
    pub tls_start: u64,
    /// Whether a relaxable GOT load is rewritten to address the symbol directly: its
    /// value is then the displacement S + A - P of the direct instruction.
    pub relax: bool,
}

/// Why a relocation has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocError {
    /// The value does not fit the field under its overflow rule.
    Overflow { value: u64, size: u8 },
    /// The displacement of a GOT load rewritten to a direct one is out of 32-bit range.
    RelaxedOutOfRange,
    /// A local-exec TLS offset: a shared object cannot know it.
    LocalExec,
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            RelocError::Overflow { value, size } => {
                write!(f, "value {:#x} does not fit in {size} bytes", value as i64)
            }
            RelocError::RelaxedOutOfRange => f.write_str("relaxed GOT load is out of range"),
            RelocError::LocalExec => {
                f.write_str("local-exec TLS cannot be used in a shared object; recompile with -fPIC")
            }
        }
    }
}

/// The GOT entry a relocation refers to, whose address goes in [`Inputs::got_entry`]:
/// none for a GOT load that is `relax`ed.
#[inline]
pub fn got_entry(expr: RelocExpr, relax: bool) -> Option<GotKind> {
    match expr {
        RelocExpr::GotPcRelative { .. } if relax => None,
        RelocExpr::GotPcRelative { .. } | RelocExpr::GotOffset => Some(GotKind::Address),
        RelocExpr::TlsGeneralDynamic => Some(GotKind::TlsGd),
        RelocExpr::TlsLocalDynamic => Some(GotKind::TlsLd),
        RelocExpr::TlsInitialExec => Some(GotKind::TlsIe),
        RelocExpr::TlsDescriptor => Some(GotKind::TlsDesc),
        _ => None,
    }
}

/// The value a relocation's field holds (all arithmetic modulo 2^64), checked against the
/// field's width and overflow rule. `Absolute` is S + A even where a dynamic relocation
/// supplies the value at load time.
#[inline]
pub fn value(info: RelocInfo, inputs: &Inputs) -> Result<u64, RelocError> {
    let Inputs { s, a, p, got, got_entry, plt, size, tls_start, relax } = *inputs;
    let a = a as u64;
    let s_a = s.wrapping_add(a);
    let value = match info.expr {
        RelocExpr::None => return Ok(0),
        RelocExpr::Absolute => s_a,
        RelocExpr::PcRelative => s_a.wrapping_sub(p),
        RelocExpr::PltPcRelative => plt.wrapping_add(a).wrapping_sub(p),
        RelocExpr::GotPcRelative { .. } if relax => {
            let direct = s_a.wrapping_sub(p);
            return match i32::try_from(direct as i64) {
                Ok(_) => Ok(direct),
                Err(_) => Err(RelocError::RelaxedOutOfRange),
            };
        }
        RelocExpr::GotPcRelative { .. }
        | RelocExpr::TlsGeneralDynamic
        | RelocExpr::TlsLocalDynamic
        | RelocExpr::TlsInitialExec
        | RelocExpr::TlsDescriptor => got_entry.wrapping_add(a).wrapping_sub(p),
        RelocExpr::GotOffset => got_entry.wrapping_add(a).wrapping_sub(got),
        RelocExpr::GotBasePcRelative => got.wrapping_add(a).wrapping_sub(p),
        RelocExpr::OffsetFromGotBase => s_a.wrapping_sub(got),
        RelocExpr::PltOffsetFromGotBase => plt.wrapping_add(a).wrapping_sub(got),
        RelocExpr::Size => size.wrapping_add(a),
        RelocExpr::DtpOffset => s_a.wrapping_sub(tls_start),
        RelocExpr::TpOffset => return Err(RelocError::LocalExec),
    };
    if fits(value, info.size, info.overflow) {
        Ok(value)
    } else {
        Err(RelocError::Overflow { value, size: info.size })
    }
}

/// Whether `value` fits a field of `size` bytes under `overflow`.
#[inline]
pub fn fits(value: u64, size: u8, overflow: Overflow) -> bool {
    if size >= 8 {
        return true;
    }
    let bits = size as u32 * 8;
    let signed = value as i64;
    match overflow {
        Overflow::None => true,
        Overflow::Signed => signed >= -(1i64 << (bits - 1)) && signed < (1i64 << (bits - 1)),
        Overflow::Unsigned => value < (1u64 << bits),
    }
}

/// Stores the low `size` bytes of `value` at `at` of `out`, little-endian.
#[inline]
pub fn write_field(out: &mut [u8], at: usize, size: u8, value: u64) {
    match size {
        1 => out[at] = value as u8,
        2 => out[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes()),
        4 => out[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes()),
        8 => out[at..at + 8].copy_from_slice(&value.to_le_bytes()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(expr: RelocExpr, size: u8, overflow: Overflow) -> RelocInfo {
        RelocInfo { expr, size, overflow }
    }

    /// Inputs with distinct values everywhere, so that a kind reading the wrong one shows.
    fn inputs() -> Inputs {
        Inputs {
            s: 0x40_1000,
            a: 0x10,
            p: 0x20_0000,
            got: 0x60_0000,
            got_entry: 0x60_0040,
            plt: 0x1_0020,
            size: 0x30,
            tls_start: 0x40_0000,
            relax: false,
        }
    }

    fn at(s: u64, a: i64, p: u64) -> Inputs {
        Inputs { s, a, p, ..inputs() }
    }

    const ABS64: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 8, overflow: Overflow::None };
    const ABS32: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 4, overflow: Overflow::Unsigned };
    const ABS32S: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 4, overflow: Overflow::Signed };
    const PC32: RelocInfo = RelocInfo { expr: RelocExpr::PcRelative, size: 4, overflow: Overflow::Signed };
    const GOTPCRELX: RelocInfo =
        RelocInfo { expr: RelocExpr::GotPcRelative { relaxable: true }, size: 4, overflow: Overflow::Signed };

    #[test]
    fn nothing_is_zero() {
        assert_eq!(value(info(RelocExpr::None, 0, Overflow::None), &inputs()), Ok(0));
    }

    #[test]
    fn absolute_64_is_s_plus_a_modulo_2_64() {
        assert_eq!(value(ABS64, &inputs()), Ok(0x40_1010));
        assert_eq!(value(ABS64, &at(0x1000, -0x2000, 0)), Ok((-0x1000i64) as u64));
        assert_eq!(value(ABS64, &at(u64::MAX, 2, 0)), Ok(1));
    }

    #[test]
    fn absolute_32_is_unsigned() {
        assert_eq!(value(ABS32, &at(0xffff_fff0, 0xf, 0)), Ok(0xffff_ffff));
        assert_eq!(value(ABS32, &at(0xffff_fff0, 0x10, 0)), Err(RelocError::Overflow { value: 1 << 32, size: 4 }));
        // A negative value is out of range for an unsigned field.
        assert!(value(ABS32, &at(0x10, -0x20, 0)).is_err());
    }

    #[test]
    fn absolute_32s_is_signed() {
        assert_eq!(value(ABS32S, &at(0x7fff_fff0, 0xf, 0)), Ok(0x7fff_ffff));
        assert!(value(ABS32S, &at(0x7fff_fff0, 0x10, 0)).is_err());
        assert_eq!(value(ABS32S, &at(0x10, -0x20, 0)), Ok((-0x10i64) as u64));
        assert_eq!(value(ABS32S, &at(0, -(1 << 31), 0)), Ok((-(1i64 << 31)) as u64));
        assert!(value(ABS32S, &at(0, -(1 << 31) - 1, 0)).is_err());
    }

    #[test]
    fn absolute_16_and_8_are_unsigned() {
        let abs16 = info(RelocExpr::Absolute, 2, Overflow::Unsigned);
        let abs8 = info(RelocExpr::Absolute, 1, Overflow::Unsigned);
        assert_eq!(value(abs16, &at(0xfff0, 0xf, 0)), Ok(0xffff));
        assert!(value(abs16, &at(0xfff0, 0x10, 0)).is_err());
        assert_eq!(value(abs8, &at(0xf0, 0xf, 0)), Ok(0xff));
        assert!(value(abs8, &at(0xf0, 0x10, 0)).is_err());
    }

    #[test]
    fn pc32_is_s_plus_a_minus_p_within_2_gib() {
        // A call four bytes before its field's end, forwards and backwards.
        assert_eq!(value(PC32, &at(0x2000, -4, 0x1000)), Ok(0xffc));
        assert_eq!(value(PC32, &at(0x1000, -4, 0x2000)), Ok((-0x1004i64) as u64));
        assert_eq!(value(PC32, &at(0x8000_0000, 0, 0x1)), Ok(0x7fff_ffff));
        assert!(value(PC32, &at(0x8000_0001, 0, 0x1)).is_err());
        assert!(value(PC32, &at(0x1, 0, 0x8000_0002)).is_err());
    }

    #[test]
    fn pc64_never_overflows() {
        let pc64 = info(RelocExpr::PcRelative, 8, Overflow::None);
        assert_eq!(value(pc64, &at(0x1_0000_0000_0000, 0, 0x1000)), Ok(0xffff_ffff_f000));
        assert_eq!(value(pc64, &at(0, 0, 0x1000)), Ok((-0x1000i64) as u64));
    }

    #[test]
    fn plt32_goes_through_the_plt_entry_given() {
        let plt32 = info(RelocExpr::PltPcRelative, 4, Overflow::Signed);
        assert_eq!(value(plt32, &inputs()), Ok(0x1_0030u64.wrapping_sub(0x20_0000)));
        // Without a PLT entry, L is S: the same as PC32.
        let direct = Inputs { plt: 0x40_1000, ..inputs() };
        assert_eq!(value(plt32, &direct), value(PC32, &direct));
    }

    #[test]
    fn gotpcrel_addresses_the_got_entry() {
        let gotpcrel = info(RelocExpr::GotPcRelative { relaxable: false }, 4, Overflow::Signed);
        assert_eq!(value(gotpcrel, &inputs()), Ok(0x40_0050));
        assert_eq!(value(GOTPCRELX, &inputs()), Ok(0x40_0050));
        assert_eq!(got_entry(gotpcrel.expr, false), Some(GotKind::Address));
        assert_eq!(got_entry(GOTPCRELX.expr, false), Some(GotKind::Address));
        let gotpcrel64 = info(RelocExpr::GotPcRelative { relaxable: false }, 8, Overflow::None);
        assert_eq!(value(gotpcrel64, &at(0, -4, 0x60_0000)), Ok(0x3c));
    }

    #[test]
    fn a_relaxed_got_load_addresses_the_symbol() {
        let relaxed = Inputs { relax: true, ..inputs() };
        assert_eq!(got_entry(GOTPCRELX.expr, true), None);
        assert_eq!(value(GOTPCRELX, &relaxed), Ok(0x20_1010));
        let far = Inputs { s: 0x1_0000_0000, ..relaxed };
        assert_eq!(value(GOTPCRELX, &far), Err(RelocError::RelaxedOutOfRange));
        let behind = Inputs { s: 0, a: -4, p: 0x1000, ..relaxed };
        assert_eq!(value(GOTPCRELX, &behind), Ok((-0x1004i64) as u64));
    }

    #[test]
    fn got_offsets_are_from_the_got_base() {
        let got32 = info(RelocExpr::GotOffset, 4, Overflow::Signed);
        assert_eq!(value(got32, &inputs()), Ok(0x50));
        assert_eq!(got_entry(got32.expr, false), Some(GotKind::Address));
        let gotpc32 = info(RelocExpr::GotBasePcRelative, 4, Overflow::Signed);
        assert_eq!(value(gotpc32, &inputs()), Ok(0x40_0010));
        assert_eq!(got_entry(gotpc32.expr, false), None);
    }

    #[test]
    fn gotoff64_and_pltoff64_are_from_the_got_base() {
        let gotoff64 = info(RelocExpr::OffsetFromGotBase, 8, Overflow::None);
        assert_eq!(value(gotoff64, &inputs()), Ok((0x40_1010i64 - 0x60_0000) as u64));
        let pltoff64 = info(RelocExpr::PltOffsetFromGotBase, 8, Overflow::None);
        assert_eq!(value(pltoff64, &inputs()), Ok((0x1_0030i64 - 0x60_0000) as u64));
    }

    #[test]
    fn size_is_z_plus_a() {
        let size32 = info(RelocExpr::Size, 4, Overflow::Unsigned);
        let size64 = info(RelocExpr::Size, 8, Overflow::None);
        assert_eq!(value(size32, &inputs()), Ok(0x40));
        assert_eq!(value(size64, &Inputs { size: 1 << 40, ..inputs() }), Ok((1 << 40) + 0x10));
        assert!(value(size32, &Inputs { size: 1 << 40, ..inputs() }).is_err());
    }

    #[test]
    fn tls_got_relocations_address_their_entry() {
        for (expr, kind) in [
            (RelocExpr::TlsGeneralDynamic, GotKind::TlsGd),
            (RelocExpr::TlsLocalDynamic, GotKind::TlsLd),
            (RelocExpr::TlsInitialExec, GotKind::TlsIe),
            (RelocExpr::TlsDescriptor, GotKind::TlsDesc),
        ] {
            assert_eq!(got_entry(expr, false), Some(kind));
            assert_eq!(value(info(expr, 4, Overflow::Signed), &at(0, -4, 0x60_0000)), Ok(0x3c), "{expr:?}");
        }
    }

    #[test]
    fn dtpoff_is_from_the_tls_block() {
        let dtpoff32 = info(RelocExpr::DtpOffset, 4, Overflow::Signed);
        let dtpoff64 = info(RelocExpr::DtpOffset, 8, Overflow::None);
        assert_eq!(value(dtpoff32, &inputs()), Ok(0x1010));
        assert_eq!(value(dtpoff64, &at(0x40_0000, 8, 0)), Ok(8));
    }

    #[test]
    fn local_exec_tls_has_no_value() {
        for size in [4, 8] {
            let tpoff = info(RelocExpr::TpOffset, size, Overflow::Signed);
            assert_eq!(value(tpoff, &inputs()), Err(RelocError::LocalExec));
        }
    }

    #[test]
    fn errors_read_as_before() {
        let overflow = RelocError::Overflow { value: (-0x10i64) as u64, size: 4 };
        assert_eq!(overflow.to_string(), "value 0xfffffffffffffff0 does not fit in 4 bytes");
        assert_eq!(RelocError::RelaxedOutOfRange.to_string(), "relaxed GOT load is out of range");
    }

    #[test]
    fn fields_are_little_endian_of_their_width() {
        let mut out = [0u8; 12];
        write_field(&mut out, 1, 4, 0x1122_3344_5566_7788);
        assert_eq!(out[..6], [0, 0x88, 0x77, 0x66, 0x55, 0]);
        write_field(&mut out, 4, 8, 0x0102_0304_0506_0708);
        assert_eq!(out[4..12], [8, 7, 6, 5, 4, 3, 2, 1]);
        write_field(&mut out, 0, 2, 0xabcd);
        write_field(&mut out, 2, 1, 0xef);
        assert_eq!(out[..4], [0xcd, 0xab, 0xef, 0x66]);
    }
}
