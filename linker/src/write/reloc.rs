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
/// caller for every relocation (what only some need is asked of [`OnDemand`]).
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
    /// L: the symbol's PLT entry, or S when references need none.
    pub plt: u64,
    /// Where the module's TLS block starts.
    pub tls_start: u64,
}

/// What only some relocations need, asked for only by those: looking it up costs, or
/// fails where the scan planned nothing.
pub trait OnDemand {
    type Error: From<RelocError>;
    /// The address of the symbol's GOT entry of `kind` (for `TlsLd`, the module's).
    fn got_entry(&mut self, kind: GotKind) -> Result<u64, Self::Error>;
    /// Whether this relaxable GOT load is rewritten to address the symbol directly.
    fn relaxes(&mut self) -> bool;
    /// Z: the symbol's size.
    fn size(&mut self) -> u64;
}

/// What a relocation stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// This value, in the relocation's field.
    Field(u64),
    /// A GOT load rewritten to address the symbol directly, with this displacement
    /// (S + A - P, within 32 bits): the instruction is the caller's to rewrite.
    RelaxedGotLoad(u64),
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

/// What a relocation stores (all arithmetic modulo 2^64), checked against its field's
/// width and overflow rule. `Absolute` is S + A even where a dynamic relocation supplies
/// the value at load time.
#[inline(always)]
pub fn value<D: OnDemand>(info: RelocInfo, inputs: &Inputs, on_demand: &mut D) -> Result<Value, D::Error> {
    let Inputs { s, a, p, got, plt, tls_start } = *inputs;
    let a = a as u64;
    let s_a = s.wrapping_add(a);
    let value = match info.expr {
        RelocExpr::None => 0,
        RelocExpr::Absolute => s_a,
        RelocExpr::PcRelative => s_a.wrapping_sub(p),
        RelocExpr::PltPcRelative => plt.wrapping_add(a).wrapping_sub(p),
        RelocExpr::GotPcRelative { relaxable } => {
            if relaxable && on_demand.relaxes() {
                let direct = s_a.wrapping_sub(p);
                return match i32::try_from(direct as i64) {
                    Ok(_) => Ok(Value::RelaxedGotLoad(direct)),
                    Err(_) => Err(RelocError::RelaxedOutOfRange.into()),
                };
            }
            on_demand.got_entry(GotKind::Address)?.wrapping_add(a).wrapping_sub(p)
        }
        RelocExpr::GotOffset => on_demand.got_entry(GotKind::Address)?.wrapping_add(a).wrapping_sub(got),
        RelocExpr::GotBasePcRelative => got.wrapping_add(a).wrapping_sub(p),
        RelocExpr::OffsetFromGotBase => s_a.wrapping_sub(got),
        RelocExpr::PltOffsetFromGotBase => plt.wrapping_add(a).wrapping_sub(got),
        RelocExpr::Size => on_demand.size().wrapping_add(a),
        RelocExpr::TlsGeneralDynamic => on_demand.got_entry(GotKind::TlsGd)?.wrapping_add(a).wrapping_sub(p),
        RelocExpr::TlsLocalDynamic => on_demand.got_entry(GotKind::TlsLd)?.wrapping_add(a).wrapping_sub(p),
        RelocExpr::DtpOffset => s_a.wrapping_sub(tls_start),
        RelocExpr::TlsInitialExec => on_demand.got_entry(GotKind::TlsIe)?.wrapping_add(a).wrapping_sub(p),
        RelocExpr::TlsDescriptor => on_demand.got_entry(GotKind::TlsDesc)?.wrapping_add(a).wrapping_sub(p),
        RelocExpr::TpOffset => return Err(RelocError::LocalExec.into()),
    };
    if fits(value, info.size, info.overflow) {
        Ok(Value::Field(value))
    } else {
        Err(RelocError::Overflow { value, size: info.size }.into())
    }
}

