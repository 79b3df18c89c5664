//! Phase 2: decide which objects take part and what every global name binds to.
//!
//! Loads objects in command-line order, pulls archive members that define a needed symbol,
//! keeps the first copy of each COMDAT group, and resolves each global name to one
//! definition (strong over weak over nothing; COMMON merged; shared-library definitions
//! become imports). Must not look at relocations or assign addresses.

use crate::chain::ChainPlan;
use crate::config::Config;
use crate::input::object_file::{rela_parts, ObjectFile, ENDIAN};
use crate::input::shared_lib::{self, SharedLibrary};
use crate::input::{FileKind, InputFile};
use crate::util::error::{Error, Result};
use crate::util::hash::{name_hash, FxHashMap, NameKey, NameTable};
use object::elf;
use object::read::elf::{SectionHeader as _, Sym as _};
use rayon::prelude::*;
use std::collections::VecDeque;

/// Dense index of a loaded object, in load order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// Dense index of a global name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlobalId(pub u32);

/// Symbols the linker defines itself when nothing else does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synthetic {
    GlobalOffsetTable,
    Dynamic,
    EhFrameHdr,
    ElfHeader,
    /// `_TLS_MODULE_BASE_`: the start of this module's TLS block (TLS descriptors of
    /// local-dynamic accesses are taken against it).
    TlsModuleBase,
    /// `__start_SECTION` / `__stop_SECTION` for a section named like a C identifier.
    SectionStart,
    SectionStop,
    /// The exported directory of every unit's dispatch tables (`chainlink_image`).
    ImageDirectory,
    /// A `--defsym` symbol: `config.gnu.defsyms[index]`, absolute or in its target's section.
    Defsym {
        index: u32,
        absolute: bool,
    },
    /// `__init_array_start` and friends.
    ArrayStart(ArrayKind),
    ArrayEnd(ArrayKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrayKind {
    PreInit,
    Init,
    Fini,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Definition {
    /// Nothing defines it: a dynamic import resolved at load time (or null, if weak).
    Undefined,
    /// Defined by symbol `index` of an object (for COMMON, the first tentative definition).
    Object {
        file: FileId,
        index: u32,
    },
    /// Defined by symbol `index` of shared library `lib`: a dynamic import.
    Shared {
        lib: u32,
        index: u32,
    },
    Synthetic(Synthetic),
}

#[derive(Clone)]
pub struct Global<'data> {
    pub name: &'data [u8],
    /// `name_hash(name)`, and the scope the name binds in (see [`GLOBAL_SCOPE`]).
    pub hash: u64,
    pub scope: u32,
    pub definition: Definition,
    /// The chosen object definition is weak.
    pub weak_definition: bool,
    /// Size and alignment when the definition is COMMON (largest of all tentative ones).
    pub common: Option<(u64, u64)>,
    /// Some reference or definition is not weak (an import is then bound strongly).
    pub strong_reference: bool,
    /// The most constraining `STV_*` seen on any occurrence.
    pub visibility: u8,
    /// `STT_*` of an undefined reference (the definition's own type is read from it).
    pub reference_type: u8,
    /// An archive member that would define the name if it were needed.
    pub lazy: Option<(u32, u32)>,
    /// A base generation defined the name in a section that chain policy stripped.
    pub stripped_definition: Option<(FileId, u32)>,
}

impl<'data> Global<'data> {
    /// A name nothing has defined or referenced yet.
    fn new(key: NameKey<'data>) -> Global<'data> {
        Global {
            name: key.name,
            hash: key.hash,
            scope: key.scope,
            definition: Definition::Undefined,
            weak_definition: false,
            common: None,
            strong_reference: false,
            visibility: elf::STV_DEFAULT.0,
            reference_type: elf::STT_NOTYPE.0,
            lazy: None,
            stripped_definition: None,
        }
    }

    /// A weak reference with non-default visibility that nothing defines: it can only be
    /// zero, never a dynamic import.
    pub fn is_null_weak(&self) -> bool {
        self.definition == Definition::Undefined
            && !self.strong_reference
            && self.visibility != elf::STV_DEFAULT.0
            && self.visibility != elf::STV_PROTECTED.0
    }

    /// Whether the name lives in one base generation's own scope (a hidden name of that
    /// generation): everything about it then comes from that generation alone.
    pub fn is_generation_scoped(&self) -> bool {
        self.scope != GLOBAL_SCOPE
    }

    pub fn key(&self) -> NameKey<'data> {
        NameKey { hash: self.hash, name: self.name, scope: self.scope }
    }

    pub fn is_defined_locally(&self) -> bool {
        matches!(self.definition, Definition::Object { .. } | Definition::Synthetic(_))
    }
}

pub mod binding;
pub mod defsym;
pub mod deps;
pub mod exports;
mod symbol;
pub mod undefined;

use symbol::{decode_locals, GlobalSymbol};
pub use symbol::{LocalSymbol, LOCAL_ABSOLUTE, LOCAL_NOWHERE};

pub struct LoadedObject<'data> {
    pub object: ObjectFile<'data>,
    /// 0 = the oldest base; the link's own inputs are the newest generation.
    pub generation: u32,
    /// Part of its generation's image (a base's text, or named on the command line) rather
    /// than a support file (C runtime files, `-l` libraries).
    pub image_code: bool,
    /// `GlobalId` of each symbol from `first_global` on.
    pub global_ids: Vec<GlobalId>,
    /// Sections not output: COMDAT duplicates, group sections and stripped sections.
    pub discarded: Vec<bool>,
    /// Sections removed by chain policy (a base generation's uniqueness section).
    pub stripped: Vec<bool>,
    /// Some section is in `stripped` (asked per relocation chunk: computed once).
    pub strips_any: bool,
    /// Section and value of every local symbol, decoded once for the per-relocation paths.
    pub locals: Vec<LocalSymbol>,
    /// Some local symbol is a GNU indirect function.
    pub has_local_ifunc: bool,
}

