//! The output cache: an unchanged relink is a hash check or a copy and gives the same
//! bytes as a cold link; a changed one links again; damaged entries, shared caches and
//! unusable cache directories never break a link.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Project {
    s: Scratch,
    cache: PathBuf,
}

impl Project {
    fn new() -> Project {
        let s = Scratch::new();
        let cache = s.path("cache");
        Project { s, cache }
    }

    fn objects(&self, util_source: &str) -> Vec<PathBuf> {
        let main = self.s.compile("calls_main.c", &["-O2"]);
        let util = self.s.path("calls_util.c");
        fs::write(&util, util_source).unwrap();
        let util_o = self.s.path("calls_util.o");
        run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&util).arg("-o").arg(&util_o));
        vec![main, util_o]
    }

    /// Links with the cache and returns the `cache` object of `--stats-json`.
    fn link(&self, out: &Path, objects: &[PathBuf], extra: &[&str]) -> String {
        let stats = self.s.path("stats.json");
        let mut command = Command::new(CHAINLINK);
        command.arg("link").arg("-o").arg(out).args(objects).arg("--cache-dir").arg(&self.cache);
        command.arg("--stats-json").arg(&stats).args(extra);
        run_ok(&mut command);
        let json = fs::read_to_string(&stats).unwrap();
        json.lines().find(|l| l.trim_start().starts_with("\"cache\": {")).unwrap_or_default().to_string()
    }

    fn cold(&self, out: &Path, objects: &[PathBuf]) -> Vec<u8> {
        run_ok(Command::new(CHAINLINK).arg("link").arg("-o").arg(out).args(objects).arg("--no-cache"));
        fs::read(out).unwrap()
    }

    fn entries(&self, extension: &str) -> Vec<PathBuf> {
        let dir = self.cache.join("v1/outputs");
        let mut found: Vec<PathBuf> = fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == extension)).collect())
            .unwrap_or_default();
        found.sort();
        found
    }
}

fn util_source(value: i32) -> String {
    fs::read_to_string(testdata("calls_util.c")).unwrap().replacen(
        "#include",
        &format!("__attribute__((used)) static int marker_{value} = {value};\n#include"),
        1,
    )
}

#[test]
fn unchanged_relink_is_a_cache_hit_with_the_same_bytes() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    let out = p.s.path("lib.so");
    assert!(p.link(&out, &objects, &[]).contains("\"outcome\": \"miss\", \"stored\": true"));
    let first = fs::read(&out).unwrap();
    assert_eq!(first, p.cold(&p.s.path("cold.so"), &objects), "a cached link differs from a cold link");

    let before = fs::metadata(&out).unwrap().modified().unwrap();
    assert!(p.link(&out, &objects, &[]).contains("\"outcome\": \"up-to-date\""));
    assert_eq!(fs::metadata(&out).unwrap().modified().unwrap(), before, "an up-to-date output was rewritten");

    fs::remove_file(&out).unwrap();
    assert!(p.link(&out, &objects, &[]).contains("\"outcome\": \"copied\""));
    assert_eq!(fs::read(&out).unwrap(), first);
    let expected = run_loader(&p.s.path("cold.so"));
    assert_eq!(run_loader(&out), expected);

    // A different output file elsewhere is served from the same entry.
    let other = p.s.path("other.so");
    assert!(p.link(&other, &objects, &[]).contains("\"outcome\": \"copied\""));
    assert_eq!(fs::read(&other).unwrap(), first);
    // Options that change the output change the key.
    assert!(p.link(&other, &objects, &["--soname", "libx.so"]).contains("\"outcome\": \"miss\""));
}

#[test]
fn changed_inputs_relink_to_exactly_what_a_cold_link_gives() {
    let p = Project::new();
    let out = p.s.path("lib.so");
    let objects = p.objects(&util_source(1));
    p.link(&out, &objects, &[]);
    // Rewrite an input in place (same path, new contents).
    let objects = p.objects(&util_source(2));
    assert!(p.link(&out, &objects, &[]).contains("\"outcome\": \"miss\""));
    assert_eq!(fs::read(&out).unwrap(), p.cold(&p.s.path("cold.so"), &objects));
    assert_eq!(p.entries("so").len(), 2);
}

