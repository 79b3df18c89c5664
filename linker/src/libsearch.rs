//! Finding libraries and the C toolchain's files, and reading GNU ld linker-script stubs.
//!
//! This module answers "where is libfoo / crti.o?" the way GNU ld and the compiler driver
//! do, and parses the small `GROUP(...)`/`INPUT(...)` scripts that stand in for libraries
//! such as `libc.so`. It must not open or parse ELF/archive inputs, and it supports only
//! that stub subset of the linker-script language: `SECTIONS` and the like are errors.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bail;
use crate::error::{Context, Error, Result};

/// The C compiler driver's view of where its libraries and startup files live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toolchain {
    /// The driver's default library search directories, in order: only existing
    /// directories, canonicalised, without duplicates.
    pub library_dirs: Vec<PathBuf>,
}

impl Toolchain {
    /// Runs `<cc> -print-search-dirs` once and takes the directories of its
    /// `libraries: =a:b:c` line.
    pub fn discover(cc: &OsStr) -> Result<Toolchain> {
        let describe = || format!("running `{} -print-search-dirs`", cc.to_string_lossy());
        let output = Command::new(cc).arg("-print-search-dirs").output().context(describe)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(Error::new(format!("it failed ({}): {}", output.status, stderr.trim())).context(describe()));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        Toolchain::from_search_dirs_output(&stdout).context(describe)
    }

    /// Builds a toolchain from the text printed by `cc -print-search-dirs`.
    pub fn from_search_dirs_output(text: &str) -> Result<Toolchain> {
        let Some(list) = text.lines().find_map(|line| line.strip_prefix("libraries:")) else {
            bail!("its output has no `libraries:` line");
        };
        let list = list.trim_start();
        // A leading '=' means "relative to the sysroot"; the driver's sysroot is `/` here.
        let list = list.strip_prefix('=').unwrap_or(list);
        let mut library_dirs: Vec<PathBuf> = Vec::new();
        for entry in list.split(':').filter(|entry| !entry.is_empty()) {
            let path = Path::new(entry);
            if !path.is_dir() {
                continue;
            }
            let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            if !library_dirs.contains(&path) {
                library_dirs.push(path);
            }
        }
        Ok(Toolchain { library_dirs })
    }

    /// The first existing `dir/name` over the library directories, e.g. `crti.o`,
    /// `crtbeginS.o`, `libgcc.a`.
    pub fn find_file(&self, name: &str) -> Option<PathBuf> {
        find_in_dirs(&self.library_dirs, name)
    }
}

fn find_in_dirs(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    dirs.iter().map(|dir| dir.join(name)).find(|path| path.is_file())
}

/// The directories GNU ld searches after every `-L` (its default script's `SEARCH_DIR`s
/// on x86-64 Debian and its derivatives); the ld front end adds those that exist.
pub const GNU_LD_SEARCH_DIRS: &[&str] = &[
    "/usr/local/lib/x86_64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/lib64",
    "/lib64",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib",
    "/usr/lib",
];

/// GNU ld's `-l` search: in each directory in order, `libNAME.so` then `libNAME.a` (only
/// `libNAME.a` when `static_only`). `-l:file` (a name starting with ':') looks for exactly
/// `file`.
pub fn find_library(name: &str, dirs: &[PathBuf], static_only: bool) -> Option<PathBuf> {
    if let Some(file) = name.strip_prefix(':') {
        return find_in_dirs(dirs, file);
    }
    if name.is_empty() {
        return None;
    }
    let shared = format!("lib{name}.so");
    let archive = format!("lib{name}.a");
    dirs.iter().find_map(|dir| {
        let candidates: &[&str] = if static_only { &[&archive] } else { &[&shared, &archive] };
        candidates.iter().map(|file| dir.join(file)).find(|path| path.is_file())
    })
}

/// How many leading bytes [`looks_like_linker_script`] inspects.
const SCRIPT_SNIFF_LEN: usize = 1024;

