//! The state symbol resolution reaches once the base objects are loaded (their globals,
//! global ids and decoded locals), as flat little-endian records a prepared base keeps, so
//! that a link with the same base restores it instead of decoding and interning the
//! base's hundred thousand names again.
//!
//! Must not: restore anything it has not checked against the objects parsed in this link
//! (counts, name ranges, ids). A record that does not fit is ignored, and the base loaded
//! as usual.

use crate::input::object_file::ObjectFile;
use crate::resolve::{
    BaseGlobals, BaseRecord, BaseState, Definition, FileId, Global, GlobalId, LoadedObject, LocalSymbol, SymbolDb,
    LOCAL_ABSOLUTE, LOCAL_NOWHERE,
};
use crate::util::hash::{name_hash, NameKey, NameTable};
use rayon::prelude::*;

const MAGIC: &[u8; 8] = b"CLBASESY";
/// name object, name length, name offset, hash, COMMON size and alignment, scope,
/// definition file and index, stripped-definition file and section, flags, padding.
const GLOBAL_RECORD: usize = 72;
const LOCAL_RECORD: usize = 12;

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// The record of `db`'s first `base_objects` objects and of `base`; `None` when that state
/// holds something a record does not describe (a lazy archive member, a definition other
/// than an object's, a name outside its object).
pub fn encode(db: &SymbolDb, base_objects: usize, base: &BaseGlobals) -> Option<Vec<u8>> {
    let objects = db.objects.get(..base_objects)?;
    if base.global_ids.len() != base_objects {
        return None;
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put32(&mut out, base_objects as u32);
    put32(&mut out, u32::try_from(base.globals.len()).ok()?);
    put64(&mut out, base.shadowed as u64);
    for (loaded, global_ids) in objects.iter().zip(&base.global_ids) {
        let object = &loaded.object;
        for value in [loaded.generation, object.symbols.len() as u32, object.first_global as u32] {
            put32(&mut out, value);
        }
        put32(&mut out, loaded.discarded.len() as u32);
        out.push(loaded.has_local_ifunc as u8);
        out.extend(loaded.discarded.iter().map(|&d| d as u8));
        out.extend(loaded.stripped.iter().map(|&s| s as u8));
        if global_ids.len() != object.symbols.len() - object.first_global || loaded.locals.len() != object.first_global
        {
            return None;
        }
        for id in global_ids {
            put32(&mut out, id.0);
        }
        for local in &loaded.locals {
            put32(&mut out, local.section);
            put64(&mut out, local.value);
        }
    }
    // A global's name lies in some base object's data: (object, offset, length). The
    // objects' data by address (the first object of each), searched by halving.
    let mut by_address: Vec<(usize, u32)> = objects
        .iter()
        .enumerate()
        .map(|(index, loaded)| (loaded.object.data.as_ptr() as usize, index as u32))
        .collect();
    by_address.sort_unstable();
    by_address.dedup_by_key(|&mut (start, _)| start);
    let home_of = |name: &[u8]| {
        let at = name.as_ptr() as usize;
        let &(start, index) = by_address.get(by_address.partition_point(|&(start, _)| start <= at).checked_sub(1)?)?;
        let data = objects[index as usize].object.data;
        (at + name.len() <= start + data.len()).then(|| (index, (at - start) as u64))
    };
    let mut last_home: Option<(u32, usize, usize)> = None;
    for global in &base.globals {
        if global.lazy.is_some() {
            return None;
        }
        // Names of one object come in a row: try the last object first.
        let at = global.name.as_ptr() as usize;
        let home = match last_home {
            Some((index, start, end)) if at >= start && at + global.name.len() <= end => {
                Some((index, (at - start) as u64))
            }
            _ => home_of(global.name),
        }?;
        let data = objects[home.0 as usize].object.data;
        last_home = Some((home.0, data.as_ptr() as usize, data.as_ptr() as usize + data.len()));
        let (tag, file, index) = match global.definition {
            Definition::Undefined => (0u8, 0, 0),
            Definition::Object { file, index } => (1, file.0, index),
            _ => return None,
        };
        let record_start = out.len();
        let (common, (size, align)) = (global.common.is_some(), global.common.unwrap_or((0, 0)));
        let (stripped, (stripped_file, stripped_section)) =
            (global.stripped_definition.is_some(), global.stripped_definition.unwrap_or((FileId(0), 0)));
        put32(&mut out, home.0);
        put32(&mut out, u32::try_from(global.name.len()).ok()?);
        put64(&mut out, home.1);
        put64(&mut out, global.hash);
        put64(&mut out, size);
        put64(&mut out, align);
        for value in [global.scope, file, index, stripped_file.0, stripped_section] {
            put32(&mut out, value);
        }
        out.extend_from_slice(&[
            tag,
            global.weak_definition as u8,
            common as u8,
            global.strong_reference as u8,
            global.visibility,
            global.reference_type,
            stripped as u8,
            0,
            0,
            0,
            0,
            0,
        ]);
        debug_assert_eq!(out.len() - record_start, GLOBAL_RECORD);
    }
    Some(out)
}

/// Reads a record written by [`encode`].
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// A record as [`crate::resolve::resolve`] takes it.
pub struct Recorded<'a>(pub &'a [u8]);

