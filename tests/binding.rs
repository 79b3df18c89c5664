//! The binding rules of chained links (README "Binding rules"), one small hand-written chain
//! per rule: real C and assembly compiled by gcc, linked with chainlink, loaded and run
//! (`testdata/chain_probe.c` calls functions by name and through `chainlink_image`). Every
//! chain that links is also relinked warm on a prepared base and must give the cold bytes.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Chain {
    s: Scratch,
    probe: PathBuf,
}

impl Chain {
    fn new() -> Chain {
        let s = Scratch::new();
        let probe = s.path("chain_probe");
        run_ok(Command::new("cc").arg(testdata("chain_probe.c")).arg("-o").arg(&probe).arg("-ldl"));
        Chain { s, probe }
    }

    /// Compiles C (`.c`) or assembly (`.s`) `source` with `gcc -fPIC -O2 -c` into `name.o`.
    fn object(&self, name: &str, source: &str) -> PathBuf {
        let (stem, extension) = name.rsplit_once('.').unwrap_or((name, "c"));
        let file = self.s.write(&format!("{stem}.{extension}"), source.as_bytes());
        let object = self.s.path(&format!("{stem}.o"));
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&file).arg("-o").arg(&object));
        object
    }

    /// An archive whose members are `objects` under the given member names.
    fn archive(&self, name: &str, members: &[(&str, &Path)]) -> PathBuf {
        let dir = self.s.subdir(&format!("{name}.members"));
        for (member, object) in members {
            fs::copy(object, dir.join(member)).unwrap();
        }
        let archive = self.s.path(name);
        let names: Vec<&str> = members.iter().map(|(member, _)| *member).collect();
        run_ok(Command::new("ar").arg("rcs").arg(&archive).args(&names).current_dir(&dir));
        archive
    }

    /// A data member, as every Julia image archive has (dropped from bases).
    fn data(&self, name: &str) -> PathBuf {
        self.object(name, "char jl_system_image_data[16] = {1};\n")
    }

    /// Links cold and warm (the same bytes required) and returns the output.
    fn link(&self, name: &str, bases: &[&Path], newest: &[&Path]) -> PathBuf {
        assert_warm_equals_cold(&self.s, name, bases, newest, &[])
    }

    fn probe(&self, image: &Path, args: &[&str]) -> String {
        run_ok(Command::new(&self.probe).arg(image).args(args))
    }
}

/// The regression for the silent wrong binding: in a sharded base, `text#0.o` calls `j_foo_1`
/// through a default-visibility undefined symbol (an extern declaration with an asm label),
/// `text#1.o` defines it hidden, and the newest generation defines a hidden `j_foo_1` of its
/// own. The base's call must reach its own generation's `j_foo_1`, with a default or a
/// hidden reference alike.
#[test]
fn a_base_reference_binds_its_own_generations_hidden_name_not_the_newest_ones() {
    let c = Chain::new();
    for reference in ["default", "hidden"] {
        let declaration = match reference {
            "default" => "extern long j_foo_1(long) __asm__(\"j_foo_1\");",
            _ => "extern long j_foo_1(long) __attribute__((visibility(\"hidden\")));",
        };
        let shard0 = c.object(
            &format!("{reference}-shard0"),
            &format!("{declaration}\nlong julia_base_caller(long x) {{ return j_foo_1(x) * 10; }}\n"),
        );
        let shard1 = c.object(
            &format!("{reference}-shard1"),
            "__attribute__((visibility(\"hidden\"))) long j_foo_1(long x) { return x + 1; }\n\
             long julia_base_other(long x) { return j_foo_1(x); }\n",
        );
        let sysimg = c.data(&format!("{reference}-sysimg"));
        let base = c.archive(
            &format!("{reference}-sys-o.a"),
            &[("text#0.o", &shard0), ("text#1.o", &shard1), ("sysimg.o", &sysimg)],
        );
        let newest = c.object(
            &format!("{reference}-newest"),
            "__attribute__((visibility(\"hidden\"))) long j_foo_1(long x) { return x + 1000; }\n\
             long julia_new(long x) { return j_foo_1(x); }\n",
        );
        let image = c.link(&format!("{reference}.so"), &[&base], &[&newest]);
        assert_eq!(
            c.probe(&image, &["julia_base_caller", "julia_base_other", "julia_new"]),
            "julia_base_caller(1) = 20\njulia_base_other(1) = 2\njulia_new(1) = 1001\n",
            "{reference} reference"
        );
    }
}

