//! Warm relinks through a prepared base: the first link with a base records its scan in
//! the cache; later links with the same base and a different newest generation replay it.
//! Every warm link must give exactly the bytes of a cold link (`--no-cache`) on the same
//! inputs and run under the test loader; a binding change rescans only the chunks that name
//! the symbol; damaged prepared bases are ignored, reported and rebuilt.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Relinks {
    s: Scratch,
    cache: PathBuf,
}

/// The `"prepared_base"` object of a `--stats-json` file, on one line.
fn prepared_line(stats: &Path) -> String {
    let json = fs::read_to_string(stats).unwrap();
    json.lines().find(|l| l.trim_start().starts_with("\"prepared_base\": {")).unwrap_or_default().to_string()
}

fn field(line: &str, name: &str) -> u64 {
    let at = line.find(&format!("\"{name}\": ")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 4;
    line[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

impl Relinks {
    fn new() -> Relinks {
        let s = Scratch::new();
        let cache = s.path("cache");
        Relinks { s, cache }
    }

    fn command(&self, out: &Path, bases: &[&Path], newest: &[PathBuf]) -> Command {
        let mut command = Command::new(CHAINLINK);
        command.arg("link").arg("-o").arg(out);
        for base in bases {
            command.arg("--base").arg(base);
        }
        command.args(newest);
        command
    }

    /// Links with the cache; returns the `prepared_base` stats. The bases are settled
    /// (see [`settle`]) as a real base is: from their second link on, their hashes are
    /// remembered and the prepared base is used from the start (its symbols restored, its
    /// region copied early).
    fn warm(&self, out: &Path, bases: &[&Path], newest: &[PathBuf], extra: &[&str]) -> String {
        for base in bases {
            settle(base);
        }
        let stats = self.s.path("stats.json");
        let mut command = self.command(out, bases, newest);
        command.arg("--cache-dir").arg(&self.cache).arg("--stats-json").arg(&stats).args(extra);
        run_ok(&mut command);
        prepared_line(&stats)
    }

    /// Links from scratch, and checks that `warm` holds the same bytes.
    fn assert_same_as_cold(&self, warm: &Path, bases: &[&Path], newest: &[PathBuf]) {
        self.assert_same_as_cold_with(warm, bases, newest, &[]);
    }

    /// As [`Relinks::assert_same_as_cold`], both links with `extra` options.
    fn assert_same_as_cold_with(&self, warm: &Path, bases: &[&Path], newest: &[PathBuf], extra: &[&str]) {
        let cold = self.s.path("cold.so");
        run_ok(self.command(&cold, bases, newest).arg("--no-cache").args(extra));
        assert!(fs::read(warm).unwrap() == fs::read(&cold).unwrap(), "{} differs from a cold link", warm.display());
    }

    fn entries(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(self.cache.join("v1/bases"))
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "base")).collect())
            .unwrap_or_default();
        found.sort();
        found
    }
}

/// Generated Julia-shaped images in `r`'s scratch directory, one per count of new
/// functions, all on the same base of `functions` functions.
fn images(r: &Relinks, functions: usize, new_functions: &[usize]) -> Vec<PathBuf> {
    let functions = functions.to_string();
    new_functions
        .iter()
        .map(|n| {
            let dir = r.s.subdir(&format!("image{n}"));
            let new = n.to_string();
            generate(
                &dir,
                &["--hidden-unique", "--generations", "2", "--functions", &functions, "--new-functions", &new],
            );
            dir
        })
        .collect()
}

/// One Julia-shaped base, and newest generations that add and remove functions (and so
/// change every data symbol's place): each warm relink equals a cold link and runs.
#[test]
fn warm_relinks_equal_cold_links_as_the_newest_generation_changes() {
    let r = Relinks::new();
    let images = images(&r, 150, &[20, 30, 8]);
    let base = images[0].join("gen0/sys-o.a");
    for (i, image) in images.iter().enumerate() {
        // The generator's base does not depend on the newest generation's size.
        assert_eq!(fs::read(image.join("gen0/sys-o.a")).unwrap(), fs::read(&base).unwrap());
        // Each link names the base by another path: the key is its content.
        let base_here = image.join("gen0/sys-o.a");
        let newest = [image.join("gen1/chained.o.a")];
        let out = r.s.path(&format!("warm{i}.so"));
        let stats = r.warm(&out, &[&base_here], &newest, &[]);
        if i == 0 {
            assert!(stats.contains("\"outcome\": \"miss\", \"stored\": true"), "{stats}");
            assert!(stats.contains("\"region\": \"recorded\""), "{stats}");
        } else {
            assert!(stats.contains("\"outcome\": \"hit\", \"stored\": false"), "{stats}");
            assert!(field(&stats, "chunks_replayed") > 0, "{stats}");
            assert_eq!(field(&stats, "chunks_rescanned"), 0, "{stats}");
            // The base's bytes come from the prepared base as they are: calls to the runtime
            // go through the base's own PLT entries and loads of the newest generation's
            // data through the base GOT (`.got.base`), both where the base alone puts them.
            assert!(stats.contains("\"region\": \"reused\""), "{stats}");
            assert!(field(&stats, "region_chunks") > 0 && field(&stats, "region_patches") == 0, "{stats}");
        }
        r.assert_same_as_cold(&out, &[&base_here], &newest);
        let summary = check_image(image, &out, &["--by-name", "--tables"]);
        assert!(summary.contains("2 units"), "{summary}");
    }
    assert_eq!(r.entries().len(), 1, "one prepared base for one base");
    // The determinism check compares a warm link with a fresh cold one.
    let out = r.s.path("checked.so");
    let stats =
        r.warm(&out, &[&base], &[images[2].join("gen1/chained.o.a")], &["--verify-determinism", "--soname", "x"]);
    assert!(stats.contains("\"outcome\": \"hit\""), "{stats}");
}

/// (name, address, size) of every section, in section-header order (`readelf -S`).
fn sections(file: &Path) -> Vec<(String, u64, u64)> {
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    readelf(&["-S"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(']').nth(1)?.split_whitespace().collect();
            let header = matches!(fields.first(), Some(&"Name" | &"NULL"));
            (fields.len() > 5 && !header).then(|| (fields[0].to_string(), hex(fields[2]), hex(fields[4])))
        })
        .collect()
}

