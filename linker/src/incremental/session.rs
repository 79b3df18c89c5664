//! One link's use of the caches, as the driver (`lib.rs`) meets it between the core
//! phases: the output cache's key and its lookups (at the start, or at *checkpoints* once
//! the newest generation is hashed), the prepared base (opened early for a warm relink,
//! its recorded symbols, scans, units and base region), and what is stored afterwards.
//!
//! Must not change what a link produces: a served output is the one a link would write,
//! and every recorded result it hands the core phases is checked by them.

use crate::arch::Arch;
use crate::chain::{self, ChainPlan, HashMemo, HashesAhead};
use crate::config::Config;
use crate::incremental::cache::{Cache, Satisfied};
use crate::incremental::prepared::{self, PreparedBase, RegionRecord, RegionSource};
use crate::input::InputFile;
use crate::layout::Layout;
use crate::report::cache::{BaseOutcome, CacheReport, RegionOutcome};
use crate::report::{LinkReport, Stats};
use crate::resolve::{self, SymbolDb};
use crate::scan::Plan;
use crate::util::error::{Error, Result};
use crate::util::files::Pending;
use crate::util::timing::Timer;
use crate::write::{BaseRegion, EarlyRegion, Written};

/// A link the output cache satisfied: the files to put in place, the report, and the key
/// to remember the output under (a copy; an up-to-date output is remembered already).
pub struct Served {
    pub pending: Pending,
    pub report: LinkReport,
    pub remember: Option<String>,
}

/// Why a link ends before its last phase: the cache served it, or it failed. The
/// phases return it through `?` (an `Error` converts into `Failed`).
pub enum Stop {
    Served(Box<Served>),
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(error: Error) -> Stop {
        Stop::Failed(error)
    }
}

impl From<Served> for Stop {
    fn from(served: Served) -> Stop {
        Stop::Served(Box::new(served))
    }
}

/// What symbol resolution gives the rest of the link.
pub struct Resolved<'data> {
    pub chain: ChainPlan<'data>,
    pub db: SymbolDb<'data>,
    /// The manifest's member hashes (stand-ins of the same length while a key looked up
    /// after the layout is still being hashed: see `final_hashes`).
    pub hashes: Vec<String>,
    /// The prepared base for this link's base, when there is one.
    pub prepared: Option<PreparedBase>,
}

pub struct Session<'a> {
    config: &'a Config,
    bases: &'a [InputFile],
    inputs: &'a [InputFile],
    scripts: &'a [(String, Vec<u8>)],
    /// The bases, then the other inputs.
    files: Vec<&'a InputFile>,
    memo: HashMemo,
    cache: Option<Cache>,
    /// Inputs whose hashes the cache does not remember: the key most likely misses.
    speculating: bool,
    /// A warm relink: the bases' hashes, all remembered.
    remembered_bases: Option<Vec<String>>,
    /// The newest generation, hashed on a low-priority thread of its own.
    hashes_ahead: Option<HashesAhead>,
    key: Option<String>,
    base_key: Option<String>,
    /// Opened before symbol resolution (warm relinks), for `early_key`'s base.
    early_key: Option<String>,
    early_chain: Option<ChainPlan<'a>>,
    early_prepared: Option<PreparedBase>,
    early_region: Option<EarlyRegion>,
    /// Digests of base definitions earlier links with this base learned.
    learned: Vec<crate::resolve::deps::KnownDigest>,
}

