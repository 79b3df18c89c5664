//! `.gnu.version_d`: the versions the output defines (from a version script's named
//! nodes), after the base version that names the library itself.
//!
//! Planned during the layout (names go into `.dynstr`), written by the writer. Must not
//! decide which symbol has which version (`exports.rs` does).

use crate::layout::gnu_hash::sysv_hash;
use crate::layout::StringTable;
use crate::resolve::exports::VersionDefinition;

/// `Elf64_Verdef` and `Elf64_Verdaux` sizes.
const VERDEF_SIZE: usize = 20;
const VERDAUX_SIZE: usize = 8;

/// One `Elf64_Verdef` with its names (`.dynstr` offsets): its own, then its parents'.
struct Entry {
    flags: u16,
    hash: u32,
    names: Vec<u32>,
}

/// The planned section: empty when the output defines no versions.
#[derive(Default)]
pub struct VerdefPlan {
    entries: Vec<Entry>,
}

impl VerdefPlan {
    /// The base version is named `base_name` (the soname, else the output's file name);
    /// the definitions follow with indices 2, 3, …
    pub fn new(definitions: &[VersionDefinition], base_name: &str, dynstr: &mut StringTable) -> VerdefPlan {
        if definitions.is_empty() {
            return VerdefPlan::default();
        }
        let mut entry = |flags: u16, name: &str, parents: &[String]| {
            let mut names = vec![dynstr.add(name.as_bytes())];
            names.extend(parents.iter().map(|parent| dynstr.add(parent.as_bytes())));
            Entry { flags, hash: sysv_hash(name.as_bytes()), names }
        };
        let mut entries = vec![entry(object::elf::VER_FLG_BASE.0, base_name, &[])];
        entries.extend(definitions.iter().map(|d| entry(0, &d.name, &d.parents)));
        VerdefPlan { entries }
    }

    /// `DT_VERDEFNUM` and the section header's `sh_info`.
    pub fn count(&self) -> usize {
        self.entries.len()
    }

    pub fn size(&self) -> u64 {
        self.entries.iter().map(|e| VERDEF_SIZE + VERDAUX_SIZE * e.names.len()).sum::<usize>() as u64
    }

    /// Writes the section (`out` is exactly [`VerdefPlan::size`] bytes): each definition
    /// followed by its names.
    pub fn write(&self, out: &mut [u8]) {
        let mut at = 0;
        for (index, entry) in self.entries.iter().enumerate() {
            let size = VERDEF_SIZE + VERDAUX_SIZE * entry.names.len();
            let next = if index + 1 < self.entries.len() { size as u32 } else { 0 };
            out[at..at + 2].copy_from_slice(&1u16.to_le_bytes());
            out[at + 2..at + 4].copy_from_slice(&entry.flags.to_le_bytes());
            out[at + 4..at + 6].copy_from_slice(&(index as u16 + 1).to_le_bytes());
            out[at + 6..at + 8].copy_from_slice(&(entry.names.len() as u16).to_le_bytes());
            out[at + 8..at + 12].copy_from_slice(&entry.hash.to_le_bytes());
            out[at + 12..at + 16].copy_from_slice(&(VERDEF_SIZE as u32).to_le_bytes());
            out[at + 16..at + 20].copy_from_slice(&next.to_le_bytes());
            for (k, &name) in entry.names.iter().enumerate() {
                let aux = at + VERDEF_SIZE + VERDAUX_SIZE * k;
                let next_aux = if k + 1 < entry.names.len() { VERDAUX_SIZE as u32 } else { 0 };
                out[aux..aux + 4].copy_from_slice(&name.to_le_bytes());
                out[aux + 4..aux + 8].copy_from_slice(&next_aux.to_le_bytes());
            }
            at += size;
        }
    }
}
