//! Every GNU ld option ld mode implements, one test each: the same objects linked through
//! `gcc -shared` with GNU ld (the reference) and with chainlink as `ld` (`gcc -B`), then
//! compared where the option shows (exported symbols and versions, relocations, sections
//! kept, dynamic tags, segments, build id, map file) and, where it changes behaviour,
//! loaded and run.

mod common;
mod ld_common;

use common::*;
use ld_common::*;
use std::process::Command;

/// A library exercising version nodes, wildcards and `extern "C++"` patterns.
const VERSIONED_CPP: &str = r#"
#include <cstdio>
namespace api { int open(int x) { return x + 1; } int close(int x) { return x - 1; } }
namespace detail { int helper(int x) { return x * 2; } }
int overloaded(int x) { return x; }
int overloaded(int x, double y) { return x + (int)y; }
extern "C" int foo1(void) { return 1; }
extern "C" int foo2(void) { return 2; }
extern "C" int bar1(void) { return 3; }
extern "C" int old_thing(void) { return 4; }
extern "C" int unlisted(void) { return detail::helper(5); }
extern "C" void chainlink_test(void) {
    std::printf("%d %d %d %d %d %d\n", api::open(1), api::close(1), overloaded(1, 2.0), foo1() + foo2(), bar1(), unlisted());
}
"#;

const VERSION_SCRIPT: &str = r#"
VERS_1.1 {
    global: foo1; chainlink_test;
    local: old*;
};
VERS_1.2 { foo2; extern "C++" { api::*; }; } VERS_1.1;
VERS_2.0 {
    global:
        bar1;
        extern "C++" { "overloaded(int, double)"; };
    local: *;
} VERS_1.2;
"#;