impl<'data> LoadedObject<'data> {
    /// A loaded object; what can be derived (`strips_any`, `has_local_ifunc`) is here.
    pub fn new(
        object: ObjectFile<'data>,
        generation: u32,
        image_code: bool,
        global_ids: Vec<GlobalId>,
        discarded: Vec<bool>,
        stripped: Vec<bool>,
        locals: (Vec<LocalSymbol>, bool),
    ) -> Self {
        let (locals, has_local_ifunc) = locals;
        let strips_any = stripped.contains(&true);
        LoadedObject {
            object,
            generation,
            image_code,
            global_ids,
            discarded,
            stripped,
            strips_any,
            locals,
            has_local_ifunc,
        }
    }

    /// The global a symbol index names, or `None` for a local symbol.
    #[inline]
    pub fn global(&self, symbol: usize) -> Option<GlobalId> {
        symbol.checked_sub(self.object.first_global).and_then(|i| self.global_ids.get(i).copied())
    }
}

pub struct SharedInput<'data> {
    /// Index into the link's input files.
    pub input: usize,
    pub library: SharedLibrary<'data>,
    pub as_needed: bool,
}

/// The scope of names that bind across generations; a base generation's hidden names are
/// scoped to that generation instead.
pub const GLOBAL_SCOPE: u32 = u32::MAX;

/// Everything symbol resolution decided.
pub struct SymbolDb<'data> {
    /// Generation of the link's own inputs; objects of older generations are bases.
    pub newest: u32,
    pub objects: Vec<LoadedObject<'data>>,
    pub globals: Vec<Global<'data>>,
    /// (name, scope) → global.
    names: NameTable,
    pub shared: Vec<SharedInput<'data>>,
    /// Definitions that lost to a newer generation's definition of the same name.
    pub shadowed: usize,
    /// The globals as the base objects alone left them, when this link loaded them (not
    /// restored them from a record): what a prepared base records.
    pub base_globals: Option<BaseGlobals<'data>>,
    /// The base objects' state was restored from a prepared base's record.
    pub base_restored: bool,
}

