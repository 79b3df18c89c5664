//! The output cache: a content-addressed store of finished outputs, so that a relink whose
//! inputs and flags are unchanged costs a hash check (or a copy), not a link.
//!
//! Keys are blake3 over chainlink's version, every output-affecting option and the content
//! hash of every input file. Content hashes are remembered per file fingerprint (device,
//! inode, size, modification and change times), so an unchanged input is not read again.
//! Entries are written to temporary files and renamed into place, the metadata last, and
//! verified against their recorded hash when used; every record is sealed with a checksum
//! (cache_files.rs); anything unreadable, truncated, corrupt or damaged is ignored (and
//! replaced). The cache only ever speeds a link up: when it cannot be read or written the
//! link goes on without it. It must never change an output's bytes, follow a symbolic link
//! out of itself, or remove a file it did not make.

use crate::config::{Config, InputArg};
use crate::incremental::cache_files::{self as files, Dir, Dirs, Own, Record, Sub, LAYOUT_VERSION};
use crate::input::InputFile;
use crate::report::cache::{BaseOutcome, CacheReport, OutputOutcome};
use crate::util::error::{Error, Result};
use crate::util::files::Temporary;
use crate::write::BuildIdRecord;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const META_MAGIC: &str = "chainlink-cache-entry 5";
/// Default bound on the cache's size.
pub const DEFAULT_MAX_SIZE: u64 = crate::config::DEFAULT_CACHE_MAX_SIZE;

/// Where the cache lives: `--cache-dir`, `$CHAINLINK_CACHE_DIR`, `$XDG_CACHE_HOME/chainlink`,
/// `~/.cache/chainlink`; `None` when disabled or no location can be found.
/// `$CHAINLINK_NO_CACHE` (non-empty) turns the default cache off; an explicit
/// `--cache-dir` still wins.
pub fn location(config: &Config) -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if config.no_cache || (config.cache_dir.is_none() && env("CHAINLINK_NO_CACHE").is_some()) {
        return None;
    }
    config
        .cache_dir
        .clone()
        .or_else(|| env("CHAINLINK_CACHE_DIR"))
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("chainlink")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/chainlink")))
}

/// How the cache satisfied a link (see [`Cache::satisfy`]).
pub enum Satisfied {
    /// The output already holds the result.
    UpToDate,
    /// A verified copy of the entry, beside the output.
    Copied(Temporary),
}

pub struct Cache {
    /// The cache's directories; `None` when they cannot be opened or made (the link goes
    /// on without the cache, having said so).
    dirs: Option<Dirs>,
    pub report: CacheReport,
    /// Content hash of each file given to [`Cache::link_key`], in order.
    pub input_hashes: Vec<String>,
}

/// A cached output's record: its size, its build-id digest (see `write::BuildIdRecord`)
/// and a check of each range that digest leaves out; together they cover every byte.
struct Meta {
    size: u64,
    build_id: BuildIdRecord,
    skipped_checks: Vec<SkippedCheck>,
}

/// How a range the build id leaves out (a verbatim copy of part of an archive member) is
/// checked: by its own blake3, or, when the rest of the member is small, by the member's
/// blake3 (known from the manifest) over the member's bytes before it, the range, and the
/// member's bytes after it. The latter costs nothing to record: the member was hashed anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SkippedCheck {
    Range(String),
    Member { hash: String, before: Vec<u8>, after: Vec<u8> },
}

/// The most member bytes around a range that a record keeps instead of hashing the range.
const MEMBER_CONTEXT_MAX: usize = 64 << 10;

fn to_hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

impl Meta {
    fn render(&self) -> String {
        let record = &self.build_id;
        let mut text = format!(
            "{META_MAGIC}\nsize {}\ndigest {}\nbuild-id {} {}\n",
            self.size,
            blake3::Hash::from_bytes(record.digest).to_hex(),
            record.descriptor.0,
            record.descriptor.1
        );
        for (&(start, end), check) in record.skipped.iter().zip(&self.skipped_checks) {
            match check {
                SkippedCheck::Range(hash) => text.push_str(&format!("skipped {start} {end} {hash}\n")),
                SkippedCheck::Member { hash, before, after } => {
                    text.push_str(&format!("member {start} {end} {hash} {} {}\n", to_hex(before), to_hex(after)))
                }
            }
        }
        text
    }

    fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != META_MAGIC {
            return None;
        }
        let size = lines.next()?.strip_prefix("size ")?.parse().ok()?;
        let digest = blake3::Hash::from_hex(lines.next()?.strip_prefix("digest ")?).ok()?;
        let numbers = |line: &str, prefix: &str| -> Option<Vec<String>> {
            Some(line.strip_prefix(prefix)?.split(' ').map(str::to_string).collect())
        };
        let descriptor = numbers(lines.next()?, "build-id ")?;
        let [from, to] = &descriptor[..] else { return None };
        let mut build_id = BuildIdRecord {
            digest: *digest.as_bytes(),
            descriptor: (from.parse().ok()?, to.parse().ok()?),
            skipped: Vec::new(),
        };
        let mut skipped_checks = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            let check = match &fields[..] {
                ["skipped", _, _, hash] => SkippedCheck::Range(hash.to_string()),
                ["member", _, _, hash, before, after] => {
                    SkippedCheck::Member { hash: hash.to_string(), before: from_hex(before)?, after: from_hex(after)? }
                }
                _ => return None,
            };
            build_id.skipped.push((fields[1].parse().ok()?, fields[2].parse().ok()?));
            skipped_checks.push(check);
        }
        Some(Meta { size, build_id, skipped_checks })
    }

    /// Whether the file at `path` holds exactly the bytes this record describes.
    fn verify(&self, path: &Path) -> bool {
        let Ok(file) = crate::util::files::open_regular(path, false) else { return false };
        if file.metadata().map_or(true, |m| m.len() != self.size) || self.size == 0 {
            return false;
        }
        // SAFETY: read-only view of a file we only read; see inputs.rs on concurrent changes.
        let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else { return false };
        self.build_id.matches(&map)
            && self.build_id.skipped.iter().zip(&self.skipped_checks).all(|(&(start, end), check)| {
                let bytes = &map[start as usize..end as usize];
                match check {
                    SkippedCheck::Range(hash) => crate::chain::hash_hex(bytes) == *hash,
                    SkippedCheck::Member { hash, before, after } => {
                        let mut hasher = blake3::Hasher::new();
                        hasher.update(before);
                        hasher.update_rayon(bytes);
                        hasher.update(after);
                        hasher.finalize().to_hex().as_str() == hash
                    }
                }
            })
    }
}

impl Cache {
    pub fn open(config: &Config) -> Option<Cache> {
        let root = location(config)?;
        let report = CacheReport { enabled: true, outcome: OutputOutcome::Miss, ..Default::default() };
        let mut cache = Cache { dirs: None, report, input_hashes: Vec::new() };
        match Dirs::open(&root, true) {
            Ok(dirs) => {
                if let Some(problem) = dirs.as_ref().and_then(|dirs| dirs.problems.first()) {
                    cache.warn(format!("cannot write to the cache {problem}; linking without it"));
                }
                cache.dirs = dirs
            }
            Err(e) => cache.warn(format!("cannot write to the cache {}: {e}; linking without it", root.display())),
        }
        Some(cache)
    }

    /// Reports a problem the link works around; repeats of it stay in the report only.
    pub fn warn(&mut self, message: String) {
        if self.report.warnings.is_empty() {
            crate::say!("chainlink: warning: {}", crate::util::error::one_line(&message));
        }
        self.report.warnings.push(message);
    }

    fn dir(&self, sub: Sub) -> Option<&Dir> {
        self.dirs.as_ref()?.sub(sub)
    }

    /// A path inside the cache as the user knows it, for messages.
    pub fn shown(&self, path: &Path) -> String {
        self.dirs.as_ref().map_or_else(|| path.display().to_string(), |dirs| dirs.shown(path))
    }

    /// Reads the record at `path`: its text when intact; a damaged one is reported (and
    /// left for whoever writes it next to replace).
    fn read_record(&mut self, path: &Path) -> Option<String> {
        match files::read_record(path) {
            Record::Intact(text) => Some(text),
            Record::Damaged => {
                let shown = self.shown(path);
                self.warn(format!("ignoring damaged cache record {shown}; recomputing it"));
                None
            }
            Record::Missing | Record::Unsealed => None,
        }
    }

    /// Writes a record; failures are reported once.
    fn write_record(&mut self, sub: Sub, name: &str, body: &str) {
        let Some(dir) = self.dir(sub) else { return };
        if let Err(e) = files::write_record(dir, name, body) {
            let shown = dir.shown(name);
            self.warn(format!("cannot write to the cache {}: {e}; linking without it", shown.display()));
        }
    }

