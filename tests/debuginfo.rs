//! Debug information through generations (README "Debug information and
//! --remap-path-prefix"): a three-generation chain of C compiled by `gcc -g`, each
//! generation in a directory of its own, linked with chainlink and debugged with gdb in
//! batch mode (breakpoints by name in every generation, `bt` through all three, `info
//! line`), checked with `llvm-dwarfdump --verify`; then moved with `--remap-path-prefix`:
//! gdb prints the new paths, and no byte string of the old prefix is left in the output.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Sources of the three generations; each function's body starts on line 3.
const GEN0: &str = "#include \"scale.h\"\nlong julia_g0(long x)\n{\n    long y = scale(x) + 1;\n    return y;\n}\n";
const GEN1: &str = "long julia_g0(long);\nlong julia_g1(long x)\n{\n    long y = julia_g0(x) * 10;\n    return y;\n}\n";
const GEN2: &str = "long julia_g1(long);\nlong julia_g2(long x)\n{\n    long y = julia_g1(x) + 7;\n    return y;\n}\n";

/// A chain built in `root`: `gen0/src/g0.c` (DWARF 4, with a header from `gen0/include`,
/// so that its line table holds inline paths), `gen1/src/g1.c` (DWARF 5, compiled by
/// absolute path) and `gen2/src/g2.c` (DWARF 5, relative), each generation's archives in
/// its own directory.
struct DebugChain {
    s: Scratch,
    root: PathBuf,
    probe: PathBuf,
    gen2: PathBuf,
    chained: PathBuf,
}

impl DebugChain {
    fn new() -> DebugChain {
        let s = Scratch::new();
        let root = s.subdir("build");
        let probe = s.path("chain_probe");
        run_ok(Command::new("cc").arg(testdata("chain_probe.c")).arg("-o").arg(&probe).arg("-ldl"));
        let include = root.join("gen0/include");
        fs::create_dir_all(&include).unwrap();
        fs::write(include.join("scale.h"), "static inline long scale(long x)\n{\n    return x * 3;\n}\n").unwrap();
        let include_flag = format!("-I{}", include.display());
        let gen0 = compile(&root.join("gen0/src"), "g0", GEN0, &["-gdwarf-4", &include_flag], false);
        let gen1 = compile(&root.join("gen1/src"), "g1", GEN1, &[], true);
        let gen2 = compile(&root.join("gen2/src"), "g2", GEN2, &[], false);
        let data = compile(&root.join("gen0/src"), "data", "char jl_system_image_data[16] = {1};\n", &[], false);
        let sys = root.join("gen0/sys-o.a");
        let members = root.join("gen0/members");
        fs::create_dir_all(&members).unwrap();
        fs::copy(&gen0, members.join("text.o")).unwrap();
        fs::copy(&data, members.join("data.o")).unwrap();
        run_ok(Command::new("ar").arg("rcs").arg(&sys).args(["text.o", "data.o"]).current_dir(&members));
        let chained = root.join("gen1/chained-o.a");
        let one = root.join("gen1/one.so");
        run_ok(&mut chained_link(&one, &[&sys], &[&gen1], &["--emit-archive", chained.to_str().unwrap()]));
        DebugChain { s, root, probe, gen2, chained }
    }

    /// Links the newest generation onto the chain with `extra` options.
    fn link(&self, name: &str, extra: &[&str]) -> PathBuf {
        let out = self.s.path(name);
        run_ok(&mut chained_link(&out, &[&self.chained], &[&self.gen2], extra));
        out
    }

    fn remap_rule(&self) -> String {
        format!("--remap-path-prefix={}=/srv/chain", self.root.display())
    }
}

