//! Offsets and addresses of the output sections, and the program headers that map them.
//! Must not size anything: every section's size is fixed before it runs (but for the
//! headers' own, which it computes from the segment count).

use super::*;

/// Whether a section appears in the output at all (and gets a section header).
fn is_emitted(section: &crate::sections::OutputSection) -> bool {
    match section.synthetic {
        Some(Synthetic::Headers | Synthetic::SectionHeaders) => false,
        Some(Synthetic::DynSym | Synthetic::DynStr | Synthetic::Dynamic) => true,
        Some(Synthetic::SectionHeaderNames) => true,
        _ => section.size > 0,
    }
}

fn segment_flags(class: SegmentClass) -> u32 {
    let (r, w, x) = (elf::PF_R.0, elf::PF_W.0, elf::PF_X.0);
    match class {
        SegmentClass::Headers | SegmentClass::ReadOnly => r,
        SegmentClass::Text => r | x,
        SegmentClass::Relro | SegmentClass::Writable => r | w,
        SegmentClass::NotLoaded => 0,
    }
}

fn program_header_count(layout: &Layout) -> u64 {
    let mut classes: Vec<SegmentClass> = layout
        .sections
        .outputs
        .iter()
        .filter(|s| s.class != SegmentClass::NotLoaded && (is_emitted(s) || s.synthetic == Some(Synthetic::Headers)))
        .map(|s| s.class)
        .collect();
    classes.dedup();
    let loads = classes.len() as u64;
    let tls = layout.sections.outputs.iter().any(|s| s.is_tls() && s.size > 0) as u64;
    let eh = (layout.section(Synthetic::EhFrameHdr).size > 0) as u64;
    let note = (layout.section(Synthetic::BuildId).size > 0) as u64;
    let relro = (layout.segment_options.relro && classes.contains(&SegmentClass::Relro)) as u64;
    // PT_DYNAMIC and PT_GNU_STACK are always present.
    loads + tls + eh + note + relro + 2
}

/// Assigns offsets and addresses to every section and builds the program headers.
pub(super) fn assign_addresses(layout: &mut Layout) {
    let phdrs = program_header_count(layout);
    let headers = layout.sections.find(Synthetic::Headers);
    layout.sections.outputs[headers].size = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * phdrs;

    number_sections(layout);
    let (mut segments, tls, relro_segment) = place_sections(layout);
    let extra = special_segments(layout, &mut segments, tls.as_ref(), relro_segment);
    segments.extend(extra);
    debug_assert_eq!(segments.len() as u64, phdrs);
    layout.segments = segments;
    layout.tls = tls;
}

/// Section header indices and names, for the sections that get a header.
fn number_sections(layout: &mut Layout) {
    let mut shstrtab = StringTable::new();
    let mut names = Vec::new();
    let mut next_header = 1u32;
    for section in layout.sections.outputs.iter_mut() {
        section.header_index = 0;
        if is_emitted(section) {
            section.header_index = next_header;
            next_header += 1;
            names.push(shstrtab.add(section.name.as_bytes()));
        }
    }
    let shstrtab_index = layout.sections.find(Synthetic::SectionHeaderNames);
    layout.sections.outputs[shstrtab_index].size = shstrtab.bytes.len() as u64;
    let section_headers = layout.sections.find(Synthetic::SectionHeaders);
    layout.sections.outputs[section_headers].size = SECTION_HEADER_SIZE * next_header as u64;
    layout.shstrtab = shstrtab;
    layout.section_names = names;
}