impl<'data> SymbolDb<'data> {
    pub fn global(&self, id: GlobalId) -> &Global<'data> {
        &self.globals[id.0 as usize]
    }

    pub fn object(&self, id: FileId) -> &LoadedObject<'data> {
        &self.objects[id.0 as usize]
    }

    /// Whether an object belongs to a base generation (reused text of an earlier image).
    pub fn is_base(&self, id: FileId) -> bool {
        self.object(id).generation < self.newest
    }

    pub fn name(&self, id: GlobalId) -> String {
        String::from_utf8_lossy(self.global(id).name).into_owned()
    }

    /// Makes `name` a linker-defined global; an object must not define it too.
    pub fn define_synthetic(&mut self, name: &'data [u8], synthetic: Synthetic) -> Result<GlobalId> {
        let id = match self.lookup(name) {
            Some(id) => id,
            None => {
                let key = NameKey::new(name, GLOBAL_SCOPE);
                let id = self.intern(key);
                let global = &mut self.globals[id.0 as usize];
                global.strong_reference = true;
                global.reference_type = elf::STT_OBJECT.0;
                id
            }
        };
        let global = &mut self.globals[id.0 as usize];
        if let Definition::Object { file, .. } = global.definition {
            return Err(Error::new(format!(
                "{}: defines `{}`, which chainlink emits itself",
                self.objects[file.0 as usize].object.name,
                String::from_utf8_lossy(name)
            )));
        }
        global.definition = Definition::Synthetic(synthetic);
        Ok(id)
    }

    /// The `STT_*` an import is given: the providing library's, else the references'.
    pub fn import_type(&self, id: GlobalId) -> u8 {
        use crate::input::shared_lib::SharedSymbolKind;
        let global = self.global(id);
        match global.definition {
            Definition::Shared { lib, index } => match self.shared[lib as usize].library.symbols[index as usize].kind {
                SharedSymbolKind::Function => elf::STT_FUNC.0,
                SharedSymbolKind::Object => elf::STT_OBJECT.0,
                SharedSymbolKind::Tls => elf::STT_TLS.0,
                SharedSymbolKind::Other => global.reference_type,
            },
            _ => global.reference_type,
        }
    }

    /// The global a name binds to outside any generation's hidden scope.
    pub fn lookup(&self, name: &[u8]) -> Option<GlobalId> {
        self.lookup_key(&NameKey::new(name, GLOBAL_SCOPE))
    }

    fn lookup_key(&self, key: &NameKey) -> Option<GlobalId> {
        lookup_in(&self.names, &self.globals, key)
    }

    /// The global for `key`, made if it is new.
    fn intern(&mut self, key: NameKey<'data>) -> GlobalId {
        let globals = &self.globals;
        let (id, new) = self.names.get_or_insert(&key, globals.len() as u32, |id| globals[id as usize].key());
        if new {
            self.globals.push(Global::new(key));
        }
        GlobalId(id)
    }
}

fn lookup_in(names: &NameTable, globals: &[Global], key: &NameKey) -> Option<GlobalId> {
    names.get(key, |id| globals[id as usize].key()).map(GlobalId)
}

struct ArchiveMember<'data> {
    name: String,
    data: &'data [u8],
    loaded: bool,
    /// Part of the newest generation's image code (see [`Resolver::load_object`]).
    image_code: bool,
}

struct Resolver<'data> {
    machine: elf::Machine,
    strip_sections: &'data [String],
    db: SymbolDb<'data>,
    archives: Vec<Vec<ArchiveMember<'data>>>,
    /// COMDAT signatures claimed so far, per generation: each generation keeps its own
    /// copy of a group (its hidden members may only bind within the generation).
    comdat_groups: FxHashMap<(&'data [u8], u32), FileId>,
    pending: VecDeque<(u32, u32)>,
    errors: Vec<Error>,
    /// `--wrap`: undefined references to a name bind to another one (name → (name, hash)).
    renames: FxHashMap<&'data [u8], (&'data [u8], u64)>,
    /// `--allow-multiple-definition`: the first strong definition wins, silently.
    allow_multiple: bool,
}

/// The globals, and each base object's global ids, as the base objects alone left them,
/// kept (only) by a link that loaded them: what a prepared base records. (The ids are
/// copied too: the end of resolution, `binding::bind_references`, rebinds some of them in
/// place, depending on what the newest generation defines.)
pub struct BaseGlobals<'data> {
    pub globals: Vec<Global<'data>>,
    pub global_ids: Vec<Vec<GlobalId>>,
    pub shadowed: usize,
}

/// The state resolution reaches after the base objects, rebuilt from an earlier link's
/// record instead of loading them: their loaded objects, the globals, the name table.
pub struct BaseState<'data> {
    pub objects: Vec<LoadedObject<'data>>,
    pub globals: Vec<Global<'data>>,
    pub names: NameTable,
    pub shadowed: usize,
}

/// A hook for an earlier link's record of the base (see `incremental::base_record`).
pub trait BaseRecord {
    /// The state after `bases` (the base objects, parsed in this link, with their
    /// generations), if the record fits them exactly; `None` loads them as usual.
    fn restore<'data>(&self, bases: Vec<(ObjectFile<'data>, u32)>) -> Option<BaseState<'data>>;
}

