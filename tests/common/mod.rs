//! Helpers shared by the end-to-end tests: compile fixtures from `testdata/` into a private
//! temporary directory, archive them, link them with chainlink and with `cc -shared`, run
//! the result under the `testdata/loader.c` harness, and inspect it with readelf / nm.
//!
//! Fixture convention: every fixture library exports `void chainlink_test(void)`, which
//! prints everything it computed to stdout. The loader dlopen()s the library (RTLD_NOW),
//! prints `loader: loaded`, calls `chainlink_test`, prints `loader: dlclose`, dlclose()s
//! the library (running its destructors) and prints `loader: exit`. A behaviour test links
//! the same objects with `cc -shared` (the reference, which validates the fixture) and with
//! chainlink, and checks that both print exactly the output hard-coded in the test.

// Every test binary includes this module but uses only part of it.
#![allow(dead_code)]

pub mod elf;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The chainlink binary under test.
pub const CHAINLINK: &str = env!("CARGO_BIN_EXE_chainlink");

/// The path of a fixture source in `testdata/`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

/// Anything that can be one command-line argument: `&str`, `String`, `Path`, `PathBuf`.
pub trait Arg {
    fn arg(&self) -> String;
}

impl<T: AsRef<OsStr> + ?Sized> Arg for T {
    fn arg(&self) -> String {
        let os: &OsStr = self.as_ref();
        os.to_str().expect("test paths are UTF-8").to_string()
    }
}

/// Builds a `Vec<String>` of link arguments from paths and strings:
/// `args![a_o, b_o, "-lm"]`.
#[macro_export]
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        ::std::vec::Vec::<String>::from([$($crate::common::Arg::arg(&$arg)),*])
    };
}

/// A private temporary directory for one test; removed when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new().prefix("chainlink-test-").tempdir().expect("create a temporary directory");
        Scratch { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Creates (if needed) and returns a subdirectory.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(&path).expect("create a subdirectory");
        path
    }

    /// Compiles `testdata/<source>` into `<stem>.o` in the scratch directory.
    pub fn compile(&self, source: &str, flags: &[&str]) -> PathBuf {
        let stem = Path::new(source).file_stem().unwrap().to_str().unwrap();
        self.compile_to(source, &format!("{stem}.o"), flags)
    }

    /// Compiles `testdata/<source>` with `-fPIC -c` and `flags` into `object`: .c and .s
    /// with gcc, .cpp with g++.
    pub fn compile_to(&self, source: &str, object: &str, flags: &[&str]) -> PathBuf {
        let compiler = if source.ends_with(".cpp") { "g++" } else { "gcc" };
        let output = self.path(object);
        let mut command = Command::new(compiler);
        command
            .args(["-fPIC", "-Wall", "-c"])
            .arg("-I")
            .arg(testdata(""))
            .args(flags)
            .arg(testdata(source))
            .arg("-o")
            .arg(&output);
        run_ok(&mut command);
        output
    }

    /// Creates the archive `name` with `ar rcs` from `members` (in that order).
    pub fn archive(&self, name: &str, members: &[&Path]) -> PathBuf {
        let output = self.path(name);
        run_ok(Command::new("ar").arg("rcs").arg(&output).args(members));
        output
    }

    /// Writes a file into the scratch directory.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, contents).expect("write a scratch file");
        path
    }
}

/// Renders a command line for messages.
pub fn command_line(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs a command to completion, capturing its output.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|error| panic!("cannot run `{}`: {error}", command_line(command)))
}

