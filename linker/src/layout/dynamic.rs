//! The dynamic linking information of the output: the libraries it needs (`DT_NEEDED`),
//! its `.dynsym` in `.gnu.hash` order with their names in `.dynstr`, and the symbol
//! versions it defines and needs. Sizes and indices only: assigns no address and writes
//! no byte.

use super::gnu_hash::{self, GnuHashPlan};
use super::verdef::VerdefPlan;
use super::{Needed, StringTable};
use crate::config::Config;
use crate::input::InputFile;
use crate::resolve::exports::Exports;
use crate::resolve::{Definition, GlobalId, SymbolDb};
use crate::scan::Plan;
use crate::util::hash::FxHashMap;
use rayon::prelude::*;

/// What `plan` decides (`Layout::dynamic`).
pub struct DynamicPlan {
    pub dynstr: StringTable,
    pub needed: Vec<Needed>,
    pub soname: Option<u32>,
    pub runpath: Option<u32>,
    /// `.dynsym` entries after the null symbol: imports, then exports in `.gnu.hash` order.
    pub dynsym: Vec<GlobalId>,
    pub dynsym_index: Vec<u32>,
    pub dynsym_name: Vec<u32>,
    /// `.gnu.version` entry per `.dynsym` entry after the null symbol (empty: no versions).
    pub versym: Vec<u16>,
    /// `.gnu.version_d`, when the output defines versions.
    pub verdef: VerdefPlan,
    /// Some symbol needs a version of a library (`.gnu.version_r` is written).
    pub has_verneed: bool,
    pub gnu_hash: GnuHashPlan,
}

pub fn plan(db: &SymbolDb, plan: &Plan, inputs: &[InputFile], config: &Config, exports: &Exports) -> DynamicPlan {
    let mut dynstr = StringTable::new();
    let (mut needed, lib_needed_index) = needed_libraries(db, plan, inputs, &mut dynstr);
    let soname = config.soname.as_ref().map(|s| dynstr.add(s.as_bytes()));
    let runpath = (!config.rpaths.is_empty()).then(|| dynstr.add(config.rpaths.join(":").as_bytes()));

    // .dynsym: imports, then exports ordered for .gnu.hash.
    let export_hashes: Vec<u32> =
        plan.dynamic_exports.par_iter().map(|&id| gnu_hash::gnu_hash(db.global(id).name)).collect();
    let gnu_hash = GnuHashPlan::new(plan.dynamic_exports.len());
    let order = gnu_hash.order(&export_hashes);
    let mut dynsym: Vec<GlobalId> = plan.dynamic_imports.clone();
    dynsym.extend(order.iter().map(|&i| plan.dynamic_exports[i as usize]));
    let mut dynsym_index = vec![0u32; db.globals.len()];
    for (i, &id) in dynsym.iter().enumerate() {
        dynsym_index[id.0 as usize] = i as u32 + 1;
    }
    // Each name and definition read once, in parallel: the globals are read at random.
    let (names, definitions): (Vec<&[u8]>, Vec<Definition>) = dynsym
        .par_iter()
        .map(|&id| {
            let global = db.global(id);
            (global.name, global.definition)
        })
        .unzip();
    // Dynamic symbol names are distinct: no need to look for an earlier copy.
    let dynsym_name = dynstr.append_all(&names);

    let (versym, verdef, has_verneed) =
        versions(db, config, exports, &dynsym, definitions, &mut needed, &lib_needed_index, &mut dynstr);
    DynamicPlan {
        dynstr,
        needed,
        soname,
        runpath,
        dynsym,
        dynsym_index,
        dynsym_name,
        versym,
        verdef,
        has_verneed,
        gnu_hash,
    }
}

