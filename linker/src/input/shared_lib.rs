//! Reading an ELF64 x86-64 shared library (`.so`) that the output links against.
//!
//! From a library we need only its `DT_SONAME` and the symbols it exports, each with its
//! default version. This module must not load, map or relocate anything, follow
//! `DT_NEEDED` chains, or decide how symbols resolve; it only reports what the file says.

use object::elf::{self, FileHeader64};
use object::read::elf::{Dyn, FileHeader, Sym, SymbolTable, VersionTable};
use object::read::SymbolIndex;
use object::LittleEndian;

use crate::bail;
use crate::util::error::{Context, Error, Result};

type Elf = FileHeader64<LittleEndian>;

/// Size of `e_ident` and the offsets of its class and data-encoding bytes.
const EI_NIDENT: usize = 16;
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;

/// What a shared library provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLibrary<'data> {
    /// `DT_SONAME`, if the library has one.
    pub soname: Option<&'data [u8]>,
    /// The libraries it depends on (`DT_NEEDED`), in order.
    pub needed: Vec<&'data [u8]>,
    /// Exported definitions: defined, global/weak/unique, default or protected visibility,
    /// and not hidden versions (the 0x8000 bit in `.gnu.version`). In `.dynsym` order.
    pub symbols: Vec<SharedSymbol<'data>>,
    /// Names of the versions the library defines (`.gnu.version_d`), base version excluded.
    pub version_definitions: Vec<&'data [u8]>,
}

/// A symbol a shared library exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSymbol<'data> {
    pub name: &'data [u8],
    /// The symbol's (default) version name, e.g. `GLIBC_2.14`; `None` when the symbol is
    /// unversioned or has the base/global version.
    pub version: Option<&'data [u8]>,
    pub weak: bool,
    pub kind: SharedSymbolKind,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedSymbolKind {
    /// `STT_FUNC` or `STT_GNU_IFUNC`.
    Function,
    /// `STT_OBJECT` or `STT_COMMON`.
    Object,
    /// `STT_TLS`.
    Tls,
    /// Anything else (`STT_NOTYPE`, ...).
    Other,
}

/// Parses a shared library's soname, dependencies and exported symbols.
pub fn parse_shared_library(data: &[u8], machine: elf::Machine) -> Result<SharedLibrary<'_>> {
    check_identity(data)?;
    let header = Elf::parse(data).context(|| "reading the ELF header")?;
    let endian = LittleEndian;
    let file_type = header.e_type(endian);
    if file_type != elf::ET_DYN {
        bail!("not a shared library (ELF type {}, expected ET_DYN)", file_type.0);
    }
    let file_machine = header.e_machine(endian);
    if file_machine != machine {
        bail!("wrong architecture: e_machine {} but the link is for e_machine {}", file_machine.0, machine.0);
    }
    let sections = header.sections(endian, data).context(|| "reading section headers")?;

    let mut soname = None;
    let mut needed = Vec::new();
    let dynamic = sections.dynamic_table(endian, data).context(|| "reading .dynamic")?;
    for entry in dynamic.dynamics() {
        let tag = entry.d_tag(endian);
        if tag == elf::DT_NULL {
            break;
        }
        if tag == elf::DT_SONAME || tag == elf::DT_NEEDED {
            let offset = entry.d_val(endian);
            let name = u32::try_from(offset)
                .ok()
                .and_then(|offset| dynamic.strings().get(offset).ok())
                .context(|| format!(".dynamic string offset {offset:#x} is invalid"))?;
            if tag == elf::DT_SONAME {
                soname = Some(name);
            } else {
                needed.push(name);
            }
        }
    }

    let dynsym = sections.symbols(endian, data, elf::SHT_DYNSYM).context(|| "reading .dynsym")?;
    let versions = match sections.versions(endian, data).context(|| "reading symbol versions")? {
        Some(versions) => {
            let versym_count = sections.gnu_versym(endian, data)?.map_or(0, |(versyms, _)| versyms.len());
            if versym_count != dynsym.len() {
                bail!(".gnu.version has {versym_count} entries but .dynsym has {}", dynsym.len());
            }
            Some(versions)
        }
        None => None,
    };
    let symbols = exported_symbols(&dynsym, versions.as_ref())?;
    let mut version_definitions = Vec::new();
    if let Some((mut definitions, strings_index)) =
        sections.gnu_verdef(endian, data).context(|| "reading .gnu.version_d")?
    {
        let strings = sections.strings(endian, data, strings_index).context(|| "reading .gnu.version_d names")?;
        while let Some((definition, mut names)) = definitions.next().context(|| "reading .gnu.version_d")? {
            if definition.vd_flags.get(endian).0 & elf::VER_FLG_BASE.0 != 0 {
                continue;
            }
            if let Some(name) = names.next().context(|| "reading .gnu.version_d")? {
                version_definitions.push(name.name(endian, strings).context(|| "reading .gnu.version_d names")?);
            }
        }
    }
    Ok(SharedLibrary { soname, needed, symbols, version_definitions })
}

