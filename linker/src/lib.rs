//! chainlink's linking library: everything the `chainlink` command does, testable without it.
//!
//! The link is a pipeline of phases (`link_with` reads as it): input → chain → resolve →
//! tables → sections → scan → layout → write → report. Each phase's folder imports only
//! the ones before it and `util`; `incremental` (the caches, prepared bases, replay, the
//! base region) comes last and plugs into the phases through hooks they define
//! (`scan::ScanRecords`, `tables::RecordedUnits`, `write::BaseRegion`); no phase imports
//! it. Architecture specifics live behind [`arch::Arch`]. `tests/tidy.rs` keeps it so.

pub mod arch;
pub mod chain;
pub mod config;
pub mod incremental;
pub mod input;
pub mod layout;
pub mod report;
pub mod resolve;
pub mod scan;
pub mod sections;
pub mod tables;
pub mod util;
pub mod write;

pub use config::{Config, InputArg};
pub use util::error::{Context, Error, Result};

use arch::Arch;
use incremental::session::{Linked, Stop};
use util::timing::Timer;

/// Links `config.inputs` into the shared library `config.output`.
///
/// On error nothing is written: the outputs are only renamed into place once complete.
pub fn link(config: &Config) -> Result<report::LinkReport> {
    link_then(config, &mut |_| {})
}

/// As [`link`], and calls `finished` with the report as soon as the output (and every cache
/// entry) is in place, before the link's mappings and tables are released: a caller that
/// can hand that teardown to someone else (the command's detached child) needs not wait
/// for it.
pub fn link_then(
    config: &Config,
    finished: &mut (dyn FnMut(&report::LinkReport) + Send),
) -> Result<report::LinkReport> {
    if config.threads.is_some_and(|threads| !(1..=config::MAX_THREADS).contains(&threads)) {
        return Err(Error::usage(format!("--threads must be between 1 and {}", config::MAX_THREADS)));
    }
    let targets = [Some(&config.output), config.emit_archive.as_ref(), config.stats_json.as_ref()];
    for target in targets.into_iter().flatten() {
        util::files::check_target(target)?;
    }
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = config.threads {
        pool = pool.num_threads(threads.min(config::threads_worth_starting()));
    }
    let pool = pool.build().map_err(|e| Error::new(format!("cannot start worker threads: {e}")))?;
    pool.install(|| link_with::<arch::Target>(config, finished))
}

/// How every link ends, once all its files are written beside their targets (`pending`):
/// checks determinism if asked, writes `--stats-json`, then renames everything into place
/// together, remembers the output for the cache (`remember`: the cache and the key) and
/// calls `finished`. Anything that fails fails before the renames, which leaves every
/// target as it was.
fn conclude(
    config: &Config,
    mut pending: util::files::Pending,
    report: report::LinkReport,
    remember: Option<(&mut incremental::cache::Cache, &str)>,
    finished: &mut (dyn FnMut(&report::LinkReport) + Send),
) -> Result<report::LinkReport> {
    if config.verify_determinism {
        let linked = pending.file_for(&config.output).map_or(config.output.as_path(), |file| file.path());
        verify_determinism(config, linked, &report)?;
    }
    let mut all = util::files::Pending::default();
    if let Some(path) = &config.stats_json {
        let mut stats = util::files::Temporary::beside(path, 0o666)?;
        std::io::Write::write_all(stats.as_file_mut(), report.to_json().as_bytes())
            .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
        all.add(stats, path);
    }
    // The output last: it is the one a failed rename must leave alone most of all.
    all.append(&mut pending);
    // What the outputs held before: freed once the link has reported (see `link_then`).
    let replaced = all.commit()?;
    if let Some((cache, key)) = remember {
        cache.remember_output(key, &config.output);
    }
    finished(&report);
    drop(replaced);
    Ok(report)
}

/// Links again from scratch on one thread, without the cache, next to the output, and
/// fails if the bytes differ from what the first link produced (`linked`, or the cache's
/// record).
fn verify_determinism(config: &Config, linked: &std::path::Path, report: &report::LinkReport) -> Result<()> {
    let check = write::temporary_beside(&config.output)?;
    let mut fresh = config.clone();
    fresh.output = check.path().to_path_buf();
    fresh.threads = Some(1);
    fresh.no_cache = true;
    fresh.emit_archive = None;
    fresh.verify_determinism = false;
    fresh.stats_json = None;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| Error::new(e.to_string()))?;
    pool.install(|| link_with::<arch::Target>(&fresh, &mut |_| {}))?;
    let first = std::fs::read(linked)?;
    let second = std::fs::read(check.path())?;
    if first != second {
        let at = first.iter().zip(&second).position(|(a, b)| a != b).unwrap_or(first.len().min(second.len()));
        return Err(Error::new(format!(
            "determinism check failed: {} ({}) and a fresh single-threaded link differ at byte {at:#x} ({} vs {} bytes)",
            config.output.display(),
            report.cache.outcome.as_str(),
            first.len(),
            second.len()
        )));
    }
    Ok(())
}

