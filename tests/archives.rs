//! Static archives: only the members that resolve a (non-weak) undefined symbol are linked,
//! transitively and regardless of member order; --whole-archive links every member of the
//! archives after it until --no-whole-archive; -l finds archives in -L directories.

mod common;

use common::*;
use std::path::{Path, PathBuf};

struct Fixture {
    scratch: Scratch,
    main: PathBuf,
    /// libchainar.a in `lib/`.
    archive: PathBuf,
    unneeded: PathBuf,
}

/// ar_main.o and lib/libchainar.a. The member needed only by another member comes first
/// (the archive must be rescanned) and has a long name (GNU `//` name table).
fn fixture(with_unneeded: bool) -> Fixture {
    let scratch = Scratch::new();
    let main = scratch.compile("ar_main.c", &["-O2"]);
    let chained = scratch.compile("ar_chained_member_with_a_long_name.c", &["-O2"]);
    let needed = scratch.compile("ar_needed.c", &["-O2"]);
    let data = scratch.compile("ar_data.c", &["-O2"]);
    let unneeded = scratch.compile("ar_unneeded.c", &["-O2"]);
    let weak_target = scratch.compile("ar_weak_target.c", &["-O2"]);
    scratch.subdir("lib");
    let mut members: Vec<&Path> = vec![&chained, &needed, &data];
    if with_unneeded {
        members.push(&unneeded);
    }
    members.push(&weak_target);
    let archive = scratch.archive("lib/libchainar.a", &members);
    let listing = run_ok(std::process::Command::new("ar").arg("t").arg(&archive));
    assert!(listing.contains("ar_chained_member_with_a_long_name.o"), "{listing}");
    Fixture { scratch, main, archive, unneeded }
}

fn defined(library: &Path) -> Vec<String> {
    exported_symbols(library)
}

/// Every symbol name in .symtab and .dynsym.
fn all_names(library: &Path) -> Vec<String> {
    symbols(library).into_iter().map(|s| s.name).collect()
}

const NEEDED_ONLY: &str = "needed: 42\ndata: 7\nweak only: -1\n";
const EVERYTHING: &str = "needed: 42\ndata: 7\nweak only: 5\n";

fn assert_only_needed_members(linked: &Linked) {
    for library in [&linked.cc, &linked.chainlink] {
        let defined = defined(library);
        for name in ["ar_needed", "ar_chained_from_member", "ar_data_value"] {
            assert!(defined.iter().any(|d| d == name), "{}: {name} missing", library.display());
        }
        let names = all_names(library);
        for name in ["ar_unneeded", "ar_unneeded_data"] {
            assert!(!names.iter().any(|n| n == name), "{}: {name} linked", library.display());
        }
        // Referenced weakly, so its member was not pulled: undefined (if present at all).
        assert!(!defined.iter().any(|d| d == "ar_weak_only"), "{}", library.display());
    }
}

#[test]
fn only_needed_members_are_pulled() {
    let f = fixture(true);
    let linked = assert_links_and_runs(&f.scratch, "needed", &args![f.main, f.archive], &loaded(NEEDED_ONLY));
    assert_only_needed_members(&linked);
}

#[test]
fn archive_found_through_library_path() {
    let f = fixture(true);
    let lib = f.scratch.path("lib");
    let linked =
        assert_links_and_runs(&f.scratch, "search", &args![f.main, "-L", lib, "-l", "chainar"], &loaded(NEEDED_ONLY));
    assert_only_needed_members(&linked);
}

#[test]
fn whole_archive_pulls_every_member() {
    let f = fixture(true);
    let linked = assert_links_and_runs(
        &f.scratch,
        "whole",
        &args![f.main, "--whole-archive", f.archive, "--no-whole-archive"],
        &loaded(EVERYTHING),
    );
    for library in [&linked.cc, &linked.chainlink] {
        let defined = defined(library);
        for name in ["ar_unneeded", "ar_unneeded_data", "ar_weak_only", "ar_needed"] {
            assert!(defined.iter().any(|d| d == name), "{}: {name} missing", library.display());
        }
    }
}

#[test]
fn whole_archive_ends_at_no_whole_archive() {
    // libchainar.a (without the unneeded member) under --whole-archive, then an archive
    // holding only the unneeded member after --no-whole-archive: not pulled.
    let f = fixture(false);
    let second = f.scratch.archive("lib/libsecond.a", &[&f.unneeded]);
    let lib = f.scratch.path("lib");
    let linked = assert_links_and_runs(
        &f.scratch,
        "whole-then-not",
        &args!["-L", lib, "--whole-archive", "-l", "chainar", "--no-whole-archive", f.main, second],
        &loaded(EVERYTHING),
    );
    for library in [&linked.cc, &linked.chainlink] {
        assert!(defined(library).iter().any(|d| d == "ar_weak_only"), "{}", library.display());
        let names = all_names(library);
        assert!(!names.iter().any(|n| n == "ar_unneeded"), "{}: ar_unneeded linked", library.display());
    }
}