/// `gcc -g -O0 -fPIC -c` of `source` written to `dir/name.c`, run in `dir` (by absolute
/// path when `absolute`), into `dir/name.o`.
fn compile(dir: &Path, name: &str, source: &str, flags: &[&str], absolute: bool) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let file = dir.join(format!("{name}.c"));
    fs::write(&file, source).unwrap();
    let object = dir.join(format!("{name}.o"));
    let named = if absolute { file.clone() } else { PathBuf::from(format!("{name}.c")) };
    run_ok(
        Command::new("gcc")
            .args(["-g", "-O0", "-fPIC", "-c"])
            .args(flags)
            .arg(named)
            .arg("-o")
            .arg(&object)
            .current_dir(dir),
    );
    object
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// gdb in batch mode on `chain_probe IMAGE julia_g2` with `commands`; `None` (after saying
/// why) when gdb is not installed.
fn gdb(chain: &DebugChain, image: &Path, commands: &[&str]) -> Option<String> {
    if !have("gdb") {
        println!("skipped: gdb is not installed (.ci/run installs it)");
        return None;
    }
    let mut command = Command::new("gdb");
    command.args(["-batch", "-nx", "-ex", "set breakpoint pending on", "-ex", "set debuginfod enabled off"]);
    for c in commands {
        command.arg("-ex").arg(c);
    }
    command.arg("--args").arg(&chain.probe).arg(image).arg("julia_g2");
    let output = run(&mut command);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "gdb failed:\n{text}");
    Some(text)
}

/// Breakpoints by name in all three generations (with the source file and compilation
/// directory at each stop), the backtrace from the oldest, and `info line` of each
/// function, as gdb prints them.
fn debug_session(chain: &DebugChain, image: &Path) -> Option<String> {
    gdb(
        chain,
        image,
        &[
            "break julia_g0",
            "break julia_g1",
            "break julia_g2",
            "run",
            "info source",
            "continue",
            "info source",
            "continue",
            "info source",
            "bt",
            "info line julia_g0",
            "info line julia_g1",
            "info line julia_g2",
            "info line scale",
            "kill",
        ],
    )
}

/// What gdb must say of a chain whose sources are under `prefix`: each generation's file
/// as gdb names it (gen1 was compiled by absolute path, the others by relative name) and
/// its compilation directory.
fn assert_debuggable(text: &str, prefix: &str) {
    let file = |generation: u32| match generation {
        1 => format!("{prefix}/gen1/src/g1.c"),
        _ => format!("g{generation}.c"),
    };
    for generation in [2, 1, 0] {
        let hit = format!("Breakpoint {}, julia_g{generation} (x=1) at {}:4", generation + 1, file(generation));
        assert!(text.contains(&hit), "no `{hit}` in:\n{text}");
        let dir = format!("Compilation directory is {prefix}/gen{generation}/src\n");
        assert!(text.contains(&dir), "no `{dir}` in:\n{text}");
    }
    // The backtrace from the oldest generation's code runs through the two newer ones.
    let frames: Vec<&str> = text.lines().filter(|line| line.starts_with('#')).collect();
    assert!(frames.len() >= 3, "backtrace too short:\n{text}");
    for (frame, generation) in frames.iter().zip([0, 1, 2]) {
        let expected = format!("julia_g{generation} (x=1) at {}:4", file(generation));
        assert!(frame.contains(&expected), "frame `{frame}` is not `{expected}`:\n{text}");
    }
    for generation in [0, 1, 2] {
        let line = format!("Line 3 of \"{}\" starts at address", file(generation));
        assert!(text.contains(&line), "`info line julia_g{generation}`: no `{line}` in:\n{text}");
    }
    // A header named by absolute path in a DWARF 4 line table (an inline string).
    let header = format!("Line 2 of \"{prefix}/gen0/include/scale.h\" starts at address");
    assert!(text.contains(&header), "`info line scale`: no `{header}` in:\n{text}");
}

fn assert_dwarf_verifies(image: &Path) {
    if !have("llvm-dwarfdump") {
        println!("skipped: llvm-dwarfdump is not installed");
        return;
    }
    let output = run(Command::new("llvm-dwarfdump").arg("--verify").arg(image));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && text.contains("No errors."), "llvm-dwarfdump --verify:\n{}", describe(&output));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The contents of every `.debug_*` section of an ELF file, by name.
fn debug_sections(file: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = fs::read(file).unwrap();
    let mut sections: Vec<(String, Vec<u8>)> = elf::sections(&bytes)
        .into_iter()
        .filter(|section| section.name.starts_with(".debug"))
        .map(|section| {
            (section.name.clone(), bytes[section.offset as usize..(section.offset + section.size) as usize].to_vec())
        })
        .collect();
    sections.sort();
    sections
}

