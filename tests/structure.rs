//! The shape of a chainlink output, read with readelf: program headers (PT_LOAD, PT_DYNAMIC,
//! PT_GNU_RELRO, PT_GNU_STACK without execute, PT_GNU_EH_FRAME, PT_TLS), dynamic section
//! (DT_NEEDED libc.so.6, DT_SONAME, DT_RUNPATH, no text relocations), build-id note,
//! -z pack-relative-relocs; and determinism: the same link repeated, with --threads 1 and
//! 2, with --time, and from another working directory with relative paths gives
//! byte-identical output.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug)]
struct Segment {
    kind: String,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    memory_size: u64,
    flags: String,
    align: u64,
}

fn segments(file: &Path) -> Vec<Segment> {
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    readelf(&["-l"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8
                || !fields[1].starts_with("0x")
                || !fields[0].chars().all(|c| c.is_ascii_uppercase() || c == '_')
            {
                return None;
            }
            Some(Segment {
                kind: fields[0].to_string(),
                offset: hex(fields[1]),
                vaddr: hex(fields[2]),
                file_size: hex(fields[4]),
                memory_size: hex(fields[5]),
                flags: fields[6..fields.len() - 1].concat(),
                align: hex(fields[fields.len() - 1]),
            })
        })
        .collect()
}

/// DT_NEEDED names libc.so.6, and nothing but the C runtime: ld.so itself may be needed
/// for __tls_get_addr (libc.so's linker script has `AS_NEEDED(ld-linux-x86-64.so.2)`), and
/// libm.so.6 may be (gcc here passes --as-needed, so `cc -shared` drops it when unused).
fn assert_needed_libc(needed: &[String]) {
    assert!(needed.iter().any(|n| n == "libc.so.6"), "DT_NEEDED: {needed:?}");
    for name in needed {
        assert!(
            ["libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"].contains(&name.as_str()),
            "unexpected DT_NEEDED {name}: {needed:?}"
        );
    }
}

struct Objects {
    scratch: Scratch,
    objects: Vec<PathBuf>,
}

/// A library with code, data, relocated pointers, TLS and a libm dependency.
fn objects() -> Objects {
    let scratch = Scratch::new();
    let objects = vec![
        scratch.compile("tls_use.c", &["-O2"]),
        scratch.compile("tls_defs.c", &["-O2"]),
        scratch.compile("funcptr_b.c", &["-O2"]),
        scratch.compile("calls_util.c", &["-O2"]),
    ];
    Objects { scratch, objects }
}

const TLS_OUTPUT: &str = "initial: 42 0 tls-init\n\
                          bumped: 45 6 Dls-init\n\
                          same address: yes\n\
                          counter: 1045\n\
                          local: 802\n\
                          local: 904\n\
                          aligned: 1\n";

