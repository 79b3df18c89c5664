//! Fault injection: a full disk, a read-only or vanished output directory, a cache that is
//! full, read-only or cleared and collected while links use it. Every failed link ends
//! with the previous outputs exactly as they were and no file left beside them; every link
//! that the fault leaves possible succeeds with the bytes a plain link gives. (Signals at
//! each phase: tests/hardening.rs.)
//!
//! File systems that fill up or turn read-only are small tmpfs mounts in a private mount
//! namespace (`unshare -rm`); where that is not allowed the test says so and is skipped.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Whether a tmpfs can be mounted in a private mount namespace here.
fn can_mount(s: &Scratch) -> bool {
    let dir = s.subdir("probe");
    let mut probe = Command::new("unshare");
    probe.args(["-rm", "sh", "-c"]).arg(format!("mount -t tmpfs -o size=64k tmpfs {}", dir.display()));
    let ok = run(&mut probe).status.success();
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs in a private mount namespace here");
    }
    ok
}

/// Shell-quotes an argument.
fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// Runs `chainlink link -o DIR/o.so ARGS` (stats and emitted archive in DIR too) inside a
/// private mount namespace where DIR is a fresh tmpfs of `size` KiB holding the previous
/// outputs, after `prepare` (shell commands: fill it up, make it read-only...). Returns
/// the command's output and, as the command left them, DIR's files and their contents.
fn link_on_tmpfs(
    s: &Scratch,
    size: u32,
    prepare: &str,
    args: &[String],
) -> (std::process::Output, Vec<(String, Vec<u8>)>) {
    let dir = s.subdir("mnt");
    let copy = s.subdir("after");
    for entry in fs::read_dir(&copy).unwrap().flatten() {
        fs::remove_file(entry.path()).unwrap();
    }
    let previous = s.write("previous", PREVIOUS);
    let line: Vec<String> = args.iter().map(|arg| quote(arg)).collect();
    let script = format!(
        "set -e; mount -t tmpfs -o size={size}k tmpfs {dir}; \
         for f in o.so o.a o.json; do cp {previous} {dir}/$f; done; \
         set +e; {prepare}; \
         CHAINLINK_NO_CACHE=1 {chainlink} link -o {dir}/o.so --emit-archive {dir}/o.a --stats-json {dir}/o.json {line}; status=$?; \
         cp -a {dir}/. {copy}/ 2>/dev/null; exit $status",
        dir = dir.display(),
        previous = previous.display(),
        chainlink = CHAINLINK,
        copy = copy.display(),
        line = line.join(" ")
    );
    let output = run(Command::new("unshare").args(["-rm", "sh", "-c"]).arg(script));
    let files = directory_listing(&copy)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(copy.join(&name)).unwrap_or_default();
            (name, bytes)
        })
        .collect();
    (output, files)
}

/// A link through a base that emits an archive: output, archive and stats all written.
fn chained_inputs(s: &Scratch) -> Vec<String> {
    let util = s.compile("calls_util.c", &["-O2"]);
    let main = s.compile("calls_main.c", &["-O2"]);
    let base_dir = s.subdir("base");
    fs::copy(&util, base_dir.join("text.o")).unwrap();
    let base = s.archive("sys-o.a", &[&base_dir.join("text.o")]);
    args!["-nostdlib", "--base", base, main]
}

/// The outputs a failed link must leave: the previous ones, nothing else.
fn assert_previous(files: &[(String, Vec<u8>)], extra: &[&str], context: &str) {
    let mut expected: Vec<String> = ["o.a", "o.json", "o.so"].iter().chain(extra).map(|s| s.to_string()).collect();
    expected.sort();
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(names, expected, "{context}: files left");
    for (name, bytes) in files {
        if ["o.a", "o.json", "o.so"].contains(&name.as_str()) {
            assert_eq!(bytes, PREVIOUS, "{context}: {name} changed");
        }
    }
}