#[test]
fn version_script_nodes_wildcards_and_cxx() {
    let s = Scratch::new();
    let object = compile_source(&s, "versioned.cpp", VERSIONED_CPP, &["-O1"]);
    s.write("lib.map", VERSION_SCRIPT.as_bytes());
    let (gnu, chainlink) = link_both(&s, "versioned", &["-Wl,--version-script=lib.map", &object]);
    let expected = exports(&gnu);
    assert!(expected.iter().any(|name| name.starts_with("_ZN3api4openEi@@VERS_1.2")), "{expected:?}");
    assert!(expected.iter().any(|name| name.starts_with("_Z10overloadedid@@VERS_2.0")), "{expected:?}");
    assert!(!expected.iter().any(|name| name.starts_with("old_thing") || name.starts_with("unlisted")));
    assert_eq!(exports(&chainlink), expected);
    // The version definitions, with their parents, as GNU ld writes them.
    let definitions = |file: &std::path::Path| {
        readelf(&["-V"], file)
            .lines()
            .filter(|line| line.contains("Name: VERS") || line.contains("Parent"))
            .map(|line| line.split_once(':').map_or(line, |(_, rest)| rest).trim().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(definitions(&chainlink), definitions(&gnu));
    let body = "2 0 3 3 3 10\n";
    assert_output("GNU ld's library", &run_loader(&gnu), &loaded(body));
    assert_output("chainlink's library", &run_loader(&chainlink), &loaded(body));
}

/// Functions and data that `--gc-sections` keeps or drops: unused functions (one hidden
/// with exception tables of its own), a `__start_`/`__stop_` section, an unused one.
const GC_CPP: &str = r#"
#include <cstdio>
#include <stdexcept>
static int unused_helper(int x) { return x * 3; }
int unused_global(int x) { return unused_helper(x) + 1; }
__attribute__((visibility("hidden"))) int hidden_unused(int x) { if (x) throw std::runtime_error("u"); return 2; }
__attribute__((visibility("hidden"))) int hidden_used(int x) { if (x > 5) throw std::runtime_error("big"); return x; }
__attribute__((section("my_items"), used)) static const int item1 = 1;
__attribute__((section("my_items"), used)) static const int item2 = 2;
__attribute__((section("other_items"), used)) static const int other = 1;
extern "C" const int __start_my_items[], __stop_my_items[];
static int data_unused = 5;
int *unused_data() { return &data_unused; }
extern "C" void chainlink_test(void) {
    int caught = 0;
    try { hidden_used(9); } catch (const std::exception &e) { caught = 1; std::printf("caught %s\n", e.what()); }
    std::printf("%d %d %d\n", hidden_used(3), caught, (int)(__stop_my_items - __start_my_items));
}
"#;

#[test]
fn gc_sections_keeps_what_gnu_ld_keeps() {
    let s = Scratch::new();
    let object = compile_source(&s, "gc.cpp", GC_CPP, &["-O1", "-ffunction-sections", "-fdata-sections"]);
    s.write("gc.map", b"{ global: chainlink_test; local: *; };");
    let removed = |with_chainlink: bool| {
        let out = if with_chainlink { "gc-chainlink.so" } else { "gc-gnu.so" };
        let args = ["-Wl,--gc-sections,--print-gc-sections,--version-script=gc.map", &object, "-lstdc++"];
        let output = gcc_shared(&s, out, &args, with_chainlink);
        assert!(output.status.success(), "{}", describe(&output));
        let mut lines: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|line| line.split_once("removing unused section").map(|(_, rest)| rest.to_string()))
            .collect();
        lines.sort();
        lines
    };
    let expected = removed(false);
    for dropped in ["hidden_unused", "unused_global", "other_items", "data_unused"] {
        assert!(expected.iter().any(|line| line.contains(dropped)), "GNU ld kept {dropped}: {expected:?}");
    }
    assert_eq!(removed(true), expected);
    let body = "caught big\n3 1 2\n";
    assert_output("GNU ld's library", &run_loader(&s.path("gc-gnu.so")), &loaded(body));
    assert_output("chainlink's library", &run_loader(&s.path("gc-chainlink.so")), &loaded(body));
}

#[test]
fn no_undefined_lists_every_undefined_symbol() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "undef.c",
        "extern int missing1(void), missing2(void), missing4(int); extern int missing3;\n\
         int user(void) { return missing1() + missing2() + missing3; }\n\
         int user2(void) { return missing4(1) + missing1(); }\n",
        &["-O1"],
    );
    assert!(!gcc_shared(&s, "gnu.so", &["-Wl,--no-undefined", &object], false).status.success());
    let output = gcc_shared(&s, "chainlink.so", &["-Wl,--no-undefined", &object], true);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (symbol, function) in [("missing1", "user"), ("missing2", "user"), ("missing3", "user"), ("missing4", "user2")]
    {
        let line =
            stderr.lines().find(|line| line.contains(&format!("`{symbol}`"))).unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("undef.o: section .text: offset 0x"), "{line}");
        assert!(line.contains(&format!("(in `{function}`)")), "{line}");
    }
    assert!(stderr.contains("`missing1`") && stderr.contains("and 1 more place"), "{stderr}");
    assert!(!s.path("chainlink.so").exists());
    let limited = gcc_shared(&s, "chainlink.so", &["-Wl,--no-undefined,--error-limit=2", &object], true);
    assert!(String::from_utf8_lossy(&limited.stderr).contains("and 2 more undefined symbol(s)"));
}

/// Functions and data that call and read each other, for the binding options.
const BINDING_C: &str = "int data_v = 5;\n\
    int f(void) { return 1; }\n\
    int g(void) { return f() + data_v; }\n\
    int h(void) { return g() + f(); }\n";

