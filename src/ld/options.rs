//! GNU ld's command line, read into chainlink's `Config`.
//!
//! Spellings as GNU ld takes them: long options with one dash or two, their value after
//! `=` or as the next argument; one-letter options with the value joined (`-lfoo`,
//! `-L/dir`, `-znow`) or separate; `-z KEYWORD`. Order-sensitive options (`--as-needed`,
//! `--whole-archive`, `-Bstatic`, `--push-state`/`--pop-state`) become items among the
//! inputs. Must not contain linking logic: everything here is a mapping of text to
//! `Config`, and every error names the whole option it is about.

use super::table::{Arity, Opt, Spec, LONG, SHORT};
use chainlink_linker::config::remap::PathRemap;
use chainlink_linker::config::version_script::{self, Language, Pattern, VersionScript};
use chainlink_linker::config::{BuildId, Compression, Defsym, ExcludeLibs, HashStyle};
use chainlink_linker::{Config, InputArg};
use std::ffi::OsString;
use std::path::PathBuf;
use Arity::{Flag, Optional, Value};

/// What the command line asks for.
pub enum Action {
    /// `--version`: print it and stop.
    Version,
    Help,
    /// Link (after printing the version, for `-v`).
    Link {
        config: Box<Config>,
        print_version: bool,
    },
}

/// The positional state `--push-state` saves.
#[derive(Clone, Copy, Default)]
struct State {
    as_needed: bool,
    whole_archive: bool,
    static_only: bool,
}

struct Line {
    config: Config,
    state: State,
    saved: Vec<State>,
    group_depth: usize,
    shared: bool,
    print_version: bool,
    version: bool,
    help: bool,
    no_stdlib: bool,
    /// The first reason the link cannot be done (executables, `-r`), reported once the
    /// whole line is read: `--version` still works with it.
    refusal: Option<String>,
}

/// Reads an ld command line (after response files were expanded).
pub fn parse(args: &[OsString]) -> Result<Action, String> {
    let mut config = Config::new(PathBuf::from("a.out"));
    // The driver passes the C runtime files itself; GNU ld's defaults otherwise.
    config.nostdlib = true;
    config.gnu.build_id = BuildId::None;
    config.gnu.hash_style = HashStyle::Both;
    let mut line = Line {
        config,
        state: State::default(),
        saved: Vec::new(),
        group_depth: 0,
        shared: false,
        print_version: false,
        version: false,
        help: false,
        no_stdlib: false,
        refusal: None,
    };
    let args: Vec<String> = args
        .iter()
        .map(|arg| {
            arg.clone().into_string().map_err(|arg| format!("argument `{}` is not valid UTF-8", arg.to_string_lossy()))
        })
        .collect::<Result<_, _>>()?;
    let mut at = 0;
    while at < args.len() {
        let arg = &args[at];
        at += 1;
        if !arg.starts_with('-') || arg == "-" {
            line.config.inputs.push(InputArg::File(PathBuf::from(arg)));
            continue;
        }
        let (spec, spelled, value) = recognise(arg, &args, &mut at)?;
        if spec.opt == Opt::Unsupported {
            let key = spec.names.iter().find(|name| spelled.trim_start_matches('-').starts_with(*name));
            return Err(unsupported(key.unwrap_or(&spec.names[0]), &spelled));
        }
        line.apply(spec.opt, &spelled, value)?;
    }
    line.finish()
}

