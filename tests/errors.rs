//! Link errors exit 1 with a one-line message naming the file (and section, offset and
//! symbol where relevant); usage errors exit 2. A failed link creates no output file (nor
//! any stray file next to it) and leaves an existing output file untouched. Each error
//! fixture is also checked to make `cc -shared` fail, so it really is an error.

mod common;

use common::*;
use std::fs;
use std::process::Command;

/// The fixture is an error for the reference linker too.
fn assert_reference_fails(s: &Scratch, args: &[String]) {
    let mut command = Command::new("cc");
    command.arg("-shared").arg("-o").arg(s.path("reference.so")).args(cc_args(args));
    let output = run(&mut command);
    assert!(!output.status.success(), "`cc -shared` accepts this input:\n{}", describe(&output));
}

#[test]
fn truncated_object() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let bytes = fs::read(&util).unwrap();
    let truncated = s.write("truncated.o", &bytes[..bytes.len() / 2]);
    let link = args![main, truncated];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["truncated.o"], None);
}

#[test]
fn object_truncated_inside_the_elf_header() {
    let s = Scratch::new();
    let util = s.compile("calls_util.c", &["-O2"]);
    let bytes = fs::read(&util).unwrap();
    let truncated = s.write("stub.o", &bytes[..40]);
    let link = args![truncated];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["stub.o"], None);
}

#[test]
fn garbage_named_dot_o() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let garbage = s.write("garbage.o", &b"this is not an ELF object\n".repeat(40));
    let link = args![main, garbage];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["garbage.o"], None);
}

#[test]
fn corrupt_archive_header() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let mut bytes = b"!<arch>\n".to_vec();
    // A member header whose size field is not a number and overruns the file.
    bytes.extend_from_slice(b"calls_util.o/   0           0     0     644     9x9999    `\n");
    bytes.extend_from_slice(&[0x7f; 64]);
    let archive = s.write("libcorrupt.a", &bytes);
    let link = args![main, archive];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["libcorrupt.a"], None);
}

#[test]
fn archive_truncated_inside_a_needed_member() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let archive = s.archive("libutil.a", &[&util]);
    let bytes = fs::read(&archive).unwrap();
    let truncated = s.write("libtruncated.a", &bytes[..bytes.len() * 3 / 5]);
    let link = args![main, truncated];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["libtruncated.a"], None);
}

#[test]
fn wrong_architecture_i386_object() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let object = s.path("tiny32.o");
    let assembled = run(Command::new("gcc").arg("-m32").arg("-c").arg(testdata("tiny.s")).arg("-o").arg(&object));
    if !assembled.status.success() {
        // No 32-bit support in this toolchain: make an ELFCLASS32 header by hand from the
        // 64-bit one (the e_machine test below covers the rest).
        let mut bytes = fs::read(s.compile_to("tiny.s", "tiny64.o", &[])).unwrap();
        bytes[4] = 1; // ELFCLASS32
        bytes[18] = 3; // EM_386
        fs::write(&object, bytes).unwrap();
    }
    let link = args![main, object];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["tiny32.o"], None);
}

#[test]
fn wrong_machine_aarch64_header() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let mut bytes = fs::read(s.compile("calls_util.c", &["-O2"])).unwrap();
    assert_eq!(&bytes[18..20], &[62, 0], "e_machine of an x86-64 object is EM_X86_64");
    bytes[18] = 183; // EM_AARCH64
    let object = s.write("aarch64.o", &bytes);
    let link = args![main, object];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["aarch64.o"], None);
}

#[test]
fn duplicate_strong_definition() {
    let s = Scratch::new();
    let a = s.compile("err_dup_a.c", &["-O2"]);
    let b = s.compile("err_dup_b.c", &["-O2"]);
    let link = args![a, b];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["chainlink_duplicate_symbol", "err_dup_a.o", "err_dup_b.o"], None);
}

#[test]
fn absolute_32_bit_relocation_in_shared_library() {
    let s = Scratch::new();
    let object = s.compile("err_abs32.s", &[]);
    assert_eq!(relocation_types(&object), ["R_X86_64_32"]);
    let link = args![object];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["err_abs32.o", ".text.bad", "chainlink_abs32_target"], Some(0x11));
}

