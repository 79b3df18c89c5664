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

/// Finding 10: `--threads` is between 1 and 1024 (a usage error otherwise, at once), and
/// at most four threads per core are started;
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
    // The most there is: at most four threads per core are started, so it is as quick.
    let stats = s.path("threads.json");
    let start = std::time::Instant::now();
    let output = run_with_timeout(
        &mut chainlink_command(
            s.dir(),
            &s.path("t1024.so"),
            &args![main, util, "--threads", "1024", "--stats-json", stats],
        ),
        20,
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(start.elapsed() < std::time::Duration::from_secs(5), "--threads 1024 took {:?}", start.elapsed());
    let cores = std::thread::available_parallelism().unwrap().get();
    let json = fs::read_to_string(&stats).unwrap();
    let threads: usize = json.split("\"threads\": ").nth(1).unwrap().split(',').next().unwrap().trim().parse().unwrap();
    assert!(threads <= 4 * cores, "{threads} threads started on {cores} cores");
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

/// Makes a file look settled: the cache trusts (and records) only fingerprints of files
/// not changed in the last seconds.
fn settle(path: &std::path::Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options().append(true).open(path).unwrap().set_modified(old).unwrap();
}

/// Every file under `dir`, recursively, with its contents (symbolic links as their target).
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(tree(&path));
        } else if kind.is_symlink() {
            found.push((path.clone(), fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()));
        } else {
            found.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}