/// Resolves every input into a [`SymbolDb`]: the bases' generations first, oldest first,
/// then the link's own inputs as the newest generation. `base_record` restores the state
/// after the base objects instead of loading them, if it fits them; `keep_base` keeps that
/// state when they are loaded, for a new record.
pub fn resolve<'data>(
    inputs: &'data [InputFile],
    chain: &ChainPlan<'data>,
    config: &'data Config,
    machine: elf::Machine,
    base_record: Option<&dyn BaseRecord>,
    keep_base: bool,
) -> Result<SymbolDb<'data>> {
    let mut resolver = Resolver {
        machine,
        strip_sections: &config.strip_sections,
        db: SymbolDb {
            newest: chain.newest,
            objects: Vec::new(),
            globals: Vec::new(),
            names: NameTable::default(),
            shared: Vec::new(),
            shadowed: 0,
            base_globals: None,
            base_restored: false,
        },
        archives: Vec::new(),
        comdat_groups: FxHashMap::default(),
        pending: VecDeque::new(),
        errors: Vec::new(),
        renames: config
            .gnu
            .wrap
            .iter()
            .flat_map(|w| [(&w.name, &w.wrapper), (&w.real, &w.name)])
            .map(|(from, to)| (from.as_bytes(), (to.as_bytes(), name_hash(to.as_bytes()))))
            .collect(),
        allow_multiple: config.gnu.allow_multiple_definition,
    };
    let parse_bases = || -> Result<Vec<(ObjectFile<'data>, u32)>> {
        let parse = |base: &crate::chain::BaseObject<'data>| {
            Ok((ObjectFile::parse(base.display.clone(), base.data, machine)?, base.generation))
        };
        chain.base_objects.iter().map(parse).collect()
    };
    // (COMDAT groups are claimed per generation, so a restored base leaves none that the
    // newest generation could meet.)
    match base_record.and_then(|record| record.restore(parse_bases().ok()?)) {
        Some(restored) => {
            resolver.db.objects = restored.objects;
            resolver.db.globals = restored.globals;
            resolver.db.names = restored.names;
            resolver.db.shadowed = restored.shadowed;
            resolver.db.base_restored = true;
        }
        None => {
            for (object, generation) in parse_bases()? {
                resolver.load_object(object, generation, true)?;
                if let Some(error) = resolver.errors.drain(..).next() {
                    return Err(error);
                }
            }
            if keep_base && !chain.base_objects.is_empty() {
                let db = &resolver.db;
                resolver.db.base_globals = Some(BaseGlobals {
                    globals: db.globals.clone(),
                    global_ids: db.objects.iter().map(|loaded| loaded.global_ids.clone()).collect(),
                    shadowed: db.shadowed,
                });
            }
        }
    }
    // Names the command line references (`-u`, `--require-defined`, `-e`, `--defsym`
    // targets): archive members that define them are loaded.
    let gnu = &config.gnu;
    let defsym_targets = gnu.defsyms.iter().filter_map(|defsym| defsym.symbol.as_ref());
    for name in gnu.undefined.iter().chain(&gnu.require_defined).chain(&gnu.entry).chain(defsym_targets) {
        let id = resolver.intern(name.as_bytes());
        resolver.db.globals[id.0 as usize].strong_reference = true;
    }
    for (index, input) in inputs.iter().enumerate() {
        match input.kind {
            FileKind::Object => {
                let object = ObjectFile::parse(input.name.clone(), &input.data, machine)?;
                resolver.load_object(object, chain.newest, input.from_command_line)?;
            }
            FileKind::Archive => resolver.add_archive(input)?,
            FileKind::SharedLibrary => resolver.add_shared(index, input)?,
        }
        resolver.load_pending()?;
        if let Some(error) = resolver.errors.drain(..).next() {
            return Err(error);
        }
    }
    binding::bind_references(&mut resolver.db);
    crate::resolve::defsym::define(&mut resolver.db, config)?;
    resolver.finish(config.no_undefined, config.gnu.error_limit)?;
    Ok(resolver.db)
}

impl<'data> Resolver<'data> {
    fn intern(&mut self, name: &'data [u8]) -> GlobalId {
        self.db.intern(NameKey::new(name, GLOBAL_SCOPE))
    }

    fn add_archive(&mut self, input: &'data InputFile) -> Result<()> {
        let archive = object::read::archive::ArchiveFile::parse(&*input.data)
            .map_err(|e| Error::new(format!("{}: malformed archive: {e}", input.name)))?;
        let archive_index = self.archives.len() as u32;
        let mut members = Vec::new();
        for member in archive.members() {
            let member = member.map_err(|e| Error::new(format!("{}: malformed archive: {e}", input.name)))?;
            let member_name = String::from_utf8_lossy(member.name()).into_owned();
            let data =
                member.data(&*input.data).map_err(|e| Error::new(format!("{}({member_name}): {e}", input.name)))?;
            members.push(ArchiveMember {
                name: format!("{}({member_name})", input.name),
                data,
                loaded: false,
                image_code: input.from_command_line,
            });
        }
        self.archives.push(members);
        if !input.whole_archive && self.add_lazy_from_index(&archive, input, archive_index)? {
            return Ok(());
        }
        for member_index in 0..self.archives[archive_index as usize].len() {
            let member = &self.archives[archive_index as usize][member_index];
            if input.whole_archive {
                self.pending.push_back((archive_index, member_index as u32));
                continue;
            }
            if !member.data.starts_with(b"\x7fELF") {
                // Not an object (bitcode, a stray text file): it can define nothing.
                continue;
            }
            let object = ObjectFile::parse(member.name.clone(), member.data, self.machine)?;
            for index in object.first_global..object.symbols.len() {
                let symbol = object.symbol(index)?;
                if symbol.is_undefined(ENDIAN) {
                    continue;
                }
                let id = self.intern(object.symbol_name(symbol));
                let global = &mut self.db.globals[id.0 as usize];
                if global.definition == Definition::Undefined && global.lazy.is_none() {
                    global.lazy = Some((archive_index, member_index as u32));
                    if global.strong_reference {
                        self.pending.push_back((archive_index, member_index as u32));
                    }
                }
            }
        }
        Ok(())
    }