/// True when `data` looks like a GNU ld linker script rather than an ELF file or archive:
/// non-empty text that does not start with an ELF or `ar` magic.
pub fn looks_like_linker_script(data: &[u8]) -> bool {
    const MAGICS: [&[u8]; 3] = [b"\x7fELF", b"!<arch>\n", b"!<thin>\n"];
    if data.is_empty() || MAGICS.iter().any(|magic| data.starts_with(magic)) {
        return false;
    }
    let head = data.get(..SCRIPT_SNIFF_LEN).unwrap_or(data);
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The sniffed prefix may end in the middle of a character.
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        && text.chars().any(|c| !c.is_whitespace())
}

/// One input named by a linker script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptInput {
    /// A file path (resolved against the script's directory when it exists there).
    Path(PathBuf),
    /// A library to search for, from `-lNAME` (holds `NAME`, possibly `:file`).
    Library(String),
}

/// An input named by a linker script, and whether it appeared inside `AS_NEEDED(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    pub input: ScriptInput,
    pub as_needed: bool,
}

/// Parses the subset of GNU ld scripts that library stubs use: `GROUP(...)` and
/// `INPUT(...)` with `AS_NEEDED(...)` nested inside them, plus `OUTPUT_FORMAT(...)`,
/// `OUTPUT_ARCH(...)` and `SEARCH_DIR(...)`, which are accepted and ignored. Comments are
/// `/* ... */`; whitespace, commas and semicolons separate. Relative paths are resolved
/// against the script's directory when the file exists there, and kept as given otherwise
/// (a leading `=`, meaning the sysroot, is dropped). Any other command is an error naming
/// the script and the command.
pub fn parse_linker_script(text: &str, script_path: &Path) -> Result<Vec<ScriptEntry>> {
    let script_name = script_path.display().to_string();
    let tokens = tokenize(text).context(|| format!("linker script {script_name}"))?;
    let script_dir = script_path.parent().unwrap_or(Path::new(""));
    let mut parser = Parser { tokens: &tokens, pos: 0, script_dir, entries: Vec::new() };
    parser.script().context(|| format!("linker script {script_name}"))?;
    Ok(parser.entries)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    Word(String),
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    line: usize,
}

