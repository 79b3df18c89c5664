//! `--compress-debug-sections=zlib|zstd`: the output's `.debug_*` sections stored
//! compressed (`SHF_COMPRESSED`, an `Elf64_Chdr` before the compressed bytes).
//!
//! Runs on the written output, before its build id: the non-loaded sections are the file's
//! tail (nothing loaded moves), so they are compressed, moved up and their section headers
//! rewritten in place, and the file becomes shorter. A section that would not shrink stays
//! as it is, as GNU ld leaves it. Must not touch anything before the tail.

use crate::config::Compression;
use crate::layout::{Layout, SECTION_HEADER_SIZE};
use crate::sections::{SegmentClass, Synthetic};
use crate::util::error::{Error, Result};
use object::elf;
use rayon::prelude::*;
use std::io::Write as _;

/// `Elf64_Chdr`'s size.
const CHDR_SIZE: usize = 24;

/// Where the output's non-loaded tail starts: nothing from there on is loaded.
pub fn tail_start(layout: &Layout) -> u64 {
    let tail = layout.sections.outputs.iter().filter(|o| o.class == SegmentClass::NotLoaded && o.header_index != 0);
    tail.map(|o| o.offset).min().unwrap_or(layout.file_size).min(layout.section(Synthetic::SectionHeaders).offset)
}

/// Compresses the debug sections of the output in `buffer` (the whole file as written)
/// and moves the rest of the tail up; returns the file's new length.
pub fn compress_debug_sections(buffer: &mut [u8], layout: &Layout, kind: Compression) -> Result<u64> {
    let start = tail_start(layout);
    let mut tail: Vec<&crate::sections::OutputSection> =
        layout.sections.outputs.iter().filter(|o| o.header_index != 0 && o.offset >= start && o.size > 0).collect();
    tail.retain(|o| !o.is_nobits());
    tail.sort_by_key(|o| o.offset);
    let compressed: Vec<Option<Vec<u8>>> = tail
        .par_iter()
        .map(|o| {
            if !o.name.starts_with(".debug") {
                return Ok(None);
            }
            let bytes = &buffer[o.offset as usize..(o.offset + o.size) as usize];
            let packed = compress(bytes, kind, o.align)?;
            Ok((packed.len() < bytes.len()).then_some(packed))
        })
        .collect::<Result<_>>()?;
    // Each section moves to a lower (or the same) offset, in order: what is copied never
    // overwrites a section not yet moved.
    let headers = layout.section(Synthetic::SectionHeaders);
    let mut at = start;
    let mut placed = Vec::with_capacity(tail.len());
    for (output, packed) in tail.iter().zip(&compressed) {
        let align = if packed.is_some() { 8 } else { output.align.max(1) };
        let offset = at.next_multiple_of(align);
        buffer[at as usize..offset as usize].fill(0);
        let size = match packed {
            Some(packed) => {
                buffer[offset as usize..offset as usize + packed.len()].copy_from_slice(packed);
                packed.len() as u64
            }
            None => {
                let from = output.offset as usize;
                buffer.copy_within(from..from + output.size as usize, offset as usize);
                output.size
            }
        };
        placed.push((output.header_index, offset, size, packed.is_some()));
        at = offset + size;
    }
    let table = at.next_multiple_of(8);
    buffer[at as usize..table as usize].fill(0);
    let table_size = headers.size as usize;
    buffer.copy_within(headers.offset as usize..headers.offset as usize + table_size, table as usize);
    for (index, offset, size, is_compressed) in placed {
        let entry = table as usize + SECTION_HEADER_SIZE as usize * index as usize;
        if is_compressed {
            let flags = u64::from_le_bytes(buffer[entry + 8..entry + 16].try_into().expect("8 bytes"));
            buffer[entry + 8..entry + 16].copy_from_slice(&(flags | elf::SHF_COMPRESSED.0).to_le_bytes());
            buffer[entry + 48..entry + 56].copy_from_slice(&8u64.to_le_bytes());
        }
        buffer[entry + 24..entry + 32].copy_from_slice(&offset.to_le_bytes());
        buffer[entry + 32..entry + 40].copy_from_slice(&size.to_le_bytes());
    }
    buffer[40..48].copy_from_slice(&table.to_le_bytes());
    Ok(table + table_size as u64)
}

/// `Elf64_Chdr` and the compressed bytes.
fn compress(bytes: &[u8], kind: Compression, align: u64) -> Result<Vec<u8>> {
    let ch_type = match kind {
        Compression::Zlib => elf::ELFCOMPRESS_ZLIB,
        Compression::Zstd => elf::ELFCOMPRESS_ZSTD,
    };
    let mut out = Vec::with_capacity(bytes.len() / 3 + CHDR_SIZE);
    out.extend_from_slice(&ch_type.0.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&align.max(1).to_le_bytes());
    let failed = |e: std::io::Error| Error::new(format!("cannot compress a debug section: {e}"));
    match kind {
        Compression::Zlib => {
            let mut encoder = flate2::write::ZlibEncoder::new(out, flate2::Compression::default());
            encoder.write_all(bytes).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Compression::Zstd => {
            let packed = zstd::bulk::compress(bytes, zstd::DEFAULT_COMPRESSION_LEVEL).map_err(failed)?;
            out.extend_from_slice(&packed);
            Ok(out)
        }
    }
}
