//! C behaviour: calls and data across objects and into libc, pointers in initialised data,
//! visibility, weak symbols, COMMON symbols, constructor/destructor priorities, libm,
//! -nostdlib. Every test links with chainlink and with `cc -shared`, runs both under the
//! loader, and compares both outputs with the expected output written out here.

mod common;

use common::*;

#[test]
fn calls_and_data_across_objects_and_into_libc() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    assert_links_and_runs(
        &s,
        "calls",
        &args![main, util],
        &loaded(
            "add: 42\n\
             strlen(greeting): 15\n\
             greeting: hello from util\n\
             ascending: 1 2 3 5 7 9\n\
             descending: 9 7 5 3 2 1\n\
             format: util=5 (6)\n\
             counter: 8 bss: 100\n\
             table: 10 20 38 40\n\
             name: renamed (7)\n",
        ),
    );
}

#[test]
fn function_and_data_pointers_in_initialised_data() {
    let s = Scratch::new();
    let a = s.compile("funcptr_a.c", &["-O2"]);
    let b = s.compile("funcptr_b.c", &["-O2"]);
    // The fixture must really put relocated tables in .data.rel.ro and .data.
    let sections = readelf(&["-S"], &a);
    assert!(sections.contains(".data.rel.ro "), "funcptr_a.o has no .data.rel.ro:\n{sections}");
    assert!(readelf(&["-S"], &b).contains(".data.rel.ro.local"));
    let linked = assert_links_and_runs(&s, "funcptr", &args![a, b], &loaded(FUNCPTR_OUTPUT));
    // Pointers to local functions and literals need load-time RELATIVE relocations.
    let relocations = relocation_types(&linked.chainlink);
    assert!(
        relocations.iter().any(|r| r == "R_X86_64_RELATIVE"),
        "chainlink output has no R_X86_64_RELATIVE relocations: {relocations:?}"
    );
}

#[test]
fn visibility_hidden_protected_default() {
    let s = Scratch::new();
    let a = s.compile("vis_a.c", &["-O2"]);
    let b = s.compile("vis_b.c", &["-O2"]);
    let linked = assert_links_and_runs(
        &s,
        "vis",
        &args![a, b],
        &loaded(
            "hidden fn: 101\n\
             hidden data: 11\n\
             hidden via got: 13\n\
             protected fn: 202\n\
             protected data: 22\n\
             default fn: 303\n\
             default data: 66\n\
             internal: 330\n",
        ),
    );
    for library in [&linked.cc, &linked.chainlink] {
        for hidden in ["vis_hidden_fn", "vis_hidden_data", "vis_hidden_via_got"] {
            assert_not_exported(library, hidden);
        }
        for default in ["vis_default_fn", "vis_default_data", "vis_a_internal", "chainlink_test"] {
            assert_exported(library, default, "DEFAULT");
        }
        for protected in ["vis_protected_fn", "vis_protected_data"] {
            assert_exported(library, protected, "PROTECTED");
        }
        assert_eq!(assert_exported(library, "vis_default_data", "DEFAULT").size, 4);
        assert_eq!(assert_exported(library, "vis_default_data", "DEFAULT").kind, "OBJECT");
        assert_eq!(assert_exported(library, "vis_default_fn", "DEFAULT").kind, "FUNC");
    }
}

const WEAK_EXPECTED: &str = "overridden: 100\n\
                             kept: 2\n\
                             data: 20\n\
                             kept data: 30\n\
                             b sum: 152\n\
                             missing fn: null\n\
                             missing data: null\n";

#[test]
fn weak_definitions_overridden_by_strong_weak_first() {
    let s = Scratch::new();
    let a = s.compile("weak_a.c", &["-O2"]);
    let b = s.compile("weak_b.c", &["-O2"]);
    let linked = assert_links_and_runs(&s, "weak", &args![a, b], &loaded(WEAK_EXPECTED));
    for library in [&linked.cc, &linked.chainlink] {
        // The strong definition is the one exported; the weak undefined stays undefined.
        assert_eq!(assert_exported(library, "weak_overridden", "DEFAULT").bind, "GLOBAL");
        assert_eq!(assert_exported(library, "weak_kept", "DEFAULT").bind, "WEAK");
        let symbols = symbols(library);
        let missing = find_symbols(&symbols, ".dynsym", "chainlink_weak_missing_fn");
        assert!(missing.iter().all(|s| s.section == "UND" && s.bind == "WEAK"), "{}: {missing:?}", library.display());
    }
}

