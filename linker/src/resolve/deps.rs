//! Dependency records: for every unit (object) of every generation, the names its
//! references bind to in *older* generations (`symbols::binding` decides), each with the
//! generation that defines it and a digest of that definition. A package compiler that
//! rebuilds a base asks which units still link correctly on it: those whose dependencies
//! all have the same digest there (`chainlink explain`, and a relink onto a new base).
//!
//! A definition's digest (xxh3-128) covers the defining symbol's type, its bytes (from
//! `st_value` for `st_size` bytes of its section; the whole section when the size is
//! unknown) and the relocations inside them: offset within the definition, type, addend
//! and target *by name* (a section-relative target by its section's name). A function
//! that only moved, because others around it changed, keeps its digest.
//!
//! The records are text, one line each, names escaped as in the manifest:
//!
//! ```text
//! chainlink-deps 1
//! unit GENERATION UNIT
//! dep NAME GENERATION DIGEST
//! ```
//!
//! A `unit` line starts a unit; its `dep` lines follow, sorted by name. An output keeps
//! them in `.chainlink.deps` (not loaded), an emitted archive in its `chainlink.deps`
//! member. A link computes the newest generation's records and carries the older
//! generations' forward from the emitted archives it is based on (a Julia image archive is
//! one generation, with nothing older to depend on; an archive emitted without records
//! contributes none).
//!
//! Must not change what the link does: it reads resolved symbols and input bytes only.

use crate::chain::{escape, json_string, simple_name, unescape, ChainPlan};
use crate::input::object_file::{rela_parts, ObjectFile, ENDIAN};
use crate::resolve::{binding, Definition, FileId, GlobalId, SymbolDb};
use crate::util::error::{Error, Result};
use object::elf;
use object::read::elf::{SectionHeader as _, Sym as _};
use rayon::prelude::*;
use std::fmt::Write as _;

pub use crate::chain::{DEPS_MEMBER, DEPS_SECTION};
const MAGIC: &str = "chainlink-deps 1";

pub type Digest = u128;

/// One name a unit binds in an older generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub generation: u32,
    pub digest: Digest,
}

/// One unit's dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitDeps {
    pub generation: u32,
    /// The unit's simple name (`text#3.o`, `gen2.o`).
    pub unit: String,
    pub deps: Vec<Dependency>,
}

/// Renders records (see the module comment), without the first line.
fn render_units(units: &[UnitDeps], text: &mut String) {
    for unit in units {
        let _ = writeln!(text, "unit {} {}", unit.generation, escape(&unit.unit));
        for dep in &unit.deps {
            let _ = writeln!(text, "dep {} {} {:032x}", escape(&dep.name), dep.generation, dep.digest);
        }
    }
}

/// Renders records, first line included.
pub fn render(units: &[UnitDeps]) -> String {
    let mut text = format!("{MAGIC}\n");
    render_units(units, &mut text);
    text
}

/// Reads records that [`render`] wrote.
pub fn parse(text: &str) -> Result<Vec<UnitDeps>> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(Error::new("not chainlink dependency records (bad first line)"));
    }
    let mut units: Vec<UnitDeps> = Vec::new();
    for (number, line) in lines.enumerate() {
        let bad =
            || Error::new(format!("dependency records line {}: malformed: `{}`", number + 2, line.escape_debug()));
        let generation = |field: &str| field.parse::<u32>().map_err(|_| bad());
        let name = |field: &str| unescape(field).ok_or_else(bad);
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["unit", g, unit] => {
                units.push(UnitDeps { generation: generation(g)?, unit: name(unit)?, deps: Vec::new() })
            }
            ["dep", symbol, g, digest] if digest.len() == 32 => {
                let digest = Digest::from_str_radix(digest, 16).map_err(|_| bad())?;
                let name = name(symbol)?;
                let unit = units.last_mut().ok_or_else(bad)?;
                unit.deps.push(Dependency { name, generation: generation(g)?, digest });
            }
            [""] => {}
            _ => return Err(bad()),
        }
    }
    Ok(units)
}

