//! File mappings: mapping an input read-only, and faulting a mapping's pages in bulk.
//!
//! Must not know what the bytes are; it only maps and touches them.

use crate::util::error::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// The page size the output is laid out for, and that mappings are aligned to.
pub const PAGE_SIZE: u64 = 0x1000;

/// Opens and maps a regular, non-empty input file (never blocking on a FIFO or device).
pub fn map_file(path: &Path) -> Result<(File, Mmap)> {
    let file = crate::util::files::open_regular(path, false).map_err(|e| Error::new(format!("cannot open: {e}")))?;
    let len = file.metadata().map_err(|e| Error::new(format!("cannot stat: {e}")))?.len();
    if len == 0 {
        return Err(Error::new("file is empty"));
    }
    // SAFETY: inputs are read-only for the duration of the link; a file truncated under us
    // by another process is outside what any linker can defend against.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::new(format!("cannot map: {e}")))?;
    Ok((file, map))
}

/// Maps in the pages of `bytes` (part of a file mapping) in bulk, for code about to read
/// all of them: faulting them in one by one costs more. Only a hint.
pub fn populate(bytes: &[u8]) {
    populate_pages(bytes.as_ptr() as usize, bytes.len(), libc::MADV_POPULATE_READ);
}

/// `MADV_POPULATE_READ` or `_WRITE` on the pages holding `len` bytes from address `start`,
/// all inside one live mapping. Only a hint: on kernels without it the pages fault as usual.
///
/// It goes 2 MiB at a time: each call holds the process's memory-map lock (for reading)
/// throughout, and a thread that maps or unmaps memory meanwhile (any big allocation)
/// waits for it, and every page fault behind that thread too.
pub fn populate_pages(start: usize, len: usize, advice: libc::c_int) {
    const STEP: usize = 2 << 20;
    let page = PAGE_SIZE as usize;
    let (mut from, end) = (start / page * page, start + len);
    while from < end {
        let to = (from + STEP).min(end);
        // SAFETY: the page-aligned range covers part of the caller's and lies in the same
        // mapping (mappings start on page boundaries); populating reads and changes no
        // byte, so writers of the same pages (through disjoint slices) are unaffected.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, advice);
        }
        from = to;
    }
}
