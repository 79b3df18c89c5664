//! Static archives: only the members that resolve a (non-weak) undefined symbol are linked,
//! transitively and regardless of member order; --whole-archive links every member of the
//! archives after it until --no-whole-archive; -l finds archives in -L directories.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// An archive without a symbol index (`ar rcS`): chainlink reads the members' own symbol
/// tables instead, and pulls exactly the same members. (cc -shared's GNU ld refuses such an
/// archive, so only chainlink links it.)
#[test]
fn archive_without_a_symbol_index() {
    let f = fixture(true);
    let indexed = link_chainlink(&f.scratch.path("indexed.so"), &args![f.main, f.archive]);
    let members = run_ok(Command::new("ar").arg("t").arg(&f.archive));
    let dir = f.scratch.subdir("unindexed");
    run_ok(Command::new("ar").arg("x").arg(&f.archive).current_dir(&dir));
    let unindexed = f.scratch.path("libunindexed.a");
    let mut ar = Command::new("ar");
    ar.arg("rcS").arg(&unindexed).args(members.lines()).current_dir(&dir);
    run_ok(&mut ar);
    assert!(!run_ok(Command::new("nm").arg("--print-armap").arg(&unindexed)).contains("Archive index"));
    let linked = link_chainlink(&f.scratch.path("unindexed.so"), &args![f.main, unindexed]);
    assert_output("unindexed archive", &run_loader(&linked), &loaded(NEEDED_ONLY));
    assert_eq!(defined(&linked), defined(&indexed));
}