/// Finding 4: every cache record that feeds an output's bytes is checked: a changed digit
/// in a remembered member hash, a file hash, an output's record or the key remembered for
/// an output is reported and recomputed, the output is what `--no-cache` gives (manifest
/// included), and what the cache then stores and serves is right too.
#[test]
fn damaged_cache_records_are_noticed_and_never_change_an_output() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let archive = s.archive("libutil.a", &[&util]);
    for file in [&main, &archive] {
        settle(file);
    }
    let cache = s.path("cache");
    let inputs = args![main, "--whole-archive", archive];
    let link = |out: &std::path::Path, extra: &[&str]| {
        let mut command = chainlink_command(s.dir(), out, &inputs);
        command.args(extra).arg("--cache-dir").arg(&cache);
        run(&mut command)
    };
    let cold = |out: &std::path::Path, extra: &[&str]| {
        run_ok(chainlink_command(s.dir(), out, &inputs).args(extra).arg("--no-cache"));
        fs::read(out).unwrap()
    };
    let out = s.path("o.so");
    assert!(link(&out, &[]).status.success());
    let records = |filter: &dyn Fn(&str, &str) -> bool| -> Vec<std::path::PathBuf> {
        tree(&cache.join("v1"))
            .into_iter()
            .filter(|(path, bytes)| filter(&path.to_string_lossy(), &String::from_utf8_lossy(bytes)))
            .map(|(path, _)| path)
            .collect()
    };
    // Flips one hex digit on line `line` (0-based) of a record, leaving it well-formed.
    let damage = |path: &std::path::Path, line: usize, field: usize| {
        let text = fs::read_to_string(path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut fields: Vec<String> = lines[line].split(' ').map(str::to_string).collect();
        let digit = fields[field].pop().unwrap();
        fields[field].push(if digit == '0' { '1' } else { '0' });
        lines[line] = fields.join(" ");
        fs::write(path, lines.join("\n") + "\n").unwrap();
    };
    let member_record = || {
        records(&|path, text| path.contains("/fingerprints/") && !path.contains("/out-") && text.lines().count() > 2)
    };
    type Damage<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Damage)> = vec![
        ("a member's hash", Box::new(|| damage(&member_record()[0], 1, 2))),
        ("an archive's hash", Box::new(|| damage(&member_record()[0], 0, 0))),
        (
            "an output's record",
            Box::new(|| {
                let meta = records(&|path, _| path.ends_with(".meta"));
                damage(&meta[0], 1, 1)
            }),
        ),
        (
            "the key remembered for an output",
            Box::new(|| {
                let out_records = records(&|path, _| path.contains("/out-"));
                for record in out_records {
                    damage(&record, 0, 0);
                }
            }),
        ),
    ];
    for (round, (what, damage_it)) in cases.iter().enumerate() {
        // A new soname: a link the cache has not seen (so it must hash, or trust, its
        // inputs); for the key remembered for an output, the last link again, once its
        // output is settled (the record is read only then).
        let remembered = *what == "the key remembered for an output";
        if remembered {
            std::thread::sleep(std::time::Duration::from_millis(2100));
        }
        damage_it();
        let soname = format!("libround{}.so", if remembered { round - 1 } else { round });
        let output = link(&out, &["--soname", &soname]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{what}: {}", describe(&output));
        let expected = cold(&s.path("cold.so"), &["--soname", &soname]);
        assert!(fs::read(&out).unwrap() == expected, "{what}: the output differs from --no-cache's");
        assert!(
            stderr.contains("damaged cache record")
                || stderr.contains("corrupt cache entry")
                || *what == "an output's record",
            "{what}: {stderr}"
        );
        // What the cache stored (and now serves) is right as well.
        fs::remove_file(&out).unwrap();
        let output = link(&out, &["--soname", &soname, "--verify-determinism"]);
        assert!(output.status.success(), "{what}: {}", describe(&output));
        assert!(fs::read(&out).unwrap() == expected, "{what}: the cache served other bytes");
        // The manifest names the member with its true hash.
        let manifest = run_ok(chainlink().arg("inspect").arg(&out));
        let truth = run_ok(chainlink().arg("inspect").arg(s.path("cold.so")));
        assert_eq!(manifest, truth, "{what}");
    }
    // An output's record damaged where the link needs it: the entry is not used.
    let meta = records(&|path, _| path.ends_with(".meta"));
    for record in &meta {
        damage(record, 1, 1);
    }
    fs::remove_file(&out).unwrap();
    let output = link(&out, &["--soname", "libround0.so"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("damaged cache record"), "{}", describe(&output));
    assert!(fs::read(&out).unwrap() == cold(&s.path("cold.so"), &["--soname", "libround0.so"]));
}

/// Finding 5: directories inside the cache that are symbolic links (to a directory full of
/// someone's files, named like cache entries even) are never followed: links, `cache gc`
/// down to nothing and `cache clear` leave that directory exactly as it was, and remove
/// nothing in the cache but files of its own naming.
#[test]
fn the_cache_never_follows_a_symbolic_link_out_of_itself() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let victim = s.subdir("victim");
    let key = "a".repeat(64);
    for name in [
        "precious.txt".to_string(),
        format!("{key}.so"),
        format!("{key}.meta"),
        format!("{key}.base"),
        ".entry-1-abcdef".to_string(),
    ] {
        fs::write(victim.join(&name), b"someone else's file\n").unwrap();
        settle(&victim.join(&name));
    }
    let untouched = tree(&victim);
    let cache = s.path("cache");
    let cache_dir = cache.to_str().unwrap().to_string();
    let commands = |cache: &str| {
        for command in [
            vec!["cache", "gc", "--cache-dir", cache, "--cache-max-size", "0"],
            vec!["cache", "clear", "--cache-dir", cache],
            vec!["cache", "stats", "--cache-dir", cache],
        ] {
            let _ = run_with_timeout(chainlink().args(&command), 30);
        }
    };
    for (link, inside) in [("v1/outputs", true), ("v1/bases", true), ("v1/fingerprints", true), ("v1", false)] {
        let _ = fs::remove_dir_all(&cache);
        let _ = fs::remove_file(&cache);
        fs::create_dir_all(cache.join("v1")).unwrap();
        if !inside {
            fs::remove_dir(cache.join("v1")).unwrap();
        }
        std::os::unix::fs::symlink(&victim, cache.join(link)).unwrap();
        // Foreign files inside the cache itself stay too.
        let foreign = cache.join("notes.txt");
        fs::write(&foreign, b"mine\n").unwrap();
        for round in 0..2 {
            let out = s.path("o.so");
            let output = run(chainlink_command(s.dir(), &out, &args![main, util]).arg("--cache-dir").arg(&cache));
            assert!(output.status.success(), "{link}: {}", describe(&output));
            assert!(
                String::from_utf8_lossy(&output.stderr).contains("not a directory"),
                "{link} round {round}: {}",
                describe(&output)
            );
            commands(&cache_dir);
            assert!(tree(&victim) == untouched, "{link} round {round}: the cache changed files outside it");
        }
        assert!(foreign.exists());
    }
    // Files of other names in the cache's own directories are not the cache's to remove.
    let _ = fs::remove_dir_all(&cache);
    let _ = fs::remove_file(&cache);
    run_ok(chainlink_command(s.dir(), &s.path("o.so"), &args![main, util]).arg("--cache-dir").arg(&cache));
    let mine = cache.join("v1/outputs/notes.txt");
    fs::write(&mine, b"mine\n").unwrap();
    let planted = cache.join(format!("v1/outputs/{key}.so"));
    std::os::unix::fs::symlink(victim.join("precious.txt"), &planted).unwrap();
    commands(&cache_dir);
    assert!(mine.exists(), "gc or clear removed a file that is not the cache's");
    assert!(tree(&victim) == untouched);
}