/// ENOSPC: on a file system with no room (or a little: enough for some of the outputs but
/// not all), the link fails with one line and leaves the previous outputs and nothing
/// else; with room enough, it succeeds. Forked and not.
#[test]
fn a_full_disk_fails_the_link_and_keeps_the_previous_outputs() {
    let s = Scratch::new();
    if !can_mount(&s) {
        return;
    }
    let inputs = chained_inputs(&s);
    // What the three outputs take, linked where there is room.
    let roomy = s.subdir("roomy");
    let mut full = inputs.clone();
    full.extend(args!["--emit-archive", roomy.join("o.a"), "--stats-json", roomy.join("o.json")]);
    link_chainlink(&roomy.join("o.so"), &full);
    let needed: u64 = ["o.so", "o.a", "o.json"].iter().map(|f| fs::metadata(roomy.join(f)).unwrap().len()).sum();
    let mut failures = 0;
    for fork in [true, false] {
        for room_kib in [0, 4, 8, 16, 24, 32, 48, 64, 128, 256] {
            let mut args = inputs.clone();
            if !fork {
                args.push("--no-fork".into());
            }
            // Fill the file system, then free `room_kib` of it.
            let prepare = format!(
                "(dd if=/dev/zero of={dir}/filler bs=4k 2>/dev/null; true); truncate -s -{room_kib}K {dir}/filler",
                dir = s.path("mnt").display()
            );
            let (output, files) = link_on_tmpfs(&s, 512, &prepare, &args);
            let context = format!("room {room_kib} KiB (need {needed} bytes), fork {fork}:\n{}", describe(&output));
            if output.status.success() {
                for (name, bytes) in &files {
                    match name.as_str() {
                        "filler" => {}
                        // (Its phase times differ from link to link.)
                        "o.json" => assert!(bytes.starts_with(b"{\n"), "{context}: o.json"),
                        _ => assert!(*bytes == fs::read(roomy.join(name)).unwrap(), "{context}: {name}"),
                    }
                }
                continue;
            }
            failures += 1;
            assert_eq!(output.status.code(), Some(1), "{context}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.trim_end().lines().count(), 1, "{context}");
            assert!(stderr.contains("No space left") || stderr.contains("cannot"), "{context}");
            assert_previous(&files, &["filler"], &context);
        }
    }
    assert!(failures >= 4, "the disk was never full enough to fail a link");
}

/// A read-only output directory (a read-only mount): the link fails at once with one line,
/// the previous outputs intact.
#[test]
fn a_read_only_output_directory_fails_the_link() {
    let s = Scratch::new();
    if !can_mount(&s) {
        return;
    }
    let inputs = chained_inputs(&s);
    let prepare = format!("mount -o remount,ro {}", s.path("mnt").display());
    let (output, files) = link_on_tmpfs(&s, 512, &prepare, &inputs);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Read-only file system"), "{}", describe(&output));
    assert_previous(&files, &[], "read-only");
}

/// The output directory removed while the link runs (after any phase): the link fails with
/// one line, nothing is created in its place, and no temporary is left in the cache.
#[test]
fn a_vanished_output_directory_fails_the_link() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let cache = s.path("cache");
    for (phase, fork) in [("inputs", true), ("symbols", false), ("layout", true), ("write", false), ("store", true)] {
        let out_dir = s.subdir("gone");
        let out = out_dir.join("o.so");
        fs::write(&out, PREVIOUS).unwrap();
        let mut command = chainlink_command(s.dir(), &out, &args![main, util, "--stats-json", out_dir.join("o.json")]);
        command.arg("--cache-dir").arg(&cache).arg("--soname").arg(format!("lib{phase}.so"));
        if !fork {
            command.arg("--no-fork");
        }
        let paused = Paused::start(&mut command, phase, &s.path("resume")).expect("the link pauses");
        fs::remove_dir_all(&out_dir).unwrap();
        let (status, stderr) = paused.resume();
        assert_eq!(status.code(), Some(1), "after {phase}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|line| !line.starts_with("chainlink: warning:")).collect();
        assert!(errors.len() == 1 && errors[0].starts_with("chainlink: error:"), "after {phase}: {stderr}");
        assert!(!out_dir.exists(), "after {phase}: the output directory was made again");
        assert_no_cache_temporaries(&cache);
    }
    // And one that is not there to begin with: an error before any work.
    let missing = s.path("missing/o.so");
    let output = run(&mut chainlink_command(s.dir(), &missing, &args![main, util]));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing"), "{}", describe(&output));
    assert!(!s.path("missing").exists());
}

fn assert_no_cache_temporaries(cache: &Path) {
    for dir in ["outputs", "bases", "fingerprints"] {
        for entry in fs::read_dir(cache.join("v1").join(dir)).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with(".entry-"), "a temporary was left in the cache: {name}");
        }
    }
}

