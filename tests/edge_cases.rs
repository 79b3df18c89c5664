//! Cases found by reviewing and mutating inputs, each small: what should link links and
//! runs like `cc -shared`; what cannot be linked correctly is a clear error, never a
//! silently broken library or a crash.

mod common;

use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn compile_text(s: &Scratch, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let file = s.write(name, source.as_bytes());
    let object = s.path(&format!("{name}.o"));
    let compiler = if name.ends_with(".cpp") { "g++" } else { "gcc" };
    run_ok(Command::new(compiler).args(["-fPIC", "-O2", "-c"]).args(flags).arg(&file).arg("-o").arg(&object));
    object
}

/// Calls `int name(void)` of each library and returns what it printed.
fn call_ints(s: &Scratch, library: &PathBuf, names: &[&str]) -> String {
    let calls: String = names
        .iter()
        .map(|n| format!("{{ long (*f)(void) = (long (*)(void))dlsym(h, \"{n}\"); printf(\"%ld\\n\", f()); }}\n"))
        .collect();
    let source = format!(
        "#include <dlfcn.h>\n#include <stdio.h>\nint main(int c, char **v) {{ void *h = dlopen(v[1], RTLD_NOW);\n\
         if (!h) {{ puts(dlerror()); return 2; }}\n{calls} return 0; }}\n"
    );
    let driver = s.write("driver.c", source.as_bytes());
    let exe = s.path("driver");
    run_ok(Command::new("gcc").arg(&driver).arg("-o").arg(&exe).arg("-ldl"));
    run_ok(Command::new(exe).arg(library))
}

#[test]
fn hidden_weak_undefined_symbol_is_null() {
    let s = Scratch::new();
    let object = compile_text(
        &s,
        "weak.c",
        "__attribute__((weak, visibility(\"hidden\"))) extern int hidden_weak;\n\
         __attribute__((weak, visibility(\"hidden\"))) extern int hidden_weak_fn(void);\n\
         long address_is_null(void) { return &hidden_weak == 0; }\n\
         long function_is_null(void) { return hidden_weak_fn == 0; }\n",
        &[],
    );
    let reference = link_cc(&s.path("ref.so"), &args![object]);
    let linked = link_chainlink(&s.path("weak.so"), &args![object]);
    let names = ["address_is_null", "function_is_null"];
    assert_eq!(call_ints(&s, &linked, &names), "1\n1\n");
    assert_eq!(call_ints(&s, &reference, &names), "1\n1\n");
    assert_not_exported(&linked, "hidden_weak");
}

#[test]
fn constructs_that_cannot_be_linked_are_errors() {
    let s = Scratch::new();
    // Old-style constructor tables would silently never run.
    let ctors = compile_text(
        &s,
        "ctors.c",
        "static void run(void) {}\n__attribute__((section(\".ctors\"), used)) static void (*p)(void) = run;\n",
        &[],
    );
    assert_link_fails(&s, &args![ctors], 1, &["ctors.c.o", ".ctors", "not supported"], None);
    // A slim GCC LTO object has no machine code.
    let lto = compile_text(&s, "lto.c", "int lto_fn(int x) { return x + 1; }\n", &["-flto"]);
    assert_link_fails(&s, &args![lto], 1, &["lto.c.o", "LTO"], None);
    // A local-dynamic offset against a thread-local defined in another library.
    let provider = compile_text(&s, "tls_provider.c", "__thread int t_ext = 1000;\n", &[]);
    link_cc(&s.path("libtlext.so"), &args![provider]);
    let user = compile_text(
        &s,
        "tls_user.c",
        "static __thread int mine[4];\nextern __thread int t_ext;\n\
         int read_ext(void) { mine[1]++; return mine[1] + t_ext; }\n",
        &["-ftls-model=local-dynamic", "-mtls-dialect=gnu2"],
    );
    assert!(relocation_types(&user).iter().any(|t| t == "R_X86_64_DTPOFF32"), "gcc used another TLS sequence");
    let dir = s.dir().to_str().unwrap().to_string();
    assert_link_fails(&s, &args![user, "-L", dir, "-l", "tlext"], 1, &["t_ext", "R_X86_64_DTPOFF32"], None);
}