/// Splits a script into words and parentheses, dropping comments and separators.
fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() || c == ',' || c == ';' => {}
            '(' => tokens.push(Token { kind: TokenKind::Open, line }),
            ')' => tokens.push(Token { kind: TokenKind::Close, line }),
            '/' if chars.peek().is_some_and(|&(_, next)| next == '*') => {
                let comment_line = line;
                chars.next();
                let mut previous = ' ';
                loop {
                    let Some((_, c)) = chars.next() else {
                        bail!("line {comment_line}: unterminated /* comment");
                    };
                    if c == '\n' {
                        line += 1;
                    }
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '"' => {
                let quote_line = line;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => bail!("line {quote_line}: unterminated quoted string"),
                        Some((_, '"')) => break,
                        Some((_, c)) => {
                            if c == '\n' {
                                line += 1;
                            }
                            word.push(c);
                        }
                    }
                }
                tokens.push(Token { kind: TokenKind::Word(word), line: quote_line });
            }
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(index, next)) = chars.peek() {
                    let ends_word = next.is_whitespace()
                        || matches!(next, '(' | ')' | ',' | ';' | '"')
                        || (next == '/' && text.get(index + 1..).is_some_and(|rest| rest.starts_with('*')));
                    if ends_word {
                        break;
                    }
                    end = index + next.len_utf8();
                    chars.next();
                }
                let word = text.get(start..end).unwrap_or_default().to_string();
                tokens.push(Token { kind: TokenKind::Word(word), line });
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    script_dir: &'a Path,
    entries: Vec<ScriptEntry>,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some(token)
    }

    /// The line of the last token, for messages about the end of the script.
    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |token| token.line)
    }

    fn expect_open(&mut self, command: &str) -> Result<()> {
        let last_line = self.last_line();
        match self.next() {
            Some(Token { kind: TokenKind::Open, .. }) => Ok(()),
            Some(token) => bail!("line {}: expected `(` after {command}", token.line),
            None => bail!("line {last_line}: expected `(` after {command}, found end of script"),
        }
    }

    fn script(&mut self) -> Result<()> {
        while let Some(token) = self.next() {
            let line = token.line;
            let TokenKind::Word(command) = &token.kind else {
                bail!("line {line}: unexpected parenthesis");
            };
            let command = command.clone();
            match command.as_str() {
                "GROUP" | "INPUT" => {
                    self.expect_open(&command)?;
                    self.input_list(&command)?;
                }
                "OUTPUT_FORMAT" | "OUTPUT_ARCH" | "SEARCH_DIR" => {
                    self.expect_open(&command)?;
                    self.skip_arguments(&command)?;
                }
                _ => bail!("line {line}: unsupported linker script command `{command}`"),
            }
        }
        Ok(())
    }

    /// Reads inputs up to the `)` that closes `command`, with `AS_NEEDED (...)` lists
    /// nested in it to any depth (kept on a stack of their own, not the call stack: a
    /// script is input, and its nesting must not overflow anything).
    fn input_list(&mut self, command: &str) -> Result<()> {
        // The commands whose lists are open, innermost last.
        let mut open: Vec<&str> = vec![command];
        while let Some(&innermost) = open.last() {
            let last_line = self.last_line();
            let Some(token) = self.next() else {
                bail!("line {last_line}: missing `)` to close {innermost}");
            };
            let line = token.line;
            let word = match &token.kind {
                TokenKind::Close => {
                    open.pop();
                    continue;
                }
                TokenKind::Open => bail!("line {line}: unexpected `(` in {innermost}"),
                TokenKind::Word(word) => word.clone(),
            };
            if word == "AS_NEEDED" && matches!(self.tokens.get(self.pos), Some(Token { kind: TokenKind::Open, .. })) {
                self.pos += 1;
                open.push("AS_NEEDED");
                continue;
            }
            let input = match word.strip_prefix("-l") {
                Some("") => bail!("line {line}: `-l` without a library name"),
                Some(library) => ScriptInput::Library(library.to_string()),
                None => ScriptInput::Path(self.resolve(&word)),
            };
            self.entries.push(ScriptEntry { input, as_needed: open.len() > 1 });
        }
        Ok(())
    }

    /// Skips the arguments of a command we accept but ignore.
    fn skip_arguments(&mut self, command: &str) -> Result<()> {
        loop {
            let last_line = self.last_line();
            match self.next() {
                None => bail!("line {last_line}: missing `)` to close {command}"),
                Some(Token { kind: TokenKind::Close, .. }) => return Ok(()),
                Some(Token { kind: TokenKind::Open, line }) => {
                    bail!("line {line}: unexpected `(` in {command}")
                }
                Some(Token { kind: TokenKind::Word(_), .. }) => {}
            }
        }
    }

    fn resolve(&self, name: &str) -> PathBuf {
        let name = name.strip_prefix('=').unwrap_or(name);
        let path = Path::new(name);
        if path.is_relative() {
            let in_script_dir = self.script_dir.join(path);
            if in_script_dir.exists() {
                return in_script_dir;
            }
        }
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBC_SO: &str = "/* GNU ld script
   Use the shared library, but some functions are only in
   the static library, so try that secondarily.  */
OUTPUT_FORMAT(elf64-x86-64)
GROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )
";

    const LIBM_SO: &str = "/* GNU ld script
*/
OUTPUT_FORMAT(elf64-x86-64)
GROUP ( /lib/x86_64-linux-gnu/libm.so.6  AS_NEEDED ( /lib/x86_64-linux-gnu/libmvec.so.1 ) )
";

    const LIBGCC_S_SO: &str = "/* GNU ld script
   Use the shared library, but some functions are only in
   the static library.  */