impl BaseRecord for Recorded<'_> {
    fn restore<'data>(&self, bases: Vec<(ObjectFile<'data>, u32)>) -> Option<BaseState<'data>> {
        restore(self.0, bases)
    }
}

/// Rebuilds the state `record` describes over `objects` (the base objects, parsed in this
/// link, with their generations); `None` if the record does not fit them.
pub fn restore<'data>(record: &[u8], objects: Vec<(ObjectFile<'data>, u32)>) -> Option<BaseState<'data>> {
    let mut reader = Reader { bytes: record, at: 0 };
    if reader.take(8)? != MAGIC || reader.u32()? as usize != objects.len() {
        return None;
    }
    let global_count = reader.u32()? as usize;
    let shadowed = reader.u64()? as usize;
    let mut loaded_objects = Vec::with_capacity(objects.len());
    for (object, generation) in objects {
        let (recorded_generation, symbols, first_global) =
            (reader.u32()?, reader.u32()? as usize, reader.u32()? as usize);
        let sections = reader.u32()? as usize;
        if recorded_generation != generation
            || symbols != object.symbols.len()
            || first_global != object.first_global
            || sections != object.sections.len()
        {
            return None;
        }
        let has_local_ifunc = reader.take(1)?[0] != 0;
        let discarded = reader.take(sections)?.iter().map(|&d| d != 0).collect();
        let stripped: Vec<bool> = reader.take(sections)?.iter().map(|&s| s != 0).collect();
        let ids = reader.take((symbols - first_global).checked_mul(4)?)?;
        let global_ids: Vec<GlobalId> =
            ids.chunks_exact(4).map(|id| GlobalId(u32::from_le_bytes(id.try_into().expect("4 bytes")))).collect();
        if global_ids.iter().any(|id| id.0 as usize >= global_count) {
            return None;
        }
        let locals: Vec<LocalSymbol> = reader
            .take(first_global.checked_mul(LOCAL_RECORD)?)?
            .chunks_exact(LOCAL_RECORD)
            .map(|local| LocalSymbol {
                section: u32::from_le_bytes(local[..4].try_into().expect("4 bytes")),
                value: u64::from_le_bytes(local[4..].try_into().expect("8 bytes")),
            })
            .collect();
        let in_place =
            |section: u32| (section as usize) < sections || section == LOCAL_ABSOLUTE || section == LOCAL_NOWHERE;
        if !locals.iter().all(|local| in_place(local.section)) {
            return None;
        }
        loaded_objects.push(LoadedObject::new(
            object,
            generation,
            true,
            global_ids,
            discarded,
            stripped,
            (locals, has_local_ifunc),
        ));
    }
    let records = reader.take(global_count.checked_mul(GLOBAL_RECORD)?)?;
    if reader.at != record.len() {
        return None;
    }
    let symbols_of = |file: u32| loaded_objects.get(file as usize).map(|o| o.object.symbols.len());
    let sections_of = |file: u32| loaded_objects.get(file as usize).map(|o| o.object.sections.len());
    let mut globals = Vec::with_capacity(global_count);
    for record in records.chunks_exact(GLOBAL_RECORD) {
        let u32_at = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().expect("8 bytes"));
        let (home, len, offset) = (u32_at(0), u32_at(4) as usize, usize::try_from(u64_at(8)).ok()?);
        let data = loaded_objects.get(home as usize)?.object.data;
        let name = data.get(offset..offset.checked_add(len)?)?;
        let flags = &record[60..68];
        let (file, index) = (u32_at(44), u32_at(48));
        let definition = match flags[0] {
            0 => Definition::Undefined,
            1 if symbols_of(file).is_some_and(|n| (index as usize) < n) => {
                Definition::Object { file: FileId(file), index }
            }
            _ => return None,
        };
        let stripped_definition = match flags[6] {
            0 => None,
            _ if sections_of(u32_at(52)).is_some_and(|n| (u32_at(56) as usize) < n) => {
                Some((FileId(u32_at(52)), u32_at(56)))
            }
            _ => return None,
        };
        // A COMMON alignment is at least 1 (loading takes the symbol's value, at least 1).
        let common = (flags[2] != 0).then(|| (u64_at(24), u64_at(32)));
        if common.is_some_and(|(_, align)| align == 0) {
            return None;
        }
        globals.push(Global {
            name,
            hash: u64_at(16),
            scope: u32_at(40),
            definition,
            weak_definition: flags[1] != 0,
            common,
            strong_reference: flags[3] != 0,
            visibility: flags[4],
            reference_type: flags[5],
            lazy: None,
            stripped_definition,
        });
    }
    // The table is keyed by the recorded hashes: each must be its name's.
    if !globals.par_iter().with_min_len(4096).all(|global| global.hash == name_hash(global.name)) {
        return None;
    }
    let mut names = NameTable::default();
    names.reserve(globals.len(), |id| globals[id as usize].key());
    for (id, global) in globals.iter().enumerate() {
        let key = NameKey { hash: global.hash, name: global.name, scope: global.scope };
        let (_, inserted) = names.get_or_insert(&key, id as u32, |id| globals[id as usize].key());
        if !inserted {
            return None;
        }
    }
    Some(BaseState { objects: loaded_objects, globals, names, shadowed })
}
