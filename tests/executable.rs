//! An executable (built by gcc/ld, linked with -L/-rpath against the library, not dlopen)
//! calling into a chainlink-built library: DT_NEEDED by soname, a copy relocation of the
//! library's exported data into the executable, canonical function addresses, callbacks.

mod common;

use common::*;
use std::process::Command;

const EXPECTED: &str = "name: chainlink library\n\
                        value after constructor: 6 6\n\
                        library sees executable's write: 40\n\
                        executable sees library's write: 41\n\
                        function address equal: 1\n\
                        callback into executable: 43\n";

#[test]
fn executable_linked_against_library() {
    let s = Scratch::new();
    let object = s.compile("exe_lib.c", &["-O2"]);
    let link = args![object, "--soname", "libexelib.so"];
    let libraries = [
        ("cc", link_cc(&s.subdir("cc").join("libexelib.so"), &link)),
        ("chainlink", link_chainlink(&s.subdir("chainlink").join("libexelib.so"), &link)),
    ];
    for (linker, library) in libraries {
        let dir = library.parent().unwrap();
        let program = dir.join("program");
        run_ok(
            Command::new("gcc")
                .arg(testdata("exe_main.c"))
                .arg("-o")
                .arg(&program)
                .arg("-L")
                .arg(dir)
                .arg("-lexelib")
                .arg(format!("-Wl,-rpath,{}", dir.display())),
        );
        assert_eq!(needed(&program)[0], "libexelib.so", "{linker}: executable's DT_NEEDED");
        // The executable refers to the library's data directly: a copy relocation, which
        // needs the library's symbol to have the right type and size.
        let relocations = readelf(&["-r"], &program);
        assert!(
            relocations.lines().any(|l| l.contains("R_X86_64_COPY") && l.contains("exe_lib_value")),
            "{linker}: no copy relocation for exe_lib_value in the executable:\n{relocations}"
        );
        let output = run_ok(&mut Command::new(&program));
        assert_output(&format!("{linker}: program"), &output, EXPECTED);
    }
}
