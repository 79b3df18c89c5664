//! GNU ld's symbol-list files: version scripts (`--version-script`) and dynamic lists
//! (`--dynamic-list`), parsed, and symbol names matched against them.
//!
//! A version script is a list of version nodes, each with `global:` and `local:` patterns
//! (glob wildcards; `extern "C++" { ... }` patterns match demangled names; quoted ones are
//! exact) and the nodes it inherits from. [`VersionScript::assign`] says which node a name
//! falls in by GNU ld's precedence (an exact name beats a wildcard, a wildcard beats `*`).
//! This module knows only names: what is exported, and with which version index, is
//! decided by `exports.rs`.

use crate::util::error::{Error, Result};

/// Which names a pattern is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// The symbol's own (mangled) name.
    C,
    /// The symbol's demangled C++ name (`ns::f(int)`).
    Cxx,
}

/// One pattern of a symbol list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    pub text: String,
    pub language: Language,
    /// Matched as the exact name: quoted, or without wildcard characters.
    pub literal: bool,
}

impl Pattern {
    fn new(text: String, language: Language, quoted: bool) -> Pattern {
        let literal = quoted || !text.contains(['*', '?', '[']);
        Pattern { text, language, literal }
    }

    /// Whether `name` (and, for a C++ pattern, its demangled form) matches.
    pub fn matches(&self, name: &str, demangled: Option<&str>) -> bool {
        let subject = match self.language {
            Language::C => name,
            Language::Cxx => match demangled {
                Some(demangled) => demangled,
                None => return false,
            },
        };
        if self.literal {
            self.text == subject
        } else {
            glob_matches(self.text.as_bytes(), subject.as_bytes())
        }
    }

    fn is_star(&self) -> bool {
        !self.literal && self.text == "*"
    }
}

/// A version node: `NAME { global: ...; local: ...; } PARENT...;` (`name` is `None` for
/// the anonymous node of a script that only says what is exported).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VersionNode {
    pub name: Option<String>,
    pub parents: Vec<String>,
    pub globals: Vec<Pattern>,
    pub locals: Vec<Pattern>,
}

/// A parsed version script (several `--version-script` files are one script).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VersionScript {
    pub nodes: Vec<VersionNode>,
}

/// Where a version script puts a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// Exported, in node `n` (an index into [`VersionScript::nodes`]).
    Global(usize),
    /// Made local: not exported, bound here.
    Local,
    /// No pattern matches it.
    Unmatched,
}

impl VersionScript {
    /// Parses one file's text and appends its nodes; `origin` names it in errors.
    pub fn add(&mut self, text: &str, origin: &str) -> Result<()> {
        let mut parser = Parser::new(text, origin);
        let nodes = parser.version_script()?;
        self.nodes.extend(nodes);
        self.check().map_err(|e| Error::new(format!("{origin}: {e}")))
    }

