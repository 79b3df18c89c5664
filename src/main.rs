//! The `chainlink` command: parses arguments, runs the library, reports and sets exit codes.
//!
//! Exit codes: 0 success, 1 link error, 2 usage error. Must not contain linking logic.

mod detach;
mod huge_blocks;
mod ld;
mod signals;

#[global_allocator]
static ALLOCATOR: huge_blocks::HugeBlocks = huge_blocks::HugeBlocks;

use chainlink_linker::{say, Config, InputArg};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;
use std::process::ExitCode;

fn cli() -> Command {
    let link = Command::new("link")
        .about("Link ELF objects and archives into an x86-64 shared library")
        .arg(
            Arg::new("output").short('o').long("output").value_name("OUT").required(true).help("Output shared library"),
        )
        .arg(Arg::new("soname").long("soname").value_name("NAME").help("Record DT_SONAME"))
        .arg(
            Arg::new("library-path")
                .short('L')
                .long("library-path")
                .value_name("DIR")
                .action(ArgAction::Append)
                .help("Add a directory to the library search path"),
        )
        .arg(
            Arg::new("library")
                .short('l')
                .long("library")
                .value_name("NAME")
                .action(ArgAction::Append)
                .help("Link libNAME.so or libNAME.a from the library search path"),
        )
        .arg(Arg::new("rpath").long("rpath").value_name("PATH").action(ArgAction::Append).help("Record DT_RUNPATH"))
        .arg(
            Arg::new("whole-archive")
                .long("whole-archive")
                .action(ArgAction::Append)
                .num_args(0)
                .default_missing_value("1")
                .help("Load every member of the archives that follow"),
        )
        .arg(
            Arg::new("no-whole-archive")
                .long("no-whole-archive")
                .action(ArgAction::Append)
                .num_args(0)
                .default_missing_value("1"),
        )
        .arg(
            Arg::new("as-needed")
                .long("as-needed")
                .action(ArgAction::Append)
                .num_args(0)
                .default_missing_value("1")
                .help("Record DT_NEEDED only for libraries that supply a symbol"),
        )
        .arg(
            Arg::new("no-as-needed")
                .long("no-as-needed")
                .action(ArgAction::Append)
                .num_args(0)
                .default_missing_value("1"),
        )
        .arg(
            Arg::new("threads")
                .long("threads")
                .value_name("N")
                .value_parser(clap::value_parser!(u64).range(1..=chainlink_linker::config::MAX_THREADS as u64))
                .help("Worker threads, 1 to 1024, at most four per core started (default: all cores)"),
        )
        .arg(Arg::new("time").long("time").action(ArgAction::SetTrue).help("Print how long each phase took"))
        .arg(
            Arg::new("nostdlib")
                .long("nostdlib")
                .action(ArgAction::SetTrue)
                .help("Do not add the C runtime files and libraries `cc -shared` adds"),
        )
        .arg(
            Arg::new("shared")
                .long("shared")
                .action(ArgAction::SetTrue)
                .help("Accepted for compatibility; always implied"),
        )
        .arg(
            Arg::new("Bsymbolic")
                .long("Bsymbolic")
                .action(ArgAction::SetTrue)
                .help("Bind default-visibility definitions locally"),
        )
        .arg(Arg::new("z").short('z').value_name("KEYWORD").action(ArgAction::Append).help(
            "defs | undefs | now | lazy | pack-relative-relocs | nopack-relative-relocs | noexecstack | relro | text",
        ))
        .arg(
            Arg::new("base")
                .long("base")
                .value_name("ARCHIVE")
                .action(ArgAction::Append)
                .help("A previous image's archive whose text is reused (repeatable, oldest first)"),
        )
        .arg(base_path_arg())
        .arg(
            Arg::new("strip-section")
                .long("strip-section")
                .value_name("NAME")
                .action(ArgAction::Append)
                .help("Also strip this section from base text (default: .data.jl.unique, .data.jl.sysimg_link)"),
        )
        .arg(
            Arg::new("data-member")
                .long("data-member")
                .value_name("NAME")
                .action(ArgAction::Append)
                .help("Also treat this archive member as image data (default: data.o, sysimg.o, metadata.o)"),
        )
        .arg(
            Arg::new("emit-archive")
                .long("emit-archive")
                .value_name("PATH")
                .help("Also write an archive usable as --base for the next generation"),
        )
        .arg(
            Arg::new("table-name")
                .long("table-name")
                .value_name("KEY=NAME")
                .action(ArgAction::Append)
                .help("Rename a dispatch-table symbol: image, [shard-]{fvars,gvars}-{base,offsets,ptrs,count}"),
        )
        .arg(
            Arg::new("stats-json")
                .long("stats-json")
                .value_name("FILE")
                .help("Write phase times, sizes and counts (symbols, relocations by type, ...) as JSON"),
        )
        .arg(
            Arg::new("no-cache")
                .long("no-cache")
                .action(ArgAction::SetTrue)
                .help("Neither read nor write the cache (finished outputs and prepared bases)"),
        )
        .arg(cache_dir_arg())
        .arg(cache_max_size_arg())
        .arg(
            Arg::new("no-fork")
                .long("no-fork")
                .action(ArgAction::SetTrue)
                .help("Exit only after releasing everything the link used (by default a child links and the command exits as soon as the output is in place)"),
        )
        .arg(
            Arg::new("remap-path-prefix")
                .long("remap-path-prefix")
                .value_name("FROM=TO")
                .action(ArgAction::Append)
                .help("Rewrite source paths starting with FROM in every generation's debug information (repeatable; the last matching rule wins)"),
        )
        .arg(
            Arg::new("verify-determinism")
                .long("verify-determinism")
                .action(ArgAction::SetTrue)
                .help("Also link from scratch on one thread without the cache and fail if the bytes differ"),
        )
        .arg(Arg::new("strip-all").short('s').long("strip-all").action(ArgAction::SetTrue).help("Leave out .symtab"))
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Report what the link did (and what the cache saved)"),
        )
        .arg(
            Arg::new("inputs")
                .value_name("INPUT")
                .action(ArgAction::Append)
                .help("Objects, archives and shared libraries"),
        );
    let inspect = Command::new("inspect")
        .about("Print the chain manifest of a chainlink output library or emitted archive")
        .arg(Arg::new("file").value_name("FILE").required(true))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON"))
        .arg(Arg::new("check").long("check").action(ArgAction::SetTrue).help(
            "Find the bases FILE was built on by name and say, per generation, whether each is present and identical, present but different, or missing (exit status 1 unless all are identical)",
        ))
        .arg(base_path_arg());
    let explain = Command::new("explain")
        .about("List the units of an output or emitted archive whose dependencies changed or disappeared on new bases")
        .arg(Arg::new("file").value_name("FILE").required(true))
        .arg(
            Arg::new("base")
                .long("base")
                .value_name("ARCHIVE")
                .action(ArgAction::Append)
                .required(true)
                .help("The new base archive(s), oldest first, as a link would take them"),
        )
        .arg(base_path_arg())
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print JSON"));
    let cache = Command::new("cache")
        .about("Inspect or trim the cache of finished outputs and prepared bases")
        .arg(Arg::new("action").value_name("ACTION").required(true).value_parser(["stats", "gc", "clear"]))
        .arg(cache_dir_arg())
        .arg(cache_max_size_arg());
    Command::new("chainlink")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A fast incremental linker for chained images")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(link)
        .subcommand(inspect)
        .subcommand(explain)
        .subcommand(cache)
}