/// Finding 8: `cache clear` and `cache gc` while links use the cache always succeed, and
/// so do the links, with the right bytes.
#[test]
fn cache_clear_and_gc_racing_with_links_succeed() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let cache = s.path("cache");
    let expected = {
        run_ok(&mut chainlink_command(s.dir(), &s.path("cold.so"), &args![main, util]));
        fs::read(s.path("cold.so")).unwrap()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let linkers: Vec<_> = (0..3)
        .map(|i| {
            let (s_dir, out, cache, main, util, stop) = (
                s.dir().to_path_buf(),
                s.path(&format!("o{i}.so")),
                cache.clone(),
                main.clone(),
                util.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut links = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || links < 3 {
                    let soname = format!("--soname=lib{}.so", links % 2);
                    let output = run(std::process::Command::new(CHAINLINK)
                        .current_dir(&s_dir)
                        .arg("link")
                        .arg("-o")
                        .arg(&out)
                        .arg(&main)
                        .arg(&util)
                        .arg(&soname)
                        .arg("--cache-dir")
                        .arg(&cache));
                    assert!(output.status.success(), "{}", describe(&output));
                    links += 1;
                }
                links
            })
        })
        .collect();
    for round in 0..30 {
        let action: &[&str] = if round % 3 == 2 { &["gc", "--cache-max-size", "0"] } else { &["clear"] };
        let output = run(chainlink().arg("cache").args(action).arg("--cache-dir").arg(&cache));
        assert!(output.status.success(), "cache {action:?} while linking: {}", describe(&output));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for linker in linkers {
        assert!(linker.join().unwrap() >= 3);
    }
    for i in 0..3 {
        run_ok(&mut chainlink_command(s.dir(), &s.path("cold.so"), &args![main, util, "--soname=lib0.so"]));
        let soname0 = fs::read(s.path("cold.so")).unwrap();
        run_ok(&mut chainlink_command(s.dir(), &s.path("cold.so"), &args![main, util, "--soname=lib1.so"]));
        let soname1 = fs::read(s.path("cold.so")).unwrap();
        let got = fs::read(s.path(&format!("o{i}.so"))).unwrap();
        assert!(got == soname0 || got == soname1, "o{i}.so is neither cold link's bytes");
    }
    let _ = expected;
}

/// A GNU `ar` archive with members of any name (GNU ar itself stores only file names):
/// every name goes through the long-name table.
fn gnu_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let header = |name: &str, size: usize| format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644);
    let mut names = String::new();
    let mut offsets = Vec::new();
    for (name, _) in members {
        offsets.push(names.len());
        names.push_str(&format!("{name}/\n"));
    }
    let mut bytes = b"!<arch>\n".to_vec();
    bytes.extend_from_slice(header("//", names.len()).as_bytes());
    bytes.extend_from_slice(names.as_bytes());
    if names.len() % 2 == 1 {
        bytes.push(b'\n');
    }
    for ((_, data), offset) in members.iter().zip(offsets) {
        bytes.extend_from_slice(header(&format!("/{offset}"), data.len()).as_bytes());
        bytes.extend_from_slice(data);
        if data.len() % 2 == 1 {
            bytes.push(b'\n');
        }
    }
    bytes
}