impl<'a> Session<'a> {
    /// Opens the cache (unless the link must really link: an emitted archive, a map file, a
    /// random build id) and, for a warm relink, its prepared base: that base's region
    /// starts copying into a new output, and the newest generation starts hashing.
    pub fn open(
        config: &'a Config,
        bases: &'a [InputFile],
        inputs: &'a [InputFile],
        scripts: &'a [(String, Vec<u8>)],
    ) -> Result<Session<'a>> {
        let real_link = config.emit_archive.is_some() || config.gnu.needs_a_real_link();
        let files: Vec<&InputFile> = bases.iter().chain(inputs).collect();
        let mut session = Session {
            config,
            bases,
            inputs,
            scripts,
            memo: HashMemo::default(),
            cache: if real_link { None } else { Cache::open(config) },
            speculating: false,
            remembered_bases: None,
            hashes_ahead: None,
            key: None,
            base_key: None,
            early_key: None,
            early_chain: None,
            early_prepared: None,
            learned: Vec::new(),
            early_region: None,
            files,
        };
        let Some(cache) = session.cache.as_mut() else { return Ok(session) };
        let unremembered = cache.unremembered(&session.files);
        session.speculating = !unremembered.is_empty();
        if !session.speculating {
            return Ok(session);
        }
        let hashes: Option<Vec<String>> = bases.iter().map(|base| cache.remembered_hash(base, &session.memo)).collect();
        let Some(hashes) = hashes.filter(|hashes| !hashes.is_empty()) else { return Ok(session) };
        // Hashed on a low-priority thread from now on (opening the prepared base may
        // verify it): it takes the core the mostly single-threaded phases leave idle.
        session.hashes_ahead = HashesAhead::start(&session.files, &unremembered);
        let key = prepared::base_key(config, &hashes);
        session.remembered_bases = Some(hashes);
        if let Some(file) = cache.prepared_file(&key) {
            session.early_region = PreparedBase::region_location(&file)
                .and_then(|(at, range)| EarlyRegion::start(&config.output, &file, at, range));
            let chain = chain::plan(config, bases, inputs)?;
            if chain.newest > 0 && !chain.base_objects.is_empty() {
                session.early_prepared = cache.open_prepared(&key, chain.base_objects.len(), Some(file));
                session.early_key = Some(key);
            }
            session.early_chain = Some(chain);
        }
        Ok(session)
    }

    /// A warm relink looks its key up at checkpoints, once its hashes are in.
    fn key_after_layout(&self) -> bool {
        self.remembered_bases.is_some()
    }

    /// Plans the chain and resolves symbols. When the key is known before (every input
    /// hashed, or hashed meanwhile), it is looked up first and may serve the link.
    pub fn resolve<A: Arch>(
        &mut self,
        sources: &[&InputFile],
        timer: &mut Timer,
    ) -> std::result::Result<Resolved<'a>, Stop> {
        let (config, bases, inputs) = (self.config, self.bases, self.inputs);
        let base_record = self
            .early_prepared
            .as_ref()
            .and_then(|prepared| prepared.base_symbols())
            .map(crate::incremental::base_record::Recorded);
        let keep_base = self.cache.is_some();
        let early_chain = self.early_chain.take();
        let resolve = || -> Result<(ChainPlan<'a>, SymbolDb<'a>)> {
            let chain = match early_chain {
                Some(chain) => chain,
                None => chain::plan(config, bases, inputs)?,
            };
            let record = base_record.as_ref().map(|r| r as &dyn resolve::BaseRecord);
            let db = resolve::resolve(inputs, &chain, config, A::MACHINE, record, keep_base)?;
            Ok((chain, db))
        };
        let (files, scripts, memo) = (&self.files, self.scripts, &self.memo);
        let resolved = match self.cache.as_mut() {
            Some(_) if self.remembered_bases.is_some() => Some(resolve()),
            Some(cache) if self.speculating => {
                let (key, resolved) = rayon::join(|| cache.link_key(config, files, scripts, memo), resolve);
                self.key = Some(key);
                Some(resolved)
            }
            Some(cache) => {
                self.key = Some(cache.link_key(config, files, scripts, memo));
                None
            }
            None => None,
        };
        if let Some(key) = self.key.clone() {
            if let Some(served) = self.serve(&key, timer) {
                return Err(served.into());
            }
            if !self.speculating {
                timer.phase("cache");
            }
        }
        let (chain, db, hashes) = match resolved {
            Some(resolved) => {
                let (chain, db) = resolved?;
                let hashes = if self.key_after_layout() {
                    chain.placeholder_hashes()
                } else {
                    chain.hash_members(sources, &self.memo)
                };
                (chain, db, hashes)
            }
            None => {
                let chain = chain::plan(config, bases, inputs)?;
                let (hashes, db) = rayon::join(
                    || chain.hash_members(sources, &self.memo),
                    || resolve::resolve(inputs, &chain, config, A::MACHINE, None, keep_base),
                );
                (chain, db?, hashes)
            }
        };
        let (db, prepared) = self.open_prepared::<A>(&chain, db)?;
        Ok(Resolved { chain, db, hashes, prepared })
    }

    /// The prepared base for `chain`'s base: the one opened early when it is for this
    /// base (else `db`, resolved with its record of the base's symbols, is resolved again
    /// without), or the cache's.
    fn open_prepared<A: Arch>(
        &mut self,
        chain: &ChainPlan<'a>,
        mut db: SymbolDb<'a>,
    ) -> Result<(SymbolDb<'a>, Option<PreparedBase>)> {
        self.base_key = match &self.cache {
            Some(cache) if chain.newest > 0 && !chain.base_objects.is_empty() => {
                let base_hashes = match &self.remembered_bases {
                    Some(remembered) => remembered,
                    None => &cache.input_hashes[..self.bases.len()],
                };
                Some(prepared::base_key(self.config, base_hashes))
            }
            _ => None,
        };
        if let (Some(cache), None) = (self.cache.as_mut(), &self.base_key) {
            cache.report.base = BaseOutcome::NoBase;
        }
        let early_fits = self.early_key.is_some() && self.early_key == self.base_key;
        if db.base_restored && !early_fits {
            let keep_base = self.cache.is_some();
            db = resolve::resolve(self.inputs, chain, self.config, A::MACHINE, None, keep_base)?;
        }
        // (An early copy not used is dropped here: nothing of this link may outlive it.)
        self.early_region = self.early_region.take().filter(|_| early_fits);
        let early = self.early_prepared.take();
        let prepared = match (self.cache.as_mut(), &self.base_key) {
            _ if early_fits => early,
            (Some(cache), Some(key)) => cache.open_prepared(key, chain.base_objects.len(), None),
            _ => None,
        };
        if let (Some(cache), Some(key), Some(_)) = (self.cache.as_mut(), &self.base_key, &prepared) {
            self.learned = cache.learned_digests(key);
        }
        Ok((db, prepared))
    }

    /// The digests of base definitions this link need not hash: the prepared base's, and
    /// those learned beside it (`incremental::digests`).
    pub fn known_digests<'s>(&'s self, prepared: Option<&'s PreparedBase>) -> crate::incremental::digests::Known<'s> {
        crate::incremental::digests::Known { prepared, learned: &self.learned }
    }

    /// Whether the link records its base chunks' scans (it has a prepared base to keep).
    pub fn records_base(&self) -> bool {
        self.base_key.is_some()
    }

    /// The report of a link that the cache satisfies for `key`, when it does: the output
    /// holds the entry already, or will once the pending copy is put in place.
    fn serve(&mut self, key: &str, timer: &mut Timer) -> Option<Served> {
        let cache = self.cache.as_mut()?;
        if cache.has_entry(key) {
            // Most likely a hit: the early copy is not wanted.
            drop(self.early_region.take());
        }
        let output = &self.config.output;
        let mut pending = Pending::default();
        let output_bytes = match cache.satisfy(key, output)? {
            Satisfied::UpToDate => std::fs::metadata(output).map_or(0, |m| m.len()),
            Satisfied::Copied(copy) => {
                let bytes = copy.as_file().metadata().map_or(0, |m| m.len());
                pending.add(copy, output);
                bytes
            }
        };
        timer.phase("cache");
        if self.config.verbose {
            crate::say!("chainlink: output cache: {} ({})", cache.report.outcome.as_str(), output.display());
        }
        let stats = Stats { output_bytes, threads: rayon::current_num_threads(), ..Default::default() };
        let report = LinkReport { timer: std::mem::take(timer), stats, cache: cache.report.clone(), rebased: None };
        // (A copy is remembered once in place; an up-to-date output already is.)
        let remember = pending.file_for(output).is_some().then(|| key.to_string());
        Some(Served { pending, report, remember })
    }

    /// A checkpoint between phases: a warm relink's key is looked up at the first one by
    /// which its hashes are in (so that a hit costs little more than the hashing), and at
    /// the last one (`wait`, after the layout) at the latest.
    pub fn checkpoint(&mut self, wait: bool, timer: &mut Timer) -> std::result::Result<(), Stop> {
        let hashed = wait || self.hashes_ahead.as_ref().is_none_or(|hashes| hashes.is_done());
        if self.cache.is_none() || self.key.is_some() || !self.key_after_layout() || !hashed {
            return Ok(());
        }
        if let Some(hashes) = self.hashes_ahead.take() {
            hashes.finish(&self.files, &self.memo);
        }
        let cache = self.cache.as_mut().expect("checked above");
        let found = cache.link_key(self.config, &self.files, self.scripts, &self.memo);
        if self.remembered_bases.as_deref() != Some(&cache.input_hashes[..self.bases.len()]) {
            return Err(Error::new("a base archive changed while it was being linked").into());
        }
        if let Some(served) = self.serve(&found, timer) {
            return Err(served.into());
        }
        self.key = Some(found);
        timer.phase("cache");
        Ok(())
    }

    /// The manifest's member hashes when the layout sized it with stand-ins (a key looked
    /// up after the layout brings them).
    pub fn final_hashes(&self, chain: &ChainPlan, sources: &[&InputFile]) -> Option<Vec<String>> {
        self.key_after_layout().then(|| chain.hash_members(sources, &self.memo))
    }

    /// The base region's bytes (the early copy of them, when it is under way).
    pub fn take_early_region(&mut self) -> Option<EarlyRegion> {
        self.early_region.take()
    }

    /// How the write treats the base region. The prepared base is written when missing,
    /// and refreshed when many chunks had to be rescanned (so that the next link replays
    /// what this one learned; a few rescans cost less than rewriting it on every link when
    /// newest generations alternate) or its region did not fit. A link that stores it
    /// records the region afresh (a refreshed one must describe this link's bindings); one
    /// that does not reuses the stored region.
    pub fn plan_region<'p>(
        &self,
        prepared: Option<&'p PreparedBase>,
        layout: &Layout,
        db: &SymbolDb,
        plan: &Plan,
    ) -> RegionPlan<'p> {
        let base_chunks = plan.replayed_chunks + plan.rescanned_chunks;
        let stale = plan.rescanned_chunks > 0 && plan.rescanned_chunks * 8 >= base_chunks;
        let signature = layout.base_region.as_ref().map(|_| layout.region_signature(db, plan));
        let region = prepared.and_then(|prepared| Some((prepared, prepared.region()?, prepared.stored_region()?)));
        let fits = region.as_ref().is_some_and(|(_, record, _)| {
            Some(&record.range) == layout.base_region.as_ref() && Some(record.signature) == signature
        });
        let store_prepared = self.cache.as_ref().is_some_and(|c| c.report.base != BaseOutcome::Unreadable)
            && self.base_key.is_some()
            && (prepared.is_none() || stale || !fits);
        let mode = match region {
            _ if store_prepared && layout.base_region.is_some() => BaseRegion::Record,
            Some((prepared, record, stored)) if fits => {
                let patches = prepared.region_patches(db, &plan.chunks);
                BaseRegion::Reuse { stored, range: record.range, patches }
            }
            _ => BaseRegion::Write,
        };
        RegionPlan { mode, store_prepared, signature }
    }

    /// After the write: keeps the output in the cache and, when planned, the prepared
    /// base; returns what the caches did.
    pub fn store(&mut self, written: &Written, linked: &Linked, region: &RegionPlan) -> CacheReport {
        let Some(cache) = self.cache.as_mut() else { return CacheReport::default() };
        if let Some(key) = &self.key {
            let members = &written.skipped_members;
            cache.store(key, written.file.path(), &written.build_id, members, &self.memo, self.config.cache_max_size);
        }
        if let Some(base_key) = &self.base_key {
            record_outcomes(&mut cache.report, linked, &region.mode);
            cache.report.region_cloned = written.region_copy == crate::write::RegionCopy::Cloned;
            cache.report.digests_hashed = linked.digests_hashed;
            if let (true, Some(path)) = (region.store_prepared, cache.prepared_base(base_key)) {
                store_prepared(cache, &path, base_key, self.config, written, linked, region);
            } else if let (Some(prepared), true) = (linked.prepared, linked.digests_hashed > 0) {
                // The prepared base stays: what this link hashed is kept beside it.
                let learned = crate::incremental::digests::merged(&self.learned, linked.digests, prepared);
                if let Some(learned) = learned {
                    cache.learn_digests(base_key, &learned);
                }
            }
        }
        cache.report.clone()
    }

    /// The cache and key to remember the new output under, when the cache stored it.
    pub fn remember(&mut self) -> Option<(&mut Cache, &str)> {
        match (self.cache.as_mut(), &self.key) {
            (Some(cache), Some(key)) if cache.report.stored => Some((cache, key.as_str())),
            _ => None,
        }
    }

    /// The cache and key to remember a served output under (see [`Served::remember`]).
    pub fn remember_served<'k>(&'k mut self, key: &'k Option<String>) -> Option<(&'k mut Cache, &'k str)> {
        Some((self.cache.as_mut()?, key.as_deref()?))
    }
}

