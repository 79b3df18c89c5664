//! chainlink's linking library: everything the `chainlink` command does, testable without it.
//!
//! The link is a pipeline of phases, each borrowing immutably from the one before:
//! inputs → symbols → sections → scan → layout → write. Architecture specifics live behind
//! [`arch::Arch`]; the generic phases never name an architecture's constants.

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
    pool.install(|| link_with::<arch::x86_64::X86_64>(config, finished))
}

/// The report of a link that `cache` satisfies: `config.output` holds the entry for `key`
/// already, or will once `pending` is committed; `None` when it has no usable entry.
fn cached_output(
    config: &Config,
    cache: &mut incremental::cache::Cache,
    key: &str,
    timer: &mut Timer,
    early_region: &mut Option<write::EarlyRegion>,
    pending: &mut util::files::Pending,
) -> Option<report::LinkReport> {
    if cache.has_entry(key) {
        // Most likely a hit: the early copy is not wanted (and nothing of this link may
        // outlive `finished`).
        drop(early_region.take());
    }
    let output_bytes = match cache.satisfy(key, &config.output)? {
        incremental::cache::Satisfied::UpToDate => std::fs::metadata(&config.output).map_or(0, |m| m.len()),
        incremental::cache::Satisfied::Copied(copy) => {
            let bytes = copy.as_file().metadata().map_or(0, |m| m.len());
            pending.add(copy, &config.output);
            bytes
        }
    };
    timer.phase("cache");
    if config.verbose {
        crate::say!("chainlink: output cache: {} ({})", cache.report.outcome, config.output.display());
    }
    let stats = report::Stats { output_bytes, threads: rayon::current_num_threads(), ..Default::default() };
    Some(report::LinkReport { timer: std::mem::take(timer), stats, cache: cache.report.clone(), rebased: None })
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
    all.commit()?;
    if let Some((cache, key)) = remember {
        cache.remember_output(key, &config.output);
    }
    finished(&report);
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
    pool.install(|| link_with::<arch::x86_64::X86_64>(&fresh, &mut |_| {}))?;
    let first = std::fs::read(linked)?;
    let second = std::fs::read(check.path())?;
    if first != second {
        let at = first.iter().zip(&second).position(|(a, b)| a != b).unwrap_or(first.len().min(second.len()));
        return Err(Error::new(format!(
            "determinism check failed: {} ({}) and a fresh single-threaded link differ at byte {at:#x} ({} vs {} bytes)",
            config.output.display(),
            report.cache.outcome,
            first.len(),
            second.len()
        )));
    }
    Ok(())
}