#[test]
fn program_headers_dynamic_section_and_notes() {
    let o = objects();
    let mut link = args![o.objects[0], o.objects[1], o.objects[2], o.objects[3], "-lm"];
    link.extend(args!["-shared", "--soname", "libstructure.so", "--rpath", "/opt/chainlink/lib"]);
    link.extend(args!["--rpath", "$ORIGIN/../lib"]);
    let linked = assert_links_and_runs(&o.scratch, "structure", &link, &loaded(TLS_OUTPUT));
    let library = &linked.chainlink;

    let header = readelf(&["-h"], library);
    assert!(header.contains("DYN (Shared object file)"), "{header}");
    assert!(header.contains("Advanced Micro Devices X86-64"), "{header}");

    let segments = segments(library);
    let of_kind = |kind: &str| segments.iter().filter(|s| s.kind == kind).collect::<Vec<_>>();
    let loads = of_kind("LOAD");
    assert!(loads.len() >= 2, "PT_LOAD segments: {loads:?}");
    assert!(loads.iter().any(|s| s.flags.contains('E')), "no executable PT_LOAD: {loads:?}");
    assert!(loads.iter().any(|s| s.flags.contains('W')), "no writable PT_LOAD: {loads:?}");
    for load in &loads {
        assert!(!(load.flags.contains('W') && load.flags.contains('E')), "W+E PT_LOAD: {load:?}");
        assert!(load.align >= 0x1000 && load.align.is_power_of_two(), "PT_LOAD align: {load:?}");
        assert_eq!(load.offset % load.align, load.vaddr % load.align, "congruence: {load:?}");
        assert!(load.memory_size >= load.file_size, "{load:?}");
    }
    for pair in loads.windows(2) {
        assert!(pair[0].vaddr + pair[0].memory_size <= pair[1].vaddr, "PT_LOADs overlap or are unsorted: {pair:?}");
    }
    let inside_load = |segment: &Segment, flag: char| {
        loads.iter().any(|l| {
            l.flags.contains(flag)
                && l.vaddr <= segment.vaddr
                && segment.vaddr + segment.memory_size <= l.vaddr + l.memory_size
        })
    };
    for kind in ["DYNAMIC", "GNU_RELRO", "GNU_STACK", "GNU_EH_FRAME", "TLS"] {
        assert_eq!(of_kind(kind).len(), 1, "PT_{kind}: {segments:?}");
    }
    assert!(inside_load(of_kind("DYNAMIC")[0], 'W'), "PT_DYNAMIC not in a writable PT_LOAD");
    assert!(inside_load(of_kind("GNU_RELRO")[0], 'W'), "PT_GNU_RELRO not in a writable PT_LOAD");
    assert!(inside_load(of_kind("GNU_EH_FRAME")[0], 'R'), "PT_GNU_EH_FRAME not loaded");
    let stack = of_kind("GNU_STACK")[0];
    assert!(!stack.flags.contains('E'), "executable stack: {stack:?}");
    assert!(of_kind("INTERP").is_empty(), "a shared library has no PT_INTERP");
    let tls = of_kind("TLS")[0];
    assert!(tls.memory_size > tls.file_size && tls.file_size > 0, "PT_TLS: {tls:?}");

    let dynamic = dynamic_entries(library);
    let values = |tag: &str| dynamic.iter().filter(|(t, _)| t == tag).map(|(_, v)| bracketed(v)).collect::<Vec<_>>();
    assert_needed_libc(&values("NEEDED"));
    assert_eq!(values("SONAME"), ["libstructure.so"]);
    assert_eq!(values("RUNPATH"), ["/opt/chainlink/lib:$ORIGIN/../lib"]);
    assert!(values("RPATH").is_empty(), "DT_RPATH instead of DT_RUNPATH: {dynamic:?}");
    assert!(values("TEXTREL").is_empty(), "DT_TEXTREL: {dynamic:?}");
    for (tag, value) in &dynamic {
        assert!(!value.contains("TEXTREL"), "DF_TEXTREL in {tag}: {value}");
    }
    for tag in ["SYMTAB", "STRTAB", "STRSZ", "SYMENT"] {
        assert_eq!(values(tag).len(), 1, "DT_{tag}: {dynamic:?}");
    }
    assert!(!values("GNU_HASH").is_empty() || !values("HASH").is_empty(), "no hash table");

    let sections = readelf(&["-S"], library);
    assert!(sections.contains(".note.gnu.build-id"), "no .note.gnu.build-id:\n{sections}");
    let notes = readelf(&["-n"], library);
    let build_id = notes
        .lines()
        .find_map(|line| line.split_once("Build ID: ").map(|(_, id)| id.trim()))
        .unwrap_or_else(|| panic!("no build ID note:\n{notes}"));
    assert!(build_id.len() >= 16 && build_id.chars().all(|c| c.is_ascii_hexdigit()), "{build_id}");
}

#[test]
fn no_soname_or_runpath_unless_asked() {
    let o = objects();
    let library =
        link_chainlink(&o.scratch.path("plain.so"), &args![o.objects[0], o.objects[1], o.objects[2], o.objects[3]]);
    let dynamic = dynamic_entries(&library);
    for tag in ["SONAME", "RUNPATH", "RPATH"] {
        assert!(!dynamic.iter().any(|(t, _)| t == tag), "unexpected DT_{tag}: {dynamic:?}");
    }
    assert_needed_libc(&needed(&library));
    assert_output("plain", &run_loader(&library), &loaded(TLS_OUTPUT));
    assert!(!dynamic.iter().any(|(t, _)| t == "FLAGS_1"), "unexpected DT_FLAGS_1: {dynamic:?}");

    // -z now asks the loader to bind everything up front; the library still runs.
    let now = link_chainlink(
        &o.scratch.path("now.so"),
        &args![o.objects[0], o.objects[1], o.objects[2], o.objects[3], "-z", "now"],
    );
    let dynamic = dynamic_entries(&now);
    assert!(dynamic.iter().any(|(t, v)| t == "FLAGS" && v.contains("BIND_NOW")), "{dynamic:?}");
    assert!(dynamic.iter().any(|(t, v)| t == "FLAGS_1" && v.contains("NOW")), "{dynamic:?}");
    assert_output("now", &run_loader(&now), &loaded(TLS_OUTPUT));
}

