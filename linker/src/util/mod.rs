//! Layer 0: what every phase uses and that knows nothing of linking: the error type,
//! hashing, timing, background threads, files (mapping inputs, temporary outputs).
//!
//! Must not import anything else of the crate.

pub mod background;
pub mod error;
pub mod files;
pub mod hash;
pub mod mapping;
pub mod timing;
