//! `--gc-sections`: drops every allocated input section that nothing live refers to.
//!
//! Marks from GNU ld's roots for a shared library: sections defining exported symbols (and
//! `-u`, `--require-defined`, `-e`, `-init`/`-fini` and `--defsym` targets), what the default
//! linker script KEEPs (`.init`, `.fini`, the init/fini arrays, `.ctors`/`.dtors`, `.jcr`),
//! notes, `SHF_GNU_RETAIN` sections and every CIE's references; then follows relocations.
//! A section named like a C identifier lives when its `__start_`/`__stop_` symbols are
//! referenced; a COMDAT group lives or dies whole; an `SHF_LINK_ORDER` section lives with
//! the section it is linked to; an FDE's references (its LSDA) live with its function.
//! Non-allocated sections (debug information) are kept and do not keep anything.
//! Dropped sections become discarded, as a COMDAT duplicate is. Must not change bindings.

use crate::config::Config;
use crate::input::eh_frame::{self, EhRecordKind};
use crate::input::object_file::{rela_parts, ENDIAN};
use crate::resolve::exports::Exports;
use crate::resolve::{self, Definition, FileId, GlobalId, LoadedObject, SymbolDb, Synthetic};
use crate::sections::InputSectionId;
use crate::util::error::Result;
use crate::util::hash::FxHashMap;
use object::elf;
use object::read::elf::SectionHeader as _;

/// `SHF_GNU_RETAIN`: never garbage-collected.
const SHF_GNU_RETAIN: u64 = 0x20_0000;

type Section = (u32, u32);

struct Marker<'a, 'data> {
    db: &'a SymbolDb<'data>,
    live: Vec<Vec<bool>>,
    queue: Vec<Section>,
    /// Per function section: what its FDEs refer to besides it (LSDAs).
    fde_refs: FxHashMap<Section, Vec<Section>>,
    /// Per section: the other members of its COMDAT group, and the `SHF_LINK_ORDER`
    /// sections linked to it.
    companions: FxHashMap<Section, Vec<Section>>,
    /// Sections by name, for `__start_`/`__stop_` references (taken out once marked).
    by_name: FxHashMap<&'data [u8], Vec<Section>>,
}

/// Drops the unreferenced sections of `db`'s objects; returns them in input order.
pub fn collect(db: &mut SymbolDb, exports: &Exports, config: &Config) -> Result<Vec<InputSectionId>> {
    let live = {
        let mut marker = Marker::new(db);
        marker.mark_roots(exports, config);
        marker.propagate();
        marker.live
    };
    let mut dropped = Vec::new();
    for (file, loaded) in db.objects.iter_mut().enumerate() {
        for (section, header) in loaded.object.sections.enumerate().skip(1) {
            let index = section.0;
            let alloc = header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 != 0;
            // (Empty sections change nothing; GNU ld does not list them either.)
            if alloc && !live[file][index] && !loaded.discarded[index] && header.sh_size(ENDIAN) > 0 {
                loaded.discarded[index] = true;
                dropped.push(InputSectionId { file: FileId(file as u32), section: index as u32 });
            }
        }
    }
    if config.gnu.print_gc_sections {
        for id in &dropped {
            let object = &db.object(id.file).object;
            eprintln!(
                "chainlink: removing unused section '{}' in file '{}'",
                object.section_name_str(id.section as usize),
                object.name
            );
        }
    }
    Ok(dropped)
}

impl<'a, 'data> Marker<'a, 'data> {
    fn new(db: &'a SymbolDb<'data>) -> Marker<'a, 'data> {
        let live = db.objects.iter().map(|loaded| vec![false; loaded.object.sections.len()]).collect();
        let mut marker = Marker {
            db,
            live,
            queue: Vec::new(),
            fde_refs: FxHashMap::default(),
            companions: FxHashMap::default(),
            by_name: FxHashMap::default(),
        };
        for (file, loaded) in db.objects.iter().enumerate() {
            marker.index_object(file as u32, loaded);
        }
        marker
    }

