//! Objects of many sections, symbols, relocations and archive members (the shapes
//! `scripts/bench-scaling` times) link into libraries that compute what they should. These
//! cover the paths made linear for issue 13 (writer batches of chunks, output sections found
//! by index, table decoding indexed per object, relocation counts, archive members found by
//! name); how fast they are is the benchmark's business, never a test's.

mod common;

use common::*;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Assembles `source` into `NAME.o`.
fn assemble(s: &Scratch, name: &str, source: &str) -> PathBuf {
    let file = s.write(&format!("{name}.s"), format!("{source}\n.section .note.GNU-stack,\"\",@progbits\n").as_bytes());
    let object = s.path(&format!("{name}.o"));
    run_ok(Command::new("gcc").arg("-c").arg(&file).arg("-o").arg(&object));
    object
}

/// Builds a C program from `body` (with `h`, the dlopen()ed library of argv[1], and
/// `wrong`, a count of failed checks it must print last) and runs it on each library.
fn run_checks(s: &Scratch, name: &str, body: &str, libraries: &[&Path]) -> Vec<String> {
    let source = format!(
        "#include <dlfcn.h>\n#include <stdio.h>\n#include <stdint.h>\n#include \"chainlink_image.h\"\n\
         typedef long (*fn)(void);\n\
         static void *need(void *h, const char *name) {{ void *p = dlsym(h, name);\n\
           if (!p) {{ printf(\"missing %s\\n\", name); }} return p; }}\n\
         int main(int argc, char **argv) {{ (void)argc; void *h = dlopen(argv[1], RTLD_NOW);\n\
           if (!h) {{ puts(dlerror()); return 2; }}\n long wrong = 0; char name[64]; (void)name;\n{body}\n\
           printf(\"wrong %ld\\n\", wrong); return 0; }}\n"
    );
    let c = s.write(&format!("{name}.c"), source.as_bytes());
    let exe = s.path(name);
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    run_ok(Command::new("gcc").arg("-O1").arg("-I").arg(include).arg(&c).arg("-o").arg(&exe).arg("-ldl"));
    libraries.iter().map(|library| run_ok(Command::new(&exe).arg(library))).collect()
}

const SECTIONS: usize = 20_000;
/// Bytes of the relocation-free `.rodata` blob: more than the writer copies through the
/// output's mapping (`write::VERBATIM_WRITE_MIN`), among small `.rodata` sections.
const BLOB: usize = 512 << 10;

/// One function per section (every fourth in a COMDAT group) with a CFI frame, pointer
/// sections (a symbolic and a relative dynamic relocation each), `.bss` sections, small
/// `.rodata` sections and a big relocation-free blob among them.
fn many_sections_source() -> String {
    let mut asm = String::new();
    for k in 0..SECTIONS {
        if k % 4 == 3 {
            writeln!(asm, ".section .text.f{k},\"axG\",@progbits,f{k},comdat\n.weak f{k}").unwrap();
        } else {
            writeln!(asm, ".section .text.f{k},\"ax\",@progbits\n.globl f{k}").unwrap();
        }
        // (Aligned as gcc aligns functions: the writer's batches of chunks have gaps.)
        writeln!(
            asm,
            ".p2align 4\n.type f{k},@function\nf{k}:\nl{k}:\n.cfi_startproc\nmov ${k}, %eax\nret\n.cfi_endproc"
        )
        .unwrap();
        if k % 8 == 0 {
            writeln!(
                asm,
                ".section .data.rel.d{k},\"aw\",@progbits\n.p2align 3\n.globl d{k}\nd{k}: .quad f{k}\n.quad l{k}"
            )
            .unwrap();
        }
        if k % 16 == 0 {
            writeln!(asm, ".section .bss.b{k},\"aw\",@nobits\n.p2align 3\nb{k}: .zero 8").unwrap();
            writeln!(
                asm,
                ".section .text.g{k},\"ax\",@progbits\n.globl g{k}\ng{k}: incq b{k}(%rip)\nmovq b{k}(%rip), %rax\nret"
            )
            .unwrap();
        }
        if k % 32 == 0 {
            writeln!(asm, ".section .rodata.s{k},\"a\",@progbits\n.p2align 3\ns{k}: .quad {}", 7 * k).unwrap();
            writeln!(asm, ".section .text.r{k},\"ax\",@progbits\n.globl r{k}\nr{k}: movq s{k}(%rip), %rax\nret")
                .unwrap();
        }
        if k == SECTIONS / 2 {
            let rest = BLOB - 300_001;
            writeln!(
                asm,
                ".section .rodata.blob,\"a\",@progbits\nblob: .fill 300000,1,0x11\n.byte 0x77\n.fill {rest},1,0x22"
            )
            .unwrap();
            writeln!(
                asm,
                ".section .text.blob_at,\"ax\",@progbits\n.globl blob_at\nblob_at: movzbl blob+300000(%rip), %eax\nret"
            )
            .unwrap();
        }
    }
    asm
}