/// Runs a command, asserts it succeeded, and returns its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    if !output.status.success() {
        panic!(
            "`{}` failed ({})\n--- stdout\n{}--- stderr\n{}",
            command_line(command),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The chainlink command, with the output cache off: tests that link the same inputs twice
/// must link twice. (tests/cache.rs turns it on with an explicit `--cache-dir`.)
pub fn chainlink() -> Command {
    let mut command = Command::new(CHAINLINK);
    command.env("CHAINLINK_NO_CACHE", "1");
    command
}

/// The command `chainlink link -o OUT ARGS...`, run in `cwd`.
pub fn chainlink_command(cwd: &Path, out: &Path, args: &[String]) -> Command {
    let mut command = chainlink();
    command.current_dir(cwd).arg("link").arg("-o").arg(out).args(args);
    command
}

/// Runs `chainlink ARGS...` (any subcommand) and returns its output.
pub fn chainlink_raw(args: &[&str]) -> Output {
    run(chainlink().args(args))
}

/// Links with chainlink (run from the output's directory) and asserts success.
pub fn link_chainlink(out: &Path, args: &[String]) -> PathBuf {
    let cwd = out.parent().unwrap();
    run_ok(&mut chainlink_command(cwd, out, args));
    out.to_path_buf()
}

/// Translates chainlink's link options into their `cc -shared` equivalents.
pub fn cc_args(args: &[String]) -> Vec<String> {
    let mut translated = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().expect("option needs a value").clone();
        match arg.as_str() {
            "--whole-archive" | "--no-whole-archive" => translated.push(format!("-Wl,{arg}")),
            "--soname" => translated.push(format!("-Wl,-soname,{}", value())),
            "--rpath" => translated.push(format!("-Wl,-rpath,{}", value())),
            "-z" => translated.push(format!("-Wl,-z,{}", value())),
            "--threads" => {
                value();
            }
            "--time" | "-shared" => {}
            "-L" | "-l" => {
                translated.push(arg.clone());
                translated.push(value());
            }
            _ => translated.push(arg.clone()),
        }
    }
    translated
}

/// Links with `cc -shared` (the reference linker) and asserts success.
pub fn link_cc(out: &Path, args: &[String]) -> PathBuf {
    let mut command = Command::new("cc");
    command.arg("-shared").arg("-o").arg(out).args(cc_args(args));
    run_ok(&mut command);
    out.to_path_buf()
}

/// The loader harness, compiled once per test process into Cargo's per-target temporary
/// directory (compiled under a unique name, then renamed into place atomically).
pub fn loader() -> &'static Path {
    static LOADER: OnceLock<PathBuf> = OnceLock::new();
    LOADER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        fs::create_dir_all(dir).expect("create CARGO_TARGET_TMPDIR");
        let temporary = dir.join(format!("loader.{}.tmp", std::process::id()));
        run_ok(
            Command::new("gcc").args(["-O1", "-Wall"]).arg(testdata("loader.c")).arg("-o").arg(&temporary).arg("-ldl"),
        );
        let path = dir.join("loader");
        fs::rename(&temporary, &path).expect("install the loader");
        path
    })
}

/// Runs `library`'s `chainlink_test` under the loader; asserts success and returns stdout.
pub fn run_loader(library: &Path) -> String {
    run_ok(Command::new(loader()).arg(library))
}

/// Runs the exported `void entry(void)` of `library` under the loader instead of
/// `chainlink_test`; asserts success and returns stdout.
pub fn run_loader_entry(library: &Path, entry: &str) -> String {
    run_ok(Command::new(loader()).arg(library).arg(entry))
}

/// The full loader output for a fixture without constructor or destructor output.
pub fn loaded(body: &str) -> String {
    format!("loader: loaded\n{body}loader: dlclose\nloader: exit\n")
}

/// `readelf -W ARGS FILE`.
pub fn readelf(args: &[&str], file: &Path) -> String {
    run_ok(Command::new("readelf").arg("-W").args(args).arg(file))
}

/// `nm ARGS FILE`.
pub fn nm(args: &[&str], file: &Path) -> String {
    run_ok(Command::new("nm").args(args).arg(file))
}

/// The names of the symbols a library defines in its dynamic symbol table
/// (`nm -D --defined-only`).
pub fn exported_symbols(file: &Path) -> Vec<String> {
    nm(&["-D", "--defined-only"], file)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

/// Panics with both texts in full if they differ.
pub fn assert_output(what: &str, actual: &str, expected: &str) {
    if actual != expected {
        let mut message = format!("{what}: output differs from the expected output\n");
        let _ = write!(message, "--- expected\n{expected}--- actual\n{actual}--- end");
        for (number, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
            if a != e {
                let _ = write!(message, "\nfirst difference at line {}:\n  expected: {e}\n  actual:   {a}", number + 1);
                break;
            }
        }
        panic!("{message}");
    }
}

/// The two libraries a behaviour test produced.
pub struct Linked {
    pub cc: PathBuf,
    pub chainlink: PathBuf,
}

/// Links `args` with `cc -shared` into `<name>-cc.so` and with chainlink into
/// `<name>-chainlink.so`, runs both under the loader and asserts that both print exactly
/// `expected`. The reference link runs first, so a fixture bug is reported as such.
pub fn assert_links_and_runs(scratch: &Scratch, name: &str, args: &[String], expected: &str) -> Linked {
    let cc = link_cc(&scratch.path(&format!("{name}-cc.so")), args);
    assert_output(
        &format!("{name}: reference library (cc -shared), i.e. the fixture or the test is wrong"),
        &run_loader(&cc),
        expected,
    );
    let chainlink = link_chainlink(&scratch.path(&format!("{name}-chainlink.so")), args);
    assert_output(&format!("{name}: chainlink-linked library"), &run_loader(&chainlink), expected);
    Linked { cc, chainlink }
}

/// The relocation types in an object file or library (`readelf -r`, every relocation
/// section), e.g. `R_X86_64_RELATIVE`, one entry per relocation.
pub fn relocation_types(file: &Path) -> Vec<String> {
    readelf(&["-r"], file)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .filter(|kind| kind.starts_with("R_X86_64_"))
        .map(str::to_string)
        .collect()
}

/// One row of `readelf -s`.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// The symbol table it came from: `.dynsym` or `.symtab`.
    pub table: String,
    pub name: String,
    pub size: u64,
    /// `FUNC`, `OBJECT`, `TLS`, `NOTYPE`, ...
    pub kind: String,
    /// `LOCAL`, `GLOBAL`, `WEAK`, `UNIQUE`.
    pub bind: String,
    /// `DEFAULT`, `HIDDEN`, `PROTECTED`, `INTERNAL`.
    pub visibility: String,
    /// Section index, or `UND` / `ABS` / `COM`.
    pub section: String,
}