    /// One anonymous node at most, and never beside named ones; names unique; every
    /// parent a node defined before it (as GNU ld wants).
    fn check(&self) -> std::result::Result<(), String> {
        let anonymous = self.nodes.iter().filter(|node| node.name.is_none()).count();
        if anonymous > 0 && self.nodes.len() > 1 {
            return Err("an anonymous version node must be the only version node".into());
        }
        let mut names: Vec<&str> = self.nodes.iter().filter_map(|node| node.name.as_deref()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(format!("duplicate version node `{}`", pair[0]));
        }
        for (index, node) in self.nodes.iter().enumerate() {
            for parent in &node.parents {
                if !self.nodes[..index].iter().any(|earlier| earlier.name.as_deref() == Some(parent)) {
                    return Err(format!(
                        "version node `{}` depends on `{parent}`, which is not defined before it",
                        node.name.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether some pattern matches demangled names (the caller then demangles).
    pub fn has_cxx_patterns(&self) -> bool {
        self.nodes.iter().flat_map(|node| node.globals.iter().chain(&node.locals)).any(|p| p.language == Language::Cxx)
    }

    /// GNU ld's rule: nodes are read in order; an exact `global:` name ends the search
    /// there, as does an exact `local:` one (which also overrides global wildcards); among
    /// wildcards a global one wins over a local one, and `*` counts only when nothing else
    /// matched.
    pub fn assign(&self, name: &str, demangled: Option<&str>) -> Assignment {
        let (mut global, mut local, mut star_global, mut star_local) = (None, None, None, None);
        fn matching<'p>(
            patterns: &'p [Pattern],
            literal: bool,
            name: &'p str,
            demangled: Option<&'p str>,
        ) -> impl Iterator<Item = &'p Pattern> {
            patterns.iter().filter(move |p| p.literal == literal && p.matches(name, demangled))
        }
        for (index, node) in self.nodes.iter().enumerate() {
            if matching(&node.globals, true, name, demangled).next().is_some() {
                return Assignment::Global(index);
            }
            for pattern in matching(&node.globals, false, name, demangled) {
                if pattern.is_star() {
                    star_global = Some(index);
                } else {
                    global = Some(index);
                }
            }
            if matching(&node.locals, true, name, demangled).next().is_some() {
                return Assignment::Local;
            }
            for pattern in matching(&node.locals, false, name, demangled) {
                if pattern.is_star() {
                    star_local = Some(index);
                } else {
                    local = Some(index);
                }
            }
        }
        if global.is_none() && local.is_none() {
            global = star_global;
        }
        match (global, local.or(star_local)) {
            (Some(index), _) => Assignment::Global(index),
            (None, Some(_)) => Assignment::Local,
            (None, None) => Assignment::Unmatched,
        }
    }

    /// `ELF` version index of node `n`: 1 (global, unversioned) for an anonymous node,
    /// else its position among the named nodes plus 2 (index 1 is the base version).
    pub fn version_index(&self, node: usize) -> u16 {
        match self.nodes.get(node).and_then(|n| n.name.as_ref()) {
            Some(_) => node as u16 + 2,
            None => 1,
        }
    }

    /// Whether the script defines versions (`.gnu.version_d` is then written).
    pub fn defines_versions(&self) -> bool {
        self.nodes.iter().any(|node| node.name.is_some())
    }
}

/// Parses a dynamic list (`{ pattern; extern "C++" { ... }; };`): its patterns.
pub fn parse_dynamic_list(text: &str, origin: &str) -> Result<Vec<Pattern>> {
    let mut parser = Parser::new(text, origin);
    let mut patterns = Vec::new();
    while parser.peek().is_some() {
        parser.expect(Token::Open)?;
        let (globals, locals) = parser.node_body(false)?;
        debug_assert!(locals.is_empty());
        patterns.extend(globals);
        parser.expect(Token::Close)?;
        parser.expect(Token::Semicolon)?;
    }
    Ok(patterns)
}

/// GNU `fnmatch` without flags: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\x`.
pub fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative, with one backtracking point for the last `*` (linear in practice).
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let advanced = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match_class(pattern, p, name[n]),
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == name[n]).then_some(p + 2),
            Some(&c) => (c == name[n]).then_some(p + 1),
            None => None,
        };
        match (advanced, star) {
            (Some(next), _) => {
                p = next;
                n += 1;
            }
            (None, Some((star_p, star_n))) => {
                p = star_p + 1;
                n = star_n + 1;
                star = Some((star_p, star_n + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the bracket expression at `pattern[at]`; the position after it.
fn match_class(pattern: &[u8], at: usize, c: u8) -> Option<usize> {
    let mut i = at + 1;
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &low = pattern.get(i)?;
        if low == b']' && !first {
            break;
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&high| high != b']') {
            matched |= (low..=pattern[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= low == c;
            i += 1;
        }
    }
    (matched != negated).then_some(i + 1)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Semicolon,
    Word(String),
    Quoted(String),
}

struct Parser<'a> {
    tokens: Vec<(Token, usize)>,
    at: usize,
    origin: &'a str,
    error: Option<Error>,
}

impl<'a> Parser<'a> {
    fn new(text: &str, origin: &'a str) -> Parser<'a> {
        let (tokens, error) = match tokenize(text) {
            Ok(tokens) => (tokens, None),
            Err((line, what)) => (Vec::new(), Some(Error::new(format!("{origin}:{line}: {what}")))),
        };
        Parser { tokens, at: 0, origin, error }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(token, _)| token)
    }

    fn line(&self) -> usize {
        self.tokens.get(self.at).or(self.tokens.last()).map_or(1, |&(_, line)| line)
    }

    fn fail(&self, what: &str) -> Error {
        let found = match self.peek() {
            None => "the end of the file".to_string(),
            Some(Token::Open) => "`{`".into(),
            Some(Token::Close) => "`}`".into(),
            Some(Token::Semicolon) => "`;`".into(),
            Some(Token::Word(word)) => format!("`{word}`"),
            Some(Token::Quoted(text)) => format!("\"{text}\""),
        };
        Error::new(format!("{}:{}: syntax error: expected {what}, found {found}", self.origin, self.line()))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(token, _)| token.clone());
        self.at += 1;
        token
    }

    fn expect(&mut self, token: Token) -> Result<()> {
        if self.peek() == Some(&token) {
            self.at += 1;
            return Ok(());
        }
        let what = match token {
            Token::Open => "`{`",
            Token::Close => "`}`",
            _ => "`;`",
        };
        Err(self.fail(what))
    }

    fn version_script(&mut self) -> Result<Vec<VersionNode>> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let mut nodes = Vec::new();
        while let Some(token) = self.peek() {
            let name = match token {
                Token::Open => None,
                Token::Word(word) => {
                    let name = word.clone();
                    self.at += 1;
                    Some(name)
                }
                _ => return Err(self.fail("a version node")),
            };
            self.expect(Token::Open)?;
            let (globals, locals) = self.node_body(true)?;
            self.expect(Token::Close)?;
            let mut parents = Vec::new();
            while let Some(Token::Word(parent)) = self.peek() {
                parents.push(parent.clone());
                self.at += 1;
            }
            self.expect(Token::Semicolon)?;
            nodes.push(VersionNode { name, parents, globals, locals });
        }
        Ok(nodes)
    }

    /// The patterns up to the closing `}` (not consumed): (global, local).
    fn node_body(&mut self, scopes: bool) -> Result<(Vec<Pattern>, Vec<Pattern>)> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let (mut globals, mut locals) = (Vec::new(), Vec::new());
        let mut local = false;
        loop {
            match self.peek().cloned() {
                Some(Token::Close) => return Ok((globals, locals)),
                Some(Token::Word(word)) if scopes && self.scope_label(&word).is_some() => {
                    local = self.scope_label(&word) == Some(true);
                    self.at += 1;
                    if !word.ends_with(':') {
                        self.at += 1; // the separate `:`
                    }
                }
                Some(Token::Word(word)) if word == "extern" => {
                    self.at += 1;
                    let language = match self.next() {
                        Some(Token::Quoted(language)) if language == "C++" => Language::Cxx,
                        Some(Token::Quoted(language)) if language == "C" => Language::C,
                        Some(Token::Quoted(language)) => {
                            self.at -= 1;
                            return Err(Error::new(format!(
                                "{}:{}: unsupported language `extern \"{language}\"` (C and C++ are)",
                                self.origin,
                                self.line()
                            )));
                        }
                        _ => {
                            self.at -= 1;
                            return Err(self.fail("a quoted language name after `extern`"));
                        }
                    };
                    self.expect(Token::Open)?;
                    while let Some(token) = self.peek().cloned() {
                        let (text, quoted) = match token {
                            Token::Close => break,
                            Token::Word(word) => (word, false),
                            Token::Quoted(text) => (text, true),
                            _ => return Err(self.fail("a pattern")),
                        };
                        self.at += 1;
                        let pattern = Pattern::new(text, language, quoted);
                        if local { &mut locals } else { &mut globals }.push(pattern);
                        if self.peek() == Some(&Token::Semicolon) {
                            self.at += 1;
                        } else if self.peek() != Some(&Token::Close) {
                            return Err(self.fail("`;`"));
                        }
                    }
                    self.expect(Token::Close)?;
                    self.expect(Token::Semicolon)?;
                }
                Some(Token::Word(word)) => {
                    self.at += 1;
                    if local { &mut locals } else { &mut globals }.push(Pattern::new(word, Language::C, false));
                    self.expect(Token::Semicolon)?;
                }
                Some(Token::Quoted(text)) => {
                    self.at += 1;
                    if local { &mut locals } else { &mut globals }.push(Pattern::new(text, Language::C, true));
                    self.expect(Token::Semicolon)?;
                }
                _ => return Err(self.fail("a pattern or `}`")),
            }
        }
    }

    /// `global:`/`local:` (or the word followed by a separate `:`): whether it is local.
    fn scope_label(&self, word: &str) -> Option<bool> {
        let label = match word.strip_suffix(':') {
            Some(label) => label,
            None if matches!(self.tokens.get(self.at + 1), Some((Token::Word(colon), _)) if colon == ":") => word,
            None => return None,
        };
        match label {
            "global" => Some(false),
            "local" => Some(true),
            _ => None,
        }
    }
}

/// Words, quoted strings and `{ } ;`, with their lines; `#` and `/* */` comments dropped.
fn tokenize(text: &str) -> std::result::Result<Vec<(Token, usize)>, (usize, String)> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let (mut i, mut line) = (0, 1);
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    match bytes.get(i) {
                        None => return Err((start, "unterminated /* comment".into())),
                        Some(b'*') if bytes.get(i + 1) == Some(&b'/') => break,
                        Some(b'\n') => line += 1,
                        _ => {}
                    }
                    i += 1;
                }
                i += 2;
            }
            b'{' | b'}' | b';' => {
                tokens.push((
                    match c {
                        b'{' => Token::Open,
                        b'}' => Token::Close,
                        _ => Token::Semicolon,
                    },
                    line,
                ));
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let end = text[start..].find('"').ok_or((line, "unterminated quoted string".to_string()))? + start;
                let quoted = &text[start..end];
                tokens.push((Token::Quoted(quoted.to_string()), line));
                line += quoted.matches('\n').count();
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"{};\"#".contains(&bytes[i]) {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        break;
                    }
                    i += 1;
                }
                let word = &text[start..i];
                // `global:name` is the label and a name (but `global::x` is a C++ name).
                let label = ["global:", "local:"].into_iter().find(|label| {
                    word.len() > label.len() && word.starts_with(label) && !word[label.len()..].starts_with(':')
                });
                match label {
                    Some(label) => {
                        tokens.push((Token::Word(label.to_string()), line));
                        tokens.push((Token::Word(word[label.len()..].to_string()), line));
                    }
                    None => tokens.push((Token::Word(word.to_string()), line)),
                }
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> VersionScript {
        let mut script = VersionScript::default();
        script.add(text, "test.map").unwrap();
        script
    }

