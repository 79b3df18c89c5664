//! The one error type of the linker: a message plus the context it was raised in.
//!
//! Errors are rendered on one line, outermost context first
//! ("while reading text-old.o: section .text: relocation at 0x1234 against `foo`: …").
//! Nothing in the linker may panic on bad input; every failure becomes an `Error`.

use std::fmt;

/// A link failure. `usage` marks errors caused by how chainlink was invoked (exit code 2)
/// rather than by what it was given to link (exit code 1).
#[derive(Debug)]
pub struct Error {
    message: String,
    context: Vec<String>,
    usage: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error { message: message.into(), context: Vec::new(), usage: false }
    }

    /// An error in the command line or options rather than in the inputs.
    pub fn usage(message: impl Into<String>) -> Error {
        Error { usage: true, ..Error::new(message) }
    }

    pub fn is_usage(&self) -> bool {
        self.usage
    }

    /// Adds an outer layer of context ("while reading foo.o").
    pub fn context(mut self, context: impl Into<String>) -> Error {
        self.context.push(context.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for context in self.context.iter().rev() {
            write!(f, "{context}: ")?;
        }
        f.write_str(&self.message)
    }
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