/// The symbols with a symbolic dynamic relocation (preemptible references), sorted.
fn preempted(file: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = readelf(&["-r"], file)
        .lines()
        .filter(|line| line.contains("R_X86_64_JUMP_SLOT") || line.contains("R_X86_64_GLOB_DAT"))
        .filter_map(|line| {
            line.split_whitespace().nth(4).map(|name| name.split('@').next().unwrap_or(name).to_string())
        })
        .filter(|name| ["f", "g", "h", "data_v"].contains(&name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

fn binding_case(flags: &[&str], list: Option<&str>, expected: &[&str]) {
    let s = Scratch::new();
    let object = compile_source(&s, "binding.c", BINDING_C, &["-O1"]);
    if let Some(list) = list {
        s.write("list.txt", list.as_bytes());
    }
    let mut args: Vec<&str> = flags.to_vec();
    args.push(&object);
    let (gnu, chainlink) = link_both(&s, "binding", &args);
    assert_eq!(preempted(&gnu), expected, "GNU ld with {flags:?}");
    assert_eq!(preempted(&chainlink), expected, "chainlink with {flags:?}");
    assert_eq!(exports(&chainlink), exports(&gnu));
}

#[test]
fn bsymbolic_functions() {
    binding_case(&["-Wl,-Bsymbolic-functions"], None, &["data_v"]);
}

#[test]
fn dynamic_list() {
    binding_case(&["-Wl,--dynamic-list=list.txt"], Some("{ g; };"), &["g"]);
}

#[test]
fn export_dynamic_symbol_keeps_a_symbol_preemptible() {
    binding_case(&["-Wl,-Bsymbolic,--export-dynamic-symbol=f"], None, &["f"]);
    binding_case(&["-Wl,--export-dynamic-symbol=g"], None, &["data_v", "f", "g"]);
}

/// An archive with a member defining `lib_helper` (exported unless excluded) and one that
/// only `-u` pulls in.
fn archive_fixture(s: &Scratch) -> String {
    let helper = compile_source(s, "helper.c", "int lib_helper(int x) { return x + 40; }\n", &[]);
    let extra = compile_source(s, "extra.c", "int pulled_by_u(void) { return 7; }\n", &[]);
    s.archive("libhelp.a", &[&s.path(&helper), &s.path(&extra)]);
    compile_source(
        s,
        "main.c",
        "#include <stdio.h>\nint lib_helper(int);\nvoid chainlink_test(void) { printf(\"%d\\n\", lib_helper(2)); }\n",
        &[],
    )
}

#[test]
fn exclude_libs_hides_an_archives_definitions() {
    let s = Scratch::new();
    let main = archive_fixture(&s);
    let (gnu, chainlink) = link_both(&s, "exclude", &[&main, "-Wl,--exclude-libs=libhelp.a", "libhelp.a"]);
    assert!(!exports(&gnu).iter().any(|name| name == "lib_helper"), "{:?}", exports(&gnu));
    assert_eq!(exports(&chainlink), exports(&gnu));
    let (gnu_all, chainlink_all) = link_both(&s, "exclude-all", &[&main, "-Wl,--exclude-libs,ALL", "libhelp.a"]);
    assert_eq!(exports(&chainlink_all), exports(&gnu_all));
    assert_output("chainlink's library", &run_loader(&chainlink), &loaded("42\n"));
}

#[test]
fn undefined_pulls_an_archive_member() {
    let s = Scratch::new();
    let main = archive_fixture(&s);
    let (gnu, chainlink) = link_both(&s, "u", &[&main, "-Wl,-u,pulled_by_u", "libhelp.a"]);
    assert!(exports(&gnu).iter().any(|name| name == "pulled_by_u"));
    assert_eq!(exports(&chainlink), exports(&gnu));
    let output = gcc_shared(&s, "r.so", &[&main, "-Wl,--require-defined=nowhere", "libhelp.a"], true);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("required symbol `nowhere`"));
}

#[test]
fn groups_resolve_archives_that_need_each_other() {
    let s = Scratch::new();
    let a = compile_source(
        &s,
        "a.c",
        "int b_func(void); int a_func(void) { return 1; } int a_entry(void) { return b_func(); }\n",
        &[],
    );
    let b = compile_source(&s, "b.c", "int a_func(void); int b_func(void) { return a_func() + 10; }\n", &[]);
    s.archive("liba.a", &[&s.path(&a)]);
    s.archive("libb.a", &[&s.path(&b)]);
    let main = compile_source(
        &s,
        "main.c",
        "#include <stdio.h>\nint a_entry(void);\nvoid chainlink_test(void) { printf(\"%d\\n\", a_entry()); }\n",
        &[],
    );
    let (gnu, chainlink) = link_both(
        &s,
        "group",
        &[&main, "-Wl,--start-group", "liba.a", "libb.a", "-Wl,--end-group", "-Wl,--no-undefined"],
    );
    assert_eq!(exports(&chainlink), exports(&gnu));
    assert_output("chainlink's library", &run_loader(&chainlink), &loaded("11\n"));
}

#[test]
fn defsym_defines_absolute_and_relative_symbols() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "target.c",
        "#include <stdio.h>\nint target(void) { return 7; }\nextern int alias(void);\n\
         void chainlink_test(void) { printf(\"%d\\n\", alias()); }\n",
        &[],
    );
    let (gnu, chainlink) = link_both(&s, "defsym", &["-Wl,--defsym=alias=target,--defsym=VALUE=0x1234", &object]);
    for file in [&gnu, &chainlink] {
        let symbols = symbols(file);
        let find = |name: &str| symbols.iter().find(|s| s.table == ".dynsym" && s.name == name).cloned();
        let value = |name: &str| {
            let line = readelf(&["--dyn-syms"], file);
            line.lines()
                .find(|l| l.split_whitespace().nth(7) == Some(name))
                .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
                .unwrap()
        };
        assert_eq!(value("alias"), value("target"), "{}", file.display());
        assert_eq!(value("VALUE"), 0x1234);
        assert_eq!(find("VALUE").unwrap().section, "ABS");
        assert_eq!(find("alias").unwrap().section, find("target").unwrap().section);
    }
    assert_output("chainlink's library", &run_loader(&chainlink), &loaded("7\n"));
}