fn base_path_arg() -> Arg {
    Arg::new("base-path")
        .long("base-path")
        .value_name("DIR")
        .action(ArgAction::Append)
        .help("Where a --base named without a directory is looked for, after the working directory and before $CHAINLINK_BASE_PATH (repeatable)")
}

fn base_paths(matches: &ArgMatches) -> Vec<PathBuf> {
    matches.get_many::<String>("base-path").unwrap_or_default().map(PathBuf::from).collect()
}

fn cache_dir_arg() -> Arg {
    Arg::new("cache-dir")
        .long("cache-dir")
        .value_name("DIR")
        .help("Cache location (default: $CHAINLINK_CACHE_DIR, $XDG_CACHE_HOME/chainlink, ~/.cache/chainlink)")
}

fn cache_max_size_arg() -> Arg {
    Arg::new("cache-max-size")
        .long("cache-max-size")
        .value_name("BYTES")
        .value_parser(parse_size)
        .help("Bound on the cache's size; least recently used entries go first (default 4G)")
}

/// `123`, `64K`, `512M`, `4G`.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return Err(format!("unknown size unit `{unit}` (use K, M or G)")),
    };
    digits.parse::<u64>().map(|n| n << shift).map_err(|e| e.to_string())
}

fn cache_config(matches: &ArgMatches) -> Config {
    let mut config = Config::new(PathBuf::new());
    config.cache_dir = matches.get_one::<String>("cache-dir").map(PathBuf::from);
    if let Some(&size) = matches.get_one::<u64>("cache-max-size") {
        config.cache_max_size = size;
    }
    config
}

