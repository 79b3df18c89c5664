//! Chain policy: which generation every object belongs to, which members are dropped and
//! which sections are stripped, and the manifest that records it.
//!
//! A base archive is either a Julia image archive (one generation: text members kept, data
//! members dropped) or an archive chainlink emitted with `--emit-archive` (several
//! generations, described by its manifest member). The link's own inputs form the newest
//! generation. This module decides; it does not resolve symbols or touch section contents.

use crate::config::Config;
use crate::input::{FileKind, InputFile};
use crate::util::background::Background;
use crate::util::error::{Error, Result};
use std::fmt::Write as _;

pub mod base_check;
pub mod base_search;

/// Name of the manifest member in an emitted archive and of the manifest section in an
/// output library.
pub const MANIFEST_MEMBER: &str = "chainlink.manifest";
pub const MANIFEST_SECTION: &str = ".chainlink.manifest";
/// Where the dependency records (`resolve::deps`) are kept: a section of the output, a
/// member of the emitted archive.
pub const DEPS_SECTION: &str = ".chainlink.deps";
pub const DEPS_MEMBER: &str = "chainlink.deps";
const MANIFEST_MAGIC: &str = "chainlink-manifest 1";
/// The archive name recorded for a data member an emitted archive does not carry.
const NOT_CARRIED: &str = "-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    Text,
    Data,
}

impl MemberKind {
    fn as_str(self) -> &'static str {
        match self {
            MemberKind::Text => "text",
            MemberKind::Data => "data",
        }
    }
}

/// One member of one generation, as recorded in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestMember {
    pub kind: MemberKind,
    /// The member's own name (`text.o`, `text#3.o`, `data.o`).
    pub name: String,
    pub blake3: String,
    /// Its name inside an emitted archive (`g0.text.o`).
    pub archive_name: String,
}

/// One unit with dispatch tables, as recorded in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitRecord {
    pub generation: u32,
    pub shard: u32,
    pub nfvars: u64,
    pub ngvars: u64,
    pub fvars_symbol: String,
    pub gvars_symbol: String,
    /// The member the unit came from (`text#2.o`), without directories.
    pub member: String,
}

/// `dir/sys-o.a(text#0.o)` → `text#0.o`; `dir/text.o` → `text.o`: no build paths in outputs.
pub fn simple_name(name: &str) -> &str {
    match name.strip_suffix(')').and_then(|n| n.rsplit_once('(')) {
        Some((_, member)) => member,
        None => name.rsplit('/').next().unwrap_or(name),
    }
}

/// Manifest fields are space separated, one record a line; a name (a member's, a section's,
/// a symbol's) is written with `%XX` for each byte that would break that or that an
/// archive cannot hold in a member name: `%`, space, `/` and control characters (CR and
/// LF among them). [`unescape`] is its exact inverse, so any name round-trips. Names
/// without such bytes (`text#0.o`) are written as they are.
pub fn escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        // Every byte escaped is ASCII: other characters are kept whole.
        if matches!(c, '%' | ' ' | '/' | '\0'..='\x1f' | '\x7f') {
            let _ = write!(escaped, "%{:02X}", c as u32);
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// The name an escaped field stands for; `None` when the field is not one [`escape`] writes
/// (a `%` not followed by two hex digits, or bytes that are not UTF-8).
pub fn unescape(field: &str) -> Option<String> {
    let bytes = field.as_bytes();
    let mut name = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            name.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            name.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(name).ok()
}

/// Where a generation came from: the simple file name of the `--base` archive the link
/// that made this manifest read it from (never a path), and its number in that archive.
/// `inspect --check` finds that archive again by name (`base_search`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub archive: String,
    pub generation: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub strip: Vec<String>,
    pub generations: Vec<Vec<ManifestMember>>,
    /// One per generation: the base it came from (`None` for the link's own inputs).
    pub origins: Vec<Option<Origin>>,
    pub units: Vec<UnitRecord>,
}