/// What the library of [`many_sections_source`] computes, checked from C.
fn many_sections_checks() -> String {
    format!(
        "for (long k = 0; k < {SECTIONS}; k++) {{\n\
           snprintf(name, sizeof name, \"f%ld\", k); fn f = (fn)need(h, name); if (!f || f() != k) wrong++;\n\
           if (k % 8 == 0) {{ snprintf(name, sizeof name, \"d%ld\", k); fn *d = (fn *)need(h, name);\n\
             if (!d || d[0]() != k || d[1]() != k) wrong++; }}\n\
           if (k % 16 == 0) {{ snprintf(name, sizeof name, \"g%ld\", k); fn g = (fn)need(h, name);\n\
             if (!g || g() != 1 || g() != 2) wrong++; }}\n\
           if (k % 32 == 0) {{ snprintf(name, sizeof name, \"r%ld\", k); fn r = (fn)need(h, name);\n\
             if (!r || r() != 7 * k) wrong++; }}\n\
         }}\n\
         fn blob_at = (fn)need(h, \"blob_at\"); if (!blob_at || blob_at() != 0x77) wrong++;\n"
    )
}

#[test]
fn an_object_of_many_small_sections_links_and_runs() {
    let s = Scratch::new();
    let object = assemble(&s, "many", &many_sections_source());
    let reference = link_cc(&s.path("ref.so"), &args![object]);
    let linked = link_chainlink(&s.path("many.so"), &args![object, "--threads", "2"]);
    let one_thread = link_chainlink(&s.path("many1.so"), &args![object, "--threads", "1"]);
    for output in run_checks(&s, "check_many", &many_sections_checks(), &[&reference, &linked]) {
        assert_eq!(output, "wrong 0\n");
    }
    assert!(fs::read(&linked).unwrap() == fs::read(&one_thread).unwrap(), "output depends on the thread count");
    // Every function's frame is there.
    let fdes = readelf(&["--debug-dump=frames"], &linked).matches(" FDE cie=").count();
    assert!(fdes >= SECTIONS, "{fdes} FDEs");

    // The relocations counted by type are the object's own (no C runtime: -nostdlib).
    let stats = s.path("stats.json");
    link_chainlink(&s.path("bare.so"), &args![object, "-nostdlib", "--stats-json", stats]);
    let json = fs::read_to_string(&stats).unwrap();
    let total = json.split("\"relocations\": {\"total\": ").nth(1).and_then(|rest| rest.split(',').next());
    let types = relocation_types(&object);
    assert_eq!(total, Some(types.len().to_string().as_str()), "{json}");
    let pc32 = types.iter().filter(|t| *t == "R_X86_64_PC32").count();
    assert!(json.contains(&format!("\"R_X86_64_PC32\": {pc32}")), "{json}");
}

const ORPHANS: usize = 3000;

/// One function per orphan section of its own, an empty orphan section with a label after
/// each, `__start_`/`__stop_` references to some, and COMMON symbols.
fn orphan_sections_source() -> String {
    let mut asm = String::new();
    for k in 0..ORPHANS {
        writeln!(
            asm,
            ".section o_{k},\"ax\",@progbits\n.globl of{k}\n.type of{k},@function\nof{k}: mov ${k}, %eax\nret"
        )
        .unwrap();
        writeln!(asm, ".section e_{k},\"a\",@progbits\nle{k}:").unwrap();
        if k % 100 == 0 {
            writeln!(asm, ".comm c{k},8,8").unwrap();
        }
        if k % 500 == 0 {
            writeln!(
                asm,
                ".hidden __start_o_{k}\n.hidden __stop_o_{k}\n.text\n.globl span{k}\nspan{k}: lea __stop_o_{k}(%rip), %rax\n\
                 lea __start_o_{k}(%rip), %rdx\nsub %rdx, %rax\nret"
            )
            .unwrap();
        }
    }
    asm
}