/// ld spells several options with one dash (`-shared`, `-soname x`); clap wants two.
/// The options `chainlink link` also takes with one dash, as ld spells them.
const SINGLE_DASH: &[&str] =
    &["-shared", "-nostdlib", "-soname", "-rpath", "-Bsymbolic", "-whole-archive", "-no-whole-archive"];

fn normalise_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.map(|arg| {
        if SINGLE_DASH.contains(&arg.as_str()) {
            format!("-{arg}")
        } else if let Some(value) = arg.strip_prefix("-soname=") {
            format!("--soname={value}")
        } else {
            arg
        }
    })
    .collect()
}

/// The positional inputs and the order-sensitive flags, in command-line order.
fn ordered_inputs(matches: &ArgMatches) -> Vec<InputArg> {
    let mut items: Vec<(usize, InputArg)> = Vec::new();
    let mut collect = |id: &str, make: &dyn Fn(&str) -> InputArg| {
        if let (Some(indices), Some(values)) = (matches.indices_of(id), matches.get_raw(id)) {
            for (index, value) in indices.zip(values) {
                items.push((index, make(&value.to_string_lossy())));
            }
        }
    };
    collect("inputs", &|v| InputArg::File(PathBuf::from(v)));
    collect("library", &|v| InputArg::Library(v.to_string()));
    for (id, item) in [
        ("whole-archive", InputArg::WholeArchive(true)),
        ("no-whole-archive", InputArg::WholeArchive(false)),
        ("as-needed", InputArg::AsNeeded(true)),
        ("no-as-needed", InputArg::AsNeeded(false)),
    ] {
        if let Some(indices) = matches.indices_of(id) {
            items.extend(indices.map(|index| (index, item.clone())));
        }
    }
    items.sort_by_key(|(index, _)| *index);
    items.into_iter().map(|(_, item)| item).collect()
}