#[test]
fn gdb_debugs_every_generation_of_a_chain() {
    let chain = DebugChain::new();
    let image = chain.link("image.so", &[]);
    assert_eq!(
        run_ok(Command::new(&chain.probe).arg(&image).args(["julia_g0", "julia_g1", "julia_g2"])),
        "julia_g0(1) = 4\njulia_g1(1) = 40\njulia_g2(1) = 47\n"
    );
    assert_dwarf_verifies(&image);
    if let Some(text) = debug_session(&chain, &image) {
        assert_debuggable(&text, chain.root.to_str().unwrap());
    }
}

#[test]
fn remapped_paths_are_the_only_paths() {
    let chain = DebugChain::new();
    let rule = chain.remap_rule();
    let image = chain.link("moved.so", &[&rule, "--verify-determinism"]);
    assert_eq!(run_ok(Command::new(&chain.probe).arg(&image).arg("julia_g2")), "julia_g2(1) = 47\n");
    assert_dwarf_verifies(&image);
    // Not a byte of the old prefix anywhere: not in any generation's DWARF, not in the
    // manifest (which records the rule by FROM's hash).
    let bytes = fs::read(&image).unwrap();
    assert!(!contains(&bytes, chain.s.dir().to_str().unwrap().as_bytes()), "the old prefix is still in the output");
    assert!(contains(&bytes, b"/srv/chain/gen1/src"));
    let inspect = run_ok(chainlink().arg("inspect").arg(&image));
    assert!(inspect.contains("remap: prefix with blake3") && inspect.contains("to \"/srv/chain\""), "{inspect}");
    if let Some(text) = debug_session(&chain, &image) {
        assert_debuggable(&text, "/srv/chain");
    }
    // Served from another place: gdb finds the moved sources by the new prefix.
    let substitute = format!("set substitute-path /srv/chain {}", chain.root.display());
    if let Some(text) =
        gdb(&chain, &image, &[&substitute, "break julia_g2", "run", "list julia_g1,+2", "list scale,+1", "kill"])
    {
        assert!(text.contains("long y = julia_g0(x) * 10;") && text.contains("return x * 3;"), "{text}");
    }
}

#[test]
fn rules_apply_in_order_and_only_to_paths() {
    let chain = DebugChain::new();
    let root = chain.root.display();
    // The last matching rule wins: gen1's sources go to /one, the rest to /all.
    let image = chain.link(
        "ordered.so",
        &[&format!("--remap-path-prefix={root}=/all"), &format!("--remap-path-prefix={root}/gen1=/one")],
    );
    let dump = run_ok(Command::new("readelf").arg("--debug-dump=info,rawline").arg(&image));
    for path in ["/one/src", "/all/gen0/src", "/all/gen0/include", "/all/gen2/src"] {
        assert!(dump.contains(path), "no {path} in:\n{dump}");
    }
    assert!(!dump.contains("/all/gen1"), "an earlier rule won:\n{dump}");
    // A rule that matches nothing leaves every debug section as it was.
    let plain = chain.link("plain.so", &[]);
    let unmatched = chain.link("unmatched.so", &["--remap-path-prefix=/no/such/dir=/x"]);
    assert!(debug_sections(&plain) == debug_sections(&unmatched), "an unmatched rule changed the debug sections");
    // Function names are not paths: a rule that would match one changes nothing.
    let names = chain.link("names.so", &["--remap-path-prefix=julia=/x"]);
    assert!(debug_sections(&plain) == debug_sections(&names), "a rule rewrote a non-path string");
}

