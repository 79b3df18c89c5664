//! Chained images end to end: Julia-shaped images from `scripts/julia_image.py` (both
//! archive layouts, both table forms, several code models) are linked generation onto
//! generation with `--base` and `--emit-archive`, loaded by `testdata/julia/jl_loader.c`,
//! which calls every function of every generation by name and through the
//! `chainlink_image` tables and compares with the generator's record. Small hand-written
//! units pin down precedence, per-generation hidden names, stripping and table errors.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chainlink_ok(cwd: &Path, args: &[String]) -> String {
    let mut command = chainlink();
    command.current_dir(cwd).args(args);
    run_ok(&mut command)
}

fn generation_archive(dir: &Path, generation: usize) -> PathBuf {
    if generation == 0 {
        dir.join("gen0/sys-o.a")
    } else {
        dir.join(format!("gen{generation}/chained.o.a"))
    }
}

/// Links the newest of `generations` onto all older ones given as --base, with `extra`.
fn link_all(dir: &Path, out: &Path, generations: usize, extra: &[&str]) {
    let mut args = args!["link", "-o", out];
    for generation in 0..generations - 1 {
        args.extend(args!["--base", generation_archive(dir, generation)]);
    }
    args.push(generation_archive(dir, generations - 1).arg());
    args.extend(extra.iter().map(|s| s.to_string()));
    chainlink_ok(dir, &args);
}

/// Every function of every generation runs, by name and through the tables, with RELA
/// and with RELR relative relocations; relinking gives the same bytes.
fn full_chain(layout: &str, tables: &str, model: &str) {
    let s = Scratch::new();
    let dir = s.subdir("image");
    generate(
        &dir,
        &["--layout", layout, "--tables", tables, "--model", model, "--generations", "3", "--functions", "40"],
    );
    let rela = dir.join("chained.so");
    link_all(&dir, &rela, 3, &[]);
    let units = if layout == "1.10" { 6 } else { 3 };
    let summary = check_image(&dir, &rela, &["--by-name", "--tables"]);
    assert!(summary.contains(&format!("{units} units")), "{summary}");

    let relr = dir.join("chained-relr.so");
    link_all(&dir, &relr, 3, &["-z", "pack-relative-relocs"]);
    check_image(&dir, &relr, &["--by-name", "--tables"]);
    assert!(readelf(&["-d"], &relr).contains("(RELR)"), "no DT_RELR");
    assert!(!readelf(&["-r"], &relr).contains("R_X86_64_RELATIVE"), "relative relocations left in RELA");

    let again = dir.join("again.so");
    link_all(&dir, &again, 3, &["--threads", "1"]);
    assert!(fs::read(&rela).unwrap() == fs::read(&again).unwrap(), "relinking changed the output");
}

#[test]
fn julia_1_9_layout_compressed_tables() {
    full_chain("1.9", "compressed", "medium");
}

#[test]
fn julia_1_10_layout_compressed_tables() {
    full_chain("1.10", "compressed", "small");
}

#[test]
fn julia_1_10_layout_uncompressed_tables_large_model() {
    full_chain("1.10", "uncompressed", "large");
}

#[test]
fn julia_1_9_layout_uncompressed_tables() {
    full_chain("1.9", "uncompressed", "small");
}