#[test]
fn local_exec_tls_relocation_in_shared_library() {
    let s = Scratch::new();
    let object = s.compile("err_tpoff32.s", &[]);
    assert_eq!(relocation_types(&object), ["R_X86_64_TPOFF32"]);
    let link = args![object];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["err_tpoff32.o", ".text.tls", "chainlink_le_tls"], Some(0x14));
}

#[test]
fn missing_library() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let link = args![main, "-L", s.dir(), "-l", "chainlink_no_such_library"];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["chainlink_no_such_library"], None);
}

#[test]
fn missing_input_file() {
    let s = Scratch::new();
    let link = args![s.path("does-not-exist.o")];
    assert_reference_fails(&s, &link);
    assert_link_fails(&s, &link, 1, &["does-not-exist.o"], None);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    assert_link_fails(&s, &args!["--frobnicate", main], 2, &["--frobnicate"], None);
}

#[test]
fn invalid_thread_count_is_a_usage_error() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    assert_link_fails(&s, &args!["--threads", "many", main], 2, &[], None);
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let output = chainlink_raw(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(!output.stderr.is_empty(), "no message");
}

#[test]
fn version_and_help() {
    let version = chainlink_raw(&["--version"]);
    assert!(version.status.success(), "{}", describe(&version));
    assert!(String::from_utf8_lossy(&version.stdout).to_lowercase().contains("chainlink"), "{}", describe(&version));
    let help = chainlink_raw(&["--help"]);
    assert!(help.status.success(), "{}", describe(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("link"), "{}", describe(&help));
}

/// Minimal ELF64 section-header access for corrupting real objects in the tests below.
struct Sections {
    bytes: Vec<u8>,
}

impl Sections {
    fn field(&self, at: usize, size: usize) -> u64 {
        let mut value = [0u8; 8];
        value[..size].copy_from_slice(&self.bytes[at..at + size]);
        u64::from_le_bytes(value)
    }

    fn header(&self, index: usize) -> usize {
        self.field(0x28, 8) as usize + index * self.field(0x3a, 2) as usize
    }

    /// The index of the first section of type `sh_type`.
    fn find(&self, sh_type: u64) -> usize {
        (0..self.field(0x3c, 2) as usize).find(|&i| self.field(self.header(i) + 4, 4) == sh_type).unwrap()
    }
}

/// Two global symbols of one object with the same name: a duplicate, not a crash.
#[test]
fn duplicate_definition_inside_one_object() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let mut object = Sections { bytes: fs::read(s.compile("calls_util.c", &["-O2"])).unwrap() };
    let symtab = object.header(object.find(2));
    let (offset, size, first_global) = (
        object.field(symtab + 0x18, 8) as usize,
        object.field(symtab + 0x20, 8) as usize,
        object.field(symtab + 0x2c, 4) as usize,
    );
    let defined: Vec<usize> = (first_global..size / 24)
        .map(|i| offset + 24 * i)
        .filter(|&at| object.field(at + 6, 2) != 0) // st_shndx: defined
        .collect();
    assert!(defined.len() >= 2, "the fixture defines at least two globals");
    // Give the second defined global the first one's name.
    let name = object.bytes[defined[0]..defined[0] + 4].to_vec();
    object.bytes[defined[1]..defined[1] + 4].copy_from_slice(&name);
    let corrupt = s.write("twice.o", &object.bytes);
    assert_link_fails(&s, &args![main, corrupt], 1, &["duplicate symbol", "twice.o"], None);
}

/// A section header claiming more bytes than any link can lay out.
#[test]
fn implausible_section_size() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let mut object = Sections { bytes: fs::read(s.compile("calls_util.c", &["-O2"])).unwrap() };
    let bss = object.header(object.find(8)); // SHT_NOBITS
    object.bytes[bss + 0x20..bss + 0x28].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let corrupt = s.write("huge.o", &object.bytes);
    assert_link_fails(&s, &args![main, corrupt], 1, &["huge.o", "implausible"], None);
}