/// Every symbol of both symbol tables (`readelf -s`), names without version suffixes.
pub fn symbols(file: &Path) -> Vec<Symbol> {
    let mut table = String::new();
    let mut symbols = Vec::new();
    for line in readelf(&["-s"], file).lines() {
        if let Some(rest) = line.strip_prefix("Symbol table '") {
            table = rest.split('\'').next().unwrap_or_default().to_string();
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 || !fields[0].ends_with(':') || fields[0] == "Num:" {
            continue;
        }
        let size = fields[2]
            .parse()
            .unwrap_or_else(|_| u64::from_str_radix(fields[2].trim_start_matches("0x"), 16).unwrap_or(0));
        symbols.push(Symbol {
            table: table.clone(),
            name: fields[7].split('@').next().unwrap().to_string(),
            size,
            kind: fields[3].to_string(),
            bind: fields[4].to_string(),
            visibility: fields[5].to_string(),
            section: fields[6].to_string(),
        });
    }
    symbols
}

/// The symbols named `name` in table `table` (`.dynsym` or `.symtab`).
pub fn find_symbols(symbols: &[Symbol], table: &str, name: &str) -> Vec<Symbol> {
    symbols.iter().filter(|s| s.table == table && s.name == name).cloned().collect()
}

/// Asserts that `name` is defined and exported in `library`'s dynamic symbol table with
/// the given visibility, and returns it.
pub fn assert_exported(library: &Path, name: &str, visibility: &str) -> Symbol {
    let symbols = symbols(library);
    let found = find_symbols(&symbols, ".dynsym", name);
    let symbol = found.first().unwrap_or_else(|| panic!("{}: `{name}` is not in .dynsym", library.display()));
    assert!(
        symbol.section != "UND" && (symbol.bind == "GLOBAL" || symbol.bind == "WEAK"),
        "{}: `{name}` is not defined and global in .dynsym: {symbol:?}",
        library.display()
    );
    assert_eq!(symbol.visibility, visibility, "{}: visibility of `{name}`", library.display());
    symbol.clone()
}

/// Asserts that `name` is not in `library`'s dynamic symbol table at all, and that if it
/// is in .symtab it is local there (the gABI requires hidden symbols to become local).
pub fn assert_not_exported(library: &Path, name: &str) {
    let symbols = symbols(library);
    let dynamic = find_symbols(&symbols, ".dynsym", name);
    assert!(dynamic.is_empty(), "{}: `{name}` must not be in .dynsym: {dynamic:?}", library.display());
    for symbol in find_symbols(&symbols, ".symtab", name) {
        assert_eq!(symbol.bind, "LOCAL", "{}: `{name}` in .symtab: {symbol:?}", library.display());
    }
}

/// The dynamic section's entries as (tag, value) pairs, e.g. ("NEEDED", "Shared library:
/// [libc.so.6]"), ("FLAGS", "BIND_NOW").
pub fn dynamic_entries(file: &Path) -> Vec<(String, String)> {
    readelf(&["-d"], file)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            if !line.starts_with("0x") {
                return None;
            }
            let open = line.find('(')?;
            let close = open + line[open..].find(')')?;
            Some((line[open + 1..close].to_string(), line[close + 1..].trim().to_string()))
        })
        .collect()
}