#[test]
fn weak_definitions_overridden_by_strong_strong_first() {
    let s = Scratch::new();
    let a = s.compile("weak_a.c", &["-O2"]);
    let b = s.compile("weak_b.c", &["-O2"]);
    assert_links_and_runs(&s, "weak", &args![b, a], &loaded(WEAK_EXPECTED));
}

#[test]
fn common_symbols_merge_across_objects() {
    let s = Scratch::new();
    let a = s.compile("common_a.c", &["-O2", "-fcommon"]);
    let b = s.compile("common_b.c", &["-O2", "-fcommon"]);
    // The fixture must really produce COMMON symbols.
    let commons = find_symbols(&symbols(&a), ".symtab", "common_counter");
    assert_eq!(commons.first().map(|s| s.section.as_str()), Some("COM"), "{commons:?}");
    let linked = assert_links_and_runs(
        &s,
        "common",
        &args![a, b],
        &loaded(
            "counter: 7\n\
             array: 15 7\n\
             definition wins: 2.50\n\
             aligned: 0 shared\n",
        ),
    );
    for library in [&linked.cc, &linked.chainlink] {
        assert_eq!(assert_exported(library, "common_array", "DEFAULT").size, 256);
        assert_eq!(assert_exported(library, "common_aligned", "DEFAULT").size, 100);
    }
}

#[test]
fn constructors_and_destructors_run_in_priority_order() {
    let s = Scratch::new();
    let a = s.compile("ctor_a.c", &["-O2"]);
    let b = s.compile("ctor_b.c", &["-O2"]);
    // Constructors: by ascending priority across both objects, then the unprioritised ones
    // in link order. Destructors: the exact reverse (unprioritised ones first, in reverse
    // link order, then by descending priority).
    assert_links_and_runs(
        &s,
        "ctor",
        &args![a, b],
        "ctor a 101\n\
         ctor b 102\n\
         ctor b 200\n\
         ctor a 300\n\
         ctor a default\n\
         ctor b default\n\
         loader: loaded\n\
         test runs\n\
         loader: dlclose\n\
         dtor b default\n\
         dtor a default\n\
         dtor b 150\n\
         dtor a 101\n\
         loader: exit\n",
    );
}

#[test]
fn constructors_at_o0_in_reverse_link_order() {
    let s = Scratch::new();
    let a = s.compile("ctor_a.c", &["-O0"]);
    let b = s.compile("ctor_b.c", &["-O0"]);
    assert_links_and_runs(
        &s,
        "ctor",
        &args![b, a],
        "ctor a 101\n\
         ctor b 102\n\
         ctor b 200\n\
         ctor a 300\n\
         ctor b default\n\
         ctor a default\n\
         loader: loaded\n\
         test runs\n\
         loader: dlclose\n\
         dtor a default\n\
         dtor b default\n\
         dtor b 150\n\
         dtor a 101\n\
         loader: exit\n",
    );
}

#[test]
fn libm_found_without_library_path() {
    let s = Scratch::new();
    let object = s.compile("math_fixture.c", &["-O2"]);
    let linked = assert_links_and_runs(
        &s,
        "math",
        &args![object, "-lm"],
        &loaded(
            "sqrt(2) = 1.414214\n\
             cos(0.5) = 0.877583\n\
             pow(2, 10) = 1024.0\n\
             log(10) = 2.302585\n\
             atan2(1, 2) = 0.463648\n\
             floor(-0.5) = -1.0\n",
        ),
    );
    let needed = needed(&linked.chainlink);
    assert!(needed.contains(&"libm.so.6".to_string()), "DT_NEEDED: {needed:?}");
    assert!(needed.contains(&"libc.so.6".to_string()), "DT_NEEDED: {needed:?}");
}

#[test]
fn nostdlib_links_without_crt_files_or_libc() {
    let s = Scratch::new();
    let object = s.compile("nostdlib.c", &["-O2"]);
    let linked = assert_links_and_runs(&s, "nostdlib", &args!["-nostdlib", object], &loaded("nostdlib: 17\n"));
    for library in [&linked.cc, &linked.chainlink] {
        assert_eq!(needed(library), Vec::<String>::new(), "{}", library.display());
    }
    // No crtbeginS.o: none of its symbols may appear.
    let names: Vec<String> = symbols(&linked.chainlink).into_iter().map(|s| s.name).collect();
    assert!(!names.iter().any(|n| n == "__do_global_dtors_aux"), "crt files were linked");
}