/// Digests of base definitions an earlier link with the same base computed (a prepared
/// base keeps them): a definition's digest depends on the base's bytes alone.
pub trait KnownDigests {
    /// The digest of symbol `symbol` of base object `file`, if known.
    fn digest(&self, file: FileId, symbol: u32) -> Option<Digest>;
}

/// One base definition's digest: (object, symbol, digest).
pub type KnownDigest = (FileId, u32, Digest);

/// What a link keeps of the dependency records.
#[derive(Default)]
pub struct Records {
    /// The text an output and its emitted archive keep; `None` for a link without bases.
    pub text: Option<String>,
    /// The digest of every base definition the newest generation binds, sorted, for the
    /// next link with the same base ([`KnownDigests`]).
    pub digests: Vec<KnownDigest>,
    /// How many of them were hashed here (the others were known).
    pub hashed: usize,
}

/// The records an output and its emitted archive keep: the bases' (carried forward, see
/// [`ChainPlan::carried_deps`]) then the newest generation's, whose digests of base
/// definitions are taken from `known` when it has them.
pub fn records(chain: &ChainPlan, db: &SymbolDb, known: Option<&dyn KnownDigests>) -> Result<Records> {
    if !chain.is_chained() {
        return Ok(Records::default());
    }
    let mut text = format!("{MAGIC}\n");
    for &(offset, carried) in &chain.carried_deps {
        let carried =
            std::str::from_utf8(carried).map_err(|_| Error::new("a base's dependency records are not UTF-8"))?;
        match carried.strip_prefix(MAGIC).and_then(|rest| rest.strip_prefix('\n')) {
            // One base (the usual case): its generations keep their numbers.
            Some(rest) if offset == 0 => text.push_str(rest),
            _ => {
                let mut units = parse(carried)?;
                for unit in &mut units {
                    unit.generation += offset;
                    unit.deps.iter_mut().for_each(|dep| dep.generation += offset);
                }
                render_units(&units, &mut text);
            }
        }
    }
    let (units, digests, hashed) = compute(db, db.newest, known);
    render_units(&units, &mut text);
    Ok(Records { text: Some(text), digests, hashed })
}

/// The records of every unit (object of image code) of `generation`, in load order, the
/// digests of the definitions they bind (sorted by object and symbol), and how many of
/// those were hashed (not `known`).
pub fn compute(
    db: &SymbolDb,
    generation: u32,
    known: Option<&dyn KnownDigests>,
) -> (Vec<UnitDeps>, Vec<KnownDigest>, usize) {
    let is_unit = |file: &FileId| db.object(*file).generation == generation && db.object(*file).image_code;
    let files: Vec<FileId> = (0..db.objects.len() as u32).map(FileId).filter(is_unit).collect();
    // Each unit's references into older generations, as (name, global), sorted by name.
    let bound: Vec<Vec<(&[u8], GlobalId)>> = files
        .par_iter()
        .map(|&file| {
            let loaded = db.object(file);
            let mut names: Vec<(&[u8], GlobalId)> = (loaded.object.first_global..loaded.object.symbols.len())
                .filter(|&index| binding::is_reference(loaded, index))
                .filter_map(|index| loaded.global(index))
                .filter(|&id| older_definition(db, id, generation).is_some())
                .map(|id| (db.global(id).name, id))
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        })
        .collect();
    let mut definitions: Vec<GlobalId> = bound.iter().flatten().map(|&(_, id)| id).collect();
    definitions.sort_unstable();
    definitions.dedup();
    let (digests, hashed) = digests(db, &definitions.iter().copied().map(Some).collect::<Vec<_>>(), known);
    let mut kept: Vec<KnownDigest> = definitions
        .iter()
        .zip(&digests)
        .filter_map(|(&id, &digest)| {
            let (_, file, symbol) = older_definition(db, id, generation)?;
            Some((file, symbol, digest))
        })
        .collect();
    kept.sort_unstable();
    let units = files
        .iter()
        .zip(bound)
        .map(|(&file, names)| UnitDeps {
            generation,
            unit: simple_name(&db.object(file).object.name).to_string(),
            deps: names
                .into_iter()
                .map(|(name, id)| {
                    let at = definitions.binary_search(&id).expect("collected above");
                    let (defined_in, _, _) = older_definition(db, id, generation).expect("filtered above");
                    Dependency {
                        name: String::from_utf8_lossy(name).into_owned(),
                        generation: defined_in,
                        digest: digests[at],
                    }
                })
                .collect(),
        })
        .collect();
    (units, kept, hashed)
}