    #[test]
    fn globs() {
        for (pattern, name, matches) in [
            ("*", "anything", true),
            ("foo*", "foobar", true),
            ("foo*", "fo", false),
            ("*bar", "foobar", true),
            ("f?o", "fXo", true),
            ("f?o", "fo", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("[a-c]x", "bx", true),
            ("[!a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("[]]", "]", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("ns::*", "ns::f(int)", true),
        ] {
            assert_eq!(glob_matches(pattern.as_bytes(), name.as_bytes()), matches, "{pattern} vs {name}");
        }
    }

    #[test]
    fn parses_the_manuals_example() {
        let s = script(
            "VERS_1.1 {\n global:\n foo1;\n local:\n old*;\n original*;\n new*;\n};\n\
             VERS_1.2 {\n foo2;\n} VERS_1.1;\n\
             VERS_2.0 {\n bar1; bar2;\n extern \"C++\" {\n ns::*;\n \"f(int, double)\";\n };\n} VERS_1.2;\n",
        );
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.nodes[1].parents, vec!["VERS_1.1"]);
        assert_eq!(s.nodes[2].globals.len(), 4);
        assert!(s.nodes[2].globals[3].literal && s.nodes[2].globals[3].language == Language::Cxx);
        assert_eq!(s.assign("foo1", None), Assignment::Global(0));
        assert_eq!(s.assign("foo2", None), Assignment::Global(1));
        assert_eq!(s.assign("old_thing", None), Assignment::Local);
        assert_eq!(s.assign("unlisted", None), Assignment::Unmatched);
        assert_eq!(s.assign("_ZN2ns1gEv", Some("ns::g()")), Assignment::Global(2));
        assert_eq!(s.assign("_Z1fid", Some("f(int, double)")), Assignment::Global(2));
        assert_eq!(s.assign("_Z1fi", Some("f(int)")), Assignment::Unmatched);
        assert_eq!(s.version_index(2), 4);
    }

    #[test]
    fn precedence_follows_gnu_ld() {
        // An exact local name beats a global wildcard; a global wildcard beats a local one;
        // `*` only counts when nothing else matched.
        let s = script("A { global: foo*; local: foobar; }; B { global: *; local: foo_*; };");
        assert_eq!(s.assign("foobar", None), Assignment::Local);
        assert_eq!(s.assign("foo_x", None), Assignment::Global(0));
        assert_eq!(s.assign("other", None), Assignment::Global(1));
        let s = script("{ global: api_*; local: *; };");
        assert_eq!(s.assign("api_open", None), Assignment::Global(0));
        assert_eq!(s.assign("helper", None), Assignment::Local);
        assert_eq!(s.version_index(0), 1);
        // An exact global name in a later node beats an earlier wildcard.
        let s = script("V1 { global: f*; }; V2 { global: foo; };");
        assert_eq!(s.assign("foo", None), Assignment::Global(1));
        assert_eq!(s.assign("fun", None), Assignment::Global(0));
    }

    #[test]
    fn comments_and_compact_spelling() {
        let s = script("# comment\nV1{global:a;b;/* x */local:*;};V2 { c ; } V1 ;\n");
        assert_eq!(s.nodes[0].globals.len(), 2);
        assert_eq!(s.nodes[0].locals.len(), 1);
        assert_eq!(s.assign("c", None), Assignment::Global(1));
        let s = script("V1 { global : a; local : *; };");
        assert_eq!(s.assign("a", None), Assignment::Global(0));
        assert_eq!(s.assign("b", None), Assignment::Local);
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, expected) in [
            ("V1 { foo }", "test.map:1: syntax error: expected `;`"),
            ("V1 {\n foo;\n", "test.map:2: syntax error: expected a pattern or `}`, found the end"),
            ("V1 { foo; } V0;", "depends on `V0`"),
            ("V1 { a; }; V1 { b; };", "duplicate version node `V1`"),
            ("{ a; }; V1 { b; };", "anonymous"),
            ("V1 { extern \"Java\" { x; }; };", "unsupported language"),
            ("V1 { \"unterminated; };", "test.map:1: unterminated quoted string"),
            ("/* never closed", "unterminated /* comment"),
        ] {
            let mut s = VersionScript::default();
            let error = s.add(text, "test.map").unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn dynamic_lists() {
        let patterns = parse_dynamic_list("{ foo; bar*; extern \"C++\" { \"ns::f()\"; }; };", "list").unwrap();
        assert_eq!(patterns.len(), 3);
        assert!(patterns[0].literal && !patterns[1].literal && patterns[2].language == Language::Cxx);
        assert!(parse_dynamic_list("{ foo; ", "list").is_err());
    }
}