/// A link, phase by phase. The session (`incremental::session`) may serve it from the
/// cache at its start or at a checkpoint, and hands the phases what an earlier link
/// with the same base recorded.
fn link_with<A: Arch>(
    config: &Config,
    finished: &mut (dyn FnMut(&report::LinkReport) + Send),
) -> Result<report::LinkReport> {
    let mut timer = Timer::new();
    let input::Loaded { files: inputs, scripts } = input::load_inputs(config)?;
    let bases = input::load_bases(config)?;
    timer.phase("inputs");
    let mut session = incremental::session::Session::open(config, &bases, &inputs, &scripts)?;
    match link_phases::<A>(config, &inputs, &bases, &mut session, timer, finished) {
        Ok(report) => Ok(report),
        Err(Stop::Failed(error)) => Err(error),
        Err(Stop::Served(served)) => {
            let remember = session.remember_served(&served.remember);
            conclude(config, served.pending, served.report, remember, finished)
        }
    }
}

/// The phases after the inputs: the session may end them early (`Stop::Served`) at the
/// start or at any checkpoint.
fn link_phases<'data, A: Arch>(
    config: &'data Config,
    inputs: &'data [input::InputFile],
    bases: &'data [input::InputFile],
    session: &mut incremental::session::Session<'data>,
    mut timer: Timer,
    finished: &mut (dyn FnMut(&report::LinkReport) + Send),
) -> std::result::Result<report::LinkReport, Stop> {
    let mut sources: Vec<&input::InputFile> = inputs.iter().chain(bases).collect();
    input::by_address(&mut sources);
    let incremental::session::Resolved { chain, mut db, hashes, prepared } =
        session.resolve::<A>(&sources, &mut timer)?;
    describe_resolution(config, &chain, &db, inputs);
    timer.phase("symbols");
    session.checkpoint(false, &mut timer)?;
    let directory = decode_tables::<A>(config, &mut db, prepared.as_ref().map(|p| p as &dyn tables::RecordedUnits))?;
    let manifest = render_manifest(&chain, &directory, hashes);
    timer.phase("tables");
    session.checkpoint(false, &mut timer)?;
    let exports = resolve::exports::Exports::decide(config, &db, inputs)?;
    let sections = assign_sections::<A>(config, &mut db, &exports)?;
    let deps = resolve::deps::records(&chain, &db, Some(&session.known_digests(prepared.as_ref())))?;
    timer.phase("sections");
    let (facts, keys) = (scan::SymbolFacts::new(&db, &sections, &exports), scan::Keys::new(&db));
    let scanner = scan::Scanner::new(config, &db, &facts, &keys, session.records_base());
    let recorded_scans = prepared.as_ref().map(|p| p as &dyn scan::ScanRecords);
    let plan = scan::scan::<A>(&scanner, &sections, &directory, recorded_scans)?;
    timer.phase("scan");
    session.checkpoint(false, &mut timer)?;
    let symtab = layout::symtab::plan(config, &db, &sections, &facts, &plan);
    timer.phase("symtab");
    session.checkpoint(false, &mut timer)?;
    let decisions = layout::Decisions {
        config,
        db: &db,
        plan: &plan,
        facts: &facts,
        inputs,
        manifest: &manifest,
        deps: deps.text.as_deref().unwrap_or_default(),
        directory: &directory,
        symtab: &symtab,
        exports: &exports,
    };
    let mut layout = layout::layout::<A>(&decisions, sections)?;
    timer.phase("layout");
    session.checkpoint(true, &mut timer)?;
    if let Some(hashes) = session.final_hashes(&chain, &sources) {
        // The layout sized the manifest with stand-ins for the hashes it now has.
        layout.replace_manifest(render_manifest(&chain, &directory, hashes))?;
    }
    let region = session.plan_region(prepared.as_ref(), &layout, &db, &plan);
    let writer = write::Writer::new(&decisions, &layout, &scanner, &sources, &region.mode);
    // What links killed beside these outputs left (a SIGKILL leaves its temporaries).
    util::files::sweep_beside(&[Some(&config.output), config.emit_archive.as_ref(), config.stats_json.as_ref()]);
    let written = writer.write::<A>(session.take_early_region())?;
    // Before the output is replaced: what the bases it was built on differ in, if they do.
    let rebased = report::rebase::after_relink(&config.output, &layout.manifest, &db);
    let mut pending = side_outputs(config, &chain, &db, &layout, deps.text.as_deref())?;
    timer.phase("write");
    let linked = Linked {
        chain: &chain,
        db: &db,
        plan: &plan,
        layout: &layout,
        directory: &directory,
        digests: &deps.digests,
        digests_hashed: deps.hashed,
        prepared: prepared.as_ref(),
    };
    let cache_report = session.store(&written, &linked, &region);
    pending.add(written.file, &config.output);
    timer.phase("store");
    describe_caches(config, &cache_report, rebased.as_deref(), db.newest);
    let input_bytes = inputs.iter().chain(bases).map(|f| f.data.len() as u64).sum();
    let stats = report::Stats::collect::<A>(&db, &plan, &layout, input_bytes, inputs.len() + bases.len());
    let report = report::LinkReport { timer, stats, cache: cache_report, rebased };
    // Everything the link mapped and built is released only after this.
    conclude(config, pending, report, session.remember(), finished).map_err(Stop::from)
}

