//! Phase 1: find every input file, map it into memory and say what kind it is.
//!
//! Expands `-l` names through the library path, follows GNU ld linker scripts, and adds the
//! C runtime files `cc -shared` would add. Produces mapped bytes only; parsing ELF and
//! archive contents is for the phases that use them.

pub mod eh_frame;
pub mod libsearch;
pub mod object_file;
pub mod shared_lib;

use crate::config::{Config, InputArg};
use crate::util::error::{Context, Error, Result};
use crate::util::mapping;
use libsearch::{ScriptInput, Toolchain};
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Object,
    Archive,
    SharedLibrary,
}

/// One mapped input, with the command-line state that applied where it was named.
pub struct InputFile {
    /// The name used in messages: the path as the user (or a linker script) gave it.
    pub name: String,
    pub path: PathBuf,
    pub kind: FileKind,
    pub data: Mmap,
    /// The open file behind `data`: its fingerprint, and blocked reads for hashing.
    pub file: File,
    /// Record `DT_NEEDED` only if a symbol is taken from this shared library.
    pub as_needed: bool,
    /// Load every archive member, not just the ones that define a needed symbol.
    pub whole_archive: bool,
    /// Named as a file on the command line (not found through `-l`, a script or the
    /// compiler): part of the newest generation's recorded members.
    pub from_command_line: bool,
    /// A `--base` archive: its members are recorded in the manifest too.
    pub is_base: bool,
}

impl InputFile {
    /// The file name without directories: what `DT_NEEDED` records for a library
    /// without `DT_SONAME`, and how provenance names a member without build paths.
    /// Whether the output's manifest records this file's members with their hashes.
    pub fn recorded_in_manifest(&self) -> bool {
        self.from_command_line || self.is_base
    }

    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

struct Loader {
    search_dirs: Vec<PathBuf>,
    files: Vec<InputFile>,
    whole_archive: bool,
    as_needed: bool,
    /// `-Bstatic`: `-l` finds archives only.
    static_only: bool,
    /// Archives named on the command line are image units (chained links): load all members.
    archives_whole: bool,
    scripts: Vec<(String, Vec<u8>)>,
}

/// Maps every input the link will read, in command-line order.
/// Every input the link reads, and the linker scripts that named some of them (which the
/// output cache must key on too: a script's `AS_NEEDED` changes the output).
pub struct Loaded {
    pub files: Vec<InputFile>,
    pub scripts: Vec<(String, Vec<u8>)>,
}

pub fn load_inputs(config: &Config) -> Result<Loaded> {
    let toolchain = if config.nostdlib {
        None
    } else {
        Some(Toolchain::discover(&config.cc).context(|| "while asking the C compiler for its runtime files")?)
    };
    let mut search_dirs = config.library_paths.clone();
    if let Some(toolchain) = &toolchain {
        search_dirs.extend(toolchain.library_dirs.iter().cloned());
    }
    let mut loader = Loader {
        search_dirs,
        files: Vec::new(),
        whole_archive: false,
        as_needed: false,
        static_only: false,
        archives_whole: config.is_chained(),
        scripts: Vec::new(),
    };

    let runtime_file = |name: &str| -> Result<PathBuf> {
        let toolchain = toolchain.as_ref().expect("only called with a toolchain");
        toolchain.find_file(name).context(|| {
            format!("cannot find the C runtime file {name} in the compiler's library directories (use -nostdlib to link without it)")
        })
    };
    if toolchain.is_some() {
        loader.add_path(&runtime_file("crti.o")?, 0)?;
        loader.add_path(&runtime_file("crtbeginS.o")?, 0)?;
    }
    for arg in &config.inputs {
        loader.add_arg(arg)?;
    }
    if toolchain.is_some() {
        // What `cc -shared` appends: libgcc for helpers, libgcc_s only if used, libc.
        loader.whole_archive = false;
        loader.as_needed = false;
        loader.add_library("gcc", 0)?;
        loader.as_needed = true;
        loader.add_library("gcc_s", 0)?;
        loader.as_needed = false;
        loader.add_library("c", 0)?;
        loader.add_path(&runtime_file("crtendS.o")?, 0)?;
        loader.add_path(&runtime_file("crtn.o")?, 0)?;
    }
    Ok(Loaded { files: loader.files, scripts: loader.scripts })
}

/// Linker scripts may name each other; this bounds the nesting, and the number of scripts
/// read, so that a loop or a fan-out (scripts naming other scripts several times over) is
/// an error rather than a hang.
const MAX_SCRIPT_DEPTH: usize = 16;
const MAX_SCRIPTS: usize = 1024;

impl Loader {
    fn add_arg(&mut self, arg: &InputArg) -> Result<()> {
        match arg {
            InputArg::File(path) => {
                let first = self.files.len();
                self.add_path(path, 0)?;
                for file in &mut self.files[first..] {
                    file.from_command_line = true;
                    file.whole_archive |= self.archives_whole && file.kind == FileKind::Archive;
                }
                Ok(())
            }
            InputArg::Library(name) => self.add_library(name, 0),
            InputArg::WholeArchive(on) => {
                self.whole_archive = *on;
                Ok(())
            }
            InputArg::AsNeeded(on) => {
                self.as_needed = *on;
                Ok(())
            }
            InputArg::StaticOnly(on) => {
                self.static_only = *on;
                Ok(())
            }
        }
    }