impl Manifest {
    pub fn render(&self) -> String {
        let mut text = format!("{MANIFEST_MAGIC}\n");
        for section in &self.strip {
            let _ = writeln!(text, "strip {}", escape(section));
        }
        for (generation, members) in self.generations.iter().enumerate() {
            match self.origins.get(generation).and_then(Option::as_ref) {
                Some(origin) => {
                    let _ = writeln!(
                        text,
                        "generation {generation} from {} {}",
                        escape(&origin.archive),
                        origin.generation
                    );
                }
                None => {
                    let _ = writeln!(text, "generation {generation}");
                }
            }
            for member in members {
                let _ = writeln!(
                    text,
                    "member {} {} {} {}",
                    member.kind.as_str(),
                    escape(&member.name),
                    member.blake3,
                    escape(&member.archive_name)
                );
            }
        }
        for unit in &self.units {
            let _ = writeln!(
                text,
                "unit {} {} {} {} {} {} {}",
                unit.generation,
                unit.shard,
                unit.nfvars,
                unit.ngvars,
                escape(&unit.fvars_symbol),
                escape(&unit.gvars_symbol),
                escape(&unit.member)
            );
        }
        text
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let mut lines = text.lines();
        if lines.next() != Some(MANIFEST_MAGIC) {
            return Err(Error::new("not a chainlink manifest (bad first line)"));
        }
        let mut manifest = Manifest::default();
        for (number, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            let bad = || Error::new(format!("manifest line {}: malformed: `{}`", number + 2, line.escape_debug()));
            let name = |field: &str| unescape(field).ok_or_else(bad);
            match fields.as_slice() {
                ["strip", section] => manifest.strip.push(name(section)?),
                ["generation", index, origin @ ..] => {
                    if index.parse::<usize>().ok() != Some(manifest.generations.len()) {
                        return Err(bad());
                    }
                    let origin = match origin {
                        [] => None,
                        ["from", archive, generation] => {
                            Some(Origin { archive: name(archive)?, generation: generation.parse().map_err(|_| bad())? })
                        }
                        _ => return Err(bad()),
                    };
                    manifest.generations.push(Vec::new());
                    manifest.origins.push(origin);
                }
                ["member", kind, member_name, hash, archive_name] => {
                    let kind = match *kind {
                        "text" => MemberKind::Text,
                        "data" => MemberKind::Data,
                        _ => return Err(bad()),
                    };
                    let generation = manifest.generations.last_mut().ok_or_else(bad)?;
                    generation.push(ManifestMember {
                        kind,
                        name: name(member_name)?,
                        blake3: hash.to_string(),
                        archive_name: name(archive_name)?,
                    });
                }
                ["unit", generation, shard, nfvars, ngvars, fvars, gvars, member] => {
                    let number = |field: &str| field.parse::<u64>().map_err(|_| bad());
                    manifest.units.push(UnitRecord {
                        generation: number(generation)? as u32,
                        shard: number(shard)? as u32,
                        nfvars: number(nfvars)?,
                        ngvars: number(ngvars)?,
                        fvars_symbol: name(fvars)?,
                        gvars_symbol: name(gvars)?,
                        member: name(member)?,
                    });
                }
                [""] => {}
                _ => return Err(bad()),
            }
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> String {
        let mut json = String::from("{\n  \"format\": \"chainlink-manifest\",\n  \"version\": 1,\n  \"strip\": [");
        json.push_str(&self.strip.iter().map(|s| json_string(s)).collect::<Vec<_>>().join(", "));
        json.push_str("],\n  \"generations\": [");
        for (generation, members) in self.generations.iter().enumerate() {
            json.push_str(if generation == 0 { "\n" } else { ",\n" });
            let from = match self.origins.get(generation).and_then(Option::as_ref) {
                Some(origin) => {
                    format!(
                        "{{\"archive\": {}, \"archive_generation\": {}}}",
                        json_string(&origin.archive),
                        origin.generation
                    )
                }
                None => "null".to_string(),
            };
            let _ = write!(json, "    {{\"generation\": {generation}, \"from\": {from}, \"members\": [");
            for (i, member) in members.iter().enumerate() {
                json.push_str(if i == 0 { "\n" } else { ",\n" });
                let _ = write!(
                    json,
                    "      {{\"kind\": {}, \"name\": {}, \"blake3\": {}, \"archive_name\": {}}}",
                    json_string(member.kind.as_str()),
                    json_string(&member.name),
                    json_string(&member.blake3),
                    json_string(&member.archive_name)
                );
            }
            json.push_str(if members.is_empty() { "]}" } else { "\n    ]}" });
        }
        json.push_str(if self.generations.is_empty() { "],\n" } else { "\n  ],\n" });
        json.push_str("  \"units\": [");
        for (i, unit) in self.units.iter().enumerate() {
            json.push_str(if i == 0 { "\n" } else { ",\n" });
            let _ = write!(
                json,
                "    {{\"generation\": {}, \"shard\": {}, \"nfvars\": {}, \"ngvars\": {}, \"fvars_symbol\": {}, \"gvars_symbol\": {}, \"member\": {}}}",
                unit.generation,
                unit.shard,
                unit.nfvars,
                unit.ngvars,
                json_string(&unit.fvars_symbol),
                json_string(&unit.gvars_symbol),
                json_string(&unit.member)
            );
        }
        json.push_str(if self.units.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
        json
    }
}

pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object that takes part in the link as part of a base generation.
pub struct BaseObject<'data> {
    /// For messages: `sys-o.a(text.o)`.
    pub display: String,
    pub data: &'data [u8],
    pub generation: u32,
}

/// What the chain policy decided for this link.
pub struct ChainPlan<'data> {
    /// Text objects of every base generation, oldest first.
    pub base_objects: Vec<BaseObject<'data>>,
    /// The generation number of the link's own inputs (= number of base generations).
    pub newest: u32,
    /// What the output and an emitted archive record, including the newest generation.
    pub manifest: Manifest,
    /// Bytes of every member the emitted archive must carry, by archive name, in order.
    pub archive_members: Vec<(String, &'data [u8])>,
    /// Members of base archives that were dropped (data of old generations).
    pub dropped_members: usize,
    /// Manifest members whose blake3 is still to be computed: (generation, member, bytes).
    /// Hashing runs beside symbol resolution, which leaves cores idle.
    unhashed: Vec<(usize, usize, &'data [u8])>,
    /// The names given to members of the emitted archive so far.
    archive_names: std::collections::HashSet<String>,
    /// The dependency records of emitted base archives (`deps`), each with the number its
    /// first generation has in this link.
    pub carried_deps: Vec<(u32, &'data [u8])>,
}

impl ChainPlan<'_> {
    /// A name for a text member of the emitted archive: `wanted` (escaped: see [`escape`]), or,
    /// when an earlier member has that name already (an archive may hold two `util.o`),
    /// `wanted` with `#2`, `#3`, ... before its extension, so that every member of the
    /// emitted archive is found by its own name.
    fn archive_name(&mut self, wanted: String) -> String {
        let mut name = wanted.clone();
        let mut count = 1;
        while !self.archive_names.insert(name.clone()) {
            count += 1;
            name = match wanted.rsplit_once('.') {
                Some((stem, extension)) => format!("{stem}#{count}.{extension}"),
                None => format!("{wanted}#{count}"),
            };
        }
        name
    }

    pub fn is_chained(&self) -> bool {
        self.newest > 0
    }

    /// The blake3 of every member the manifest still lacks (see [`HashMemo::hash`]).
    pub fn hash_members(&self, sources: &[&InputFile], memo: &HashMemo) -> Vec<String> {
        use rayon::prelude::*;
        self.unhashed
            .par_iter()
            .map(|&(generation, member, data)| {
                let is_data = self.manifest.generations[generation][member].kind == MemberKind::Data;
                memo.hash(sources, data, is_data)
            })
            .collect()
    }

    /// A stand-in, of a hash's length, for each hash [`ChainPlan::hash_members`] returns: a
    /// manifest with them has the real one's size, for a layout made before they are known.
    pub fn placeholder_hashes(&self) -> Vec<String> {
        vec!["0".repeat(blake3::OUT_LEN * 2); self.unhashed.len()]
    }

    /// The manifest with the hashes from [`ChainPlan::hash_members`] filled in.
    pub fn manifest_with(&self, hashes: Vec<String>) -> Manifest {
        let mut manifest = self.manifest.clone();
        for (&(generation, member, _), hash) in self.unhashed.iter().zip(hashes) {
            manifest.generations[generation][member].blake3 = hash;
        }
        manifest
    }
}

pub fn member_kind(config: &Config, name: &str) -> MemberKind {
    if config.data_members.iter().any(|d| d == name) {
        MemberKind::Data
    } else {
        MemberKind::Text
    }
}

const HASH_BLOCK: usize = 8 << 20;

/// blake3 of ranges of the inputs (whole files, archive members), each computed once per
/// link by whoever needs it first: the output cache's key and the manifest share them.
#[derive(Default)]
pub struct HashMemo {
    hashes: std::sync::Mutex<crate::util::hash::FxHashMap<(usize, usize), String>>,
}

impl HashMemo {
    /// Records a hash known from elsewhere (the output cache's record of an unchanged file).
    pub fn remember(&self, data: &[u8], hash: String) {
        self.hashes.lock().unwrap_or_else(|e| e.into_inner()).insert((data.as_ptr() as usize, data.len()), hash);
    }

    /// The hash of `data` if it was computed or remembered (never computes it).
    pub fn known(&self, data: &[u8]) -> Option<String> {
        self.hashes.lock().unwrap_or_else(|e| e.into_inner()).get(&(data.as_ptr() as usize, data.len())).cloned()
    }

    /// The hex blake3 of `data` (which lies in one of `sources`' mappings). A base's big
    /// data members, which the link drops, are read from their files in blocks, so hashing
    /// them does not map them into this process; everything else is hashed through the
    /// mapping the link reads (or writes into the output from) anyway.
    pub fn hash(&self, sources: &[&InputFile], data: &[u8], is_data: bool) -> String {
        let key = (data.as_ptr() as usize, data.len());
        let known = self.hashes.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        if let Some(hash) = known {
            return hash;
        }
        // (Where `data` lies is asked only when it matters: for each of many inputs it is a
        // search of the inputs.)
        let source = (is_data && data.len() > HASH_BLOCK).then(|| crate::input::source_of(sources, data)).flatten();
        let hash = match source {
            Some((input, offset)) if input.is_base => {
                hash_file_range(&input.file, offset, data.len()).unwrap_or_else(|| hash_hex(data))
            }
            _ if is_data => {
                crate::util::mapping::populate(data);
                hash_hex(data)
            }
            _ => hash_hex(data),
        };
        self.hashes.lock().unwrap_or_else(|e| e.into_inner()).insert(key, hash.clone());
        hash
    }
}

/// The blake3 hashes [`HashMemo::hash`] would be asked for of some inputs (a new newest
/// generation's archive, say), computed ahead on a thread of its own, at a low priority,
/// through a mapping of its own: the link goes on meanwhile and takes them into its memo
/// when it needs them ([`HashesAhead::finish`]). Dropping it stops the thread at its next
/// block and waits for it.
pub struct HashesAhead {
    worker: Background<Vec<FileHashes>>,
}

/// One file's hashes: `(offset, length, hash)` of each range, as mapped at `len` bytes.
struct FileHashes {
    file: usize,
    len: usize,
    ranges: Vec<(usize, usize, String)>,
}

impl HashesAhead {
    /// Starts hashing `todo` (indices into `files`): each archive's members, any other
    /// file whole, as the output cache's key reads them. Base archives are left out: a
    /// base's big data members are read in blocks, never mapped (see [`HashMemo::hash`]).
    pub fn start(files: &[&InputFile], todo: &[usize]) -> Option<HashesAhead> {
        let mut work = Vec::new();
        for &index in todo.iter().filter(|&&index| !files[index].is_base) {
            work.push((index, files[index].file.try_clone().ok()?, files[index].kind == FileKind::Archive));
        }
        // The link looks for these hashes only at the end of its phases.
        let worker = Background::spawn("chainlink-hash", move |stop| {
            let mut done = Vec::new();
            for (file, opened, archive) in work {
                // SAFETY: a read-only view, as inputs.rs maps every input (and with the
                // same caveat on files changed while linked).
                let Ok(map) = (unsafe { memmap2::Mmap::map(&opened) }) else { continue };
                let members = archive.then(|| archive_member_ranges(&map)).flatten();
                let ranges: Vec<(usize, usize)> = match members {
                    Some(members) => members,
                    None => vec![(0, map.len())],
                };
                let mut hashes = Vec::with_capacity(ranges.len());
                // (Never populated ahead, unlike the link's own reads: see background.rs.)
                for (offset, len) in ranges {
                    let mut hasher = blake3::Hasher::new();
                    for block in map[offset..offset + len].chunks(HASH_BLOCK) {
                        if stop.is_set() {
                            return done;
                        }
                        hasher.update(block);
                    }
                    hashes.push((offset, len, hasher.finalize().to_hex().to_string()));
                }
                done.push(FileHashes { file, len: map.len(), ranges: hashes });
            }
            done
        })?;
        Some(HashesAhead { worker })
    }

    /// Whether the hashes are all in (so that [`HashesAhead::finish`] will not wait).
    pub fn is_done(&self) -> bool {
        self.worker.is_done()
    }

    /// Waits for the hashes and puts them in `memo`. A file whose size is not the one the
    /// link mapped is left out (whoever needs its hashes computes them).
    pub fn finish(self, files: &[&InputFile], memo: &HashMemo) {
        for hashed in self.worker.finish().unwrap_or_default() {
            let data = &files[hashed.file].data;
            if data.len() != hashed.len {
                continue;
            }
            for (offset, len, hash) in hashed.ranges {
                memo.remember(&data[offset..offset + len], hash);
            }
        }
    }
}

/// blake3 of `len` bytes of `file` from `offset`, read block by block.
pub fn hash_file_range(file: &std::fs::File, offset: u64, len: usize) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; len.min(HASH_BLOCK)];
    let mut done = 0usize;
    while done < len {
        let block = (len - done).min(HASH_BLOCK);
        file.read_exact_at(&mut buffer[..block], offset + done as u64).ok()?;
        hasher.update_rayon(&buffer[..block]);
        done += block;
    }
    Some(hasher.finalize().to_hex().to_string())
}

pub fn hash_hex(data: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    if data.len() > 1 << 20 {
        hasher.update_rayon(data);
    } else {
        hasher.update(data);
    }
    hasher.finalize().to_hex().to_string()
}

/// Each member's offset and length in the archive `data`; `None` if it is malformed (as
/// [`archive_members`] finds it).
fn archive_member_ranges(data: &[u8]) -> Option<Vec<(usize, usize)>> {
    let archive = object::read::archive::ArchiveFile::parse(data).ok()?;
    let mut members = Vec::new();
    for member in archive.members() {
        let member = member.ok()?;
        let bytes = member.data(data).ok()?;
        let offset = bytes.as_ptr() as usize - data.as_ptr() as usize;
        members.push((offset, bytes.len()));
    }
    Some(members)
}

pub fn archive_members(input: &InputFile) -> Result<Vec<(String, &[u8])>> {
    members_of(&input.name, &input.data)
}

/// Each member of the archive `data` (named `name` in messages): its name and bytes.
pub fn members_of<'data>(name: &str, data: &'data [u8]) -> Result<Vec<(String, &'data [u8])>> {
    let archive = object::read::archive::ArchiveFile::parse(data)
        .map_err(|e| Error::new(format!("{name}: malformed archive: {e}")))?;
    let mut members = Vec::new();
    for member in archive.members() {
        let member = member.map_err(|e| Error::new(format!("{name}: malformed archive: {e}")))?;
        let member_name = String::from_utf8_lossy(member.name()).into_owned();
        let bytes = member.data(data).map_err(|e| Error::new(format!("{name}({member_name}): {e}")))?;
        members.push((member_name, bytes));
    }
    Ok(members)
}