/// Finds the option `arg` spells and takes its value (from `arg` or the next argument).
fn recognise(arg: &str, args: &[String], at: &mut usize) -> Result<(&'static Spec, String, Option<String>), String> {
    let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    let double = arg.starts_with("--");
    let find = |name: &str| LONG.iter().find(|spec| spec.names.contains(&name));
    let (name, joined) = match body.split_once('=') {
        Some((name, value)) if find(name).is_some() => (name, Some(value.to_string())),
        _ => (body, None),
    };
    let mut take_value =
        |spec: &'static Spec, spelled: String| -> Result<(&'static Spec, String, Option<String>), String> {
            let value = match (spec.arity, joined.clone()) {
                (Flag, Some(_)) => return Err(format!("option `{spelled}` takes no value (in `{arg}`)")),
                (Flag, None) | (Optional, None) => None,
                (_, Some(value)) => Some(value),
                (Value, None) => {
                    let value = args.get(*at).ok_or_else(|| format!("option `{spelled}` needs a value"))?;
                    *at += 1;
                    Some(value.clone())
                }
            };
            Ok((spec, spelled, value))
        };
    if let Some(spec) = find(name) {
        let spelled = if double { format!("--{name}") } else { format!("-{name}") };
        return take_value(spec, spelled);
    }
    if !double {
        let mut chars = body.chars();
        if let Some(letter) = chars.next() {
            let rest = chars.as_str();
            let letter = letter.to_string();
            if let Some(spec) = SHORT.iter().find(|spec| spec.names.contains(&letter.as_str())) {
                let spelled = format!("-{letter}");
                match spec.arity {
                    // Errors name the whole argument (`-frobnicate` is `-f robnicate`).
                    Value if !rest.is_empty() => return Ok((spec, arg.to_string(), Some(rest.to_string()))),
                    Value => {
                        let value = args.get(*at).ok_or_else(|| format!("option `{spelled}` needs a value"))?;
                        *at += 1;
                        return Ok((spec, spelled, Some(value.clone())));
                    }
                    _ if rest.is_empty() => return Ok((spec, spelled, None)),
                    _ => {}
                }
            }
        }
    }
    Err(format!("unknown option `{arg}` (see `chainlink ld --help`)"))
}

impl Line {
    fn push(&mut self, item: InputArg) {
        self.config.inputs.push(item);
    }

    fn refuse(&mut self, why: String) {
        self.refusal.get_or_insert(why);
    }