/// In a chained link the base's code, read-only data and data come first, each in a segment
/// of its own, and do not move when the newest generation grows: that is what lets a warm
/// relink reuse the base's relocated bytes. The newest generation's sections follow them.
#[test]
fn the_base_region_does_not_move_with_the_newest_generation() {
    let s = Scratch::new();
    let mut layouts = Vec::new();
    for new in ["5", "40"] {
        let dir = s.subdir(&format!("image{new}"));
        generate(&dir, &["--generations", "2", "--functions", "120", "--new-functions", new, "--seed", "7"]);
        let out = s.path(&format!("out{new}.so"));
        let args = ["--base".to_string(), dir.join("gen0/sys-o.a").display().to_string()];
        let mut command = chainlink();
        command.arg("link").arg("-o").arg(&out).args(args).arg(dir.join("gen1/chained.o.a")).arg("--no-cache");
        run_ok(&mut command);
        check_image(&dir, &out, &["--by-name", "--tables"]);
        let base_functions: Vec<String> = nm(&["--defined-only"], &out)
            .lines()
            .filter(|line| line.contains(" julia_g0_"))
            .map(str::to_string)
            .collect();
        assert!(base_functions.len() >= 120, "{base_functions:?}");
        layouts.push((sections(&out), base_functions));
    }
    let (sections5, functions5) = &layouts[0];
    let (sections40, functions40) = &layouts[1];
    let names: Vec<&str> = sections5.iter().map(|(name, ..)| name.as_str()).collect();
    let first = |name: &str| names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no {name}: {names:?}"));
    let second_text = names.iter().rposition(|n| *n == ".text").unwrap();
    // Base .text, .rodata and .data, then the newest generation's own .text.
    assert!(first(".text") < first(".rodata") && first(".rodata") < first(".data"), "{names:?}");
    assert!(first(".data") < second_text, "{names:?}");
    assert_eq!(sections5[first(".text")].1, 0x1000, "{sections5:?}");
    for index in [first(".text"), first(".rodata"), first(".data")] {
        assert_eq!(sections5[index], sections40[index], "base section {index} moved");
    }
    assert_ne!(sections5[second_text].2, sections40[second_text].2, "the newest generations differ in size");
    assert_eq!(functions5, functions40, "base functions moved");
}

/// A small base written by hand, whose code calls `julia_shared` through its PLT entry
/// (exported, so preemptible) and `printf` from libc.
struct HandBase {
    r: Relinks,
    base: PathBuf,
}

const UNIQUE_SECTION: &str = "asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_image_pointers\\njl_image_pointers: .quad jl_system_image_data\\n.text\\n\");\n";

impl HandBase {
    fn new() -> HandBase {
        let r = Relinks::new();
        let text = format!(
            "long julia_shared(long x) {{ return x + 1; }}\n\
             long julia_calls_shared(long x) {{ return julia_shared(x) * 10; }}\n\
             extern long jl_counter;\n\
             long julia_count(long x) {{ jl_counter += x; return jl_counter; }}\n{UNIQUE_SECTION}"
        );
        let text = Self::compile(&r.s, "text0", &text);
        let data = Self::compile(&r.s, "data0", "char jl_system_image_data[64] = {1};\nlong jl_counter = 0;\n");
        let dir = r.s.subdir("base");
        fs::copy(&text, dir.join("text.o")).unwrap();
        fs::copy(&data, dir.join("data.o")).unwrap();
        let base = r.s.path("sys-o.a");
        run_ok(Command::new("ar").arg("rcs").arg(&base).arg(dir.join("text.o")).arg(dir.join("data.o")));
        HandBase { r, base }
    }

    fn compile(s: &Scratch, name: &str, source: &str) -> PathBuf {
        let c = s.write(&format!("{name}.c"), source.as_bytes());
        let o = s.path(&format!("{name}.o"));
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        o
    }

    /// A newest generation: its text (`source` plus the uniqueness section) and data.
    fn newest(&self, name: &str, source: &str) -> Vec<PathBuf> {
        let text = Self::compile(&self.r.s, &format!("{name}-text"), &format!("{source}\n{UNIQUE_SECTION}"));
        let data = Self::compile(
            &self.r.s,
            &format!("{name}-data"),
            "char jl_system_image_data[64] = {2};\nlong jl_counter = 1000;\n",
        );
        vec![text, data]
    }

    /// Calls `calls` (name, argument) in `library` and returns the results, one per line.
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
        let c = self.r.s.write("caller.c", source.as_bytes());
        let exe = self.r.s.path("caller");
        run_ok(Command::new("gcc").arg(&c).arg("-o").arg(&exe).arg("-ldl"));
        run_ok(Command::new(exe).arg(library))
    }
}

/// New functions, a new undefined import and overrides of a base function: replayed when
/// the base's symbols bind as before, rescanned (only where named) when they do not, and
/// always the bytes of a cold link.
#[test]
fn binding_changes_rescan_only_what_they_touch() {
    let h = HandBase::new();
    let calls = [("julia_calls_shared", 1), ("julia_shared", 1), ("julia_count", 5)];
    let cases: [(&str, &str, &str, &str); 5] = [
        ("first", "long julia_new(long x) { return x * 3; }", "miss", "20\n2\n1005\n"),
        (
            "import",
            "#include <stdlib.h>\nlong julia_new(long x) { return labs(-x) * 4; }",
            "hit replayed",
            "20\n2\n1005\n",
        ),
        // A default-visibility override binds as the base's own definition did.
        ("override", "long julia_shared(long x) { return x + 7; }", "hit replayed", "80\n8\n1005\n"),
        // A protected override can no longer be preempted: the base's call sites change.
        (
            "protected",
            "__attribute__((visibility(\"protected\"))) long julia_shared(long x) { return x + 9; }",
            "hit rescanned",
            "100\n10\n1005\n",
        ),
        ("removed", "long julia_other(long x) { return x; }", "hit rescanned", "20\n2\n1005\n"),
    ];
    for (name, source, expect, results) in cases {
        let newest = h.newest(name, source);
        let out = h.r.s.path(&format!("{name}.so"));
        let stats = h.r.warm(&out, &[&h.base], &newest, &[]);
        match expect {
            "miss" => assert!(stats.contains("\"outcome\": \"miss\""), "{name}: {stats}"),
            "hit replayed" => {
                assert!(stats.contains("\"outcome\": \"hit\", \"stored\": false"), "{name}: {stats}");
                assert_eq!(field(&stats, "chunks_rescanned"), 0, "{name}: {stats}");
            }
            _ => {
                assert!(stats.contains("\"outcome\": \"hit\", \"stored\": true"), "{name}: {stats}");
                assert!(field(&stats, "chunks_rescanned") > 0, "{name}: {stats}");
                assert!(field(&stats, "chunks_replayed") > 0, "{name}: only chunks naming the symbol: {stats}");
                assert!(stats.contains("julia_shared"), "{name}: the reason names the symbol: {stats}");
            }
        }
        h.r.assert_same_as_cold(&out, &[&h.base], &newest);
        assert_eq!(h.call(&out, &calls), results, "{name}");
    }
}