    /// Where the prepared base for `base_key` lives (see prepared.rs); marked as used (on
    /// its `.used` record: the file's own times are part of its fingerprint).
    pub fn prepared_base(&self, base_key: &str) -> Option<PathBuf> {
        let dir = self.dir(Sub::Bases)?;
        let path = dir.join(&format!("{base_key}.base"));
        files::touch(&dir.join(&format!("{base_key}.used")), files::metadata(&path).is_ok());
        Some(path)
    }

    /// The digests of base definitions that links with base `base_key` learned (see
    /// `incremental::digests`); none when there is no such file, or it is damaged
    /// (reported; the next link that learns one replaces it).
    pub fn learned_digests(&mut self, base_key: &str) -> Vec<crate::resolve::deps::KnownDigest> {
        use crate::incremental::digests;
        let Some(path) = self.dir(Sub::Bases).map(|dir| dir.join(&digests::file_name(base_key))) else {
            return Vec::new();
        };
        let bytes = match crate::util::files::open_regular(&path, true) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).map(|_| bytes).ok()
            }
            Err(_) => return Vec::new(),
        };
        match bytes.and_then(|bytes| digests::decode(&bytes, base_key)) {
            Some(learned) => {
                files::touch(&path, false);
                learned
            }
            None => {
                let shown = self.shown(&path);
                self.warn(format!("ignoring damaged cache record {shown}; recomputing it"));
                Vec::new()
            }
        }
    }

    /// Keeps `learned` (sorted) as what links with base `base_key` learned.
    pub fn learn_digests(&mut self, base_key: &str, learned: &[crate::resolve::deps::KnownDigest]) {
        use crate::incremental::digests;
        let Some(dir) = self.dir(Sub::Bases) else { return };
        let name = digests::file_name(base_key);
        if let Err(e) = files::write_atomically(dir, &name, &digests::encode(learned, base_key)) {
            let shown = dir.shown(&name);
            self.warn(format!("cannot write to the cache {}: {e}; linking without it", shown.display()));
        }
    }

    /// The key of this link: version, options, and every input's content.
    pub fn link_key(
        &mut self,
        config: &Config,
        files: &[&InputFile],
        scripts: &[(String, Vec<u8>)],
        memo: &crate::chain::HashMemo,
    ) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"chainlink link key\0");
        hasher.update(build_identity().as_bytes());
        hasher.update(options_fingerprint(config).as_bytes());
        for file in files {
            let hash = self.content_hash(config, file, files, memo);
            self.input_hashes.push(hash.clone());
            // How a file is read matters as much as what it holds.
            let how = format!("\0{:?} as_needed={} whole={}\0", file.kind, file.as_needed, file.whole_archive);
            hasher.update(file.name.as_bytes());
            hasher.update(how.as_bytes());
            hasher.update(hash.as_bytes());
        }
        for (name, text) in scripts {
            hasher.update(b"\0script\0");
            hasher.update(name.as_bytes());
            hasher.update(blake3::hash(text).as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }

    /// The indices of the files whose content hash is not remembered, so that
    /// [`Cache::link_key`] will have to read them (new or changed inputs: the key then
    /// most likely misses).
    pub fn unremembered(&self, files: &[&InputFile]) -> Vec<usize> {
        let remembered = |file: &InputFile| {
            let record = file.file.metadata().ok().and_then(|m| self.fingerprint_record(&file.path, &m));
            record.is_some_and(|record| files::metadata(&record).is_ok())
        };
        (0..files.len()).filter(|&index| !remembered(files[index])).collect()
    }

    /// A file's content hash if its fingerprint's record holds it (reading nothing of the
    /// file itself); its members' hashes go to `memo`.
    pub fn remembered_hash(&mut self, file: &InputFile, memo: &crate::chain::HashMemo) -> Option<String> {
        // The open file's own metadata (fstat): the path may already name a newer file.
        let record = file.file.metadata().ok().and_then(|m| self.fingerprint_record(&file.path, &m))?;
        // A record: the file's hash, then `offset length hash` per archive member (so the
        // manifest need not hash an unchanged base's members again).
        let text = self.read_record(&record)?;
        let is_hash = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        let mut lines = text.lines();
        let hash = lines.next().filter(|h| is_hash(h))?;
        for line in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            if let [offset, len, member] = fields[..] {
                if let (Ok(offset), Ok(len)) = (offset.parse::<usize>(), len.parse::<usize>()) {
                    if let Some(data) = file.data.get(offset..offset.saturating_add(len)) {
                        if is_hash(member) {
                            memo.remember(data, member.to_string());
                        }
                    }
                }
            }
        }
        Some(hash.to_string())
    }

    /// blake3 of a file's bytes, remembered by the file's fingerprint.
    /// An archive's is derived from its members' (names and blake3), so the manifest can
    /// reuse those hashes through `memo` instead of computing them again.
    fn content_hash(
        &mut self,
        config: &Config,
        file: &InputFile,
        sources: &[&InputFile],
        memo: &crate::chain::HashMemo,
    ) -> String {
        if let Some(hash) = self.remembered_hash(file, memo) {
            self.report.fingerprints_reused += 1;
            return hash;
        }
        // The open file's own metadata (fstat): the path may already name a newer file.
        let record = file.file.metadata().ok().and_then(|m| self.fingerprint_record(&file.path, &m));
        let members = match file.kind {
            crate::input::FileKind::Archive => crate::chain::archive_members(file).ok(),
            _ => None,
        };
        let mut member_lines = String::new();
        let hash = match members {
            Some(members) => {
                use rayon::prelude::*;
                let hashes: Vec<String> = members
                    .par_iter()
                    .map(|(name, data)| {
                        let is_data = crate::chain::member_kind(config, name) == crate::chain::MemberKind::Data;
                        memo.hash(sources, data, is_data)
                    })
                    .collect();
                let mut hasher = blake3::Hasher::new();
                hasher.update(b"archive\0");
                for ((name, data), hash) in members.iter().zip(&hashes) {
                    hasher.update(name.as_bytes());
                    hasher.update(b"\0");
                    hasher.update(hash.as_bytes());
                    let offset = data.as_ptr() as usize - file.data.as_ptr() as usize;
                    member_lines.push_str(&format!("\n{offset} {} {hash}", data.len()));
                }
                hasher.finalize().to_hex().to_string()
            }
            None => memo.hash(sources, &file.data, false),
        };
        self.report.inputs_hashed += 1;
        if let Some(name) = record.as_deref().and_then(Path::file_name).and_then(|n| n.to_str()) {
            self.write_record(Sub::Fingerprints, name, &format!("{hash}{member_lines}"));
        }
        hash
    }

    /// Where what is known about the file at `path` with `metadata` is remembered. `None`
    /// for a file changed within the last seconds: it may change again within the same
    /// timestamp tick, so its fingerprint is not trusted (neither read nor recorded).
    fn fingerprint_record(&self, path: &Path, metadata: &fs::Metadata) -> Option<PathBuf> {
        let settled = metadata.modified().is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 2));
        let dir = self.dir(Sub::Fingerprints)?;
        settled.then(|| dir.join(&fingerprint(path, metadata)))
    }

    /// The prepared base file for `base_key`, opened but not checked (hand it to
    /// [`Cache::open_prepared`]).
    pub fn prepared_file(&self, base_key: &str) -> Option<fs::File> {
        crate::util::files::open_regular(&self.prepared_base(base_key)?, true).ok()
    }

    /// Opens the prepared base for `base_key` (see prepared.rs) and records the outcome.
    /// Its checksum is verified unless this very file (by fingerprint) was verified before.
    /// A corrupt one is removed (the link stores a new one); an unreadable one is left.
    /// `opened`: the file, if the caller opened it already (see [`Cache::prepared_file`]).
    pub fn open_prepared(
        &mut self,
        base_key: &str,
        base_objects: usize,
        opened: Option<fs::File>,
    ) -> Option<crate::incremental::prepared::PreparedBase> {
        use crate::incremental::prepared::{OpenError, PreparedBase};
        let path = self.prepared_base(base_key)?;
        // What an earlier link that verified the file now at `path` recorded: its checksum,
        // by the file's fingerprint.
        let known = crate::util::files::open_regular(&path, true)
            .and_then(|file| file.metadata())
            .ok()
            .and_then(|metadata| self.fingerprint_record(&path, &metadata))
            .and_then(|record| Some((self.read_record(&record)?, record)));
        // The record of the file actually opened (`opened` may be older than `path`'s).
        let mut opened_record = None;
        let trusted = |metadata: &fs::Metadata, checksum: &[u8; 32]| {
            opened_record = self.fingerprint_record(&path, metadata);
            let hex = blake3::Hash::from_bytes(*checksum).to_hex();
            known
                .as_ref()
                .is_some_and(|(text, record)| Some(record) == opened_record.as_ref() && text.trim_end() == hex.as_str())
        };
        let opened = match opened {
            Some(file) => PreparedBase::open_file(file, base_key, base_objects, trusted).map(Some),
            None => PreparedBase::open(&path, base_key, base_objects, trusted),
        };
        let shown = self.shown(&path);
        match opened {
            Ok(Some((prepared, verified))) => {
                if let (true, Some(name)) = (verified, opened_record.as_deref().and_then(Path::file_name)) {
                    let hex = blake3::Hash::from_bytes(prepared.checksum()).to_hex();
                    self.write_record(Sub::Fingerprints, &name.to_string_lossy(), hex.as_str());
                }
                self.report.base = BaseOutcome::Hit;
                Some(prepared)
            }
            Ok(None) => {
                self.report.base = BaseOutcome::Miss;
                None
            }
            Err(OpenError::Corrupt(why, identity)) => {
                self.warn(format!("ignoring corrupt prepared base {shown}: {why}; rebuilding it"));
                if files::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == identity) {
                    let _ = fs::remove_file(&path);
                }
                self.report.base = BaseOutcome::Corrupt;
                None
            }
            Err(OpenError::Unreadable(why)) => {
                self.warn(format!("cannot read the prepared base {shown}: {why}; linking without it"));
                self.report.base = BaseOutcome::Unreadable;
                None
            }
        }
    }

    fn read_meta(&mut self, key: &str) -> Option<Meta> {
        let path = self.dir(Sub::Outputs)?.join(&format!("{key}.meta"));
        Meta::parse(&self.read_record(&path)?)
    }

    /// Whether a finished output is recorded under `key` (checked only by [`Cache::satisfy`]).
    pub fn has_entry(&self, key: &str) -> bool {
        self.dir(Sub::Outputs).is_some_and(|dir| files::metadata(&dir.join(&format!("{key}.meta"))).is_ok())
    }

    /// Tries to satisfy the link from the cache: `output` already holds the linked result,
    /// or a verified copy of the entry is ready to be renamed over it; `None` when there is
    /// no usable entry.
    pub fn satisfy(&mut self, key: &str, output: &Path) -> Option<Satisfied> {
        let meta = self.read_meta(key)?;
        let outputs = self.dir(Sub::Outputs)?;
        let (entry, meta_path) = (outputs.join(&format!("{key}.so")), outputs.join(&format!("{key}.meta")));
        // Up to date: the output is the very file an earlier link wrote for this key (same
        // fingerprint), or, failing that, holds exactly the cached bytes.
        // (Not for an output changed in the last seconds: it may change again unseen.)
        let settled = fs::metadata(output)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 2));
        let record = self.output_record(output).filter(|_| settled);
        let remembered = record.is_some_and(|record| self.read_record(&record).is_some_and(|k| k.trim_end() == key));
        if remembered || fs::metadata(output).is_ok_and(|m| m.len() == meta.size) && meta.verify(output) {
            files::touch(&meta_path, false);
            if !remembered {
                self.remember_output(key, output);
            }
            self.report.outcome = OutputOutcome::UpToDate;
            return Some(Satisfied::UpToDate);
        }
        match copy_verified(&entry, output, &meta) {
            Ok(copy) => {
                files::touch(&meta_path, false);
                self.report.outcome = OutputOutcome::Copied;
                Some(Satisfied::Copied(copy))
            }
            // Removed meanwhile (by `cache gc` or `clear`): simply not there.
            Err(CopyError::Corrupt(why)) if why.kind() == std::io::ErrorKind::NotFound => None,
            Err(CopyError::Corrupt(why)) => {
                let shown = self.shown(&entry);
                self.warn(format!("ignoring corrupt cache entry {shown}: {why}; relinking"));
                let _ = fs::remove_file(&meta_path);
                let _ = fs::remove_file(&entry);
                None
            }
            Err(CopyError::Output(e)) => {
                self.warn(format!("cannot write {} from the cache: {e}; relinking", output.display()));
                None
            }
        }
    }

    /// Where the key of the output file currently at `output` is remembered.
    fn output_record(&self, output: &Path) -> Option<PathBuf> {
        let metadata = fs::metadata(output).ok()?;
        Some(self.dir(Sub::Fingerprints)?.join(&format!("out-{}", fingerprint(output, &metadata))))
    }

    /// Remembers that the file now at `output` is the result for `key`, so the next
    /// unchanged link need not hash it.
    /// (Only a shortcut for the next link: a cache that cannot take it, a read-only one
    /// say, is not worth a warning.)
    pub fn remember_output(&mut self, key: &str, output: &Path) {
        let name = self.output_record(output).and_then(|r| Some(r.file_name()?.to_string_lossy().into_owned()));
        if let (Some(name), Some(dir)) = (name, self.dir(Sub::Fingerprints)) {
            let _ = files::write_record(dir, &name, key);
        }
    }

    /// Trims the cache to `max_size` (least recently used first); failures only cost space.
    pub fn evict(&self, max_size: u64) {
        if let Some(dirs) = &self.dirs {
            evict(dirs, max_size);
        }
    }

    /// Records a finished output (still a temporary file) under `key`. Its build id
    /// already hashed most of it; the ranges that left out are checked through the hash
    /// of the member they were copied from (`members`: each range's member and its offset
    /// there; `memo` knows the members' hashes) or, failing that, hashed here.
    pub fn store(
        &mut self,
        key: &str,
        finished: &Path,
        build_id: &BuildIdRecord,
        members: &[(&[u8], u64)],
        memo: &crate::chain::HashMemo,
        max_size: u64,
    ) {
        let Some(outputs) = self.dir(Sub::Outputs) else {
            self.warn("cannot write to the cache: it has no outputs directory; linking without it".to_string());
            return;
        };
        let result = (|| -> std::io::Result<()> {
            let file = fs::File::open(finished)?;
            let unreadable = || std::io::Error::other("cannot read the output back");
            use rayon::prelude::*;
            let skipped_checks = build_id
                .skipped
                .par_iter()
                .enumerate()
                .map(|(index, &(start, end))| {
                    let len = (end - start) as usize;
                    if let Some(&(member, at)) = members.get(index) {
                        let (before, after) = (&member[..at as usize], &member[at as usize + len..]);
                        if before.len() + after.len() <= MEMBER_CONTEXT_MAX {
                            if let Some(hash) = memo.known(member) {
                                let (before, after) = (before.to_vec(), after.to_vec());
                                return Some(SkippedCheck::Member { hash, before, after });
                            }
                        }
                    }
                    crate::chain::hash_file_range(&file, start, len).map(SkippedCheck::Range)
                })
                .collect::<Option<Vec<SkippedCheck>>>()
                .ok_or_else(unreadable)?;
            let size = file.metadata()?.len();
            let meta = Meta { size, build_id: build_id.clone(), skipped_checks };
            let entry = outputs.join(&format!("{key}.so"));
            // A hard link when the cache is on the output's file system: no copy. The
            // output is only ever replaced by rename, so the entry's bytes stay as stored
            // (and are verified against their hash before any use).
            let stored = match Temporary::link_in(outputs.path(), files::TEMPORARY_PREFIX, finished) {
                Ok(linked) => linked,
                Err(_) => {
                    let mut copy = Temporary::create_in(outputs.path(), files::TEMPORARY_PREFIX, 0o644)?;
                    std::io::copy(&mut fs::File::open(finished)?, copy.as_file_mut())?;
                    copy
                }
            };
            stored.persist(&entry)?;
            files::write_record(outputs, &format!("{key}.meta"), &meta.render())
        })();
        match result {
            Ok(()) => {
                self.report.stored = true;
                self.evict(max_size);
            }
            Err(e) => {
                let shown = outputs.shown(&format!("{key}.so"));
                self.warn(format!("cannot write to the cache {}: {e}; linking without it", shown.display()))
            }
        }
    }
}