    fn apply(&mut self, opt: Opt, spelled: &str, value: Option<String>) -> Result<(), String> {
        let value_text = value.clone().unwrap_or_default();
        match opt {
            Opt::Output => self.config.output = PathBuf::from(value_text),
            Opt::Library => {
                if value_text.is_empty() || value_text == ":" {
                    return Err(format!("option `{spelled}` needs a library name"));
                }
                self.push(InputArg::Library(value_text));
            }
            Opt::LibraryPath => self.config.library_paths.push(PathBuf::from(value_text)),
            Opt::Z => self.z_keyword(&value_text)?,
            Opt::Emulation => {
                if value_text != "elf_x86_64" {
                    return Err(format!(
                        "unsupported emulation `{spelled} {value_text}`: chainlink links x86-64 ELF (elf_x86_64)"
                    ));
                }
            }
            Opt::Soname => self.config.soname = Some(value_text),
            Opt::Rpath => {
                if spelled == "-R" && std::path::Path::new(&value_text).is_file() {
                    return Err(format!("`-R {value_text}` names a file (--just-symbols), which is not supported"));
                }
                self.config.rpaths.push(value_text);
            }
            // chainlink does not check shared libraries' own dependencies, which is what
            // GNU ld reads these directories for.
            Opt::RpathLink => {}
            Opt::Shared => self.shared = true,
            Opt::Relocatable => self.refuse(format!(
                "relocatable output (`{spelled}`) is not supported: chainlink links shared libraries only (-shared)"
            )),
            Opt::Pie => self.refuse(format!(
                "executables (`{spelled}`) are not supported: chainlink links shared libraries only (-shared)"
            )),
            Opt::Static => self.set_state(|state| state.static_only = true),
            Opt::Dynamic => self.set_state(|state| state.static_only = false),
            Opt::Symbolic => self.config.symbolic = true,
            Opt::SymbolicFunctions => self.config.gnu.symbolic_functions = true,
            Opt::NoSymbolic => {
                self.config.symbolic = false;
                self.config.gnu.symbolic_functions = false;
            }
            Opt::AsNeeded(on) => self.set_state(|state| state.as_needed = on),
            Opt::WholeArchive(on) => self.set_state(|state| state.whole_archive = on),
            Opt::PushState => self.saved.push(self.state),
            Opt::PopState => {
                let saved = self.saved.pop().ok_or_else(|| format!("`{spelled}` without a matching --push-state"))?;
                self.set_state(|state| *state = saved);
            }
            // chainlink keeps every archive's members available to every later reference
            // (as lld does): a group changes nothing, but it must be well formed.
            Opt::StartGroup => {
                if self.group_depth > 0 {
                    return Err(format!("`{spelled}`: groups may not nest"));
                }
                self.group_depth += 1;
            }
            Opt::EndGroup => {
                if self.group_depth == 0 {
                    return Err(format!("`{spelled}` without a matching --start-group"));
                }
                self.group_depth -= 1;
            }
            Opt::NoUndefined => self.config.no_undefined = true,
            Opt::AllowMultipleDefinition => self.config.gnu.allow_multiple_definition = true,
            Opt::VersionScript => {
                let text = read_list(spelled, &value_text)?;
                let script = self.config.gnu.version_script.get_or_insert_with(VersionScript::default);
                script.add(&text, &value_text).map_err(|e| e.to_string())?;
            }
            Opt::DynamicList => {
                let text = read_list(spelled, &value_text)?;
                let patterns = version_script::parse_dynamic_list(&text, &value_text).map_err(|e| e.to_string())?;
                self.config.gnu.dynamic_list.get_or_insert_with(Vec::new).extend(patterns);
            }
            // Data symbols stay preemptible, functions bind here (GNU ld's meaning).
            Opt::DynamicListData => self.config.gnu.symbolic_functions = true,
            Opt::ExportDynamicSymbol => self.config.gnu.export_dynamic_symbols.push(pattern(value_text)),
            Opt::ExportDynamicSymbolList => {
                let text = read_list(spelled, &value_text)?;
                let patterns = version_script::parse_dynamic_list(&text, &value_text).map_err(|e| e.to_string())?;
                self.config.gnu.export_dynamic_symbols.extend(patterns);
            }
            Opt::ExcludeLibs => {
                let names: Vec<String> =
                    value_text.split([',', ':']).filter(|n| !n.is_empty()).map(str::to_string).collect();
                self.config.gnu.exclude_libs = match (&self.config.gnu.exclude_libs, names.iter().any(|n| n == "ALL")) {
                    (ExcludeLibs::All, _) | (_, true) => ExcludeLibs::All,
                    (ExcludeLibs::Named(old), false) => ExcludeLibs::Named([old.clone(), names].concat()),
                    (ExcludeLibs::None, false) => ExcludeLibs::Named(names),
                };
            }
            Opt::GcSections(on) => self.config.gnu.gc_sections = on,
            Opt::PrintGcSections(on) => self.config.gnu.print_gc_sections = on,
            Opt::StripAll => {
                self.config.strip_all = true;
                self.config.gnu.strip_debug = true;
            }
            Opt::StripDebug => self.config.gnu.strip_debug = true,
            Opt::DiscardAll => self.config.gnu.discard_locals = true,
            Opt::BuildId => self.config.gnu.build_id = build_id(spelled, value.as_deref())?,
            Opt::HashStyle => {
                self.config.gnu.hash_style = match value_text.as_str() {
                    "sysv" => HashStyle::Sysv,
                    "gnu" => HashStyle::Gnu,
                    "both" => HashStyle::Both,
                    _ => return Err(bad_value(spelled, &value_text, "sysv, gnu or both")),
                }
            }
            Opt::CompressDebugSections => {
                self.config.gnu.compress_debug = match value_text.as_str() {
                    "none" => None,
                    "zlib" | "zlib-gabi" => Some(Compression::Zlib),
                    "zstd" => Some(Compression::Zstd),
                    _ => return Err(bad_value(spelled, &value_text, "none, zlib, zlib-gabi or zstd")),
                }
            }
            Opt::Map => self.config.gnu.map_file = Some(PathBuf::from(value_text)),
            Opt::PrintMap => self.config.gnu.map_file = Some(PathBuf::from("-")),
            Opt::Defsym => self.config.gnu.defsyms.push(defsym(spelled, &value_text)?),
            Opt::Undefined => self.config.gnu.undefined.push(value_text),
            Opt::RequireDefined => self.config.gnu.require_defined.push(value_text),
            Opt::Wrap => self.config.gnu.wrap.push(chainlink_linker::config::Wrap::new(&value_text)),
            Opt::Entry => self.config.gnu.entry = Some(value_text),
            Opt::Init => self.config.gnu.init = value_text,
            Opt::Fini => self.config.gnu.fini = value_text,
            Opt::NewDtags(on) => self.config.gnu.new_dtags = on,
            Opt::Threads => {
                let threads = value_text.parse::<usize>().ok().filter(|&n| n > 0);
                self.config.threads =
                    Some(threads.ok_or_else(|| bad_value(spelled, &value_text, "a positive number"))?);
            }
            Opt::NoThreads => self.config.threads = Some(1),
            Opt::Trace => self.config.gnu.trace = true,
            Opt::RemapPathPrefix => self.config.remap_path_prefix.push(PathRemap::parse(&value_text)?),
            Opt::Version => self.version = true,
            Opt::ShortVersion => self.print_version = true,
            Opt::Help => self.help = true,
            Opt::Verbose => {
                self.print_version = true;
                self.config.verbose = true;
            }
            Opt::ErrorLimit => {
                self.config.gnu.error_limit =
                    value_text.parse().map_err(|_| bad_value(spelled, &value_text, "a number (0: no limit)"))?;
            }
            Opt::UndefinedVersion(allowed) => self.config.gnu.no_undefined_version = !allowed,
            Opt::NoStdlib => self.no_stdlib = true,
            // The LTO plugin: GCC names it on every line; an LTO object among the inputs is
            // still a clear error (chainlink reads machine code only).
            Opt::LtoPlugin => {}
            Opt::Flavor => {
                if value_text != "gnu" {
                    return Err(bad_value(spelled, &value_text, "gnu"));
                }
            }
            Opt::Sysroot => {
                if value_text != "/" && !value_text.is_empty() {
                    return Err(format!("`{spelled}={value_text}`: a sysroot other than `/` is not supported"));
                }
            }
            Opt::OutputFormat | Opt::InputFormat => {
                if !matches!(value_text.as_str(), "elf64-x86-64" | "default") {
                    return Err(bad_value(spelled, &value_text, "elf64-x86-64"));
                }
            }
            Opt::Icf => {
                if value_text != "none" {
                    return Err(format!(
                        "`{spelled}={value_text}`: identical code folding is not supported (only none)"
                    ));
                }
            }
            Opt::SortSection => {
                if !matches!(value_text.as_str(), "name" | "alignment") {
                    return Err(bad_value(spelled, &value_text, "name or alignment"));
                }
            }
            Opt::OptimiseLevel => {
                if value_text.parse::<u32>().is_err() {
                    return Err(bad_value(spelled, &value_text, "a number"));
                }
            }
            Opt::Unsupported => unreachable!("refused before"),
            Opt::Ignored | Opt::IgnoredValue | Opt::IgnoredOptional => {}
        }
        Ok(())
    }

