//! Regression tests for bad input and hostile surroundings (issue 15): every input gets a
//! one-line error or a correct output, never a panic, hang or abort; a failed link leaves
//! the previous output as it was and no stray files.

mod common;

use common::*;
use std::fs;

/// An object whose relocations touch allocated and non-allocated (debug) sections, GOT
/// loads among them (which a relaxation rewrites from three bytes before the field).
const RELOCATIONS_EVERYWHERE: &str = "\
    .text
    .globl f
    .type f,@function
f:  movq ext@GOTPCREL(%rip), %rax
    call *ext2@GOTPCREL(%rip)
    ret
    .data
    .globl ext
ext: .quad 1
    .globl ext2
ext2: .quad 2
    .section .debug_info,\"\",@progbits
    .quad f
    .long f
    .section .debug_x,\"\",@progbits
    movq ext@GOTPCREL(%rip), %rax
    call *ext2@GOTPCREL(%rip)
";

/// Finding 1: a relocation whose offset is near 2^64 (or whose field or instruction
/// starts before its section) is an error naming it, in every section and for every field
/// size and relaxable GOT load, never a panic from an offset that wrapped round.
#[test]
fn relocation_offsets_out_of_range_are_errors_in_every_section() {
    let s = Scratch::new();
    let source = s.write("relocs.s", RELOCATIONS_EVERYWHERE.as_bytes());
    let object = s.path("relocs.o");
    run_ok(std::process::Command::new("gcc").arg("-c").arg(&source).arg("-o").arg(&object));
    let pristine = fs::read(&object).unwrap();
    let link = |bytes: &[u8]| {
        let damaged = s.write("damaged.o", bytes);
        args!["-nostdlib", damaged]
    };
    // The undamaged object links.
    link_chainlink(&s.path("fine.so"), &link(&pristine));
    let entries = elf::all_rela_entries(&pristine);
    assert_eq!(entries.len(), 6, "{entries:?}");
    for (entry, section) in entries {
        for offset in [u64::MAX, u64::MAX - 1, u64::MAX - 3, u64::MAX - 7, 1u64 << 63, 0x1000] {
            let mut bytes = pristine.clone();
            elf::put_u64(&mut bytes, entry, offset);
            let message = assert_link_fails(&s, &link(&bytes), 1, &["damaged.o", &section], None);
            assert!(
                message.contains("outside its section") || message.contains("past the end"),
                "{section} offset {offset:#x}: {message}"
            );
        }
    }
}

/// Finding 2: a GNU ld script's nesting is data, not recursion: 10,000 nested
/// `AS_NEEDED (` lists link (they overflowed the stack), and scripts naming themselves, even
/// several times over, are an error at once.
#[test]
fn deeply_nested_and_looping_linker_scripts() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let depth = 10_000;
    let nested = format!("GROUP ( {} {} {} )\n", "AS_NEEDED ( ".repeat(depth), util.display(), ") ".repeat(depth));
    let script = s.write("libdeep.so", nested.as_bytes());
    let out = link_chainlink(&s.path("deep.so"), &args![main, script]);
    assert!(exported_symbols(&out).contains(&"util_counter".to_string()), "{:?}", exported_symbols(&out));
    let unclosed = s.write("libunclosed.so", format!("GROUP ( {}", "AS_NEEDED ( ".repeat(depth)).as_bytes());
    assert_link_fails(&s, &args![main, unclosed], 1, &["libunclosed.so", "missing `)`"], None);
    // INPUT(self self): 2^16 reads of itself if only the depth were bounded.
    let looping = s.path("libloop.so");
    fs::write(&looping, format!("INPUT ( {0} {0} )\n", looping.display())).unwrap();
    assert_link_fails(&s, &args![main, looping], 1, &["libloop.so", "linker scripts"], None);
}

/// The phases a link goes through (`--time`), in order.
const PHASES: &[&str] =
    &["inputs", "cache", "symbols", "tables", "sections", "scan", "symtab", "layout", "write", "store"];

/// `chainlink link -o OUT ARGS` (forked, or `--no-fork`), with the cache in `cache` or off.
fn link_command(
    s: &Scratch,
    out: &std::path::Path,
    args: &[String],
    fork: bool,
    cache: Option<&std::path::Path>,
) -> std::process::Command {
    let mut command = chainlink_command(s.dir(), out, args);
    if !fork {
        command.arg("--no-fork");
    }
    if let Some(cache) = cache {
        command.arg("--cache-dir").arg(cache);
    }
    command
}

/// The files of `dir` and their contents.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    directory_listing(dir)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join(&name)).unwrap_or_default();
            (name, bytes)
        })
        .collect()
}