#[test]
fn wrap_rebinds_references() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "wrap.c",
        "#include <stdio.h>\n#include <stdlib.h>\nstatic int calls;\nvoid *__real_malloc(size_t);\n\
         void *__wrap_malloc(size_t n) { calls++; return __real_malloc(n); }\n\
         void chainlink_test(void) { void *p = malloc(16); free(p); printf(\"%d\\n\", calls); }\n",
        &["-fno-builtin"],
    );
    let (gnu, chainlink) = link_both(&s, "wrap", &["-Wl,--wrap=malloc", &object]);
    assert_output("GNU ld's library", &run_loader(&gnu), &loaded("1\n"));
    assert_output("chainlink's library", &run_loader(&chainlink), &loaded("1\n"));
}

#[test]
fn allow_multiple_definition_takes_the_first() {
    let s = Scratch::new();
    let first = compile_source(&s, "first.c", "#include <stdio.h>\nint which(void) { return 1; }\nvoid chainlink_test(void) { printf(\"%d\\n\", which()); }\n", &["-fno-semantic-interposition", "-O0"]);
    let second = compile_source(&s, "second.c", "int which(void) { return 2; }\n", &[]);
    assert!(!gcc_shared(&s, "dup.so", &[&first, &second], true).status.success());
    let (gnu, chainlink) = link_both(&s, "muldefs", &["-Wl,--allow-multiple-definition", &first, &second]);
    assert_eq!(run_loader(&chainlink), run_loader(&gnu));
    let (_, z) = link_both(&s, "muldefs-z", &["-Wl,-z,muldefs", &first, &second]);
    assert_output("chainlink's library", &run_loader(&z), &loaded("1\n"));
}

