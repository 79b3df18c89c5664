//! Julia-shaped chains of three generations across the matrix of image shapes
//! `scripts/julia_image.py` can make: both archive layouts; one `.text` per unit and one
//! section per function; references to hidden names that are hidden and that are plain
//! declarations; hidden names that collide across generations and that do not; compressed
//! tables with constant offsets, compressed tables written as relocations, and 64-bit
//! tables that cover older generations' functions; RELA and RELR. Every shape has new code
//! calling old hidden functions and reading old hidden slots and thread-locals by name.
//!
//! The cases cover every pair of those choices (a pairwise design, so the matrix stays
//! ten links long). Each chain is linked onto its two bases and through emitted archives,
//! run under `jl_loader` (every function of every generation by name and through
//! `chainlink_image`), relinked warm on a prepared base (the same bytes), and, where hidden
//! names do not collide, linked by the hand workflow (`objcopy --remove-section` +
//! `cc -shared`, scripts/hand_link.sh), which must compute the same values.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy)]
struct Shape {
    layout: &'static str,
    function_sections: bool,
    default_refs: bool,
    unique_hidden: bool,
    tables: Tables,
    relr: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Tables {
    /// `[n, f - base, …]` folded by the assembler: the base label before the first function.
    CompressedConstants,
    /// The base label in the table's section: every entry an `R_X86_64_PC32`.
    CompressedRelocations,
    /// `jl_*_ptrs` + `jl_*_count`, each chained unit's also listing older functions.
    Pointers,
}

impl Shape {
    fn generator_args(&self) -> Vec<&'static str> {
        let mut args = vec!["--generations", "3", "--functions", "40", "--layout", self.layout, "--old-hidden-refs"];
        if self.function_sections {
            args.push("--function-sections");
        }
        if self.default_refs {
            args.extend(["--ref-visibility", "default"]);
        }
        if self.unique_hidden {
            args.push("--hidden-unique");
        }
        match self.tables {
            Tables::CompressedConstants => {}
            Tables::CompressedRelocations => args.extend(["--table-base", "table"]),
            Tables::Pointers => args.extend(["--tables", "uncompressed", "--tables-cover-old"]),
        }
        args
    }

    fn link_args(&self) -> Vec<&'static str> {
        if self.relr {
            vec!["-z", "pack-relative-relocs"]
        } else {
            Vec::new()
        }
    }
}

fn check_shape(shape: Shape) {
    let s = Scratch::new();
    let dir = s.subdir("image");
    generate(&dir, &shape.generator_args());
    let (gen0, gen1, gen2) = (dir.join("gen0/sys-o.a"), dir.join("gen1/chained.o.a"), dir.join("gen2/chained.o.a"));
    let extra = shape.link_args();
    let units = if shape.layout == "1.10" { 6 } else { 3 };

    // Onto both bases, cold and warm.
    let image = assert_warm_equals_cold(&s, "chained.so", &[&gen0, &gen1], &[&gen2], &extra);
    let summary = check_image(&dir, &image, &["--by-name", "--tables"]);
    assert!(summary.contains(&format!("{units} units")), "{summary}");
    if shape.relr {
        assert!(readelf(&["-d"], &image).contains("(RELR)"), "no DT_RELR");
    }

    // Through an emitted archive of generations 0 and 1.
    let emitted = s.path("gen01.a");
    let middle = s.path("middle.so");
    let mut command = chained_link(&middle, &[&gen0], &[&gen1], &extra);
    run_ok(command.arg("--no-cache").arg("--emit-archive").arg(&emitted));
    let through = assert_warm_equals_cold(&s, "through-emitted.so", &[&emitted], &[&gen2], &extra);
    check_image(&dir, &through, &["--by-name", "--tables"]);

    // The hand workflow, where GNU ld can link the names at all.
    if shape.unique_hidden {
        let hand = s.path("hand.so");
        let objcopy =
            if Command::new("llvm-objcopy").arg("--version").output().is_ok() { "llvm-objcopy" } else { "objcopy" };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hand_link.sh");
        run_ok(Command::new("bash").arg(script).arg(&hand).arg(&dir).env("OBJCOPY", objcopy));
        let mut modes = vec!["--by-name"];
        // A 1.9 image's own 64-bit tables are exported: walk them in both images.
        if shape.tables == Tables::Pointers && shape.layout == "1.9" {
            modes.push("--own-tables");
        }
        let by_hand = check_image(&dir, &hand, &modes);
        let by_chainlink = check_image(&dir, &image, &modes);
        assert_eq!(by_hand, by_chainlink);
    }
}

macro_rules! shapes {
    ($($name:ident: $layout:literal, $sections:literal, $refs:literal, $hidden:literal, $tables:ident, $relocs:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_shape(Shape {
                    layout: $layout,
                    function_sections: $sections == "function-sections",
                    default_refs: $refs == "default-refs",
                    unique_hidden: $hidden == "unique",
                    tables: Tables::$tables,
                    relr: $relocs == "relr",
                });
            }
        )*
    };
}

shapes! {
    shape_01: "1.9", "one-text", "hidden-refs", "collide", CompressedConstants, "rela";
    shape_02: "1.9", "function-sections", "default-refs", "unique", CompressedRelocations, "relr";
    shape_03: "1.9", "one-text", "default-refs", "unique", Pointers, "rela";
    shape_04: "1.9", "function-sections", "hidden-refs", "collide", Pointers, "relr";
    shape_05: "1.10", "one-text", "default-refs", "collide", CompressedRelocations, "rela";
    shape_06: "1.10", "function-sections", "hidden-refs", "unique", CompressedRelocations, "rela";
    shape_07: "1.10", "one-text", "hidden-refs", "unique", CompressedConstants, "relr";
    shape_08: "1.10", "function-sections", "default-refs", "collide", Pointers, "relr";
    shape_09: "1.9", "function-sections", "hidden-refs", "unique", Pointers, "rela";
    shape_10: "1.10", "one-text", "default-refs", "unique", CompressedConstants, "relr";
}