/// `DT_NEEDED` for every shared input that is not as-needed or supplies an import some
/// reference needs (as GNU ld says: a weak reference needs no library), each name once;
/// and per library its index in that list (`usize::MAX`: not needed).
fn needed_libraries(
    db: &SymbolDb,
    plan: &Plan,
    inputs: &[InputFile],
    dynstr: &mut StringTable,
) -> (Vec<Needed>, Vec<usize>) {
    let mut used_libs = vec![false; db.shared.len()];
    for &id in &plan.dynamic_imports {
        if let (Definition::Shared { lib, .. }, true) = (db.global(id).definition, db.global(id).strong_reference) {
            used_libs[lib as usize] = true;
        }
    }
    let mut needed: Vec<Needed> = Vec::new();
    let mut lib_needed_index = vec![usize::MAX; db.shared.len()];
    let mut seen_names: FxHashMap<Vec<u8>, usize> = Default::default();
    for (lib, shared) in db.shared.iter().enumerate() {
        if shared.as_needed && !used_libs[lib] {
            continue;
        }
        let name = match shared.library.soname {
            Some(soname) => soname.to_vec(),
            None => inputs[shared.input].file_name().as_bytes().to_vec(),
        };
        let index = *seen_names.entry(name.clone()).or_insert_with(|| {
            needed.push(Needed { name_offset: dynstr.add(&name), versions: Vec::new() });
            needed.len() - 1
        });
        lib_needed_index[lib] = index;
    }
    (needed, lib_needed_index)
}

/// The `.gnu.version` entries (empty when there are no versions), the versions defined,
/// and whether any is needed; the needed ones are added to `needed`.
#[allow(clippy::too_many_arguments)]
fn versions(
    db: &SymbolDb,
    config: &Config,
    exports: &Exports,
    dynsym: &[GlobalId],
    definitions: Vec<Definition>,
    needed: &mut [Needed],
    lib_needed_index: &[usize],
    dynstr: &mut StringTable,
) -> (Vec<u16>, VerdefPlan, bool) {
    // The versions this library defines (indices from 2), then those it needs.
    let base_name = config.soname.clone().unwrap_or_else(|| {
        config.output.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    });
    let verdef = VerdefPlan::new(&exports.definitions, &base_name, dynstr);
    let first_needed_version = 2 + exports.definitions.len() as u16;
    let mut version_index: FxHashMap<(usize, &[u8]), u16> = Default::default();
    let mut versym = vec![1u16; dynsym.len()];
    let mut next_version = first_needed_version;
    for (i, definition) in definitions.into_iter().enumerate() {
        match definition {
            Definition::Shared { lib, index } => {
                let Some(version) = db.shared[lib as usize].library.symbols[index as usize].version else {
                    continue;
                };
                let needed_index = lib_needed_index[lib as usize];
                if needed_index == usize::MAX {
                    continue;
                }
                let v = *version_index.entry((needed_index, version)).or_insert_with(|| {
                    let v = next_version;
                    next_version += 1;
                    needed[needed_index].versions.push((dynstr.add(version), gnu_hash::sysv_hash(version), v));
                    v
                });
                versym[i] = v;
            }
            Definition::Object { .. } => versym[i] = exports.version_of(dynsym[i]),
            _ => {}
        }
    }
    // glibc refuses DT_RELR unless the object asks for the version that promises support.
    if config.pack_relative_relocs {
        const RELR_VERSION: &[u8] = b"GLIBC_ABI_DT_RELR";
        let provider = db.shared.iter().enumerate().find(|(lib, shared)| {
            lib_needed_index[*lib] != usize::MAX && shared.library.version_definitions.contains(&RELR_VERSION)
        });
        if let Some((lib, _)) = provider {
            let needed_index = lib_needed_index[lib];
            if !version_index.contains_key(&(needed_index, RELR_VERSION)) {
                needed[needed_index].versions.push((
                    dynstr.add(RELR_VERSION),
                    gnu_hash::sysv_hash(RELR_VERSION),
                    next_version,
                ));
                next_version += 1;
            }
        }
    }
    if next_version == 2 {
        versym.clear();
    }
    let has_verneed = next_version > first_needed_version;

    (versym, verdef, has_verneed)
}