/// The libraries a file names in DT_NEEDED.
pub fn needed(file: &Path) -> Vec<String> {
    dynamic_entries(file).into_iter().filter(|(tag, _)| tag == "NEEDED").map(|(_, value)| bracketed(&value)).collect()
}

/// The text between the first `[` and the following `]`.
pub fn bracketed(value: &str) -> String {
    let start = value.find('[').map_or(0, |i| i + 1);
    let end = value[start..].find(']').map_or(value.len(), |i| start + i);
    value[start..end].to_string()
}

// Failure checks shared by the error tests of every kind of link.

pub const PREVIOUS: &[u8] = b"previous output, must survive a failed link\n";

pub fn directory_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Whether `message` contains a hexadecimal number (0x...) equal to `offset`.
pub fn mentions_offset(message: &str, offset: u64) -> bool {
    message.match_indices("0x").any(|(index, _)| {
        let digits: String = message[index + 2..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        u64::from_str_radix(&digits, 16) == Ok(offset)
    })
}

/// Runs `chainlink link -o OUT args` twice, once with no OUT and once with an existing OUT,
/// and checks: exit status `code`; a message on stderr (a single line for link errors,
/// status 1) containing every one of `needles`, and `offset` in hex if given; OUT absent
/// or unchanged; no new files in the output directory. Returns the message.
pub fn assert_link_fails(s: &Scratch, args: &[String], code: i32, needles: &[&str], offset: Option<u64>) -> String {
    let out_dir = s.subdir("out");
    let mut message = String::new();
    for existing in [false, true] {
        let out = out_dir.join(if existing { "existing.so" } else { "fresh.so" });
        if existing {
            fs::write(&out, PREVIOUS).unwrap();
        }
        let before = directory_listing(&out_dir);
        let output = run(&mut chainlink_command(s.dir(), &out, args));
        let details = describe(&output);
        assert_eq!(output.status.code(), Some(code), "expected exit status {code}:\n{details}");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let line = stderr.trim_end();
        assert!(!line.is_empty(), "no error message:\n{details}");
        if code == 1 {
            // Link errors are one line; usage errors may come with a usage summary.
            assert_eq!(line.lines().count(), 1, "the error message is not one line:\n{details}");
        }
        for needle in needles {
            assert!(line.contains(needle), "the error message does not mention `{needle}`:\n{details}");
        }
        if let Some(offset) = offset {
            assert!(mentions_offset(line, offset), "the error message does not give offset {offset:#x}:\n{details}");
        }
        if existing {
            assert_eq!(fs::read(&out).unwrap(), PREVIOUS, "a failed link changed the existing output");
        } else {
            assert!(!out.exists(), "a failed link created {}", out.display());
        }
        assert_eq!(directory_listing(&out_dir), before, "a failed link left files behind");
        message = line.to_string();
    }
    message
}

/// What the funcptr_a.c + funcptr_b.c fixture prints (function pointers in data, RELATIVE
/// or RELR relocations).
pub const FUNCPTR_OUTPUT: &str = "function pointers\n\
                                  double(7) = 14\n\
                                  square(7) = 49\n\
                                  inc(7) = 8\n\
                                  const-square(9) = 81\n\
                                  const-inc(9) = 10\n\
                                  b local ptr(5) = -5\n\
                                  reassigned(6) = -6\n\
                                  data via pointer: 1001\n\
                                  words: alpha beta gamma\n\
                                  local strings: one two three\n";

/// Generates an image with `scripts/julia_image.py` into `dir`.
pub fn generate(dir: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/julia_image.py");
    run_ok(Command::new("python3").arg(script).arg("--out").arg(dir).args(["--quiet", "--jobs", "2"]).args(args));
}

/// The test loader, built against the image's stub runtime.
pub fn jl_loader(image_dir: &Path) -> PathBuf {
    let loader = image_dir.join("jl_loader");
    run_ok(
        Command::new("cc")
            .args(["-O1", "-Wall"])
            .arg(testdata("julia/jl_loader.c"))
            .arg("-o")
            .arg(&loader)
            .arg("-ldl")
            .arg(format!("-L{}", image_dir.display()))
            .arg("-ljlstub")
            .arg(format!("-Wl,-rpath,{}", image_dir.display())),
    );
    loader
}

/// Runs the loader on `image` in the given modes and returns its summary line.
pub fn check_image(image_dir: &Path, image: &Path, modes: &[&str]) -> String {
    let loader = jl_loader(image_dir);
    let out = run_ok(Command::new(loader).arg(image).arg(image_dir.join("expected.txt")).args(modes));
    assert!(out.starts_with("jl_loader: ok:"), "{out}");
    out
}

/// Gives a file an old modification time, as a base that has sat on disk has: the cache
/// trusts (and remembers) hashes only of files older than a couple of seconds.
pub fn settle(path: &Path) {
    let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    if fs::metadata(path).unwrap().modified().unwrap() != past {
        fs::File::options().append(true).open(path).unwrap().set_modified(past).unwrap();
    }
}

/// The link command `chainlink link -o OUT --base B... NEWEST... EXTRA...`.
pub fn chained_link(out: &Path, bases: &[&Path], newest: &[&Path], extra: &[&str]) -> Command {
    let mut command = chainlink();
    command.arg("link").arg("-o").arg(out);
    for base in bases {
        command.arg("--base").arg(base);
    }
    command.args(newest).args(extra);
    command
}

/// Links `newest` onto `bases` cold (`--no-cache`) into `name`, then twice through a fresh
/// cache (the first link records the prepared base, the second, with its output entry
/// removed, relinks warm on it) and requires the warm output to be the cold one, byte for
/// byte. Returns the cold output.
pub fn assert_warm_equals_cold(s: &Scratch, name: &str, bases: &[&Path], newest: &[&Path], extra: &[&str]) -> PathBuf {
    for base in bases {
        settle(base);
    }
    let cold = s.path(name);
    run_ok(chained_link(&cold, bases, newest, extra).arg("--no-cache"));
    let cache = s.path(&format!("{name}.cache"));
    let warm = s.path(&format!("{name}.warm"));
    let stats = s.path(&format!("{name}.stats.json"));
    for round in ["records", "reuses"] {
        let _ = fs::remove_dir_all(cache.join("v1/outputs"));
        let _ = fs::remove_file(&warm);
        let mut command = chained_link(&warm, bases, newest, extra);
        run_ok(command.arg("--cache-dir").arg(&cache).arg("--stats-json").arg(&stats));
        let report = fs::read_to_string(&stats).unwrap();
        if round == "reuses" && !bases.is_empty() {
            let prepared = report.lines().find(|line| line.contains("\"prepared_base\"")).unwrap_or_default();
            assert!(prepared.contains("\"outcome\": \"hit\""), "{name}: the prepared base was not used: {prepared}");
        }
        assert!(
            fs::read(&warm).unwrap() == fs::read(&cold).unwrap(),
            "{name}: a warm link ({round}) differs from a cold one"
        );
    }
    cold
}

/// Runs a command, killing it (and failing the test) if it takes longer than `seconds`:
/// for inputs that used to hang.
pub fn run_with_timeout(command: &mut Command, seconds: u64) -> Output {
    use std::io::Read as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", command_line(command)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{}` did not finish within {seconds} s", command_line(command));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    Output { status, stdout, stderr }
}