/// A read-only cache (a read-only mount holding entries): a link it holds is copied from
/// it; one it does not is linked (one warning: nothing can be stored) — both with the bytes
/// of a plain link, and nothing left behind.
#[test]
fn a_read_only_cache_still_serves_and_never_fails_a_link() {
    let s = Scratch::new();
    if !can_mount(&s) {
        return;
    }
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let cache = s.subdir("cache");
    let out_dir = s.subdir("out");
    let cold = |soname: &str| {
        let path = s.path(&format!("cold-{soname}"));
        link_chainlink(&path, &args![main, util, "--soname", soname]);
        fs::read(path).unwrap()
    };
    let link = |soname: &str| {
        format!(
            "{} link -o {}/{soname} {} {} --soname {soname} --cache-dir {}",
            CHAINLINK,
            out_dir.display(),
            main.display(),
            util.display(),
            cache.display()
        )
    };
    let script = format!(
        "set -e; mount -t tmpfs -o size=4m tmpfs {cache}; {stored}; rm {out}/*; mount -o remount,ro {cache}; \
         {again} 2>{err1}; {other} 2>{err2}; ls -A {cache}/v1/outputs > {listing}",
        cache = cache.display(),
        stored = link("libstored.so"),
        out = out_dir.display(),
        again = link("libstored.so"),
        other = link("libother.so"),
        err1 = s.path("err1").display(),
        err2 = s.path("err2").display(),
        listing = s.path("listing").display()
    );
    let output = run(Command::new("unshare").args(["-rm", "sh", "-c"]).arg(script));
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(fs::read(out_dir.join("libstored.so")).unwrap(), cold("libstored.so"));
    assert_eq!(fs::read(out_dir.join("libother.so")).unwrap(), cold("libother.so"));
    assert_eq!(fs::read_to_string(s.path("err1")).unwrap(), "", "a hit needs not write");
    let warned = fs::read_to_string(s.path("err2")).unwrap();
    assert!(warned.contains("warning: cannot write") && warned.lines().count() == 1, "{warned}");
    assert_eq!(directory_listing(&out_dir), vec!["libother.so".to_string(), "libstored.so".to_string()]);
    let listing = fs::read_to_string(s.path("listing")).unwrap();
    assert!(!listing.contains(".entry-"), "{listing}");
}

/// Warm relinks of a chained image (prepared base, region copied early) while `cache gc`
/// down to nothing and `cache clear` run again and again on the same cache: every link
/// succeeds with a cold link's bytes, every command succeeds, and no temporary is left.
#[test]
fn warm_relinks_with_a_concurrent_gc_and_clear() {
    let s = Scratch::new();
    let image = s.subdir("image");
    generate(&image, &["--generations", "2", "--functions", "40", "--new-functions", "8"]);
    let base = image.join("gen0/sys-o.a");
    let newest = image.join("gen1/chained.o.a");
    for file in [&base, &newest] {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options().append(true).open(file).unwrap().set_modified(old).unwrap();
    }
    let cache = s.path("cache");
    let link = |out: &Path, soname: &str, cached: bool| {
        let mut command = Command::new(CHAINLINK);
        command.arg("link").arg("-o").arg(out).arg("--base").arg(&base).arg(&newest).arg("--soname").arg(soname);
        if cached {
            command.arg("--cache-dir").arg(&cache);
        } else {
            command.arg("--no-cache");
        }
        run(&mut command)
    };
    let expected: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let out = s.path(&format!("cold{i}.so"));
            assert!(link(&out, &format!("lib{i}.so"), false).status.success());
            fs::read(out).unwrap()
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let collector = scope.spawn(|| {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let action: &[&str] = if rounds % 2 == 0 { &["gc", "--cache-max-size", "0"] } else { &["clear"] };
                let output = run(Command::new(CHAINLINK).arg("cache").args(action).arg("--cache-dir").arg(&cache));
                assert!(output.status.success(), "cache {action:?}: {}", describe(&output));
                rounds += 1;
            }
            rounds
        });
        for round in 0..24 {
            let i = round % 3;
            let out = s.path(&format!("warm{i}.so"));
            let output = link(&out, &format!("lib{i}.so"), true);
            assert!(output.status.success(), "round {round}: {}", describe(&output));
            assert!(fs::read(&out).unwrap() == expected[i], "round {round}: a warm relink differs from a cold one");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(collector.join().unwrap() > 0);
    });
    let leftovers: Vec<String> =
        directory_listing(s.dir()).into_iter().filter(|n| n.starts_with(".chainlink-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_no_cache_temporaries(&cache);
}