fn link_with<A: Arch>(
    config: &Config,
    finished: &mut (dyn FnMut(&report::LinkReport) + Send),
) -> Result<report::LinkReport> {
    let mut timer = Timer::new();
    let input::Loaded { files: inputs, scripts } = input::load_inputs(config)?;
    let bases = input::load_bases(config)?;
    timer.phase("inputs");
    // The output cache: an unchanged link is a hash check or a copy. (An emitted archive
    // is always produced by a real link.) When some input must be hashed for the key (a
    // new newest generation, say), the key will most likely miss: symbols are resolved
    // meanwhile, and thrown away if it does not.
    let memo = chain::HashMemo::default();
    // (An emitted archive, a map file or a random build id are made by a real link.)
    let real_link = config.emit_archive.is_some() || config.gnu.needs_a_real_link();
    let mut cache = if real_link { None } else { incremental::cache::Cache::open(config) };
    let files: Vec<&input::InputFile> = bases.iter().chain(&inputs).collect();
    let unremembered = cache.as_ref().map(|cache| cache.unremembered(&files)).unwrap_or_default();
    let speculating = !unremembered.is_empty();
    // A warm relink: its bases are unchanged (their hashes are remembered) and something
    // newer is not. Its prepared base is opened before anything else: its region starts
    // copying into a new output beside everything up to the layout, and its record of the
    // base's symbols replaces loading them. (Used only if the link's base key is this one.)
    let remembered_bases: Option<Vec<String>> = cache.as_mut().filter(|_| speculating).and_then(|cache| {
        let hashes: Option<Vec<String>> = bases.iter().map(|base| cache.remembered_hash(base, &memo)).collect();
        hashes.filter(|hashes| !hashes.is_empty())
    });
    // Such a link hashes what its key must read (the new newest generation) on a
    // low-priority thread of its own, from now on (opening the prepared base may verify it),
    // which takes the core that resolution and the other mostly single-threaded phases
    // leave idle, and goes on linking meanwhile (work thrown away if the key hits after
    // all). Any other speculating link hashes beside symbol resolution and looks the key
    // up then.
    let key_after_layout = remembered_bases.is_some();
    let mut hashes_ahead = remembered_bases.as_ref().and_then(|_| chain::HashesAhead::start(&files, &unremembered));
    let (mut early_key, mut early_chain, mut early_prepared, mut early_region) = (None, None, None, None);
    if let (Some(cache), Some(hashes)) = (cache.as_mut(), &remembered_bases) {
        let key = incremental::prepared::base_key(config, hashes);
        if let Some(file) = cache.prepared_file(&key) {
            early_region = incremental::prepared::PreparedBase::region_location(&file)
                .and_then(|(at, range)| write::EarlyRegion::start(&config.output, &file, at, range));
            let chain = chain::plan(config, &bases, &inputs)?;
            if chain.newest > 0 && !chain.base_objects.is_empty() {
                early_prepared = cache.open_prepared(&key, chain.base_objects.len(), Some(file));
                early_key = Some(key);
            }
            early_chain = Some(chain);
        }
    }
    let base_record = early_prepared
        .as_ref()
        .and_then(|prepared: &incremental::prepared::PreparedBase| prepared.base_symbols())
        .map(incremental::base_record::Recorded);
    let keep_base = cache.is_some();
    let resolve = || -> Result<(chain::ChainPlan, resolve::SymbolDb)> {
        let chain = match early_chain {
            Some(chain) => chain,
            None => chain::plan(config, &bases, &inputs)?,
        };
        let db = resolve::resolve(
            &inputs,
            &chain,
            config,
            A::MACHINE,
            base_record.as_ref().map(|r| r as &dyn resolve::BaseRecord),
            keep_base,
        )?;
        Ok((chain, db))
    };
    let (mut key, mut resolved) = match cache.as_mut() {
        Some(_) if key_after_layout => (None, Some(resolve())),
        Some(cache) if speculating => {
            let (key, resolved) = rayon::join(|| cache.link_key(config, &files, &scripts, &memo), resolve);
            (Some(key), Some(resolved))
        }
        Some(cache) => (Some(cache.link_key(config, &files, &scripts, &memo)), None),
        None => (None, None),
    };
    if let (Some(cache), Some(key)) = (cache.as_mut(), &key) {
        let mut pending = util::files::Pending::default();
        if let Some(report) = cached_output(config, cache, key, &mut timer, &mut early_region, &mut pending) {
            // (A copy is remembered once in place; an up-to-date output already is.)
            let remember = pending.file_for(&config.output).is_some().then_some((cache, key.as_str()));
            return conclude(config, pending, report, remember, finished);
        }
        if !speculating {
            timer.phase("cache");
        }
    }
    // Such a key is looked up at the end of the first phase by which its hashes are in (so
    // that a hit costs little more than the hashing), and after the layout at the latest.
    macro_rules! look_up_key_when_hashed {
        ($wait:expr) => {
            let hashed = $wait || hashes_ahead.as_ref().is_none_or(|hashes| hashes.is_done());
            if let (Some(cache), None, true, true) = (cache.as_mut(), &key, key_after_layout, hashed) {
                if let Some(hashes) = hashes_ahead.take() {
                    hashes.finish(&files, &memo);
                }
                let found = cache.link_key(config, &files, &scripts, &memo);
                if remembered_bases.as_deref() != Some(&cache.input_hashes[..bases.len()]) {
                    return Err(Error::new("a base archive changed while it was being linked"));
                }
                let mut pending = util::files::Pending::default();
                if let Some(report) = cached_output(config, cache, &found, &mut timer, &mut early_region, &mut pending)
                {
                    let remember = pending.file_for(&config.output).is_some().then_some((cache, found.as_str()));
                    return conclude(config, pending, report, remember, finished);
                }
                key = Some(found);
                timer.phase("cache");
            }
        };
    }
    let mut sources: Vec<&input::InputFile> = inputs.iter().chain(&bases).collect();
    input::by_address(&mut sources);
    // The manifest's member hashes: known from the key when there is one (the memo), else
    // computed beside symbol resolution; a key looked up after the layout brings them then.
    let (hashes, resolved) = match resolved.take() {
        Some(resolved) => {
            let (chain, db) = resolved?;
            let hashes =
                if key_after_layout { chain.placeholder_hashes() } else { chain.hash_members(&sources, &memo) };
            (hashes, (chain, db))
        }
        None => {
            let chain = chain::plan(config, &bases, &inputs)?;
            let (hashes, db) = rayon::join(
                || chain.hash_members(&sources, &memo),
                || resolve::resolve(&inputs, &chain, config, A::MACHINE, None, keep_base),
            );
            (hashes, (chain, db?))
        }
    };
    let (chain, mut db) = resolved;
    // The prepared base: what an earlier link with this base learned (see prepared.rs).
    let base_key = match &cache {
        Some(cache) if chain.newest > 0 && !chain.base_objects.is_empty() => {
            let base_hashes = match &remembered_bases {
                Some(remembered) => remembered,
                None => &cache.input_hashes[..bases.len()],
            };
            Some(incremental::prepared::base_key(config, base_hashes))
        }
        _ => None,
    };
    if let (Some(cache), None) = (cache.as_mut(), &base_key) {
        cache.report.base = "none";
    }
    let early_fits = early_key.is_some() && early_key == base_key;
    if db.base_restored && !early_fits {
        // Restored from a prepared base this link does not use after all: resolve again.
        db = resolve::resolve(&inputs, &chain, config, A::MACHINE, None, keep_base)?;
    }
    // (An early copy not used is dropped here: nothing of this link may outlive `finished`.)
    early_region = early_region.filter(|_| early_fits);
    let prepared = match (cache.as_mut(), &base_key) {
        _ if early_fits => early_prepared,
        (Some(cache), Some(key)) => cache.open_prepared(key, chain.base_objects.len(), None),
        _ => None,
    };
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
        // --trace: what was linked, objects and archive members in load order, then
        // shared libraries.
        for name in db.objects.iter().map(|o| &o.object.name).chain(db.shared.iter().map(|s| &inputs[s.input].name)) {
            println!("{name}");
        }
    }
    timer.phase("symbols");
    look_up_key_when_hashed!(false);
    let directory = tables::decode::<A>(&db, &config.table_names, prepared.as_ref())?;
    if !directory.is_empty() {
        db.define_synthetic(config.table_names.image.as_bytes(), resolve::Synthetic::ImageDirectory)?;
    }
    resolve::undefined::check_required(&db, config)?;
    let units: Vec<chain::UnitRecord> = directory.units.iter().map(chain::UnitRecord::from).collect();
    let render_manifest = |hashes: Vec<String>| {
        let mut manifest = chain.manifest_with(hashes);
        manifest.units = units.clone();
        manifest.render()
    };
    let manifest = render_manifest(hashes);
    timer.phase("tables");
    look_up_key_when_hashed!(false);
    let exports = resolve::exports::Exports::decide(config, &db, &inputs)?;
    if (config.gnu.gc_sections || config.gnu.strip_debug) && !config.bases.is_empty() {
        return Err(Error::usage("--gc-sections and --strip-debug do not apply to chained links (--base)"));
    }
    let _dropped = if config.gnu.gc_sections { sections::gc::collect(&mut db, &exports, config)? } else { Vec::new() };
    if config.gnu.strip_debug {
        sections::gc::strip_debug(&mut db);
    }
    sections::debug_remap::remap_paths(&mut db, &config.remap_path_prefix);
    let sections = sections::assign(&db)?;
    let deps = resolve::deps::records(&chain, &db)?;
    timer.phase("sections");
    let facts = scan::SymbolFacts::new(&db, &sections, &exports);
    let keys = scan::Keys::new(&db);
    let scanner = scan::Scanner {
        db: &db,
        facts: &facts,
        keys: &keys,
        pack_relative: config.pack_relative_relocs,
        record_base: base_key.is_some(),
        text_relocations: config.gnu.text_relocations,
    };
    let plan = scan::scan::<A>(&scanner, &sections, &directory, prepared.as_ref())?;
    timer.phase("scan");
    look_up_key_when_hashed!(false);
    let symtab = if config.strip_all {
        layout::symtab::SymtabPlan::none()
    } else {
        layout::symtab::plan(&db, &sections, &facts, &plan, config.gnu.discard_locals)
    };
    timer.phase("symtab");
    look_up_key_when_hashed!(false);
    let decisions = layout::Decisions {
        config,
        db: &db,
        plan: &plan,
        facts: &facts,
        inputs: &inputs,
        manifest: &manifest,
        deps: deps.as_deref().unwrap_or_default(),
        directory: &directory,
        symtab: &symtab,
        exports: &exports,
    };
    let mut layout = layout::layout::<A>(&decisions, sections)?;
    timer.phase("layout");
    look_up_key_when_hashed!(true);
    if key_after_layout {
        // The layout sized the manifest with stand-ins for the hashes it now has.
        let manifest = render_manifest(chain.hash_members(&sources, &memo));
        if manifest.len() != layout.manifest.len() {
            return Err(Error::new("internal error: the manifest's size changed after the layout"));
        }
        layout.manifest = manifest;
    }
    // The prepared base is written when missing, and refreshed when many chunks had to be
    // rescanned (so the next link replays what this one learned) or its region did not fit.
    // A few rescans are cheaper than rewriting it on every link when newest generations
    // alternate.
    let base_chunks = plan.replayed_chunks + plan.rescanned_chunks;
    let stale = plan.rescanned_chunks > 0 && plan.rescanned_chunks * 8 >= base_chunks;
    let signature = layout.base_region.as_ref().map(|_| layout.region_signature(&db, &plan));
    let region = prepared.as_ref().and_then(|prepared| Some((prepared, prepared.region()?, prepared.stored_region()?)));
    let region_fits = region.as_ref().is_some_and(|(_, record, _)| {
        Some(&record.range) == layout.base_region.as_ref() && Some(record.signature) == signature
    });
    let store_prepared = cache.as_ref().is_some_and(|c| c.report.base != "unreadable")
        && base_key.is_some()
        && (prepared.is_none() || stale || !region_fits);
    // A link that stores the prepared base records the region afresh (a refreshed one
    // must describe this link's bindings); one that does not reuses the stored region.
    let base_region = match region {
        _ if store_prepared && layout.base_region.is_some() => write::BaseRegion::Record,
        Some((prepared, record, stored)) if region_fits => {
            let patches = prepared.region_patches(&db, &plan.chunks);
            write::BaseRegion::Reuse { stored, range: record.range, patches }
        }
        _ => write::BaseRegion::Write,
    };
    let writer = write::Writer {
        config,
        db: &db,
        plan: &plan,
        layout: &layout,
        facts: &facts,
        scanner: &scanner,
        directory: &directory,
        symtab: &symtab,
        sources: &sources,
        base_region: &base_region,
    };
    // What links killed beside these outputs left (a SIGKILL leaves its temporaries).
    util::files::sweep_beside(&[Some(&config.output), config.emit_archive.as_ref(), config.stats_json.as_ref()]);
    let written = writer.write::<A>(early_region)?;
    // Before the output is replaced: what the bases it was built on differ in, if they do.
    let rebased = report::rebase::after_relink(&config.output, &layout.manifest, &db);
    if let Some(path) = &config.gnu.map_file {
        write::map_file::write(&db, &layout, &config.output, path)?;
    }
    timer.phase("write");
    let mut pending = util::files::Pending::default();
    if let Some(path) = &config.emit_archive {
        pending.add(chain::write_archive(path, &chain, &layout.manifest, deps.as_deref())?, path);
    }
    if let (Some(cache), Some(key)) = (cache.as_mut(), &key) {
        let members = &written.skipped_members;
        cache.store(key, written.file.path(), &written.build_id, members, &memo, config.cache_max_size);
    }
    if let (Some(cache), Some(base_key)) = (cache.as_mut(), &base_key) {
        cache.report.chunks_replayed = plan.replayed_chunks;
        cache.report.symbols_restored = db.base_restored;
        cache.report.chunks_rescanned = plan.rescanned_chunks;
        cache.report.rescan_reason = plan.rescan_reason.clone();
        cache.report.region = match &base_region {
            write::BaseRegion::Reuse { patches, .. } => {
                cache.report.region_chunks = patches.iter().flatten().count();
                cache.report.region_patches = patches.iter().flatten().map(|p| p.len()).sum();
                "reused"
            }
            write::BaseRegion::Record => "recorded",
            write::BaseRegion::Write => "none",
        };
        if let (true, Some(path)) = (store_prepared, cache.prepared_base(base_key)) {
            let region = match (&base_region, &layout.base_region, signature) {
                (write::BaseRegion::Record, Some(range), Some(signature)) => Some((
                    incremental::prepared::RegionSource {
                        record: incremental::prepared::RegionRecord { range: range.clone(), signature },
                        output: written.file.as_file(),
                    },
                    &written.patches[..],
                )),
                _ => None,
            };
            // The base's symbols as this link loaded them (a link that restored them has
            // none to offer: the previous prepared base's record is kept instead).
            let base_symbols = db
                .base_globals
                .as_ref()
                .and_then(|base| incremental::base_record::encode(&db, chain.base_objects.len(), base));
            let recorded = incremental::prepared::Recorded {
                chunks: &plan.chunks,
                directory: &directory,
                region,
                base_symbols: base_symbols.as_deref(),
            };
            match incremental::prepared::store(&path, base_key, chain.base_objects.len(), recorded, prepared.as_ref()) {
                Ok(()) => {
                    cache.report.base_stored = true;
                    cache.evict(config.cache_max_size);
                }
                Err(e) => {
                    let shown = cache.shown(&path);
                    cache.warn(format!("cannot write the prepared base {shown}: {e}; linking without it"))
                }
            }
        }
    }
    pending.add(written.file, &config.output);
    timer.phase("store");
    let input_bytes = inputs.iter().chain(&bases).map(|f| f.data.len() as u64).sum();
    let stats = report::Stats::collect::<A>(&db, &plan, &layout, input_bytes, inputs.len() + bases.len());
    let cache_report = cache.as_ref().map(|c| c.report.clone()).unwrap_or_default();
    if config.verbose && cache_report.enabled {
        crate::say!("chainlink: output cache: miss; {}", if cache_report.stored { "stored" } else { "not stored" });
        crate::say!("chainlink: {}", cache_report.describe_base());
    }
    if let (true, Some(affected)) = (config.verbose, &rebased) {
        crate::say!(
            "chainlink: {} was built on other bases: {} unit(s) of generation {} and newer have dependencies that changed",
            config.output.display(),
            affected.len(),
            db.newest
        );
        for line in resolve::deps::describe(affected).lines() {
            crate::say!("chainlink:   {line}");
        }
    }
    let report = report::LinkReport { timer, stats, cache: cache_report, rebased };
    let remember = match (cache.as_mut(), &key) {
        (Some(cache), Some(key)) if cache.report.stored => Some((cache, key.as_str())),
        _ => None,
    };
    // Everything the link mapped and built is released only after this.
    conclude(config, pending, report, remember, finished)
}
