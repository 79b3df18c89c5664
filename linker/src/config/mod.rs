//! What the caller asks the linker to do. Plain data: filled in by the CLI (or a test),
//! read by every phase, never changed after the link starts.

pub mod remap;
pub mod table_names;
pub mod version_script;

use std::ffi::OsString;
use std::path::PathBuf;

/// One positional item of the command line, in order. Flags that change how later inputs
/// are read (`--whole-archive`, `--as-needed`) are items too, as they are for ld.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputArg {
    /// An object, archive, shared library or linker script named by path.
    File(PathBuf),
    /// `-l NAME`: searched for on the library path.
    Library(String),
    WholeArchive(bool),
    AsNeeded(bool),
    /// `-Bstatic` (true) / `-Bdynamic`: whether `-l` finds only archives.
    StaticOnly(bool),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub output: PathBuf,
    pub inputs: Vec<InputArg>,
    pub library_paths: Vec<PathBuf>,
    pub soname: Option<String>,
    pub rpaths: Vec<String>,
    /// Do not add the C runtime files and libraries that `cc -shared` adds.
    pub nostdlib: bool,
    /// The compiler driver asked for the C runtime's locations.
    pub cc: OsString,
    /// Undefined symbols are errors instead of dynamic imports (`-z defs`).
    pub no_undefined: bool,
    /// Pack relative relocations as `DT_RELR` (`-z pack-relative-relocs`).
    pub pack_relative_relocs: bool,
    /// Ask the dynamic loader to bind every symbol at load time (`-z now`).
    pub bind_now: bool,
    /// Bind default-visibility definitions locally (`-Bsymbolic`).
    pub symbolic: bool,
    /// Worker threads (1 to [`MAX_THREADS`], at most [`threads_worth_starting`] started);
    /// `None` uses every available core.
    pub threads: Option<usize>,
    /// Print how long each phase took.
    pub print_timing: bool,
    /// Report what the link did (shadowed definitions, stripped sections, ...).
    pub verbose: bool,
    /// Write phase times and counts as JSON here.
    pub stats_json: Option<PathBuf>,
    /// Leave out the static symbol table (`-s`).
    pub strip_all: bool,
    /// Do not read or write the output cache.
    pub no_cache: bool,
    /// The cache's location (else `$CHAINLINK_CACHE_DIR`, `$XDG_CACHE_HOME/chainlink`, ...).
    pub cache_dir: Option<PathBuf>,
    /// Bound on the cache's size in bytes.
    pub cache_max_size: u64,
    /// Link again from scratch and fail if the result differs from the cached or
    /// multi-threaded one.
    pub verify_determinism: bool,
    /// Previous images' archives, oldest first. Each holds one or more generations.
    pub bases: Vec<PathBuf>,
    /// Directories where a base named without a directory is looked for, after the working
    /// directory and before `$CHAINLINK_BASE_PATH` (`--base-path`; see `base_search`).
    pub base_paths: Vec<PathBuf>,
    /// Sections removed from every base generation's text (the uniqueness sections).
    pub strip_sections: Vec<String>,
    /// Archive members that hold an image's data rather than its code; dropped from bases.
    pub data_members: Vec<String>,
    /// Also write an archive that can serve as `--base` for the next generation.
    pub emit_archive: Option<PathBuf>,
    /// Names of the dispatch-table symbols read from units and of the emitted directory.
    pub table_names: table_names::TableNames,
    /// GNU ld's options beyond what `cc -shared` needs (the ld front end fills them).
    pub gnu: GnuOptions,
    /// `--remap-path-prefix FROM=TO`, in order (the last matching rule wins).
    pub remap_path_prefix: Vec<remap::PathRemap>,
}