/// Every option that can change the output's bytes, in a stable textual form.
fn options_fingerprint(config: &Config) -> String {
    let inputs: Vec<String> = config
        .inputs
        .iter()
        .map(|arg| match arg {
            InputArg::File(path) => format!("file {}", path.display()),
            InputArg::Library(name) => format!("lib {name}"),
            InputArg::WholeArchive(on) => format!("whole-archive {on}"),
            InputArg::AsNeeded(on) => format!("as-needed {on}"),
            InputArg::StaticOnly(on) => format!("static {on}"),
        })
        .collect();
    format!(
        "inputs {inputs:?}\nlibrary_paths {:?}\nsoname {:?}\nrpaths {:?}\nnostdlib {}\ncc {:?}\nno_undefined {}\n\
         pack_relative {}\nsymbolic {}\nbind_now {}\nbases {:?}\nstrip {:?}\ndata {:?}\ntables {:?}\nstrip_all {}\ngnu {:?}\nverdef base {:?}\n\
         remap {:?}\n",
        config.library_paths,
        config.soname,
        config.rpaths,
        config.nostdlib,
        config.cc,
        config.no_undefined,
        config.pack_relative_relocs,
        config.symbolic,
        config.bind_now,
        config.bases,
        config.strip_sections,
        config.data_members,
        config.table_names,
        config.strip_all,
        config.gnu,
        // The base version a version script's definitions hang from is named after the
        // output when there is no soname.
        config.gnu.version_script.as_ref().filter(|_| config.soname.is_none()).map(|_| config.output.file_name()),
        config.remap_path_prefix,
    )
}