/// Whether `value` fits a field of `size` bytes under `overflow`.
#[inline(always)]
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
#[inline(always)]
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
        Inputs { s: 0x40_1000, a: 0x10, p: 0x20_0000, got: 0x60_0000, plt: 0x1_0020, tls_start: 0x40_0000 }
    }

    fn at(s: u64, a: i64, p: u64) -> Inputs {
        Inputs { s, a, p, ..inputs() }
    }

    /// Answers on demand, and remembers which GOT entries it was asked for.
    struct Fake {
        got_entry: u64,
        relaxes: bool,
        size: u64,
        asked: Vec<GotKind>,
    }

    impl OnDemand for Fake {
        type Error = RelocError;
        fn got_entry(&mut self, kind: GotKind) -> Result<u64, RelocError> {
            self.asked.push(kind);
            Ok(self.got_entry)
        }
        fn relaxes(&mut self) -> bool {
            self.relaxes
        }
        fn size(&mut self) -> u64 {
            self.size
        }
    }

    fn fake() -> Fake {
        Fake { got_entry: 0x60_0040, relaxes: false, size: 0x30, asked: Vec::new() }
    }

    /// The field value of `info` on `inputs` (with `fake()` answers), or why there is none.
    fn field(info: RelocInfo, inputs: &Inputs) -> Result<u64, RelocError> {
        field_with(info, inputs, &mut fake())
    }

    fn field_with(info: RelocInfo, inputs: &Inputs, on_demand: &mut Fake) -> Result<u64, RelocError> {
        match value(info, inputs, on_demand)? {
            Value::Field(value) => Ok(value),
            Value::RelaxedGotLoad(_) => panic!("relaxed"),
        }
    }

    const ABS64: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 8, overflow: Overflow::None };
    const ABS32: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 4, overflow: Overflow::Unsigned };
    const ABS32S: RelocInfo = RelocInfo { expr: RelocExpr::Absolute, size: 4, overflow: Overflow::Signed };
    const PC32: RelocInfo = RelocInfo { expr: RelocExpr::PcRelative, size: 4, overflow: Overflow::Signed };
    const GOTPCRELX: RelocInfo =
        RelocInfo { expr: RelocExpr::GotPcRelative { relaxable: true }, size: 4, overflow: Overflow::Signed };

    #[test]
    fn nothing_is_zero() {
        assert_eq!(field(info(RelocExpr::None, 0, Overflow::None), &inputs()), Ok(0));
    }

    #[test]
    fn absolute_64_is_s_plus_a_modulo_2_64() {
        assert_eq!(field(ABS64, &inputs()), Ok(0x40_1010));
        assert_eq!(field(ABS64, &at(0x1000, -0x2000, 0)), Ok((-0x1000i64) as u64));
        assert_eq!(field(ABS64, &at(u64::MAX, 2, 0)), Ok(1));
    }

    #[test]
    fn absolute_32_is_unsigned() {
        assert_eq!(field(ABS32, &at(0xffff_fff0, 0xf, 0)), Ok(0xffff_ffff));
        assert_eq!(field(ABS32, &at(0xffff_fff0, 0x10, 0)), Err(RelocError::Overflow { value: 1 << 32, size: 4 }));
        // A negative value is out of range for an unsigned field.
        assert!(field(ABS32, &at(0x10, -0x20, 0)).is_err());
    }

    #[test]
    fn absolute_32s_is_signed() {
        assert_eq!(field(ABS32S, &at(0x7fff_fff0, 0xf, 0)), Ok(0x7fff_ffff));
        assert!(field(ABS32S, &at(0x7fff_fff0, 0x10, 0)).is_err());
        assert_eq!(field(ABS32S, &at(0x10, -0x20, 0)), Ok((-0x10i64) as u64));
        assert_eq!(field(ABS32S, &at(0, -(1 << 31), 0)), Ok((-(1i64 << 31)) as u64));
        assert!(field(ABS32S, &at(0, -(1 << 31) - 1, 0)).is_err());
    }

    #[test]
    fn absolute_16_and_8_are_unsigned() {
        let abs16 = info(RelocExpr::Absolute, 2, Overflow::Unsigned);
        let abs8 = info(RelocExpr::Absolute, 1, Overflow::Unsigned);
        assert_eq!(field(abs16, &at(0xfff0, 0xf, 0)), Ok(0xffff));
        assert!(field(abs16, &at(0xfff0, 0x10, 0)).is_err());
        assert_eq!(field(abs8, &at(0xf0, 0xf, 0)), Ok(0xff));
        assert!(field(abs8, &at(0xf0, 0x10, 0)).is_err());
    }

    #[test]
    fn pc32_is_s_plus_a_minus_p_within_2_gib() {
        // A call four bytes before its field's end, forwards and backwards.
        assert_eq!(field(PC32, &at(0x2000, -4, 0x1000)), Ok(0xffc));
        assert_eq!(field(PC32, &at(0x1000, -4, 0x2000)), Ok((-0x1004i64) as u64));
        assert_eq!(field(PC32, &at(0x8000_0000, 0, 0x1)), Ok(0x7fff_ffff));
        assert!(field(PC32, &at(0x8000_0001, 0, 0x1)).is_err());
        assert!(field(PC32, &at(0x1, 0, 0x8000_0002)).is_err());
    }

    #[test]
    fn pc64_never_overflows() {
        let pc64 = info(RelocExpr::PcRelative, 8, Overflow::None);
        assert_eq!(field(pc64, &at(0x1_0000_0000_0000, 0, 0x1000)), Ok(0xffff_ffff_f000));
        assert_eq!(field(pc64, &at(0, 0, 0x1000)), Ok((-0x1000i64) as u64));
    }

    #[test]
    fn plt32_goes_through_the_plt_entry_given() {
        let plt32 = info(RelocExpr::PltPcRelative, 4, Overflow::Signed);
        assert_eq!(field(plt32, &inputs()), Ok(0x1_0030u64.wrapping_sub(0x20_0000)));
        // Without a PLT entry, L is S: the same as PC32.
        let direct = Inputs { plt: 0x40_1000, ..inputs() };
        assert_eq!(field(plt32, &direct), field(PC32, &direct));
    }

    #[test]
    fn gotpcrel_addresses_the_got_entry() {
        let gotpcrel = info(RelocExpr::GotPcRelative { relaxable: false }, 4, Overflow::Signed);
        let mut asked = fake();
        assert_eq!(field_with(gotpcrel, &inputs(), &mut asked), Ok(0x40_0050));
        // Relaxable but not relaxed (the symbol may be preempted, say).
        assert_eq!(field_with(GOTPCRELX, &inputs(), &mut asked), Ok(0x40_0050));
        assert_eq!(asked.asked, [GotKind::Address, GotKind::Address]);
        let gotpcrel64 = info(RelocExpr::GotPcRelative { relaxable: false }, 8, Overflow::None);
        assert_eq!(field(gotpcrel64, &at(0, -4, 0x60_0000)), Ok(0x3c));
    }

    #[test]
    fn a_relaxed_got_load_addresses_the_symbol() {
        let mut relaxing = Fake { relaxes: true, ..fake() };
        assert_eq!(value(GOTPCRELX, &inputs(), &mut relaxing), Ok(Value::RelaxedGotLoad(0x20_1010)));
        let behind = at(0, -4, 0x1000);
        assert_eq!(value(GOTPCRELX, &behind, &mut relaxing), Ok(Value::RelaxedGotLoad((-0x1004i64) as u64)));
        let far = at(0x1_0000_0000, 0x10, 0x20_0000);
        assert_eq!(value(GOTPCRELX, &far, &mut relaxing), Err(RelocError::RelaxedOutOfRange));
        // No GOT entry is needed, or looked up (there may be none).
        assert!(relaxing.asked.is_empty());
        // A GOT load that may not be rewritten is not, even where the rewrite would do.
        let gotpcrel = info(RelocExpr::GotPcRelative { relaxable: false }, 4, Overflow::Signed);
        assert_eq!(field_with(gotpcrel, &inputs(), &mut relaxing), Ok(0x40_0050));
    }

    #[test]
    fn got_offsets_are_from_the_got_base() {
        let got32 = info(RelocExpr::GotOffset, 4, Overflow::Signed);
        assert_eq!(field(got32, &inputs()), Ok(0x50));
        let gotpc32 = info(RelocExpr::GotBasePcRelative, 4, Overflow::Signed);
        let mut asked = fake();
        assert_eq!(field_with(gotpc32, &inputs(), &mut asked), Ok(0x40_0010));
        assert!(asked.asked.is_empty());
    }

    #[test]
    fn gotoff64_and_pltoff64_are_from_the_got_base() {
        let gotoff64 = info(RelocExpr::OffsetFromGotBase, 8, Overflow::None);
        assert_eq!(field(gotoff64, &inputs()), Ok((0x40_1010i64 - 0x60_0000) as u64));
        let pltoff64 = info(RelocExpr::PltOffsetFromGotBase, 8, Overflow::None);
        assert_eq!(field(pltoff64, &inputs()), Ok((0x1_0030i64 - 0x60_0000) as u64));
    }

    #[test]
    fn size_is_z_plus_a() {
        let size32 = info(RelocExpr::Size, 4, Overflow::Unsigned);
        let size64 = info(RelocExpr::Size, 8, Overflow::None);
        let big = || Fake { size: 1 << 40, ..fake() };
        assert_eq!(field(size32, &inputs()), Ok(0x40));
        assert_eq!(field_with(size64, &inputs(), &mut big()), Ok((1 << 40) + 0x10));
        assert!(field_with(size32, &inputs(), &mut big()).is_err());
    }

    #[test]
    fn tls_got_relocations_address_their_entry() {
        for (expr, kind) in [
            (RelocExpr::TlsGeneralDynamic, GotKind::TlsGd),
            (RelocExpr::TlsLocalDynamic, GotKind::TlsLd),
            (RelocExpr::TlsInitialExec, GotKind::TlsIe),
            (RelocExpr::TlsDescriptor, GotKind::TlsDesc),
        ] {
            let mut asked = fake();
            assert_eq!(field_with(info(expr, 4, Overflow::Signed), &at(0, -4, 0x60_0000), &mut asked), Ok(0x3c));
            assert_eq!(asked.asked, [kind], "{expr:?}");
        }
    }

    #[test]
    fn dtpoff_is_from_the_tls_block() {
        let dtpoff32 = info(RelocExpr::DtpOffset, 4, Overflow::Signed);
        let dtpoff64 = info(RelocExpr::DtpOffset, 8, Overflow::None);
        assert_eq!(field(dtpoff32, &inputs()), Ok(0x1010));
        assert_eq!(field(dtpoff64, &at(0x40_0000, 8, 0)), Ok(8));
    }

    #[test]
    fn local_exec_tls_has_no_value() {
        for size in [4, 8] {
            let tpoff = info(RelocExpr::TpOffset, size, Overflow::Signed);
            assert_eq!(field(tpoff, &inputs()), Err(RelocError::LocalExec));
        }
    }

    #[test]
    fn a_failed_lookup_is_the_error() {
        struct Unplanned;
        impl OnDemand for Unplanned {
            type Error = RelocError;
            fn got_entry(&mut self, _: GotKind) -> Result<u64, RelocError> {
                Err(RelocError::LocalExec)
            }
            fn relaxes(&mut self) -> bool {
                false
            }
            fn size(&mut self) -> u64 {
                0
            }
        }
        let got32 = info(RelocExpr::GotOffset, 4, Overflow::Signed);
        assert_eq!(value(got32, &inputs(), &mut Unplanned), Err(RelocError::LocalExec));
        assert_eq!(value(PC32, &inputs(), &mut Unplanned), Ok(Value::Field(0x20_1010)));
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