#[test]
fn build_id_styles() {
    let s = Scratch::new();
    let object = compile_source(&s, "id.c", "int id(void) { return 1; }\n", &[]);
    for (style, length) in [("md5", 32), ("sha1", 40), ("uuid", 32), ("0x0123456789abcdef", 16)] {
        let flag = format!("-Wl,--build-id={style}");
        let (gnu, chainlink) = link_both(&s, style, &[&flag, &object]);
        let (gnu_id, chainlink_id) = (build_id(&gnu).unwrap(), build_id(&chainlink).unwrap());
        assert_eq!((gnu_id.len(), chainlink_id.len()), (length, length), "--build-id={style}");
        if style.starts_with("0x") {
            assert_eq!(chainlink_id, gnu_id);
        }
    }
    let (gnu, chainlink) = link_both(&s, "none", &["-Wl,--build-id=none", &object]);
    assert_eq!((build_id(&gnu), build_id(&chainlink)), (None, None));
    assert!(!segments(&chainlink).iter().any(|row| row.starts_with("NOTE")));
    // Deterministic: the same link twice has the same digest.
    let (_, again) = link_both(&s, "sha1", &["-Wl,--build-id=sha1", &object]);
    assert_eq!(build_id(&again), build_id(&s.path("sha1-chainlink.so")));
}

#[test]
fn hash_styles() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "hash.c",
        "#include <stdio.h>\nint f1(void){return 1;}\nvoid chainlink_test(void){printf(\"%d\\n\", f1());}\n",
        &[],
    );
    for style in ["sysv", "gnu", "both"] {
        let flag = format!("-Wl,--hash-style={style}");
        let (gnu, chainlink) = link_both(&s, style, &[&flag, &object]);
        let hashes = |file: &std::path::Path| {
            let tags = dynamic_tags(file);
            tags.into_iter().filter(|tag| tag.contains("HASH")).collect::<Vec<_>>()
        };
        assert_eq!(hashes(&chainlink), hashes(&gnu), "--hash-style={style}");
        let tables =
            |file: &std::path::Path| section_names(file).into_iter().filter(|n| n.contains("hash")).collect::<Vec<_>>();
        assert_eq!(tables(&chainlink), tables(&gnu));
        assert_output(style, &run_loader(&chainlink), &loaded("1\n"));
    }
}

#[test]
fn compress_debug_sections() {
    let s = Scratch::new();
    let object = compile_source(&s, "debug.c", "#include <stdio.h>\nstatic int twice(int x){return 2*x;}\nvoid chainlink_test(void){printf(\"%d\\n\", twice(21));}\n", &["-g"]);
    let (_, plain) = link_both(&s, "plain", &[&object]);
    for kind in ["zlib", "zstd"] {
        let flag = format!("-Wl,--compress-debug-sections={kind}");
        let (gnu, chainlink) = link_both(&s, kind, &[&flag, &object]);
        let compressed = |file: &std::path::Path| {
            readelf(&["-S"], file)
                .lines()
                .filter(|line| line.contains(".debug_info"))
                .all(|line| line.split_whitespace().any(|flag| flag.contains('C')))
        };
        assert!(compressed(&gnu) && compressed(&chainlink), "{kind}");
        // Decompressed, each debug section holds what the uncompressed link wrote.
        let decompressed = s.path(&format!("{kind}-decompressed.so"));
        run_ok(Command::new("objcopy").arg("--decompress-debug-sections").arg(&chainlink).arg(&decompressed));
        for section in [".debug_info", ".debug_line", ".debug_abbrev", ".debug_str"] {
            let dump = |file: &std::path::Path, name: &str| {
                let out = s.path(name);
                run_ok(
                    Command::new("objcopy")
                        .arg(format!("--dump-section={section}={}", out.display()))
                        .arg(file)
                        .arg(s.path("scrap.o")),
                );
                std::fs::read(out).unwrap()
            };
            assert_eq!(dump(&decompressed, "a.bin"), dump(&plain, "b.bin"), "{kind} {section}");
        }
        assert!(std::fs::metadata(&chainlink).unwrap().len() < std::fs::metadata(&plain).unwrap().len());
        assert_output(kind, &run_loader(&chainlink), &loaded("42\n"));
    }
}