/// Which chainlink build this is, for the cache keys: the package version says little
/// between releases, so the running executable's fingerprint (a rebuilt binary has a new
/// one) goes in too. An executable that cannot be found counts as unique to this process.
pub fn build_identity() -> &'static str {
    static IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| {
        // Not the change time: making a hard link to the executable (cargo does) changes it.
        let found = std::env::current_exe()
            .ok()
            .and_then(|exe| fs::metadata(exe).ok())
            .map(|m| format!("{} {} {} {}.{}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
        let identity = found.unwrap_or_else(|| format!("process {}", std::process::id()));
        format!("{} {identity}", env!("CARGO_PKG_VERSION"))
    })
}

fn fingerprint(path: &Path, metadata: &fs::Metadata) -> String {
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hasher = blake3::Hasher::new();
    hasher.update(canonical.as_os_str().as_encoded_bytes());
    for value in [
        metadata.dev(),
        metadata.ino(),
        metadata.size(),
        metadata.mtime() as u64,
        metadata.mtime_nsec() as u64,
        metadata.ctime() as u64,
        metadata.ctime_nsec() as u64,
    ] {
        hasher.update(&value.to_le_bytes());
    }
    hasher.finalize().to_hex()[..40].to_string()
}

enum CopyError {
    Corrupt(std::io::Error),
    Output(std::io::Error),
}

