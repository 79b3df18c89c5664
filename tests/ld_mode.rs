//! ld mode from the outside: chainlink run as `ld` by the compiler drivers (`gcc -B DIR`,
//! `gcc -fuse-ld=lld` with chainlink as `ld.lld`, `clang -fuse-ld=chainlink`,
//! `clang --ld-path`), PackageCompiler.jl's and Julia's link lines, response files, the
//! version line configure scripts look for, and the errors of a command line it cannot
//! honour.

mod common;
mod ld_common;

use common::*;
use ld_common::*;
use std::process::Command;

/// A library using the C runtime's pieces the driver passes (constructors, `printf`).
const LIBRARY_C: &str = "#include <stdio.h>\n\
    static int ready;\n\
    __attribute__((constructor)) static void init(void) { ready = 42; }\n\
    void chainlink_test(void) { printf(\"ready %d\\n\", ready); }\n";

/// Whether chainlink wrote `file` (its manifest section is there).
fn linked_by_chainlink(file: &std::path::Path) -> bool {
    section_names(file).iter().any(|name| name == ".chainlink.manifest")
}

#[test]
fn version_line_says_compatible_with_gnu_ld() {
    let s = Scratch::new();
    for args in [&["--version"][..], &["-v"], &["-V"]] {
        let output = chainlink_ld(&s, args);
        assert!(output.status.success(), "{}", describe(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("compatible with GNU ld"), "{}", describe(&output));
    }
    // Called as `ld`, and through the driver as configure scripts do.
    let output = run(Command::new(ld_dir().join("ld")).arg("-v"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("GNU"), "{}", describe(&output));
    let output = run(Command::new("gcc").arg("-B").arg(ld_dir()).arg("-Wl,--version").current_dir(s.dir()));
    assert!(String::from_utf8_lossy(&output.stdout).contains("compatible with GNU ld"), "{}", describe(&output));
}

#[test]
fn gcc_b_uses_chainlink_with_the_drivers_runtime_files() {
    let s = Scratch::new();
    let object = compile_source(&s, "lib.c", LIBRARY_C, &["-O1"]);
    // gcc's line: -plugin, -plugin-opt, --build-id, --eh-frame-hdr, -m elf_x86_64,
    // --hash-style=gnu, --as-needed, --push-state/--pop-state, crti.o, crtbeginS.o, ...
    let mut command = Command::new("gcc");
    command.current_dir(s.dir()).env("CHAINLINK_NO_CACHE", "1").arg("-B").arg(ld_dir());
    command.args(["-v", "-shared", "-o", "lib.so", &object]);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("-plugin") && stderr.contains("--push-state") && stderr.contains("crtbeginS.o"),
        "{stderr}"
    );
    let library = s.path("lib.so");
    assert!(linked_by_chainlink(&library));
    assert!(build_id(&library).is_some(), "gcc passes --build-id");
    assert_output("gcc -B", &run_loader(&library), &loaded("ready 42\n"));
}

#[test]
fn gcc_fuse_ld_lld_with_chainlink_installed_as_ld_lld() {
    let s = Scratch::new();
    let object = compile_source(&s, "lib.c", LIBRARY_C, &[]);
    let output = run(Command::new("gcc")
        .current_dir(s.dir())
        .env("CHAINLINK_NO_CACHE", "1")
        .arg("-B")
        .arg(ld_dir())
        .args(["-fuse-ld=lld", "-shared", "-o", "lib.so", &object]));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(linked_by_chainlink(&s.path("lib.so")));
    assert_output("gcc -fuse-ld=lld", &run_loader(&s.path("lib.so")), &loaded("ready 42\n"));
}

#[test]
fn clang_fuse_ld_and_ld_path() {
    if Command::new("clang").arg("--version").output().is_err() {
        eprintln!("skipped: clang is not installed (.ci/run installs it)");
        return;
    }
    let s = Scratch::new();
    let object = compile_source(&s, "lib.c", LIBRARY_C, &[]);
    let path = format!("{}:{}", ld_dir().display(), std::env::var("PATH").unwrap_or_default());
    let ld_path = format!("--ld-path={}", ld_dir().join("ld.chainlink").display());
    for (flag, env_path) in [("-fuse-ld=chainlink", true), (ld_path.as_str(), false)] {
        let mut command = Command::new("clang");
        command.current_dir(s.dir()).env("CHAINLINK_NO_CACHE", "1");
        if env_path {
            command.env("PATH", &path);
        }
        let output = run(command.args([flag, "-shared", "-o", "lib.so", &object]));
        assert!(output.status.success(), "clang {flag}: {}", describe(&output));
        assert!(linked_by_chainlink(&s.path("lib.so")), "clang {flag}");
        assert_output(flag, &run_loader(&s.path("lib.so")), &loaded("ready 42\n"));
    }
}

/// PackageCompiler.jl's link line, verbatim in shape, against stub Julia libraries laid out
/// as a Julia installation has them (`lib/libjulia.so.1`, `lib/julia/libjulia-internal.so.1`).
#[test]
fn package_compiler_link_line() {
    let s = Scratch::new();
    let lib = s.subdir("lib");
    let private = s.subdir("lib/julia");
    let stub = |name: &str, soname: &str, source: &str, dir: &std::path::Path| {
        let object = compile_source(&s, &format!("{name}.c"), source, &[]);
        run_ok(
            Command::new("gcc")
                .current_dir(s.dir())
                .args(["-shared", &format!("-Wl,-soname,{soname}"), "-o"])
                .arg(dir.join(soname))
                .arg(&object),
        );
        std::os::unix::fs::symlink(soname, dir.join(format!("{name}.so"))).unwrap();
    };
    stub("libjulia", "libjulia.so.1", "int jl_ver(void) { return 110; }\n", &lib);
    stub("libjulia-internal", "libjulia-internal.so.1", "int jl_internal(int x) { return x * 2; }\n", &private);
    let sys = compile_source(
        &s,
        "sys.c",
        "#include <stdio.h>\nint jl_ver(void); int jl_internal(int);\n\
         void chainlink_test(void) { printf(\"%d %d\\n\", jl_ver(), jl_internal(21)); }\n",
        &["-O2"],
    );
    let args = [
        "-shared".to_string(),
        "-o".into(),
        "sys.so".into(),
        format!("-L{}", lib.display()),
        format!("-L{}", private.display()),
        "-Wl,--whole-archive".into(),
        sys,
        "-Wl,--no-whole-archive".into(),
        format!("-Wl,-rpath-link,{}", lib.display()),
        "-ljulia".into(),
        "-ljulia-internal".into(),
        "-Wl,-soname,sys.so".into(),
        "-Wl,-rpath,$ORIGIN:$ORIGIN/julia".into(),
    ];
    let output = run(Command::new("g++")
        .current_dir(s.dir())
        .env("CHAINLINK_NO_CACHE", "1")
        .arg("-B")
        .arg(ld_dir())
        .args(&args));
    assert!(output.status.success(), "{}", describe(&output));
    let library = s.path("sys.so");
    assert!(linked_by_chainlink(&library));
    let tags = dynamic_tags(&library);
    for tag in [
        "NEEDED Shared library: [libjulia.so.1]",
        "NEEDED Shared library: [libjulia-internal.so.1]",
        "SONAME Library soname: [sys.so]",
        "RUNPATH Library runpath: [$ORIGIN:$ORIGIN/julia]",
    ] {
        assert!(tags.iter().any(|t| t == tag), "{tag} not in {tags:?}");
    }
    // Installed next to the Julia libraries, it loads through its $ORIGIN run paths.
    std::fs::copy(&library, lib.join("sys.so")).unwrap();
    assert_output("sys.so", &run_loader(&lib.join("sys.so")), &loaded("110 42\n"));
    // Julia's own Base.Linking: `ld.lld -flavor gnu -shared ...`.
    let output = run(Command::new(ld_dir().join("ld.lld"))
        .current_dir(s.dir())
        .env("CHAINLINK_NO_CACHE", "1")
        .args([
            "-flavor",
            "gnu",
            "-m",
            "elf_x86_64",
            "-shared",
            "-o",
            "lld-line.so",
            "--whole-archive",
            "sys.o",
            "--no-whole-archive",
        ])
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-L{}", private.display()))
        .args(["-ljulia", "-ljulia-internal", "-lc"]));
    assert!(output.status.success(), "{}", describe(&output));
    assert!(exports(&s.path("lld-line.so")).iter().any(|name| name == "chainlink_test"));
}

#[test]
fn response_files_nest_and_quote() {
    let s = Scratch::new();
    let dir = s.subdir("a dir");
    let object = compile_source(&s, "lib.c", "int in_rsp(void) { return 1; }\n", &[]);
    std::fs::rename(s.path(&object), dir.join("lib.o")).unwrap();
    s.write("inner.rsp", b"'a dir/lib.o' -soname=librsp.so");
    s.write("outer.rsp", b"-shared -o \"out put.so\" @inner.rsp --hash-style=gnu");
    let output = chainlink_ld(&s, &["@outer.rsp"]);
    assert!(output.status.success(), "{}", describe(&output));
    let library = s.path("out put.so");
    assert!(exports(&library).iter().any(|name| name == "in_rsp"));
    assert!(dynamic_tags(&library).iter().any(|tag| tag.contains("[librsp.so]")));
}

/// `chainlink ld ARGS` fails with exit status 2 and one line naming `needle`.
fn assert_usage_error(s: &Scratch, args: &[&str], needle: &str) {
    let output = chainlink_ld(s, args);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
}

#[test]
fn unknown_options_and_missing_values_are_named() {
    let s = Scratch::new();
    let object = compile_source(&s, "lib.c", "int f(void) { return 1; }\n", &[]);
    assert_usage_error(&s, &["-shared", "--frobnicate", &object], "unknown option `--frobnicate`");
    assert_usage_error(&s, &["-shared", "-qfrob", &object], "unknown option `-qfrob`");
    assert_usage_error(&s, &["-shared", &object, "-soname"], "option `-soname` needs a value");
    assert_usage_error(&s, &["-shared", &object, "-z", "frobnicate"], "`-z frobnicate`");
    assert_usage_error(&s, &["-r", &object, "-o", "x.o"], "relocatable output");
    assert_usage_error(&s, &[&object, "-o", "x"], "no -shared");
    assert!(!s.path("x").exists() && !s.path("x.o").exists());
    // An executable through the driver: one line, and nothing left behind.
    let main = compile_source(&s, "main.c", "int main(void) { return 0; }\n", &[]);
    let output = run(Command::new("gcc").current_dir(s.dir()).arg("-B").arg(ld_dir()).args([&main, "-o", "prog"]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("chainlink links shared libraries only"));
    assert!(!s.path("prog").exists());
    // chainlink link names whole options and missing ones too.
    let output = run(chainlink().current_dir(s.dir()).args(["link", "-o", "x.so", "-plugin", "p.so", &object]));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`-plugin`"), "{}", describe(&output));
    let output = run(chainlink().current_dir(s.dir()).args(["link", &object]));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--output"), "{}", describe(&output));
}

#[test]
fn lto_objects_stay_a_clear_error() {
    let s = Scratch::new();
    let object = compile_source(&s, "lto.c", "int f(void) { return 1; }\n", &["-flto"]);
    let output = gcc_shared(&s, "lto.so", &["-flto", &object], true);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("link-time optimisation is not supported"),
        "{}",
        describe(&output)
    );
}