    /// Records an object's groups, link-order dependents, section names and FDEs.
    fn index_object(&mut self, file: u32, loaded: &LoadedObject<'data>) {
        let object = &loaded.object;
        for (section, header) in object.sections.enumerate() {
            let index = section.0 as u32;
            if let Ok(Some((_, members))) = header.group(ENDIAN, object.data) {
                let members: Vec<Section> = members.iter().map(|m| (file, m.get(ENDIAN))).collect();
                for &member in &members {
                    self.companions.entry(member).or_default().extend(members.iter().filter(|&&m| m != member));
                }
            }
            if header.sh_flags(ENDIAN).0 & elf::SHF_LINK_ORDER.0 != 0 {
                let link = header.sh_link(ENDIAN);
                if link != 0 {
                    self.companions.entry((file, link)).or_default().push((file, index));
                }
            }
            if index != 0 && !loaded.discarded[index as usize] {
                self.by_name.entry(object.section_name(index as usize)).or_default().push((file, index));
            }
        }
    }

    fn mark(&mut self, (file, section): Section) {
        let Some(live) = self.live.get_mut(file as usize).and_then(|sections| sections.get_mut(section as usize))
        else {
            return;
        };
        if !*live && !self.db.objects[file as usize].discarded[section as usize] {
            *live = true;
            self.queue.push((file, section));
        }
    }

    /// The section a global's definition lies in, if an object defines it there.
    fn defining_section(&self, id: GlobalId) -> Option<Section> {
        let Definition::Object { file, index } = self.db.global(id).definition else { return None };
        let object = &self.db.object(file).object;
        let symbol = object.symbol(index as usize).ok()?;
        let section = object.symbol_section(symbol, index as usize).ok()??;
        Some((file.0, section as u32))
    }

    fn mark_global(&mut self, id: GlobalId) {
        match self.db.global(id).definition {
            Definition::Synthetic(Synthetic::SectionStart | Synthetic::SectionStop) => {
                let name = resolve::bracketed_section(self.db.global(id).name);
                for section in self.by_name.remove(name).unwrap_or_default() {
                    self.mark(section);
                }
            }
            _ => {
                if let Some(section) = self.defining_section(id) {
                    self.mark(section);
                }
            }
        }
    }

    fn mark_name(&mut self, name: &str) {
        if let Some(id) = self.db.lookup(name.as_bytes()) {
            self.mark_global(id);
        }
    }

    fn mark_roots(&mut self, exports: &Exports, config: &Config) {
        let db = self.db;
        for (id, global) in db.globals.iter().enumerate() {
            let visible = global.visibility == elf::STV_DEFAULT.0 || global.visibility == elf::STV_PROTECTED.0;
            if visible && !exports.local[id] && matches!(global.definition, Definition::Object { .. }) {
                self.mark_global(GlobalId(id as u32));
            }
        }
        let gnu = &config.gnu;
        let named = gnu.undefined.iter().chain(&gnu.require_defined).chain(&gnu.entry).chain([&gnu.init, &gnu.fini]);
        let targets = gnu.defsyms.iter().filter_map(|defsym| defsym.symbol.as_ref());
        for name in named.chain(targets) {
            self.mark_name(name);
        }
        for (file, loaded) in db.objects.iter().enumerate() {
            let object = &loaded.object;
            for (section, header) in object.sections.enumerate().skip(1) {
                let name = object.section_name(section.0);
                let sh_type = header.sh_type(ENDIAN);
                let flags = header.sh_flags(ENDIAN).0;
                let prefixed = |prefix: &[u8]| name == prefix || name.starts_with(&[prefix, b"."].concat());
                let kept = sh_type == elf::SHT_NOTE
                    || matches!(sh_type, elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY)
                    || flags & SHF_GNU_RETAIN != 0
                    || name.starts_with(b".note")
                    || [
                        &b".init"[..],
                        b".fini",
                        b".init_array",
                        b".fini_array",
                        b".preinit_array",
                        b".ctors",
                        b".dtors",
                    ]
                    .iter()
                    .any(|prefix| prefixed(prefix))
                    || name == b".jcr"
                    || name == b".eh_frame";
                if kept {
                    self.mark((file as u32, section.0 as u32));
                }
                if name == b".eh_frame" && !loaded.discarded[section.0] {
                    self.index_eh_frame(file as u32, section.0);
                }
            }
        }
    }

