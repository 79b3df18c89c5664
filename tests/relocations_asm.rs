//! Exact relocation types from hand-written assembly. Each testdata/asm_*.s defines
//! `long asm_case(long)`, computing one value per case through the relocations under test,
//! against targets in asm_targets.c (global and hidden symbols in another object), file-local
//! symbols and section symbols; asm_targets.c's chainlink_test prints every case. Each test
//! first checks that the assembled object really contains the relocation types it is about.

mod common;

use common::*;

/// Assembles `asm_<name>.s` with `flags`, checks its relocation types are exactly
/// `expected_types` (as a set), then links it with asm_targets.c both ways and checks that
/// the cases print `expected_cases` (index: value).
fn check(name: &str, flags: &[&str], expected_types: &[&str], expected_cases: &[u64]) {
    let s = Scratch::new();
    let targets = s.compile("asm_targets.c", &["-O2"]);
    let object = s.compile(&format!("asm_{name}.s"), flags);
    let mut found = relocation_types(&object);
    found.sort();
    found.dedup();
    let mut expected: Vec<String> = expected_types.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected, "relocation types in asm_{name}.o");
    let mut output = String::new();
    for (index, value) in expected_cases.iter().enumerate() {
        output.push_str(&format!("case {index}: {value:#x}\n"));
    }
    let linked = assert_links_and_runs(&s, name, &args![targets, object], &loaded(&output));
    let dynamic = dynamic_entries(&linked.chainlink);
    assert!(
        !dynamic.iter().any(|(tag, value)| tag == "TEXTREL" || value.contains("TEXTREL")),
        "chainlink output has text relocations: {dynamic:?}"
    );
}

#[test]
fn r_x86_64_64() {
    // Table in .data: global data, hidden data + 8, section symbol + 8, global function,
    // hidden function, the table's own address.
    check("abs64", &[], &["R_X86_64_64", "R_X86_64_PC32"], &[0x1111, 0x2323, 0x4545, 0x77, 0x88, 1]);
}

#[test]
fn pc32() {
    // rip-relative loads of hidden data (+0, +8) and a section symbol, 32-bit pc-relative
    // words in .data against a hidden symbol and a section symbol, lea of a hidden function.
    check("pc32", &[], &["R_X86_64_PC32"], &[0x2222, 0x2323, 0x4545, 0x5555, 0x4545, 0x88]);
}

#[test]
fn plt32() {
    // Tail calls to a global and a hidden function, a call into libc (strlen of a
    // 13-character string), a call without @PLT.
    check("plt32", &[], &["R_X86_64_PLT32", "R_X86_64_PC32"], &[0x77, 0x88, 13, 0x78]);
}

#[test]
fn gotpcrel_unrelaxable() {
    // Plain GOTPCREL (assembled without relaxable relocations): global data, hidden data,
    // global function, file-local symbol.
    check("gotpcrel", &["-Wa,-mrelax-relocations=no"], &["R_X86_64_GOTPCREL"], &[0x1111, 0x2323, 0x77, 0x4444]);
}

#[test]
fn gotpcrelx_and_rex_gotpcrelx() {
    // mov/call/jmp/add/cmp through the GOT against global, hidden and file-local symbols
    // (relaxable against the non-preemptible ones).
    check(
        "gotpcrelx",
        &[],
        &["R_X86_64_GOTPCRELX", "R_X86_64_REX_GOTPCRELX", "R_X86_64_PC32"],
        &[0x1111, 0x2222, 0x77, 0x88, 0x88, 0x77, 0x2323, 0x2323, 0x4444, 1],
    );
}

#[test]
fn pc64() {
    // 64-bit pc-relative words in .data: hidden rodata, section symbol + 8, hidden function,
    // hidden data with a negative addend.
    check("pc64", &[], &["R_X86_64_PC64", "R_X86_64_PC32"], &[0x5555, 0x4545, 0x88, 0x2323]);
}

#[test]
fn gotoff64_and_gotpc32() {
    // GOT base from `lea _GLOBAL_OFFSET_TABLE_(%rip)`, then 64-bit GOT-relative offsets of
    // hidden data, a section symbol + 8, a hidden function, hidden rodata.
    check("gotoff64", &[], &["R_X86_64_GOTPC32", "R_X86_64_GOTOFF64"], &[0x2222, 0x4545, 0x88, 0x5555]);
}

#[test]
fn gotpc64_pltoff64_got64() {
    // GOT base from a 64-bit pc-relative offset, calls through PLTOFF64 (global, hidden,
    // libc strlen of "gotpc64"), a GOT64 entry offset, GOTOFF64 from that base, and the two
    // ways of computing the GOT base agreeing.
    check(
        "gotpc64",
        &[],
        &[
            "R_X86_64_GOTPC64",
            "R_X86_64_PLTOFF64",
            "R_X86_64_GOT64",
            "R_X86_64_GOTOFF64",
            "R_X86_64_GOTPC32",
            "R_X86_64_PC32",
        ],
        &[0x77, 0x88, 7, 0x1111, 0x2323, 1],
    );
}

#[test]
fn size32_and_size64() {
    // Sizes: SIZE32 in data of a global (123), SIZE32 in code of a hidden symbol (45),
    // SIZE64 in data of the global, SIZE64 + 1000 in code of the hidden one, and the size
    // of a file-local symbol (48, which gas resolves itself).
    check("size", &[], &["R_X86_64_SIZE32", "R_X86_64_SIZE64", "R_X86_64_PC32"], &[123, 45, 123, 1045, 48]);
}