/// The generation, object and symbol of `id`'s definition when an object of a generation
/// older than `generation` defines it.
fn older_definition(db: &SymbolDb, id: GlobalId, generation: u32) -> Option<(u32, FileId, u32)> {
    match db.global(id).definition {
        Definition::Object { file, index } if db.object(file).generation < generation => {
            Some((db.object(file).generation, file, index))
        }
        _ => None,
    }
}

/// A definition whose digest is wanted: (file, section, symbol, position in the request).
type Wanted = (FileId, usize, u32, usize);

/// The digest of each global's object definition (zero for any other, or none): taken
/// from `known` when it has it, else computed in parallel: each section's relocations are
/// put in offset order once (in parallel over sections), then every definition finds its
/// own by binary search (in parallel over definitions). Also says how many were computed.
fn digests(db: &SymbolDb, globals: &[Option<GlobalId>], known: Option<&dyn KnownDigests>) -> (Vec<Digest>, usize) {
    let mut digests = vec![0; globals.len()];
    let mut wanted: Vec<Wanted> = globals
        .iter()
        .enumerate()
        .filter_map(|(at, id)| Some((at, (*id)?)))
        .filter_map(|(at, id)| match db.global(id).definition {
            Definition::Object { file, index } => {
                if let Some(digest) = known.and_then(|known| known.digest(file, index)) {
                    digests[at] = digest;
                    return None;
                }
                let object = &db.object(file).object;
                let section =
                    object.symbol(index as usize).ok().and_then(|s| object.symbol_section(s, index as usize).ok());
                Some((file, section.flatten().unwrap_or(usize::MAX), index, at))
            }
            _ => None,
        })
        .collect();
    wanted.sort_unstable();
    let groups: Vec<&[Wanted]> = wanted.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).collect();
    let relocations: Vec<SectionRelocations> =
        groups.par_iter().map(|group| SectionRelocations::new(&db.object(group[0].0).object, group[0].1)).collect();
    let work: Vec<(&Wanted, &SectionRelocations)> = groups
        .iter()
        .zip(&relocations)
        .flat_map(|(group, relocations)| group.iter().map(move |wanted| (wanted, relocations)))
        .collect();
    let computed: Vec<(usize, Digest)> = work
        .par_iter()
        .with_min_len(64)
        .map(|&(&(file, section, symbol, at), relocations)| (at, digest(db, file, section, symbol, relocations)))
        .collect();
    let hashed = computed.len();
    for (at, digest) in computed {
        digests[at] = digest;
    }
    (digests, hashed)
}

type Rela = object::elf::Rela64<object::LittleEndian>;

/// A section's relocations, in offset order (as assemblers write them; sorted here when
/// they are not).
struct SectionRelocations<'data> {
    relocations: std::borrow::Cow<'data, [Rela]>,
}