fn config_from(matches: &ArgMatches) -> Result<Config, String> {
    let mut config = Config::new(matches.get_one::<String>("output").expect("required").into());
    config.inputs = ordered_inputs(matches);
    config.library_paths = matches.get_many::<String>("library-path").unwrap_or_default().map(PathBuf::from).collect();
    config.soname = matches.get_one::<String>("soname").cloned();
    config.rpaths = matches.get_many::<String>("rpath").unwrap_or_default().cloned().collect();
    config.nostdlib = matches.get_flag("nostdlib");
    config.symbolic = matches.get_flag("Bsymbolic");
    config.threads = matches.get_one::<u64>("threads").map(|&n| n as usize);
    config.print_timing = matches.get_flag("time");
    config.verbose = matches.get_flag("verbose");
    config.strip_all = matches.get_flag("strip-all");
    config.no_cache = matches.get_flag("no-cache");
    config.verify_determinism = matches.get_flag("verify-determinism");
    let cache = cache_config(matches);
    config.cache_dir = cache.cache_dir;
    config.cache_max_size = cache.cache_max_size;
    config.stats_json = matches.get_one::<String>("stats-json").map(PathBuf::from);
    config.bases = matches.get_many::<String>("base").unwrap_or_default().map(PathBuf::from).collect();
    config.base_paths = base_paths(matches);
    config.strip_sections.extend(matches.get_many::<String>("strip-section").unwrap_or_default().cloned());
    config.data_members.extend(matches.get_many::<String>("data-member").unwrap_or_default().cloned());
    config.emit_archive = matches.get_one::<String>("emit-archive").map(PathBuf::from);
    for setting in matches.get_many::<String>("table-name").unwrap_or_default() {
        let (key, name) =
            setting.split_once('=').ok_or_else(|| format!("--table-name wants KEY=NAME, got `{setting}`"))?;
        config.table_names.set(key, name).map_err(|e| e.to_string())?;
    }
    for rule in matches.get_many::<String>("remap-path-prefix").unwrap_or_default() {
        config.remap_path_prefix.push(chainlink_linker::config::remap::PathRemap::parse(rule)?);
    }
    for keyword in matches.get_many::<String>("z").unwrap_or_default() {
        match keyword.as_str() {
            "defs" => config.no_undefined = true,
            "undefs" => config.no_undefined = false,
            "pack-relative-relocs" => config.pack_relative_relocs = true,
            "nopack-relative-relocs" => config.pack_relative_relocs = false,
            "now" => config.bind_now = true,
            "lazy" => config.bind_now = false,
            // What chainlink always does: a non-executable stack, RELRO, no text relocations.
            "noexecstack" | "relro" | "text" => {}
            other => return Err(format!("unsupported -z option `{other}`")),
        }
    }
    if !config.inputs.iter().any(|i| matches!(i, InputArg::File(_) | InputArg::Library(_))) {
        return Err("no input files".to_string());
    }
    Ok(config)
}

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Called as `ld` (or `ld.chainlink`, `ld.lld`), or as `chainlink ld ARGS`: GNU ld's
    // command line.
    if args.first().is_some_and(|program| ld::is_ld_name(program)) {
        return ld::run(args.split_off(1));
    }
    if args.get(1).is_some_and(|sub| sub == "ld") {
        return ld::run(args.split_off(2));
    }
    let args: Vec<String> = match args.into_iter().map(std::ffi::OsString::into_string).collect() {
        Ok(args) => args,
        Err(arg) => return usage_error(&format!("argument `{}` is not valid UTF-8", arg.to_string_lossy())),
    };
    if let Some(message) = unknown_single_dash(&args) {
        return usage_error(&message);
    }
    let matches = match cli().try_get_matches_from(normalise_args(args.into_iter())) {
        Ok(matches) => matches,
        Err(error) if !error.use_stderr() => {
            // --help and --version
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // Usage errors are one line, like every other error: clap's first line, with
            // the arguments it lists on the next ones (a missing `--output <OUT>`).
            let rendered = error.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|line| !line.is_empty());
            let first = lines.next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            let listed: Vec<&str> = lines.take_while(|line| !line.starts_with("Usage:")).collect();
            let detail = if first.ends_with(':') && !listed.is_empty() {
                format!(" {}", listed.join(", "))
            } else {
                String::new()
            };
            say!("chainlink: error: {first}{detail} (see `chainlink link --help`)");
            return ExitCode::from(2);
        }
    };
    let matches = match matches.subcommand() {
        Some(("link", matches)) => matches,
        Some(("inspect", matches)) => return inspect(matches),
        Some(("explain", matches)) => return explain(matches),
        Some(("cache", matches)) => return cache_command(matches),
        _ => unreachable!("subcommand required"),
    };
    let config = match config_from(matches) {
        Ok(config) => config,
        Err(message) => {
            say!("chainlink: error: {}", chainlink_linker::util::error::one_line(&message));
            return ExitCode::from(2);
        }
    };
    run_link(&config, matches.get_flag("no-fork"))
}

/// Reports a usage error (exit code 2).
pub(crate) fn usage_error(message: &str) -> ExitCode {
    say!("chainlink: error: {}", chainlink_linker::util::error::one_line(message));
    ExitCode::from(2)
}

/// Runs a link (in a child process unless `no_fork`) and reports its outcome.
pub(crate) fn run_link(config: &Config, no_fork: bool) -> ExitCode {
    let mut parent = if no_fork { detach::Parent::none() } else { detach::fork() };
    let mut code = 0u8;
    let result = chainlink_linker::link_then(config, &mut |report| {
        report_success(config, report);
        parent.release(0);
    });
    if let Err(error) = result {
        // One line per message (several undefined symbols are several lines).
        for line in error.to_string().lines() {
            say!("chainlink: error: {line}");
        }
        code = if error.is_usage() { 2 } else { 1 };
        parent.release(code);
    }
    ExitCode::from(code)
}