/// Finding 3: a link that exits non-zero leaves its output (and emitted archive, and
/// stats file) exactly as they were, whatever fails last — an unwritable `--stats-json`,
/// an `--emit-archive` in a missing directory, a rename that fails after another has
/// succeeded — forked or not, with the cache or without (where the cache holds the output
/// and would copy it).
#[test]
fn a_failed_link_leaves_every_output_as_it_was() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let cache = s.path("cache");
    let out_dir = s.subdir("out");
    let out = out_dir.join("o.so");
    for fork in [true, false] {
        for cached in [None, Some(cache.as_path())] {
            // The cache holds this very link's output: a relink copies it.
            run_ok(&mut link_command(&s, &s.path("warm.so"), &args![main, util], fork, cached));
            for bad in [
                args!["--stats-json", "/nonexistent/x.json"],
                args!["--stats-json", out_dir.clone()],
                args!["--emit-archive", "/nonexistent/x.a"],
                args!["--stats-json", "/dev/null"],
            ] {
                fs::write(&out, PREVIOUS).unwrap();
                let before = snapshot(&out_dir);
                let mut all = args![main, util];
                all.extend(bad.iter().cloned());
                let output = run(&mut link_command(&s, &out, &all, fork, cached));
                let context = format!("fork {fork}, cache {cached:?}, {bad:?}:\n{}", describe(&output));
                assert_eq!(output.status.code(), Some(1), "{context}");
                assert_eq!(String::from_utf8_lossy(&output.stderr).trim_end().lines().count(), 1, "{context}");
                assert!(snapshot(&out_dir) == before, "the failed link changed {}: {context}", out_dir.display());
            }
        }
    }
    // A rename that fails after the others succeeded: they are put back. The link pauses
    // once everything is written; the output then becomes a directory it cannot replace.
    let archive = out_dir.join("o.a");
    let stats = out_dir.join("o.json");
    for (path, contents) in [(&archive, &b"previous archive\n"[..]), (&stats, &b"previous stats\n"[..])] {
        fs::write(path, contents).unwrap();
    }
    fs::remove_file(&out).unwrap();
    let before = snapshot(&out_dir);
    let all = args![main, util, "--emit-archive", archive, "--stats-json", stats];
    let paused = Paused::start(&mut link_command(&s, &out, &all, true, None), "store", &s.path("resume"))
        .expect("the link pauses after the store phase");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep"), b"").unwrap();
    let (status, stderr) = paused.resume();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains("o.so"), "{stderr}");
    fs::remove_file(out.join("keep")).unwrap();
    fs::remove_dir(&out).unwrap();
    assert!(
        snapshot(&out_dir) == before,
        "a failed rename left the other outputs changed: {:?}",
        directory_listing(&out_dir)
    );
}

/// Finding 6 (and the signal faults): SIGINT, SIGTERM or SIGHUP at the end of any phase
/// (sent to the command, which forwards them to its linking child, or to an unforked link)
/// ends the link with that signal, the previous output intact and no temporary file left;
/// a link killed with SIGKILL leaves its temporary, which the next link beside it removes
/// (and which a concurrent link's temporaries never are).
#[test]
fn signals_at_every_phase_leave_the_previous_output_and_no_temporaries() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let cache = s.path("cache");
    let out_dir = s.subdir("out");
    let out = out_dir.join("o.so");
    let stats = out_dir.join("o.json");
    let all = args![main, util, "--stats-json", stats];
    let mut paused_at = Vec::new();
    for (index, phase) in PHASES.iter().enumerate() {
        for (signal, fork, cached) in [
            (libc::SIGTERM, true, true),
            (libc::SIGINT, false, true),
            (libc::SIGHUP, true, false),
            ([libc::SIGTERM, libc::SIGINT, libc::SIGHUP][index % 3], false, false),
        ] {
            fs::write(&out, PREVIOUS).unwrap();
            let before = snapshot(&out_dir);
            let _ = fs::remove_dir_all(&cache);
            let command = &mut link_command(&s, &out, &all, fork, cached.then_some(cache.as_path()));
            let Some(paused) = Paused::start(command, phase, &s.path("resume")) else { continue };
            paused_at.push(*phase);
            let status = paused.signal(signal);
            use std::os::unix::process::ExitStatusExt as _;
            assert_eq!(status.signal(), Some(signal), "after {phase} (fork {fork}): {status}");
            assert!(
                snapshot(&out_dir) == before,
                "signal {signal} after {phase} (fork {fork}) left {:?}",
                directory_listing(&out_dir)
            );
            if cached {
                let leftovers: Vec<String> = ["outputs", "bases", "fingerprints"]
                    .iter()
                    .flat_map(|dir| fs::read_dir(cache.join("v1").join(dir)).into_iter().flatten().flatten())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with('.'))
                    .collect();
                assert!(leftovers.is_empty(), "signal {signal} after {phase}: cache temporaries {leftovers:?}");
            }
        }
    }
    for phase in ["inputs", "symbols", "scan", "layout", "write", "store"] {
        assert!(paused_at.contains(&phase), "the link never paused after {phase}: {paused_at:?}");
    }
    // SIGKILL to the linking child: its temporary output stays...
    fs::write(&out, PREVIOUS).unwrap();
    let paused =
        Paused::start(&mut link_command(&s, &out, &args![main, util], false, None), "write", &s.path("resume"))
            .expect("pauses after write");
    let status = paused.signal(libc::SIGKILL);
    assert!(!status.success());
    let left: Vec<String> = directory_listing(&out_dir).into_iter().filter(|n| n.starts_with(".chainlink-")).collect();
    assert_eq!(left.len(), 1, "{:?}", directory_listing(&out_dir));
    // ... beside a live process's (this test's own), which must survive any sweep...
    let ours = out_dir.join(format!(".chainlink-{}-abcdef", std::process::id()));
    fs::write(&ours, b"a concurrent link's output in progress").unwrap();
    // ... until a link beside it (once the file is no longer fresh) removes it.
    for name in [&left[0], &ours.file_name().unwrap().to_string_lossy().into_owned()] {
        let file = fs::File::options().append(true).open(out_dir.join(name)).unwrap();
        file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10)).unwrap();
    }
    run_ok(&mut link_command(&s, &out, &args![main, util], true, None));
    assert!(!out_dir.join(&left[0]).exists(), "the dead link's temporary was not swept");
    assert!(ours.exists(), "a live process's temporary was removed");
    fs::remove_file(&ours).unwrap();
    assert!(run_loader(&out).contains("greeting: hello from util\n"));
}