/// Finding 7: names of any bytes round-trip — strip sections with spaces, `%` or line
/// breaks, members named `text.o\r`, `../../evil.o` or `dir/x.o`, two members of one name —
/// through emitted archives and the next `--base` link and `inspect`; an emitted
/// archive's member names hold no `/` and no control character, so taking it apart writes
/// only inside the directory it is taken apart in.
#[test]
fn names_of_any_bytes_round_trip_through_emitted_archives() {
    let s = Scratch::new();
    let object = |name: &str, body: &str| {
        let c = s.write(&format!("{name}.c"), body.as_bytes());
        let o = s.path(&format!("{name}.o"));
        run_ok(std::process::Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&c).arg("-o").arg(&o));
        fs::read(o).unwrap()
    };
    let text = object("text", "int base_one(void) { return 1; }\n");
    let evil = object("evil", "int base_two(void) { return 2; }\n");
    let nested = object("nested", "int base_three(void) { return 3; }\n");
    let data = object("data", "int image_data = 4;\n");
    let base = s.write(
        "sys-o.a",
        &gnu_archive(&[("text.o\r", &text), ("../../evil.o", &evil), ("dir/x.o", &nested), ("data.o", &data)]),
    );
    let first = object("first", "int newest_one(void) { return 11; }\n");
    let second = object("second", "int newest_two(void) { return 12; }\n");
    let newest = s.write("newest.a", &gnu_archive(&[("util.o", &first), ("util.o", &second)]));
    let strips = ["my sec", "50% off", "line\nbreak", "cr\r"];
    let mut flags: Vec<String> = Vec::new();
    for strip in strips {
        flags.extend(["--strip-section".to_string(), strip.to_string()]);
    }
    let gen1 = s.path("gen1.a");
    let mut link = args!["-nostdlib", "--base", base, newest, "--emit-archive", gen1];
    link.extend(flags.iter().cloned());
    let one = link_chainlink(&s.path("one.so"), &link);
    let exported = exported_symbols(&one);
    for symbol in ["base_one", "base_two", "base_three", "newest_one", "newest_two"] {
        assert!(exported.contains(&symbol.to_string()), "{symbol}: {exported:?}");
    }
    let names = run_ok(std::process::Command::new("ar").arg("t").arg(&gen1));
    for name in names.lines() {
        assert!(!name.contains(['/', '\r']) && name != "..", "emitted member name {name:?}");
    }
    assert_eq!(names.lines().count(), names.lines().collect::<std::collections::HashSet<_>>().len(), "{names}");
    // The next generation on the emitted archive, and inspect, read every name back.
    let third = object("third", "int newest_three(void) { return 13; }\n");
    let third_o = s.write("third.o", &third);
    let gen2 = s.path("gen2.a");
    let mut link = args!["-nostdlib", "--base", gen1, third_o, "--emit-archive", gen2];
    link.extend(flags.iter().cloned());
    let two = link_chainlink(&s.path("two.so"), &link);
    let exported = exported_symbols(&two);
    for symbol in ["base_one", "base_two", "base_three", "newest_one", "newest_two", "newest_three"] {
        assert!(exported.contains(&symbol.to_string()), "{symbol} lost in the second generation: {exported:?}");
    }
    for file in [&gen1, &gen2, &two] {
        let json = run_ok(chainlink().arg("inspect").arg("--json").arg(file));
        for expected in [
            "\"text.o\\u000d\"",
            "\"../../evil.o\"",
            "\"dir/x.o\"",
            "\"my sec\"",
            "\"50% off\"",
            "\"line\\u000abreak\"",
        ] {
            assert!(json.contains(expected), "{}: {expected} missing:\n{json}", file.display());
        }
        let text = run_ok(chainlink().arg("inspect").arg(file));
        assert!(!text.contains('\r') && text.contains("my%20sec"), "{text:?}");
    }
    // Taken apart, the emitted archive writes only inside the directory it is taken apart in.
    let apart = s.subdir("apart/inside");
    run_ok(std::process::Command::new("ar").current_dir(&apart).arg("x").arg(&gen2));
    assert_eq!(directory_listing(&s.path("apart")), vec!["inside".to_string()]);
    assert!(!s.path("evil.o.extracted").exists());
}

/// Every message is one line whatever the names it quotes hold: an archive member named
/// with a line break (BSD `ar` names can hold any byte) and control characters.
#[test]
fn errors_are_one_line_whatever_the_names_hold() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let name = b"evil\nname\r\x1b[31m.o";
    let data = b"not an object at all\n";
    let mut archive = b"!<arch>\n".to_vec();
    let size = name.len() + data.len();
    archive
        .extend_from_slice(format!("#1/{:<13}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", name.len(), 0, 0, 0, 644).as_bytes());
    archive.extend_from_slice(name);
    archive.extend_from_slice(data);
    if size % 2 == 1 {
        archive.push(b'\n');
    }
    let library = s.write("libevil.a", &archive);
    let message = assert_link_fails(&s, &args![main, "--whole-archive", library], 1, &["libevil.a"], None);
    assert!(!message.contains(['\r', '\x1b']), "{message:?}");
    assert!(message.contains("evil\\nname"), "{message:?}");
}