impl<'data> SectionRelocations<'data> {
    fn new(object: &ObjectFile<'data>, section: usize) -> SectionRelocations<'data> {
        let relocations = if section < object.sections.len() { object.file_relocations(section) } else { &[] };
        let offset = |rela: &Rela| rela_parts(rela).0;
        if relocations.is_sorted_by_key(offset) {
            return SectionRelocations { relocations: relocations.into() };
        }
        let mut sorted = relocations.to_vec();
        sorted.sort_by_key(offset);
        SectionRelocations { relocations: sorted.into() }
    }

    fn within(&self, range: std::ops::Range<u64>) -> &[Rela] {
        let from = self.relocations.partition_point(|rela| rela_parts(rela).0 < range.start);
        let to = self.relocations.partition_point(|rela| rela_parts(rela).0 < range.end);
        &self.relocations[from..to]
    }
}

/// The digest of symbol `index` of object `file`, defined in `section` (`usize::MAX`: none).
/// What it covers is gathered into one buffer and hashed at once.
fn digest(db: &SymbolDb, file: FileId, section: usize, index: u32, relocations: &SectionRelocations) -> Digest {
    let loaded = db.object(file);
    let object = &loaded.object;
    let Ok(symbol) = object.symbol(index as usize) else { return 0 };
    let (value, size) = (symbol.st_value(ENDIAN), symbol.st_size(ENDIAN));
    let mut covered: Vec<u8> = vec![symbol.st_type().0];
    if section >= object.sections.len() {
        // Absolute or common: its value and size are all there is.
        covered.extend_from_slice(&value.to_le_bytes());
        covered.extend_from_slice(&size.to_le_bytes());
        return twox_hash::XxHash3_128::oneshot(&covered);
    }
    let header = object.section(section);
    let section_size = header.sh_size(ENDIAN);
    let range = match value.checked_add(size) {
        Some(end) if size > 0 && end <= section_size => value..end,
        _ => 0..section_size,
    };
    covered.extend_from_slice(&(range.end - range.start).to_le_bytes());
    if header.sh_type(ENDIAN) != elf::SHT_NOBITS {
        if let Ok(data) = object.section_data(section) {
            covered.extend_from_slice(data.get(range.start as usize..range.end as usize).unwrap_or_default());
        }
    }
    for rela in relocations.within(range.clone()) {
        let (offset, target, r_type, addend) = rela_parts(rela);
        // A global's name as resolution read it (no search for its end).
        let global_name = loaded.global(target as usize).map(|id| db.global(id).name);
        let name = match object.symbol(target as usize) {
            _ if global_name.is_some() => global_name.unwrap_or_default(),
            Ok(target_symbol) if target_symbol.st_type() == elf::STT_SECTION => {
                match object.symbol_section(target_symbol, target as usize) {
                    Ok(Some(target_section)) => object.section_name(target_section),
                    _ => b"",
                }
            }
            Ok(target_symbol) => object.symbol_name(target_symbol),
            Err(_) => b"",
        };
        for field in [offset - range.start, r_type.0 as u64, addend as u64, name.len() as u64] {
            covered.extend_from_slice(&field.to_le_bytes());
        }
        covered.extend_from_slice(name);
    }
    twox_hash::XxHash3_128::oneshot(&covered)
}

/// Why a unit's dependency no longer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing the unit can see defines the name any more (or only a shared library).
    Disappeared,
    /// A definition with another digest (`generation`: where it now is).
    Changed { generation: u32 },
}

/// One dependency that no longer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    pub name: String,
    pub old_generation: u32,
    pub change: Change,
}

/// A unit some of whose dependencies no longer hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    pub generation: u32,
    pub unit: String,
    pub broken: Vec<Broken>,
}

/// The recorded units of generation `from` and newer whose dependencies no longer hold in
/// `db`: each name looked up as a reference of generation `db.newest` binds, its
/// definition's digest compared with the record.
pub fn affected(records: &[UnitDeps], from: u32, db: &SymbolDb) -> Vec<Affected> {
    let binder = binding::Binder::new(db);
    let considered: Vec<&UnitDeps> = records.iter().filter(|unit| unit.generation >= from).collect();
    let mut names: Vec<&str> =
        considered.iter().flat_map(|unit| unit.deps.iter().map(|dep| dep.name.as_str())).collect();
    names.sort_unstable();
    names.dedup();
    // Where each name now binds, and that definition's digest.
    let bound: Vec<Option<GlobalId>> = names.par_iter().map(|name| binder.bind(name.as_bytes(), db.newest)).collect();
    let (digests, _) = digests(db, &bound, None);
    let now = |name: &str| -> Option<(u32, Digest)> {
        let at = names.binary_search(&name).ok()?;
        match db.global(bound[at]?).definition {
            Definition::Object { file, .. } => Some((db.object(file).generation, digests[at])),
            Definition::Synthetic(_) => Some((db.newest, 0)),
            Definition::Undefined | Definition::Shared { .. } => None,
        }
    };
    considered
        .into_iter()
        .filter_map(|unit| {
            let broken: Vec<Broken> = unit
                .deps
                .iter()
                .filter_map(|dep| {
                    let change = match now(&dep.name) {
                        None => Change::Disappeared,
                        Some((_, digest)) if digest == dep.digest => return None,
                        Some((generation, _)) => Change::Changed { generation },
                    };
                    Some(Broken { name: dep.name.clone(), old_generation: dep.generation, change })
                })
                .collect();
            (!broken.is_empty()).then(|| Affected { generation: unit.generation, unit: unit.unit.clone(), broken })
        })
        .collect()
}