    fn add_library(&mut self, name: &str, depth: usize) -> Result<()> {
        let path =
            crate::input::libsearch::find_library(name, &self.search_dirs, self.static_only).ok_or_else(|| {
                let kind = if self.static_only { " (-Bstatic: archives only)" } else { "" };
                Error::new(format!(
                    "cannot find library -l{name}{kind} (searched: {})",
                    display_dirs(&self.search_dirs)
                ))
            })?;
        self.add_path(&path, depth)
    }

    fn add_path(&mut self, path: &Path, depth: usize) -> Result<()> {
        let name = path.to_string_lossy().into_owned();
        let (file, data) = mapping::map_file(path).context(|| name.clone())?;
        let kind = if data.starts_with(b"\x7fELF") {
            elf_kind(&data).context(|| name.clone())?
        } else if data.starts_with(b"!<arch>\n") {
            FileKind::Archive
        } else if data.starts_with(b"!<thin>\n") {
            return Err(Error::new(format!("{name}: thin archives are not supported")));
        } else if data.starts_with(b"BC\xc0\xde") || data.starts_with(b"\xde\xc0\x17\x0b") {
            return Err(Error::new(format!(
                "{name}: LLVM bitcode (an -flto object): link-time optimisation is not supported; compile without -flto"
            )));
        } else if crate::input::libsearch::looks_like_linker_script(&data) {
            return self.add_script(path, &data, depth).context(|| format!("while reading linker script {name}"));
        } else {
            return Err(Error::new(format!("{name}: not an ELF object, archive or linker script")));
        };
        self.files.push(InputFile {
            name,
            path: path.to_path_buf(),
            kind,
            data,
            file,
            as_needed: self.as_needed,
            whole_archive: self.whole_archive,
            from_command_line: false,
            is_base: false,
        });
        Ok(())
    }