/// New code calls the base's hidden function, reads its hidden global slot and its hidden
/// thread-local by name, through hidden and through default-visibility declarations: they
/// bind down the chain (no dynamic import, no error).
#[test]
fn new_code_reaches_old_hidden_functions_slots_and_thread_locals_by_name() {
    let c = Chain::new();
    let text = c.object(
        "old-text",
        "__attribute__((visibility(\"hidden\"))) long julia_specialize_method_8591(long x) { return x * 7; }\n\
         __attribute__((visibility(\"hidden\"))) long jl_global_77 = 300;\n\
         __attribute__((visibility(\"hidden\"))) __thread long jl_tls_5 = 9000;\n\
         long julia_old(long x) { return julia_specialize_method_8591(x) + jl_global_77 + jl_tls_5; }\n",
    );
    let data = c.data("old-data");
    let base = c.archive("sys-o.a", &[("text.o", &text), ("data.o", &data)]);
    for reference in ["hidden", "default"] {
        let attribute = if reference == "hidden" { "__attribute__((visibility(\"hidden\")))" } else { "" };
        let newest = c.object(
            &format!("new-{reference}"),
            &format!(
                "extern long julia_specialize_method_8591(long) {attribute};\n\
                 extern long jl_global_77 {attribute};\n\
                 extern __thread long jl_tls_5 {attribute};\n\
                 long julia_new(long x) {{ return julia_specialize_method_8591(x) + jl_global_77 + jl_tls_5 + 5; }}\n\
                 long *julia_slot_address(long x) {{ (void)x; return &jl_global_77; }}\n"
            ),
        );
        let image = c.link(&format!("{reference}.so"), &[&base], &[&newest]);
        assert_eq!(c.probe(&image, &["julia_new", "julia_old"]), "julia_new(1) = 9312\njulia_old(1) = 9307\n");
        // Nothing became a dynamic import.
        let imports = readelf(&["--dyn-syms", "-W"], &image);
        for name in ["julia_specialize_method_8591", "jl_global_77", "jl_tls_5"] {
            assert!(!imports.lines().any(|line| line.contains(" UND ") && line.ends_with(name)), "{name}: {imports}");
        }
    }
}

/// Three generations, each through its own `--base` archive and through one emitted
/// archive: a reference binds to the newest visible definition. Generation 2 calls
/// `shared_name`, defined hidden in generation 1 and default in generation 0: generation
/// 1's (the newer). Generation 1 calls `old_only`, hidden in generation 0 and default in
/// generation 2: generation 2's (a newer default definition replaces it). Generation 2
/// calls `j_deep`, hidden in generation 0 only: generation 0's.
#[test]
fn a_chain_of_three_binds_to_the_newest_visible_definition() {
    let c = Chain::new();
    let hidden = "__attribute__((visibility(\"hidden\")))";
    let gen0 = c.object(
        "gen0",
        &format!(
            "long shared_name(long x) {{ return x + 1; }}\n\
             {hidden} long old_only(long x) {{ return x + 2; }}\n\
             {hidden} long j_deep(long x) {{ return x + 3; }}\n\
             long julia_g0(long x) {{ return shared_name(x) * 10 + old_only(x); }}\n"
        ),
    );
    let gen1 = c.object(
        "gen1",
        &format!(
            "{hidden} long shared_name(long x) {{ return x + 40; }}\n\
             long old_only(long);\n\
             long julia_g1(long x) {{ return shared_name(x) * 10 + old_only(x); }}\n"
        ),
    );
    let gen2 = c.object(
        "gen2",
        "long shared_name(long);\nlong j_deep(long);\n\
         long old_only(long x) { return x + 500; }\n\
         long julia_g2(long x) { return shared_name(x) * 1000 + j_deep(x); }\n",
    );
    let (data0, data1) = (c.data("data0"), c.data("data1"));
    let base0 = c.archive("sys-o.a", &[("text.o", &gen0), ("data.o", &data0)]);
    let base1 = c.archive("chained1.a", &[("text.o", &gen1), ("data.o", &data1)]);
    // Generation 0's own calls bind in generation 0: its `shared_name` (generation 1's is
    // hidden, so invisible to it) and its hidden `old_only` (own scope first).
    let expected = "julia_g0(1) = 23\njulia_g1(1) = 911\njulia_g2(1) = 41004\n";
    let image = c.link("three.so", &[&base0, &base1], &[&gen2]);
    assert_eq!(c.probe(&image, &["julia_g0", "julia_g1", "julia_g2"]), expected);

    // The same chain through an emitted archive of generations 0 and 1.
    let emitted = c.s.path("emitted.a");
    let middle = c.s.path("middle.so");
    run_ok(chained_link(&middle, &[&base0], &[&base1], &["--no-cache", "--emit-archive"]).arg(&emitted));
    // (Generation 1 alone binds `old_only` to generation 0's hidden definition.)
    assert_eq!(c.probe(&middle, &["julia_g1"]), "julia_g1(1) = 413\n");
    let image = c.link("three-emitted.so", &[&emitted], &[&gen2]);
    assert_eq!(c.probe(&image, &["julia_g0", "julia_g1", "julia_g2"]), expected);
}