#[test]
fn many_orphan_sections_keep_their_bounds_and_symbol_sections() {
    let s = Scratch::new();
    let object = assemble(&s, "orphans", &orphan_sections_source());
    let reference = link_cc(&s.path("ref.so"), &args![object]);
    let linked = link_chainlink(&s.path("orphans.so"), &args![object]);
    let checks = format!(
        "for (long k = 0; k < {ORPHANS}; k++) {{\n\
           snprintf(name, sizeof name, \"of%ld\", k); fn f = (fn)need(h, name); if (!f || f() != k) wrong++;\n\
           if (k % 500 == 0) {{ snprintf(name, sizeof name, \"span%ld\", k); fn span = (fn)need(h, name);\n\
             if (!span || span() != 6) wrong++; }}\n\
           if (k % 100 == 0) {{ snprintf(name, sizeof name, \"c%ld\", k); long *c = need(h, name);\n\
             if (!c || *c != 0) wrong++; }}\n\
         }}\n"
    );
    for output in run_checks(&s, "check_orphans", &checks, &[&reference, &linked]) {
        assert_eq!(output, "wrong 0\n");
    }
    // Section headers: index -> (name, address, size, flags).
    let mut headers = std::collections::HashMap::new();
    for line in readelf(&["-S"], &linked).lines() {
        let Some(rest) = line.trim_start().strip_prefix('[') else { continue };
        let Some((index, rest)) = rest.split_once(']') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let (Ok(index), Some(name), Some(addr), Some(size)) =
            (index.trim().parse::<u32>(), fields.first(), fields.get(2), fields.get(4))
        {
            let hex = |v: &str| u64::from_str_radix(v, 16).unwrap_or(u64::MAX);
            headers.insert(
                index,
                (name.to_string(), hex(addr), hex(size), fields.get(6).copied().unwrap_or("").to_string()),
            );
        }
    }
    let bss = headers.iter().find(|(_, (name, ..))| name == ".bss").map(|(index, _)| index.to_string());
    assert!(bss.is_some(), "no .bss for the COMMON symbols");
    for symbol in symbols(&linked).iter().filter(|s| s.name.starts_with('c') && s.name[1..].parse::<u32>().is_ok()) {
        assert_eq!(Some(&symbol.section), bss.as_ref(), "COMMON {} in {}", symbol.name, symbol.table);
    }
    // A label of an empty (not emitted) section is given an emitted allocated section at or
    // before its address.
    let mut labels = 0;
    for line in readelf(&["-s"], &linked).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 || !fields[7].starts_with("le") {
            continue;
        }
        labels += 1;
        let value = u64::from_str_radix(fields[1], 16).unwrap();
        let section = fields[6].parse::<u32>().ok().and_then(|index| headers.get(&index));
        let Some((name, addr, _, flags)) = section else { panic!("{} has section {}", fields[7], fields[6]) };
        assert!(flags.contains('A') && *addr <= value, "{} at {value:#x} given {name} at {addr:#x}", fields[7]);
    }
    assert_eq!(labels, ORPHANS);
}

const ENTRIES: usize = 5000;

/// A unit whose function table is compressed (offsets from a base in one `.text`) and
/// whose global-slot table points, through section symbols, into a data section per slot.
fn tables_source() -> String {
    let mut asm = String::from(".text\n.globl jl_sysimg_fvars_base\njl_sysimg_fvars_base:\n");
    for i in 0..ENTRIES {
        writeln!(asm, "fv{i}: mov ${i}, %eax\nret").unwrap();
    }
    writeln!(asm, ".section .rodata.jl_fvars,\"a\",@progbits\n.p2align 2\n.globl jl_sysimg_fvars_offsets").unwrap();
    writeln!(asm, "jl_sysimg_fvars_offsets: .long {ENTRIES}").unwrap();
    for i in 0..ENTRIES {
        writeln!(asm, ".long fv{i} - jl_sysimg_fvars_base").unwrap();
    }
    for i in 0..ENTRIES {
        writeln!(asm, ".section .data.g{i},\"aw\",@progbits\n.p2align 3\ngv{i}: .quad {}", 3 * i).unwrap();
    }
    writeln!(
        asm,
        ".section .data.rel.jl_gvars,\"aw\",@progbits\n.p2align 3\n.globl jl_sysimg_gvars_ptrs\njl_sysimg_gvars_ptrs:"
    )
    .unwrap();
    for i in 0..ENTRIES {
        writeln!(asm, ".quad gv{i}").unwrap();
    }
    writeln!(
        asm,
        ".section .rodata.jl_count,\"a\",@progbits\n.p2align 3\n.globl jl_sysimg_gvars_count\n\
         .type jl_sysimg_gvars_count,@object\n.size jl_sysimg_gvars_count,8\njl_sysimg_gvars_count: .quad {ENTRIES}"
    )
    .unwrap();
    asm
}

