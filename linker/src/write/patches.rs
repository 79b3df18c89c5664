//! What the writer records about a base-region chunk's relocations, and what it is given
//! to patch over a stored copy of the region: which relocations must be applied again in
//! another link with the same base, and which definitions the others were resolved to.
//!
//! Only the data and the rule that classifies one relocation live here; storing and
//! reading them (`incremental::prepared`) must not, and nothing here reads a file.

use crate::resolve::{Definition, FileId, SymbolDb};

/// What a relocation's value depends on, when a base-region chunk is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depends {
    /// Nothing: no field is written.
    Nothing,
    /// Base-region addresses, and what its symbol binds to.
    Region,
    /// A PLT entry among the base's own, which `Layout::region_signature` pins.
    BasePlt,
    /// A GOT entry of the base GOT (`.got.base`, in the region), which
    /// `Layout::region_signature` pins too.
    BaseGot,
    /// Where the rest of this link put things, or a dynamic relocation: applied again.
    Link,
}

/// What a base-region chunk needs in a link that starts from the region's stored bytes:
/// the relocations whose value can change between links (indices from the chunk's first
/// relocation), and the definition every other global it relocates against bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkPatches {
    pub relocations: Vec<u32>,
    pub bindings: Vec<Binding>,
}

/// A global named by symbol `symbol` of a chunk's object bound to symbol `index` of `file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Binding {
    pub symbol: u32,
    pub file: FileId,
    pub index: u32,
}

impl ChunkPatches {
    /// Notes relocation `index` of the chunk, against symbol `symbol` of its object (bound
    /// to `definition` when global), whose value depends on `depends`.
    #[inline]
    pub fn note(&mut self, db: &SymbolDb, index: u32, symbol: u32, depends: Depends, definition: Option<Definition>) {
        match (depends, definition) {
            (Depends::Nothing | Depends::BasePlt | Depends::BaseGot, _) => {}
            (Depends::Link, _) => self.relocations.push(index),
            // A local symbol of a base object: placed by the base alone.
            (Depends::Region, None) => {}
            // A base object's definition: its value comes from the base alone.
            (Depends::Region, Some(Definition::Object { file, index: at })) if db.is_base(file) => {
                self.bindings.push(Binding { symbol, file, index: at })
            }
            // Defined by a newer generation (an absolute value, say, that happens to fall
            // in the region) or by the linker: applied again every link.
            (Depends::Region, Some(_)) => self.relocations.push(index),
        }
    }

    /// Puts the bindings in their stored order, once every relocation is noted.
    pub fn finish(&mut self) {
        self.bindings.sort_unstable();
        self.bindings.dedup();
    }
}

/// A chunk's recorded patch list, read in place: relocation indices from its first one,
/// each a little-endian `u32`.
#[derive(Clone, Copy)]
pub struct Patches<'a>(&'a [u8]);

impl<'a> Patches<'a> {
    /// Bytes per index.
    pub const RECORD: usize = 4;

    /// The list held by `records` (`RECORD` bytes per index).
    pub fn new(records: &'a [u8]) -> Patches<'a> {
        Patches(records)
    }

    pub fn len(&self) -> usize {
        self.0.len() / Self::RECORD
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + 'a {
        self.0
            .chunks_exact(Self::RECORD)
            .map(|index| u32::from_le_bytes(index.try_into().expect("four bytes")) as usize)
    }
}