/// A link stopped at the end of a phase (`CHAINLINK_TEST_PAUSE`, see linker/src/timing.rs)
/// until [`Paused::resume`] (or a signal).
pub struct Paused {
    pub child: std::process::Child,
    resume: PathBuf,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Paused {
    /// Starts `command` (a `chainlink link`) and waits until it has paused after `phase`;
    /// `None` if it finished (or failed) first.
    pub fn start(command: &mut Command, phase: &str, resume: &Path) -> Option<Paused> {
        use std::io::BufRead as _;
        let mut child = command
            .env("CHAINLINK_TEST_PAUSE", phase)
            .env("CHAINLINK_TEST_RESUME", resume)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start chainlink");
        let (send, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let marker = format!("chainlink: paused after {phase}");
        loop {
            match lines.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(line) if line == marker => {
                    return Some(Paused { child, resume: resume.to_path_buf(), stderr: lines })
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Lets the link go on; its exit status and the rest of its stderr.
    pub fn resume(mut self) -> (std::process::ExitStatus, String) {
        fs::write(&self.resume, b"").unwrap();
        let status = self.child.wait().unwrap();
        let rest: Vec<String> = self.stderr.iter().collect();
        let _ = fs::remove_file(&self.resume);
        (status, rest.join("\n"))
    }

    /// Sends `signal` to the command's process and waits for it to end.
    pub fn signal(mut self, signal: i32) -> std::process::ExitStatus {
        send_signal(self.child.id() as i32, signal);
        self.child.wait().unwrap()
    }
}

/// Sends `signal` to `pid`.
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill takes two integers.
    unsafe { libc::kill(pid, signal) };
}
