//! x86-64 (psABI) specifics: relocation semantics, GOT-load relaxation, PLT stubs and
//! dynamic relocation numbers. Must not know about sections, symbols or layout.

use super::{Arch, DynReloc, Overflow, RelocExpr, RelocInfo};
use object::elf::{self, Machine, RelocationType};

pub struct X86_64;

const fn info(expr: RelocExpr, size: u8, overflow: Overflow) -> Option<RelocInfo> {
    Some(RelocInfo { expr, size, overflow })
}

impl Arch for X86_64 {
    const MACHINE: Machine = elf::EM_X86_64;
    const NAME: &'static str = "x86-64";
    /// `SHF_X86_64_LARGE` (psABI: sections of the medium and large code models).
    const LARGE_SECTION_FLAG: u64 = 0x1000_0000;
    const PLT_HEADER_SIZE: usize = 16;
    const PLT_ENTRY_SIZE: usize = 16;
    const GOT_LOAD_PREFIX: u64 = 3;

    fn reloc_info(r_type: RelocationType) -> Option<RelocInfo> {
        use Overflow::*;
        use RelocExpr::*;
        match r_type {
            elf::R_X86_64_NONE | elf::R_X86_64_TLSDESC_CALL => info(RelocExpr::None, 0, Overflow::None),
            elf::R_X86_64_64 => info(Absolute, 8, Overflow::None),
            elf::R_X86_64_32 => info(Absolute, 4, Unsigned),
            elf::R_X86_64_32S => info(Absolute, 4, Signed),
            elf::R_X86_64_16 => info(Absolute, 2, Unsigned),
            elf::R_X86_64_8 => info(Absolute, 1, Unsigned),
            elf::R_X86_64_PC64 => info(PcRelative, 8, Overflow::None),
            elf::R_X86_64_PC32 => info(PcRelative, 4, Signed),
            elf::R_X86_64_PC16 => info(PcRelative, 2, Signed),
            elf::R_X86_64_PC8 => info(PcRelative, 1, Signed),
            elf::R_X86_64_PLT32 => info(PltPcRelative, 4, Signed),
            elf::R_X86_64_GOTPCREL => info(GotPcRelative { relaxable: false }, 4, Signed),
            elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX => info(GotPcRelative { relaxable: true }, 4, Signed),
            elf::R_X86_64_CODE_4_GOTPCRELX | elf::R_X86_64_CODE_5_GOTPCRELX | elf::R_X86_64_CODE_6_GOTPCRELX => {
                info(GotPcRelative { relaxable: false }, 4, Signed)
            }
            elf::R_X86_64_GOTPCREL64 => info(GotPcRelative { relaxable: false }, 8, Overflow::None),
            elf::R_X86_64_GOT32 => info(GotOffset, 4, Signed),
            elf::R_X86_64_GOT64 | elf::R_X86_64_GOTPLT64 => info(GotOffset, 8, Overflow::None),
            elf::R_X86_64_GOTPC32 => info(GotBasePcRelative, 4, Signed),
            elf::R_X86_64_GOTPC64 => info(GotBasePcRelative, 8, Overflow::None),
            elf::R_X86_64_GOTOFF64 => info(OffsetFromGotBase, 8, Overflow::None),
            elf::R_X86_64_PLTOFF64 => info(PltOffsetFromGotBase, 8, Overflow::None),
            elf::R_X86_64_SIZE32 => info(Size, 4, Unsigned),
            elf::R_X86_64_SIZE64 => info(Size, 8, Overflow::None),
            elf::R_X86_64_TLSGD => info(TlsGeneralDynamic, 4, Signed),
            elf::R_X86_64_TLSLD => info(TlsLocalDynamic, 4, Signed),
            elf::R_X86_64_DTPOFF32 => info(DtpOffset, 4, Signed),
            elf::R_X86_64_DTPOFF64 => info(DtpOffset, 8, Overflow::None),
            elf::R_X86_64_GOTTPOFF | elf::R_X86_64_CODE_4_GOTTPOFF | elf::R_X86_64_CODE_5_GOTTPOFF => {
                info(TlsInitialExec, 4, Signed)
            }
            elf::R_X86_64_GOTPC32_TLSDESC | elf::R_X86_64_CODE_4_GOTPC32_TLSDESC => info(TlsDescriptor, 4, Signed),
            elf::R_X86_64_TPOFF32 => info(TpOffset, 4, Signed),
            elf::R_X86_64_TPOFF64 => info(TpOffset, 8, Overflow::None),
            _ => Option::None,
        }
    }