/// A generation never sees a newer generation's hidden names: a base's hidden reference to
/// a name only the newest generation defines (hidden) is an error naming the reference;
/// a default-visibility one is a dynamic import, with a warning that says why.
#[test]
fn a_newer_generations_hidden_names_are_invisible_to_older_code() {
    let c = Chain::new();
    let data = c.data("data");
    let newest = c.object(
        "newest",
        "__attribute__((visibility(\"hidden\"))) long jl_only_new(long x) { return x; }\n\
         long julia_new(long x) { return jl_only_new(x); }\n",
    );
    let hidden_ref = c.object(
        "hidden-ref",
        "extern long jl_only_new(long) __attribute__((visibility(\"hidden\")));\n\
         long julia_old(long x) { return jl_only_new(x) + 1; }\n",
    );
    let base = c.archive("hidden.a", &[("text.o", &hidden_ref), ("data.o", &data)]);
    let message = assert_link_fails(
        &c.s,
        &args!["--base", base, newest],
        1,
        &["hidden.a(text.o)", "section .text", "offset 0x", "jl_only_new", "generation 1 defines it hidden"],
        None,
    );
    assert!(message.contains("undefined hidden symbol"), "{message}");

    let default_ref =
        c.object("default-ref", "long jl_only_new(long);\nlong julia_old(long x) { return jl_only_new(x) + 1; }\n");
    let base = c.archive("default.a", &[("text.o", &default_ref), ("data.o", &data)]);
    let out = c.s.path("import.so");
    let output = run(&mut chained_link(&out, &[&base], &[&newest], &["--no-cache"]));
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning")
            && stderr.contains("jl_only_new")
            && stderr.contains("generation 1 defines it hidden"),
        "{stderr}"
    );
    let symbols = readelf(&["--dyn-syms", "-W"], &out);
    assert!(symbols.lines().any(|line| line.contains(" UND ") && line.ends_with(" jl_only_new")), "{symbols}");
}

/// The newest generation's own 64-bit table lists old functions (the old data member and
/// its tables are gone, so the new table must reach everything the image still uses): a
/// default-visibility old function and a hidden one. Its entries bind like its code does.
/// An entry that names nothing the unit can see is an error.
#[test]
fn a_chained_units_table_may_cover_old_functions() {
    let c = Chain::new();
    let old = c.object(
        "old",
        "long julia_hcat_1001(long x) { return x + 1001; }\n\
         __attribute__((visibility(\"hidden\"))) long j_old_helper(long x) { return x + 77; }\n\
         long julia_uses_helper(long x) { return j_old_helper(x); }\n",
    );
    let data = c.data("data");
    let base = c.archive("sys-o.a", &[("text.o", &old), ("data.o", &data)]);
    let table = |name: &str, extra: &str| {
        c.object(
            &format!("{name}.s"),
            &format!(
                "    .text
    .globl julia_new
    .type julia_new, @function
julia_new:
    lea 5(%rdi), %rax
    ret
    .data
    .globl jl_slot
jl_slot:
    .quad 42
    .section .data.jl.unique,\"aw\"
    .p2align 3
    .globl jl_sysimg_fvars_count
jl_sysimg_fvars_count: .quad 3
    .globl jl_sysimg_fvars_ptrs
jl_sysimg_fvars_ptrs:
    .quad julia_hcat_1001
    .quad j_old_helper
    .quad {extra}
    .globl jl_sysimg_gvars_count
jl_sysimg_gvars_count: .quad 1
    .globl jl_sysimg_gvars_ptrs
jl_sysimg_gvars_ptrs: .quad jl_slot
    .section .note.GNU-stack,\"\",@progbits
"
            ),
        )
    };
    let newest = table("covers", "julia_new");
    let image = c.link("covers.so", &[&base], &[&newest]);
    assert_eq!(c.probe(&image, &["--tables"]), "unit 1.0: fvars 1002 78 6 | gvars 42\n");

    // An entry naming what no generation this unit sees defines.
    let stray = table("stray", "jl_defined_nowhere");
    assert_link_fails(
        &c.s,
        &args!["--base", base, stray],
        1,
        &["stray.o", "jl_sysimg_fvars_ptrs", "entry 2", "jl_defined_nowhere", "not defined in this image"],
        None,
    );
}