/// A verified copy of a cache entry beside `output`, to be renamed over it.
fn copy_verified(entry: &Path, output: &Path, meta: &Meta) -> std::result::Result<Temporary, CopyError> {
    let mut source = crate::util::files::open_regular(entry, true).map_err(CopyError::Corrupt)?;
    let size = source.metadata().map_err(CopyError::Corrupt)?.len();
    if size != meta.size {
        return Err(CopyError::Corrupt(std::io::Error::other(format!("{size} bytes, recorded {}", meta.size))));
    }
    let mut temporary =
        crate::write::temporary_beside(output).map_err(|e| CopyError::Output(std::io::Error::other(e.to_string())))?;
    // Only the bytes: the new file keeps the mode it was created with.
    std::io::copy(&mut source, temporary.as_file_mut()).map_err(CopyError::Output)?;
    if !meta.verify(temporary.path()) {
        return Err(CopyError::Corrupt(std::io::Error::other("contents do not match the recorded hash")));
    }
    Ok(temporary)
}

/// The record whose time is an entry's last use, for entries whose own times are not ours
/// to change: an output may share its inode with a user's file, and a prepared base's
/// times are part of the fingerprint that lets it go unverified.
fn use_record(name: &str) -> Option<String> {
    let (stem, extension) = name.rsplit_once('.')?;
    match extension {
        "so" => Some(format!("{stem}.meta")),
        "base" => Some(format!("{stem}.used")),
        _ => None,
    }
}