/// A chain of four generations built one link at a time, each from the archive the
/// previous link emitted; `inspect --json` lists every generation and unit.
#[test]
fn emitted_archives_chain_any_depth() {
    let s = Scratch::new();
    let dir = s.subdir("image");
    generate(&dir, &["--layout", "1.10", "--generations", "4", "--functions", "30", "--shards", "2"]);
    let mut base = generation_archive(&dir, 0);
    for generation in 1..4 {
        let out = dir.join(format!("image{generation}.so"));
        let next = dir.join(format!("base{generation}.a"));
        chainlink_ok(
            &dir,
            &args!["link", "-o", out, "--base", base, generation_archive(&dir, generation), "--emit-archive", next],
        );
        base = next;
    }
    check_image(&dir, &dir.join("image3.so"), &["--by-name", "--tables"]);

    let json = chainlink_ok(&dir, &args!["inspect", "--json", dir.join("image3.so")]);
    assert_eq!(json.matches("\"generation\": ").count(), 4 + 8, "4 generations and 8 units:\n{json}");
    for generation in 0..4 {
        for shard in 0..2 {
            let unit = format!("{{\"generation\": {generation}, \"shard\": {shard}, \"nfvars\": ");
            assert!(json.contains(&unit), "unit {generation}/{shard} missing:\n{json}");
        }
    }
    assert!(!json.contains(dir.to_str().unwrap()), "the manifest contains a build path:\n{json}");
    let text = chainlink_ok(&dir, &args!["inspect", dir.join("base3.a")]);
    assert!(text.contains("generation 3:"), "{text}");

    // The emitted archive is an ordinary archive that the hand workflow can take apart.
    let members = run_ok(Command::new("ar").arg("t").arg(dir.join("base3.a")));
    assert!(members.contains("chainlink.manifest") && members.contains("g0.text#0.o"), "{members}");
    assert!(members.contains("sysimg.o") && members.contains("metadata.o"), "newest data missing:\n{members}");
}

/// The same objects linked by hand (ar x, objcopy --remove-section, gcc -shared) and by
/// chainlink compute the same results.
#[test]
fn matches_the_hand_workflow() {
    let s = Scratch::new();
    let dir = s.subdir("image");
    generate(&dir, &["--layout", "1.9", "--hidden-unique", "--generations", "3", "--functions", "40"]);
    let hand = dir.join("hand.so");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hand_link.sh");
    run_ok(Command::new("bash").arg(script).arg(&hand).arg(&dir));
    let linked = dir.join("chainlink.so");
    link_all(&dir, &linked, 3, &[]);
    let by_hand = check_image(&dir, &hand, &["--by-name"]);
    let by_chainlink = check_image(&dir, &linked, &["--by-name"]);
    assert_eq!(by_hand, by_chainlink);
}

/// A small chained pair written by hand: generation 0 (`text.o` + `data.o`) and the
/// new generation, so each rule is visible in a few lines of C.
struct HandChain {
    s: Scratch,
}

impl HandChain {
    fn new() -> HandChain {
        HandChain { s: Scratch::new() }
    }

    fn object(&self, name: &str, source: &str) -> PathBuf {
        let c = self.s.write(&format!("{name}.c"), source.as_bytes());
        let o = self.s.path(&format!("{name}.o"));
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        o
    }

    /// An image archive with members named `text.o` and `data.o`.
    fn image(&self, name: &str, text: &Path, data: &Path) -> PathBuf {
        let dir = self.s.subdir(name);
        fs::copy(text, dir.join("text.o")).unwrap();
        fs::copy(data, dir.join("data.o")).unwrap();
        let archive = self.s.path(&format!("{name}.a"));
        run_ok(Command::new("ar").arg("rcs").arg(&archive).arg(dir.join("text.o")).arg(dir.join("data.o")));
        archive
    }

    fn call(&self, library: &Path, calls: &[(&str, i64)]) -> String {
        let mut body = String::new();
        for (symbol, arg) in calls {
            body.push_str(&format!(
                "{{ long (*f)(long) = (long (*)(long))dlsym(h, \"{symbol}\"); if (!f) return 3; printf(\"%ld\\n\", f({arg})); }}\n"
            ));
        }
        let source = format!(
            "#include <dlfcn.h>\n#include <stdio.h>\nint main(int argc, char **argv) {{\n void *h = dlopen(argv[1], RTLD_NOW);\n if (!h) {{ puts(dlerror()); return 2; }}\n{body} return 0;\n}}\n"
        );
        let c = self.s.write("caller.c", source.as_bytes());
        let exe = self.s.path("caller");
        run_ok(Command::new("gcc").arg(&c).arg("-o").arg(&exe).arg("-ldl"));
        run_ok(Command::new(exe).arg(library))
    }
}

const UNIQUE_SECTION: &str = "asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_image_pointers\\njl_image_pointers: .quad jl_system_image_data\\n.text\\n\");\n";

