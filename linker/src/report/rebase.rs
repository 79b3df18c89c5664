//! What a new base invalidates: `chainlink explain --base NEWBASE FILE`, and the report of
//! a relink whose output path held an output built on another base. Both compare the
//! dependency records of the units above the new base (`deps`) with what the same names
//! bind to on it.
//!
//! Must not change the link: it reads the previous output (before the new one replaces
//! it) and the link's resolved symbols.

use crate::chain::{find_record, manifest_in, Manifest};
use crate::config::Config;
use crate::resolve::deps::{self, Affected, DEPS_MEMBER, DEPS_SECTION};
use crate::resolve::SymbolDb;
use crate::util::error::{Error, Result};
use std::path::Path;

/// What `explain` found.
pub struct Explanation {
    /// How many generations the new bases hold: units of this generation and newer are
    /// checked.
    pub base_generations: u32,
    /// How many units were checked.
    pub units_checked: usize,
    pub affected: Vec<Affected>,
}

/// The units of `file` (an output or emitted archive) above `config.bases` whose
/// dependencies changed or disappeared there. The bases are read as a link would read
/// them, with the strip list `file` was linked with.
pub fn explain(file: &Path, config: &Config) -> Result<Explanation> {
    let name = file.display().to_string();
    let bytes = crate::chain::map_recorded(file)?;
    let manifest = manifest_in(&name, &bytes)?;
    let records = records_in(&name, &bytes)?
        .ok_or_else(|| Error::new(format!("{name}: no dependency records (linked without them)")))?;
    let mut config = config.clone();
    config.strip_sections = manifest.strip.clone();
    let bases = crate::input::load_bases(&config)?;
    let chain = crate::chain::plan(&config, &bases, &[])?;
    let machine = <crate::arch::x86_64::X86_64 as crate::arch::Arch>::MACHINE;
    let db = crate::resolve::resolve(&[], &chain, &config, machine, None, false)?;
    let base_generations = chain.newest;
    let units_checked = records.iter().filter(|unit| unit.generation >= base_generations).count();
    Ok(Explanation { base_generations, units_checked, affected: deps::affected(&records, base_generations, &db) })
}

/// The dependency records in `bytes`, if it has any.
fn records_in(name: &str, bytes: &[u8]) -> Result<Option<Vec<deps::UnitDeps>>> {
    let Some(text) = find_record(name, bytes, DEPS_SECTION, DEPS_MEMBER)? else { return Ok(None) };
    let text =
        std::str::from_utf8(text).map_err(|_| Error::new(format!("{name}: dependency records are not UTF-8")))?;
    deps::parse(text).map(Some).map_err(|e| e.context(name.to_string()))
}

/// For a link that is about to replace `output`: when `output` holds an output with
/// dependency records built on other bases than `manifest` (this link's) records, the
/// units of the newest generation and above whose dependencies no longer hold in `db`.
/// `None` when there is no such previous output (or it cannot be read: this is a report,
/// never a reason to fail the link).
pub fn after_relink(output: &Path, manifest: &str, db: &SymbolDb) -> Option<Vec<Affected>> {
    if db.newest == 0 {
        return None;
    }
    let map = crate::chain::map_recorded(output).ok()?;
    let name = output.display().to_string();
    let previous = manifest_in(&name, &map).ok()?;
    let current = Manifest::parse(manifest).ok()?;
    let newest = db.newest as usize;
    let members = |manifest: &Manifest, generation: usize| -> Option<Vec<(String, String)>> {
        let members = manifest.generations.get(generation)?;
        Some(members.iter().map(|member| (member.name.clone(), member.blake3.clone())).collect())
    };
    if (0..newest).all(|generation| members(&previous, generation) == members(&current, generation)) {
        return None;
    }
    let records = records_in(&name, &map).ok()??;
    Some(deps::affected(&records, db.newest, db))
}