/// The dispatch tables of every generation (recorded ones for the base when there are),
/// and the image directory's symbol when there are any; then every `--undefined` name
/// must be defined.
fn decode_tables<'data, A: Arch>(
    config: &'data Config,
    db: &mut resolve::SymbolDb<'data>,
    recorded: Option<&dyn tables::RecordedUnits>,
) -> Result<tables::ImageDirectory> {
    let directory = tables::decode::<A>(db, &config.table_names, recorded)?;
    if !directory.is_empty() {
        db.define_synthetic(config.table_names.image.as_bytes(), resolve::Synthetic::ImageDirectory)?;
    }
    resolve::undefined::check_required(db, config)?;
    Ok(directory)
}

/// The manifest with these member hashes and the directory's units.
fn render_manifest(chain: &chain::ChainPlan, directory: &tables::ImageDirectory, hashes: Vec<String>) -> String {
    let mut manifest = chain.manifest_with(hashes);
    manifest.units = directory.units.iter().map(chain::UnitRecord::from).collect();
    manifest.render()
}

/// The files a link writes besides its output: the map file (in place at once, as GNU
/// ld writes it) and the emitted archive (pending, renamed with the output).
fn side_outputs(
    config: &Config,
    chain: &chain::ChainPlan,
    db: &resolve::SymbolDb,
    layout: &layout::Layout,
    deps: Option<&str>,
) -> Result<util::files::Pending> {
    if let Some(path) = &config.gnu.map_file {
        write::map_file::write(db, layout, &config.output, path)?;
    }
    let mut pending = util::files::Pending::default();
    if let Some(path) = &config.emit_archive {
        pending.add(chain::write_archive(path, chain, &layout.manifest, deps)?, path);
    }
    Ok(pending)
}

/// Input sections into output sections, after `--gc-sections`, `--strip-debug` and
/// `--remap-path-prefix`.
fn assign_sections<A: Arch>(
    config: &Config,
    db: &mut resolve::SymbolDb,
    exports: &resolve::exports::Exports,
) -> Result<sections::SectionMap> {
    if (config.gnu.gc_sections || config.gnu.strip_debug) && !config.bases.is_empty() {
        return Err(Error::usage("--gc-sections and --strip-debug do not apply to chained links (--base)"));
    }
    if config.gnu.gc_sections {
        sections::gc::collect(db, exports, config)?;
    }
    if config.gnu.strip_debug {
        sections::gc::strip_debug(db);
    }
    sections::debug_remap::remap_paths(db, &config.remap_path_prefix);
    sections::assign::<A>(db)
}

/// `--verbose`: the chain; `--trace`: what was linked, objects and archive members in load
/// order, then shared libraries.
fn describe_resolution(config: &Config, chain: &chain::ChainPlan, db: &resolve::SymbolDb, inputs: &[input::InputFile]) {
    if config.verbose {
        crate::say!(
            "chainlink: {} generation(s); {} base text object(s); {} data member(s) dropped; {} definition(s) shadowed by newer generations",
            chain.newest + 1,
            chain.base_objects.len(),
            chain.dropped_members,
            db.shadowed
        );
    }
    if config.gnu.trace {
        for name in db.objects.iter().map(|o| &o.object.name).chain(db.shared.iter().map(|s| &inputs[s.input].name)) {
            println!("{name}");
        }
    }
}

/// `--verbose`: what the caches did, and what changed in the bases a relink moved onto.
fn describe_caches(
    config: &Config,
    cache: &report::cache::CacheReport,
    rebased: Option<&[resolve::deps::Affected]>,
    newest: u32,
) {
    if !config.verbose {
        return;
    }
    if cache.enabled {
        crate::say!("chainlink: output cache: miss; {}", if cache.stored { "stored" } else { "not stored" });
        crate::say!("chainlink: {}", cache.describe_base());
    }
    if let Some(affected) = rebased {
        crate::say!(
            "chainlink: {} was built on other bases: {} unit(s) of generation {newest} and newer have dependencies that changed",
            config.output.display(),
            affected.len(),
        );
        for line in resolve::deps::describe(affected).lines() {
            crate::say!("chainlink:   {line}");
        }
    }
}
