//! Real projects built with chainlink as their linker for shared libraries, and their own
//! test suites run against the result: Debian's zlib (a configure script and Makefile;
//! its version script has nodes that inherit) and jansson (CMake, ctest).
//!
//! The sources are Debian source packages (`apt-get source zlib jansson`), which .ci/run
//! fetches into `target/ld-projects` (or `$CHAINLINK_LD_PROJECTS`); without them these
//! tests say so and pass.

mod common;
mod ld_common;

use common::*;
use ld_common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unpacked source package whose directory name starts with `prefix` (`zlib-`).
fn project_source(prefix: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CHAINLINK_LD_PROJECTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ld-projects"));
    let found = std::fs::read_dir(&dir).ok()?.filter_map(|entry| entry.ok().map(|e| e.path())).find(|path| {
        path.is_dir() && path.file_name().and_then(|n| n.to_str()).is_some_and(|name| name.starts_with(prefix))
    });
    if found.is_none() {
        eprintln!("skipped: no {prefix}* source package in {} (.ci/run fetches it with apt-get source)", dir.display());
    }
    found
}

fn tool_exists(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {tool} is not installed (.ci/run installs it)");
    }
    found
}

/// `sh -c SCRIPT` in `dir` with the cache off; asserts success and returns stdout.
fn shell(dir: &Path, script: &str) -> String {
    run_ok(Command::new("sh").arg("-c").arg(script).current_dir(dir).env("CHAINLINK_NO_CACHE", "1"))
}

fn copy_tree(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-a").arg(from).arg(to));
}

#[test]
fn zlib_makefile_build_and_test_suite() {
    let Some(source) = project_source("zlib-") else { return };
    let s = Scratch::new();
    let tree = s.path("zlib");
    copy_tree(&source, &tree);
    shell(&tree, "./configure >/dev/null");
    let ldshared = format!("gcc -B{} -shared -Wl,-soname,libz.so.1,--version-script,zlib.map", ld_dir().display());
    let library = tree.join(shell(&tree, "grep '^SHAREDLIBV=' Makefile | cut -d= -f2").trim());
    run_ok(
        Command::new("make")
            .current_dir(&tree)
            .env("CHAINLINK_NO_CACHE", "1")
            .args(["-j2", "shared"])
            .arg(format!("LDSHARED={ldshared}")),
    );
    assert!(
        section_names(&library).iter().any(|name| name == ".chainlink.manifest"),
        "{} not linked by chainlink",
        library.display()
    );
    let chainlink_exports = exports(&library);
    // zlib's own tests: the static and shared example and minigzip programs.
    let report = shell(&tree, "make test 2>&1");
    assert!(report.contains("*** zlib shared test OK ***"), "{report}");
    assert!(section_names(&library).iter().any(|name| name == ".chainlink.manifest"), "make test relinked zlib");
    // The same library from GNU ld: the same exports, in the same version nodes.
    shell(&tree, "make clean >/dev/null && make -j2 shared >/dev/null 2>&1");
    let gnu_exports = exports(&library);
    assert!(gnu_exports.iter().any(|name| name == "inflateBack@@ZLIB_1.2.0"), "{gnu_exports:?}");
    assert_eq!(chainlink_exports, gnu_exports);
}

#[test]
fn jansson_cmake_build_and_test_suite() {
    let Some(source) = project_source("jansson-") else { return };
    if !tool_exists("cmake") {
        return;
    }
    let s = Scratch::new();
    let build = s.subdir("build");
    // jansson sets CMAKE_SHARED_LINKER_FLAGS itself (its version script): chainlink goes
    // in through the per-configuration flags.
    run_ok(
        Command::new("cmake")
            .current_dir(&build)
            .arg("-S")
            .arg(&source)
            .args([
                "-B",
                ".",
                "-DCMAKE_BUILD_TYPE=Release",
                "-DJANSSON_BUILD_SHARED_LIBS=ON",
                "-DJANSSON_BUILD_DOCS=OFF",
            ])
            .arg(format!("-DCMAKE_SHARED_LINKER_FLAGS_RELEASE=-B{}", ld_dir().display())),
    );
    shell(&build, "make -j2 >/dev/null");
    let library = build.join("lib/libjansson.so.4");
    assert!(section_names(&library).iter().any(|name| name == ".chainlink.manifest"), "not linked by chainlink");
    let exported = exports(&library);
    assert!(exported.len() > 50 && exported.iter().all(|name| name.ends_with("@@JANSSON_4")), "{exported:?}");
    let report = shell(&build, "ctest -j2 --output-on-failure 2>&1");
    assert!(report.contains("100% tests passed"), "{report}");
}