GROUP ( libgcc_s.so.1 -lgcc )
";

    fn path(path: &str, as_needed: bool) -> ScriptEntry {
        ScriptEntry { input: ScriptInput::Path(PathBuf::from(path)), as_needed }
    }

    fn library(name: &str, as_needed: bool) -> ScriptEntry {
        ScriptEntry { input: ScriptInput::Library(name.to_string()), as_needed }
    }

    #[test]
    fn parses_libc_and_libm_scripts() {
        let script = Path::new("/usr/lib/x86_64-linux-gnu/libc.so");
        assert_eq!(
            parse_linker_script(LIBC_SO, script).unwrap(),
            vec![
                path("/lib/x86_64-linux-gnu/libc.so.6", false),
                path("/usr/lib/x86_64-linux-gnu/libc_nonshared.a", false),
                path("/lib64/ld-linux-x86-64.so.2", true),
            ]
        );
        let script = Path::new("/usr/lib/x86_64-linux-gnu/libm.so");
        assert_eq!(
            parse_linker_script(LIBM_SO, script).unwrap(),
            vec![path("/lib/x86_64-linux-gnu/libm.so.6", false), path("/lib/x86_64-linux-gnu/libmvec.so.1", true),]
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_script_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libgcc_s.so.1"), b"").unwrap();
        let script = dir.path().join("libgcc_s.so");
        assert_eq!(
            parse_linker_script(LIBGCC_S_SO, &script).unwrap(),
            vec![
                ScriptEntry { input: ScriptInput::Path(dir.path().join("libgcc_s.so.1")), as_needed: false },
                library("gcc", false),
            ]
        );
        // Not present next to the script: kept as written.
        let elsewhere = Path::new("/nonexistent/dir/libgcc_s.so");
        assert_eq!(
            parse_linker_script(LIBGCC_S_SO, elsewhere).unwrap(),
            vec![path("libgcc_s.so.1", false), library("gcc", false)]
        );
    }

    #[test]
    fn compact_syntax_quotes_commas_and_input() {
        let text = "INPUT(a.o,\"b c.o\";-lfoo)GROUP(AS_NEEDED(-l:libx.so.1,/y.so)/z.a)\
                    SEARCH_DIR(/opt/lib) OUTPUT_ARCH(i386:x86-64) \
                    OUTPUT_FORMAT(\"elf64-x86-64\", \"elf64-x86-64\", \"elf64-x86-64\")";
        assert_eq!(
            parse_linker_script(text, Path::new("/nonexistent/script")).unwrap(),
            vec![
                path("a.o", false),
                path("b c.o", false),
                library("foo", false),
                library(":libx.so.1", true),
                path("/y.so", true),
                path("/z.a", false),
            ]
        );
        assert!(parse_linker_script("", Path::new("/x")).unwrap().is_empty());
        assert!(parse_linker_script("/* only a comment */", Path::new("/x")).unwrap().is_empty());
    }

    #[test]
    fn script_errors_name_the_script_and_command() {
        let script = Path::new("/some/dir/libweird.so");
        let error = parse_linker_script("SECTIONS { .text : { *(.text) } }", script).unwrap_err().to_string();
        assert!(error.contains("/some/dir/libweird.so"), "{error}");
        assert!(error.contains("SECTIONS"), "{error}");
        for bad in [
            "GROUP ( a.so",
            "GROUP a.so )",
            "GROUP ( ( a.so ) )",
            "/* unterminated",
            "INPUT ( \"unterminated )",
            ")",
            "INPUT ( -l )",
            "OUTPUT_FORMAT ( a ( b ) )",
            "ENTRY(_start)",
        ] {
            let result = parse_linker_script(bad, script);
            let error = result.expect_err(bad).to_string();
            assert!(error.contains("libweird.so"), "{error}");
        }
    }

    #[test]
    fn deeply_nested_as_needed_lists_parse_without_recursion() {
        let depth = 100_000;
        let text = format!("GROUP ( a.so {} b.so {} c.so )", "AS_NEEDED ( ".repeat(depth), ") ".repeat(depth));
        let entries = parse_linker_script(&text, Path::new("/nonexistent/libx.so")).unwrap();
        assert_eq!(entries.len(), 3);
        assert!(!entries[0].as_needed && entries[1].as_needed && !entries[2].as_needed, "{entries:?}");
        let unclosed = format!("GROUP ( {}", "AS_NEEDED ( ".repeat(depth));
        let error = parse_linker_script(&unclosed, Path::new("/nonexistent/libx.so")).unwrap_err().to_string();
        assert!(error.contains("missing `)` to close AS_NEEDED"), "{error}");
    }

    #[test]
    fn sniffs_linker_scripts() {
        assert!(looks_like_linker_script(LIBC_SO.as_bytes()));
        assert!(looks_like_linker_script(b"INPUT(-lfoo)\n"));
        assert!(!looks_like_linker_script(b"\x7fELF\x02\x01\x01"));
        assert!(!looks_like_linker_script(b"!<arch>\nfoo"));
        assert!(!looks_like_linker_script(b"!<thin>\nfoo"));
        assert!(!looks_like_linker_script(b""));
        assert!(!looks_like_linker_script(b" \n\t"));
        assert!(!looks_like_linker_script(b"GROUP\0\x01\x02"));
        assert!(!looks_like_linker_script(&[0xff, 0xfe, 0x00, 0x41]));
        // A multi-byte character cut by the sniff window is still text.
        let mut long = "a".repeat(SCRIPT_SNIFF_LEN - 1).into_bytes();
        long.extend("é GROUP(x)".as_bytes());
        assert!(looks_like_linker_script(&long));
    }

    #[test]
    fn real_libc_so_is_a_script() {
        let path = Path::new("/usr/lib/x86_64-linux-gnu/libc.so");
        let data = std::fs::read(path).unwrap();
        assert!(looks_like_linker_script(&data));
        let entries = parse_linker_script(std::str::from_utf8(&data).unwrap(), path).unwrap();
        assert!(entries.iter().any(
            |entry| !entry.as_needed && entry.input == ScriptInput::Path("/lib/x86_64-linux-gnu/libc.so.6".into())
        ));
        let libc6 = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        assert!(!looks_like_linker_script(&libc6));
    }

    #[test]
    fn parses_search_dirs_output() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let text = format!(
            "install: /x/\nprograms: =/p/\nlibraries: ={a}/:{b}/../b/:/nonexistent/:{a}:{b}/\n",
            a = a.display(),
            b = b.display()
        );
        let toolchain = Toolchain::from_search_dirs_output(&text).unwrap();
        let a = a.canonicalize().unwrap();
        let b = b.canonicalize().unwrap();
        assert_eq!(toolchain.library_dirs, vec![a.clone(), b.clone()]);
        assert!(Toolchain::from_search_dirs_output("install: /x/\n").is_err());

        std::fs::write(b.join("crti.o"), b"").unwrap();
        std::fs::write(a.join("libfoo.a"), b"").unwrap();
        std::fs::write(b.join("libfoo.so"), b"").unwrap();
        std::fs::write(b.join("libbar.so.1"), b"").unwrap();
        assert_eq!(toolchain.find_file("crti.o"), Some(b.join("crti.o")));
        assert_eq!(toolchain.find_file("crtn.o"), None);
        assert_eq!(toolchain.find_file(""), None);
        let dirs = &toolchain.library_dirs;
        // Directory order wins over the .so-before-.a preference.
        assert_eq!(find_library("foo", dirs, false), Some(a.join("libfoo.a")));
        assert_eq!(find_library("foo", &[b.clone(), a.clone()], false), Some(b.join("libfoo.so")));
        assert_eq!(find_library("foo", &[b.clone(), a.clone()], true), Some(a.join("libfoo.a")));
        assert_eq!(find_library(":libbar.so.1", dirs, false), Some(b.join("libbar.so.1")));
        assert_eq!(find_library("bar", dirs, false), None);
        assert_eq!(find_library("", dirs, false), None);
        assert_eq!(find_library(":", dirs, false), None);
    }

    #[test]
    fn discovers_this_machines_toolchain() {
        let toolchain = Toolchain::discover(OsStr::new("cc")).unwrap();
        assert!(!toolchain.library_dirs.is_empty());
        for file in ["crti.o", "crtbeginS.o", "crtendS.o", "crtn.o", "libgcc.a"] {
            let found = toolchain.find_file(file).unwrap_or_else(|| panic!("{file} not found"));
            assert!(found.is_file());
        }
        let libstdcxx = find_library("stdc++", &toolchain.library_dirs, false).unwrap();
        assert_eq!(libstdcxx.file_name().unwrap(), "libstdc++.so");
        let libc = find_library("c", &toolchain.library_dirs, false).unwrap();
        assert!(looks_like_linker_script(&std::fs::read(libc).unwrap()));
        let libgcc = find_library("gcc", &toolchain.library_dirs, true).unwrap();
        assert_eq!(libgcc.file_name().unwrap(), "libgcc.a");

        let missing = Toolchain::discover(OsStr::new("/nonexistent/cc"));
        assert!(missing.unwrap_err().to_string().contains("/nonexistent/cc"));
    }
}