/// With -Bsymbolic the base's call to its own `julia_shared` is direct: a value the base
/// region's stored bytes hold. A newest generation that overrides `julia_shared` changes no
/// fact the scan depends on (still bound here, still not preemptible), but it changes
/// where the call goes: the chunk holding the call must be written in full, not patched.
#[test]
fn an_override_of_a_directly_called_base_function_rewrites_its_callers() {
    let h = HandBase::new();
    let symbolic = ["-Bsymbolic"];
    let calls = [("julia_calls_shared", 1), ("julia_new", 2)];
    let mut region_chunks = Vec::new();
    for (name, source, results) in [
        ("first", "long julia_new(long x) { return x * 3; }", "20\n6\n"),
        ("plain", "long julia_new(long x) { return x * 4; }", "20\n8\n"),
        ("override", "long julia_shared(long x) { return x + 7; }\nlong julia_new(long x) { return x; }", "80\n2\n"),
    ] {
        let newest = h.newest(name, source);
        let out = h.r.s.path(&format!("{name}.so"));
        let stats = h.r.warm(&out, &[&h.base], &newest, &symbolic);
        if name == "first" {
            assert!(stats.contains("\"region\": \"recorded\""), "{name}: {stats}");
        } else {
            assert!(stats.contains("\"outcome\": \"hit\""), "{name}: {stats}");
            assert_eq!(field(&stats, "chunks_rescanned"), 0, "{name}: the scan replays: {stats}");
            assert!(stats.contains("\"region\": \"reused\""), "{name}: {stats}");
            region_chunks.push(field(&stats, "region_chunks"));
        }
        let cold = h.r.s.path("cold.so");
        run_ok(h.r.command(&cold, &[&h.base], &newest).args(["--no-cache", "-Bsymbolic"]));
        assert!(fs::read(&out).unwrap() == fs::read(&cold).unwrap(), "{name}: differs from a cold link");
        assert_eq!(h.call(&out, &calls), results, "{name}");
    }
    assert!(region_chunks[1] < region_chunks[0], "the caller's chunk is not patched: {region_chunks:?}");
}

/// A base whose code loads a newest-generation function's address through the GOT
/// (`call *jl_newfn@GOTPCREL(%rip)`, relaxed to a direct call since `jl_newfn` is protected
/// there): the call is patched over the stored region in every warm relink, and patching
/// rewrites the instruction from the input's bytes without touching the relocated field of
/// the instruction just before it (here a `lea` whose displacement is negative).
#[test]
fn a_relaxed_got_load_patched_over_the_region_keeps_its_neighbours() {
    let r = Relinks::new();
    let base = asm_base(
        &r.s,
        b".text
    .globl anchor
    .hidden anchor
anchor:
    ret
    .globl julia_base_fn
    .type julia_base_fn, @function
julia_base_fn:
    lea anchor(%rip), %rcx
    call *jl_newfn@GOTPCREL(%rip)
    lea anchor(%rip), %rdx
    sub %rdx, %rcx
    add %rcx, %rax
    ret
    .section .note.GNU-stack,\"\",@progbits
",
    );
    let dir = r.s.path("base");
    // The `lea` before the call is relocated (a global, even if hidden, in the same section).
    let relocations = readelf(&["-r"], &dir.join("text.o"));
    assert!(relocations.contains("R_X86_64_GOTPCRELX") && relocations.contains("anchor"), "{relocations}");
    for (round, value) in [("first", 7), ("second", 11), ("third", 13)] {
        let source = format!(
            "__attribute__((visibility(\"protected\"))) long jl_newfn(void) {{ return {value}; }}\n\
             long julia_new_{round}(long x) {{ return x + {value}; }}\n"
        );
        let c = r.s.write(&format!("{round}.c"), source.as_bytes());
        let o = r.s.path(&format!("{round}.o"));
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        let out = r.s.path(&format!("{round}.so"));
        let stats = r.warm(&out, &[&base], std::slice::from_ref(&o), &[]);
        if round != "first" {
            assert!(stats.contains("\"region\": \"reused\""), "{round}: {stats}");
            assert!(field(&stats, "region_patches") >= 1, "{round}: the relaxed call is patched: {stats}");
        }
        r.assert_same_as_cold(&out, &[&base], std::slice::from_ref(&o));
        let caller = r.s.write(
            "caller.c",
            b"#include <dlfcn.h>\n#include <stdio.h>\nint main(int c, char **v) { void *h = dlopen(v[1], RTLD_NOW);\n\
              if (!h) { puts(dlerror()); return 2; } long (*f)(void) = (long (*)(void))dlsym(h, \"julia_base_fn\");\n\
              printf(\"%ld\\n\", f()); return 0; }\n",
        );
        let exe = r.s.path("caller");
        run_ok(Command::new("gcc").arg(&caller).arg("-o").arg(&exe).arg("-ldl"));
        assert_eq!(run_ok(Command::new(&exe).arg(&out)), format!("{value}\n"), "{round}");
    }
}

/// Assembles `source` into a base archive `sys-o.a` holding one `text.o`.
fn asm_base(s: &Scratch, source: &[u8]) -> PathBuf {
    let text = s.write("base-text.s", source);
    let dir = s.subdir("base");
    run_ok(Command::new("gcc").arg("-c").arg(&text).arg("-o").arg(dir.join("text.o")));
    let base = s.path("sys-o.a");
    run_ok(Command::new("ar").arg("rcs").arg(&base).arg(dir.join("text.o")));
    base
}