/// How the write treats the base region (see [`Session::plan_region`]).
pub struct RegionPlan<'p> {
    pub mode: BaseRegion<'p>,
    store_prepared: bool,
    signature: Option<[u8; 32]>,
}

/// What the link decided and the prepared base records.
pub struct Linked<'l, 'data> {
    pub chain: &'l ChainPlan<'data>,
    pub db: &'l SymbolDb<'data>,
    pub plan: &'l Plan,
    pub layout: &'l Layout,
    pub directory: &'l crate::tables::ImageDirectory,
    /// The digests of base definitions the dependency records used, and how many of them
    /// this link hashed.
    pub digests: &'l [crate::resolve::deps::KnownDigest],
    pub digests_hashed: usize,
    pub prepared: Option<&'l PreparedBase>,
}

fn record_outcomes(report: &mut CacheReport, linked: &Linked, mode: &BaseRegion) {
    let (plan, db) = (linked.plan, linked.db);
    report.chunks_replayed = plan.replayed_chunks;
    report.symbols_restored = db.base_restored;
    report.chunks_rescanned = plan.rescanned_chunks;
    report.rescan_reason = plan.rescan_reason.clone();
    report.region = match mode {
        BaseRegion::Reuse { patches, .. } => {
            report.region_chunks = patches.iter().flatten().count();
            report.region_patches = patches.iter().flatten().map(|p| p.len()).sum();
            RegionOutcome::Reused
        }
        BaseRegion::Record => RegionOutcome::Recorded,
        BaseRegion::Write => RegionOutcome::NoRegion,
    };
}

