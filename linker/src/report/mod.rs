//! What a link did, for `--time`, `--verbose` and `--stats-json`: phase times and counts.
//! Only observes; never influences the output.

use crate::arch::Arch;
use crate::chain::json_string;
use crate::layout::Layout;
use crate::resolve::SymbolDb;
use crate::scan::{Plan, COUNTED_TYPES};
use crate::util::timing::Timer;
use std::fmt::Write as _;

pub mod cache;
pub mod rebase;

#[derive(Default, Clone, Debug)]
pub struct Stats {
    pub threads: usize,
    pub input_files: usize,
    pub input_bytes: u64,
    pub objects: usize,
    pub base_objects: usize,
    pub generations: u32,
    pub output_bytes: u64,
    pub globals: usize,
    pub imports: usize,
    pub exports: usize,
    pub shadowed: usize,
    pub relocations_by_type: Vec<(String, u64)>,
    pub dynamic_relative: u64,
    pub dynamic_symbolic: u64,
    pub relr_words: u64,
    pub plt_entries: u64,
    pub got_slots: u64,
    pub units: usize,
}

impl Stats {
    pub fn relocations(&self) -> u64 {
        self.relocations_by_type.iter().map(|(_, n)| n).sum()
    }

    pub fn collect<A: Arch>(
        db: &SymbolDb,
        plan: &Plan,
        layout: &Layout,
        input_bytes: u64,
        input_files: usize,
    ) -> Stats {
        let relocations_by_type = plan
            .type_counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(r_type, &n)| {
                let name = if r_type == COUNTED_TYPES - 1 {
                    "other".to_string()
                } else {
                    A::reloc_name(object::elf::RelocationType(r_type as u32))
                };
                (name, n)
            })
            .collect();
        Stats {
            threads: rayon::current_num_threads(),
            input_files,
            input_bytes,
            objects: db.objects.len(),
            base_objects: db.objects.iter().filter(|o| o.generation < db.newest).count(),
            generations: db.objects.iter().map(|o| o.generation + 1).max().unwrap_or(1),
            output_bytes: layout.file_size,
            globals: db.globals.len(),
            imports: plan.dynamic_imports.len(),
            exports: plan.dynamic_exports.len(),
            shadowed: db.shadowed,
            relocations_by_type,
            dynamic_relative: (plan.chunk_relative + plan.got_relative + plan.image_relative) as u64,
            dynamic_symbolic: (plan.chunk_symbolic + plan.got_symbolic) as u64,
            relr_words: layout.relr.len() as u64,
            plt_entries: plan.plt.len() as u64,
            got_slots: plan.got_slots as u64,
            units: layout.manifest.lines().filter(|l| l.starts_with("unit ")).count(),
        }
    }
}

pub struct LinkReport {
    pub timer: Timer,
    pub stats: Stats,
    pub cache: cache::CacheReport,
    /// A relink onto new bases: the units whose dependencies changed (`rebase`).
    pub rebased: Option<Vec<crate::resolve::deps::Affected>>,
}

impl LinkReport {
    pub fn to_json(&self) -> String {
        let s = &self.stats;
        let mut json = String::from("{\n");
        let _ = writeln!(json, "  \"chainlink_version\": {},", json_string(env!("CARGO_PKG_VERSION")));
        let _ = writeln!(json, "  \"threads\": {},", s.threads);
        let phases = |json: &mut String, key: &str, time: fn(&crate::util::timing::Phase) -> std::time::Duration| {
            let _ = write!(json, "  \"{key}\": {{");
            for (i, phase) in self.timer.phases.iter().enumerate() {
                let ms = time(phase).as_secs_f64() * 1e3;
                let _ = write!(json, "{}\"{}\": {ms:.3}", if i == 0 { "" } else { ", " }, phase.name);
            }
            json.push_str("},\n");
        };
        phases(&mut json, "phases_ms", |phase| phase.wall);
        phases(&mut json, "phases_cpu_ms", |phase| phase.cpu);
        let _ = writeln!(json, "  \"total_ms\": {:.3},", self.timer.total().as_secs_f64() * 1e3);
        let _ = writeln!(json, "  \"total_cpu_ms\": {:.3},", self.timer.total_cpu().as_secs_f64() * 1e3);
        let _ = writeln!(
            json,
            "  \"inputs\": {{\"files\": {}, \"bytes\": {}, \"objects\": {}, \"base_objects\": {}, \"generations\": {}}},",
            s.input_files, s.input_bytes, s.objects, s.base_objects, s.generations
        );
        let _ = writeln!(json, "  \"output\": {{\"bytes\": {}}},", s.output_bytes);
        let _ = writeln!(
            json,
            "  \"symbols\": {{\"globals\": {}, \"imports\": {}, \"exports\": {}, \"shadowed\": {}}},",
            s.globals, s.imports, s.exports, s.shadowed
        );
        let _ = write!(json, "  \"relocations\": {{\"total\": {}, \"by_type\": {{", s.relocations());
        for (i, (name, count)) in s.relocations_by_type.iter().enumerate() {
            let _ = write!(json, "{}{}: {count}", if i == 0 { "" } else { ", " }, json_string(name));
        }
        json.push_str("}},\n");
        let _ = writeln!(
            json,
            "  \"dynamic_relocations\": {{\"relative\": {}, \"symbolic\": {}, \"relr_words\": {}, \"plt\": {}}},",
            s.dynamic_relative, s.dynamic_symbolic, s.relr_words, s.plt_entries
        );
        let _ = writeln!(json, "  \"got_slots\": {},", s.got_slots);
        let c = &self.cache;
        let _ = writeln!(
            json,
            "  \"cache\": {{\"enabled\": {}, \"outcome\": {}, \"stored\": {}, \"fingerprints_reused\": {}, \"inputs_hashed\": {}, \"warnings\": {}}},",
            c.enabled,
            json_string(if c.enabled { c.outcome.as_str() } else { "disabled" }),
            c.stored,
            c.fingerprints_reused,
            c.inputs_hashed,
            c.warnings.len()
        );
        let _ = writeln!(
            json,
            "  \"prepared_base\": {{\"outcome\": {}, \"stored\": {}, \"chunks_replayed\": {}, \"chunks_rescanned\": {}, \"rescan_reason\": {}, \"region\": {}, \"region_chunks\": {}, \"region_patches\": {}, \"region_cloned\": {}, \"digests_hashed\": {}, \"symbols\": {}}},",
            json_string(c.base.as_str()),
            c.base_stored,
            c.chunks_replayed,
            c.chunks_rescanned,
            c.rescan_reason.as_deref().map_or("null".to_string(), json_string),
            json_string(c.region.as_str()),
            c.region_chunks,
            c.region_patches,
            c.region_cloned,
            c.digests_hashed,
            json_string(if c.symbols_restored { "restored" } else { "loaded" })
        );
        let rebased = self.rebased.as_deref().map_or("null".to_string(), crate::resolve::deps::to_json);
        let _ = writeln!(json, "  \"rebased_units\": {rebased},");
        let _ = writeln!(json, "  \"units\": {}", s.units);
        json.push_str("}\n");
        json
    }
}