    fn set_state(&mut self, change: impl FnOnce(&mut State)) {
        let before = self.state;
        change(&mut self.state);
        let after = self.state;
        if before.as_needed != after.as_needed {
            self.push(InputArg::AsNeeded(after.as_needed));
        }
        if before.whole_archive != after.whole_archive {
            self.push(InputArg::WholeArchive(after.whole_archive));
        }
        if before.static_only != after.static_only {
            self.push(InputArg::StaticOnly(after.static_only));
        }
    }

    fn z_keyword(&mut self, keyword: &str) -> Result<(), String> {
        let gnu = &mut self.config.gnu;
        let number = |text: &str| -> Result<u64, String> {
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.map_err(|_| format!("`-z {keyword}`: `{text}` is not a number"))
        };
        match keyword.split_once('=') {
            Some(("max-page-size", size)) => {
                let size = number(size)?;
                if !size.is_power_of_two() || !(0x1000..=0x1000_0000).contains(&size) {
                    return Err(format!("`-z {keyword}`: the page size must be a power of two from 4K to 256M"));
                }
                gnu.max_page_size = size;
            }
            Some(("common-page-size", size)) => {
                number(size)?;
            }
            Some(("stack-size", size)) => gnu.stack_size = number(size)?,
            Some(("start-stop-visibility", "protected" | "hidden" | "internal" | "default")) => {}
            _ => match keyword {
                "defs" => self.config.no_undefined = true,
                "undefs" => self.config.no_undefined = false,
                "now" => self.config.bind_now = true,
                "lazy" => self.config.bind_now = false,
                "pack-relative-relocs" => self.config.pack_relative_relocs = true,
                "nopack-relative-relocs" => self.config.pack_relative_relocs = false,
                "execstack" => gnu.exec_stack = Some(true),
                "noexecstack" => gnu.exec_stack = Some(false),
                "relro" => gnu.relro = true,
                "norelro" => gnu.relro = false,
                "text" => gnu.text_relocations = false,
                "notext" | "textoff" => gnu.text_relocations = true,
                "muldefs" => gnu.allow_multiple_definition = true,
                "nodelete" => gnu.flags_1 |= 0x8,
                "nodlopen" => gnu.flags_1 |= 0x40,
                "origin" => gnu.flags_1 |= 0x80,
                "initfirst" => gnu.flags_1 |= 0x20,
                "interpose" => gnu.flags_1 |= 0x400,
                "global" => gnu.flags_1 |= 0x2,
                "nodefaultlib" => gnu.flags_1 |= 0x800,
                // What chainlink does anyway (code in a segment of its own, one `.rela.dyn`),
                // or what matters to executables only.
                "separate-code"
                | "noseparate-code"
                | "combreloc"
                | "nocombreloc"
                | "copyreloc"
                | "nocopyreloc"
                | "noextern-protected-data"
                | "dynamic-undefined-weak"
                | "nodynamic-undefined-weak"
                | "start-stop-gc"
                | "nostart-stop-gc"
                | "nognustack" => {}
                _ => return Err(format!("unknown or unsupported `-z {keyword}`")),
            },
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Action, String> {
        if self.help {
            return Ok(Action::Help);
        }
        if self.version {
            return Ok(Action::Version);
        }
        let has_inputs = self.config.inputs.iter().any(|i| matches!(i, InputArg::File(_) | InputArg::Library(_)));
        if self.print_version && !has_inputs {
            return Ok(Action::Version);
        }
        if let Some(why) = self.refusal {
            return Err(why);
        }
        if self.group_depth > 0 {
            return Err("--start-group without a matching --end-group".into());
        }
        if !self.shared {
            return Err("this line links an executable (no -shared): chainlink links shared libraries only; \
                 pass -shared, or use another linker for executables"
                .into());
        }
        if !has_inputs {
            return Err("no input files".into());
        }
        if !self.no_stdlib {
            // GNU ld's own search directories, after every -L (SEARCH_DIR in its script).
            let defaults = chainlink_linker::input::libsearch::GNU_LD_SEARCH_DIRS;
            self.config.library_paths.extend(defaults.iter().map(PathBuf::from).filter(|dir| dir.is_dir()));
        }
        Ok(Action::Link { config: Box::new(self.config), print_version: self.print_version })
    }
}

fn pattern(text: String) -> Pattern {
    let literal = !text.contains(['*', '?', '[']);
    Pattern { text, language: Language::C, literal }
}

fn read_list(spelled: &str, path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("`{spelled} {path}`: cannot read {path}: {e}"))
}

fn bad_value(spelled: &str, value: &str, expected: &str) -> String {
    format!("`{spelled}={value}`: expected {expected}")
}

/// Why option `key` (its first name) cannot be honoured, naming it as `spelled`.
fn unsupported(key: &str, spelled: &str) -> String {
    let why = match key {
        "T" | "script" => {
            "linker scripts are not supported (chainlink lays sections out as GNU ld's default script does)"
        }
        "q" | "emit-relocs" => "keeping relocations in the output is not supported",
        "gdb-index" => ".gdb_index is not supported",
        "cref" => "cross-reference tables are not supported",
        "y" => "symbol tracing is not supported",
        "F" | "f" | "filter" | "auxiliary" => "filter libraries are not supported",
        "copy-dt-needed-entries" | "add-needed" => "following DT_NEEDED of shared libraries is not supported",
        "no-eh-frame-hdr" => "chainlink always writes .eh_frame_hdr",
        _ => "not supported by chainlink",
    };
    format!("option `{spelled}`: {why}")
}

fn build_id(spelled: &str, value: Option<&str>) -> Result<BuildId, String> {
    Ok(match value {
        None | Some("sha1") | Some("tree") => BuildId::Tree,
        Some("none") => BuildId::None,
        Some("fast") => BuildId::Fast,
        Some("md5") => BuildId::Md5,
        Some("uuid") => BuildId::Uuid,
        Some(hex) if hex.starts_with("0x") || hex.starts_with("0X") => {
            let digits: String = hex[2..].chars().filter(|&c| c != '-' && c != ':').collect();
            if digits.is_empty() || !digits.len().is_multiple_of(2) || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad_value(spelled, hex, "an even number of hexadecimal digits after 0x"));
            }
            let bytes = (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap_or(0));
            BuildId::Hex(bytes.collect())
        }
        Some(other) => return Err(bad_value(spelled, other, "none, fast, md5, sha1, tree, uuid or 0xHEX")),
    })
}