/// Options with GNU ld's meaning: what is exported and how it binds, section garbage
/// collection, the linker's own sections' forms, and side outputs. `Default` is what
/// `chainlink link` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GnuOptions {
    /// `--version-script` (every file's nodes, in order).
    pub version_script: Option<crate::config::version_script::VersionScript>,
    /// `--dynamic-list`: exported symbols that stay preemptible; every other definition
    /// binds here.
    pub dynamic_list: Option<Vec<crate::config::version_script::Pattern>>,
    /// `--export-dynamic-symbol`: definitions kept preemptible (and exported) whatever
    /// `-Bsymbolic` or a dynamic list say.
    pub export_dynamic_symbols: Vec<crate::config::version_script::Pattern>,
    /// `-Bsymbolic-functions`: function definitions bind here.
    pub symbolic_functions: bool,
    /// `--exclude-libs`: archives whose members' definitions are not exported.
    pub exclude_libs: ExcludeLibs,
    /// `--gc-sections`, and `--print-gc-sections` (report each section dropped).
    pub gc_sections: bool,
    pub print_gc_sections: bool,
    /// `--strip-debug` (`-S`; `-s` implies it): no `.debug_*` sections.
    pub strip_debug: bool,
    /// `--discard-all` (`-x`): no local symbols in `.symtab`.
    pub discard_locals: bool,
    pub build_id: BuildId,
    pub hash_style: HashStyle,
    /// `--compress-debug-sections`.
    pub compress_debug: Option<Compression>,
    /// `-Map FILE` (`-` is standard output, for `-M`).
    pub map_file: Option<std::path::PathBuf>,
    /// `--defsym NAME=EXPRESSION`, in order.
    pub defsyms: Vec<Defsym>,
    /// `-u NAME`: references that pull archive members (and keep sections with `--gc-sections`).
    pub undefined: Vec<String>,
    /// `--require-defined NAME`: as `-u`, and an error if nothing defines it.
    pub require_defined: Vec<String>,
    /// `--wrap NAME`: undefined `NAME` binds to `__wrap_NAME`, `__real_NAME` to `NAME`.
    pub wrap: Vec<Wrap>,
    /// `-e NAME`: the ELF entry point.
    pub entry: Option<String>,
    /// `-init NAME` / `-fini NAME`: the functions `DT_INIT` and `DT_FINI` name.
    pub init: String,
    pub fini: String,
    /// `-z execstack` (true) / `-z noexecstack`; `None`: executable only when an input
    /// object lacks a `.note.GNU-stack` section or marks it executable (GNU ld's rule).
    pub exec_stack: Option<bool>,
    /// `-z stack-size=N`: `PT_GNU_STACK`'s size.
    pub stack_size: u64,
    /// `-z notext`: dynamic relocations in read-only sections allowed (`DT_TEXTREL`).
    pub text_relocations: bool,
    /// `-z relro` (default) / `-z norelro`: a `PT_GNU_RELRO` segment.
    pub relro: bool,
    /// `-z max-page-size`: segments start on multiples of it, and it is their `p_align`.
    pub max_page_size: u64,
    /// `--enable-new-dtags` (default): `DT_RUNPATH`; else `DT_RPATH`.
    pub new_dtags: bool,
    /// `--allow-multiple-definition` / `-z muldefs`: the first definition wins.
    pub allow_multiple_definition: bool,
    /// `--no-undefined-version`: a version script's exact name nothing defines is an error.
    pub no_undefined_version: bool,
    /// `-z nodelete`, `-z nodlopen`, `-z origin`, `-z initfirst`, `-z interpose`,
    /// `-z global`: `DF_1_*` bits (and `DF_ORIGIN`).
    pub flags_1: u64,
    /// `--trace` (`-t`): print every input file and archive member linked.
    pub trace: bool,
    /// How many undefined symbols an error lists (`--error-limit`; 0: all).
    pub error_limit: usize,
}

impl Default for GnuOptions {
    fn default() -> GnuOptions {
        GnuOptions {
            version_script: None,
            dynamic_list: None,
            export_dynamic_symbols: Vec::new(),
            symbolic_functions: false,
            exclude_libs: ExcludeLibs::None,
            gc_sections: false,
            print_gc_sections: false,
            strip_debug: false,
            discard_locals: false,
            build_id: BuildId::Tree,
            hash_style: HashStyle::Gnu,
            compress_debug: None,
            map_file: None,
            defsyms: Vec::new(),
            undefined: Vec::new(),
            require_defined: Vec::new(),
            wrap: Vec::new(),
            entry: None,
            init: "_init".to_string(),
            fini: "_fini".to_string(),
            exec_stack: None,
            stack_size: 0,
            text_relocations: false,
            relro: true,
            max_page_size: 0x1000,
            new_dtags: true,
            allow_multiple_definition: false,
            no_undefined_version: false,
            flags_1: 0,
            trace: false,
            error_limit: 20,
        }
    }
}

impl GnuOptions {
    /// Options whose effect is beside the output (a map file, messages) or never the same
    /// twice (a random build id): a link with them is always done, never a cache hit.
    pub fn needs_a_real_link(&self) -> bool {
        self.map_file.is_some() || self.trace || self.print_gc_sections || self.build_id == BuildId::Uuid
    }
}

/// `--exclude-libs`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExcludeLibs {
    #[default]
    None,
    /// `ALL`: every archive.
    All,
    /// Archive file names (`libfoo.a`).
    Named(Vec<String>),
}