    fn reloc_name(r_type: RelocationType) -> String {
        let name = match r_type {
            elf::R_X86_64_NONE => "R_X86_64_NONE",
            elf::R_X86_64_64 => "R_X86_64_64",
            elf::R_X86_64_PC32 => "R_X86_64_PC32",
            elf::R_X86_64_GOT32 => "R_X86_64_GOT32",
            elf::R_X86_64_PLT32 => "R_X86_64_PLT32",
            elf::R_X86_64_COPY => "R_X86_64_COPY",
            elf::R_X86_64_GLOB_DAT => "R_X86_64_GLOB_DAT",
            elf::R_X86_64_JUMP_SLOT => "R_X86_64_JUMP_SLOT",
            elf::R_X86_64_RELATIVE => "R_X86_64_RELATIVE",
            elf::R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
            elf::R_X86_64_32 => "R_X86_64_32",
            elf::R_X86_64_32S => "R_X86_64_32S",
            elf::R_X86_64_16 => "R_X86_64_16",
            elf::R_X86_64_PC16 => "R_X86_64_PC16",
            elf::R_X86_64_8 => "R_X86_64_8",
            elf::R_X86_64_PC8 => "R_X86_64_PC8",
            elf::R_X86_64_DTPMOD64 => "R_X86_64_DTPMOD64",
            elf::R_X86_64_DTPOFF64 => "R_X86_64_DTPOFF64",
            elf::R_X86_64_TPOFF64 => "R_X86_64_TPOFF64",
            elf::R_X86_64_TLSGD => "R_X86_64_TLSGD",
            elf::R_X86_64_TLSLD => "R_X86_64_TLSLD",
            elf::R_X86_64_DTPOFF32 => "R_X86_64_DTPOFF32",
            elf::R_X86_64_GOTTPOFF => "R_X86_64_GOTTPOFF",
            elf::R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
            elf::R_X86_64_PC64 => "R_X86_64_PC64",
            elf::R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
            elf::R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
            elf::R_X86_64_GOT64 => "R_X86_64_GOT64",
            elf::R_X86_64_GOTPCREL64 => "R_X86_64_GOTPCREL64",
            elf::R_X86_64_GOTPC64 => "R_X86_64_GOTPC64",
            elf::R_X86_64_GOTPLT64 => "R_X86_64_GOTPLT64",
            elf::R_X86_64_PLTOFF64 => "R_X86_64_PLTOFF64",
            elf::R_X86_64_SIZE32 => "R_X86_64_SIZE32",
            elf::R_X86_64_SIZE64 => "R_X86_64_SIZE64",
            elf::R_X86_64_GOTPC32_TLSDESC => "R_X86_64_GOTPC32_TLSDESC",
            elf::R_X86_64_TLSDESC_CALL => "R_X86_64_TLSDESC_CALL",
            elf::R_X86_64_TLSDESC => "R_X86_64_TLSDESC",
            elf::R_X86_64_IRELATIVE => "R_X86_64_IRELATIVE",
            elf::R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
            elf::R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
            elf::R_X86_64_CODE_4_GOTPCRELX => "R_X86_64_CODE_4_GOTPCRELX",
            elf::R_X86_64_CODE_4_GOTTPOFF => "R_X86_64_CODE_4_GOTTPOFF",
            elf::R_X86_64_CODE_4_GOTPC32_TLSDESC => "R_X86_64_CODE_4_GOTPC32_TLSDESC",
            _ => return format!("relocation type {}", r_type.0),
        };
        name.to_string()
    }

    fn dyn_reloc_type(kind: DynReloc) -> RelocationType {
        match kind {
            DynReloc::Relative => elf::R_X86_64_RELATIVE,
            DynReloc::Absolute => elf::R_X86_64_64,
            DynReloc::GlobDat => elf::R_X86_64_GLOB_DAT,
            DynReloc::JumpSlot => elf::R_X86_64_JUMP_SLOT,
            DynReloc::DtpMod => elf::R_X86_64_DTPMOD64,
            DynReloc::DtpOff => elf::R_X86_64_DTPOFF64,
            DynReloc::TpOff => elf::R_X86_64_TPOFF64,
            DynReloc::TlsDesc => elf::R_X86_64_TLSDESC,
            DynReloc::IRelative => elf::R_X86_64_IRELATIVE,
        }
    }

