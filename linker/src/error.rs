//! The one error type of the linker: a message plus the context it was raised in.
//!
//! Errors are rendered on one line, outermost context first
//! ("while reading text-old.o: section .text: relocation at 0x1234 against `foo`: …"); an
//! error made of several (every undefined symbol of a link) is one line each.
//! Nothing in the linker may panic on bad input; every failure becomes an `Error`.

use std::fmt;

/// A link failure. `usage` marks errors caused by how chainlink was invoked (exit code 2)
/// rather than by what it was given to link (exit code 1).
#[derive(Debug)]
pub struct Error {
    message: String,
    /// Further errors of the same kind, reported with this one (a line each).
    more: Vec<String>,
    context: Vec<String>,
    usage: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error { message: message.into(), more: Vec::new(), context: Vec::new(), usage: false }
    }

    /// Several errors reported together, one line each (`messages` must not be empty).
    pub fn several(mut messages: Vec<String>) -> Error {
        let first = if messages.is_empty() { String::new() } else { messages.remove(0) };
        Error { more: messages, ..Error::new(first) }
    }

    /// An error in the command line or options rather than in the inputs.
    pub fn usage(message: impl Into<String>) -> Error {
        Error { usage: true, ..Error::new(message) }
    }

    pub fn is_usage(&self) -> bool {
        self.usage
    }

    /// How many errors this reports: one line each when displayed.
    pub fn count(&self) -> usize {
        1 + self.more.len()
    }

    /// Adds an outer layer of context ("while reading foo.o").
    pub fn context(mut self, context: impl Into<String>) -> Error {
        self.context.push(context.into());
        self
    }
}

/// The longest message shown whole; a longer one (quoting a name of a megabyte, from a
/// damaged string table) keeps its start and end.
const MESSAGE_MAX: usize = 2000;

impl Error {
    /// One message as one line: the context outermost first, control characters escaped,
    /// at most [`MESSAGE_MAX`] bytes.
    fn render_line(&self, message: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        for context in self.context.iter().rev() {
            text.push_str(&one_line(context));
            text.push_str(": ");
        }
        text.push_str(&one_line(message));
        if text.len() <= MESSAGE_MAX {
            return f.write_str(&text);
        }
        let head = text.floor_char_boundary(MESSAGE_MAX * 3 / 4);
        let tail = text.ceil_char_boundary(text.len() - MESSAGE_MAX / 4);
        write!(f, "{} … ({} bytes left out) … {}", &text[..head], tail - head, &text[tail..])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render_line(&self.message, f)?;
        for message in &self.more {
            f.write_str("\n")?;
            self.render_line(message, f)?;
        }
        Ok(())
    }
}

/// `text` with its control characters (line breaks among them) escaped (`\n`, `\u{1b}`):
/// what the linker says is one line, whatever bytes the names it quotes hold (an archive
/// member named `a\nb.o`, a path with a carriage return).
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut line = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    std::borrow::Cow::Owned(line)
}

impl std::error::Error for Error {}

impl From<object::read::Error> for Error {
    fn from(error: object::read::Error) -> Error {
        Error::new(format!("malformed ELF: {error}"))
    }
}

/// Attaches context to any fallible result, lazily.
pub trait Context<T> {
    fn context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|error| error.into().context(context()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::new(context()))
    }
}

/// Writes a line to standard error, as `eprintln!` does, but never panics: a closed or
/// full standard error (a pipe whose reader has gone) must not end a link.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Shorthand for returning an error built with `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::new(format!($($arg)*))) };
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        Error::new(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_whatever_the_names_hold() {
        let error = Error::new("member `a\nb.o\r`: bad").context("lib\x1b[31m.a");
        let text = error.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert_eq!(text, "lib\\u{1b}[31m.a: member `a\\nb.o\\r`: bad");
        let long = Error::new(format!("symbol `{}`: bad", "é".repeat(100_000))).to_string();
        assert!(long.len() < 2100 && long.starts_with("symbol `é") && long.ends_with("é`: bad"), "{}", long.len());
    }
}
