//! Code models: -mcmodel=medium (arrays over 64 KiB in .lbss / .ldata / .lrodata, reached
//! through GOTPC32 + GOTOFF64 or the GOT) and -mcmodel=large (GOTPC64, GOTOFF64, GOT64,
//! PLTOFF64) -fPIC objects linked with small-model ones; and a medium-model library with
//! 3 GiB of .lbss, which only links if the large sections are kept out of the way of the
//! small-model code and data.

mod common;

use common::*;

fn assert_has_relocations(object: &std::path::Path, expected: &[&str]) {
    let found = relocation_types(object);
    for kind in expected {
        assert!(found.iter().any(|k| k == kind), "{} has no {kind}: {found:?}", object.display());
    }
}

const EXPECTED: &str = "medium sum: 416\n\
                        medium: 30 4 9\n\
                        large compute: 1237\n\
                        large: 11 13\n";

fn check(name: &str, opt: &str) {
    let s = Scratch::new();
    let main = s.compile("cmodel_main.c", &[opt]);
    let medium = s.compile("cmodel_medium.c", &[opt, "-mcmodel=medium"]);
    let large = s.compile("cmodel_large.c", &[opt, "-mcmodel=large"]);
    let sections = readelf(&["-S"], &medium);
    for section in [".lbss", ".ldata", ".lrodata"] {
        assert!(sections.contains(&format!("{section} ")), "no {section} in medium object");
    }
    assert_has_relocations(&medium, &["R_X86_64_GOTPC32", "R_X86_64_GOTOFF64"]);
    assert_has_relocations(&large, &["R_X86_64_GOTPC64", "R_X86_64_GOTOFF64", "R_X86_64_GOT64", "R_X86_64_PLTOFF64"]);
    assert_links_and_runs(&s, name, &args![main, medium, large], &loaded(EXPECTED));
}

#[test]
fn medium_and_large_o2() {
    check("cmodel-o2", "-O2");
}

#[test]
fn medium_and_large_o0() {
    check("cmodel-o0", "-O0");
}

#[test]
fn medium_model_with_3_gib_of_lbss() {
    let s = Scratch::new();
    let huge = s.compile("cmodel_huge.c", &["-O2", "-mcmodel=medium"]);
    let linked = assert_links_and_runs(&s, "huge", &args![huge], &loaded("huge: 1 2 3 4 21\n"));
    // .lbss occupies no file space.
    let size = std::fs::metadata(&linked.chainlink).unwrap().len();
    assert!(size < 16 << 20, "chainlink output is {size} bytes");
}
