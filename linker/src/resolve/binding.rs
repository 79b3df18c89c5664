//! The chain's binding rules: which definition a reference of one generation binds to.
//!
//! Resolution first keys every occurrence of a name by (name, scope): a hidden occurrence
//! in a generation's image code (a base's text, or an object or archive named on the
//! command line of a chained link) has that generation's scope, anything else the global
//! scope, where a newer generation's definition replaces an older one. This pass then
//! rebinds each *reference* (an undefined symbol, or a definition in a discarded section)
//! of generation `g` to the definition the rules give, whatever the reference's own
//! visibility:
//!
//! 1. a definition in `g`'s own scope (its hidden names) wins;
//! 2. otherwise the newest *visible* definition wins, where visible means a global-scope
//!    definition of any generation (default visibility: a newer generation replaces an
//!    older one's function for every generation's references) or a hidden definition of an
//!    *older* generation (new code calls old code by name). A newer generation's hidden
//!    names are never visible. An object's definition beats a shared library's;
//! 3. nothing visible: the reference stays unbound (a dynamic import when it has default
//!    visibility, an error when hidden; see `Resolver::finish`).
//!
//! Must not: load objects, change definitions, or look at relocations. It only moves
//! references between existing globals; a link without bases (one generation) has one
//! scope, and is left as resolution made it.

use super::{lookup_in, Definition, GlobalId, SymbolDb, GLOBAL_SCOPE};
use crate::input::object_file::ENDIAN;
use crate::util::hash::{NameKey, NameTable};
use object::read::elf::Sym as _;
use rayon::prelude::*;

/// How new a definition is, as the rules compare them: a shared library's is older than
/// every object's, the linker's own counts as the newest generation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Age {
    SharedLibrary,
    Generation(u32),
}

/// What a reference of some generation can see of one name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Visible {
    /// The reference's own generation defines the name hidden.
    pub own_scope: bool,
    /// The global-scope definition, and how new it is.
    pub global: Option<Age>,
    /// The newest older generation that defines the name hidden.
    pub older_scope: Option<u32>,
}

/// Which definition a reference binds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    OwnScope,
    Global,
    OlderScope(u32),
    Unbound,
}

/// The binding rules (see the module comment), as a pure function.
pub fn choose(visible: Visible) -> Choice {
    if visible.own_scope {
        return Choice::OwnScope;
    }
    match (visible.global, visible.older_scope) {
        (Some(Age::Generation(global)), Some(older)) if global >= older => Choice::Global,
        (_, Some(older)) => Choice::OlderScope(older),
        (Some(_), None) => Choice::Global,
        (None, None) => Choice::Unbound,
    }
}

/// Rebinds every reference of every object by [`choose`]. Each reference costs a lookup of
/// its name in its own scope, and, when that finds nothing, one per older generation
/// down to the global definition's: linear in the chain's depth, never in the link's size.
pub(super) fn bind_references(db: &mut SymbolDb) {
    if db.newest == 0 {
        return;
    }
    let generations: Vec<u32> = db.objects.iter().map(|loaded| loaded.generation).collect();
    let newest = db.newest;
    let (names, globals) = (&db.names, &db.globals);
    let rules = Rules { names, globals: &db.globals, generations: &generations, newest };
    db.objects.par_iter_mut().for_each(|loaded| {
        let (object, discarded, generation) = (&loaded.object, &loaded.discarded, loaded.generation);
        let first = object.first_global;
        loaded.global_ids.par_chunks_mut(4096).enumerate().for_each(|(chunk, ids)| {
            for (i, id) in ids.iter_mut().enumerate() {
                let index = first + chunk * 4096 + i;
                if is_reference_in(object, discarded, index) {
                    if let Some(target) = rules.bind(globals[id.0 as usize].key(), generation) {
                        *id = target;
                    }
                }
            }
        });
    });
}

/// Whether symbol `index` of an object is a reference the rules bind: undefined, or
/// defined in a section that is not output.
pub fn is_reference(loaded: &super::LoadedObject, index: usize) -> bool {
    is_reference_in(&loaded.object, &loaded.discarded, index)
}

fn is_reference_in(object: &crate::input::object_file::ObjectFile, discarded: &[bool], index: usize) -> bool {
    let Ok(symbol) = object.symbol(index) else { return false };
    symbol.is_undefined(ENDIAN) || object.symbol_section(symbol, index).ok().flatten().is_some_and(|s| discarded[s])
}