#[test]
fn tables_pointing_into_many_sections_are_decoded() {
    let s = Scratch::new();
    let object = assemble(&s, "tables", &tables_source());
    assert!(
        readelf(&["-r"], &object).lines().filter(|l| l.contains("R_X86_64_64") && l.contains(".data.g")).count()
            == ENTRIES,
        "the pointers must be relocations against the data sections' symbols"
    );
    let linked = link_chainlink(&s.path("tables.so"), &args![object]);
    let checks = format!(
        "const struct chainlink_image *image = need(h, CHAINLINK_IMAGE_SYMBOL);\n\
         if (!image || image->magic != CHAINLINK_IMAGE_MAGIC || image->nunits != 1) return 3;\n\
         const struct chainlink_unit *unit = &image->units[0];\n\
         if (unit->nfvars != {ENTRIES} || unit->ngvars != {ENTRIES}) return 4;\n\
         for (long i = 0; i < {ENTRIES}; i++) {{\n\
           if (((fn)unit->fvars[i])() != i) wrong++;\n\
           if (*(const long *)unit->gvars[i] != 3 * i) wrong++;\n\
         }}\n"
    );
    assert_eq!(run_checks(&s, "check_tables", &checks, &[&linked]), ["wrong 0\n"]);
}

const MEMBERS: usize = 2000;

/// An image archive of `MEMBERS` text members `u<k>.o` (each defining `m<k>`, returning
/// k, as 7 digits) and a `data.o`: one assembled member with its name and value patched.
fn member_archive(s: &Scratch) -> PathBuf {
    let template = assemble(
        s,
        "template",
        ".text\n.globl m9999999\n.type m9999999,@function\nm9999999: mov $0x11223344, %eax\nret",
    );
    let bytes = fs::read(&template).unwrap();
    let patch = |data: &[u8], from: &[u8], to: &[u8]| -> Vec<u8> {
        let at = data.windows(from.len()).position(|w| w == from).expect("placeholder in the template");
        assert!(data[at + 1..].windows(from.len()).all(|w| w != from), "placeholder once");
        let mut out = data.to_vec();
        out[at..at + to.len()].copy_from_slice(to);
        out
    };
    let dir = s.subdir("members");
    let mut members = Vec::new();
    for k in 0..MEMBERS {
        let named = patch(&bytes, b"m9999999", format!("m{k:07}").as_bytes());
        let member = dir.join(format!("u{k}.o"));
        fs::write(&member, patch(&named, &0x1122_3344u32.to_le_bytes(), &(k as u32).to_le_bytes())).unwrap();
        members.push(member);
    }
    let data_c = s.write("data.c", b"long image_data[4] = {1, 2, 3, 4};\n");
    let data = dir.join("data.o");
    run_ok(Command::new("gcc").args(["-fPIC", "-c"]).arg(&data_c).arg("-o").arg(&data));
    members.push(data);
    let archive = s.path("sys-o.a");
    run_ok(Command::new("ar").arg("rcs").arg(&archive).args(&members));
    archive
}

#[test]
fn a_base_of_many_members_links_emits_and_relinks() {
    let s = Scratch::new();
    let base = member_archive(&s);
    let newest = |name: &str, value: i64| {
        let c = s.write(
            &format!("{name}.c"),
            format!("extern long m0001234(void);\nlong newest(void) {{ return m0001234() * 10 + {value}; }}\n")
                .as_bytes(),
        );
        let o = s.path(&format!("{name}.o"));
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        o
    };
    let (one, two) = (newest("new1", 1), newest("new2", 2));
    let emitted = s.path("emitted.a");
    let first = link_chainlink(&s.path("first.so"), &args!["--base", base, one, "--emit-archive", emitted]);
    // The emitted archive as a base (its manifest names every member), with a cache: the
    // first link records the prepared base, the second (the base's hash remembered: the
    // archive is not brand new) restores the base's symbols from it.
    run_ok(Command::new("touch").args(["-d", "1 minute ago"]).arg(&emitted));
    let cache = s.path("cache");
    let again = |out: &str, newest: &PathBuf| {
        let args = args!["--base", emitted, newest, "--cache-dir", cache, "-v"];
        let mut command = chainlink_command(s.dir(), &s.path(out), &args);
        command.env_remove("CHAINLINK_NO_CACHE");
        let output = run(&mut command);
        assert!(output.status.success(), "{}", describe(&output));
        (s.path(out), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (second, _) = again("second.so", &two);
    let (third, report) = again("third.so", &one);
    assert!(report.contains("base symbols restored"), "{report}");
    let checks = format!(
        "for (long k = 0; k < {MEMBERS}; k++) {{\n\
           snprintf(name, sizeof name, \"m%07ld\", k); fn f = (fn)need(h, name); if (!f || f() != k) wrong++;\n\
         }}\n\
         fn newest = (fn)need(h, \"newest\"); printf(\"newest %ld\\n\", newest ? newest() : -1);\n"
    );
    let outputs = run_checks(&s, "check_members", &checks, &[&first, &second, &third]);
    assert_eq!(outputs, ["newest 12341\nwrong 0\n", "newest 12342\nwrong 0\n", "newest 12341\nwrong 0\n"]);
}
