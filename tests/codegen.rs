//! Code generation variants: switches big enough for jump tables (PC-relative entries in
//! .rodata against .text; under -fPIC gcc also uses a jump table, not a pointer table, for
//! the switch returning strings), identical string literals in two objects (mergeable .rodata.str sections), a pointer into
//! the middle of a literal; each at -O0 and -O2, with and without
//! -ffunction-sections -fdata-sections.

mod common;

use common::*;

const EXPECTED: &str = "dispatch(0, 10) = 11\n\
                        dispatch(1, 10) = 30\n\
                        dispatch(2, 10) = 101\n\
                        dispatch(3, 10) = 3\n\
                        dispatch(4, 10) = 40\n\
                        dispatch(5, 10) = 222\n\
                        dispatch(6, 10) = 95\n\
                        dispatch(7, 10) = 3\n\
                        dispatch(8, 10) = 100\n\
                        dispatch(9, 10) = -10\n\
                        dispatch(10, 10) = 302\n\
                        dispatch(11, 10) = 100\n\
                        dispatch(12, 10) = 12345\n\
                        names: zero one two three four five six seven many\n\
                        literals: \"chainlink merged literal\" \"chainlink merged literal\" equal contents: yes\n\
                        tail: world (5)\n\
                        buffer: writable buffer\n";

/// Compiles the three codegen fixtures with `flags`, checks that the switches became jump
/// tables (PC32 relocations in a .rodata section), links and runs them.
fn check(name: &str, flags: &[&str]) {
    let s = Scratch::new();
    let main = s.compile("codegen_main.c", flags);
    let switch = s.compile("codegen_switch.c", flags);
    let strings = s.compile("codegen_strings.c", flags);
    let relocations = readelf(&["-r"], &switch);
    let jump_table = relocations
        .split("Relocation section")
        .any(|section| section.starts_with(" '.rela.rodata") && section.contains("R_X86_64_PC32"));
    assert!(jump_table, "codegen_switch.o has no jump table:\n{relocations}");
    assert_links_and_runs(&s, name, &args![main, switch, strings], &loaded(EXPECTED));
}

#[test]
fn o0() {
    check("o0", &["-O0"]);
}

#[test]
fn o2() {
    // At -O2 gcc also splits cg_dispatch into hot and cold (.text.unlikely) parts.
    check("o2", &["-O2"]);
}

#[test]
fn o0_function_sections_merge_constants() {
    check("o0-sections", &["-O0", "-fmerge-constants", "-ffunction-sections", "-fdata-sections"]);
}

#[test]
fn o2_function_sections() {
    check("o2-sections", &["-O2", "-ffunction-sections", "-fdata-sections"]);
}

#[test]
fn mixed_optimisation_levels() {
    let s = Scratch::new();
    let main = s.compile("codegen_main.c", &["-O0"]);
    let switch = s.compile("codegen_switch.c", &["-O2", "-ffunction-sections"]);
    let strings = s.compile("codegen_strings.c", &["-O1", "-fdata-sections"]);
    assert_links_and_runs(&s, "mixed", &args![main, switch, strings], &loaded(EXPECTED));
}