    /// Registers an archive's definitions from its symbol index (`ar s`), without parsing
    /// any member: only the members a link needs are ever read. False when the archive has
    /// no usable index (the caller then reads every member's symbol table).
    fn add_lazy_from_index(
        &mut self,
        archive: &object::read::archive::ArchiveFile<'data>,
        input: &'data InputFile,
        archive_index: u32,
    ) -> Result<bool> {
        let Ok(Some(symbols)) = archive.symbols() else { return Ok(false) };
        let members = &self.archives[archive_index as usize];
        let by_data: FxHashMap<usize, u32> =
            members.iter().enumerate().map(|(i, m)| (m.data.as_ptr() as usize, i as u32)).collect();
        let mut at_offset: FxHashMap<u64, u32> = FxHashMap::default();
        let mut lazy = Vec::new();
        for symbol in symbols {
            let Ok(symbol) = symbol else { return Ok(false) };
            let offset = symbol.offset().0;
            let member = match at_offset.get(&offset) {
                Some(&member) => member,
                None => {
                    let found = archive
                        .member(symbol.offset())
                        .ok()
                        .and_then(|m| m.data(&*input.data).ok())
                        .and_then(|data| by_data.get(&(data.as_ptr() as usize)).copied());
                    let Some(member) = found else { return Ok(false) };
                    at_offset.insert(offset, member);
                    member
                }
            };
            lazy.push((symbol.name(), member));
        }
        if lazy.is_empty() && !members.is_empty() {
            return Ok(false);
        }
        for (name, member) in lazy {
            let id = self.intern(name);
            let global = &mut self.db.globals[id.0 as usize];
            if global.definition == Definition::Undefined && global.lazy.is_none() {
                global.lazy = Some((archive_index, member));
                if global.strong_reference {
                    self.pending.push_back((archive_index, member));
                }
            }
        }
        Ok(true)
    }

    fn add_shared(&mut self, input_index: usize, input: &'data InputFile) -> Result<()> {
        let library =
            shared_lib::parse_shared_library(&input.data, self.machine).map_err(|e| e.context(input.name.clone()))?;
        let lib = self.db.shared.len() as u32;
        for (index, symbol) in library.symbols.iter().enumerate() {
            let id = self.intern(symbol.name);
            let global = &mut self.db.globals[id.0 as usize];
            if global.definition == Definition::Undefined {
                global.definition = Definition::Shared { lib, index: index as u32 };
            }
        }
        self.db.shared.push(SharedInput { input: input_index, library, as_needed: input.as_needed });
        Ok(())
    }

    fn load_pending(&mut self) -> Result<()> {
        while let Some((archive, member)) = self.pending.pop_front() {
            let member = &mut self.archives[archive as usize][member as usize];
            if member.loaded {
                continue;
            }
            member.loaded = true;
            let image_code = member.image_code;
            let object = ObjectFile::parse(member.name.clone(), member.data, self.machine)?;
            self.load_object(object, self.db.newest, image_code)?;
        }
        Ok(())
    }

