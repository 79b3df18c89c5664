//! The command's memory allocator: the system's, except that blocks of 2 MiB and more are
//! mapped on their own and asked for transparent huge pages (`MADV_HUGEPAGE`).
//!
//! A link builds a few big tables (globals, relocations, symbol tables) once and fills
//! them at once; in 4 KiB pages each page costs a fault (about 2 µs on the virtual
//! machines we measure on, 6 µs when the host has not backed the memory yet), in 2 MiB
//! pages a fault covers 512 of them. (Where the kernel has no free huge page it compacts
//! memory first, or falls back to small pages, as `/sys/kernel/mm/transparent_hugepage`
//! says; with THP off the advice does nothing.) Must not: change what is allocated or when, hand
//! out memory that is not zeroed where zeroed memory was asked for, or be used by the
//! library (a library does not choose its users' allocator).

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this big are mapped on their own, in whole multiples of it (so that the
/// kernel can place them on huge-page boundaries).
const BIG: usize = 2 << 20;
/// The alignment a fresh mapping always has.
const PAGE: usize = 4096;

pub struct HugeBlocks;

fn is_big(size: usize, align: usize) -> bool {
    size >= BIG && align <= PAGE
}

fn mapped_len(size: usize) -> usize {
    size.div_ceil(BIG) * BIG
}

/// A fresh, zeroed mapping of `len` bytes (a multiple of `BIG`), or null.
unsafe fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping aliases nothing; advice is only a hint.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if at == libc::MAP_FAILED {
            return std::ptr::null_mut();
        }
        libc::madvise(at, len, libc::MADV_HUGEPAGE);
        at.cast()
    }
}

// SAFETY: big blocks are whole mappings of their own, known by their layout's size (the
// same rounding on the way in and out); everything else is the system allocator's.
unsafe impl GlobalAlloc for HugeBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_big(layout.size(), layout.align()) {
            // SAFETY: see `map`.
            unsafe { map(mapped_len(layout.size())) }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_big(layout.size(), layout.align()) {
            // SAFETY: fresh anonymous mappings read as zeros.
            unsafe { map(mapped_len(layout.size())) }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_big(layout.size(), layout.align()) {
            // SAFETY: `ptr` is a whole mapping of this length, made by `map`.
            unsafe { libc::munmap(ptr.cast(), mapped_len(layout.size())) };
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        match (is_big(layout.size(), align), is_big(new_size, align)) {
            // SAFETY: forwarded unchanged.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            (true, true) => {
                let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
                if old_len == new_len {
                    return ptr;
                }
                // SAFETY: `ptr` is a whole mapping of `old_len` bytes; the kernel moves or
                // grows it (keeping its advice), zero-filling what is new.
                let moved = unsafe { libc::mremap(ptr.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
                if moved == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    moved.cast()
                }
            }
            _ => {
                // Across the threshold: a new block, the bytes both have, the old one freed.
                // SAFETY: `new_size` is non-zero (`realloc`'s contract) with the same
                // alignment; both blocks are live while copying and do not overlap.
                unsafe {
                    let new_layout = Layout::from_size_align_unchecked(new_size, align);
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_blocks_keep_their_bytes_across_every_kind_of_reallocation() {
        let allocator = HugeBlocks;
        let sizes = [100, BIG - 1, BIG, BIG + 1, 3 * BIG + 5, 64, 5 * BIG];
        // SAFETY: each block is used within its current size and freed with its layout.
        unsafe {
            let mut layout = Layout::from_size_align(sizes[0], 8).unwrap();
            let mut block = allocator.alloc_zeroed(layout);
            assert!(!block.is_null());
            assert!((0..layout.size()).all(|i| *block.add(i) == 0));
            for (i, byte) in (0..layout.size()).map(|i| (i, i as u8)) {
                *block.add(i) = byte;
            }
            for &size in &sizes[1..] {
                let kept = layout.size().min(size);
                block = allocator.realloc(block, layout, size);
                assert!(!block.is_null(), "realloc to {size}");
                layout = Layout::from_size_align(size, 8).unwrap();
                assert!((0..kept).all(|i| *block.add(i) == i as u8), "bytes kept in a realloc to {size}");
                for i in kept..size {
                    *block.add(i) = i as u8;
                }
            }
            allocator.dealloc(block, layout);
            let big = Layout::from_size_align(3 * BIG, 4096).unwrap();
            let zeroed = allocator.alloc_zeroed(big);
            assert!((0..big.size()).step_by(4093).all(|i| *zeroed.add(i) == 0));
            allocator.dealloc(zeroed, big);
        }
    }
}