/// The file that goes with an entry: its use record, or the entry of a use record.
fn partner(name: &str) -> Option<String> {
    let (stem, extension) = name.rsplit_once('.')?;
    match extension {
        "meta" => Some(format!("{stem}.so")),
        "used" => Some(format!("{stem}.base")),
        _ => use_record(name),
    }
}

/// One file of the cache's own naming.
struct Entry {
    sub: Sub,
    name: String,
    own: Own,
    size: u64,
    used: SystemTime,
}

/// Every file of the cache's own naming, with its size and last use, oldest first.
fn entries(dirs: &Dirs) -> Vec<Entry> {
    let mut found = Vec::new();
    for sub in Sub::ALL {
        let Some(dir) = dirs.sub(sub) else { continue };
        for (name, own) in dir.own_files(sub) {
            let Ok(metadata) = files::metadata(&dir.join(&name)) else { continue };
            if !metadata.is_file() {
                continue;
            }
            let clock = use_record(&name).and_then(|record| files::metadata(&dir.join(&record)).ok());
            let used = clock.as_ref().unwrap_or(&metadata).modified().unwrap_or(SystemTime::UNIX_EPOCH);
            found.push(Entry { sub, name, own, size: metadata.len(), used });
        }
    }
    found.sort_by(|a, b| (a.used, a.sub as usize, &a.name).cmp(&(b.used, b.sub as usize, &b.name)));
    found
}