#[test]
fn map_file_names_every_input_section() {
    let s = Scratch::new();
    let a = compile_source(
        &s,
        "a.c",
        "int a_data = 3; int a_func(void) { return a_data; }\n",
        &["-ffunction-sections", "-fdata-sections"],
    );
    let b = compile_source(
        &s,
        "b.c",
        "static int unused(void) { return 1; } int b_func(void) { return 2; }\n",
        &["-ffunction-sections"],
    );
    for (flags, name) in [(vec!["-Wl,-Map=out.map"], "map"), (vec!["-Wl,-Map,out.map", "-Wl,--gc-sections"], "map-gc")]
    {
        let mut args = flags.clone();
        args.extend([a.as_str(), b.as_str()]);
        let output = gcc_shared(&s, &format!("{name}.so"), &args, true);
        assert!(output.status.success(), "{}", describe(&output));
        let map = std::fs::read_to_string(s.path("out.map")).unwrap();
        for (object, sections) in [("a.o", &[".text.a_func", ".data.a_data"][..]), ("b.o", &[".text.b_func"])] {
            for section in sections {
                assert!(
                    map.lines().any(|l| l.contains(section) && l.ends_with(object)),
                    "{section} of {object}:\n{map}"
                );
            }
        }
        let symbol = map.lines().find(|l| l.trim_end().ends_with("a_func") && !l.contains(".text")).unwrap();
        assert!(symbol.contains("0x"), "{symbol}");
    }
    // GNU ld's map names the same input sections.
    assert!(gcc_shared(&s, "gnu.so", &["-Wl,-Map=gnu.map", &a, &b], false).status.success());
    assert!(std::fs::read_to_string(s.path("gnu.map")).unwrap().contains(".text.a_func"));
}

#[test]
fn strip_all_and_strip_debug() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "strip.c",
        "static int local_fn(int x){return x;}\nint api(int x){return local_fn(x);}\n",
        &["-g"],
    );
    for flag in ["-Wl,-s", "-Wl,--strip-debug", "-Wl,-S"] {
        let (gnu, chainlink) = link_both(&s, flag.trim_start_matches("-Wl,-"), &[flag, &object]);
        let kinds = |file: &std::path::Path| {
            let names = section_names(file);
            (names.iter().any(|n| n == ".symtab"), names.iter().any(|n| n.starts_with(".debug")))
        };
        assert_eq!(kinds(&chainlink), kinds(&gnu), "{flag}");
        assert!(!kinds(&chainlink).1, "{flag} leaves debug sections");
    }
}

#[test]
fn execstack_follows_the_inputs_and_z_options() {
    let s = Scratch::new();
    let noted = compile_source(&s, "noted.c", "int noted(void) { return 1; }\n", &[]);
    // Assembled without a .note.GNU-stack section: GNU ld makes the stack executable.
    s.write("bare.s", b".text\n.globl bare\nbare:\n ret\n");
    run_ok(Command::new("gcc").current_dir(s.dir()).args(["-c", "bare.s", "-o", "bare.o"]));
    let stack = |file: &std::path::Path| segments(file).into_iter().find(|row| row.starts_with("GNU_STACK")).unwrap();
    for (args, executable) in [
        (vec![noted.as_str()], false),
        (vec![noted.as_str(), "bare.o"], true),
        (vec![noted.as_str(), "bare.o", "-Wl,-z,noexecstack"], false),
        (vec![noted.as_str(), "-Wl,-z,execstack"], true),
    ] {
        let name = format!("stack{}", args.len());
        let (gnu, chainlink) = link_both(&s, &name, &args);
        assert_eq!(stack(&chainlink), stack(&gnu), "{args:?}");
        assert_eq!(stack(&chainlink).contains('E'), executable, "{args:?}");
    }
}

