//! What the caller asks the linker to do. Plain data: filled in by the CLI (or a test),
//! read by every phase, never changed after the link starts.

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
    /// Sections removed from every base generation's text (the uniqueness sections).
    pub strip_sections: Vec<String>,
    /// Archive members that hold an image's data rather than its code; dropped from bases.
    pub data_members: Vec<String>,
    /// Also write an archive that can serve as `--base` for the next generation.
    pub emit_archive: Option<PathBuf>,
    /// Names of the dispatch-table symbols read from units and of the emitted directory.
    pub table_names: crate::tables::TableNames,
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

impl Config {
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
            cache_max_size: crate::cache::DEFAULT_MAX_SIZE,
            verify_determinism: false,
            bases: Vec::new(),
            strip_sections: DEFAULT_STRIP_SECTIONS.iter().map(|s| s.to_string()).collect(),
            data_members: DEFAULT_DATA_MEMBERS.iter().map(|s| s.to_string()).collect(),
            emit_archive: None,
            table_names: Default::default(),
        }
    }
}