/// Compiles C `sources` (name, text) with `gcc -fPIC -O2` into `dir` and archives the
/// objects as `archive` (in order).
fn c_archive(s: &Scratch, dir: &str, archive: &str, sources: &[(&str, &str)]) -> PathBuf {
    let dir = s.subdir(dir);
    let mut objects = Vec::new();
    for (name, source) in sources {
        let c =
            s.write(&format!("{dir}-{name}.c", dir = dir.file_name().unwrap().to_string_lossy()), source.as_bytes());
        let o = dir.join(name);
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        objects.push(o);
    }
    let path = s.path(archive);
    run_ok(Command::new("ar").arg("rcs").arg(&path).args(&objects));
    path
}

/// A base generation where one object defines `helper` hidden and another calls it through
/// a plain (default-visibility) declaration, and a newest generation that defines a default
/// `helper` of its own in some links and not in others. The base's call binds to its own
/// generation's hidden `helper` every time (a generation's own hidden names come first,
/// whatever the reference's visibility); warm relinks in either order equal cold links.
#[test]
fn a_base_call_binds_its_own_hidden_name_whatever_the_newest_generation_defines() {
    // Both orders: the link that records the prepared base sees the newest generation's
    // `helper` or none; what it records must not depend on which.
    for first_with_helper in [true, false] {
        let r = Relinks::new();
        let base = c_archive(
            &r.s,
            "base",
            "sys-o.a",
            &[
                (
                    "text#0.o",
                    "__attribute__((visibility(\"hidden\"))) long helper(long x) { return x + 1; }\n\
                              long julia_a(long x) { return helper(x) * 2; }\n",
                ),
                (
                    "text#1.o",
                    "long helper(long);\nlong julia_calls(long x) { return helper(x) * 10; }\n\
                              void *helper_ptr = (void *)&helper;\n",
                ),
            ],
        );
        let with_helper = c_archive(&r.s, "n1", "n1.a", &[("text#0.o", "long helper(long x) { return x + 100; }\n")]);
        let without = c_archive(&r.s, "n2", "n2.a", &[("text#0.o", "long julia_new(long x) { return x * 4; }\n")]);
        let caller = HandBase { r, base: base.clone() };
        let mut rounds = vec![
            ("with", &with_helper, "20\n"),
            ("without", &without, "20\n"),
            ("with again", &with_helper, "20\n"),
            ("without again", &without, "20\n"),
        ];
        if !first_with_helper {
            rounds.rotate_left(1);
        }
        for (round, newest, expected) in rounds {
            let out = caller.r.s.path(&format!("{}.so", round.replace(' ', "-")));
            let newest = [newest.clone()];
            caller.r.warm(&out, &[&base], &newest, &[]);
            caller.r.assert_same_as_cold(&out, &[&base], &newest);
            assert_eq!(caller.call(&out, &[("julia_calls", 1)]), expected, "{round}");
        }
    }
}