/// Decides generations, dropped members and the manifest.
///
/// `bases` are the mapped `--base` archives in order; `inputs` the link's other inputs.
pub fn plan<'data>(config: &Config, bases: &'data [InputFile], inputs: &'data [InputFile]) -> Result<ChainPlan<'data>> {
    let mut plan = ChainPlan {
        base_objects: Vec::new(),
        newest: 0,
        manifest: Manifest { strip: config.strip_sections.clone(), ..Manifest::default() },
        archive_members: Vec::new(),
        dropped_members: 0,
        unhashed: Vec::new(),
        carried_deps: Vec::new(),
        archive_names: [MANIFEST_MEMBER, DEPS_MEMBER].into_iter().map(String::from).collect(),
    };
    let mut base_data: Vec<(String, &'data [u8])> = Vec::new();
    for base in bases {
        if base.kind != FileKind::Archive {
            return Err(Error::new(format!("{}: a --base must be an image archive", base.name)));
        }
        let members = archive_members(base)?;
        let embedded = members.iter().find(|(name, _)| name == MANIFEST_MEMBER);
        if let Some((_, records)) = members.iter().find(|(name, _)| name == DEPS_MEMBER) {
            plan.carried_deps.push((plan.newest, records));
        }
        let generations: Vec<Vec<ManifestMember>> = match embedded {
            Some((_, text)) => {
                let text = std::str::from_utf8(text).map_err(|_| Error::new("manifest is not UTF-8"))?;
                Manifest::parse(text).map_err(|e| e.context(format!("{}({MANIFEST_MEMBER})", base.name)))?.generations
            }
            None => {
                let generation = plan.manifest.generations.len();
                plan.unhashed.extend(members.iter().enumerate().map(|(i, (_, data))| (generation, i, *data)));
                vec![members
                    .iter()
                    .map(|(name, _)| ManifestMember {
                        kind: member_kind(config, name),
                        name: name.clone(),
                        blake3: String::new(),
                        archive_name: name.clone(),
                    })
                    .collect()]
            }
        };
        // Each name's first member, found once (an archive may have tens of thousands).
        let mut by_name: crate::util::hash::FxHashMap<&str, &'data [u8]> = Default::default();
        for (name, data) in &members {
            by_name.entry(name.as_str()).or_insert(*data);
        }
        let is_last_base = std::ptr::eq(base, bases.last().expect("non-empty"));
        let generation_count = generations.len();
        for (index, generation_members) in generations.into_iter().enumerate() {
            let generation = plan.newest;
            let mut recorded = Vec::new();
            let carries_data = is_last_base && index + 1 == generation_count;
            for member in generation_members {
                let data = by_name.get(member.archive_name.as_str()).copied();
                match member.kind {
                    MemberKind::Text => {
                        let data = data.ok_or_else(|| {
                            Error::new(format!(
                                "{}: the manifest names member {} but the archive does not contain it",
                                base.name, member.archive_name
                            ))
                        })?;
                        plan.base_objects.push(BaseObject {
                            display: format!("{}({})", base.name, member.archive_name),
                            data,
                            generation,
                        });
                        let archive_name = plan.archive_name(format!("g{generation}.{}", escape(&member.name)));
                        plan.archive_members.push((archive_name.clone(), data));
                        recorded.push(ManifestMember { archive_name, ..member });
                    }
                    MemberKind::Data => {
                        plan.dropped_members += 1;
                        // Only the newest data travels on (and only until newer data arrives).
                        let carried = match data {
                            Some(data) if carries_data => {
                                let archive_name = escape(&member.name);
                                base_data.push((archive_name.clone(), data));
                                archive_name
                            }
                            _ => NOT_CARRIED.to_string(),
                        };
                        recorded.push(ManifestMember { archive_name: carried, ..member });
                    }
                }
            }
            plan.manifest.generations.push(recorded);
            let archive = simple_name(&base.name).to_string();
            plan.manifest.origins.push(Some(Origin { archive, generation: index as u32 }));
            plan.newest += 1;
        }
    }

    // The newest generation: the objects and archives named on the command line.
    let mut newest = Vec::new();
    let mut newest_data = Vec::new();
    let generation = plan.newest;
    for input in inputs.iter().filter(|i| i.from_command_line) {
        let members = match input.kind {
            FileKind::Object => vec![(input.file_name().to_string(), &input.data[..])],
            FileKind::Archive => archive_members(input)?,
            FileKind::SharedLibrary => continue,
        };
        for (name, data) in members {
            let kind = member_kind(config, &name);
            // (Data members keep their names: only one generation's travel on, and no
            // member is ever read from them.)
            let archive_name = match kind {
                MemberKind::Text => plan.archive_name(format!("g{generation}.{}", escape(&name))),
                MemberKind::Data => escape(&name),
            };
            match kind {
                MemberKind::Text => plan.archive_members.push((archive_name.clone(), data)),
                MemberKind::Data => newest_data.push((archive_name.clone(), data)),
            }
            plan.unhashed.push((plan.manifest.generations.len(), newest.len(), data));
            newest.push(ManifestMember { kind, name, blake3: String::new(), archive_name });
        }
    }
    plan.manifest.generations.push(newest);
    plan.manifest.origins.push(None);
    let data = if newest_data.is_empty() { base_data } else { newest_data };
    plan.archive_members.extend(data);
    Ok(plan)
}

/// Writes the archive that serves as `--base` for the next generation: every generation's
/// text members, the newest data members, the manifest and the dependency records. Deterministic: no timestamps,
/// owners or modes from the machine.
pub fn write_archive(
    path: &std::path::Path,
    plan: &ChainPlan,
    manifest: &str,
    deps: Option<&str>,
) -> Result<crate::util::files::Temporary> {
    let mut members: Vec<(&str, &[u8])> = vec![(MANIFEST_MEMBER, manifest.as_bytes())];
    members.extend(deps.map(|deps| (DEPS_MEMBER, deps.as_bytes())));
    members.extend(plan.archive_members.iter().map(|(name, data)| (name.as_str(), *data)));
    // Created as any file the user makes (0666 less the umask).
    let temp = crate::util::files::Temporary::beside(path, 0o666)?;
    let identifiers = members.iter().map(|(name, _)| name.as_bytes().to_vec()).collect();
    let file = std::io::BufWriter::new(temp.as_file().try_clone()?);
    let mut builder = ar::GnuBuilder::new(file, identifiers);
    for (name, data) in &members {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
        header.set_mode(0o644);
        builder.append(&header, *data).map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    }
    let mut file = builder.into_inner().map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    std::io::Write::flush(&mut file)?;
    Ok(temp)
}

/// Reads the manifest recorded in an output library or an emitted archive.
pub fn read_manifest(path: &std::path::Path) -> Result<Manifest> {
    let name = path.display().to_string();
    let bytes = map_recorded(path)?;
    manifest_in(&name, &bytes)
}

/// A read-only mapping of an output library or emitted archive, for what chainlink recorded
/// in it (a big output is not read into memory whole for its manifest).
pub fn map_recorded(path: &std::path::Path) -> Result<memmap2::Mmap> {
    let name = path.display().to_string();
    let cannot = |e: std::io::Error| Error::new(format!("{name}: cannot read: {e}"));
    let file = crate::util::files::open_regular(path, false).map_err(cannot)?;
    if file.metadata().map_err(cannot)?.len() == 0 {
        return Err(Error::new(format!("{name}: not an ELF file or archive (empty)")));
    }
    // SAFETY: read-only view of a file we only read (see inputs.rs on concurrent changes).
    unsafe { memmap2::Mmap::map(&file) }.map_err(cannot)
}

/// The manifest recorded in `bytes`, an output library or emitted archive named `name`.
pub fn manifest_in(name: &str, bytes: &[u8]) -> Result<Manifest> {
    let text = match find_record(name, bytes, MANIFEST_SECTION, MANIFEST_MEMBER)? {
        Some(text) => text,
        None if bytes.starts_with(b"!<arch>\n") => {
            return Err(Error::new(format!("{name}: no chainlink manifest (not emitted by chainlink)")))
        }
        None => return Err(Error::new(format!("{name}: no {MANIFEST_SECTION} section (not linked by chainlink)"))),
    };
    let text = std::str::from_utf8(text).map_err(|_| Error::new(format!("{name}: manifest is not UTF-8")))?;
    Manifest::parse(text).map_err(|e| e.context(name.to_string()))
}

/// What chainlink recorded in `bytes` (an output library or an emitted archive, named
/// `name` in messages) under `section` (in an output) or `member` (in an archive); `None`
/// when it has no such record.
pub fn find_record<'a>(name: &str, bytes: &'a [u8], section: &str, member: &str) -> Result<Option<&'a [u8]>> {
    if bytes.starts_with(b"!<arch>\n") {
        let members = members_of(name, bytes)?;
        return Ok(members.into_iter().find(|(found, _)| found == member).map(|(_, data)| data));
    }
    use object::read::elf::{FileHeader as _, SectionHeader as _};
    let header = object::elf::FileHeader64::<object::LittleEndian>::parse(bytes)
        .map_err(|_| Error::new(format!("{name}: not an ELF file or archive")))?;
    let sections = header.sections(object::LittleEndian, bytes).map_err(|e| Error::new(format!("{name}: {e}")))?;
    match sections.section_by_name(object::LittleEndian, section.as_bytes()) {
        Some((_, header)) => {
            Ok(Some(header.data(object::LittleEndian, bytes).map_err(|e| Error::new(format!("{name}: {e}")))?))
        }
        None => Ok(None),
    }
}