#[test]
fn corrupt_or_truncated_entries_are_ignored_and_rebuilt() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    let out = p.s.path("lib.so");
    p.link(&out, &objects, &[]);
    let good = fs::read(&out).unwrap();
    let entry = p.entries("so").pop().unwrap();

    for damage in ["truncate", "flip", "meta"] {
        match damage {
            "truncate" => fs::write(&entry, &good[..good.len() / 2]).unwrap(),
            "flip" => {
                let mut bytes = good.clone();
                bytes[100] ^= 0xff;
                fs::write(&entry, bytes).unwrap();
            }
            _ => fs::write(entry.with_extension("meta"), "garbage").unwrap(),
        }
        fs::remove_file(&out).unwrap();
        let mut command = Command::new(CHAINLINK);
        command.arg("link").arg("-o").arg(&out).args(&objects).arg("--cache-dir").arg(&p.cache).arg("--verbose");
        let output = run(&mut command);
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(fs::read(&out).unwrap(), good, "after {damage}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if damage != "meta" {
            assert!(stderr.contains("corrupt cache entry"), "after {damage}: {stderr}");
        }
        assert!(stderr.contains("miss; stored"), "the entry was not rebuilt after {damage}: {stderr}");
        assert_eq!(fs::read(&entry).unwrap(), good, "after {damage}");
    }
}

#[test]
fn concurrent_links_share_a_cache() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    let children: Vec<_> = (0..4)
        .map(|i| {
            let out = p.s.path(&format!("lib{i}.so"));
            let child = Command::new(CHAINLINK)
                .arg("link")
                .arg("-o")
                .arg(&out)
                .args(&objects)
                .arg("--cache-dir")
                .arg(&p.cache)
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut outputs = Vec::new();
    for (out, mut child) in children {
        assert!(child.wait().unwrap().success());
        outputs.push(fs::read(out).unwrap());
    }
    let cold = p.cold(&p.s.path("cold.so"), &objects);
    assert!(outputs.iter().all(|o| *o == cold), "concurrent links disagree");
    assert_eq!(p.entries("so").len(), 1);
    assert_eq!(p.entries("meta").len(), 1);
}

#[test]
fn an_unusable_cache_directory_degrades_to_an_uncached_link() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    // A file where the directory should be: nothing can be created inside it.
    fs::write(&p.cache, "not a directory").unwrap();
    let out = p.s.path("lib.so");
    let mut command = Command::new(CHAINLINK);
    command.arg("link").arg("-o").arg(&out).args(&objects).arg("--cache-dir").arg(&p.cache);
    let output = run(&mut command);
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning: cannot write to the cache"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one warning, not one per problem: {stderr}");
    assert_eq!(fs::read(&out).unwrap(), p.cold(&p.s.path("cold.so"), &objects));
}

#[test]
fn cache_commands_and_the_determinism_check() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    let out = p.s.path("lib.so");
    p.link(&out, &objects, &["--verify-determinism"]);
    let cache_dir = p.cache.to_str().unwrap();
    let stats = run_ok(Command::new(CHAINLINK).args(["cache", "stats", "--cache-dir", cache_dir]));
    assert!(stats.contains("outputs: 1"), "{stats}");
    let gc = run_ok(Command::new(CHAINLINK).args(["cache", "gc", "--cache-dir", cache_dir, "--cache-max-size", "0"]));
    assert!(gc.starts_with("removed "), "{gc}");
    assert!(p.entries("so").is_empty(), "gc to size 0 left outputs");
    p.link(&out, &objects, &[]);
    run_ok(Command::new(CHAINLINK).args(["cache", "clear", "--cache-dir", cache_dir]));
    assert!(!p.cache.join("v1").exists());
    // A hit verified against a fresh link.
    p.link(&out, &objects, &[]);
    assert!(p.link(&out, &objects, &["--verify-determinism"]).contains("up-to-date"));
}