/// Writes the prepared base for `base_key` at `path`: this link's base chunk scans, units,
/// base symbols and (when recorded) region. A failure is a warning: the link goes on.
fn store_prepared(
    cache: &mut Cache,
    path: &std::path::Path,
    base_key: &str,
    config: &Config,
    written: &Written,
    linked: &Linked,
    region: &RegionPlan,
) {
    let Linked { chain, db, plan, layout, directory, digests, prepared, .. } = *linked;
    let recorded_region = match (&region.mode, &layout.base_region, region.signature) {
        (BaseRegion::Record, Some(range), Some(signature)) => Some((
            RegionSource { record: RegionRecord { range: range.clone(), signature }, output: written.file.as_file() },
            &written.patches[..],
        )),
        _ => None,
    };
    // The base's symbols as this link loaded them (a link that restored them has none to
    // offer: the previous prepared base's record is kept instead).
    let base_symbols = db
        .base_globals
        .as_ref()
        .and_then(|base| crate::incremental::base_record::encode(db, chain.base_objects.len(), base));
    let recorded = prepared::Recorded {
        chunks: &plan.chunks,
        directory,
        region: recorded_region,
        base_symbols: base_symbols.as_deref(),
        digests,
    };
    match prepared::store(path, base_key, chain.base_objects.len(), recorded, prepared) {
        Ok(()) => {
            cache.report.base_stored = true;
            cache.evict(config.cache_max_size);
        }
        Err(e) => {
            let shown = cache.shown(path);
            cache.warn(format!("cannot write the prepared base {shown}: {e}; linking without it"))
        }
    }
}