#[test]
fn remapped_links_are_deterministic_and_cached_by_rule() {
    let chain = DebugChain::new();
    let rule = chain.remap_rule();
    let first = fs::read(chain.link("a.so", &[&rule, "--threads", "1"])).unwrap();
    let second = fs::read(chain.link("b.so", &[&rule, "--threads", "2"])).unwrap();
    let third = fs::read(chain.link("c.so", &[&rule])).unwrap();
    assert!(first == second && second == third, "remapped links differ");

    // Through the cache: a different rule is a different output, never the cached one.
    let cache = chain.s.subdir("cache");
    let out = chain.s.path("cached.so");
    let link = |extra: &[&str]| -> Vec<u8> {
        let mut command = chained_link(&out, &[&chain.chained], &[&chain.gen2], extra);
        command.env_remove("CHAINLINK_NO_CACHE").arg("--cache-dir").arg(&cache);
        run_ok(&mut command);
        fs::read(&out).unwrap()
    };
    let with_rule = link(&[&rule]);
    assert!(with_rule == first);
    let other = link(&[&format!("--remap-path-prefix={}=/elsewhere", chain.root.display())]);
    assert!(other != first && contains(&other, b"/elsewhere/gen2/src"), "a cached output with another rule was served");
    let none = link(&[]);
    assert!(contains(&none, chain.root.to_str().unwrap().as_bytes()), "a remapped output was served for no rule");
    assert!(link(&[&rule]) == first);
    // And a warm relink on the prepared base (recorded by the links above) still matches.
    assert!(link(&[&rule, "--verify-determinism"]) == first);
}

#[test]
fn a_malformed_rule_is_a_usage_error() {
    for (mode, args) in [
        ("link", vec!["link", "-o", "x.so", "a.o", "--remap-path-prefix", "no-equals-sign"]),
        ("link", vec!["link", "-o", "x.so", "a.o", "--remap-path-prefix==/to"]),
        ("ld", vec!["ld", "-shared", "-o", "x.so", "a.o", "--remap-path-prefix=nothing"]),
    ] {
        let output = chainlink_raw(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{mode}: {}", describe(&output));
        assert_eq!(stderr.lines().count(), 1, "{mode}: not one line: {stderr}");
        assert!(stderr.contains("--remap-path-prefix wants FROM=TO"), "{mode}: {stderr}");
    }
}

/// A copy of `object` with `damage` applied to the bytes of its section `name`.
fn damaged(s: &Scratch, object: &Path, name: &str, label: &str, damage: &dyn Fn(&mut [u8])) -> PathBuf {
    let mut bytes = fs::read(object).unwrap();
    let section = elf::section(&bytes, name).unwrap_or_else(|| panic!("no {name}"));
    damage(&mut bytes[section.offset as usize..(section.offset + section.size) as usize]);
    s.write(&format!("{label}.o"), &bytes)
}

#[test]
fn damaged_dwarf_is_reported_and_left_alone() {
    let chain = DebugChain::new();
    let rule = chain.remap_rule();
    let gen2 = chain.gen2.clone();
    type Damage = fn(&mut [u8]);
    let cases: [(&str, &str, Damage); 6] = [
        ("line-length", ".debug_line", |b| b[..4].fill(0xee)),
        ("line-version", ".debug_line", |b| b[4] = 0x63),
        ("info-code", ".debug_info", |b| b[12..].fill(0xff)),
        ("info-length", ".debug_info", |b| b[..4].fill(0x7f)),
        ("abbrev", ".debug_abbrev", |b| b.fill(0x80)),
        ("unterminated", ".debug_line_str", |b| b.fill(b'/')),
    ];
    for (label, section, damage) in cases {
        let object = damaged(&chain.s, &gen2, section, label, &damage);
        let out = chain.s.path("damaged.so");
        let output: Output = run(&mut chained_link(&out, &[&chain.chained], &[&object], &[&rule]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The link succeeds; the damaged object's debug information is left as it is, with
        // one line saying so.
        assert_eq!(output.status.code(), Some(0), "{label}: {}", describe(&output));
        let warning = format!("chainlink: warning: {}: ", object.display());
        assert!(
            stderr.lines().count() == 1
                && stderr.starts_with(&warning)
                && stderr.contains("--remap-path-prefix leaves its debug information as it is"),
            "{label}: {stderr}"
        );
        assert_eq!(run_ok(Command::new(&chain.probe).arg(&out).arg("julia_g2")), "julia_g2(1) = 47\n");
    }
}