    /// CIEs' references are roots; an FDE's references beyond its function live with it.
    fn index_eh_frame(&mut self, file: u32, section: usize) {
        let db = self.db;
        let loaded = &db.objects[file as usize];
        let object = &loaded.object;
        let relocations = object.relocations(section);
        let sorted = relocations.windows(2).all(|w| rela_parts(&w[0]).0 <= rela_parts(&w[1]).0);
        let records = object.section_data(section).and_then(eh_frame::parse_eh_frame);
        let Some(records) = records.ok().filter(|_| sorted) else {
            // Records that cannot be told apart: everything they refer to lives.
            for rela in relocations {
                if let Some(target) = self.target_section(file, loaded, rela_parts(rela).1) {
                    self.mark(target);
                }
            }
            return;
        };
        let mut next = 0;
        for record in records {
            let end = (record.offset + record.size) as u64;
            let mut targets = Vec::new();
            while let Some(rela) = relocations.get(next) {
                let (offset, symbol, _, _) = rela_parts(rela);
                if offset >= end {
                    break;
                }
                next += 1;
                if offset >= record.offset as u64 {
                    targets.extend(self.target_section(file, loaded, symbol));
                }
            }
            match record.kind {
                EhRecordKind::Cie => targets.into_iter().for_each(|target| self.mark(target)),
                EhRecordKind::Fde { .. } => {
                    let mut targets = targets.into_iter();
                    if let Some(function) = targets.next() {
                        self.fde_refs.entry(function).or_default().extend(targets);
                    }
                }
                EhRecordKind::Terminator => {}
            }
        }
    }

    /// The section a relocation's symbol lies in (a local's, or a global's definition).
    fn target_section(&self, file: u32, loaded: &LoadedObject, symbol: u32) -> Option<Section> {
        match loaded.global(symbol as usize) {
            Some(id) => self.defining_section(id),
            None => {
                let local = loaded.locals.get(symbol as usize)?;
                (local.section != resolve::LOCAL_ABSOLUTE && local.section != resolve::LOCAL_NOWHERE)
                    .then_some((file, local.section))
            }
        }
    }

    fn propagate(&mut self) {
        while let Some((file, section)) = self.queue.pop() {
            // (Each section is marked once: its companions and FDE references are taken out.)
            for companion in self.companions.remove(&(file, section)).unwrap_or_default() {
                self.mark(companion);
            }
            for reference in self.fde_refs.remove(&(file, section)).unwrap_or_default() {
                self.mark(reference);
            }
            let db = self.db;
            let loaded = &db.objects[file as usize];
            let object = &loaded.object;
            let header = object.section(section as usize);
            if header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 == 0
                || object.section_name(section as usize) == b".eh_frame"
            {
                continue;
            }
            for rela in object.relocations(section as usize) {
                let (_, symbol, _, _) = rela_parts(rela);
                match loaded.global(symbol as usize) {
                    Some(id) => self.mark_global(id),
                    None => {
                        if let Some(target) = self.target_section(file, loaded, symbol) {
                            self.mark(target);
                        }
                    }
                }
            }
        }
    }
}

/// `--strip-debug`: drops the debugging sections GNU ld's `-S` drops.
pub fn strip_debug(db: &mut SymbolDb) {
    for loaded in &mut db.objects {
        for (section, header) in loaded.object.sections.enumerate().skip(1) {
            let name = loaded.object.section_name(section.0);
            let debug = [&b".debug"[..], b".zdebug", b".gnu.debuglto_", b".stab", b".line", b".gnu.linkonce.wi."]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            if debug && header.sh_flags(ENDIAN).0 & elf::SHF_ALLOC.0 == 0 {
                loaded.discarded[section.0] = true;
            }
        }
    }
}