/// A read-only section without contents must not share addresses with what follows it.
#[test]
fn nobits_sections_never_overlap_later_sections() {
    let s = Scratch::new();
    let asm = s.write(
        "nobits.s",
        b"  .section .rozz,\"a\",@nobits\n  .globl rozz\n  .hidden rozz\nrozz: .zero 4096\n\
          .section .roother,\"a\",@progbits\n  .globl roother\n  .hidden roother\nroother: .quad 42\n\
          .section .bss.filled,\"aw\",@progbits\nfilled: .quad 7\n\
          .text\n  .globl get_roother\nget_roother: movq roother(%rip), %rax\n  ret\n\
          .globl get_filled\nget_filled: movq filled(%rip), %rax\n  ret\n\
          .section .note.GNU-stack,\"\",@progbits\n",
    );
    let object = s.path("nobits.o");
    run_ok(Command::new("gcc").arg("-c").arg(&asm).arg("-o").arg(&object));
    let linked = link_chainlink(&s.path("nobits.so"), &args![object]);
    assert_eq!(call_ints(&s, &linked, &["get_roother", "get_filled"]), "42\n7\n");
    // No two allocated sections with memory overlap.
    let mut ranges: Vec<(u64, u64, String)> = readelf(&["-S"], &linked)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let at = fields.iter().position(|f| f.starts_with('.'))?;
            let (addr, size) = (
                u64::from_str_radix(fields.get(at + 2)?, 16).ok()?,
                u64::from_str_radix(fields.get(at + 4)?, 16).ok()?,
            );
            let tls = line.contains(" WAT ") || line.contains(" AT ");
            (addr != 0 && size != 0 && !tls).then(|| (addr, addr + size, fields[at].to_string()))
        })
        .collect();
    ranges.sort();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{} overlaps {}", pair[0].2, pair[1].2);
    }
}

/// A relaxable GOT load right after a chunk boundary is not relaxed across it.
#[test]
fn relaxation_never_reaches_across_a_chunk() {
    let s = Scratch::new();
    let mut asm = String::from("  .data\n  .globl foo\n  .hidden foo\nfoo: .quad 5\n  .text\nf: ret\n");
    asm.push_str("  .globl load\nload:\n");
    for _ in 0..20000 {
        asm.push_str("  call f@PLT\n");
    }
    asm.push_str("  .reloc .+2, R_X86_64_NONE, f\n  movq foo@GOTPCREL(%rip), %rax\n  movq (%rax), %rax\n  ret\n");
    asm.push_str("  .section .note.GNU-stack,\"\",@progbits\n");
    let source = s.write("relax.s", asm.as_bytes());
    let object = s.path("relax.o");
    run_ok(Command::new("gcc").arg("-c").arg(&source).arg("-o").arg(&object));
    let linked = link_chainlink(&s.path("relax.so"), &args![object]);
    assert_eq!(call_ints(&s, &linked, &["load"]), "5\n");
}

/// A hidden inline function in a COMDAT group that two generations both contain: each
/// generation keeps (and calls) its own copy.
#[test]
fn comdat_groups_are_kept_per_generation() {
    let s = Scratch::new();
    s.write("helper.h", b"__attribute__((visibility(\"hidden\"))) inline int helper(int x) { return x + 1; }\n");
    let include = format!("-I{}", s.dir().display());
    let old = compile_text(
        &s,
        "text.cpp",
        "#include \"helper.h\"\nextern \"C\" __attribute__((noinline)) long old_fn(int x) { return helper(x) * 2; }\n",
        &[&include],
    );
    let data = compile_text(&s, "data.c", "int image_data = 1;\n", &[]);
    let dir = s.subdir("base");
    fs::copy(&old, dir.join("text.o")).unwrap();
    fs::copy(&data, dir.join("data.o")).unwrap();
    let base = s.path("sys-o.a");
    run_ok(Command::new("ar").arg("rcs").arg(&base).args(["text.o", "data.o"]).current_dir(&dir));
    let new = compile_text(
        &s,
        "new.cpp",
        "#include \"helper.h\"\nextern \"C\" long old_fn(int);\n\
         extern \"C\" long new_fn(void) { return helper(1) + old_fn(1); }\n",
        &[&include],
    );
    let linked = link_chainlink(&s.path("chained.so"), &args!["--base", base, new]);
    assert_eq!(call_ints(&s, &linked, &["new_fn"]), "6\n");
}

