//! chainlink's linking library: everything the `chainlink` command does, testable without it.
//!
//! The link is a pipeline of phases, each borrowing immutably from the one before:
//! inputs → symbols → sections → scan → layout → write. Architecture specifics live behind
//! [`arch::Arch`]; the generic phases never name an architecture's constants.

pub mod arch;
pub mod chain;
pub mod config;
pub mod eh_frame;
pub mod error;
pub mod gnu_hash;
mod hash;
pub mod inputs;
pub mod layout;
pub mod libsearch;
pub mod object_file;
pub mod report;
pub mod scan;
pub mod sections;
pub mod shared_lib;
pub mod symbols;
pub mod symtab;
pub mod tables;
pub mod timing;
pub mod write;

pub use config::{Config, InputArg};
pub use error::{Context, Error, Result};

use arch::Arch;
use timing::Timer;

/// Links `config.inputs` into the shared library `config.output`.
///
/// On error nothing is written: the output is only renamed into place once complete.
pub fn link(config: &Config) -> Result<report::LinkReport> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = config.threads {
        pool = pool.num_threads(threads.max(1));
    }
    let pool = pool.build().map_err(|e| Error::new(format!("cannot start worker threads: {e}")))?;
    pool.install(|| link_with::<arch::x86_64::X86_64>(config))
}

fn link_with<A: Arch>(config: &Config) -> Result<report::LinkReport> {
    let mut timer = Timer::new();
    let inputs = inputs::load_inputs(config)?;
    let bases = inputs::load_bases(config)?;
    timer.phase("inputs");
    let chain = chain::plan(config, &bases, &inputs)?;
    timer.phase("chain");
    let (hashes, db) = rayon::join(|| chain.hash_members(), || symbols::resolve(&inputs, &chain, config, A::MACHINE));
    let mut db = db?;
    if config.verbose {
        eprintln!(
            "chainlink: {} generation(s); {} base text object(s); {} data member(s) dropped; {} definition(s) shadowed by newer generations",
            chain.newest + 1,
            chain.base_objects.len(),
            chain.dropped_members,
            db.shadowed
        );
    }
    timer.phase("symbols");
    let directory = tables::decode::<A>(&db, &config.table_names)?;
    if !directory.is_empty() {
        db.define_synthetic(config.table_names.image.as_bytes(), symbols::Synthetic::ImageDirectory)?;
    }
    let mut manifest = chain.manifest_with(hashes);
    manifest.units = directory.units.iter().map(chain::UnitRecord::from).collect();
    let manifest = manifest.render();
    timer.phase("tables");
    let sections = sections::assign(&db)?;
    timer.phase("sections");
    let facts = scan::SymbolFacts::new(&db, &sections, config.symbolic);
    let keys = scan::Keys::new(&db);
    let scanner = scan::Scanner { db: &db, facts: &facts, keys: &keys, pack_relative: config.pack_relative_relocs };
    let plan = scan::scan::<A>(&scanner, &sections, &directory)?;
    let symtab =
        if config.strip_all { symtab::SymtabPlan::none() } else { symtab::plan(&db, &sections, &facts, &plan) };
    timer.phase("scan");
    let decisions = layout::Decisions {
        config,
        db: &db,
        plan: &plan,
        facts: &facts,
        inputs: &inputs,
        manifest: &manifest,
        directory: &directory,
        symtab: &symtab,
    };
    let layout = layout::layout::<A>(&decisions, sections)?;
    timer.phase("layout");
    let writer = write::Writer {
        config,
        db: &db,
        plan: &plan,
        layout: &layout,
        facts: &facts,
        scanner: &scanner,
        directory: &directory,
        symtab: &symtab,
    };
    let output = writer.write::<A>()?;
    let archive = match &config.emit_archive {
        Some(path) => Some((path, chain::write_archive(path, &chain, &manifest)?)),
        None => None,
    };
    // Both files are complete; only now do they replace what was there.
    if let Some((path, archive)) = archive {
        write::persist(archive, path)?;
    }
    write::persist(output, &config.output)?;
    timer.phase("write");
    let input_bytes = inputs.iter().chain(&bases).map(|f| f.data.len() as u64).sum();
    let stats = report::Stats::collect::<A>(&db, &plan, &layout, input_bytes, inputs.len() + bases.len());
    Ok(report::LinkReport { timer, stats })
}
