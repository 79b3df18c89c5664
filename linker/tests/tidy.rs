//! Keeps the library's shape: layers that import only downwards, the incremental
//! machinery out of the core phases, architecture specifics under `arch/`, every module
//! saying what it is for, and no function or file too long to read.
//!
//! It reads `linker/src` as text (no parsing beyond what rustfmt's layout makes reliable),
//! so a failure names the file and line to look at.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules in pipeline order: a module may use only those of a lower layer
/// (and itself). `lib.rs`, the driver, may use any.
const LAYERS: &[(&str, u32)] = &[
    ("util", 0),
    ("arch", 0),
    ("config", 1),
    ("input", 2),
    ("chain", 3),
    ("resolve", 4),
    ("tables", 5),
    ("sections", 6),
    ("scan", 7),
    ("layout", 8),
    ("write", 9),
    ("report", 10),
    ("incremental", 11),
];

const MAX_FUNCTION_LINES: usize = 150;
const MAX_FILE_LINES: usize = 1000;

/// Names only the architecture's own modules may spell.
const ARCH_NAMES: &[&str] = &["R_X86_64_", "EM_X86_64", "X86_64"];

fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read linker/src") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap().display().to_string()
}

/// The top-level module a file belongs to (`None` for `lib.rs`).
fn top_module(path: &Path) -> Option<String> {
    let relative = relative(path);
    let first = relative.split('/').next().unwrap().trim_end_matches(".rs").to_string();
    (first != "lib").then_some(first)
}

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == module).map(|&(_, layer)| layer)
}

/// The code of a line: no `//` comment (a `//` inside a string is rare enough to ignore).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// Whether `line` is inside a `#[cfg(test)]` module: tests may use anything.
fn test_module_start(lines: &[&str]) -> usize {
    lines.iter().position(|line| line.trim() == "#[cfg(test)]").unwrap_or(lines.len())
}

#[test]
fn layers_import_only_downwards() {
    let mut problems = Vec::new();
    for path in source_files() {
        let Some(module) = top_module(&path) else { continue };
        let own = layer(&module).unwrap_or_else(|| panic!("{}: a top-level module no layer lists", relative(&path)));
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let end = test_module_start(&lines);
        for (number, line) in lines[..end].iter().enumerate() {
            let code = code(line);
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let used: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let Some(other) = layer(&used) else { continue };
                if used != module && other >= own {
                    problems.push(format!(
                        "{}:{}: {module} (layer {own}) uses {used} (layer {other})",
                        relative(&path),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "imports against the layering:\n{}", problems.join("\n"));
}

#[test]
fn architecture_names_stay_under_arch() {
    let mut problems = Vec::new();
    for path in source_files() {
        let relative = relative(&path);
        if relative.starts_with("arch/") || relative == "lib.rs" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if let Some(name) = ARCH_NAMES.iter().find(|name| code(line).contains(*name)) {
                problems.push(format!("{relative}:{}: `{name}`", number + 1));
            }
        }
    }
    assert!(problems.is_empty(), "architecture names outside arch/:\n{}", problems.join("\n"));
}

#[test]
fn every_module_says_what_it_does() {
    let missing: Vec<String> = source_files()
        .into_iter()
        .filter(|path| !fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| relative(&path))
        .collect();
    assert!(missing.is_empty(), "modules without a `//!` comment at the top:\n{}", missing.join("\n"));
}

#[test]
fn functions_and_files_fit_on_a_few_screens() {
    let mut problems = Vec::new();
    for path in source_files() {
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE_LINES {
            problems.push(format!("{}: {} lines (at most {MAX_FILE_LINES})", relative(&path), lines.len()));
        }
        for (name, start, length) in functions(&lines) {
            if length > MAX_FUNCTION_LINES {
                problems.push(format!(
                    "{}:{}: fn {name} is {length} lines (at most {MAX_FUNCTION_LINES})",
                    relative(&path),
                    start + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "too long:\n{}", problems.join("\n"));
}

/// Each function's name, first line and length: rustfmt puts a function's closing brace
/// alone on a line, at the indentation of its `fn`.
fn functions(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = ["pub fn ", "fn ", "pub(crate) fn ", "pub(super) fn ", "unsafe fn ", "pub unsafe fn "]
            .iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix));
        let Some(signature) = signature else { continue };
        let name: String = signature.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let closing = " ".repeat(indent) + "}";
        // A declaration without a body (in a trait) ends with `;` before any `{`.
        let body = lines[start..].iter().position(|l| l.contains('{') || l.trim_end().ends_with(';'));
        if body.is_none_or(|at| !lines[start + at].contains('{')) {
            continue;
        }
        if let Some(end) = lines[start + 1..].iter().position(|l| *l == closing) {
            found.push((name, start, end + 2));
        } else if line.trim_end().ends_with('}') {
            found.push((name, start, 1));
        }
    }
    found
}

#[test]
fn the_function_finder_measures_rustfmt_layout() {
    let text = "fn a() {\n    one();\n}\n\n    pub fn b(\n        x: u8,\n    ) -> u8 {\n        x\n    }\nfn c();\n";
    let lines: Vec<&str> = text.lines().collect();
    let found: BTreeMap<String, (usize, usize)> =
        functions(&lines).into_iter().map(|(name, start, length)| (name, (start, length))).collect();
    assert_eq!(found.get("a"), Some(&(0, 3)));
    assert_eq!(found.get("b"), Some(&(4, 5)));
    assert!(!found.contains_key("c"));
}
