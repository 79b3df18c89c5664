//! The ELF file header and the program headers at the start of the output, from the
//! layout's segments. Must not decide anything about segments: layout does.

use crate::arch::Arch;
use crate::layout::SECTION_HEADER_SIZE;
use crate::resolve::Definition;
use crate::sections::Synthetic;
use crate::write::{Put, Writer};
use object::elf;

/// Writes the ELF header and the program headers.
pub(super) fn write<A: Arch>(w: &Writer, out: &mut [u8]) {
    let layout = w.layout;
    let section_headers = layout.section(Synthetic::SectionHeaders);
    let section_count = (section_headers.size / SECTION_HEADER_SIZE) as u16;
    let shstrndx = layout.section(Synthetic::SectionHeaderNames).header_index as u16;
    out[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    if uses_gnu_extensions(w) {
        out[7] = elf::ELFOSABI_GNU.0;
    }
    out.put16(16, elf::ET_DYN.0);
    out.put16(18, A::MACHINE.0);
    out.put32(20, 1);
    out.put64(24, layout.entry);
    out.put64(32, 64);
    out.put64(40, section_headers.offset);
    out.put32(48, 0);
    out.put16(52, 64);
    out.put16(54, 56);
    out.put16(56, layout.segments.len() as u16);
    out.put16(58, SECTION_HEADER_SIZE as u16);
    out.put16(60, section_count);
    out.put16(62, shstrndx);
    for (i, segment) in layout.segments.iter().enumerate() {
        let at = 64 + 56 * i;
        out.put32(at, segment.p_type);
        out.put32(at + 4, segment.flags);
        out.put64(at + 8, segment.offset);
        out.put64(at + 16, segment.addr);
        out.put64(at + 24, segment.addr);
        out.put64(at + 32, segment.file_size);
        out.put64(at + 40, segment.mem_size);
        out.put64(at + 48, segment.align);
    }
}

/// `STB_GNU_UNIQUE` and `STT_GNU_IFUNC` exports need the GNU OS ABI in the header.
fn uses_gnu_extensions(w: &Writer) -> bool {
    w.layout.dynamic.dynsym[w.layout.import_count..].iter().any(|&id| match w.db.global(id).definition {
        Definition::Object { file, index } => {
            w.db.object(file)
                .object
                .symbol(index as usize)
                .is_ok_and(|symbol| symbol.st_bind() == elf::STB_GNU_UNIQUE || symbol.st_type() == elf::STT_GNU_IFUNC)
        }
        _ => false,
    })
}
