//! What makes a relink cheaper than a link, plugged into the core phases through their
//! hooks: the output cache and its keys, prepared bases (what one link learned about a
//! base), replaying recorded scans, and reusing the base region's bytes.
//!
//! Must not change what a link produces: every cached or replayed result is checked, and
//! a warm link gives the bytes of a cold one. Core modules never import this folder.

pub mod base_record;
pub mod cache;
pub mod cache_files;
pub mod digests;
pub mod prepared;
pub mod session;