    fn add_script(&mut self, path: &Path, data: &[u8], depth: usize) -> Result<()> {
        if depth >= MAX_SCRIPT_DEPTH {
            return Err(Error::new(format!(
                "linker scripts nest more than {MAX_SCRIPT_DEPTH} deep (a script names itself?)"
            )));
        }
        if self.scripts.len() >= MAX_SCRIPTS {
            return Err(Error::new(format!(
                "the link reads more than {MAX_SCRIPTS} linker scripts (scripts name each other in a loop?)"
            )));
        }
        let text = std::str::from_utf8(data).map_err(|_| Error::new("not valid UTF-8"))?;
        self.scripts.push((path.to_string_lossy().into_owned(), data.to_vec()));
        let saved_as_needed = self.as_needed;
        for entry in crate::input::libsearch::parse_linker_script(text, path)? {
            self.as_needed = saved_as_needed || entry.as_needed;
            match entry.input {
                ScriptInput::Library(name) => self.add_library(&name, depth + 1)?,
                ScriptInput::Path(file) => {
                    let file = self.locate_script_file(&file);
                    self.add_path(&file, depth + 1)?
                }
            }
        }
        self.as_needed = saved_as_needed;
        Ok(())
    }

    /// A bare file name in a script (`GROUP ( libgcc_s.so.1 )`) is looked up on the library
    /// path when it is not found as given, as ld does.
    fn locate_script_file(&self, file: &Path) -> PathBuf {
        if file.is_absolute() || file.exists() {
            return file.to_path_buf();
        }
        self.search_dirs
            .iter()
            .map(|dir| dir.join(file))
            .find(|candidate| candidate.exists())
            .unwrap_or_else(|| file.to_path_buf())
    }
}

/// Maps the `--base` archives, oldest first (a bare name found by `base_search`).
pub fn load_bases(config: &Config) -> Result<Vec<InputFile>> {
    let search = crate::chain::base_search::BaseSearch::new(&config.base_paths);
    config
        .bases
        .iter()
        .map(|named| {
            let path = &search.find(named)?;
            let name = path.to_string_lossy().into_owned();
            let (file, data) = mapping::map_file(path).context(|| name.clone())?;
            if !data.starts_with(b"!<arch>\n") {
                return Err(Error::new(format!("{name}: a --base must be an image archive (ar format)")));
            }
            Ok(InputFile {
                name,
                path: path.clone(),
                kind: FileKind::Archive,
                data,
                file,
                as_needed: false,
                whole_archive: true,
                from_command_line: false,
                is_base: true,
            })
        })
        .collect()
}

/// The input and offset that hold `bytes`, when they lie inside one of `files`' mappings.
/// Found by halving when `files` are in address order (see [`by_address`]), else by a
/// search of them all.
pub fn source_of<'a>(files: &[&'a InputFile], bytes: &[u8]) -> Option<(&'a InputFile, u64)> {
    let start = bytes.as_ptr() as usize;
    let holds = |input: &'a InputFile| {
        let base = input.data.as_ptr() as usize;
        (start >= base && start + bytes.len() <= base + input.data.len()).then_some((input, (start - base) as u64))
    };
    let candidate = files.partition_point(|input| input.data.as_ptr() as usize <= start).checked_sub(1);
    candidate.and_then(|at| holds(files[at])).or_else(|| files.iter().find_map(|&input| holds(input)))
}

/// Sorts inputs by the address of their mapping, for [`source_of`] (asked per chunk of
/// the output and per member hashed).
pub fn by_address(files: &mut [&InputFile]) {
    files.sort_by_key(|input| input.data.as_ptr() as usize);
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.to_string_lossy().into_owned()).collect::<Vec<_>>().join(":")
}

/// Distinguishes relocatable objects from shared libraries by `e_type`; other ELF files
/// (executables, core files) cannot be linked.
fn elf_kind(data: &[u8]) -> Result<FileKind> {
    if data.len() < 18 {
        return Err(Error::new("truncated ELF header"));
    }
    let e_type = u16::from_le_bytes([data[16], data[17]]);
    match e_type {
        t if t == object::elf::ET_REL.0 => Ok(FileKind::Object),
        t if t == object::elf::ET_DYN.0 => Ok(FileKind::SharedLibrary),
        _ => Err(Error::new(format!(
            "unsupported ELF file type {e_type} (expected a relocatable object or shared library)"
        ))),
    }
}
