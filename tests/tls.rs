//! Thread-local storage in every model a shared library can use: global-dynamic,
//! local-dynamic, initial-exec (a dlopen'ed library gets static TLS from glibc's surplus,
//! so the fixture's TLS block is small), and TLS descriptors (-mtls-dialect=gnu2). The
//! fixtures have initialised (.tdata) and zero (.tbss) thread-locals, a 64-byte aligned one,
//! and one test checks per-thread values with pthreads.

mod common;

use common::*;
use std::path::Path;

const USE_EXPECTED: &str = "initial: 42 0 tls-init\n\
                            bumped: 45 6 Dls-init\n\
                            same address: yes\n\
                            counter: 1045\n\
                            local: 802\n\
                            local: 904\n\
                            aligned: 1\n";

/// Asserts that `object` has every relocation type in `expected` (the fixture really uses
/// the model the test is about).
fn assert_has_relocations(object: &Path, expected: &[&str]) {
    let found = relocation_types(object);
    for kind in expected {
        assert!(found.iter().any(|k| k == kind), "{} has no {kind}: {found:?}", object.display());
    }
}

/// (file size, memory size, alignment) of the PT_TLS segment.
fn tls_segment(library: &Path) -> (u64, u64, u64) {
    let headers = readelf(&["-l"], library);
    let line = headers
        .lines()
        .find(|line| line.trim_start().starts_with("TLS "))
        .unwrap_or_else(|| panic!("{} has no PT_TLS:\n{headers}", library.display()));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    (hex(fields[4]), hex(fields[5]), hex(fields[fields.len() - 1]))
}

fn check_model(name: &str, flags: &[&str], defs_relocations: &[&str], use_relocations: &[&str]) {
    let s = Scratch::new();
    let mut all_flags = vec!["-O2"];
    all_flags.extend_from_slice(flags);
    let defs = s.compile("tls_defs.c", &all_flags);
    let users = s.compile("tls_use.c", &all_flags);
    assert_has_relocations(&defs, defs_relocations);
    assert_has_relocations(&users, use_relocations);
    let linked = assert_links_and_runs(&s, name, &args![users, defs], &loaded(USE_EXPECTED));
    let (file_size, memory_size, alignment) = tls_segment(&linked.chainlink);
    assert!(file_size >= 4 + 16 + 4, "PT_TLS file size {file_size:#x} (.tdata)");
    assert!(memory_size >= file_size + 8 + 8 + 4, "PT_TLS memory size {memory_size:#x} (.tbss)");
    assert_eq!(alignment, 64, "PT_TLS alignment");
}

#[test]
fn global_dynamic() {
    // At -O2 gcc also uses local-dynamic (TLSLD + DTPOFF32) for the static thread-locals.
    check_model(
        "gd",
        &["-ftls-model=global-dynamic"],
        &["R_X86_64_TLSGD", "R_X86_64_TLSLD", "R_X86_64_DTPOFF32"],
        &["R_X86_64_TLSGD"],
    );
}

#[test]
fn local_dynamic() {
    // gcc uses local-dynamic even for the extern thread-locals of tls_use.c under
    // -ftls-model=local-dynamic: the linker resolves their DTPOFF32 to the local definition.
    check_model(
        "ld",
        &["-ftls-model=local-dynamic"],
        &["R_X86_64_TLSLD", "R_X86_64_DTPOFF32"],
        &["R_X86_64_TLSLD", "R_X86_64_DTPOFF32"],
    );
}

#[test]
fn initial_exec() {
    check_model("ie", &["-ftls-model=initial-exec"], &["R_X86_64_GOTTPOFF"], &["R_X86_64_GOTTPOFF"]);
}

#[test]
fn tls_descriptors_gnu2() {
    // At -O2 the static thread-locals use a descriptor for _TLS_MODULE_BASE_ (which the
    // linker defines) plus DTPOFF32 offsets.
    check_model(
        "tlsdesc",
        &["-mtls-dialect=gnu2"],
        &["R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL", "R_X86_64_DTPOFF32"],
        &["R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL"],
    );
}

#[test]
fn tls_descriptors_gnu2_at_o0() {
    check_model(
        "tlsdesc-o0",
        &["-O0", "-mtls-dialect=gnu2"],
        &["R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL"],
        &["R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL"],
    );
}

const THREADS_EXPECTED: &str = "thread 0: start 42 0 tls-init end 43 2 B local 802\n\
                                thread 1: start 42 0 tls-init end 46 8 C local 904\n\
                                thread 2: start 42 0 tls-init end 51 18 D local 1006\n\
                                thread 3: start 42 0 tls-init end 58 32 E local 1108\n\
                                main: -1 0 tls-init\n";

#[test]
fn per_thread_values_global_dynamic() {
    let s = Scratch::new();
    let defs = s.compile("tls_defs.c", &["-O2"]);
    let threads = s.compile("tls_threads.c", &["-O2"]);
    assert_links_and_runs(&s, "threads", &args![threads, defs], &loaded(THREADS_EXPECTED));
}

#[test]
fn per_thread_values_mixed_models() {
    // One library mixing TLS descriptors (and _TLS_MODULE_BASE_) in one object with
    // initial-exec accesses to the same variables in another.
    let s = Scratch::new();
    let defs = s.compile("tls_defs.c", &["-O2", "-mtls-dialect=gnu2"]);
    let threads = s.compile("tls_threads.c", &["-O2", "-ftls-model=initial-exec"]);
    assert_has_relocations(&threads, &["R_X86_64_GOTTPOFF"]);
    assert_links_and_runs(&s, "threads-mixed", &args![threads, defs], &loaded(THREADS_EXPECTED));
}