/// Finding 9: what is not a regular file (a FIFO, `/dev/zero`, a directory) is an error
/// at once, as an input, a base, a linker script's input, and for `inspect`.
#[test]
fn inputs_that_are_not_regular_files_are_errors_at_once() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let fifo = s.path("fifo.o");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let dir = s.subdir("dir.o");
    let script = s.write("libfifo.so", format!("INPUT ( {} )\n", fifo.display()).as_bytes());
    for (input, kind) in [
        (fifo.display().to_string(), "a FIFO"),
        ("/dev/zero".to_string(), "a character device"),
        (dir.display().to_string(), "a directory"),
        (script.display().to_string(), "a FIFO"),
    ] {
        for link in [args![main, input, "-nostdlib"], args!["--base", input, main, "-nostdlib"]] {
            if link[1] == script.display().to_string() && link[0] == "--base" {
                continue;
            }
            let output = run_with_timeout(&mut chainlink_command(s.dir(), &s.path("o.so"), &link), 20);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{input}: {}", describe(&output));
            assert!(stderr.contains(&format!("not a regular file ({kind})")), "{input}: {stderr}");
        }
        let output = run_with_timeout(chainlink().arg("inspect").arg(&input), 20);
        assert_eq!(output.status.code(), Some(1), "inspect {input}: {}", describe(&output));
    }
}

/// Finding 10: `--threads` is between 1 and 1024 (a usage error otherwise, at once);
/// `--stats-json` replaces a symbolic link rather than writing through it; the output, the
/// emitted archive and the stats file are created with the umask, like any file the user
/// makes (0777 less the umask for the library, 0666 for the others).
#[test]
fn threads_bounds_and_output_files_respect_the_user() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    for threads in ["0", "1025", "100000", "many"] {
        let output = run_with_timeout(
            &mut chainlink_command(s.dir(), &s.path("t.so"), &args![main, util, "--threads", threads]),
            20,
        );
        assert_eq!(output.status.code(), Some(2), "--threads {threads}: {}", describe(&output));
        assert!(String::from_utf8_lossy(&output.stderr).contains("--threads"), "{}", describe(&output));
    }
    link_chainlink(&s.path("t64.so"), &args![main, util, "--threads", "64"]);
    // The stats file is a symbolic link to a file that must not change.
    let victim = s.write("victim.txt", b"not yours\n");
    let stats = s.path("stats.json");
    std::os::unix::fs::symlink(&victim, &stats).unwrap();
    link_chainlink(&s.path("s.so"), &args![main, util, "--stats-json", stats]);
    assert_eq!(fs::read(&victim).unwrap(), b"not yours\n");
    assert!(fs::symlink_metadata(&stats).unwrap().is_file());
    assert!(fs::read_to_string(&stats).unwrap().contains("\"phases_ms\""));
    // Modes follow the umask.
    let base_dir = s.subdir("base");
    let text = s.compile("calls_util.c", &["-O2"]);
    fs::copy(&text, base_dir.join("text.o")).unwrap();
    let base = s.archive("sys-o.a", &[&base_dir.join("text.o")]);
    use std::os::unix::fs::PermissionsExt as _;
    for (umask, library, others) in [("022", 0o755, 0o644), ("077", 0o700, 0o600), ("002", 0o775, 0o664)] {
        let (out, archive, stats) =
            (s.path(&format!("m{umask}.so")), s.path(&format!("m{umask}.a")), s.path(&format!("m{umask}.json")));
        let line = format!(
            "umask {umask}; exec \"$0\" link -o {} --base {} {} --emit-archive {} --stats-json {} -nostdlib",
            out.display(),
            base.display(),
            main.display(),
            archive.display(),
            stats.display()
        );
        run_ok(std::process::Command::new("sh").arg("-c").arg(&line).arg(CHAINLINK).env("CHAINLINK_NO_CACHE", "1"));
        let mode = |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&out), mode(&archive), mode(&stats)), (library, others, others), "umask {umask}");
    }
}