/// Checks the identification bytes so that wrong inputs get a precise message.
fn check_identity(data: &[u8]) -> Result<()> {
    let Some(ident) = data.get(..EI_NIDENT) else {
        bail!("file is too small to be ELF ({} bytes)", data.len());
    };
    if ident.get(..4) != Some(&elf::ELFMAG[..]) {
        bail!("not an ELF file");
    }
    match ident.get(EI_CLASS).copied() {
        Some(class) if class == elf::ELFCLASS64.0 => {}
        Some(class) => bail!("not a 64-bit ELF file (class {class})"),
        None => bail!("not an ELF file"),
    }
    match ident.get(EI_DATA).copied() {
        Some(encoding) if encoding == elf::ELFDATA2LSB.0 => Ok(()),
        Some(encoding) => bail!("not a little-endian ELF file (data encoding {encoding})"),
        None => bail!("not an ELF file"),
    }
}

fn exported_symbols<'data>(
    dynsym: &SymbolTable<'data, Elf>,
    versions: Option<&VersionTable<'data, Elf>>,
) -> Result<Vec<SharedSymbol<'data>>> {
    let endian = LittleEndian;
    let mut symbols = Vec::new();
    for (index, symbol) in dynsym.enumerate().skip(1) {
        if symbol.st_shndx(endian) == elf::SHN_UNDEF {
            continue;
        }
        let bind = symbol.st_bind();
        if bind != elf::STB_GLOBAL && bind != elf::STB_WEAK && bind != elf::STB_GNU_UNIQUE {
            continue;
        }
        let visibility = symbol.st_visibility();
        if visibility != elf::STV_DEFAULT && visibility != elf::STV_PROTECTED {
            continue;
        }
        let version = match versions {
            Some(versions) => {
                let versym = versions.version_index(endian, index);
                if versym.is_hidden() {
                    continue;
                }
                version_name(versions, versym.index(), index)?
            }
            None => None,
        };
        let name = dynsym
            .symbol_name(endian, symbol)
            .map_err(|_| Error::new(format!(".dynsym symbol {} has an invalid name", index.0)))?;
        if name.is_empty() {
            continue;
        }
        let symbol_type = symbol.st_type();
        let kind = if symbol_type == elf::STT_FUNC || symbol_type == elf::STT_GNU_IFUNC {
            SharedSymbolKind::Function
        } else if symbol_type == elf::STT_OBJECT || symbol_type == elf::STT_COMMON {
            SharedSymbolKind::Object
        } else if symbol_type == elf::STT_TLS {
            SharedSymbolKind::Tls
        } else {
            SharedSymbolKind::Other
        };
        symbols.push(SharedSymbol { name, version, weak: bind == elf::STB_WEAK, kind, size: symbol.st_size(endian) });
    }
    Ok(symbols)
}