/// A human-readable summary of a manifest.
pub fn describe(manifest: &Manifest) -> String {
    // Names as the manifest writes them: no control characters reach the terminal.
    let strip: Vec<String> = manifest.strip.iter().map(|section| escape(section)).collect();
    let mut text = format!("strip: {}\n", strip.join(" "));
    for (generation, members) in manifest.generations.iter().enumerate() {
        match manifest.origins.get(generation).and_then(Option::as_ref) {
            Some(origin) => {
                let _ = writeln!(
                    text,
                    "generation {generation}: from {} (its generation {})",
                    escape(&origin.archive),
                    origin.generation
                );
            }
            None => {
                let _ = writeln!(text, "generation {generation}:");
            }
        }
        for member in members {
            let _ = writeln!(
                text,
                "  {} {:<16} {}  ({})",
                member.kind.as_str(),
                escape(&member.name),
                escape(&member.blake3),
                escape(&member.archive_name)
            );
        }
    }
    if !manifest.units.is_empty() {
        let _ = writeln!(text, "units (chainlink_image order):");
        for unit in &manifest.units {
            let _ = writeln!(
                text,
                "  generation {} shard {}: {} functions ({}), {} slots ({}) from {}",
                unit.generation,
                unit.shard,
                unit.nfvars,
                escape(&unit.fvars_symbol),
                unit.ngvars,
                escape(&unit.gvars_symbol),
                escape(&unit.member)
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            strip: vec![".data.jl.unique".into()],
            generations: vec![
                vec![
                    ManifestMember {
                        kind: MemberKind::Text,
                        name: "text#0.o".into(),
                        blake3: "ab".into(),
                        archive_name: "g0.text#0.o".into(),
                    },
                    ManifestMember {
                        kind: MemberKind::Data,
                        name: "my data.o".into(),
                        blake3: "cd".into(),
                        archive_name: "-".into(),
                    },
                ],
                vec![],
            ],
            origins: vec![Some(Origin { archive: "sys o.a".into(), generation: 2 }), None],
            units: vec![UnitRecord {
                generation: 0,
                shard: 3,
                nfvars: 10,
                ngvars: 2,
                fvars_symbol: "jl_fvar_offsets_3".into(),
                gvars_symbol: "jl_gvar_offsets_3".into(),
                member: "text#0.o".into(),
            }],
        }
    }

    #[test]
    fn manifest_round_trips_through_text() {
        let manifest = sample();
        assert_eq!(Manifest::parse(&manifest.render()).unwrap(), manifest);
    }

    #[test]
    fn manifest_json_is_well_formed() {
        let json = sample().to_json();
        assert!(json.contains("\"name\": \"my data.o\""));
        assert!(json.contains("\"shard\": 3"));
        assert!(json.contains("\"from\": {\"archive\": \"sys o.a\", \"archive_generation\": 2}"));
        assert!(json.contains("\"from\": null"));
        assert_eq!(json.matches('{').count(), json.matches('}').count());
        assert_eq!(json.matches('[').count(), json.matches(']').count());
    }

    #[test]
    fn malformed_manifests_are_errors() {
        for text in [
            "",
            "nonsense",
            "chainlink-manifest 1\ngeneration 1\n",
            "chainlink-manifest 1\nmember text a b c\n",
            "chainlink-manifest 1\ngeneration 0 from a.a\n",
            "chainlink-manifest 1\ngeneration 0 from a.a x\n",
            "chainlink-manifest 1\ngeneration 0 of a.a 1\n",
        ] {
            assert!(Manifest::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn any_name_round_trips_through_escaping() {
        let names = [
            "text#0.o",
            "my sec",
            "text.o\r",
            "line\nbreak",
            "100%25 done %",
            "../../etc/passwd",
            "dir/text.o",
            "\0\x01\x1f\x7f",
            "naïve ü 名前.o",
            "",
        ];
        for name in names {
            let escaped = escape(name);
            assert!(!escaped.contains([' ', '/', '\n', '\r', '\0']), "{escaped:?}");
            assert_eq!(unescape(&escaped).as_deref(), Some(name), "{escaped:?}");
        }
        assert_eq!(escape("text#0.o"), "text#0.o");
        for bad in ["%", "%2", "%zz", "%FF"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
        let mut manifest = sample();
        manifest.strip = names.iter().map(|n| n.to_string()).collect();
        manifest.generations[0][0].name = "text.o\r".into();
        manifest.units[0].fvars_symbol = "a b\nc".into();
        assert_eq!(Manifest::parse(&manifest.render()).unwrap(), manifest);
    }

    #[test]
    fn simple_names_drop_directories() {
        assert_eq!(simple_name("/abs/dir/sys-o.a(text#0.o)"), "text#0.o");
        assert_eq!(simple_name("rel/dir/text.o"), "text.o");
        assert_eq!(simple_name("text.o"), "text.o");
    }
}
