//! Servable chains (README "Bases found by name", "Dependency records", "Debug information
//! through generations"): small chains of C compiled by gcc, linked with chainlink, moved
//! around, loaded and run (`testdata/chain_probe.c`), inspected with `chainlink inspect
//! --check` and `chainlink explain`, and debugged with gdb.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

    /// Compiles C `source` with `gcc -fPIC -O2 -c` (and `flags`) into `dir/name.o`.
    fn object_in(&self, dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
        let file = dir.join(format!("{name}.c"));
        fs::write(&file, source).unwrap();
        let object = dir.join(format!("{name}.o"));
        run_ok(
            Command::new("gcc")
                .args(["-fPIC", "-O2", "-c"])
                .args(flags)
                .arg(&file)
                .arg("-o")
                .arg(&object)
                .current_dir(dir),
        );
        object
    }

    fn object(&self, name: &str, source: &str) -> PathBuf {
        self.object_in(self.s.dir(), name, source, &[])
    }

    /// An archive `path` whose members are `objects` under the given member names.
    fn archive_at(&self, path: &Path, members: &[(&str, &Path)]) -> PathBuf {
        let dir = self.s.subdir(&format!("{}.members", path.file_name().unwrap().to_str().unwrap()));
        for (member, object) in members {
            fs::copy(object, dir.join(member)).unwrap();
        }
        let names: Vec<&str> = members.iter().map(|(member, _)| *member).collect();
        let _ = fs::remove_file(path);
        run_ok(Command::new("ar").arg("rcs").arg(path).args(&names).current_dir(&dir));
        path.to_path_buf()
    }

    /// A Julia-shaped base archive: `text.o` and a data member.
    fn base(&self, path: &Path, text: &Path) -> PathBuf {
        let data = self.object(
            &format!("{}-data", path.file_stem().unwrap().to_str().unwrap()),
            "char jl_system_image_data[16] = {1};\n",
        );
        self.archive_at(path, &[("text.o", text), ("data.o", &data)])
    }

    fn probe(&self, image: &Path, args: &[&str]) -> String {
        run_ok(Command::new(&self.probe).arg(image).args(args))
    }
}