#[test]
fn z_keywords() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "z.c",
        "#include <stdio.h>\nint zz = 1; int *zp = &zz;\nvoid chainlink_test(void){printf(\"%d\\n\", *zp);}\n",
        &[],
    );
    let flags_of =
        |file: &std::path::Path| dynamic_tags(file).into_iter().filter(|t| t.starts_with("FLAGS")).collect::<Vec<_>>();
    let (gnu, chainlink) = link_both(&s, "now", &["-Wl,-z,now,-z,nodelete,-z,nodlopen,-z,origin", &object]);
    assert_eq!(flags_of(&chainlink), flags_of(&gnu));
    let relro = |file: &std::path::Path| segments(file).iter().any(|row| row.starts_with("GNU_RELRO"));
    let (gnu, chainlink) = link_both(&s, "norelro", &["-Wl,-z,norelro", &object]);
    assert_eq!((relro(&gnu), relro(&chainlink)), (false, false));
    let (_, with_relro) = link_both(&s, "relro", &["-Wl,-z,relro", &object]);
    assert!(relro(&with_relro));
    let align = |file: &std::path::Path| {
        segments(file)
            .into_iter()
            .filter(|r| r.starts_with("LOAD"))
            .map(|r| r.rsplit(' ').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (gnu, chainlink) = link_both(&s, "page", &["-Wl,-z,max-page-size=0x10000", &object]);
    assert!(align(&gnu).iter().chain(&align(&chainlink)).all(|a| a == "0x10000"));
    assert_output("max-page-size", &run_loader(&chainlink), &loaded("1\n"));
    // -z notext: a text relocation is allowed and announced.
    let text = compile_source(&s, "text.c", "int tx; int *const tp = &tx;\n", &["-fno-PIC"]);
    assert!(!gcc_shared(&s, "text.so", &[&text], true).status.success());
    let (gnu, chainlink) = link_both(&s, "notext", &["-Wl,-z,notext", &text]);
    let textrel = |file: &std::path::Path| dynamic_tags(file).iter().any(|t| t == "TEXTREL");
    assert!(textrel(&gnu) && textrel(&chainlink));
    // Accepted as GNU ld accepts them.
    link_both(&s, "accepted", &["-Wl,-O1,--sort-section=name,-z,separate-code,-z,relro,-z,lazy", &object]);
}

#[test]
fn rpath_and_new_dtags() {
    let s = Scratch::new();
    let object = compile_source(&s, "r.c", "int r(void){return 1;}\n", &[]);
    for flag in ["-Wl,--enable-new-dtags", "-Wl,--disable-new-dtags"] {
        let (gnu, chainlink) =
            link_both(&s, flag.trim_start_matches("-Wl,--"), &[flag, "-Wl,-rpath,/opt/a:/opt/b", &object]);
        let paths =
            |file: &std::path::Path| dynamic_tags(file).into_iter().filter(|t| t.contains("PATH")).collect::<Vec<_>>();
        assert_eq!(paths(&chainlink), paths(&gnu), "{flag}");
    }
}

#[test]
fn as_needed_push_state_and_bstatic() {
    let s = Scratch::new();
    let lib = compile_source(&s, "dep.c", "int dep_value(void) { return 5; }\n", &[]);
    run_ok(Command::new("gcc").current_dir(s.dir()).args(["-shared", "-o", "libdep.so", &lib]));
    s.archive("libdep.a", &[&s.path(&lib)]);
    let main = compile_source(
        &s,
        "uses.c",
        "#include <stdio.h>\nint dep_value(void);\nvoid chainlink_test(void){printf(\"%d\\n\", dep_value());}\n",
        &[],
    );
    let unused = compile_source(&s, "plain.c", "int plain(void){return 1;}\n", &[]);
    let needed =
        |file: &std::path::Path| dynamic_tags(file).into_iter().filter(|t| t.starts_with("NEEDED")).collect::<Vec<_>>();
    for args in [
        vec![unused.as_str(), "-L.", "-Wl,--push-state,--as-needed", "-ldep", "-Wl,--pop-state"],
        vec![unused.as_str(), "-L.", "-Wl,--no-as-needed", "-ldep"],
        vec![main.as_str(), "-L.", "-Wl,-Bstatic", "-ldep", "-Wl,-Bdynamic"],
        vec![main.as_str(), "-L.", "-ldep"],
        vec![main.as_str(), "-L.", "-l:libdep.a"],
    ] {
        let (gnu, chainlink) = link_both(&s, "needed", &args);
        assert_eq!(needed(&chainlink), needed(&gnu), "{args:?}");
        assert_eq!(exports(&chainlink), exports(&gnu), "{args:?}");
    }
}

#[test]
fn threads_and_trace() {
    let s = Scratch::new();
    let object = compile_source(&s, "t.c", "int t(void){return 1;}\n", &[]);
    let output = gcc_shared(&s, "t.so", &["-Wl,--threads=1,--trace", &object], true);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).lines().any(|line| line == "t.o"));
}