#[test]
fn pack_relative_relocs() {
    let s = Scratch::new();
    let a = s.compile("funcptr_a.c", &["-O2"]);
    let b = s.compile("funcptr_b.c", &["-O2"]);
    let linked = assert_links_and_runs(&s, "relr", &args!["-z", "pack-relative-relocs", a, b], &loaded(FUNCPTR_OUTPUT));
    for library in [&linked.cc, &linked.chainlink] {
        let dynamic = dynamic_entries(library);
        assert!(dynamic.iter().any(|(tag, _)| tag == "RELR"), "{}: no DT_RELR", library.display());
        let relative = relocation_types(library).iter().filter(|r| *r == "R_X86_64_RELATIVE").count();
        assert_eq!(relative, 0, "{}: RELATIVE relocations left in .rela.dyn", library.display());
    }
}

/// Links o.objects (and -lm) with chainlink, run from `cwd`, with `extra` options.
fn link_in(cwd: &Path, out: &Path, objects: &[PathBuf], extra: &[&str]) -> Vec<u8> {
    let mut link = args!["--soname", "libdeterministic.so"];
    link.extend(objects.iter().map(|o| o.to_str().unwrap().to_string()));
    link.push("-lm".to_string());
    link.extend(extra.iter().map(|e| e.to_string()));
    run_ok(&mut chainlink_command(cwd, out, &link));
    fs::read(cwd.join(out)).unwrap() // join keeps an absolute `out` as it is
}

#[test]
fn deterministic_output() {
    let o = objects();
    let dir = o.scratch.dir();
    let first = link_in(dir, &o.scratch.path("first.so"), &o.objects, &[]);
    let again = link_in(dir, &o.scratch.path("again.so"), &o.objects, &[]);
    assert!(first == again, "two identical links differ");
    let one = link_in(dir, &o.scratch.path("one.so"), &o.objects, &["--threads", "1"]);
    let two = link_in(dir, &o.scratch.path("two.so"), &o.objects, &["--threads", "2"]);
    assert!(one == two, "--threads 1 and --threads 2 differ");
    assert!(first == one, "--threads 1 differs from the default");
    let timed = link_in(dir, &o.scratch.path("timed.so"), &o.objects, &["--time"]);
    assert!(first == timed, "--time changes the output");

    // Relative paths from the scratch directory versus absolute paths from elsewhere.
    let relative: Vec<PathBuf> = o.objects.iter().map(|p| PathBuf::from(p.file_name().unwrap())).collect();
    let from_inside = link_in(dir, Path::new("relative.so"), &relative, &[]);
    let elsewhere = o.scratch.subdir("elsewhere");
    let from_outside = link_in(&elsewhere, &o.scratch.path("absolute.so"), &o.objects, &[]);
    assert!(from_inside == from_outside, "relative and absolute input paths give different output");
    assert!(first == from_inside, "output depends on the working directory");
    assert_output("deterministic", &run_loader(&o.scratch.path("relative.so")), &loaded(TLS_OUTPUT));
}

/// `.symtab` names local and hidden code for debuggers and profilers (bound LOCAL, at the
/// address the code runs at), lists exports and imports as globals, and `-s` leaves it out.
#[test]
fn static_symbol_table() {
    let s = Scratch::new();
    let a = s.compile("vis_a.c", &["-O2", "-g"]);
    let b = s.compile("vis_b.c", &["-O2", "-g"]);
    let library = link_chainlink(&s.path("vis.so"), &args![a, b]);
    let symbols = symbols(&library);
    let one = |table: &str, name: &str| -> Symbol {
        let found = find_symbols(&symbols, table, name);
        assert_eq!(found.len(), 1, "{table} `{name}`: {found:?}");
        found[0].clone()
    };
    let hidden = one(".symtab", "vis_hidden_fn");
    assert_eq!((hidden.bind.as_str(), hidden.kind.as_str()), ("LOCAL", "FUNC"), "{hidden:?}");
    assert_eq!(one(".symtab", "vis_default_fn").bind, "GLOBAL");
    assert_eq!(one(".symtab", "printf").section, "UND");
    // The first global's index is the table's sh_info.
    let table = readelf(&["-S"], &library);
    assert!(table.contains(".symtab") && table.contains(".strtab"), "{table}");

    // nm's address of the hidden function is where addr2line finds its source line.
    let nm_line = nm(&[], &library).lines().find(|l| l.ends_with(" vis_hidden_fn")).map(str::to_string).unwrap();
    let address = nm_line.split_whitespace().next().unwrap();
    let line = run_ok(std::process::Command::new("addr2line").arg("-e").arg(&library).arg(address));
    assert!(line.contains("vis_a.c:2"), "addr2line {address}: {line}");

    let stripped = link_chainlink(&s.path("stripped.so"), &args![a, b, "-s"]);
    assert!(!readelf(&["-S"], &stripped).contains(".symtab"));
    assert_output("stripped library", &run_loader(&stripped), &run_loader(&library));
}