/// `chainlink ARGS` run in `cwd` with `env` set.
fn chainlink_in(cwd: &Path, args: &[String], env: &[(&str, &str)]) -> Output {
    let mut command = chainlink();
    command.current_dir(cwd).args(args).env_remove("CHAINLINK_BASE_PATH");
    for (name, value) in env {
        command.env(name, value);
    }
    run(&mut command)
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", describe(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A base is found by its name in the working directory, on `--base-path` (in order) and
/// on `$CHAINLINK_BASE_PATH`; the output does not depend on where it was found; a name
/// found nowhere is one error line that says where it looked. `inspect --check` finds the
/// bases an output records by the same search and tells identical, different and missing
/// apart (exit status 0 only when all are identical).
#[test]
fn bases_are_found_by_name_and_checked() {
    let c = Chain::new();
    let build = c.s.subdir("build");
    let gen0 = c.object_in(&build, "gen0", "long julia_g0(long x) { return x + 1; }\n", &[]);
    let gen1 =
        c.object_in(&build, "gen1", "long julia_g0(long);\nlong julia_g1(long x) { return julia_g0(x) * 10; }\n", &[]);
    let gen2 =
        c.object_in(&build, "gen2", "long julia_g1(long);\nlong julia_g2(long x) { return julia_g1(x) + 7; }\n", &[]);
    c.base(&build.join("sys-o.a"), &gen0);
    // Generation 1 on sys-o.a, named without a directory: found in the working directory.
    succeeded(&chainlink_in(
        &build,
        &args!["link", "-o", "one.so", "--base", "sys-o.a", gen1, "--emit-archive", "chained-o.a"],
        &[],
    ));

    // The bases move to a store; links elsewhere find them by name.
    let store = c.s.subdir("store");
    for name in ["sys-o.a", "chained-o.a"] {
        fs::rename(build.join(name), store.join(name)).unwrap();
    }
    let elsewhere = c.s.subdir("elsewhere");
    let empty = c.s.subdir("empty");
    let link = |out: &str, extra: &[String], env: &[(&str, &str)]| {
        let mut args = args!["link", "-o", out, "--base", "chained-o.a", gen2];
        args.extend_from_slice(extra);
        chainlink_in(&elsewhere, &args, env)
    };
    succeeded(&link("by-option.so", &args!["--base-path", empty, "--base-path", store], &[]));
    succeeded(&link(
        "by-variable.so",
        &[],
        &[("CHAINLINK_BASE_PATH", &format!("{}:{}", empty.display(), store.display()))],
    ));
    let by_path = elsewhere.join("by-path.so");
    run_ok(&mut chained_link(&by_path, &[&store.join("chained-o.a")], &[&gen2], &[]));
    let image = elsewhere.join("by-option.so");
    assert_eq!(
        c.probe(&image, &["julia_g0", "julia_g1", "julia_g2"]),
        "julia_g0(1) = 2\njulia_g1(1) = 20\njulia_g2(1) = 27\n"
    );
    for other in ["by-variable.so", "by-path.so"] {
        assert!(fs::read(&image).unwrap() == fs::read(elsewhere.join(other)).unwrap(), "{other} differs");
    }
    // Found nowhere: one line naming the base and every place looked in.
    let output = link("none.so", &args!["--base-path", empty], &[("CHAINLINK_BASE_PATH", "/no/such/dir")]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for needle in ["chained-o.a not found", ".,", &empty.display().to_string(), "/no/such/dir"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(!elsewhere.join("none.so").exists());

    // The manifest names where each generation came from, by simple name.
    let manifest = succeeded(&chainlink_in(&elsewhere, &args!["inspect", "by-option.so"], &[]));
    assert!(manifest.contains("generation 0: from chained-o.a (its generation 0)"), "{manifest}");
    assert!(manifest.contains("generation 1: from chained-o.a (its generation 1)"), "{manifest}");
    let manifest = succeeded(&chainlink_in(&build, &args!["inspect", store.join("chained-o.a")], &[]));
    assert!(manifest.contains("generation 0: from sys-o.a (its generation 0)"), "{manifest}");

    // inspect --check: present and identical.
    let check = |file: &str, extra: &[String]| {
        let mut args = args!["inspect", "--check", file];
        args.extend_from_slice(extra);
        chainlink_in(&elsewhere, &args, &[])
    };
    let output = check("by-option.so", &args!["--base-path", store]);
    let report = succeeded(&output);
    assert_eq!(report.matches("present and identical").count(), 2, "{report}");
    assert!(report.contains("generation 2: this file's own"), "{report}");
    let output =
        chainlink_in(&elsewhere, &args!["inspect", "--check", store.join("chained-o.a"), "--base-path", store], &[]);
    assert!(succeeded(&output).contains("generation 0: sys-o.a (its generation 0): present and identical"));

    // Missing.
    let output = check("by-option.so", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report = String::from_utf8_lossy(&output.stdout);
    assert_eq!(report.matches(": missing").count(), 2, "{report}");

    // Present but different: generation 1 rebuilt with another function.
    let changed = c.s.subdir("changed");
    let gen1b = c.object_in(
        &changed,
        "gen1",
        "long julia_g0(long);\nlong julia_g1(long x) { return julia_g0(x) * 11; }\n",
        &[],
    );
    succeeded(&chainlink_in(
        &changed,
        &args![
            "link",
            "-o",
            "one.so",
            "--base",
            "sys-o.a",
            "--base-path",
            store,
            gen1b,
            "--emit-archive",
            "chained-o.a"
        ],
        &[],
    ));
    let output = check("by-option.so", &args!["--base-path", changed, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let json = String::from_utf8_lossy(&output.stdout);
    assert!(
        json.contains(
            "\"generation\": 0, \"archive\": \"chained-o.a\", \"archive_generation\": 0, \"status\": \"identical\""
        ),
        "{json}"
    );
    assert!(
        json.contains(
            "\"generation\": 1, \"archive\": \"chained-o.a\", \"archive_generation\": 1, \"status\": \"different\""
        ),
        "{json}"
    );
    assert!(json.contains("\"why\": \"member gen1.o has other contents\""), "{json}");
    assert!(json.contains("\"status\": \"own\""), "{json}");

    // The working directory comes first.
    fs::copy(changed.join("chained-o.a"), elsewhere.join("chained-o.a")).unwrap();
    succeeded(&link("cwd.so", &args!["--base-path", store], &[]));
    assert_eq!(c.probe(&elsewhere.join("cwd.so"), &["julia_g2"]), "julia_g2(1) = 29\n");
}

/// Three generations; the middle one is rebuilt with one function changed (and the others
/// moved by it). `explain` names exactly the newest generation's units that call the
/// changed function, on the output and on its emitted archive; a removed function is
/// reported as gone; a relink onto the rebuilt base reports the same (`--verbose`,
/// `--stats-json`), and a relink onto the same base reports nothing.
#[test]
fn explain_names_the_units_that_call_what_changed() {
    let c = Chain::new();
    let old = c.s.subdir("old");
    let gen0 = c.object_in(&old, "gen0", "long julia_g0(long x) { return x + 1; }\n", &[]);
    let noinline = "__attribute__((noinline))";
    let middle = |dir: &Path, changed: bool, keep_c: bool| {
        let a = if changed { "return x * 3 + julia_g0(x);" } else { "return x * 2;" };
        let c_function =
            if keep_c { format!("{noinline} long mid_c(long x) {{ return x - 9; }}\n") } else { String::new() };
        c.object_in(
            dir,
            "gen1",
            &format!(
                "long julia_g0(long);\n\
                 {noinline} long mid_a(long x) {{ {a} }}\n\
                 {noinline} long mid_b(long x) {{ return mid_a(x) + julia_g0(x) + 100; }}\n\
                 {c_function}"
            ),
            &[],
        )
    };
    c.base(&old.join("sys-o.a"), &gen0);
    let gen1 = middle(&old, false, true);
    let gen1_archive = c.base(&old.join("gen1.a"), &gen1);
    run_ok(chainlink().current_dir(&old).args(args![
        "link",
        "-o",
        "one.so",
        "--base",
        "sys-o.a",
        gen1_archive,
        "--emit-archive",
        "chained-o.a"
    ]));
    let units = [
        ("u_calls_a", "long mid_a(long);\nlong julia_u1(long x) { return mid_a(x) + 1; }\n"),
        ("u_calls_b", "long mid_b(long);\nlong julia_u2(long x) { return mid_b(x) + 2; }\n"),
        (
            "u_calls_a_too",
            "long mid_a(long);\nlong julia_g0(long);\nlong julia_u3(long x) { return mid_a(x) * julia_g0(x); }\n",
        ),
        ("u_calls_c", "long mid_c(long);\nlong julia_u4(long x) { return mid_c(x); }\n"),
        ("u_none", "long julia_u5(long x) { return x + 5; }\n"),
    ];
    let newest: Vec<PathBuf> = units.iter().map(|(name, source)| c.object_in(&old, name, source, &[])).collect();
    let link = |dir: &Path, out: &str, extra: &[String]| {
        let mut args = args!["link", "-o", out, "--base", "chained-o.a"];
        args.extend(newest.iter().map(|unit| unit.display().to_string()));
        args.extend_from_slice(extra);
        run(chainlink().current_dir(dir).args(args))
    };
    succeeded(&link(&old, "three.so", &args!["--emit-archive", "three-o.a"]));
    let image = old.join("three.so");
    assert_eq!(
        c.probe(&image, &["julia_u1", "julia_u2", "julia_u4"]),
        "julia_u1(1) = 3\njulia_u2(1) = 106\njulia_u4(1) = -8\n"
    );
    let records = run_ok(Command::new("readelf").args(["-p", ".chainlink.deps"]).arg(&image));
    assert!(records.contains("unit 2 u_calls_a.o") && records.contains("dep mid_a 1 "), "{records}");
    assert!(records.contains("unit 1 text.o") && records.contains("dep julia_g0 0 "), "carried forward: {records}");

    // Against the base it was built on: nothing changed (exit status 0).
    let explain = |base: &Path, file: &Path, json: bool| {
        let mut args = args!["explain", "--base", base, file];
        if json {
            args.push("--json".into());
        }
        run(chainlink().args(args))
    };
    let output = explain(&old.join("chained-o.a"), &image, false);
    assert!(succeeded(&output).starts_with("0 of 5 unit(s) of generation 2 and newer"), "{}", describe(&output));

    // The middle generation rebuilt with mid_a changed (mid_b and mid_c moved).
    let new = c.s.subdir("new");
    c.base(&new.join("sys-o.a"), &gen0);
    let gen1 = middle(&new, true, true);
    let gen1_archive = c.base(&new.join("gen1.a"), &gen1);
    run_ok(chainlink().current_dir(&new).args(args![
        "link",
        "-o",
        "one.so",
        "--base",
        "sys-o.a",
        gen1_archive,
        "--emit-archive",
        "chained-o.a"
    ]));
    for file in [&image, &old.join("three-o.a")] {
        let output = explain(&new.join("chained-o.a"), file, false);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.starts_with("2 of 5 unit(s) of generation 2 and newer"), "{text}");
        let affected: Vec<&str> = text.lines().filter(|line| !line.starts_with(' ')).skip(1).collect();
        assert_eq!(
            affected,
            [
                "u_calls_a.o (generation 2): 1 dependency changed",
                "u_calls_a_too.o (generation 2): 1 dependency changed"
            ],
            "{text}"
        );
        assert!(text.contains("  mid_a: was generation 1, now generation 1 with other contents"), "{text}");
    }
    let output = explain(&new.join("chained-o.a"), &image, true);
    let json = String::from_utf8_lossy(&output.stdout);
    assert!(
        json.contains("{\"generation\": 2, \"unit\": \"u_calls_a.o\", \"dependencies\": [{\"name\": \"mid_a\", \"reason\": \"changed\", \"old_generation\": 1, \"new_generation\": 1}]}"),
        "{json}"
    );

    // A relink of the same units onto the rebuilt base reports them too.
    fs::copy(&image, new.join("three.so")).unwrap();
    let stats = new.join("stats.json");
    let output = link(&new, "three.so", &args!["-v", "--stats-json", stats]);
    succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was built on other bases: 2 unit(s) of generation 2 and newer"), "{stderr}");
    assert!(stderr.contains("chainlink:   u_calls_a_too.o (generation 2): 1 dependency changed"), "{stderr}");
    let json = fs::read_to_string(&stats).unwrap();
    assert!(json.contains("\"rebased_units\": [{\"generation\": 2, \"unit\": \"u_calls_a.o\""), "{json}");
    assert_eq!(c.probe(&new.join("three.so"), &["julia_u1"]), "julia_u1(1) = 6\n");
    // Relinked on the same base again: nothing to report.
    let output = link(&new, "three.so", &args!["-v", "--stats-json", stats]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("other bases"), "{}", describe(&output));
    assert!(fs::read_to_string(&stats).unwrap().contains("\"rebased_units\": null"));

    // mid_c removed: its caller's dependency is gone.
    let gone = c.s.subdir("gone");
    c.base(&gone.join("sys-o.a"), &gen0);
    let gen1 = middle(&gone, false, false);
    let gen1_archive = c.base(&gone.join("gen1.a"), &gen1);
    run_ok(chainlink().current_dir(&gone).args(args![
        "link",
        "-o",
        "one.so",
        "--base",
        "sys-o.a",
        gen1_archive,
        "--emit-archive",
        "chained-o.a"
    ]));
    let output = explain(&gone.join("chained-o.a"), &image, false);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("1 of 5 unit(s)"), "{text}");
    assert!(text.contains("u_calls_c.o (generation 2): 1 dependency changed\n  mid_c: was generation 1, now defined nowhere it can see"), "{text}");
}