/// The name of version `version` (from `.gnu.version_d`), or `None` for the local and
/// global indices.
fn version_name<'data>(
    versions: &VersionTable<'data, Elf>,
    version: elf::VersionIndex,
    symbol: SymbolIndex,
) -> Result<Option<&'data [u8]>> {
    if version.is_special() {
        return Ok(None);
    }
    let found = versions.version(version).map_err(|_| {
        Error::new(format!(".dynsym symbol {} has version index {} with no version definition", symbol.0, version.0))
    })?;
    Ok(found.map(|version| version.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The machine chainlink links for.
    const MACHINE: elf::Machine = <crate::arch::Target as crate::arch::Arch>::MACHINE;

    fn find<'a>(library: &'a SharedLibrary<'_>, name: &str) -> Option<&'a SharedSymbol<'a>> {
        library.symbols.iter().find(|symbol| symbol.name == name.as_bytes())
    }

    #[test]
    fn parses_system_libc() {
        let data = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
        let libc = parse_shared_library(&data, MACHINE).unwrap();
        assert_eq!(libc.soname, Some(&b"libc.so.6"[..]));
        assert!(libc.needed.contains(&&b"ld-linux-x86-64.so.2"[..]));

        let memcpy = find(&libc, "memcpy").unwrap();
        assert_eq!(memcpy.version, Some(&b"GLIBC_2.14"[..]));
        assert_eq!(memcpy.kind, SharedSymbolKind::Function);
        // The old memcpy@GLIBC_2.2.5 is a hidden (non-default) version and is skipped.
        assert_eq!(libc.symbols.iter().filter(|s| s.name == b"memcpy").count(), 1);

        let printf = find(&libc, "printf").unwrap();
        assert_eq!(printf.kind, SharedSymbolKind::Function);
        assert_eq!(printf.version, Some(&b"GLIBC_2.2.5"[..]));
        assert!(!printf.weak);

        let stdout = find(&libc, "stdout").unwrap();
        assert_eq!(stdout.kind, SharedSymbolKind::Object);
        assert_eq!(stdout.size, 8);

        let errno = find(&libc, "errno").unwrap();
        assert_eq!(errno.kind, SharedSymbolKind::Tls);
        assert_eq!(errno.version, Some(&b"GLIBC_PRIVATE"[..]));

        // `strcpy` is an IFUNC; weak aliases like `fopen64` exist too.
        assert_eq!(find(&libc, "strcpy").unwrap().kind, SharedSymbolKind::Function);
        assert!(libc.symbols.iter().any(|symbol| symbol.weak));
        // Undefined imports (from ld.so) are not exports.
        assert!(find(&libc, "_dl_argv").is_none());
    }

    #[test]
    fn parses_system_libm() {
        let data = std::fs::read("/lib/x86_64-linux-gnu/libm.so.6").unwrap();
        let libm = parse_shared_library(&data, MACHINE).unwrap();
        assert_eq!(libm.soname, Some(&b"libm.so.6"[..]));
        let sin = find(&libm, "sin").unwrap();
        assert_eq!(sin.kind, SharedSymbolKind::Function);
        assert!(sin.version.is_some());
        // libm imports from libc but does not export it.
        assert!(find(&libm, "printf").is_none());
    }

    const TINY_SOURCE: &str = r#"
int foo_v1(void) { return 1; }
int foo_v2(void) { return 2; }
__asm__(".symver foo_v1,foo@VERS_1");
__asm__(".symver foo_v2,foo@@VERS_2");
int bar(void) { return 3; }
__attribute__((weak)) int weak_fn(void) { return 4; }
int data_obj[4] = { 1, 2, 3, 4 };
__thread int tls_var;
__attribute__((visibility("hidden"))) int hidden_fn(void) { return 5; }
__attribute__((visibility("protected"))) int protected_fn(void) { return 6; }
int local_fn(void) { return 7; }
extern int imported(void);
int calls_import(void) { return imported(); }
"#;

    const TINY_VERSION_SCRIPT: &str = "
VERS_1 { global: bar; weak_fn; data_obj; tls_var; protected_fn; calls_import; local: *; };
VERS_2 { } VERS_1;
";

    /// Builds a shared library from `source` with `cc -shared` and extra arguments.
    fn build_so(source: &str, version_script: Option<&str>, args: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let c_path = dir.path().join("tiny.c");
        let so_path = dir.path().join("libtiny.so");
        std::fs::write(&c_path, source).unwrap();
        let mut command = Command::new("cc");
        command.args(["-shared", "-fPIC", "-o"]).arg(&so_path).arg(&c_path).args(args);
        if let Some(script) = version_script {
            let script_path = dir.path().join("tiny.map");
            std::fs::write(&script_path, script).unwrap();
            command.arg(format!("-Wl,--version-script={}", script_path.display()));
        }
        let status = command.status().unwrap();
        assert!(status.success());
        std::fs::read(so_path).unwrap()
    }

    fn tiny_so() -> Vec<u8> {
        build_so(TINY_SOURCE, Some(TINY_VERSION_SCRIPT), &["-Wl,-soname,libtiny.so.1"])
    }

    #[test]
    fn parses_versioned_tiny_library() {
        let data = tiny_so();
        let tiny = parse_shared_library(&data, MACHINE).unwrap();
        assert_eq!(tiny.soname, Some(&b"libtiny.so.1"[..]));

        let foo: Vec<_> = tiny.symbols.iter().filter(|s| s.name == b"foo").collect();
        assert_eq!(foo.len(), 1, "only the default version of foo is exported");
        assert_eq!(foo[0].version, Some(&b"VERS_2"[..]));

        let bar = find(&tiny, "bar").unwrap();
        assert_eq!(bar.version, Some(&b"VERS_1"[..]));
        assert_eq!(bar.kind, SharedSymbolKind::Function);
        assert!(!bar.weak);
        assert!(find(&tiny, "weak_fn").unwrap().weak);

        let data_obj = find(&tiny, "data_obj").unwrap();
        assert_eq!(data_obj.kind, SharedSymbolKind::Object);
        assert_eq!(data_obj.size, 16);
        assert_eq!(find(&tiny, "tls_var").unwrap().kind, SharedSymbolKind::Tls);
        assert!(find(&tiny, "protected_fn").is_some());

        for absent in ["hidden_fn", "local_fn", "foo_v1", "foo_v2", "imported"] {
            assert!(find(&tiny, absent).is_none(), "{absent} should not be exported");
        }
    }

    #[test]
    fn parses_unversioned_library_without_soname() {
        let data = build_so("int plain(void) { return 0; }\nint plain_data = 1;\n", None, &[]);
        let library = parse_shared_library(&data, MACHINE).unwrap();
        assert_eq!(library.soname, None);
        let plain = find(&library, "plain").unwrap();
        assert_eq!(plain.version, None);
        assert_eq!(plain.kind, SharedSymbolKind::Function);
        assert_eq!(find(&library, "plain_data").unwrap().version, None);
    }

    #[test]
    fn rejects_wrong_files() {
        let error = |data: &[u8]| parse_shared_library(data, MACHINE).unwrap_err().to_string();
        assert!(error(b"").contains("too small"));
        assert!(error(b"hello, this is not an ELF file at all").contains("not an ELF"));
        let so = tiny_so();

        let mut elf32 = so.clone();
        elf32[4] = 1;
        assert!(error(&elf32).contains("64-bit"));
        let mut big_endian = so.clone();
        big_endian[5] = 2;
        assert!(error(&big_endian).contains("little-endian"));
        let mut relocatable = so.clone();
        relocatable[16] = 1; // e_type = ET_REL
        assert!(error(&relocatable).contains("ET_DYN"));
        let mut aarch64 = so.clone();
        aarch64[18] = 183; // e_machine = EM_AARCH64
        assert!(error(&aarch64).contains("wrong architecture: e_machine 183"));
    }

    #[test]
    fn truncated_or_corrupted_input_never_panics() {
        let so = tiny_so();
        // Every length up to 256 bytes, and every seventh length beyond.
        for length in (0..so.len()).step_by(7).chain(0..256) {
            let truncated = &so[..length];
            // Section headers sit at the end, so any real truncation loses them.
            assert!(parse_shared_library(truncated, MACHINE).is_err(), "length {length}");
        }
        // Deterministic pseudo-random byte corruption: any result is fine, panics are not.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut corrupted = so.clone();
            for _ in 0..(next() % 8 + 1) {
                let position = (next() % corrupted.len() as u64) as usize;
                corrupted[position] = next() as u8;
            }
            let _ = parse_shared_library(&corrupted, MACHINE);
        }
        let garbage: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        assert!(parse_shared_library(&garbage, MACHINE).is_err());
    }
}