/// Removes least recently used entries until the cache fits in `max_size`, and the
/// temporary files of links that died writing them (`crate::util::files::sweep_stale`). Only files of
/// the cache's own naming are ever removed. Returns (files, bytes) freed.
fn evict(dirs: &Dirs, max_size: u64) -> (usize, u64) {
    let mut freed = (0, 0);
    for sub in Sub::ALL {
        if let Some(dir) = dirs.sub(sub) {
            let (count, bytes) = crate::util::files::sweep_stale(dir.path(), files::TEMPORARY_PREFIX);
            freed = (freed.0 + count, freed.1 + bytes);
        }
    }
    let all: Vec<Entry> = entries(dirs).into_iter().filter(|entry| entry.own != Own::Temporary).collect();
    let mut total: u64 = all.iter().map(|entry| entry.size).sum();
    for entry in &all {
        if total <= max_size {
            break;
        }
        let Some(dir) = dirs.sub(entry.sub) else { continue };
        // An entry and its use record go together; a record goes alone only when its
        // entry is gone.
        let partner = partner(&entry.name);
        if entry.own == Own::UseRecord && partner.as_ref().is_some_and(|p| files::metadata(&dir.join(p)).is_ok()) {
            continue;
        }
        if fs::remove_file(dir.join(&entry.name)).is_ok() {
            total = total.saturating_sub(entry.size);
            freed = (freed.0 + 1, freed.1 + entry.size);
            if let Some(record) = partner {
                if let Ok(metadata) = files::metadata(&dir.join(&record)) {
                    if fs::remove_file(dir.join(&record)).is_ok() {
                        total = total.saturating_sub(metadata.len());
                        freed = (freed.0 + 1, freed.1 + metadata.len());
                    }
                }
            }
        }
    }
    freed
}

/// The cache's directories for `chainlink cache ...`; `None` when there is no cache yet.
fn open_for_command(config: &Config) -> Result<(PathBuf, Option<Dirs>)> {
    let root = location(config).ok_or_else(|| Error::usage("no cache directory (set --cache-dir or HOME)"))?;
    let dirs =
        Dirs::open(&root, false).map_err(|e| Error::new(format!("{}: {e}", root.join(LAYOUT_VERSION).display())))?;
    Ok((root, dirs))
}

/// `chainlink cache stats`.
pub fn stats(config: &Config) -> Result<String> {
    let (root, dirs) = open_for_command(config)?;
    let all = dirs.as_ref().map(entries).unwrap_or_default();
    let count = |extension: &str| all.iter().filter(|e| e.name.ends_with(&format!(".{extension}"))).count();
    let (outputs, bases) = (count("so"), count("base"));
    let bytes: u64 = all.iter().map(|entry| entry.size).sum();
    Ok(format!(
        "cache: {}\noutputs: {outputs}\nprepared bases: {bases}\nfiles: {}\nbytes: {bytes}\nmax bytes: {}\n",
        root.display(),
        all.len(),
        config.cache_max_size
    ))
}

/// `chainlink cache gc`: evict down to the size bound.
pub fn gc(config: &Config) -> Result<String> {
    let (_, dirs) = open_for_command(config)?;
    let (files, bytes) = dirs.as_ref().map_or((0, 0), |dirs| evict(dirs, config.cache_max_size));
    Ok(format!("removed {files} files, {bytes} bytes\n"))
}

/// `chainlink cache clear`: remove every entry (every file of the cache's own naming but
/// the temporaries of links still running), then the directories if that leaves them
/// empty. Links running meanwhile may store new entries: clearing still succeeds.
pub fn clear(config: &Config) -> Result<String> {
    let (root, dirs) = open_for_command(config)?;
    if let Some(dirs) = dirs {
        evict(&dirs, 0);
        for sub in Sub::ALL {
            if let Some(dir) = dirs.sub(sub) {
                for (name, own) in dir.own_files(sub) {
                    if own != Own::Temporary {
                        let _ = fs::remove_file(dir.join(&name));
                    }
                }
            }
        }
        // Empty directories go too (a link storing meanwhile keeps its own).
        for sub in Sub::ALL {
            let _ = fs::remove_dir(dirs.v1().join(sub.name()));
        }
        let root_dir = root.join(LAYOUT_VERSION);
        drop(dirs);
        let _ = fs::remove_dir(root_dir);
    }
    Ok(format!("cleared {}\n", root.display()))
}
