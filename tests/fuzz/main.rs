//! chainlink's fuzzer: links that work (seeds.rs), their files mutated (mutate.rs) —
//! objects, archives, `--base` images, emitted archives, linker scripts, and the cache's
//! own files — and linked again, in this process (the linker library called directly,
//! panics caught and classified) and, for a share of the cases, by the `chainlink`
//! command (exit codes, signals, timeouts). Every case must end in one of two ways:
//!
//! - success: an output (and, for a share of them, the same bytes linked through the
//!   cache, cold and warm, as `--no-cache` gives);
//! - one-line errors (a line per error), with the previous output (and emitted archive) exactly as it was
//!   and no file left beside it.
//!
//! A damaged cache must never fail a link nor change its bytes. Anything else — a panic,
//! a crash, a hang, a changed output, other bytes from the cache — is a bug: the case is
//! saved under `target/fuzz-failures/` with a description, and the run fails.
//!
//! `cargo test --release --test fuzz` runs the deterministic smoke (`.ci/run` does);
//! `scripts/fuzz` runs long ones (`CHAINLINK_FUZZ_CASES`, `CHAINLINK_FUZZ_SEED`,
//! `CHAINLINK_FUZZ_FIRST`, `CHAINLINK_FUZZ_WORKERS`, `CHAINLINK_FUZZ_REPORT`,
//! `CHAINLINK_FUZZ_TARGETS`, `CHAINLINK_FUZZ_COMMAND_SHARE`, `CHAINLINK_FUZZ_BIN`).

#[path = "../common/mod.rs"]
mod common;
mod mutate;
mod rng;
mod seeds;

use chainlink_linker::{Config, InputArg};
use common::Scratch;
use rng::Rng;
use seeds::{Kind, Scenario};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREVIOUS: &[u8] = b"the previous output: a failed link must leave it as it is\n";
const PREVIOUS_ARCHIVE: &[u8] = b"the previous emitted archive\n";
/// A case taking longer than this is a hang.
const HANG: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    /// Case numbers `first .. first + cases`.
    pub first: u64,
    pub cases: u64,
    pub workers: usize,
    /// One case in this many runs the command instead of the library.
    pub command_share: u64,
    pub report: Option<PathBuf>,
    /// Only these targets (`CHAINLINK_FUZZ_TARGETS=object,script`); all when empty.
    pub only: Vec<String>,
}

impl Settings {
    fn from_env(cases: u64) -> Settings {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| {
                    let v = v.trim();
                    v.strip_prefix("0x").map_or_else(|| v.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
                })
                .unwrap_or(default)
        };
        Settings {
            seed: number("CHAINLINK_FUZZ_SEED", 0x15),
            first: number("CHAINLINK_FUZZ_FIRST", 0),
            cases: number("CHAINLINK_FUZZ_CASES", cases),
            workers: number("CHAINLINK_FUZZ_WORKERS", 2) as usize,
            command_share: number("CHAINLINK_FUZZ_COMMAND_SHARE", 16).max(1),
            report: std::env::var_os("CHAINLINK_FUZZ_REPORT").map(PathBuf::from),
            only: std::env::var("CHAINLINK_FUZZ_TARGETS")
                .unwrap_or_default()
                .split(',')
                .filter(|t| !t.is_empty())
                .map(|t| t.trim().to_lowercase())
                .collect(),
        }
    }
}

/// What a case was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Target {
    Object,
    Archive,
    Script,
    Base,
    Emitted,
    Cache,
    Inspect,
    CacheCommand,
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Linked,
    /// A clean, one-line error (the previous output intact).
    Refused,
    Bug(String),
}

#[derive(Default)]
struct Tally {
    /// (target, by command) → (linked, refused)
    counts: BTreeMap<(Target, bool), (u64, u64)>,
    warm_checks: u64,
    bugs: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        for (key, (a, b)) in other.counts {
            let entry = self.counts.entry(key).or_default();
            entry.0 += a;
            entry.1 += b;
        }
        self.warm_checks += other.warm_checks;
        self.bugs.extend(other.bugs);
    }

    fn total(&self) -> u64 {
        self.counts.values().map(|(a, b)| a + b).sum::<u64>() + self.bugs.len() as u64
    }
}

/// Panic messages (with their location) since the last case, from every thread.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// How many panics were recorded so far (a case's are those after it).
fn panics_so_far() -> usize {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// The panics recorded since `start`, on one line.
fn panics_since(start: usize) -> String {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).get(start..).unwrap_or_default().join(" | ")
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(info.to_string());
    }));
}

/// The test's own standard error, kept when the process's is sent to /dev/null.
static STDERR: AtomicU64 = AtomicU64::new(2);

/// Sends the process's standard error (the linker's warnings) to /dev/null; [`say`] still
/// reaches the real one.
fn silence_stderr() {
    // SAFETY: descriptor calls on this process's own descriptors.
    unsafe {
        let saved = libc::dup(2);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if saved >= 0 && null >= 0 {
            STDERR.store(saved as u64, Ordering::Relaxed);
            libc::dup2(null, 2);
            libc::close(null);
        }
    }
}