#[test]
fn entry_init_fini_and_discard_all() {
    let s = Scratch::new();
    let object = compile_source(
        &s,
        "entry.c",
        "static int helper(int x) { return x + 1; }\nint start_here(void) { return helper(1); }\n\
         void my_init(void) {}\nvoid my_fini(void) {}\n",
        &["-O0"],
    );
    let (gnu, chainlink) =
        link_both(&s, "entry", &["-nostartfiles", "-Wl,-e,start_here,-init,my_init,-fini,my_fini,-x", &object]);
    for file in [&gnu, &chainlink] {
        let header = readelf(&["-h"], file);
        let entry =
            header.lines().find_map(|l| l.trim().strip_prefix("Entry point address:")).unwrap().trim().to_string();
        let address = |name: &str| {
            let table = readelf(&["--dyn-syms"], file);
            let line = table.lines().find(|l| l.split_whitespace().nth(7) == Some(name)).unwrap().to_string();
            format!("0x{}", line.split_whitespace().nth(1).unwrap().trim_start_matches('0'))
        };
        assert_eq!(entry, address("start_here"), "{}", file.display());
        let tags = readelf(&["-d"], file);
        let tag = |name: &str| {
            tags.lines()
                .find(|l| l.contains(&format!("({name})")))
                .map(|l| l.split_whitespace().last().unwrap().to_string())
        };
        assert_eq!(tag("INIT"), Some(address("my_init")), "{}", file.display());
        assert_eq!(tag("FINI"), Some(address("my_fini")), "{}", file.display());
        assert!(!symbols(file).iter().any(|s| s.name == "helper"), "-x keeps local symbols in {}", file.display());
    }
}

/// The new passes keep the output a function of the inputs: any thread count, any
/// working directory.
#[test]
fn deterministic_with_the_new_options() {
    let s = Scratch::new();
    let object = compile_source(&s, "gc.cpp", GC_CPP, &["-g", "-O1", "-ffunction-sections", "-fdata-sections"]);
    s.write("gc.map", b"{ global: chainlink_test; local: *; };");
    let flags =
        "-Wl,--gc-sections,--version-script=gc.map,--compress-debug-sections=zlib,--hash-style=both,--build-id,-z,now";
    let mut outputs = Vec::new();
    for (threads, name) in [("1", "one.so"), ("2", "two.so"), ("4", "four.so")] {
        let threads = format!("-Wl,--threads={threads}");
        let output = gcc_shared(&s, name, &[flags, &threads, &object, "-lstdc++"], true);
        assert!(output.status.success(), "{}", describe(&output));
        outputs.push(std::fs::read(s.path(name)).unwrap());
    }
    assert!(outputs.windows(2).all(|pair| pair[0] == pair[1]), "the output depends on the thread count");
}