    /// Loads one object of `generation`. In a chained link, the hidden names of a
    /// generation's `image_code` (a base's text; an object or archive named on the command
    /// line) are scoped to that generation; those of the link's support files (C runtime
    /// files, `-l` libraries) stay global, as in any link (see `binding`).
    fn load_object(&mut self, object: ObjectFile<'data>, generation: u32, image_code: bool) -> Result<()> {
        let file = FileId(self.db.objects.len() as u32);
        let scoped = image_code && self.db.newest > 0;
        let mut discarded = self.claim_comdat_groups(&object, file, generation)?;
        let stripped = self.strip_sections_of(&object, generation, &mut discarded);
        let mut global_ids = Vec::with_capacity(object.symbols.len().saturating_sub(object.first_global));
        // Decode and hash every global first, in parallel: big objects have hundreds of
        // thousands; the loop below then only does what must be sequential.
        let decoded: Vec<Result<GlobalSymbol>> = (object.first_global..object.symbols.len())
            .into_par_iter()
            .with_min_len(4096)
            .map(|index| GlobalSymbol::decode(&object, index))
            .collect();
        let globals = &self.db.globals;
        self.db.names.reserve(decoded.len(), |id| globals[id as usize].key());
        for (index, decoded) in (object.first_global..object.symbols.len()).zip(decoded) {
            let symbol = decoded?;
            let (name, hash) = match self.renames.get(symbol.name) {
                Some(&renamed) if symbol.undefined => renamed,
                _ => (symbol.name, symbol.hash),
            };
            if name == b"__gnu_lto_slim" {
                return Err(Error::new(format!(
                    "{}: a GCC LTO object (built with -flto and no machine code): link-time optimisation is not supported; \
                     compile without -flto, or with -ffat-lto-objects",
                    object.name
                )));
            }
            // A generation's hidden names mean something only inside that generation.
            let hidden = symbol.visibility == elf::STV_HIDDEN.0 || symbol.visibility == elf::STV_INTERNAL.0;
            let scope = if scoped && hidden { generation } else { GLOBAL_SCOPE };
            let id = self.db.intern(NameKey { hash, name, scope });
            global_ids.push(id);
            if symbol.bind == elf::STB_LOCAL {
                return Err(Error::new(format!(
                    "{}: local symbol `{}` after the first global (sh_info)",
                    object.name,
                    String::from_utf8_lossy(name)
                )));
            }
            let weak = symbol.bind == elf::STB_WEAK;
            let section = symbol.section;
            let global = &mut self.db.globals[id.0 as usize];
            global.visibility = most_constraining(global.visibility, symbol.visibility);

            let in_discarded = section.is_some_and(|s| discarded[s]);
            if let Some(s) = section.filter(|&s| stripped[s]) {
                global.stripped_definition.get_or_insert((file, s as u32));
            }
            if symbol.undefined || in_discarded {
                if global.reference_type == elf::STT_NOTYPE.0 {
                    global.reference_type = symbol.st_type;
                }
                if !weak {
                    global.strong_reference = true;
                    if global.definition == Definition::Undefined {
                        if let Some(lazy) = global.lazy.take() {
                            self.pending.push_back(lazy);
                        }
                        // A hidden reference may bind to a library's definition (global).
                        if scope != GLOBAL_SCOPE {
                            self.pull_global(NameKey { hash: symbol.hash, name, scope: GLOBAL_SCOPE });
                        }
                    }
                }
                continue;
            }
            if !weak {
                global.strong_reference = true;
            }
            let this = Definition::Object { file, index: index as u32 };
            // A newer generation's definition replaces an older one, whatever its strength.
            // (`other` may be this very object, not yet in the list: same generation.)
            if let Definition::Object { file: other, .. } = global.definition {
                let other_generation = self.db.objects.get(other.0 as usize).map_or(generation, |o| o.generation);
                if other_generation < generation {
                    global.definition = Definition::Undefined;
                    global.common = None;
                    global.weak_definition = false;
                    self.db.shadowed += 1;
                }
            }
            if symbol.common {
                let (size, align) = (symbol.size, symbol.value.max(1));
                match (global.definition, global.common) {
                    (Definition::Object { .. }, Some((old_size, old_align))) => {
                        global.common = Some((old_size.max(size), old_align.max(align)));
                    }
                    (Definition::Object { .. }, None) if !global.weak_definition => {}
                    _ => {
                        global.definition = this;
                        global.common = Some((size, align));
                        global.weak_definition = false;
                    }
                }
                continue;
            }
            match global.definition {
                Definition::Object { file: other, .. } => {
                    let replace = !weak && (global.common.is_some() || global.weak_definition);
                    if replace {
                        global.definition = this;
                        global.weak_definition = false;
                        global.common = None;
                    } else if !weak && !global.weak_definition && global.common.is_none() && !self.allow_multiple {
                        let other_name = self
                            .db
                            .objects
                            .get(other.0 as usize)
                            .map_or(object.name.clone(), |o| o.object.name.clone());
                        self.errors.push(Error::new(format!(
                            "duplicate symbol `{}`: defined in {} and in {}",
                            String::from_utf8_lossy(name),
                            other_name,
                            object.name
                        )));
                    }
                }
                _ => {
                    global.definition = this;
                    global.weak_definition = weak;
                    global.common = None;
                    global.lazy = None;
                }
            }
        }
        let locals = decode_locals(&object);
        self.db
            .objects
            .push(LoadedObject::new(object, generation, image_code, global_ids, discarded, stripped, locals));
        Ok(())
    }