/// Gives the process its standard error back.
fn restore_stderr() {
    let saved = STDERR.load(Ordering::Relaxed) as libc::c_int;
    if saved != 2 {
        // SAFETY: descriptor calls on this process's own descriptors.
        unsafe {
            libc::dup2(saved, 2);
        }
    }
}

/// Cases finished and bugs found so far, by every worker (for the progress lines).
static DONE: AtomicU64 = AtomicU64::new(0);
static BUGS: AtomicU64 = AtomicU64::new(0);
/// A progress line every this many cases.
const PROGRESS_EVERY: u64 = 25_000;

/// The case each worker is running (+1; 0: none), for [`on_crash`].
static RUNNING: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// A crash of this process (a stack overflow's abort, a segmentation fault) takes every
/// case with it: say which ones were running, then die of the signal.
extern "C" fn on_crash(signal: libc::c_int) {
    /// A line built without allocating (this runs in a signal handler).
    struct Line {
        bytes: [u8; 128],
        len: usize,
    }
    impl Line {
        fn text(&mut self, text: &[u8]) {
            for &byte in text {
                if self.len < self.bytes.len() {
                    self.bytes[self.len] = byte;
                    self.len += 1;
                }
            }
        }
        fn number(&mut self, mut value: u64) {
            let mut digits = [0u8; 20];
            let mut start = digits.len();
            loop {
                start -= 1;
                digits[start] = b'0' + (value % 10) as u8;
                value /= 10;
                if value == 0 {
                    break;
                }
            }
            self.text(&digits[start..]);
        }
    }
    let fd = STDERR.load(Ordering::Relaxed) as libc::c_int;
    for running in &RUNNING {
        let case = running.load(Ordering::Relaxed);
        if case != 0 {
            let mut line = Line { bytes: [0; 128], len: 0 };
            line.text(b"fuzz: BUG: the process crashed (signal ");
            line.number(signal as u64);
            line.text(b") while running case ");
            line.number(case - 1);
            line.text(b"\n");
            // SAFETY: write is async-signal-safe.
            unsafe { libc::write(fd, line.bytes.as_ptr().cast(), line.len) };
        }
    }
    // SAFETY: the default action, then the signal again.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

fn report_crashes() {
    for signal in [libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
        // SAFETY: installs a handler that only writes and re-raises, on the thread's
        // alternate stack (which Rust gives every thread it starts): a stack overflow
        // leaves no room on the ordinary one.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_crash as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Writes `text` to the test's standard error.
fn say(text: &str) {
    let fd = STDERR.load(Ordering::Relaxed) as libc::c_int;
    // SAFETY: writes our own bytes to a descriptor we keep open.
    unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
}

/// Limits that turn a runaway output into a link error rather than a full disk: files of
/// at most 512 MiB (SIGXFSZ ignored, so a write past it fails with EFBIG).
fn limit_resources() {
    // SAFETY: setrlimit and signal on this process with plain values.
    unsafe {
        let limit = libc::rlimit { rlim_cur: 512 << 20, rlim_max: 512 << 20 };
        libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// One worker's directories: inputs, the output's (which must hold nothing else), the
/// cache, and copies of seeds that stay unchanged (their fingerprints settle).
struct Worker {
    index: usize,
    root: PathBuf,
    settings: Settings,
    scenarios: Arc<Vec<Scenario>>,
    /// Outputs of the scenarios (for `inspect` cases), by scenario index.
    linked: HashMap<usize, Vec<u8>>,
    /// `--no-cache` results of unchanged scenarios, by (scenario, soname).
    cold: HashMap<(usize, u8), Vec<u8>>,
    tally: Tally,
    /// When the current case started (ms since the run began; 0 between cases) and its
    /// number, for the watchdog.
    clock: Arc<(AtomicU64, AtomicU64)>,
    started: Instant,
}

/// What a case links: its scenario, its files as written, and the mutations made.
struct Case {
    number: u64,
    scenario: usize,
    target: Target,
    files: Vec<(String, Vec<u8>)>,
    mutations: Vec<String>,
    soname: u8,
    threads: usize,
    pack_relative: bool,
    /// `--remap-path-prefix /=/fuzz/`: every absolute path in the inputs' DWARF rewritten.
    remap: bool,
}

impl Worker {
    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn run(&mut self) {
        let workers = self.settings.workers as u64;
        let (first, end) = (self.settings.first, self.settings.first + self.settings.cases);
        let mut number = first + self.index as u64;
        while number < end {
            self.clock.1.store(number, Ordering::Relaxed);
            RUNNING[self.index % RUNNING.len()].store(number + 1, Ordering::Relaxed);
            self.clock.0.store(self.started.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
            self.case(number);
            self.clock.0.store(0, Ordering::Relaxed);
            let done = DONE.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(PROGRESS_EVERY) {
                let elapsed = self.started.elapsed().as_secs_f64();
                say(&format!(
                    "fuzz: {done} cases done in {elapsed:.0} s ({:.0} cases/s), {} bug(s) so far\n",
                    done as f64 / elapsed.max(1e-9),
                    BUGS.load(Ordering::Relaxed)
                ));
            }
            number += workers;
        }
    }

    fn case(&mut self, number: u64) {
        let mut rng = Rng::for_case(self.settings.seed, number);
        // What to mutate first (weighted), then a scenario that has it.
        const TARGETS: &[(Target, usize)] = &[
            (Target::Object, 10),
            (Target::Archive, 6),
            (Target::Script, 4),
            (Target::Base, 6),
            (Target::Emitted, 6),
            (Target::Cache, 5),
            (Target::Inspect, 2),
            (Target::CacheCommand, 1),
        ];
        let only = &self.settings.only;
        let targets: Vec<(Target, usize)> = TARGETS
            .iter()
            .filter(|(target, _)| only.is_empty() || only.contains(&format!("{target:?}").to_lowercase()))
            .copied()
            .collect();
        let mut pick = rng.below(targets.iter().map(|(_, weight)| weight).sum());
        let target = targets
            .iter()
            .find(|(_, weight)| pick.checked_sub(*weight).map(|rest| pick = rest).is_none())
            .map_or(Target::Object, |(target, _)| *target);
        let kind = match target {
            Target::Archive => Some(Kind::Archive),
            Target::Script => Some(Kind::Script),
            Target::Base => Some(Kind::Base),
            Target::Emitted => Some(Kind::Emitted),
            Target::Object => Some(Kind::Object),
            _ => None,
        };
        let fitting: Vec<usize> = (0..self.scenarios.len())
            .filter(|&i| kind.is_none_or(|kind| self.scenarios[i].files.iter().any(|file| file.kind == kind)))
            .collect();
        let scenario_index = *rng.pick(&fitting);
        let scenario = self.scenarios[scenario_index].clone();
        let mut case = Case {
            number,
            scenario: scenario_index,
            target,
            files: scenario.files.iter().map(|f| (f.name.clone(), f.bytes.clone())).collect(),
            mutations: Vec::new(),
            soname: rng.below(2) as u8,
            threads: 1 + rng.below(2),
            pack_relative: rng.one_in(4),
            // (From the number, not the generator: the other draws stay as they were.)
            remap: number % 5 == 2,
        };
        let by_command = number % self.settings.command_share == self.settings.command_share - 1
            && !matches!(target, Target::Inspect | Target::CacheCommand);
        let outcome = match target {
            Target::Cache => self.cache_case(&mut rng, &mut case, by_command),
            Target::Inspect => self.inspect_case(&mut rng, &mut case),
            Target::CacheCommand => self.cache_command_case(&mut rng, &mut case),
            _ => {
                self.mutate_files(&mut rng, &mut case, target);
                self.link_case(&mut case, by_command)
            }
        };
        match outcome {
            Outcome::Linked => self.tally.counts.entry((target, by_command)).or_default().0 += 1,
            Outcome::Refused => self.tally.counts.entry((target, by_command)).or_default().1 += 1,
            Outcome::Bug(what) => self.record_bug(&case, by_command, &what),
        }
    }

    /// Mutates one to three times a file of the case of `target`'s kind.
    fn mutate_files(&self, rng: &mut Rng, case: &mut Case, target: Target) {
        let kind = match target {
            Target::Object => Kind::Object,
            Target::Archive => Kind::Archive,
            Target::Script => Kind::Script,
            Target::Base => Kind::Base,
            _ => Kind::Emitted,
        };
        let scenario = &self.scenarios[case.scenario];
        let candidates: Vec<usize> = (0..scenario.files.len()).filter(|&i| scenario.files[i].kind == kind).collect();
        let index = *rng.pick(&candidates);
        let other = &self.scenarios[rng.below(self.scenarios.len())].files[0].bytes;
        for _ in 0..1 + rng.below(3) {
            let bytes = &mut case.files[index].1;
            let what = match kind {
                Kind::Object => mutate::elf(rng, bytes, other),
                Kind::Archive | Kind::Base | Kind::Emitted => mutate::archive(rng, bytes, other),
                Kind::Script => mutate::script(rng, bytes, other),
            };
            case.mutations.push(format!("{}: {what}", case.files[index].0));
        }
    }

    fn write_files(&self, case: &Case, dir: &Path) {
        for (name, bytes) in &case.files {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// The link's configuration, inputs in `dir`, output in `out`.
    fn config(&self, case: &Case, dir: &Path, out: &Path, cache: Option<&Path>) -> Config {
        let scenario = &self.scenarios[case.scenario];
        let mut config = Config::new(out.join("o.so"));
        config.nostdlib = true;
        config.threads = Some(case.threads);
        config.pack_relative_relocs = case.pack_relative;
        if case.remap {
            config.remap_path_prefix.push(chainlink_linker::config::remap::PathRemap::parse("/=/fuzz/").unwrap());
        }
        config.soname = Some(format!("libfuzz{}.so", case.soname));
        config.library_paths = vec![dir.to_path_buf()];
        config.inputs = scenario
            .inputs
            .iter()
            .map(|input| match input.as_str() {
                "--whole-archive" => InputArg::WholeArchive(true),
                name => InputArg::File(dir.join(name)),
            })
            .collect();
        config.bases = scenario.bases.iter().map(|name| dir.join(name)).collect();
        if scenario.emit_archive {
            config.emit_archive = Some(out.join("o.a"));
        }
        match cache {
            Some(cache) => config.cache_dir = Some(cache.to_path_buf()),
            None => config.no_cache = true,
        }
        config.cache_max_size = 64 << 20;
        config
    }

    /// Fills the output directory with the previous outputs.
    fn previous(&self, out: &Path) {
        for entry in fs::read_dir(out).unwrap().flatten() {
            let _ = fs::remove_file(entry.path());
        }
        fs::write(out.join("o.so"), PREVIOUS).unwrap();
        fs::write(out.join("o.a"), PREVIOUS_ARCHIVE).unwrap();
    }

    /// Checks what a failed link left: the previous outputs, nothing else.
    fn untouched(&self, out: &Path) -> Option<String> {
        let mut names: Vec<String> =
            fs::read_dir(out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        if names != ["o.a", "o.so"] {
            return Some(format!("a failed link left {names:?} beside its output"));
        }
        if fs::read(out.join("o.so")).unwrap() != PREVIOUS || fs::read(out.join("o.a")).unwrap() != PREVIOUS_ARCHIVE {
            return Some("a failed link changed its output".into());
        }
        None
    }

    /// Links `config` in this process: Ok, a one-line error, or a panic (a bug).
    fn link_in_process(&self, config: &Config) -> Result<(), Outcome> {
        let start = panics_so_far();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chainlink_linker::link(config)));
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                // One line per error (a link reports every undefined symbol, say).
                let message = error.to_string();
                if message.lines().count() != error.count() || message.ends_with('\n') {
                    return Err(Outcome::Bug(format!("an error of more than one line: {message:?}")));
                }
                Err(Outcome::Refused)
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let panics = panics_since(start);
                Err(Outcome::Bug(format!("panic: {message} ({panics})")))
            }
        }
    }

    /// Links the case's files (in this process, or by the command) and classifies the end.
    fn link_case(&mut self, case: &mut Case, by_command: bool) -> Outcome {
        let (dir, out) = (self.dir("in"), self.dir("out"));
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let _ = fs::remove_file(entry.path());
        }
        self.write_files(case, &dir);
        self.previous(&out);
        let config = self.config(case, &dir, &out, None);
        let linked = if by_command { self.link_by_command(&config) } else { self.link_in_process(&config) };
        match linked {
            Err(Outcome::Refused) => match self.untouched(&out) {
                Some(problem) => Outcome::Bug(problem),
                None => Outcome::Refused,
            },
            Err(bug) => bug,
            Ok(()) => {
                let bytes = fs::read(out.join("o.so")).unwrap_or_default();
                if !bytes.starts_with(b"\x7fELF") {
                    return Outcome::Bug("a successful link left no output".into());
                }
                // A share of the successes: the cache, cold then warm, gives the same bytes.
                if case.number.is_multiple_of(8) {
                    if let Some(bug) = self.same_through_the_cache(case, &dir, &bytes) {
                        return Outcome::Bug(bug);
                    }
                }
                Outcome::Linked
            }
        }
    }

    /// Links `config` with the `chainlink` command: exit 0 or 1 (one line), within the
    /// hang limit, no signal.
    fn link_by_command(&self, config: &Config) -> Result<(), Outcome> {
        let mut command = std::process::Command::new(chainlink_binary());
        command.arg("link").arg("-o").arg(&config.output).arg("-nostdlib");
        match &config.cache_dir {
            Some(cache) if !config.no_cache => command.arg("--cache-dir").arg(cache),
            _ => command.arg("--no-cache"),
        };
        command.arg("--threads").arg(config.threads.unwrap_or(1).to_string());
        if let Some(soname) = &config.soname {
            command.arg("--soname").arg(soname);
        }
        if config.pack_relative_relocs {
            command.args(["-z", "pack-relative-relocs"]);
        }
        for rule in &config.remap_path_prefix {
            command.arg(format!("--remap-path-prefix={}={}", rule.from, rule.to));
        }
        for dir in &config.library_paths {
            command.arg("-L").arg(dir);
        }
        for base in &config.bases {
            command.arg("--base").arg(base);
        }
        if let Some(archive) = &config.emit_archive {
            command.arg("--emit-archive").arg(archive);
        }
        for input in &config.inputs {
            match input {
                InputArg::File(path) => command.arg(path),
                InputArg::WholeArchive(true) => command.arg("--whole-archive"),
                _ => &mut command,
            };
        }
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn().map_err(|e| Outcome::Bug(format!("cannot run chainlink: {e}")))?;
        let deadline = Instant::now() + HANG;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Outcome::Bug(format!("the command hung (more than {} s)", HANG.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        use std::os::unix::process::ExitStatusExt as _;
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(1), _) if one_line_errors(&stderr) => Err(Outcome::Refused),
            (Some(1), _) => Err(Outcome::Bug(format!("exit 1 without one-line errors: {stderr:?}"))),
            (Some(101), _) => Err(Outcome::Bug(format!("panic (exit 101): {}", stderr.trim_end()))),
            (Some(code), _) => Err(Outcome::Bug(format!("exit {code}: {}", stderr.trim_end()))),
            (None, Some(signal)) => Err(Outcome::Bug(format!("killed by signal {signal}: {}", stderr.trim_end()))),
            (None, None) => Err(Outcome::Bug("ended without a status".into())),
        }
    }

    /// Links the case through the cache twice (storing, then from the cache) and checks
    /// both give `expected` (the `--no-cache` bytes).
    fn same_through_the_cache(&mut self, case: &Case, dir: &Path, expected: &[u8]) -> Option<String> {
        let (out, cache) = (self.dir("out"), self.dir("cache"));
        for round in ["cold", "warm"] {
            self.previous(&out);
            let config = self.config(case, dir, &out, Some(&cache));
            if let Err(outcome) = self.link_in_process(&config) {
                return Some(format!("{round} link through the cache: {outcome:?} where --no-cache linked"));
            }
            if fs::read(out.join("o.so")).unwrap_or_default() != expected {
                return Some(format!("{round} link through the cache gave other bytes than --no-cache"));
            }
        }
        self.tally.warm_checks += 1;
        None
    }

    /// The case's scenario in a directory of its own whose files stay unchanged (so their
    /// fingerprints settle and the cache trusts them: warm relinks, prepared bases).
    fn stable_dir(&mut self, case: &Case) -> PathBuf {
        let dir = self.root.join(format!("stable{}", case.scenario));
        if !dir.exists() {
            fs::create_dir_all(&dir).unwrap();
            self.write_files(case, &dir);
            let old = std::time::SystemTime::now() - Duration::from_secs(3600);
            for (name, _) in &case.files {
                let file = fs::File::options().append(true).open(dir.join(name)).unwrap();
                file.set_modified(old).unwrap();
            }
        }
        dir
    }

    /// The `--no-cache` bytes of the case's unchanged scenario.
    fn cold_bytes(&mut self, case: &Case, dir: &Path) -> Result<Vec<u8>, Outcome> {
        if let Some(bytes) = self.cold.get(&(case.scenario, case.soname)) {
            return Ok(bytes.clone());
        }
        let out = self.dir("cold");
        let mut config = self.config(case, dir, &out, None);
        config.emit_archive = None;
        config.threads = Some(1);
        config.pack_relative_relocs = false;
        config.remap_path_prefix.clear();
        self.link_in_process(&config)?;
        let bytes = fs::read(out.join("o.so")).unwrap();
        self.cold.insert((case.scenario, case.soname), bytes.clone());
        Ok(bytes)
    }

    /// A working link through the cache, the cache's files damaged (flipped, truncated,
    /// emptied, replaced by a directory, a FIFO or a symbolic link, removed), and the link
    /// again: it must succeed with the `--no-cache` bytes.
    fn cache_case(&mut self, rng: &mut Rng, case: &mut Case, by_command: bool) -> Outcome {
        let dir = self.stable_dir(case);
        case.pack_relative = false;
        case.remap = false;
        let expected = match self.cold_bytes(case, &dir) {
            Ok(bytes) => bytes,
            Err(outcome) => return Outcome::Bug(format!("an unchanged scenario does not link: {outcome:?}")),
        };
        // A cache of its own each time: the damage of earlier cases goes.
        let cache = self.root.join("cache");
        let _ = fs::remove_dir_all(&cache).or_else(|_| fs::remove_file(&cache));
        let (out, cache) = (self.dir("out"), self.dir("cache"));
        let mut config = self.config(case, &dir, &out, Some(&cache));
        config.emit_archive = None;
        self.previous(&out);
        if let Err(outcome) = self.link_in_process(&config) {
            return Outcome::Bug(format!("a link through the cache failed: {outcome:?}"));
        }
        let files = cache_files(&cache);
        for _ in 0..1 + rng.below(3) {
            if files.is_empty() {
                break;
            }
            let path = rng.pick(&files).clone();
            case.mutations.push(damage(rng, &path, &self.root));
        }
        if rng.one_in(2) {
            // Not served from the output cache: the prepared base (and the records) decide.
            config.soname = Some(format!("libfuzz{}.so", 1 - case.soname));
            let mut other = Case { files: Vec::new(), mutations: Vec::new(), ..*case };
            other.soname = 1 - case.soname;
            match self.cold_bytes(&other, &dir) {
                Ok(bytes) => return self.relink_damaged(&config, &out, &bytes, by_command),
                Err(outcome) => return Outcome::Bug(format!("an unchanged scenario does not link: {outcome:?}")),
            }
        }
        self.relink_damaged(&config, &out, &expected, by_command)
    }

    fn relink_damaged(&mut self, config: &Config, out: &Path, expected: &[u8], by_command: bool) -> Outcome {
        self.previous(out);
        let linked = if by_command { self.link_by_command(config) } else { self.link_in_process(config) };
        if let Err(outcome) = linked {
            return Outcome::Bug(format!("a damaged cache failed the link: {outcome:?}"));
        }
        if fs::read(out.join("o.so")).unwrap_or_default() != expected {
            return Outcome::Bug("a damaged cache changed the output's bytes".into());
        }
        // What the cache serves after that is right too.
        self.previous(out);
        if let Err(outcome) = self.link_in_process(config) {
            return Outcome::Bug(format!("the link after a damaged cache's failed: {outcome:?}"));
        }
        if fs::read(out.join("o.so")).unwrap_or_default() != expected {
            return Outcome::Bug("the cache served other bytes after it was damaged".into());
        }
        if let Some(bug) = outside_touched(&self.root) {
            return Outcome::Bug(bug);
        }
        self.tally.warm_checks += 1;
        Outcome::Linked
    }

    /// A mutated output or emitted archive read by `inspect` (in this process).
    fn inspect_case(&mut self, rng: &mut Rng, case: &mut Case) -> Outcome {
        let scenario = self.scenarios.clone();
        let scenario = &scenario[case.scenario];
        let mut bytes = match scenario.files.iter().find(|f| f.kind == Kind::Emitted) {
            Some(emitted) if rng.one_in(2) => emitted.bytes.clone(),
            _ => match self.linked_output(case) {
                Ok(bytes) => bytes,
                Err(outcome) => return outcome,
            },
        };
        let other = scenario.files[0].bytes.clone();
        for _ in 0..1 + rng.below(3) {
            let what = if bytes.starts_with(b"!<arch>") {
                mutate::archive(rng, &mut bytes, &other)
            } else {
                mutate::elf(rng, &mut bytes, &other)
            };
            case.mutations.push(format!("inspected file: {what}"));
        }
        let path = self.dir("inspect").join("file");
        fs::write(&path, &bytes).unwrap();
        case.files = vec![("file".into(), bytes)];
        let start = panics_so_far();
        let read = std::panic::catch_unwind(|| {
            chainlink_linker::chain::read_manifest(&path).map(|m| (m.to_json(), chainlink_linker::chain::describe(&m)))
        });
        match read {
            Ok(Ok(_)) => Outcome::Linked,
            Ok(Err(error)) if error.to_string().contains('\n') => {
                Outcome::Bug(format!("an error of more than one line: {error}"))
            }
            Ok(Err(_)) => Outcome::Refused,
            Err(_) => Outcome::Bug(format!("inspect panicked: {}", panics_since(start))),
        }
    }

    fn linked_output(&mut self, case: &Case) -> Result<Vec<u8>, Outcome> {
        if let Some(bytes) = self.linked.get(&case.scenario) {
            return Ok(bytes.clone());
        }
        let dir = self.stable_dir(case);
        let bytes = self
            .cold_bytes(&Case { files: Vec::new(), mutations: Vec::new(), soname: 0, ..*case }, &dir)
            .map_err(|outcome| Outcome::Bug(format!("an unchanged scenario does not link: {outcome:?}")))?;
        self.linked.insert(case.scenario, bytes.clone());
        Ok(bytes)
    }

    /// `cache gc`, `stats` and `clear` on a damaged cache holding a file of someone else's:
    /// no panic, and that file stays.
    fn cache_command_case(&mut self, rng: &mut Rng, case: &mut Case) -> Outcome {
        let cache = self.dir("cache");
        let files = cache_files(&cache);
        if !files.is_empty() {
            let path = rng.pick(&files).clone();
            case.mutations.push(damage(rng, &path, &self.root));
        }
        let foreign = cache.join("v1/outputs/someone-elses.txt");
        // (Only in a real directory: through a link the fuzzer itself would write outside.)
        let real = ["v1", "v1/outputs"].iter().all(|d| fs::symlink_metadata(cache.join(d)).is_ok_and(|m| m.is_dir()));
        let planted = real && fs::write(&foreign, b"keep me").is_ok();
        let mut config = Config::new(PathBuf::from("unused.so"));
        config.cache_dir = Some(cache.clone());
        config.cache_max_size = [0, 1 << 10, 1 << 20, 64 << 20][rng.below(4)];
        let action = rng.below(3);
        case.mutations.push(format!("cache {}", ["gc", "stats", "clear"][action]));
        let start = panics_so_far();
        let result = std::panic::catch_unwind(|| match action {
            0 => chainlink_linker::incremental::cache::gc(&config),
            1 => chainlink_linker::incremental::cache::stats(&config),
            _ => chainlink_linker::incremental::cache::clear(&config),
        });
        let outcome = match result {
            Err(_) => Outcome::Bug(format!("cache command panicked: {}", panics_since(start))),
            Ok(_) if planted && fs::read(&foreign).ok().as_deref() != Some(&b"keep me"[..]) => {
                Outcome::Bug("a cache command removed a file that is not the cache's".into())
            }
            Ok(_) if outside_touched(&self.root).is_some() => {
                Outcome::Bug(outside_touched(&self.root).unwrap_or_default())
            }
            Ok(Ok(_)) => Outcome::Linked,
            Ok(Err(error)) if error.to_string().contains('\n') => {
                Outcome::Bug(format!("an error of more than one line: {error}"))
            }
            Ok(Err(_)) => Outcome::Refused,
        };
        if planted {
            let _ = fs::remove_file(&foreign);
        }
        outcome
    }

    fn record_bug(&mut self, case: &Case, by_command: bool, what: &str) {
        let scenario = &self.scenarios[case.scenario];
        let description = format!(
            "case {} (seed {:#x}{}): scenario {}, target {:?}, threads {}, pack-relative {}, remap {}, soname {}\n  {}\n  mutations:\n    {}\n",
            case.number,
            self.settings.seed,
            if by_command { ", by the command" } else { "" },
            scenario.name,
            case.target,
            case.threads,
            case.pack_relative,
            case.remap,
            case.soname,
            what,
            case.mutations.join("\n    ")
        );
        say(&format!("fuzz: BUG: {description}"));
        let dir = failures_dir().join(format!("{:x}-{}", self.settings.seed, case.number));
        let _ = fs::create_dir_all(&dir);
        for (name, bytes) in &case.files {
            let _ = fs::write(dir.join(name), bytes);
        }
        let _ = fs::write(dir.join("case.txt"), &description);
        BUGS.fetch_add(1, Ordering::Relaxed);
        self.tally.bugs.push(description);
    }
}

/// The `chainlink` command the cases run: this build's, or `CHAINLINK_FUZZ_BIN` (a copy
/// kept aside, so that a long run goes on while the tree is rebuilt).
pub fn chainlink_binary() -> PathBuf {
    std::env::var_os("CHAINLINK_FUZZ_BIN").map_or_else(|| PathBuf::from(common::CHAINLINK), PathBuf::from)
}

/// Where failing cases are kept.
fn failures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../fuzz-failures")
}

/// Every file and directory under the cache's layout directory.
fn cache_files(cache: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(listing) = fs::read_dir(dir) else { return };
        for entry in listing.flatten() {
            let path = entry.path();
            found.push(path.clone());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&cache.join("v1"), &mut found);
    found.sort();
    found
}

/// The directory outside the cache that damaged caches link to (see [`damage`]) must hold
/// its one file, unchanged: the cache never follows a link out of itself.
fn outside_touched(scratch: &Path) -> Option<String> {
    let outside = scratch.join("outside");
    if !outside.exists() {
        return None;
    }
    let names: Vec<String> =
        fs::read_dir(&outside).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let intact = names == ["precious"] && fs::read(outside.join("precious")).ok().as_deref() == Some(&b"precious"[..]);
    (!intact).then(|| format!("the cache changed a directory outside it (a symbolic link was followed): {names:?}"))
}

/// Damages one file (or directory) of the cache; says how.
fn damage(rng: &mut Rng, path: &Path, scratch: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let Ok(metadata) = fs::symlink_metadata(path) else { return format!("cache {name}: gone already") };
    let is_dir = metadata.is_dir();
    if !is_dir && !metadata.is_file() {
        // A FIFO or a symbolic link left by an earlier case: replaced by a file.
        let _ = fs::remove_file(path);
        let _ = fs::write(path, b"was not a file");
        return format!("cache {name}: a special file replaced by a file");
    }
    let how = if is_dir { 5 + rng.below(2) } else { rng.below(9) };
    let remove = |path: &Path| {
        let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
    };
    match how {
        0..=2 => {
            let mut bytes = fs::read(path).unwrap_or_default();
            let what = if bytes.is_empty() { "empty".to_string() } else { mutate::bytes(rng, &mut bytes, &[]) };
            let _ = fs::write(path, &bytes);
            format!("cache {name}: {what}")
        }
        3 => {
            let bytes = fs::read(path).unwrap_or_default();
            let len = rng.below(bytes.len() + 1);
            let _ = fs::write(path, &bytes[..len]);
            format!("cache {name}: truncated to {len}")
        }
        4 => {
            remove(path);
            format!("cache {name}: removed")
        }
        5 => {
            // A symbolic link to a directory outside the cache, with a file in it.
            let outside = scratch.join("outside");
            let _ = fs::create_dir_all(&outside);
            let _ = fs::write(outside.join("precious"), b"precious");
            remove(path);
            let _ = std::os::unix::fs::symlink(&outside, path);
            format!("cache {name}: replaced by a symbolic link to a directory outside")
        }
        6 => {
            remove(path);
            let _ = fs::write(path, b"not a directory");
            format!("cache {name}: replaced by a file")
        }
        7 => {
            remove(path);
            let _ = std::process::Command::new("mkfifo").arg(path).status();
            format!("cache {name}: replaced by a FIFO")
        }
        _ => {
            remove(path);
            let _ = fs::create_dir_all(path);
            format!("cache {name}: replaced by a directory")
        }
    }
}

/// Runs the cases of `settings` on its workers; the tally.
fn run(settings: Settings) -> Tally {
    quiet_panics();
    limit_resources();
    report_crashes();
    let scratch = Scratch::new();
    let setup = Instant::now();
    let scenarios = Arc::new(seeds::build(&scratch));
    say(&format!("fuzz: {} seed scenarios built in {:.1} s\n", scenarios.len(), setup.elapsed().as_secs_f64()));
    // What the linker says (warnings about the damaged caches, mostly) is not the report.
    silence_stderr();
    let started = Instant::now();
    let clocks: Vec<Arc<(AtomicU64, AtomicU64)>> =
        (0..settings.workers).map(|_| Arc::new((AtomicU64::new(0), AtomicU64::new(0)))).collect();
    let watchdog = {
        let clocks = clocks.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            let now = started.elapsed().as_millis() as u64;
            for (index, clock) in clocks.iter().enumerate() {
                let since = clock.0.load(Ordering::Relaxed);
                if since != 0 && now.saturating_sub(since) > HANG.as_millis() as u64 {
                    let case = clock.1.load(Ordering::Relaxed);
                    say(&format!(
                        "fuzz: BUG: worker {index} hangs: case {case} has run for more than {} s \
                         (run it alone: CHAINLINK_FUZZ_FIRST={case} CHAINLINK_FUZZ_CASES=1 CHAINLINK_FUZZ_WORKERS=1)\n",
                        HANG.as_secs()
                    ));
                    std::process::abort();
                }
            }
        })
    };
    drop(watchdog);
    let handles: Vec<_> = (0..settings.workers)
        .map(|index| {
            let mut worker = Worker {
                index,
                root: scratch.subdir(&format!("worker{index}")),
                settings: settings.clone(),
                scenarios: scenarios.clone(),
                linked: HashMap::new(),
                cold: HashMap::new(),
                tally: Tally::default(),
                clock: clocks[index].clone(),
                started,
            };
            std::thread::spawn(move || {
                worker.run();
                worker.tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        match handle.join() {
            Ok(worker) => tally.add(worker),
            Err(_) => {
                let panics = panics_since(0);
                tally.bugs.push(format!("a fuzz worker died (a bug of the fuzzer's own?): {panics}"));
            }
        }
    }
    restore_stderr();
    drop(std::panic::take_hook());
    let elapsed = started.elapsed().as_secs_f64();
    let report = report(&settings, &tally, elapsed);
    say(&report);
    if let Some(path) = &settings.report {
        let _ = fs::write(path, &report);
    }
    tally
}

fn report(settings: &Settings, tally: &Tally, elapsed: f64) -> String {
    let mut text = format!(
        "fuzz: seed {:#x}, cases {}..{}: {} cases in {:.1} s ({:.0} cases/s, {} workers)\n",
        settings.seed,
        settings.first,
        settings.first + settings.cases,
        tally.total(),
        elapsed,
        tally.total() as f64 / elapsed.max(1e-9),
        settings.workers
    );
    for ((target, by_command), (linked, refused)) in &tally.counts {
        text.push_str(&format!(
            "fuzz:   {:<13} {:<8} {linked:>9} linked {refused:>9} refused (one-line error, outputs intact)\n",
            format!("{target:?}"),
            if *by_command { "command" } else { "library" }
        ));
    }
    text.push_str(&format!(
        "fuzz:   cache equal to --no-cache (cold, warm, after damage): {} checks\n",
        tally.warm_checks
    ));
    let count = |needle: &str| tally.bugs.iter().filter(|b| b.contains(needle)).count();
    for bug in &tally.bugs {
        text.push_str(&format!("fuzz: BUG: {bug}\n"));
    }
    text.push_str(&format!(
        "fuzz: bugs: {} (panics {}, signals {}, hangs {}, outputs changed {}, other cache bytes {})\n",
        tally.bugs.len(),
        count("panic"),
        count("signal"),
        count("hung"),
        count("changed its output") + count("left "),
        count("other bytes") + count("changed the output's bytes")
    ));
    text
}

/// The smoke `.ci/run` runs (through `cargo test --release`): a few thousand cases, the
/// same ones every time; `scripts/fuzz` runs others (see the environment variables above).
#[test]
fn fuzz() {
    let tally = run(Settings::from_env(3000));
    assert!(tally.bugs.is_empty(), "the fuzzer found {} bug(s):\n{}", tally.bugs.len(), tally.bugs.join("\n"));
}

/// Whether a refused command's standard error is one line per error (a link reports every
/// undefined symbol, say), each a complete `chainlink: error:` line, warnings aside.
fn one_line_errors(stderr: &str) -> bool {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    lines.iter().any(|line| line.starts_with("chainlink: error: "))
        && lines.iter().all(|line| line.starts_with("chainlink: error: ") || line.starts_with("chainlink: warning: "))
}