#[test]
fn newest_generation_wins_and_hidden_names_stay_in_their_generation() {
    let c = HandChain::new();
    let text0 = c.object(
        "text0",
        &format!(
            "__attribute__((visibility(\"hidden\"))) long j_helper(long x) {{ return x + 100; }}\n\
             long julia_old(long x) {{ return j_helper(x) * 2; }}\n\
             long julia_shared(long x) {{ return x + 1; }}\n\
             long julia_calls_shared(long x) {{ return julia_shared(x) * 10; }}\n{UNIQUE_SECTION}"
        ),
    );
    let data0 = c.object("data0", "char jl_system_image_data[64] = {1};\n");
    let text1 = c.object(
        "text1",
        &format!(
            "__attribute__((visibility(\"hidden\"))) long j_helper(long x) {{ return x + 5000; }}\n\
             long julia_old(long);\n\
             long julia_new(long x) {{ return julia_old(x) + j_helper(x); }}\n\
             __attribute__((weak)) long julia_shared(long x) {{ return x + 2; }}\n{UNIQUE_SECTION}"
        ),
    );
    let data1 = c.object("data1", "char jl_system_image_data[64] = {2};\n");
    let base = c.image("sys-o", &text0, &data0);
    let chained = c.image("chained.o", &text1, &data1);
    let out = c.s.path("chained.so");
    let log = run(chainlink().args(args!["link", "-o", out, "--base", base, chained, "--verbose"]));
    assert!(log.status.success(), "{}", describe(&log));
    assert!(String::from_utf8_lossy(&log.stderr).contains("1 definition(s) shadowed"), "{}", describe(&log));
    // julia_new(1) = julia_old(1) [generation 0: (1 + 100) * 2] + generation 1's j_helper(1) (5001).
    // julia_shared binds to generation 1's weak definition, also from generation 0's code.
    let results = c.call(&out, &[("julia_new", 1), ("julia_shared", 1), ("julia_calls_shared", 1)]);
    assert_eq!(results, "5203\n3\n30\n");
}

#[test]
fn duplicate_global_within_one_generation_fails() {
    let c = HandChain::new();
    let a = c.object("a", "long julia_dup(long x) { return x; }\n");
    let b = c.object("b", "long julia_dup(long x) { return -x; }\n");
    let data = c.object("data", "char jl_system_image_data[8];\n");
    let base = c.image("sys-o", &a, &data);
    // Across generations the newer definition wins…
    let ok = c.s.path("ok.so");
    chainlink_ok(c.s.dir(), &args!["link", "-o", ok, "--base", base, b]);
    assert_eq!(c.call(&ok, &[("julia_dup", 5)]), "-5\n");
    // …within the newest generation it is an error.
    let message = assert_link_fails(
        &c.s,
        &args!["--base", base, a, b],
        1,
        &["duplicate symbol", "julia_dup", "a.o", "b.o"],
        None,
    );
    assert!(message.starts_with("chainlink: error:"), "{message}");
    // …and within a base generation too.
    let dir = c.s.subdir("dup");
    fs::copy(&a, dir.join("text#0.o")).unwrap();
    fs::copy(&b, dir.join("text#1.o")).unwrap();
    fs::copy(&data, dir.join("sysimg.o")).unwrap();
    let sharded = c.s.path("sharded.a");
    run_ok(Command::new("ar").arg("rcs").arg(&sharded).args(["text#0.o", "text#1.o", "sysimg.o"]).current_dir(&dir));
    let other = c.object("other", "long julia_other(long x) { return x; }\n");
    assert_link_fails(
        &c.s,
        &args!["--base", sharded, other],
        1,
        &["duplicate symbol", "julia_dup", "text#0.o", "text#1.o"],
        None,
    );
}