/// The rules applied to a name after resolution, for whoever asks what a reference of some
/// generation would bind to (dependency records: the same name on a new base).
pub struct Binder<'a, 'data> {
    generations: Vec<u32>,
    db: &'a SymbolDb<'data>,
}

impl<'a, 'data> Binder<'a, 'data> {
    pub fn new(db: &'a SymbolDb<'data>) -> Binder<'a, 'data> {
        Binder { generations: db.objects.iter().map(|loaded| loaded.generation).collect(), db }
    }

    /// The global a reference to `name` from `generation` binds to; `None` when nothing
    /// it can see defines the name.
    pub fn bind(&self, name: &[u8], generation: u32) -> Option<GlobalId> {
        let rules = Rules {
            names: &self.db.names,
            globals: &self.db.globals,
            generations: &self.generations,
            newest: self.db.newest,
        };
        rules.bind(NameKey::new(name, GLOBAL_SCOPE), generation)
    }
}

struct Rules<'a, 'data> {
    names: &'a NameTable,
    globals: &'a [super::Global<'data>],
    generations: &'a [u32],
    newest: u32,
}

impl Rules<'_, '_> {
    /// The defined global for `name` in `scope`.
    fn defined(&self, name: NameKey, scope: u32) -> Option<GlobalId> {
        let id = lookup_in(self.names, self.globals, &NameKey { scope, ..name })?;
        (self.globals[id.0 as usize].definition != Definition::Undefined).then_some(id)
    }

    fn age(&self, id: GlobalId) -> Option<Age> {
        match self.globals[id.0 as usize].definition {
            Definition::Undefined => None,
            Definition::Object { file, .. } => Some(Age::Generation(self.generations[file.0 as usize])),
            Definition::Shared { .. } => Some(Age::SharedLibrary),
            Definition::Synthetic(_) => Some(Age::Generation(self.newest)),
        }
    }

    /// The global a reference to `name` (in whatever scope) from `generation` binds to;
    /// `None` leaves it where resolution put it (nothing visible defines it).
    fn bind(&self, name: NameKey, generation: u32) -> Option<GlobalId> {
        if let Some(own) = self.defined(name, generation) {
            return Some(own);
        }
        let global = self.defined(name, GLOBAL_SCOPE);
        let global_age = global.and_then(|id| self.age(id));
        let older = (0..generation)
            .rev()
            .take_while(|&k| global_age.is_none_or(|age| Age::Generation(k) > age))
            .find_map(|k| Some((k, self.defined(name, k)?)));
        let visible = Visible { own_scope: false, global: global_age, older_scope: older.map(|(k, _)| k) };
        match choose(visible) {
            Choice::OwnScope | Choice::Unbound => None,
            Choice::Global => global,
            Choice::OlderScope(_) => older.map(|(_, id)| id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(own_scope: bool, global: Option<Age>, older_scope: Option<u32>) -> Visible {
        Visible { own_scope, global, older_scope }
    }

    #[test]
    fn own_generations_hidden_definition_wins_over_everything() {
        for global in [None, Some(Age::SharedLibrary), Some(Age::Generation(0)), Some(Age::Generation(5))] {
            for older in [None, Some(0)] {
                assert_eq!(choose(visible(true, global, older)), Choice::OwnScope);
            }
        }
    }

    #[test]
    fn a_name_not_defined_here_binds_down_the_chain_hidden_included() {
        assert_eq!(choose(visible(false, None, Some(1))), Choice::OlderScope(1));
        // An object's definition, however old, beats a shared library's.
        assert_eq!(choose(visible(false, Some(Age::SharedLibrary), Some(0))), Choice::OlderScope(0));
        // The newest visible definition wins: an older hidden one over an even older
        // default one, a newer default one over an older hidden one.
        assert_eq!(choose(visible(false, Some(Age::Generation(0)), Some(1))), Choice::OlderScope(1));
        assert_eq!(choose(visible(false, Some(Age::Generation(2)), Some(1))), Choice::Global);
    }

    #[test]
    fn default_definitions_newest_wins_and_nothing_visible_stays_unbound() {
        assert_eq!(choose(visible(false, Some(Age::Generation(3)), None)), Choice::Global);
        assert_eq!(choose(visible(false, Some(Age::SharedLibrary), None)), Choice::Global);
        assert_eq!(choose(visible(false, None, None)), Choice::Unbound);
    }
}