/// `--build-id=STYLE`: how long the `NT_GNU_BUILD_ID` note is and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BuildId {
    /// `--build-id=none`: no note.
    None,
    /// chainlink's digest of the output (see `write::BuildIdRecord`), 8 bytes (`fast`).
    Fast,
    /// The same digest, 16 bytes (`md5`: the length GNU ld's md5 style has).
    Md5,
    /// The same digest, 20 bytes (`sha1`, `tree`, and `--build-id` alone).
    Tree,
    /// 16 random bytes (`uuid`).
    Uuid,
    /// `0xHEX`: these bytes.
    Hex(Vec<u8>),
}

impl BuildId {
    /// The note's descriptor length (0: no note).
    pub fn note_len(&self) -> usize {
        match self {
            BuildId::None => 0,
            BuildId::Fast => 8,
            BuildId::Md5 | BuildId::Uuid => 16,
            BuildId::Tree => 20,
            BuildId::Hex(bytes) => bytes.len(),
        }
    }

    /// Whether the note holds a digest of the output.
    pub fn is_digest(&self) -> bool {
        matches!(self, BuildId::Fast | BuildId::Md5 | BuildId::Tree)
    }
}

/// `--hash-style`: which symbol hash tables the output has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashStyle {
    /// `.hash` (`DT_HASH`).
    Sysv,
    /// `.gnu.hash` (`DT_GNU_HASH`).
    Gnu,
    Both,
}

impl HashStyle {
    pub fn sysv(self) -> bool {
        self != HashStyle::Gnu
    }

    pub fn gnu(self) -> bool {
        self != HashStyle::Sysv
    }
}

/// `--compress-debug-sections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    Zlib,
    Zstd,
}

/// `--wrap NAME`'s names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Wrap {
    pub name: String,
    /// `__wrap_NAME`: what undefined references to `NAME` bind to.
    pub wrapper: String,
    /// `__real_NAME`: an undefined reference to it binds to `NAME`.
    pub real: String,
}

impl Wrap {
    pub fn new(name: &str) -> Wrap {
        Wrap { name: name.to_string(), wrapper: format!("__wrap_{name}"), real: format!("__real_{name}") }
    }
}

/// `--defsym NAME=EXPRESSION`: `EXPRESSION` is a number, or a symbol plus or minus one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Defsym {
    pub name: String,
    pub symbol: Option<String>,
    pub offset: i64,
}

/// The most worker threads a link may ask for (more is a usage error).
pub const MAX_THREADS: usize = 1024;

/// The most worker threads a link starts: four per core. More only cost time to start and
/// to keep fed (a thousand threads turn a 20 ms link into seconds); the output never
/// depends on the count.
pub fn threads_worth_starting() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Julia's names for the section that ties old code to its old data.
pub const DEFAULT_STRIP_SECTIONS: &[&str] = &[".data.jl.unique", ".data.jl.sysimg_link"];
/// Julia's names for an image archive's data members (1.7–1.9 and 1.10+ layouts).
pub const DEFAULT_DATA_MEMBERS: &[&str] = &["data.o", "sysimg.o", "metadata.o"];

/// The cache's size bound when none is given (`--cache-max-size`).
pub const DEFAULT_CACHE_MAX_SIZE: u64 = 4 << 30;

impl Config {
    /// A chained link: some `--base` is given. Archives named on the command line are then
    /// image units, loaded whole, not libraries to pull members from.
    pub fn is_chained(&self) -> bool {
        !self.bases.is_empty()
    }

    pub fn new(output: PathBuf) -> Config {
        Config {
            output,
            inputs: Vec::new(),
            library_paths: Vec::new(),
            soname: None,
            rpaths: Vec::new(),
            nostdlib: false,
            cc: std::env::var_os("CHAINLINK_CC").unwrap_or_else(|| "cc".into()),
            no_undefined: false,
            pack_relative_relocs: false,
            symbolic: false,
            bind_now: false,
            threads: None,
            print_timing: false,
            verbose: false,
            stats_json: None,
            strip_all: false,
            no_cache: false,
            cache_dir: None,
            cache_max_size: DEFAULT_CACHE_MAX_SIZE,
            verify_determinism: false,
            bases: Vec::new(),
            base_paths: Vec::new(),
            strip_sections: DEFAULT_STRIP_SECTIONS.iter().map(|s| s.to_string()).collect(),
            data_members: DEFAULT_DATA_MEMBERS.iter().map(|s| s.to_string()).collect(),
            emit_archive: None,
            table_names: Default::default(),
            gnu: GnuOptions::default(),
            remap_path_prefix: Vec::new(),
        }
    }
}
