//! The seam between the generic link phases and a target architecture.
//!
//! Generic code reasons about relocations only through [`RelocExpr`] (what value a relocation
//! computes) and asks the architecture for instruction rewrites, PLT stubs and dynamic
//! relocation type numbers. No generic phase may name an architecture's constants.

pub mod x86_64;

/// The architecture chainlink links for (the only one so far).
pub type Target = x86_64::X86_64;

use object::elf::{Machine, RelocationType};

/// What a relocation computes, in the psABI's notation: S symbol address, A addend, P place,
/// G offset of the symbol's GOT entry from the GOT base, GOT the GOT base
/// (`_GLOBAL_OFFSET_TABLE_`), L the symbol's PLT entry, Z the symbol's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocExpr {
    /// Nothing to write (R_X86_64_NONE, the TLSDESC call marker).
    None,
    /// S + A, absolute. Becomes a dynamic relocation in allocated sections.
    Absolute,
    /// S + A - P.
    PcRelative,
    /// L + A - P when the symbol needs a PLT entry, else S + A - P.
    PltPcRelative,
    /// Address of the symbol's GOT entry + A - P. `relaxable` when the instruction may be
    /// rewritten to address the symbol directly if it binds locally.
    GotPcRelative { relaxable: bool },
    /// G + A: the GOT entry's offset from the GOT base.
    GotOffset,
    /// GOT + A - P.
    GotBasePcRelative,
    /// S + A - GOT.
    OffsetFromGotBase,
    /// L + A - GOT (or S + A - GOT when no PLT entry is needed).
    PltOffsetFromGotBase,
    /// Z + A.
    Size,
    /// Address of the symbol's general-dynamic GOT pair + A - P.
    TlsGeneralDynamic,
    /// Address of the module's local-dynamic GOT pair + A - P.
    TlsLocalDynamic,
    /// S + A - start of the TLS block (offset inside the module's TLS block).
    DtpOffset,
    /// Address of the symbol's initial-exec (TPOFF) GOT entry + A - P.
    TlsInitialExec,
    /// Address of the symbol's TLS descriptor in the GOT + A - P.
    TlsDescriptor,
    /// Local-exec offsets from the thread pointer: impossible in a shared library.
    TpOffset,
}

/// How a written value must fit its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    None,
    Signed,
    Unsigned,
}

#[derive(Clone, Copy, Debug)]
pub struct RelocInfo {
    pub expr: RelocExpr,
    /// Width of the field in bytes (1, 2, 4 or 8).
    pub size: u8,
    pub overflow: Overflow,
}

/// Dynamic relocations the linker emits, in architecture-neutral terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynReloc {
    Relative,
    Absolute,
    GlobDat,
    JumpSlot,
    DtpMod,
    DtpOff,
    TpOff,
    TlsDesc,
    /// The value is the result of calling the resolver at the addend (GNU indirect function).
    IRelative,
}

/// A target architecture. Implementations are zero-sized; all methods are static.
pub trait Arch: Sync + Send + 'static {
    /// ELF `e_machine` value.
    const MACHINE: Machine;
    const NAME: &'static str;
    /// The section flag of the medium and large code models' large data (`.ldata`,
    /// `.lbss`), kept on output sections and out of the base region; 0 when there is none.
    const LARGE_SECTION_FLAG: u64;
    const PLT_HEADER_SIZE: usize;
    const PLT_ENTRY_SIZE: usize;

    /// How the relocation type is computed, or `None` when it is not supported.
    fn reloc_info(r_type: RelocationType) -> Option<RelocInfo>;

    /// The psABI name of a relocation type, for messages.
    fn reloc_name(r_type: RelocationType) -> String;

    /// The dynamic relocation type number.
    fn dyn_reloc_type(kind: DynReloc) -> RelocationType;

    /// How many bytes before its 4-byte displacement a GOT load's relaxation reads and
    /// rewrites: a relaxable load's instruction is those bytes and the displacement
    /// (`crate::input::object_file::reloc_bytes(.., offset, GOT_LOAD_PREFIX, 4)`).
    const GOT_LOAD_PREFIX: u64;

    /// Whether the GOT-indirect instruction `instruction` (`GOT_LOAD_PREFIX` bytes, then
    /// the displacement) may be rewritten to reach a local symbol directly.
    fn can_relax_got_load(r_type: RelocationType, instruction: &[u8]) -> bool;

    /// Writes into `out` the direct form of the input's instruction `input` (both as
    /// above), with `value` (S + A - P) as its displacement. It reads only the input's
    /// bytes, so a rewrite written before (over a stored base region) does not matter.
    fn relax_got_load(input: &[u8], out: &mut [u8], value: i64);

    /// Writes the PLT header into `out` given the addresses of the PLT and `.got.plt`.
    fn write_plt_header(out: &mut [u8], plt_addr: u64, got_plt_addr: u64);

    /// Writes PLT entry `index` (at `entry_addr`) that jumps through `got_slot_addr`.
    fn write_plt_entry(out: &mut [u8], index: u32, entry_addr: u64, got_slot_addr: u64, plt_addr: u64);

    /// The address a lazily bound `.got.plt` slot initially holds: back into its PLT entry.
    fn plt_lazy_target(entry_addr: u64) -> u64;
}
