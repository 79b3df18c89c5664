//! chainlink's linking library: everything the `chainlink` command does, testable without it.
//!
//! The link is a pipeline of phases, each borrowing immutably from the one before:
//! inputs → symbols → layout → write. Architecture specifics live behind `arch::Arch`.

pub mod error;
pub mod libsearch;
pub mod shared_lib;
pub mod eh_frame;
pub mod gnu_hash;

pub use error::{Context, Error, Result};