/// A base reference to a hidden name defined only in the stripped uniqueness section links
/// while the newest generation defines the name, and is the usual clear error once it does
/// not, warm or cold.
#[test]
fn a_stripped_definition_the_newest_generation_stops_providing_is_an_error_warm_too() {
    let r = Relinks::new();
    let base = c_archive(
        &r.s,
        "base",
        "sys-o.a",
        &[(
            "text.o",
            "asm(\".section .data.jl.unique,\\\"aw\\\"\\n.globl jl_uniq\\n.hidden jl_uniq\\njl_uniq: .quad 42\\n.text\\n\");\n\
             extern long jl_uniq __attribute__((visibility(\"hidden\")));\nlong julia_get(void) { return jl_uniq; }\n",
        )],
    );
    let defines =
        c_archive(&r.s, "n1", "n1.a", &[("text.o", "__attribute__((visibility(\"protected\"))) long jl_uniq = 7;\n")]);
    let does_not = c_archive(&r.s, "n2", "n2.a", &[("text.o", "long julia_new(long x) { return x * 4; }\n")]);
    // A newer generation's hidden names are not visible to older generations' code.
    let hides =
        c_archive(&r.s, "n3", "n3.a", &[("text.o", "__attribute__((visibility(\"hidden\"))) long jl_uniq = 7;\n")]);
    let out = r.s.path("first.so");
    r.warm(&out, &[&base], std::slice::from_ref(&defines), &[]);
    r.assert_same_as_cold(&out, &[&base], &[defines]);
    for (label, newest) in [("warm", &does_not), ("cold", &does_not), ("warm", &hides), ("cold", &hides)] {
        let out = r.s.path(&format!("failing-{label}.so"));
        let mut command = r.command(&out, &[&base], std::slice::from_ref(newest));
        if label == "warm" {
            command.arg("--cache-dir").arg(&r.cache);
        } else {
            command.arg("--no-cache");
        }
        let output = run(&mut command);
        assert_eq!(output.status.code(), Some(1), "{label}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("stripped") && stderr.contains("jl_uniq"), "{label}: {stderr}");
        assert!(!out.exists(), "{label}: an output was written");
    }
}

/// A base that uses an absolute value a newer generation defines (`.set jl_abs, ...`):
/// the value may fall inside the base region's addresses, yet it is the newest
/// generation's, so it is applied again in every warm relink.
#[test]
fn an_absolute_value_from_the_newest_generation_is_applied_again() {
    let r = Relinks::new();
    let base = asm_base(
        &r.s,
        b"    .text
    .globl julia_f
julia_f:
    movl $jl_abs, %eax
    ret
    .data
    .globl julia_tab
julia_tab:
    .quad jl_abs
    .section .note.GNU-stack,\"\",@progbits
",
    );
    let h = HandBase { r, base: base.clone() };
    for value in ["0x1008", "0x1010", "0x1018"] {
        let source = h.r.s.write(
            &format!("n{value}.s"),
            format!(
                "    .globl jl_abs\n    .protected jl_abs\n    .set jl_abs, {value}\n    .text\n    .globl julia_new\n\
                 julia_new:\n    ret\n    .section .note.GNU-stack,\"\",@progbits\n"
            )
            .as_bytes(),
        );
        let object = h.r.s.path(&format!("n{value}.o"));
        run_ok(Command::new("gcc").arg("-c").arg(&source).arg("-o").arg(&object));
        let out = h.r.s.path(&format!("{value}.so"));
        h.r.warm(&out, &[&base], std::slice::from_ref(&object), &[]);
        h.r.assert_same_as_cold(&out, &[&base], std::slice::from_ref(&object));
        let expected = i64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(h.call(&out, &[("julia_f", 0)]), format!("{expected}\n"), "{value}");
    }
}

/// A truncated, altered or foreign prepared base is reported, ignored and rebuilt; the link
/// still gives the cold link's bytes.
#[test]
fn damaged_prepared_bases_are_rebuilt() {
    let h = HandBase::new();
    let first = h.newest("first", "long julia_new(long x) { return x * 3; }");
    h.r.warm(&h.r.s.path("first.so"), &[&h.base], &first, &[]);
    let entry = h.r.entries().pop().expect("a prepared base was stored");
    let good = fs::read(&entry).unwrap();
    let second = h.newest("second", "long julia_new(long x) { return x * 5; }");
    for damage in ["truncate", "flip", "garbage", "empty"] {
        match damage {
            "truncate" => fs::write(&entry, &good[..good.len() - 9]).unwrap(),
            "flip" => {
                let mut bytes = good.clone();
                let last = bytes.len() - 1;
                bytes[last] ^= 0x40;
                fs::write(&entry, bytes).unwrap();
            }
            "garbage" => fs::write(&entry, vec![0x5a; good.len()]).unwrap(),
            _ => fs::write(&entry, b"").unwrap(),
        }
        // Not from the output cache: this link must read the prepared base.
        let _ = fs::remove_dir_all(h.r.cache.join("v1/outputs"));
        let out = h.r.s.path(&format!("{damage}.so"));
        let stats_file = h.r.s.path("stats.json");
        let mut command = h.r.command(&out, &[&h.base], &second);
        command.arg("--cache-dir").arg(&h.r.cache).arg("--stats-json").arg(&stats_file).arg("--verbose");
        let output = run(&mut command);
        assert!(output.status.success(), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("warning: ignoring corrupt prepared base"), "after {damage}: {stderr}");
        let stats = prepared_line(&stats_file);
        assert!(stats.contains("\"outcome\": \"corrupt\", \"stored\": true"), "after {damage}: {stats}");
        h.r.assert_same_as_cold(&out, &[&h.base], &second);
        assert_eq!(h.call(&out, &[("julia_new", 2), ("julia_calls_shared", 1)]), "10\n20\n");
        assert_eq!(fs::read(&entry).unwrap(), good, "the rebuilt prepared base differs (after {damage})");
    }
}

/// Several links with one base and different newest generations, at once, sharing a cache.
#[test]
fn concurrent_warm_links_share_a_prepared_base() {
    let h = HandBase::new();
    let newest: Vec<Vec<PathBuf>> = (0..4)
        .map(|i| h.newest(&format!("n{i}"), &format!("long julia_new(long x) {{ return x * {}; }}", i + 2)))
        .collect();
    for round in 0..2 {
        let children: Vec<_> = newest
            .iter()
            .enumerate()
            .map(|(i, objects)| {
                let out = h.r.s.path(&format!("r{round}-{i}.so"));
                let stats = h.r.s.path(&format!("r{round}-{i}.json"));
                let child = h
                    .r
                    .command(&out, &[&h.base], objects)
                    .args(["--cache-dir".as_ref(), h.r.cache.as_os_str(), "--stats-json".as_ref(), stats.as_os_str()])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                (out, stats, child)
            })
            .collect();
        for (i, (out, stats, child)) in children.into_iter().enumerate() {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", describe(&output));
            assert!(output.stderr.is_empty(), "round {round}: {}", describe(&output));
            let prepared = prepared_line(&stats);
            if round == 1 {
                assert!(prepared.contains("\"outcome\": \"hit\""), "round 1: {prepared}");
                assert_eq!(field(&prepared, "chunks_rescanned"), 0, "{prepared}");
            }
            h.r.assert_same_as_cold(&out, &[&h.base], &newest[i]);
            assert_eq!(h.call(&out, &[("julia_new", 3)]), format!("{}\n", 3 * (i + 2)));
        }
        // Outputs are now cached: the second round checks prepared-base use once more.
        fs::remove_dir_all(h.r.cache.join("v1/outputs")).unwrap();
    }
    assert_eq!(h.r.entries().len(), 1);
}

/// A cache whose prepared bases cannot be written (here `bases` is a file) or whose
/// directory cannot be used at all costs a warning, never the link.
#[test]
fn an_unwritable_prepared_base_degrades_to_a_cold_link() {
    let h = HandBase::new();
    let newest = h.newest("first", "long julia_new(long x) { return x * 3; }");
    fs::create_dir_all(h.r.cache.join("v1")).unwrap();
    fs::write(h.r.cache.join("v1/bases"), "not a directory").unwrap();
    for round in ["bases is a file", "cache is a file"] {
        if round == "cache is a file" {
            fs::remove_dir_all(&h.r.cache).unwrap();
            fs::write(&h.r.cache, "not a directory").unwrap();
        }
        let out = h.r.s.path("out.so");
        let mut command = h.r.command(&out, &[&h.base], &newest);
        command.arg("--cache-dir").arg(&h.r.cache);
        let output = run(&mut command);
        assert!(output.status.success(), "{round}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{round}: one warning: {stderr}");
        assert!(stderr.contains("warning: cannot "), "{round}: {stderr}");
        assert!(!stderr.contains("corrupt"), "{round}: an unusable file is not a corrupt one: {stderr}");
        h.r.assert_same_as_cold(&out, &[&h.base], &newest);
        assert_eq!(h.call(&out, &[("julia_new", 2)]), "6\n", "{round}");
    }
}

/// A cache on a file system with (almost) no room left: links that would store outputs,
/// fingerprints or prepared bases there cost one warning each and give a cold link's bytes;
/// nothing half-written is left behind to be used later. The file system is a small
/// tmpfs in a private mount namespace (`unshare`), filled up before each link.
#[test]
fn a_full_cache_file_system_degrades_to_an_uncached_link() {
    let h = HandBase::new();
    let cache = h.r.s.subdir("full");
    let mut probe = Command::new("unshare");
    probe.args(["-rm", "sh", "-c"]).arg(format!("mount -t tmpfs -o size=256k tmpfs {}", cache.display()));
    if !run(&mut probe).status.success() {
        eprintln!("skipped: cannot mount a tmpfs in a private mount namespace here");
        return;
    }
    for (round, room) in [("first", 0), ("second", 0), ("some room", 40), ("more room", 80)] {
        let newest = h.newest(&format!("n{}", room + round.len()), "long julia_new(long x) { return x * 3; }");
        let out = h.r.s.path(&format!("{}.so", round.replace(' ', "-")));
        let mut args = vec!["link".to_string(), "-o".to_string(), out.display().to_string()];
        args.extend(["--base".to_string(), h.base.display().to_string()]);
        args.extend(newest.iter().map(|p| p.display().to_string()));
        args.extend(["--cache-dir".to_string(), cache.display().to_string()]);
        // Fill the file system, then free `room` KiB of it, then link.
        let script = format!(
            "mount -t tmpfs -o size=256k tmpfs {cache} && \
             (dd if=/dev/zero of={cache}/filler bs=4k 2>/dev/null; true) && \
             truncate -s -{room}K {cache}/filler && \
             {chainlink} {args}; status=$?; find {cache} -name '.entry-*'; exit $status",
            cache = cache.display(),
            chainlink = CHAINLINK,
            args = args.join(" ")
        );
        let output = run(Command::new("unshare").args(["-rm", "sh", "-c"]).arg(script));
        assert!(output.status.success(), "{round}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("warning: cannot write"), "{round}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{round}: one warning: {stderr}");
        let left = String::from_utf8_lossy(&output.stdout);
        assert!(left.trim().is_empty(), "{round}: half-written cache files were left: {left}");
        h.r.assert_same_as_cold(&out, &[&h.base], &newest);
        assert_eq!(h.call(&out, &[("julia_new", 2), ("julia_calls_shared", 1)]), "6\n20\n", "{round}");
    }
}

/// Bases of several generations — two `--base` archives, or the one archive an earlier link
/// emitted — are prepared like one: warm relinks equal cold links and run.
#[test]
fn several_base_generations_and_emitted_archives_are_prepared_too() {
    let h = HandBase::new();
    // Generation 1 (a base here too) overrides `julia_shared` and calls generation 0.
    let gen1 = h.newest(
        "gen1",
        "long julia_shared(long x) { return x + 20; }\nlong julia_calls_shared(long x);\n\
         long julia_g1(long x) { return julia_calls_shared(x) + 1; }",
    );
    let dir = h.r.s.subdir("gen1-members");
    fs::copy(&gen1[0], dir.join("text.o")).unwrap();
    fs::copy(&gen1[1], dir.join("data.o")).unwrap();
    let gen1_archive = h.r.s.path("gen1.a");
    run_ok(Command::new("ar").arg("rcs").arg(&gen1_archive).arg(dir.join("text.o")).arg(dir.join("data.o")));
    let emitted = h.r.s.path("emitted.a");
    let gen1_image = h.r.s.path("gen1.so");
    run_ok(h.r.command(&gen1_image, &[&h.base], std::slice::from_ref(&gen1_archive)).args([
        "--no-cache".as_ref(),
        "--emit-archive".as_ref(),
        emitted.as_os_str(),
    ]));
    for (label, bases) in
        [("two", vec![h.base.as_path(), gen1_archive.as_path()]), ("emitted", vec![emitted.as_path()])]
    {
        for factor in [3, 4] {
            let newest =
                h.newest(&format!("{label}{factor}"), &format!("long julia_new(long x) {{ return x * {factor}; }}"));
            let out = h.r.s.path(&format!("{label}{factor}.so"));
            let stats = h.r.warm(&out, &bases, &newest, &[]);
            if factor == 3 {
                assert!(stats.contains("\"outcome\": \"miss\", \"stored\": true"), "{label}: {stats}");
            } else {
                assert!(stats.contains("\"outcome\": \"hit\""), "{label}: {stats}");
                assert!(field(&stats, "chunks_replayed") > 0 && field(&stats, "chunks_rescanned") == 0, "{stats}");
            }
            h.r.assert_same_as_cold(&out, &bases, &newest);
            // julia_g1(1) = julia_calls_shared(1) + 1 = generation 1's julia_shared(1) * 10 + 1.
            let calls = [("julia_g1", 1), ("julia_new", 2), ("julia_count", 5)];
            assert_eq!(h.call(&out, &calls), format!("211\n{}\n1005\n", 2 * factor), "{label}");
        }
    }
}

/// A warm relink whose base is unchanged on disk (its hash remembered): the prepared base
/// is opened before resolution, the base's symbols are restored from its record and its
/// region is copied while symbols resolve; the output equals a cold link's and runs. A
/// record that does not fit (here: damaged in a prepared base already trusted) is
/// ignored and the base loaded as usual, with the same output.
#[test]
fn a_settled_base_restores_its_symbols_and_copies_its_region_early() {
    let r = Relinks::new();
    let first = r.s.subdir("first");
    let second = r.s.subdir("second");
    for (dir, new) in [(&first, "20"), (&second, "30")] {
        generate(dir, &["--hidden-unique", "--generations", "2", "--functions", "150", "--new-functions", new]);
    }
    let base = first.join("gen0/sys-o.a");
    settle(&base);
    let stats = r.warm(&r.s.path("first.so"), &[&base], &[first.join("gen1/chained.o.a")], &[]);
    assert!(stats.contains("\"region\": \"recorded\"") && stats.contains("\"symbols\": \"loaded\""), "{stats}");
    let newest = [second.join("gen1/chained.o.a")];
    let out = r.s.path("second.so");
    let stats = r.warm(&out, &[&base], &newest, &[]);
    assert!(stats.contains("\"outcome\": \"hit\", \"stored\": false"), "{stats}");
    assert!(stats.contains("\"symbols\": \"restored\"") && stats.contains("\"region\": \"reused\""), "{stats}");
    r.assert_same_as_cold(&out, &[&base], &newest);
    check_image(&second, &out, &["--by-name", "--tables"]);
    // The new newest generation was hashed ahead, and the key looked up after resolution.
    let report = fs::read_to_string(r.s.path("stats.json")).unwrap();
    let phases = report.lines().find(|line| line.contains("\"phases_ms\"")).expect("phases_ms");
    let cache_phase = phases.find("\"cache\"").expect("a cache phase");
    assert!(phases.find("\"symbols\"").expect("a symbols phase") < cache_phase, "{phases}");

    // Damage the record's object count, and give the prepared base a checksum that
    // matches again: the record's own checks must catch it.
    let [prepared] = &r.entries()[..] else { panic!("one prepared base: {:?}", r.entries()) };
    let mut bytes = fs::read(prepared).unwrap();
    let at = bytes.windows(8).position(|w| w == b"CLBASESY").expect("a base symbols record") + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    // (The checksum covers the whole file, its own field read as zeros.)
    bytes[48..80].fill(0);
    let checksum = *blake3::hash(&bytes).as_bytes();
    bytes[48..80].copy_from_slice(&checksum);
    fs::write(prepared, &bytes).unwrap();
    // A relink of the same inputs, not served from the output cache.
    fs::remove_dir_all(r.cache.join("v1/outputs")).unwrap();
    fs::remove_file(&out).unwrap();
    let stats = r.warm(&out, &[&base], &newest, &[]);
    assert!(stats.contains("\"outcome\": \"hit\"") && stats.contains("\"symbols\": \"loaded\""), "{stats}");
    r.assert_same_as_cold(&out, &[&base], &newest);
}

/// An output-cache hit for a link that started copying its base region early (the newest
/// generation rewritten with the same bytes: hashed, then found in the cache) leaves no
/// temporary file behind, though the command's child exits without destructors.
#[test]
fn an_output_cache_hit_drops_the_early_region_copy() {
    let r = Relinks::new();
    let image = r.s.subdir("image");
    generate(&image, &["--hidden-unique", "--generations", "2", "--functions", "150", "--new-functions", "20"]);
    let base = image.join("gen0/sys-o.a");
    let out_dir = r.s.subdir("out");
    let out = out_dir.join("image.so");
    r.warm(&out, &[&base], &[image.join("gen1/chained.o.a")], &[]);
    for round in 0..2 {
        // A fresh file with the same bytes and name, as a package compiler writes it again.
        let newest = image.join("gen1/chained.o.a");
        let fresh = r.s.path(&format!("again{round}.a"));
        fs::copy(&newest, &fresh).unwrap();
        fs::rename(&fresh, &newest).unwrap();
        let stats_path = r.s.path("stats.json");
        let mut command = r.command(&out, &[&base], std::slice::from_ref(&newest));
        command.arg("--cache-dir").arg(&r.cache).arg("--stats-json").arg(&stats_path);
        run_ok(&mut command);
        let stats = fs::read_to_string(&stats_path).unwrap();
        assert!(stats.contains("\"outcome\": \"up-to-date\"") || stats.contains("\"outcome\": \"copied\""), "{stats}");
        let leftovers: Vec<String> =
            directory_listing(&out_dir).into_iter().filter(|n| n.starts_with(".chainlink-")).collect();
        assert!(leftovers.is_empty(), "temporary files left beside the output: {leftovers:?}");
        fs::remove_file(&out).unwrap();
    }
}

/// An XFS file system with reflinks (`mkfs.xfs -m reflink=1`) on a loop device, mounted for
/// one test and unmounted after it.
struct Xfs {
    dir: PathBuf,
}

impl Xfs {
    /// Mounts one under `s`; `Err(why)` where that cannot be done (not root, no xfsprogs,
    /// no loop devices).
    fn mount(s: &Scratch) -> Result<Xfs, String> {
        let (image, dir) = (s.path("xfs.img"), s.subdir("xfs"));
        let try_run = |command: &mut Command| -> Result<(), String> {
            let out = command.output().map_err(|e| format!("{}: {e}", command_line(command)))?;
            match out.status.success() {
                true => Ok(()),
                false => Err(format!("{}: {}", command_line(command), String::from_utf8_lossy(&out.stderr).trim())),
            }
        };
        fs::File::create(&image).and_then(|f| f.set_len(320 << 20)).map_err(|e| e.to_string())?;
        try_run(Command::new("mkfs.xfs").args(["-q", "-f", "-m", "reflink=1"]).arg(&image))?;
        try_run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&dir))?;
        Ok(Xfs { dir })
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// On a file system with reflinks, a warm relink clones the prepared base's region into
/// the output instead of copying it; nothing in the region needs a patch (base code reaches
/// the newest generation through the base's PLT entries and the base GOT), so its blocks
/// stay shared with the prepared base. The output equals a cold link and runs.
#[test]
fn a_warm_relink_clones_the_region_where_the_file_system_shares_blocks() {
    let mut r = Relinks::new();
    let xfs = match Xfs::mount(&r.s) {
        Ok(xfs) => xfs,
        Err(why) => {
            eprintln!("skipped: cannot mount an XFS file system with reflinks here ({why})");
            return;
        }
    };
    r.cache = xfs.dir.join("cache");
    let images = images(&r, 600, &[40, 55]);
    let base = images[0].join("gen0/sys-o.a");
    let out = xfs.dir.join("image.so");
    for (round, image) in images.iter().chain(&images).enumerate() {
        let newest = [xfs.dir.join(format!("newest{round}.a"))];
        fs::copy(image.join("gen1/chained.o.a"), &newest[0]).unwrap();
        let stats = r.warm(&out, &[&base], &newest, &[]);
        if round == 0 {
            assert!(stats.contains("\"region\": \"recorded\""), "{stats}");
            continue;
        }
        assert!(stats.contains("\"region\": \"reused\""), "{round}: {stats}");
        assert!(stats.contains("\"region_cloned\": true"), "{round}: the region is cloned: {stats}");
        assert_eq!(field(&stats, "region_patches"), 0, "{round}: {stats}");
        r.assert_same_as_cold(&out, &[&base], &newest);
        check_image(image, &out, &["--by-name", "--tables"]);
        // The region's blocks are the prepared base's (`filefrag` marks shared extents).
        let extents = run_ok(Command::new("filefrag").arg("-v").arg(&out));
        assert!(extents.contains("shared"), "{round}: no shared extent in the output:\n{extents}");
    }
}

/// The digests of base definitions a warm relink hashed (its newest generation binds base
/// names the recording link's did not) are kept beside the prepared base, in
/// `bases/<key>.digests`: the next link that binds them hashes none, and every output
/// (its dependency records included) equals a cold link's. A damaged digests file is
/// reported, ignored and rewritten.
#[test]
fn warm_relinks_hash_each_base_definition_once() {
    let r = Relinks::new();
    let images = images(&r, 300, &[10, 60]);
    let base = images[0].join("gen0/sys-o.a");
    let digests_file = || -> Option<PathBuf> {
        fs::read_dir(r.cache.join("v1/bases"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "digests"))
    };
    // (index of the image, digests it must hash: none, or some)
    let rounds = [(0, None), (1, Some(true)), (1, Some(false)), (0, Some(false)), (1, Some(true))];
    for (round, &(image, hashes)) in rounds.iter().enumerate() {
        if round == 4 {
            // Damaged: ignored with a warning, and rewritten.
            let path = digests_file().expect("a digests file");
            let mut bytes = fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 1;
            fs::write(&path, bytes).unwrap();
        }
        // Not from the output cache: every round links.
        let _ = fs::remove_dir_all(r.cache.join("v1/outputs"));
        let newest = [images[image].join("gen1/chained.o.a")];
        let out = r.s.path(&format!("round{round}.so"));
        settle(&base);
        let stats_file = r.s.path("stats.json");
        let mut command = r.command(&out, &[&base], &newest);
        command.arg("--cache-dir").arg(&r.cache).arg("--stats-json").arg(&stats_file);
        let output = run(&mut command);
        assert!(output.status.success(), "{round}: {}", String::from_utf8_lossy(&output.stderr));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.contains("warning: ignoring damaged cache record"), round == 4, "{round}: {stderr}");
        let stats = prepared_line(&stats_file);
        let hashed = field(&stats, "digests_hashed");
        match hashes {
            None => assert!(stats.contains("\"region\": \"recorded\""), "{round}: {stats}"),
            Some(true) => assert!(hashed > 0, "{round}: {stats}"),
            Some(false) => assert_eq!(hashed, 0, "{round}: {stats}"),
        }
        if round >= 1 {
            assert!(digests_file().is_some(), "{round}: the hashed digests are kept");
        }
        r.assert_same_as_cold(&out, &[&base], &newest);
        let records = |path: &Path| common::elf::section(&fs::read(path).unwrap(), ".chainlink.deps").map(|s| s.size);
        assert!(records(&out).is_some_and(|size| size > 0), "{round}: dependency records");
    }
}

/// Base code that loads addresses through the GOT with relocations no linker relaxes
/// (`R_X86_64_GOTPCREL`): a default-visibility symbol of the newest generation (a
/// `GLOB_DAT` slot), a protected one (a relative slot whose value moves with the newest
/// generation), one of the base's own exports, and a libc import. Their slots are the base
/// GOT's (`.got.base`, in the region), so warm relinks patch nothing in the region while
/// the newest generation grows and shrinks, with RELA and with RELR, and compute what a
/// cold link computes.
#[test]
fn base_got_loads_keep_their_slots_as_the_newest_generation_changes() {
    for extra in [&[][..], &["-z", "pack-relative-relocs"][..]] {
        let r = Relinks::new();
        let source = r.s.write(
            "base-text.s",
            b".text
    .globl julia_base_fn
    .type julia_base_fn, @function
julia_base_fn:
    movq jl_newdata@GOTPCREL(%rip), %rax
    movq (%rax), %rax
    movq jl_protected@GOTPCREL(%rip), %rcx
    addq (%rcx), %rax
    movq base_data@GOTPCREL(%rip), %rcx
    addq (%rcx), %rax
    movq strlen@GOTPCREL(%rip), %rcx
    test %rcx, %rcx
    jnz 1f
    addq $1000000, %rax
1:  ret
    .data
    .globl base_data
base_data:
    .quad 300
    .section .note.GNU-stack,\"\",@progbits
",
        );
        let dir = r.s.subdir("base");
        let text = dir.join("text.o");
        run_ok(Command::new("gcc").args(["-c", "-Wa,-mrelax-relocations=no"]).arg(&source).arg("-o").arg(&text));
        let relocations = readelf(&["-r"], &text);
        assert!(relocations.contains("R_X86_64_GOTPCREL ") && !relocations.contains("GOTPCRELX"), "{relocations}");
        let base = r.s.path("sys-o.a");
        run_ok(Command::new("ar").arg("rcs").arg(&base).arg(&text));
        for (round, (padding, value)) in [(10, 1), (200, 2), (3, 3), (500, 4)].into_iter().enumerate() {
            let pads: String =
                (0..padding).map(|i| format!("long julia_pad_{i}(long x) {{ return x * {i}; }}\n")).collect();
            let source = format!(
                "long jl_newdata = {value};\n\
                 __attribute__((visibility(\"protected\"))) long jl_protected = {value}0;\n{pads}"
            );
            let c = r.s.write(&format!("new{round}.c"), source.as_bytes());
            let o = r.s.path(&format!("new{round}.o"));
            run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
            let out = r.s.path(&format!("round{round}.so"));
            let stats = r.warm(&out, &[&base], std::slice::from_ref(&o), extra);
            if round > 0 {
                assert!(stats.contains("\"region\": \"reused\""), "{round} {extra:?}: {stats}");
                assert_eq!(field(&stats, "region_patches"), 0, "{round} {extra:?}: {stats}");
            }
            r.assert_same_as_cold_with(&out, &[&base], std::slice::from_ref(&o), extra);
            let got = readelf(&["-SW"], &out);
            assert!(got.contains(".got.base"), "{round}: {got}");
            let caller = r.s.write(
                "caller.c",
                b"#include <dlfcn.h>\n#include <stdio.h>\nint main(int c, char **v) { void *h = dlopen(v[1], RTLD_NOW);\n\
                  if (!h) { puts(dlerror()); return 2; } long (*f)(void) = (long (*)(void))dlsym(h, \"julia_base_fn\");\n\
                  printf(\"%ld\\n\", f()); return 0; }\n",
            );
            let exe = r.s.path("caller");
            run_ok(Command::new("gcc").arg(&caller).arg("-o").arg(&exe).arg("-ldl"));
            let expected = value + value * 10 + 300;
            assert_eq!(run_ok(Command::new(&exe).arg(&out)), format!("{expected}\n"), "{round} {extra:?}");
        }
    }
}