    /// Which sections of a base generation's object are stripped (`--strip-section`, the
    /// uniqueness section); they are discarded too. A newest-generation object keeps all.
    fn strip_sections_of(&self, object: &ObjectFile, generation: u32, discarded: &mut [bool]) -> Vec<bool> {
        let mut stripped = vec![false; object.sections.len()];
        if generation < self.db.newest {
            for (index, strip) in stripped.iter_mut().enumerate().skip(1) {
                let name = object.section_name(index);
                if self.strip_sections.iter().any(|s| s.as_bytes() == name) {
                    *strip = true;
                    discarded[index] = true;
                }
            }
        }
        stripped
    }

    /// Keeps the first object's copy of each COMDAT group; returns which sections of this
    /// object are dropped because an earlier object already supplied their group.
    fn claim_comdat_groups(&mut self, object: &ObjectFile<'data>, file: FileId, generation: u32) -> Result<Vec<bool>> {
        let mut discarded = vec![false; object.sections.len()];
        for (index, section) in object.sections.enumerate() {
            let Some((flags, members)) = section.group(ENDIAN, object.data)? else {
                continue;
            };
            discarded[index.0] = true; // the group section itself is never output
            if flags.0 & elf::GRP_COMDAT.0 == 0 {
                continue;
            }
            let signature_symbol = object.symbol(section.sh_info(ENDIAN) as usize)?;
            let signature = object.symbol_name(signature_symbol);
            let keep = *self.comdat_groups.entry((signature, generation)).or_insert(file) == file;
            if !keep {
                for member in members {
                    let member = member.get(ENDIAN) as usize;
                    if member >= discarded.len() {
                        return Err(Error::new(format!(
                            "{}: COMDAT group `{}` names invalid section {member}",
                            object.name,
                            String::from_utf8_lossy(signature)
                        )));
                    }
                    discarded[member] = true;
                }
            }
        }
        Ok(discarded)
    }

    /// Queues the archive member that would define the global-scope `key`, if nothing does.
    fn pull_global(&mut self, key: NameKey<'data>) {
        if let Some(id) = self.db.lookup_key(&key) {
            let global = &mut self.db.globals[id.0 as usize];
            if global.definition == Definition::Undefined {
                if let Some(lazy) = global.lazy.take() {
                    self.pending.push_back(lazy);
                }
            }
        }
    }

    /// Linker-defined names; then every undefined symbol that is an error, all reported
    /// together (`undefined.rs`).
    fn finish(&mut self, no_undefined: bool, error_limit: usize) -> Result<()> {
        for global in &mut self.db.globals {
            if global.definition == Definition::Undefined {
                if let Some(synthetic) = synthetic_for(global.name) {
                    global.definition = Definition::Synthetic(synthetic);
                    global.visibility = elf::STV_HIDDEN.0;
                }
            }
        }
        let referenced = self.referenced_globals();
        let mut undefined: Vec<(GlobalId, &str, String)> = Vec::new();
        for (id, global) in self.db.globals.iter().enumerate() {
            if global.definition == Definition::Undefined && global.stripped_definition.is_some() {
                // Reported by the relocation scan, which knows where the reference is.
                continue;
            }
            if !referenced[id] || global.definition != Definition::Undefined {
                if referenced[id]
                    && matches!(global.definition, Definition::Shared { .. })
                    && global.visibility != elf::STV_DEFAULT.0
                    && global.visibility != elf::STV_PROTECTED.0
                {
                    undefined.push((
                        GlobalId(id as u32),
                        "non-default visibility symbol is not defined here",
                        String::new(),
                    ));
                }
                continue;
            }
            // A hidden weak reference nothing defines is simply zero (see `is_null_weak`).
            if global.visibility != elf::STV_DEFAULT.0
                && global.visibility != elf::STV_PROTECTED.0
                && global.strong_reference
            {
                let why = self.invisible_definition(GlobalId(id as u32)).unwrap_or_default();
                undefined.push((GlobalId(id as u32), "undefined hidden symbol", why));
                continue;
            }
            if no_undefined && global.strong_reference {
                let why = self.invisible_definition(GlobalId(id as u32)).unwrap_or_default();
                undefined.push((GlobalId(id as u32), "undefined symbol", why));
                continue;
            }
            // Most likely a mistake in a chained link, yet a valid import: say so.
            if self.db.newest > 0 && self.invisible_definition(GlobalId(id as u32)).is_some() {
                let warning = self.undefined_error(GlobalId(id as u32), "reference becomes a dynamic import:");
                eprintln!("chainlink: warning: {warning}");
            }
        }
        match undefined.is_empty() {
            true => Ok(()),
            false => Err(crate::resolve::undefined::error(&self.db, &undefined, error_limit)),
        }
    }