/// A single-dash option of more than one letter that `chainlink link` does not know
/// (`-plugin`): clap would name only its first letter.
fn unknown_single_dash(args: &[String]) -> Option<String> {
    let link = args.iter().position(|arg| arg == "link")?;
    for arg in &args[link + 1..] {
        if arg == "--" {
            return None;
        }
        let joined_value = ["-o", "-L", "-l", "-z"].iter().any(|short| arg.starts_with(short));
        let name = arg.split('=').next().unwrap_or(arg);
        if arg.len() > 2
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && !joined_value
            && !SINGLE_DASH.contains(&name)
        {
            return Some(format!(
                "unknown option `{arg}` (see `chainlink link --help`; GNU ld's command line is `chainlink ld`)"
            ));
        }
    }
    None
}

/// Prints `--time` (`--stats-json` is the link's, written before its outputs are renamed
/// into place).
fn report_success(config: &Config, report: &chainlink_linker::report::LinkReport) {
    if config.print_timing {
        say!("{}", report.timer.report().trim_end());
        let s = &report.stats;
        say!(
            "{} threads; {} input bytes; {} relocations; {} relative + {} symbolic dynamic relocations; output {} bytes",
            s.threads,
            s.input_bytes,
            s.relocations(),
            s.dynamic_relative,
            s.dynamic_symbolic,
            s.output_bytes
        );
        let cache = &report.cache;
        if cache.enabled {
            say!("output cache: {}; {}", cache.outcome.as_str(), cache.describe_base());
        }
    }
}

/// Prints `text`; a closed standard output (`| head`) is not an error worth a panic.
fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

fn inspect(matches: &ArgMatches) -> ExitCode {
    use chainlink_linker::chain::{self, base_check};
    use chainlink_linker::input::base_search::BaseSearch;
    let path = PathBuf::from(matches.get_one::<String>("file").expect("required"));
    let manifest = match chain::read_manifest(&path) {
        Ok(manifest) => manifest,
        Err(error) => {
            say!("chainlink: error: {error}");
            return ExitCode::from(1);
        }
    };
    let json = matches.get_flag("json");
    if !matches.get_flag("check") {
        write_stdout(&if json { manifest.to_json() } else { chain::describe(&manifest) });
        return ExitCode::SUCCESS;
    }
    let search = BaseSearch::new(&base_paths(matches));
    let checks = base_check::check(&manifest, &search);
    write_stdout(&if json { base_check::to_json(&checks, &search) } else { base_check::describe(&checks) });
    if base_check::all_identical(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `chainlink explain`: exit status 0 when no unit's dependencies changed, 1 when some did
/// (or the files cannot be read).
fn explain(matches: &ArgMatches) -> ExitCode {
    use chainlink_linker::{chain::json_string, report::rebase, resolve::deps};
    let path = PathBuf::from(matches.get_one::<String>("file").expect("required"));
    let mut config = Config::new(PathBuf::new());
    config.bases = matches.get_many::<String>("base").unwrap_or_default().map(PathBuf::from).collect();
    config.base_paths = base_paths(matches);
    let explanation = match rebase::explain(&path, &config) {
        Ok(explanation) => explanation,
        Err(error) => {
            say!("chainlink: error: {error}");
            return ExitCode::from(if error.is_usage() { 2 } else { 1 });
        }
    };
    let affected = &explanation.affected;
    if matches.get_flag("json") {
        write_stdout(&format!(
            "{{\n  \"file\": {},\n  \"base_generations\": {},\n  \"units_checked\": {},\n  \"affected\": {}\n}}\n",
            json_string(&path.display().to_string()),
            explanation.base_generations,
            explanation.units_checked,
            deps::to_json(affected)
        ));
    } else {
        write_stdout(&format!(
            "{} of {} unit(s) of generation {} and newer have dependencies that changed on the new base\n{}",
            affected.len(),
            explanation.units_checked,
            explanation.base_generations,
            deps::describe(affected)
        ));
    }
    if affected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cache_command(matches: &ArgMatches) -> ExitCode {
    use chainlink_linker::incremental::cache;
    let config = cache_config(matches);
    let result = match matches.get_one::<String>("action").map(String::as_str) {
        Some("stats") => cache::stats(&config),
        Some("gc") => cache::gc(&config),
        _ => cache::clear(&config),
    };
    match result {
        Ok(text) => {
            write_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(error) => {
            say!("chainlink: error: {error}");
            ExitCode::from(if error.is_usage() { 2 } else { 1 })
        }
    }
}