/// Gives every section its offset and address, page-aligning each change of segment
/// class; returns the `PT_LOAD` segments, the TLS range, and which segment is RELRO.
fn place_sections(layout: &mut Layout) -> (Vec<Segment>, Option<Tls>, Option<usize>) {
    let mut offset = 0u64;
    let mut addr = 0u64;
    let mut current: Option<SegmentClass> = None;
    let mut segments: Vec<Segment> = Vec::new();
    let mut tls: Option<Tls> = None;
    let mut relro_segment = None;
    for section in layout.sections.outputs.iter_mut() {
        let placed =
            is_emitted(section) || matches!(section.synthetic, Some(Synthetic::Headers | Synthetic::SectionHeaders));
        if !placed {
            // Keep empty sections at a sensible address for __start_/__stop_ symbols.
            section.addr = if section.class == SegmentClass::NotLoaded { 0 } else { addr };
            section.offset = offset;
            continue;
        }
        if section.class == SegmentClass::NotLoaded {
            offset = offset.next_multiple_of(section.align);
            section.offset = offset;
            section.addr = 0;
            offset += section.size;
            current = Some(SegmentClass::NotLoaded);
            continue;
        }
        if current != Some(section.class) {
            // Each segment starts on a fresh page, at address == file offset.
            offset = offset.max(addr).next_multiple_of(layout.segment_options.page_size);
            addr = offset;
            current = Some(section.class);
            if section.class == SegmentClass::Relro {
                relro_segment = Some(segments.len());
            }
            segments.push(Segment {
                p_type: elf::PT_LOAD.0,
                flags: segment_flags(section.class),
                offset,
                addr,
                file_size: 0,
                mem_size: 0,
                align: layout.segment_options.page_size,
            });
        }
        let segment = segments.last_mut().expect("pushed above");
        if section.is_nobits() {
            let start = addr.next_multiple_of(section.align);
            section.addr = start;
            section.offset = offset;
            if section.is_tls() {
                extend_tls(&mut tls, section.addr, section.end(), section.align);
                // .tbss takes no room in the image; the sections after it overlap it.
            } else {
                addr = start + section.size;
                segment.mem_size = addr - segment.addr;
            }
            continue;
        }
        offset = offset.next_multiple_of(section.align);
        addr = offset;
        section.offset = offset;
        section.addr = addr;
        offset += section.size;
        addr = offset;
        if section.is_tls() {
            extend_tls(&mut tls, section.addr, section.end(), section.align);
        }
        segment.file_size = offset - segment.offset;
        segment.mem_size = addr - segment.addr;
    }
    layout.file_size = offset;

    (segments, tls, relro_segment)
}

/// The segments that are not `PT_LOAD`: `PT_DYNAMIC`, `PT_NOTE`, `PT_GNU_EH_FRAME`, `PT_TLS`,
/// `PT_GNU_STACK`, `PT_GNU_RELRO` (whose `PT_LOAD` is padded to its page end here).
fn special_segments(
    layout: &Layout,
    segments: &mut [Segment],
    tls: Option<&Tls>,
    relro_segment: Option<usize>,
) -> Vec<Segment> {
    let find = |layout: &Layout, s: Synthetic| {
        let section = layout.section(s);
        (section.offset, section.addr, section.size)
    };
    let mut extra = Vec::new();
    extra.push(Segment::covering(elf::PT_DYNAMIC, elf::PF_R.0 | elf::PF_W.0, find(layout, Synthetic::Dynamic), 8));
    if layout.section(Synthetic::BuildId).size > 0 {
        extra.push(Segment::covering(elf::PT_NOTE, elf::PF_R.0, find(layout, Synthetic::BuildId), 4));
    }
    if layout.section(Synthetic::EhFrameHdr).size > 0 {
        extra.push(Segment::covering(elf::PT_GNU_EH_FRAME, elf::PF_R.0, find(layout, Synthetic::EhFrameHdr), 4));
    }
    if let Some(tls) = tls {
        let tdata_end = layout
            .sections
            .outputs
            .iter()
            .filter(|s| s.is_tls() && !s.is_nobits() && s.size > 0)
            .map(|s| s.end())
            .max()
            .unwrap_or(tls.start);
        let offset = layout.sections.outputs.iter().find(|s| s.is_tls() && s.size > 0).map_or(0, |s| s.offset);
        extra.push(Segment {
            p_type: elf::PT_TLS.0,
            flags: elf::PF_R.0,
            offset,
            addr: tls.start,
            file_size: tdata_end - tls.start,
            mem_size: tls.end - tls.start,
            align: tls.align,
        });
    }
    let options = layout.segment_options;
    extra.push(Segment {
        p_type: elf::PT_GNU_STACK.0,
        flags: elf::PF_R.0 | elf::PF_W.0 | if options.exec_stack { elf::PF_X.0 } else { 0 },
        offset: 0,
        addr: 0,
        file_size: 0,
        mem_size: options.stack_size,
        align: 16,
    });
    // The RELRO segment is padded to its page end (the writable segment starts on the next
    // page), so the loader's page-granular mprotect covers all of it and nothing else.
    if let Some(relro) = relro_segment.filter(|_| options.relro).map(|index| &mut segments[index]) {
        let size = relro.mem_size.next_multiple_of(options.page_size);
        relro.file_size = size;
        relro.mem_size = size;
        extra.push(Segment {
            p_type: elf::PT_GNU_RELRO.0,
            flags: elf::PF_R.0,
            offset: relro.offset,
            addr: relro.addr,
            file_size: size,
            mem_size: size,
            align: 1,
        });
    }
    extra
}

fn extend_tls(tls: &mut Option<Tls>, start: u64, end: u64, align: u64) {
    match tls {
        Some(tls) => {
            tls.end = tls.end.max(end);
            tls.align = tls.align.max(align);
        }
        None => *tls = Some(Tls { start, end, align }),
    }
}
