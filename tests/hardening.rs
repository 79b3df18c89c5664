//! Regression tests for bad input and hostile surroundings (issue 15): every input gets a
//! one-line error or a correct output, never a panic, hang or abort; a failed link leaves
//! the previous output as it was and no stray files.

mod common;

use common::*;
use std::fs;

/// An object whose relocations touch allocated and non-allocated (debug) sections, GOT
/// loads among them (which a relaxation rewrites from three bytes before the field).
const RELOCATIONS_EVERYWHERE: &str = "\
    .text
    .globl f
    .type f,@function
f:  movq ext@GOTPCREL(%rip), %rax
    call *ext2@GOTPCREL(%rip)
    ret
    .data
    .globl ext
ext: .quad 1
    .globl ext2
ext2: .quad 2
    .section .debug_info,\"\",@progbits
    .quad f
    .long f
    .section .debug_x,\"\",@progbits
    movq ext@GOTPCREL(%rip), %rax
    call *ext2@GOTPCREL(%rip)
";

/// Finding 1: a relocation whose offset is near 2^64 (or whose field or instruction
/// starts before its section) is an error naming it, in every section and for every field
/// size and relaxable GOT load, never a panic from an offset that wrapped round.
#[test]
fn relocation_offsets_out_of_range_are_errors_in_every_section() {
    let s = Scratch::new();
    let source = s.write("relocs.s", RELOCATIONS_EVERYWHERE.as_bytes());
    let object = s.path("relocs.o");
    run_ok(std::process::Command::new("gcc").arg("-c").arg(&source).arg("-o").arg(&object));
    let pristine = fs::read(&object).unwrap();
    let link = |bytes: &[u8]| {
        let damaged = s.write("damaged.o", bytes);
        args!["-nostdlib", damaged]
    };
    // The undamaged object links.
    link_chainlink(&s.path("fine.so"), &link(&pristine));
    let entries = elf::all_rela_entries(&pristine);
    assert_eq!(entries.len(), 6, "{entries:?}");
    for (entry, section) in entries {
        for offset in [u64::MAX, u64::MAX - 1, u64::MAX - 3, u64::MAX - 7, 1u64 << 63, 0x1000] {
            let mut bytes = pristine.clone();
            elf::put_u64(&mut bytes, entry, offset);
            let message = assert_link_fails(&s, &link(&bytes), 1, &["damaged.o", &section], None);
            assert!(
                message.contains("outside its section") || message.contains("past the end"),
                "{section} offset {offset:#x}: {message}"
            );
        }
    }
}

/// Finding 2: a GNU ld script's nesting is data, not recursion: 10,000 nested
/// `AS_NEEDED (` lists link (they overflowed the stack), and scripts naming themselves, even
/// several times over, are an error at once.
#[test]
fn deeply_nested_and_looping_linker_scripts() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let depth = 10_000;
    let nested = format!("GROUP ( {} {} {} )\n", "AS_NEEDED ( ".repeat(depth), util.display(), ") ".repeat(depth));
    let script = s.write("libdeep.so", nested.as_bytes());
    let out = link_chainlink(&s.path("deep.so"), &args![main, script]);
    assert!(exported_symbols(&out).contains(&"util_counter".to_string()), "{:?}", exported_symbols(&out));
    let unclosed = s.write("libunclosed.so", format!("GROUP ( {}", "AS_NEEDED ( ".repeat(depth)).as_bytes());
    assert_link_fails(&s, &args![main, unclosed], 1, &["libunclosed.so", "missing `)`"], None);
    // INPUT(self self): 2^16 reads of itself if only the depth were bounded.
    let looping = s.path("libloop.so");
    fs::write(&looping, format!("INPUT ( {0} {0} )\n", looping.display())).unwrap();
    assert_link_fails(&s, &args![main, looping], 1, &["libloop.so", "linker scripts"], None);
}
