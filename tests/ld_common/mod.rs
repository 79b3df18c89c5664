//! Helpers for the ld-mode tests: chainlink installed as `ld`, `ld.lld` and `ld.chainlink`
//! in a directory the compiler drivers are pointed at (`gcc -B DIR`), links of the same
//! inputs through `gcc` with GNU ld (the reference) and with chainlink, and readers of
//! what the comparisons look at (exported symbols with versions, dynamic tags, build id).

#![allow(dead_code)]

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A directory holding chainlink under the names drivers look for (`ld`, `ld.lld`,
/// `ld.chainlink`), made once per test process.
pub fn ld_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ld-bin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the ld directory");
        for name in ["ld", "ld.lld", "ld.chainlink"] {
            std::os::unix::fs::symlink(CHAINLINK, dir.join(name)).expect("link chainlink into the ld directory");
        }
        dir
    })
}

/// `gcc -shared -o OUT ARGS` run in the scratch directory: with GNU ld, or with chainlink
/// (`-B` the ld directory).
pub fn gcc_shared(s: &Scratch, out: &str, args: &[&str], with_chainlink: bool) -> Output {
    let mut command = Command::new("gcc");
    command.current_dir(s.dir()).env("CHAINLINK_NO_CACHE", "1");
    if with_chainlink {
        command.arg("-B").arg(ld_dir());
    }
    command.arg("-shared").arg("-o").arg(out).args(args);
    run(&mut command)
}

/// Both links of `args`, which must succeed: (GNU ld's output, chainlink's output).
pub fn link_both(s: &Scratch, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let mut paths = Vec::new();
    for (with_chainlink, suffix) in [(false, "gnu"), (true, "chainlink")] {
        let out = format!("{name}-{suffix}.so");
        let output = gcc_shared(s, &out, args, with_chainlink);
        assert!(output.status.success(), "{suffix} link of {args:?} failed:\n{}", describe(&output));
        paths.push(s.path(&out));
    }
    let chainlink = paths.pop().unwrap();
    (paths.pop().unwrap(), chainlink)
}

/// Compiles a C (or, with a `.cpp` name, C++) source written into the scratch directory
/// with `-fPIC -c` and `flags`; the object's name.
pub fn compile_source(s: &Scratch, name: &str, source: &str, flags: &[&str]) -> String {
    s.write(name, source.as_bytes());
    let compiler = if name.ends_with(".cpp") { "g++" } else { "gcc" };
    let object = format!("{}.o", name.rsplit_once('.').map_or(name, |(stem, _)| stem));
    run_ok(Command::new(compiler).current_dir(s.dir()).args(["-fPIC", "-c", name, "-o", &object]).args(flags));
    object
}

/// The defined `.dynsym` symbols with their versions (`name@@V`, `name@V` or `name`),
/// sorted. The absolute symbols GNU ld adds for each version it defines are left out
/// (lld does not write them either; nothing looks them up).
pub fn exports(file: &Path) -> Vec<String> {
    let mut names: Vec<String> = readelf(&["--dyn-syms"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (ndx, name) = (*fields.get(6)?, *fields.get(7)?);
            let defined = fields.get(1).is_some_and(|v| u64::from_str_radix(v, 16).is_ok()) && ndx != "UND";
            let version_name = ndx == "ABS" && fields[1].trim_start_matches('0').is_empty() && !name.contains('@');
            (defined && !version_name && fields[0].ends_with(':')).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names
}

/// The `.dynsym` symbols a library imports (undefined), sorted, without versions.
pub fn imports(file: &Path) -> Vec<String> {
    let mut names: Vec<String> = readelf(&["--dyn-syms"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(6) == Some(&"UND") && fields.len() > 7)
                .then(|| fields[7].split('@').next().unwrap_or_default().to_string())
        })
        .collect();
    names.sort();
    names
}

/// The types of the `.dynamic` entries (`NEEDED`, `RUNPATH`, `FLAGS_1`, ...) with the
/// values that do not depend on the layout (flags, names), sorted.
pub fn dynamic_tags(file: &Path) -> Vec<String> {
    let mut tags: Vec<String> = readelf(&["-d"], file)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let open = line.find('(')?;
            let close = line[open..].find(')')? + open;
            let tag = &line[open + 1..close];
            let value = line[close + 1..].trim();
            let keep_value = matches!(tag, "NEEDED" | "SONAME" | "RUNPATH" | "RPATH" | "FLAGS" | "FLAGS_1");
            Some(if keep_value { format!("{tag} {value}") } else { tag.to_string() })
        })
        .filter(|tag| !tag.starts_with("NULL"))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// The build id in hexadecimal, if the output has one.
pub fn build_id(file: &Path) -> Option<String> {
    let notes = readelf(&["-n"], file);
    let (_, after) = notes.split_once("Build ID: ")?;
    after.split_whitespace().next().map(str::to_string)
}

/// The names of the output's sections, in order.
pub fn section_names(file: &Path) -> Vec<String> {
    readelf(&["-S"], file)
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line.strip_prefix('[')?;
            let (_, rest) = rest.split_once(']')?;
            rest.split_whitespace().next().map(str::to_string)
        })
        .filter(|name| name != "NULL")
        .collect()
}

/// Program header rows as `TYPE FLAGS ALIGN` (`LOAD R E 0x1000`).
pub fn segments(file: &Path) -> Vec<String> {
    readelf(&["-l"], file)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let kind = *fields.first()?;
            if !kind.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                || fields.len() < 8
                || !fields[1].starts_with("0x")
            {
                return None;
            }
            Some(format!("{kind} {} {}", fields[6..fields.len() - 1].join(""), fields[fields.len() - 1]))
        })
        .collect()
}

/// Runs `chainlink ld ARGS` in the scratch directory.
pub fn chainlink_ld(s: &Scratch, args: &[&str]) -> Output {
    run(chainlink().current_dir(s.dir()).arg("ld").args(args))
}