/// `NAME=EXPRESSION`: a number (decimal, `0x` hexadecimal), or a symbol with an optional
/// `+ N` / `- N`.
fn defsym(spelled: &str, text: &str) -> Result<Defsym, String> {
    let bad = || format!("`{spelled} {text}`: expected NAME=NUMBER or NAME=SYMBOL[+-NUMBER]");
    let (name, expression) = text.split_once('=').ok_or_else(bad)?;
    let (name, expression) = (name.trim(), expression.trim());
    if name.is_empty() || expression.is_empty() {
        return Err(bad());
    }
    let number = |text: &str| -> Option<i64> {
        let text = text.trim();
        match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as i64),
            None => text.parse().ok(),
        }
    };
    if let Some(value) = number(expression) {
        return Ok(Defsym { name: name.to_string(), symbol: None, offset: value });
    }
    let (symbol, offset) = match expression.find(['+', '-']) {
        Some(at) => {
            let offset = number(&expression[at + 1..]).ok_or_else(bad)?;
            (&expression[..at], if &expression[at..at + 1] == "-" { offset.wrapping_neg() } else { offset })
        }
        None => (expression, 0),
    };
    let symbol = symbol.trim();
    if symbol.is_empty() || symbol.contains(|c: char| c.is_whitespace() || "()*/&|".contains(c)) {
        return Err(bad());
    }
    Ok(Defsym { name: name.to_string(), symbol: Some(symbol.to_string()), offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Result<Config, String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args)? {
            Action::Link { config, .. } => Ok(*config),
            _ => Err("not a link".into()),
        }
    }

    #[test]
    fn gccs_line() {
        let config = line(&[
            "-plugin",
            "/usr/lib/gcc/x86_64-linux-gnu/12/liblto_plugin.so",
            "-plugin-opt=/usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper",
            "-plugin-opt=-fresolution=/tmp/cc.res",
            "--build-id",
            "--eh-frame-hdr",
            "-m",
            "elf_x86_64",
            "--hash-style=gnu",
            "--as-needed",
            "-shared",
            "-o",
            "b.so",
            "crti.o",
            "-L/usr/lib/gcc/x86_64-linux-gnu/12",
            "a.o",
            "-lgcc",
            "--push-state",
            "--as-needed",
            "-lgcc_s",
            "--pop-state",
            "-lc",
        ])
        .unwrap();
        assert_eq!(config.output, PathBuf::from("b.so"));
        assert_eq!(config.gnu.build_id, BuildId::Tree);
        assert_eq!(config.gnu.hash_style, HashStyle::Gnu);
        assert!(config.nostdlib);
        assert_eq!(
            config.inputs,
            vec![
                InputArg::AsNeeded(true),
                InputArg::File("crti.o".into()),
                InputArg::File("a.o".into()),
                InputArg::Library("gcc".into()),
                InputArg::Library("gcc_s".into()),
                InputArg::Library("c".into()),
            ]
        );
        assert_eq!(config.library_paths[0], PathBuf::from("/usr/lib/gcc/x86_64-linux-gnu/12"));
    }

    #[test]
    fn spellings() {
        let config = line(&[
            "-shared",
            "-soname=libx.so.1",
            "--rpath",
            "/a",
            "-rpath=/b",
            "-R",
            "/c",
            "-lfoo",
            "-l",
            "bar",
            "-l:libz.so.1",
            "--library=baz",
            "-znow",
            "-z",
            "defs",
            "-Bstatic",
            "-lq",
            "-Bdynamic",
            "--whole-archive",
            "x.a",
            "--no-whole-archive",
            "-O1",
            "--sort-section=name",
            "--threads=3",
            "-flavor",
            "gnu",
            "--export-dynamic-symbol",
            "api_*",
            "--exclude-libs=libm.a:libq.a",
            "--defsym=alias=target+0x10",
            "--defsym",
            "ONE=1",
            "-Map=out.map",
            "--build-id=0xdeadBEEF",
            "-zmax-page-size=0x10000",
            "-z",
            "noexecstack",
            "--disable-new-dtags",
        ])
        .unwrap();
        assert_eq!(config.soname.as_deref(), Some("libx.so.1"));
        assert_eq!(config.rpaths, vec!["/a", "/b", "/c"]);
        assert!(config.bind_now && config.no_undefined);
        assert_eq!(config.threads, Some(3));
        assert_eq!(
            config.inputs,
            vec![
                InputArg::Library("foo".into()),
                InputArg::Library("bar".into()),
                InputArg::Library(":libz.so.1".into()),
                InputArg::Library("baz".into()),
                InputArg::StaticOnly(true),
                InputArg::Library("q".into()),
                InputArg::StaticOnly(false),
                InputArg::WholeArchive(true),
                InputArg::File("x.a".into()),
                InputArg::WholeArchive(false),
            ]
        );
        let gnu = &config.gnu;
        assert_eq!(gnu.exclude_libs, ExcludeLibs::Named(vec!["libm.a".into(), "libq.a".into()]));
        assert_eq!(gnu.defsyms[0], Defsym { name: "alias".into(), symbol: Some("target".into()), offset: 16 });
        assert_eq!(gnu.defsyms[1], Defsym { name: "ONE".into(), symbol: None, offset: 1 });
        assert_eq!(gnu.build_id, BuildId::Hex(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(gnu.max_page_size, 0x10000);
        assert_eq!(gnu.exec_stack, Some(false));
        assert!(!gnu.new_dtags);
        assert_eq!(gnu.map_file, Some(PathBuf::from("out.map")));
    }

    #[test]
    fn errors_name_the_whole_option() {
        for (args, expected) in [
            (&["-shared", "-qrobnicate", "a.o"][..], "unknown option `-qrobnicate`"),
            (&["-shared", "-frobnicate", "a.o"], "option `-frobnicate`: filter libraries"),
            (&["-shared", "--frobnicate=1", "a.o"], "unknown option `--frobnicate=1`"),
            (&["-shared", "a.o", "-o"], "option `-o` needs a value"),
            (&["-shared", "a.o", "--version-script"], "option `--version-script` needs a value"),
            (&["-shared", "a.o", "--gc-sections=yes"], "option `--gc-sections` takes no value"),
            (&["-shared", "a.o", "-z", "frob"], "`-z frob`"),
            (&["-shared", "a.o", "--hash-style=fancy"], "`--hash-style=fancy`"),
            (&["a.o", "-o", "exe"], "no -shared"),
            (&["-r", "a.o"], "relocatable output"),
            (&["-pie", "a.o"], "executables (`-pie`)"),
            (&["-shared", "-T", "x.ld", "a.o"], "option `-T`: linker scripts"),
            (&["-shared", "-m", "elf_i386", "a.o"], "elf_i386"),
            (&["-shared", "--pop-state", "a.o"], "--pop-state"),
            (&["-shared", "--start-group", "a.o"], "--start-group"),
            (&["-shared", "--version-script=/nonexistent.map", "a.o"], "cannot read /nonexistent.map"),
            (&["-shared"], "no input files"),
        ] {
            let error = line(args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn version_and_help() {
        let parsed = |args: &[&str]| parse(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert!(matches!(parsed(&["--version"]), Ok(Action::Version)));
        assert!(matches!(parsed(&["-v"]), Ok(Action::Version)));
        assert!(matches!(parsed(&["-o", "a.out", "--version", "crt1.o"]), Ok(Action::Version)));
        assert!(matches!(parsed(&["--help"]), Ok(Action::Help)));
        assert!(matches!(parsed(&["-v", "-shared", "a.o"]), Ok(Action::Link { print_version: true, .. })));
    }
}