/// Unchanged inputs are not read again: their content hashes (and an archive's members')
/// are remembered by file fingerprint. Files changed in the last seconds are not trusted.
#[test]
fn unchanged_inputs_are_not_hashed_again() {
    let p = Project::new();
    let objects = p.objects(&util_source(1));
    let age = |path: &Path| {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options().append(true).open(path).unwrap().set_modified(old).unwrap();
    };
    let archive = p.s.archive("libutil.a", &[&objects[1]]);
    for file in [&objects[0], &archive] {
        age(file);
    }
    let inputs = vec![objects[0].clone(), archive.clone(), "--whole-archive".into()];
    let out = p.s.path("lib.so");
    let count = |line: &str, field: &str| -> u64 {
        let at = line.find(&format!("\"{field}\": ")).unwrap() + field.len() + 4;
        line[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    let first = p.link(&out, &inputs, &[]);
    // A different output (new options) with the same inputs: a miss, but no input is re-read.
    let second = p.link(&p.s.path("other.so"), &inputs, &["--soname", "x"]);
    assert!(second.contains("\"outcome\": \"miss\""), "{second}");
    assert_eq!(count(&second, "inputs_hashed"), 0, "{second}");
    assert!(count(&second, "fingerprints_reused") > count(&first, "fingerprints_reused"), "{first}\n{second}");
    // A fresh (just written) input is hashed, not trusted.
    let fresh = p.objects(&util_source(2));
    let third = p.link(&p.s.path("third.so"), &[fresh[0].clone(), archive.clone()], &[]);
    assert!(third.contains("\"inputs_hashed\": ") && !third.contains("\"inputs_hashed\": 0,"), "{third}");
    assert_eq!(fs::read(p.s.path("third.so")).unwrap(), p.cold(&p.s.path("cold.so"), &[fresh[0].clone(), archive]));
}

/// The build id leaves out verbatim copies of members (the manifest identifies those) and
/// the cache reuses its digest, checking those copies through the members' hashes: damage
/// to any byte of an entry — in a copied member's range, in the build id itself, elsewhere
/// — is still found.
#[test]
fn damage_anywhere_in_an_entry_is_found() {
    let p = Project::new();
    let blob = p.s.write(
        "blob.c",
        b"const unsigned char blob[1 << 20] = {7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8};\n\
          int blob_sum(void) { int s = 0; for (int i = 0; i < 1 << 20; i++) s += blob[i]; return s; }\n",
    );
    let blob_o = p.s.path("blob.o");
    run_ok(Command::new("gcc").args(["-fPIC", "-O2", "-c"]).arg(&blob).arg("-o").arg(&blob_o));
    let mut objects = p.objects(&util_source(1));
    objects.push(blob_o);
    let out = p.s.path("lib.so");
    p.link(&out, &objects, &[]);
    let good = fs::read(&out).unwrap();
    let entry = p.entries("so").pop().unwrap();
    let meta = fs::read_to_string(entry.with_extension("meta")).unwrap();
    // The blob's range is checked through blob.o's own hash (the rest of blob.o is small).
    assert!(meta.lines().any(|l| l.starts_with("member ")), "the blob was not copied verbatim: {meta}");
    let find = |needle: &[u8]| good.windows(needle.len()).position(|w| w == needle).unwrap();
    let blob_at = find(&[7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8]);
    let note = readelf(&["-n"], &out);
    let id_hex = note.split("Build ID: ").nth(1).unwrap().split_whitespace().next().unwrap();
    let id: Vec<u8> =
        (0..id_hex.len() / 2).map(|i| u8::from_str_radix(&id_hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let build_id_at = find(&id);
    for (what, at) in [("blob", blob_at + 500_000), ("build id", build_id_at + 3), ("headers", 70)] {
        fs::remove_file(&out).unwrap();
        let mut bytes = good.clone();
        bytes[at] ^= 0x10;
        fs::write(&entry, bytes).unwrap();
        let mut command = Command::new(CHAINLINK);
        command.arg("link").arg("-o").arg(&out).args(&objects).arg("--cache-dir").arg(&p.cache);
        let output = run(&mut command);
        assert!(output.status.success(), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("corrupt cache entry"), "damage in the {what} went unnoticed: {stderr}");
        assert_eq!(fs::read(&out).unwrap(), good, "after damage in the {what}");
    }
    assert!(good == p.cold(&p.s.path("cold.so"), &objects), "a cached link differs from a cold link");
}