    /// Names that some loaded object mentions as undefined (not just a library's export).
    fn referenced_globals(&self) -> Vec<bool> {
        let mut referenced = vec![false; self.db.globals.len()];
        for object in &self.db.objects {
            for (i, id) in object.global_ids.iter().enumerate() {
                if let Ok(symbol) = object.object.symbol(object.object.first_global + i) {
                    if symbol.is_undefined(ENDIAN) {
                        referenced[id.0 as usize] = true;
                    }
                }
            }
        }
        referenced
    }

    /// The error for global `id`, naming its first reference: the relocation (object,
    /// section, offset) when there is one, else the object.
    fn undefined_error(&self, id: GlobalId, what: &str) -> Error {
        let name = self.db.name(id);
        let user = self.db.objects.iter().find_map(|loaded| {
            let object = &loaded.object;
            let symbol = loaded.global_ids.iter().enumerate().find_map(|(i, g)| {
                let index = object.first_global + i;
                (*g == id && object.symbol(index).ok()?.is_undefined(ENDIAN)).then_some(index as u32)
            })?;
            let place = (1..object.sections.len()).find_map(|section| {
                let rela = object.relocations(section).iter().find(|rela| rela_parts(rela).1 == symbol)?;
                Some(object.locate(section, rela_parts(rela).0))
            });
            Some(place.unwrap_or_else(|| object.name.clone()))
        });
        let why = self.invisible_definition(id).unwrap_or_default();
        match user {
            Some(user) => Error::new(format!("{user}: {what} `{name}`{why}")),
            None => Error::new(format!("{what} `{name}`{why}")),
        }
    }

    /// Why a name some generation defines is not visible to an unbound reference: only a
    /// newer generation defines it hidden.
    fn invisible_definition(&self, id: GlobalId) -> Option<String> {
        let name = self.db.global(id).name;
        let newer = (0..=self.db.newest).rev().find_map(|generation| {
            let scoped = self.db.lookup_key(&NameKey::new(name, generation))?;
            matches!(self.db.global(scoped).definition, Definition::Object { .. }).then_some(generation)
        })?;
        Some(format!(
            " (generation {newer} defines it hidden, and a generation never sees a newer generation's hidden names)"
        ))
    }
}

/// `STV_INTERNAL` (1) < `STV_HIDDEN` (2) < `STV_PROTECTED` (3) < `STV_DEFAULT` (0).
fn most_constraining(a: u8, b: u8) -> u8 {
    let rank = |v: u8| if v == elf::STV_DEFAULT.0 { 4 } else { v };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

fn synthetic_for(name: &[u8]) -> Option<Synthetic> {
    Some(match name {
        b"_GLOBAL_OFFSET_TABLE_" => Synthetic::GlobalOffsetTable,
        b"_DYNAMIC" => Synthetic::Dynamic,
        b"__GNU_EH_FRAME_HDR" => Synthetic::EhFrameHdr,
        b"__ehdr_start" => Synthetic::ElfHeader,
        b"_TLS_MODULE_BASE_" => Synthetic::TlsModuleBase,
        b"__preinit_array_start" => Synthetic::ArrayStart(ArrayKind::PreInit),
        b"__preinit_array_end" => Synthetic::ArrayEnd(ArrayKind::PreInit),
        b"__init_array_start" => Synthetic::ArrayStart(ArrayKind::Init),
        b"__init_array_end" => Synthetic::ArrayEnd(ArrayKind::Init),
        b"__fini_array_start" => Synthetic::ArrayStart(ArrayKind::Fini),
        b"__fini_array_end" => Synthetic::ArrayEnd(ArrayKind::Fini),
        _ if name.starts_with(b"__start_") && is_c_identifier(&name[8..]) => Synthetic::SectionStart,
        _ if name.starts_with(b"__stop_") && is_c_identifier(&name[7..]) => Synthetic::SectionStop,
        _ => return None,
    })
}

pub fn is_c_identifier(name: &[u8]) -> bool {
    !name.is_empty() && !name[0].is_ascii_digit() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The section a `__start_`/`__stop_` symbol brackets.
pub fn bracketed_section(name: &[u8]) -> &[u8] {
    name.strip_prefix(b"__start_").or_else(|| name.strip_prefix(b"__stop_")).unwrap_or(name)
}