/// The affected units, one line each, then one indented line per broken dependency.
pub fn describe(affected: &[Affected]) -> String {
    let mut text = String::new();
    for unit in affected {
        let _ = writeln!(
            text,
            "{} (generation {}): {} dependenc{} changed",
            escape(&unit.unit),
            unit.generation,
            unit.broken.len(),
            if unit.broken.len() == 1 { "y" } else { "ies" }
        );
        for broken in &unit.broken {
            let _ = match broken.change {
                Change::Disappeared => {
                    writeln!(
                        text,
                        "  {}: was generation {}, now defined nowhere it can see",
                        escape(&broken.name),
                        broken.old_generation
                    )
                }
                Change::Changed { generation } => writeln!(
                    text,
                    "  {}: was generation {}, now generation {} with other contents",
                    escape(&broken.name),
                    broken.old_generation,
                    generation
                ),
            };
        }
    }
    text
}

/// The affected units as a JSON array.
pub fn to_json(affected: &[Affected]) -> String {
    let mut json = String::from("[");
    for (i, unit) in affected.iter().enumerate() {
        let _ = write!(
            json,
            "{}{{\"generation\": {}, \"unit\": {}, \"dependencies\": [",
            if i == 0 { "" } else { ", " },
            unit.generation,
            json_string(&unit.unit)
        );
        for (j, broken) in unit.broken.iter().enumerate() {
            let (reason, now) = match broken.change {
                Change::Disappeared => ("disappeared", "null".to_string()),
                Change::Changed { generation } => ("changed", generation.to_string()),
            };
            let _ = write!(
                json,
                "{}{{\"name\": {}, \"reason\": \"{reason}\", \"old_generation\": {}, \"new_generation\": {now}}}",
                if j == 0 { "" } else { ", " },
                json_string(&broken.name),
                broken.old_generation
            );
        }
        json.push_str("]}");
    }
    json.push(']');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_text() {
        let units = vec![
            UnitDeps {
                generation: 2,
                unit: "text#0.o".into(),
                deps: vec![
                    Dependency {
                        name: "julia_f".into(),
                        generation: 0,
                        digest: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
                    },
                    Dependency { name: "odd name\n%".into(), generation: 1, digest: u128::MAX },
                ],
            },
            UnitDeps { generation: 2, unit: "my unit.o".into(), deps: Vec::new() },
            UnitDeps {
                generation: 3,
                unit: "x.o".into(),
                deps: vec![Dependency { name: "g".into(), generation: 2, digest: 0 }],
            },
        ];
        let text = render(&units);
        assert!(
            text.starts_with("chainlink-deps 1\nunit 2 text#0.o\ndep julia_f 0 0123456789abcdef0011223344556677\n"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), units);
        assert_eq!(parse(&render(&[])).unwrap(), Vec::new());
    }

    #[test]
    fn malformed_records_are_errors() {
        for text in [
            "",
            "chainlink-deps 2\n",
            "chainlink-deps 1\ndep a 0 00000000000000000000000000000000\n",
            "chainlink-deps 1\nunit x a.o\n",
            "chainlink-deps 1\nunit 1 a.o\ndep a 0 0\n",
            "chainlink-deps 1\nunit 1 a.o\ndep a 0 0000000000000000000000000000000g\n",
            "chainlink-deps 1\nunit 1 a.o b\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
