//! Which definitions the output exports, how each binds, and under which version: the
//! export policy of GNU ld's options (`--version-script`, `--dynamic-list`,
//! `--export-dynamic-symbol`, `-Bsymbolic`, `-Bsymbolic-functions`, `--exclude-libs`).
//!
//! Decided once per global after symbol resolution, and read by the phases after it (the
//! scan's symbol facts, `.gnu.version`, `.gnu.version_d`). Must not change what symbols
//! resolve to, nor look at sections or relocations.

use crate::config::version_script::{Assignment, Pattern, VersionScript};
use crate::config::{Config, ExcludeLibs};
use crate::input::{FileKind, InputFile};
use crate::resolve::{Definition, GlobalId, SymbolDb};
use crate::util::error::{Error, Result};
use object::elf;
use rayon::prelude::*;

/// A version the output defines (`.gnu.version_d`), after the base version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionDefinition {
    pub name: String,
    /// The versions it inherits from.
    pub parents: Vec<String>,
}

/// The export policy's decision for every global.
pub struct Exports {
    /// Per global: reduced to a local symbol (not exported, bound here).
    pub local: Vec<bool>,
    /// Per global: bound to its definition here although exported.
    pub bound_here: Vec<bool>,
    /// Per global: its `.gnu.version` index (1: the global, unversioned index).
    pub version: Vec<u16>,
    /// The versions defined, in index order from 2.
    pub definitions: Vec<VersionDefinition>,
}

impl Exports {
    /// Decides for every global of `db`; `inputs` are the link's input files (for
    /// `--exclude-libs`, which names archives).
    pub fn decide(config: &Config, db: &SymbolDb, inputs: &[InputFile]) -> Result<Exports> {
        let gnu = &config.gnu;
        let excluded = excluded_objects(db, inputs, &gnu.exclude_libs);
        let script = gnu.version_script.as_ref();
        let demangle = script.is_some_and(VersionScript::has_cxx_patterns)
            || gnu.export_dynamic_symbols.iter().chain(gnu.dynamic_list.iter().flatten()).any(is_cxx);
        let policy = script.is_some()
            || excluded.iter().any(|&e| e)
            || gnu.dynamic_list.is_some()
            || gnu.symbolic_functions
            || !gnu.export_dynamic_symbols.is_empty()
            || gnu.no_undefined_version;
        if !policy {
            // Every definition exported as its visibility says, bound as -Bsymbolic says.
            let count = db.globals.len();
            return Ok(Exports {
                local: vec![false; count],
                bound_here: vec![config.symbolic; count],
                version: vec![1; count],
                definitions: Vec::new(),
            });
        }
        let decided: Vec<(bool, bool, u16)> = db
            .globals
            .par_iter()
            .with_min_len(1024)
            .map(|global| {
                let Definition::Object { file, index } = global.definition else {
                    return (false, config.symbolic, 1);
                };
                let name = String::from_utf8_lossy(global.name);
                let demangled = if demangle { demangled(&name) } else { None };
                let demangled = demangled.as_deref();
                let (mut local, version) = match script.map(|script| (script, script.assign(&name, demangled))) {
                    Some((script, Assignment::Global(node))) => (false, script.version_index(node)),
                    Some((_, Assignment::Local)) => (true, 1),
                    _ => (false, 1),
                };
                local |= excluded[file.0 as usize];
                let listed = |patterns: &[Pattern]| patterns.iter().any(|p| p.matches(&name, demangled));
                let dynamic = listed(&gnu.export_dynamic_symbols) || gnu.dynamic_list.as_deref().is_some_and(listed);
                let function = || {
                    db.object(file).object.symbol(index as usize).is_ok_and(|symbol| {
                        matches!(symbol.st_type(), elf::STT_FUNC | elf::STT_GNU_IFUNC) && global.common.is_none()
                    })
                };
                let bound_here = !dynamic
                    && (config.symbolic || gnu.dynamic_list.is_some() || (gnu.symbolic_functions && function()));
                (local, bound_here, version)
            })
            .collect();
        let definitions = script
            .map(|script| {
                script
                    .nodes
                    .iter()
                    .filter_map(|node| {
                        Some(VersionDefinition { name: node.name.clone()?, parents: node.parents.clone() })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let (Some(script), true) = (script, gnu.no_undefined_version) {
            check_versions_defined(script, db)?;
        }
        let mut exports = Exports {
            local: Vec::with_capacity(decided.len()),
            bound_here: Vec::with_capacity(decided.len()),
            version: Vec::with_capacity(decided.len()),
            definitions,
        };
        for (local, bound_here, version) in decided {
            exports.local.push(local);
            exports.bound_here.push(bound_here);
            exports.version.push(version);
        }
        Ok(exports)
    }

    pub fn version_of(&self, id: GlobalId) -> u16 {
        self.version.get(id.0 as usize).copied().unwrap_or(1)
    }
}

fn is_cxx(pattern: &Pattern) -> bool {
    pattern.language == crate::config::version_script::Language::Cxx
}

/// The demangled form of a C++ name (`_Z…`), as `c++filt` prints it.
fn demangled(name: &str) -> Option<String> {
    if !name.starts_with("_Z") {
        return None;
    }
    let symbol = cpp_demangle::Symbol::new(name).ok()?;
    symbol.demangle().ok()
}

/// Per object: whether `--exclude-libs` names the archive it came from.
fn excluded_objects(db: &SymbolDb, inputs: &[InputFile], exclude: &ExcludeLibs) -> Vec<bool> {
    if *exclude == ExcludeLibs::None {
        return vec![false; db.objects.len()];
    }
    let archives: Vec<&InputFile> = inputs.iter().filter(|input| input.kind == FileKind::Archive).collect();
    let named = |input: &InputFile| match exclude {
        ExcludeLibs::All => true,
        ExcludeLibs::Named(names) => names.iter().any(|name| name == input.file_name()),
        ExcludeLibs::None => false,
    };
    db.objects
        .iter()
        .map(|loaded| crate::input::source_of(&archives, loaded.object.data).is_some_and(|(input, _)| named(input)))
        .collect()
}

/// `--no-undefined-version`: every exact name a version script exports must be defined.
fn check_versions_defined(script: &VersionScript, db: &SymbolDb) -> Result<()> {
    let defined = |name: &str| db.lookup(name.as_bytes()).is_some_and(|id| db.global(id).is_defined_locally());
    let missing: Vec<String> = script
        .nodes
        .iter()
        .flat_map(|node| node.globals.iter().map(move |p| (node, p)))
        .filter(|(_, p)| p.literal && p.language == crate::config::version_script::Language::C && !defined(&p.text))
        .map(|(node, p)| {
            let version = node.name.as_deref().unwrap_or("the anonymous version");
            format!("version script assignment of `{}` to symbol `{}` failed: symbol not defined", version, p.text)
        })
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(Error::new(missing.join("\n"))),
    }
}
