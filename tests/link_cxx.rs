//! C++: exceptions thrown in one object and caught in another (unwinding needs
//! .eh_frame, .eh_frame_hdr and PT_GNU_EH_FRAME to be right), static constructors of global
//! objects, std::string / std::vector (template instances in COMDAT groups in both
//! objects). Linked as `g++ -shared` would be: the objects plus `-lstdc++`, no -L.

mod common;

use common::*;

const EXCEPTIONS_EXPECTED: &str = "caught chain_error: chain error 7 (code 7)\n\
                                   index 1: 20\n\
                                   caught out_of_range\n\
                                   unwind guard 3\n\
                                   caught as std::exception: chain error 3\n\
                                   caught int 42, rethrowing\n\
                                   caught rethrown\n\
                                   uncaught exceptions: 0\n";

#[test]
fn exception_thrown_in_one_object_caught_in_another() {
    let s = Scratch::new();
    let thrower = s.compile("cxx_throw.cpp", &["-O2"]);
    let catcher = s.compile("cxx_catch.cpp", &["-O0"]);
    let linked =
        assert_links_and_runs(&s, "exceptions", &args![catcher, thrower, "-lstdc++"], &loaded(EXCEPTIONS_EXPECTED));
    let needed = needed(&linked.chainlink);
    assert!(needed.contains(&"libstdc++.so.6".to_string()), "DT_NEEDED: {needed:?}");
    let headers = readelf(&["-l"], &linked.chainlink);
    assert!(headers.contains("GNU_EH_FRAME"), "no PT_GNU_EH_FRAME:\n{headers}");
}

#[test]
fn exceptions_with_function_sections_both_o2() {
    let s = Scratch::new();
    let flags = ["-O2", "-ffunction-sections", "-fdata-sections"];
    let thrower = s.compile("cxx_throw.cpp", &flags);
    let catcher = s.compile("cxx_catch.cpp", &flags);
    assert_links_and_runs(
        &s,
        "exceptions-sections",
        &args![thrower, catcher, "-lstdc++"],
        &loaded(EXCEPTIONS_EXPECTED),
    );
}

const STATIC_EXPECTED: &str = "registered 4\n\
                               in order: a:first;a:second;b:third;b:lambda;\n\
                               sorted: a:first;b:third;a:second;b:lambda;\n\
                               label: global label (12)\n\
                               squares sum: 55\n";

#[test]
fn static_constructors_and_standard_containers() {
    let s = Scratch::new();
    let a = s.compile("cxx_static_a.cpp", &["-O2"]);
    let b = s.compile("cxx_static_b.cpp", &["-O2"]);
    // Both objects instantiate the same std::vector<std::string> members in COMDAT groups.
    let groups = readelf(&["-g"], &b);
    assert!(groups.contains("COMDAT group"), "cxx_static_b.o has no COMDAT groups:\n{groups}");
    assert_links_and_runs(&s, "static", &args![a, b, "-lstdc++"], &loaded(STATIC_EXPECTED));
}

#[test]
fn static_constructors_at_o0() {
    let s = Scratch::new();
    let a = s.compile("cxx_static_a.cpp", &["-O0"]);
    let b = s.compile("cxx_static_b.cpp", &["-O0"]);
    assert_links_and_runs(&s, "static-o0", &args![a, b, "-lstdc++"], &loaded(STATIC_EXPECTED));
}

#[test]
fn exceptions_and_static_constructors_in_one_library() {
    // Everything together; the entry point of cxx_static_a.cpp is renamed so that the
    // library has exactly one chainlink_test, from cxx_catch.cpp.
    let s = Scratch::new();
    let objects = [
        s.compile("cxx_throw.cpp", &["-O2"]),
        s.compile("cxx_catch.cpp", &["-O2"]),
        s.compile("cxx_static_a.cpp", &["-O2", "-Dchainlink_test=static_a_entry"]),
        s.compile("cxx_static_b.cpp", &["-O2"]),
    ];
    let mut link = args![objects[0], objects[1], objects[2], objects[3]];
    link.push("-lstdc++".to_string());
    let linked = assert_links_and_runs(&s, "cxx-all", &link, &loaded(EXCEPTIONS_EXPECTED));
    for library in [&linked.cc, &linked.chainlink] {
        assert_output(
            &format!("{}: static_a_entry", library.display()),
            &run_loader_entry(library, "static_a_entry"),
            &loaded(STATIC_EXPECTED),
        );
    }
}