/// The output cache keys on linker scripts too: `AS_NEEDED` in a script changes the output.
#[test]
fn cache_notices_a_changed_linker_script() {
    let s = Scratch::new();
    let x = compile_text(&s, "x.c", "int xfn(void) { return 1; }\n", &[]);
    link_cc(&s.path("libx.so"), &args![x]);
    let main = compile_text(&s, "m.c", "int mfn(void) { return 2; }\n", &[]);
    let script = s.path("libwrap.so");
    let cache = s.path("cache");
    let link = |out: &str| {
        let out = s.path(out);
        let mut command = Command::new(CHAINLINK);
        command.current_dir(s.dir()).arg("link").arg("-o").arg(&out).arg(&main).args(["-L", ".", "-l", "wrap"]);
        run_ok(command.arg("--cache-dir").arg(&cache));
        needed(&out)
    };
    fs::write(&script, "GROUP ( libx.so )\n").unwrap();
    assert!(link("out.so").contains(&"libx.so".to_string()));
    fs::write(&script, "GROUP ( AS_NEEDED ( libx.so ) )\n").unwrap();
    assert!(!link("out.so").contains(&"libx.so".to_string()), "a stale cached output was used");
}

/// Sections that exist only for the link (SHF_EXCLUDE, like clang's `.llvm_addrsig`, and
/// glibc's `.gnu.warning.*`) are not copied into the output.
#[test]
fn link_only_sections_are_not_output() {
    let s = Scratch::new();
    let asm = s.write(
        "exclude.s",
        b"  .section .llvm_addrsig,\"e\",@progbits\n  .byte 1, 2, 3\n\
          .section .gnu.warning.f,\"\",@progbits\n  .string \"f is deprecated\"\n\
          .text\n  .globl f\nf: movl $3, %eax\n  ret\n\
          .section .note.GNU-stack,\"\",@progbits\n",
    );
    let object = s.path("exclude.o");
    run_ok(Command::new("gcc").arg("-c").arg(&asm).arg("-o").arg(&object));
    assert!(readelf(&["-S"], &object).contains(".llvm_addrsig"));
    let linked = link_chainlink(&s.path("exclude.so"), &args![object]);
    let sections = readelf(&["-S"], &linked);
    assert!(!sections.contains(".llvm_addrsig") && !sections.contains(".gnu.warning"), "{sections}");
    assert_eq!(call_ints(&s, &linked, &["f"]), "3\n");
}

/// With `-z pack-relative-relocs` the first RELR words add `.dynamic` tags, which moves the
/// GOT after it by less than a page; a GOT slot that RELR covers then lands elsewhere in
/// the encoding. The layout must settle on the final size (it failed with "did not
/// converge" for some array lengths before).
#[test]
fn relr_layout_settles_when_dynamic_grows() {
    let s = Scratch::new();
    for n in 1..=72 {
        let source = format!(
            "__attribute__((visibility(\"hidden\"))) long x = 7;\n\
             void *const ptrs[{n}] = {{ [0 ... {last}] = &x }};\n\
             long get(void) {{ long *p; __asm__(\"movq x@GOTPCREL(%%rip), %0\" : \"=r\"(p)); return *p + (ptrs[{last}] == &x); }}\n",
            last = n - 1
        );
        // Not relaxable: the GOT slot stays, holding a relative address.
        let object = compile_text(&s, &format!("relr{n}.c"), &source, &["-Wa,-mrelax-relocations=no"]);
        let library = s.path(&format!("relr{n}.so"));
        run_ok(chainlink().args(args!["link", "-o", library, object, "-z", "pack-relative-relocs"]));
        if n % 8 == 4 {
            assert_eq!(call_ints(&s, &library, &["get"]), "8\n", "n = {n}");
        }
    }
}