    fn can_relax_got_load(r_type: RelocationType, instruction: &[u8]) -> bool {
        // REX prefix, opcode, ModRM, then the displacement.
        let &[rex, opcode_prefix, opcode, _, _, _, _] = instruction else { return false };
        // ModRM must be RIP-relative (mod 00, r/m 101) for the rewrite to keep its meaning.
        if opcode & 0xc7 != 0x05 {
            return false;
        }
        match r_type {
            // mov foo@GOTPCREL(%rip), %reg  →  lea foo(%rip), %reg
            elf::R_X86_64_REX_GOTPCRELX => opcode_prefix == 0x8b && rex & 0xf0 == 0x40,
            // call/jmp *foo@GOTPCREL(%rip)  →  call/jmp foo ; mov without REX  →  lea
            elf::R_X86_64_GOTPCRELX => {
                opcode_prefix == 0x8b || (opcode_prefix == 0xff && (opcode == 0x15 || opcode == 0x25))
            }
            _ => false,
        }
    }

    fn relax_got_load(input: &[u8], out: &mut [u8], value: i64) {
        // The REX prefix (`out[0]`) stays as it is: it may not even belong to this
        // instruction, and another relocation may have written it.
        let (&[_, opcode_prefix, opcode, ..], [_, out_prefix, out_opcode, field @ ..]) = (input, out) else { return };
        let Ok(field): std::result::Result<&mut [u8; 4], _> = field.try_into() else { return };
        match (opcode_prefix, opcode) {
            (0xff, 0x15) => {
                // addr32 call rel32: the prefix keeps the instruction 6 bytes long.
                *out_prefix = 0x67;
                *out_opcode = 0xe8;
                *field = (value as i32).to_le_bytes();
            }
            (0xff, 0x25) => {
                // jmp rel32; nop. The displacement starts one byte earlier, so it is one larger.
                let [a, b, c, d] = ((value + 1) as i32).to_le_bytes();
                *out_prefix = 0xe9;
                *out_opcode = a;
                *field = [b, c, d, 0x90];
            }
            _ => {
                *out_prefix = 0x8d;
                *out_opcode = opcode;
                *field = (value as i32).to_le_bytes();
            }
        }
    }

    fn write_plt_header(out: &mut [u8], plt_addr: u64, got_plt_addr: u64) {
        // pushq GOT+8(%rip); jmp *GOT+16(%rip); nopl 0(%rax)
        let push_disp = (got_plt_addr + 8).wrapping_sub(plt_addr + 6) as i32;
        let jmp_disp = (got_plt_addr + 16).wrapping_sub(plt_addr + 12) as i32;
        out[0..2].copy_from_slice(&[0xff, 0x35]);
        out[2..6].copy_from_slice(&push_disp.to_le_bytes());
        out[6..8].copy_from_slice(&[0xff, 0x25]);
        out[8..12].copy_from_slice(&jmp_disp.to_le_bytes());
        out[12..16].copy_from_slice(&[0x0f, 0x1f, 0x40, 0x00]);
    }

    fn write_plt_entry(out: &mut [u8], index: u32, entry_addr: u64, got_slot_addr: u64, plt_addr: u64) {
        // jmp *slot(%rip); pushq $index; jmp PLT0
        let jmp_disp = got_slot_addr.wrapping_sub(entry_addr + 6) as i32;
        let back_disp = plt_addr.wrapping_sub(entry_addr + 16) as i32;
        out[0..2].copy_from_slice(&[0xff, 0x25]);
        out[2..6].copy_from_slice(&jmp_disp.to_le_bytes());
        out[6] = 0x68;
        out[7..11].copy_from_slice(&index.to_le_bytes());
        out[11] = 0xe9;
        out[12..16].copy_from_slice(&back_disp.to_le_bytes());
    }

    fn plt_lazy_target(entry_addr: u64) -> u64 {
        entry_addr + 6
    }
}