/// Compressed tables whose base label lies in the table's own section: the assembler
/// cannot fold `.long f - base` into a constant (it writes `R_X86_64_PC32` against `f`
/// with an addend), and the linker decodes the entries from the relocations, in the
/// newest generation and in a base (whose table section is stripped), with one `.text`
/// per unit and with one section per function.
#[test]
fn compressed_tables_written_as_relocations_are_decoded() {
    let c = Chain::new();
    for sections in ["one-text", "function-sections"] {
        let unit = |name: &str, delta: i64| {
            let section = |function: &str| match sections {
                "one-text" => "    .text\n".to_string(),
                _ => format!("    .section .text.{function},\"ax\",@progbits\n"),
            };
            c.object(
                &format!("{sections}-{name}.s"),
                &format!(
                    "{a}    .globl julia_{name}_a
    .hidden julia_{name}_a
    .type julia_{name}_a, @function
julia_{name}_a:
    lea {da}(%rdi), %rax
    ret
{b}    .type julia_{name}_b, @function
julia_{name}_b:
    lea {db}(%rdi), %rax
    ret
    .globl julia_{name}_by_name
julia_{name}_by_name:
    jmp julia_{name}_b
    .data
    .p2align 3
    .globl jl_{name}_slot
    .hidden jl_{name}_slot
jl_{name}_slot: .quad {slot}
    .section .data.jl.unique,\"aw\"
    .globl jl_sysimg_fvars_base
    .hidden jl_sysimg_fvars_base
jl_sysimg_fvars_base:
    .globl jl_sysimg_fvars_offsets
jl_sysimg_fvars_offsets:
    .long 2
    .long julia_{name}_a - jl_sysimg_fvars_base
    .long julia_{name}_b - jl_sysimg_fvars_base
    .globl jl_sysimg_gvars_base
    .hidden jl_sysimg_gvars_base
jl_sysimg_gvars_base:
    .globl jl_sysimg_gvars_offsets
jl_sysimg_gvars_offsets:
    .long 1
    .long jl_{name}_slot - jl_sysimg_gvars_base
    .section .note.GNU-stack,\"\",@progbits
",
                    a = section(&format!("julia_{name}_a")),
                    b = section(&format!("julia_{name}_b")),
                    da = 10 + delta,
                    db = 20 + delta,
                    slot = 300 + delta,
                ),
            )
        };
        let old = unit("old", 0);
        let relocations = readelf(&["-r", "-W"], &old);
        assert!(relocations.contains("R_X86_64_PC32") && relocations.contains("julia_old_a"), "{relocations}");
        let data = c.data(&format!("{sections}-data"));
        let base = c.archive(&format!("{sections}-sys-o.a"), &[("text.o", &old), ("data.o", &data)]);
        let new = unit("new", 1000);
        let image = c.link(&format!("{sections}.so"), &[&base], &[&new]);
        assert_eq!(
            c.probe(&image, &["--tables", "julia_new_by_name"]),
            "unit 0.0: fvars 11 21 | gvars 300\nunit 1.0: fvars 1011 1021 | gvars 1300\njulia_new_by_name(1) = 1021\n",
            "{sections}"
        );
    }
}