#[test]
fn reference_into_a_stripped_section_fails_unless_a_newer_generation_defines_it() {
    let c = HandChain::new();
    let text0 = c.object(
        "text0",
        "extern long jl_unique_thing;\n\
         long julia_reads_unique(long x) { return x + jl_unique_thing; }\n\
         asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_unique_thing\\njl_unique_thing: .quad 7\\n.text\\n\");\n",
    );
    let data0 = c.object("data0", "char jl_system_image_data[8];\n");
    let base = c.image("sys-o", &text0, &data0);
    let new_text = c.object("new", "long julia_new(long x) { return x; }\n");
    let message = assert_link_fails(
        &c.s,
        &args!["--base", base, new_text],
        1,
        &["sys-o.a(text.o)", "section .text", "jl_unique_thing", ".data.jl.unique", "stripped"],
        None,
    );
    assert!(message.contains("offset 0x"), "{message}");

    // A newer generation that defines the symbol takes the reference.
    let definer = c.object("definer", "long jl_unique_thing = 1000;\n");
    let out = c.s.path("ok.so");
    chainlink_ok(c.s.dir(), &args!["link", "-o", out, "--base", base, definer]);
    assert_eq!(c.call(&out, &[("julia_reads_unique", 1)]), "1001\n");

    // A custom strip list: stripping .data of the base makes its references errors too.
    let with_data = c.object("with_data", "long counter = 3;\nlong julia_count(long x) { return x + counter; }\n");
    let base2 = c.image("sys2", &with_data, &data0);
    assert_link_fails(
        &c.s,
        &args!["--base", base2, new_text, "--strip-section", ".data"],
        1,
        &["counter", "stripped"],
        None,
    );
}

/// Writes a unit whose compressed function table is given as assembly lines.
fn unit_with_table(c: &HandChain, name: &str, table: &str) -> PathBuf {
    c.object(
        name,
        &format!(
            "asm(\".text\\n.hidden jl_sysimg_fvars_base\\njl_sysimg_fvars_base:\\n\");\n\
             long julia_a(long x) {{ return x + 1; }}\n\
             long julia_b(long x) {{ return x + 2; }}\n\
             long slot = 5;\n\
             asm(\".hidden jl_sysimg_gvars_base\\n.set jl_sysimg_gvars_base, slot\\n\");\n\
             asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_sysimg_fvars_offsets\\njl_sysimg_fvars_offsets:\\n{table}\\n\
             .globl jl_sysimg_gvars_offsets\\njl_sysimg_gvars_offsets: .long 1, 0\\n.text\\n\");\n"
        ),
    )
}

#[test]
fn malformed_tables_are_clear_errors() {
    let c = HandChain::new();
    let good = unit_with_table(
        &c,
        "good",
        ".long 2\\n.long julia_a - jl_sysimg_fvars_base\\n.long julia_b - jl_sysimg_fvars_base",
    );
    let out = c.s.path("good.so");
    chainlink_ok(c.s.dir(), &args!["link", "-o", out, good]);
    let json = chainlink_ok(c.s.dir(), &args!["inspect", "--json", out]);
    assert!(json.contains("\"nfvars\": 2, \"ngvars\": 1"), "{json}");

    // An offset that does not land on a symbol of the unit.
    let stray = unit_with_table(&c, "stray", ".long 2\\n.long julia_a - jl_sysimg_fvars_base\\n.long 0x7777");
    assert_link_fails(&c.s, &args![stray], 1, &["stray.o", "jl_sysimg_fvars_offsets", "entry 1", "0x7777"], None);

    // A count larger than the table.
    let short = unit_with_table(&c, "short", ".long 1000\\n.long julia_a - jl_sysimg_fvars_base");
    assert_link_fails(&c.s, &args![short], 1, &["short.o", "jl_sysimg_fvars_offsets", "1000 entries"], None);

    // A function table without its global-slot table.
    let lonely = c.object(
        "lonely",
        "asm(\".text\\n.hidden jl_sysimg_fvars_base\\njl_sysimg_fvars_base:\\n\");\n\
         long julia_a(long x) { return x; }\n\
         asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_sysimg_fvars_offsets\\njl_sysimg_fvars_offsets: .long 1, 0\\n.text\\n\");\n",
    );
    assert_link_fails(&c.s, &args![lonely], 1, &["lonely.o", "global-slot table"], None);
}
