//! `@FILE` response files, as GNU's tools read them (libiberty's `expandargv`).
//!
//! An argument `@FILE` is replaced by the arguments in FILE: separated by white space, with
//! `'…'` and `"…"` quoting and `\` escaping the next character; FILE may name further
//! response files. An `@FILE` that cannot be read stays as it is (GNU's rule: it is then
//! an input file name, and that fails with its own message). Must not interpret options.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// How deeply response files may name each other (a loop is an error, not a hang).
const MAX_DEPTH: usize = 64;

/// Replaces every readable `@FILE` argument by its contents, recursively.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::with_capacity(args.len());
    expand_into(args, &mut out, 0)?;
    Ok(out)
}

fn expand_into(args: Vec<OsString>, out: &mut Vec<OsString>, depth: usize) -> Result<(), String> {
    for arg in args {
        let Some(file) = arg.as_bytes().strip_prefix(b"@") else {
            out.push(arg);
            continue;
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(file));
        let Ok(text) = std::fs::read(path) else {
            out.push(arg);
            continue;
        };
        if depth >= MAX_DEPTH {
            return Err(format!("response file {} nests too deeply (a loop?)", path.display()));
        }
        expand_into(split(&text), out, depth + 1)?;
    }
    Ok(())
}

/// Splits a response file's text into arguments.
pub fn split(text: &[u8]) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut quote: Option<u8> = None;
    let mut bytes = text.iter().copied();
    while let Some(c) = bytes.next() {
        match (c, quote) {
            (b'\\', _) => {
                // A backslash escapes any character, inside quotes too.
                let word = current.get_or_insert_with(Vec::new);
                if let Some(next) = bytes.next() {
                    word.push(next);
                }
            }
            (c, Some(q)) if c == q => quote = None,
            (c, Some(_)) => current.get_or_insert_with(Vec::new).push(c),
            (b'\'' | b'"', None) => {
                quote = Some(c);
                current.get_or_insert_with(Vec::new);
            }
            (c, None) if c.is_ascii_whitespace() => {
                if let Some(word) = current.take() {
                    args.push(OsString::from_vec(word));
                }
            }
            (c, None) => current.get_or_insert_with(Vec::new).push(c),
        }
    }
    if let Some(word) = current {
        args.push(OsString::from_vec(word));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn quoting() {
        let text = br#"-o out.so  'a b.o' "c\"d.o" e\ f.o ''  -L"/x y"/z
            -soname=libq.so"#;
        assert_eq!(
            strings(split(text)),
            vec!["-o", "out.so", "a b.o", "c\"d.o", "e f.o", "", "-L/x y/z", "-soname=libq.so"]
        );
        assert!(split(b"  \n\t ").is_empty());
    }

    #[test]
    fn nested_files_and_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner.rsp");
        std::fs::write(&inner, "b.o 'c d.o'").unwrap();
        let outer = dir.path().join("outer.rsp");
        std::fs::write(&outer, format!("a.o @{} e.o", inner.display())).unwrap();
        let args = vec![OsString::from("-shared"), OsString::from(format!("@{}", outer.display()))];
        assert_eq!(strings(expand(args).unwrap()), vec!["-shared", "a.o", "b.o", "c d.o", "e.o"]);
        let missing = vec![OsString::from("@/nonexistent/file.rsp")];
        assert_eq!(strings(expand(missing).unwrap()), vec!["@/nonexistent/file.rsp"]);
        let looping = dir.path().join("loop.rsp");
        std::fs::write(&looping, format!("@{}", looping.display())).unwrap();
        let error = expand(vec![OsString::from(format!("@{}", looping.display()))]).unwrap_err();
        assert!(error.contains("nests too deeply"), "{error}");
    }
}
