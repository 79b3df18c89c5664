//! Prepared bases: what one link learned about a base image, kept so that the next link
//! with the same base need not learn it again.
//!
//! A prepared base is one flat file per base key (blake3 of the base archives' contents,
//! the strip list, the options that change how base relocations are scanned, and
//! chainlink's version) in the cache's `bases/` directory. It holds the scan of every base
//! generation's chunk: the chunk boundaries, the dynamic relocations counted, and each
//! symbol the chunk names with the facts the scan saw and the GOT/PLT needs it marked; and
//! the base's decoded dispatch tables; and the base region (see `sections::in_base_region`):
//! its bytes as one link wrote them, page-aligned at the end of the file so that they can
//! be mapped and written into the next output, and which relocations of each of its chunks that link
//! must apply again, with the definitions the others were resolved to; and the digests
//! of the base definitions the newest generation bound (`resolve::deps`).
//! The file is mapped and read in place (fixed-size little-endian records, no decoding
//! step) after its checksum is verified. This module only stores and reads records; the
//! scan decides whether a record still holds (see `scan::Scanner::replay_chunk`). It must
//! never be the reason an output differs: anything doubtful is rescanned.

use crate::config::Config;
use crate::resolve::deps::{Digest, KnownDigest, KnownDigests};
use crate::resolve::{FileId, SymbolDb};
use crate::scan::record::{encode_targets, encode_type_counts, TARGET_RECORD, TYPE_RECORD};
use crate::scan::{Chunk, RecordedScan, ScanRecords, TargetRecord};
use crate::sections::InputSectionId;
use crate::tables::RecordedUnits;
use crate::tables::{ImageDirectory, Place, Table, Unit};
use crate::write::patches::{Binding, ChunkPatches, Patches};
use std::io::Write as _;
use std::ops::Range;
use std::path::Path;

const MAGIC: &[u8; 8] = b"CLNKPREP";
const FORMAT: u32 = 7;
const HEADER: usize = 256;
const CHUNK_RECORD: usize = 96;
const UNIT_RECORD: usize = 40;
const ENTRY_RECORD: usize = 16;
/// A chunk's relocations of one type: the type's slot (`scan::type_slot`), the count.
const USES_TLS_LD: u32 = 1;
/// The chunk lies in the base region and its patch and binding lists are recorded.
const IN_REGION: u32 = 2;
const PATCH_RECORD: usize = Patches::RECORD;
/// Where the region's bytes start in the file: a page boundary, so that they can be mapped.
const REGION_ALIGN: usize = 4096;
const BINDING_RECORD: usize = 12;
/// A base definition's digest: object, symbol, digest (sorted by object and symbol).
const DIGEST_RECORD: usize = 24;
/// Header flag (offset 184): the base's units are not recorded, because some entry of a
/// base unit's table binds outside its own object (to an older generation's definition),
/// which a newer generation could change; they are decoded in every link.
const UNITS_NOT_RECORDED: u32 = 1;

/// The header's region fields: where the region goes in the output, and where its bytes
/// start in the file.
fn region_fields(header: &[u8]) -> (Range<u64>, u64) {
    (u64_at(header, 152)..u64_at(header, 160), u64_at(header, 168))
}

/// The checksum of a prepared base file: blake3 of all of it, its checksum field (bytes
/// 48..80 of the header) read as zeros.
pub fn checksum_of(file: &[u8]) -> [u8; 32] {
    let mut checksum = blake3::Hasher::new();
    checksum.update(&file[..48]);
    checksum.update(&[0; 32]);
    checksum.update(&file[80..HEADER]);
    checksum.update_rayon(&file[HEADER..]);
    *checksum.finalize().as_bytes()
}

/// The key of a base: which prepared base a link may use.
pub fn base_key(config: &Config, base_hashes: &[String]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"chainlink prepared base\0x86_64\0");
    hasher.update(&FORMAT.to_le_bytes());
    hasher.update(crate::incremental::cache::build_identity().as_bytes());
    // (The remap rules replace base objects' debug sections, whose chunks are recorded.)
    let options = format!(
        "\0strip {:?}\0data {:?}\0pack_relative {}\0tables {:?}\0remap {:?}\0",
        config.strip_sections,
        config.data_members,
        config.pack_relative_relocs,
        config.table_names,
        config.remap_path_prefix
    );
    hasher.update(options.as_bytes());
    for hash in base_hashes {
        hasher.update(hash.as_bytes());
        hasher.update(b"\0");
    }
    hasher.finalize().to_hex().to_string()
}

/// A prepared base, mapped and verified.
pub struct PreparedBase {
    map: memmap2::Mmap,
    chunks: usize,
    targets: usize,
    relr: usize,
    type_records: usize,
    units: usize,
    entries: usize,
    names: usize,
    patches: usize,
    base_objects: usize,
    /// Where the record of the base's resolved symbols lies (`crate::resolve::base_record`).
    base_symbols: Range<usize>,
    /// Where the digest records lie (`DIGEST_RECORD` each).
    digests: Range<usize>,
}

/// What a link recorded for its prepared base.
pub struct Recorded<'a> {
    pub chunks: &'a [Chunk],
    pub directory: &'a ImageDirectory,
    /// The base region to keep, with each chunk's patches (indexed like `chunks`; `None`
    /// outside the region).
    pub region: Option<(RegionSource<'a>, &'a [Option<ChunkPatches>])>,
    /// The base's resolved symbols (`crate::resolve::base_record::encode`), if recorded.
    pub base_symbols: Option<&'a [u8]>,
    /// Digests of base definitions, sorted by object and symbol.
    pub digests: &'a [KnownDigest],
}

/// Where the base region lies in the output, and the layout it was written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionRecord {
    pub range: Range<u64>,
    /// `Layout::region_signature` of that layout.
    pub signature: [u8; 32],
}

/// A recorded region, with where its bytes come from when it is stored: the finished
/// output of this link.
pub struct RegionSource<'a> {
    pub record: RegionRecord,
    pub output: &'a std::fs::File,
}

/// Why a prepared base cannot be used.
pub enum OpenError {
    /// The file could not be opened or mapped (permissions, not a directory): leave it.
    Unreadable(String),
    /// The file is not an intact prepared base for this key: replace it. With the
    /// device and inode it was read from (only that file may be removed: another link may
    /// have renamed a good one into its place since).
    Corrupt(String, (u64, u64)),
}

/// A view of one chunk's record.
pub struct ChunkRecord<'a> {
    base: &'a PreparedBase,
    at: usize,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

impl PreparedBase {
    /// Maps the prepared base at `path`: `Ok(None)` when there is none; an error when it
    /// cannot be read (`Unreadable`: leave it alone) or is not a complete, intact prepared
    /// base for `key` with `base_objects` objects (`Corrupt`: replace it). `trusted` says
    /// whether a file with this metadata was verified before (its checksum is then not
    /// recomputed; see `Cache::open_prepared`).
    pub fn open(
        path: &Path,
        key: &str,
        base_objects: usize,
        trusted: impl FnOnce(&std::fs::Metadata, &[u8; 32]) -> bool,
    ) -> Result<Option<(PreparedBase, bool)>, OpenError> {
        let file = match crate::util::files::open_regular(path, true) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OpenError::Unreadable(e.to_string())),
        };
        Self::open_file(file, key, base_objects, trusted).map(Some)
    }

    /// As [`PreparedBase::open`], on a file opened before.
    pub fn open_file(
        file: std::fs::File,
        key: &str,
        base_objects: usize,
        trusted: impl FnOnce(&std::fs::Metadata, &[u8; 32]) -> bool,
    ) -> Result<(PreparedBase, bool), OpenError> {
        let metadata = file.metadata().map_err(|e| OpenError::Unreadable(e.to_string()))?;
        // SAFETY: entries are only ever replaced by rename, never written in place; the
        // checksum below is verified on the mapped bytes (or was, for this very file)
        // before anything else reads them.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| OpenError::Unreadable(e.to_string()))?;
        let verify = map.len() < 80 || !trusted(&metadata, map[48..80].try_into().expect("32 bytes"));
        let identity = {
            use std::os::unix::fs::MetadataExt;
            (metadata.dev(), metadata.ino())
        };
        Self::check(map, key, base_objects, verify)
            .map(|p| (p, verify))
            .map_err(|why| OpenError::Corrupt(why, identity))
    }

    /// Where a prepared base file keeps its region's bytes (a page-aligned offset) and
    /// where they go in the output, read from its header alone, so that copying them can
    /// start before the file is checked; `None` if it has none or the header is not one.
    /// (Whoever uses the copy must open this same file and find the same region.)
    pub fn region_location(file: &std::fs::File) -> Option<(u64, Range<u64>)> {
        use std::os::unix::fs::FileExt;
        let mut header = [0u8; HEADER];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..8] != MAGIC || u32_at(&header, 8) != FORMAT {
            return None;
        }
        let (range, at) = region_fields(&header);
        let len = file.metadata().ok()?.len();
        let fits = at % REGION_ALIGN as u64 == 0 && at.checked_add(range.end.checked_sub(range.start)?)? <= len;
        (fits && range.start < range.end).then_some((at, range))
    }

    /// The checksum recorded in the file (what [`PreparedBase::open`] verified).
    pub fn checksum(&self) -> [u8; 32] {
        self.map[48..80].try_into().expect("32 bytes")
    }

    fn check(map: memmap2::Mmap, key: &str, base_objects: usize, verify: bool) -> Result<PreparedBase, String> {
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err("not a prepared base (truncated or wrong magic)".to_string());
        }
        if u32_at(&map, 8) != FORMAT {
            return Err("an unknown format version".to_string());
        }
        if map[16..48] != *blake3::hash(key.as_bytes()).as_bytes() {
            return Err("recorded for another key".to_string());
        }
        let count = |at: usize| usize::try_from(u64_at(&map, at)).unwrap_or(usize::MAX);
        let (chunks, targets, relr, type_records) = (count(80), count(88), count(96), count(104));
        let (units, entries, names) = (count(112), count(120), count(128));
        let (patches, bindings) = (count(136), count(144));
        let symbols_len = count(176);
        let digests = count(192);
        let payload_end = [
            (chunks, CHUNK_RECORD),
            (targets, TARGET_RECORD),
            (relr, 8),
            (type_records, TYPE_RECORD),
            (units, UNIT_RECORD),
            (entries, ENTRY_RECORD),
            (names, 1),
            (patches, PATCH_RECORD),
            (bindings, BINDING_RECORD),
            (symbols_len, 1),
            (digests, DIGEST_RECORD),
        ]
        .iter()
        .try_fold(HEADER, |total, &(n, size)| n.checked_mul(size).and_then(|bytes| bytes.checked_add(total)));
        // The region's bytes, if any, follow on the next page.
        let (region, region_at) = region_fields(&map);
        let region_at = usize::try_from(region_at).unwrap_or(usize::MAX);
        let expected = match region.end.checked_sub(region.start) {
            Some(0) => payload_end,
            Some(len) => payload_end
                .filter(|&end| end.next_multiple_of(REGION_ALIGN) == region_at)
                .and_then(|_| usize::try_from(len).ok()?.checked_add(region_at)),
            None => None,
        };
        if expected != Some(map.len()) {
            return Err(format!("{} bytes, but its header describes {:?}", map.len(), expected));
        }
        if verify && map[48..80] != checksum_of(&map) {
            return Err("its contents do not match their checksum".to_string());
        }
        let recorded_objects = u32_at(&map, 12) as usize;
        if recorded_objects != base_objects {
            return Err(format!("recorded for {recorded_objects} base objects, not {base_objects}"));
        }
        let digests_end = payload_end.unwrap_or(0);
        let symbols_end = digests_end - digests * DIGEST_RECORD;
        let base_symbols = symbols_end - symbols_len..symbols_end;
        let digests = symbols_end..digests_end;
        let prepared = PreparedBase {
            map,
            chunks,
            targets,
            relr,
            type_records,
            units,
            entries,
            names,
            patches,
            base_objects,
            base_symbols,
            digests,
        };
        // Every record's ranges must lie inside the file: then reading them cannot fail.
        for index in 0..chunks {
            let record = prepared.chunk(index);
            let end = |at: usize| record.field32(at) as usize + record.field32(at + 4) as usize;
            let types_end = record.field32(64) as usize + record.field32(88) as usize;
            if end(48) > targets
                || end(56) > relr
                || types_end > type_records
                || end(72) > patches
                || end(80) > bindings
            {
                return Err(format!("chunk record {index} points outside the file"));
            }
        }
        for index in 0..units {
            let at = prepared.units_at() + index * UNIT_RECORD;
            let field = |offset: usize| u32_at(&prepared.map, at + offset) as usize;
            let entries_end = field(20) + field(12) + field(16);
            let names_end = (field(24) + field(28)).max(field(32) + field(36));
            if field(8) >= base_objects || entries_end > entries || names_end > names {
                return Err(format!("unit record {index} points outside the file"));
            }
        }
        Ok(prepared)
    }

    pub fn base_objects(&self) -> usize {
        self.base_objects
    }

    fn units_at(&self) -> usize {
        self.type_records_at() + self.type_records * TYPE_RECORD
    }

    fn entries_at(&self) -> usize {
        self.units_at() + self.units * UNIT_RECORD
    }

    fn names_at(&self) -> usize {
        self.entries_at() + self.entries * ENTRY_RECORD
    }

    fn patches_at(&self) -> usize {
        self.names_at() + self.names
    }

    fn bindings_at(&self) -> usize {
        self.patches_at() + self.patches * PATCH_RECORD
    }

    /// The base region this prepared base kept the bytes of, if it did.
    pub fn region(&self) -> Option<RegionRecord> {
        let (range, _) = region_fields(&self.map);
        let signature = self.map[200..232].try_into().expect("32 bytes");
        (range.start < range.end).then_some(RegionRecord { range, signature })
    }

    /// The record of the base's resolved symbols, if one was kept.
    pub fn base_symbols(&self) -> Option<&[u8]> {
        (!self.base_symbols.is_empty()).then(|| &self.map[self.base_symbols.clone()])
    }

    /// The region's stored bytes (`region()` says where they go).
    pub fn stored_region(&self) -> Option<&[u8]> {
        let (range, at) = region_fields(&self.map);
        let (at, len) = (usize::try_from(at).ok()?, usize::try_from(range.end.checked_sub(range.start)?).ok()?);
        if len == 0 {
            return None;
        }
        self.map.get(at..at.checked_add(len)?)
    }

    /// Each chunk's patches over the stored region: for a chunk of the region whose scan
    /// was replayed from this prepared base and whose every recorded binding still holds.
    /// Any other chunk (`None`) is written in full.
    pub fn region_patches<'a>(&'a self, db: &SymbolDb, chunks: &[Chunk]) -> Vec<Option<Patches<'a>>> {
        use rayon::prelude::*;
        chunks
            .par_iter()
            .map(|chunk| {
                let (patches, mut bindings) = self.chunk(chunk.prepared? as usize).patches()?;
                let loaded = db.object(chunk.input.file);
                let holds = bindings.all(|binding| {
                    loaded.global(binding.symbol as usize).is_some_and(|id| {
                        db.global(id).definition
                            == crate::resolve::Definition::Object { file: binding.file, index: binding.index }
                    })
                });
                holds.then_some(patches)
            })
            .collect()
    }

    fn targets_at(&self) -> usize {
        HEADER + self.chunks * CHUNK_RECORD
    }

    fn relr_at(&self) -> usize {
        self.targets_at() + self.targets * TARGET_RECORD
    }

    fn type_records_at(&self) -> usize {
        self.relr_at() + self.relr * 8
    }

    pub fn chunk(&self, index: usize) -> ChunkRecord<'_> {
        ChunkRecord { base: self, at: HEADER + index * CHUNK_RECORD }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks
    }
}

impl RecordedUnits for PreparedBase {
    fn base_objects(&self) -> usize {
        self.base_objects
    }

    fn has_units_for(&self, db: &SymbolDb) -> bool {
        self.base_objects <= db.objects.len() && u32_at(&self.map, 184) & UNITS_NOT_RECORDED == 0
    }

    fn units(&self, db: &SymbolDb) -> Option<Vec<Unit>> {
        if !self.has_units_for(db) {
            return None;
        }
        let map: &[u8] = &self.map;
        let name = |offset: u32, len: u32| {
            let start = self.names_at() + offset as usize;
            String::from_utf8_lossy(&map[start..start + len as usize]).into_owned()
        };
        let units = (0..self.units).map(|index| {
            let at = self.units_at() + index * UNIT_RECORD;
            let field = |offset: usize| u32_at(map, at + offset);
            let file = FileId(field(8));
            let (nfvars, ngvars, first) = (field(12) as usize, field(16) as usize, field(20) as usize);
            let entries = |from: usize, count: usize| -> Vec<Place> {
                let start = self.entries_at() + from * ENTRY_RECORD;
                map[start..start + count * ENTRY_RECORD]
                    .chunks_exact(ENTRY_RECORD)
                    .map(|entry| Place { file, section: u32_at(entry, 0), offset: u64_at(entry, 8) })
                    .collect()
            };
            Unit {
                generation: field(0),
                shard: field(4),
                file,
                object: db.object(file).object.name.clone(),
                fvars: Table { symbol: name(field(24), field(28)), entries: entries(first, nfvars) },
                gvars: Table { symbol: name(field(32), field(36)), entries: entries(first + nfvars, ngvars) },
            }
        });
        Some(units.collect())
    }
}

impl KnownDigests for PreparedBase {
    fn digest(&self, file: FileId, symbol: u32) -> Option<Digest> {
        let (records, _) = self.map[self.digests.clone()].as_chunks::<DIGEST_RECORD>();
        let key = |record: &[u8; DIGEST_RECORD]| (u32_at(record, 0), u32_at(record, 4));
        let at = records.partition_point(|record| key(record) < (file.0, symbol));
        let record = records.get(at).filter(|record| key(record) == (file.0, symbol))?;
        Some(Digest::from_le_bytes(record[8..].try_into().expect("sixteen bytes")))
    }
}

impl ScanRecords for PreparedBase {
    fn chunks_of(&self, input: InputSectionId, relocations: usize, size: u64) -> Option<Vec<Chunk>> {
        let file = input.file.0;
        if file as usize >= self.base_objects {
            return None;
        }
        let section_of = |index: usize| {
            let record = self.chunk(index);
            (record.field32(0), record.field32(4))
        };
        // Records are sorted by (file, section, first relocation).
        let (mut first, mut end) = (0, self.chunks);
        while first < end {
            let middle = first + (end - first) / 2;
            if section_of(middle) < (file, input.section) {
                first = middle + 1;
            } else {
                end = middle;
            }
        }
        let mut chunks = Vec::new();
        let (mut next_reloc, mut next_byte) = (0usize, 0u64);
        for index in first..self.chunks {
            if section_of(index) != (file, input.section) {
                break;
            }
            let record = self.chunk(index);
            let (relocs, bytes) = (record.relocs(), record.bytes());
            let contiguous = relocs.start == next_reloc && bytes.start == next_byte;
            if !contiguous || relocs.end < relocs.start || relocs.end > relocations || bytes.end < bytes.start {
                return None;
            }
            (next_reloc, next_byte) = (relocs.end, bytes.end);
            let mut chunk = Chunk::new(input, relocs, bytes);
            chunk.prepared = Some(u32::try_from(index).ok()?);
            chunks.push(chunk);
        }
        (!chunks.is_empty() && next_reloc == relocations && next_byte == size).then_some(chunks)
    }

    fn scan_of(&self, index: usize) -> RecordedScan<'_> {
        self.chunk(index).scan()
    }
}

impl<'a> ChunkRecord<'a> {
    fn field32(&self, offset: usize) -> u32 {
        u32_at(&self.base.map, self.at + offset)
    }

    fn field64(&self, offset: usize) -> u64 {
        u64_at(&self.base.map, self.at + offset)
    }

    fn relocs(&self) -> Range<usize> {
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        to_usize(self.field64(8))..to_usize(self.field64(16))
    }

    fn bytes(&self) -> Range<u64> {
        self.field64(24)..self.field64(32)
    }

    /// The chunk's recorded scan, read in place.
    pub fn scan(&self) -> RecordedScan<'a> {
        let map: &'a [u8] = &self.base.map;
        let slice = |at: usize, first: u32, count: u32, size: usize| {
            let start = at + first as usize * size;
            &map[start..start + count as usize * size]
        };
        RecordedScan {
            relative: self.field32(40),
            symbolic: self.field32(44),
            uses_tls_ld: self.field32(68) & USES_TLS_LD != 0,
            targets: slice(self.base.targets_at(), self.field32(48), self.field32(52), TARGET_RECORD),
            relr_offsets: slice(self.base.relr_at(), self.field32(56), self.field32(60), 8),
            type_counts: slice(self.base.type_records_at(), self.field32(64), self.field32(88), TYPE_RECORD),
        }
    }

    /// For a chunk of the base region: its patch list, and the bindings the rest of its
    /// relocations depend on.
    pub fn patches(&self) -> Option<(Patches<'a>, impl Iterator<Item = Binding> + 'a)> {
        if self.field32(68) & IN_REGION == 0 {
            return None;
        }
        let map: &'a [u8] = &self.base.map;
        let start = self.base.patches_at() + self.field32(72) as usize * PATCH_RECORD;
        let patches = Patches::new(&map[start..start + self.field32(76) as usize * PATCH_RECORD]);
        let start = self.base.bindings_at() + self.field32(80) as usize * BINDING_RECORD;
        let bindings =
            map[start..start + self.field32(84) as usize * BINDING_RECORD].chunks_exact(BINDING_RECORD).map(|record| {
                Binding { symbol: u32_at(record, 0), file: FileId(u32_at(record, 4)), index: u32_at(record, 8) }
            });
        Some((patches, bindings))
    }
}

/// Writes the prepared base of this link: every base chunk (`file` below `base_objects`)
/// with its scan, taken from `previous` for chunks replayed from it and from the chunk's
/// own recording otherwise. Written to a temporary file and renamed into place.
pub fn store(
    path: &Path,
    key: &str,
    base_objects: usize,
    recorded: Recorded,
    previous: Option<&PreparedBase>,
) -> std::io::Result<()> {
    let overflow = || std::io::Error::other("prepared base too large");
    let mut base: Vec<(usize, &Chunk)> =
        recorded.chunks.iter().enumerate().filter(|(_, c)| (c.input.file.0 as usize) < base_objects).collect();
    base.sort_by_key(|(_, c)| (c.input.file.0, c.input.section, c.relocs.start, c.bytes.start));
    let (mut records, mut targets, mut relr, mut types) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut target_count, mut relr_count, mut type_count) = (0u32, 0u32, 0u32);
    let (mut patches, mut bindings) = (Vec::new(), Vec::new());
    let (mut patch_count, mut binding_count) = (0u32, 0u32);
    let chunk_count = base.len() as u64;
    let chunk_patches = |index: usize| recorded.region.as_ref().and_then(|(_, all)| all.get(index)?.as_ref());
    for (index, chunk) in base {
        let (chunk_targets, chunk_types): (Vec<TargetRecord>, Vec<(u32, u64)>) = match (chunk.prepared, previous) {
            (Some(index), Some(previous)) => {
                let scan = previous.chunk(index as usize).scan();
                (scan.targets().collect(), scan.type_counts().collect())
            }
            _ => chunk.recorded.as_deref().map(|r| (r.targets.clone(), r.type_counts.clone())).unwrap_or_default(),
        };
        let types_len = u32::try_from(chunk_types.len()).map_err(|_| overflow())?;
        encode_type_counts(chunk_types, &mut types);
        records.extend_from_slice(&chunk.input.file.0.to_le_bytes());
        records.extend_from_slice(&chunk.input.section.to_le_bytes());
        for value in [chunk.relocs.start as u64, chunk.relocs.end as u64, chunk.bytes.start, chunk.bytes.end] {
            records.extend_from_slice(&value.to_le_bytes());
        }
        let relr_len = u32::try_from(chunk.relr_offsets.len()).map_err(|_| overflow())?;
        let targets_len = u32::try_from(chunk_targets.len()).map_err(|_| overflow())?;
        let region = chunk_patches(index);
        let (patch_len, binding_len) = match region {
            Some(region) => (
                u32::try_from(region.relocations.len()).map_err(|_| overflow())?,
                u32::try_from(region.bindings.len()).map_err(|_| overflow())?,
            ),
            None => (0, 0),
        };
        let chunk_flags =
            if chunk.uses_tls_ld { USES_TLS_LD } else { 0 } | if region.is_some() { IN_REGION } else { 0 };
        for value in [
            chunk.relative,
            chunk.symbolic,
            target_count,
            targets_len,
            relr_count,
            relr_len,
            type_count,
            chunk_flags,
            patch_count,
            patch_len,
            binding_count,
            binding_len,
            types_len,
            0,
        ] {
            records.extend_from_slice(&value.to_le_bytes());
        }
        type_count = type_count.checked_add(types_len).ok_or_else(overflow)?;
        if let Some(region) = region {
            for index in &region.relocations {
                patches.extend_from_slice(&index.to_le_bytes());
            }
            for binding in &region.bindings {
                for value in [binding.symbol, binding.file.0, binding.index] {
                    bindings.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
        patch_count = patch_count.checked_add(patch_len).ok_or_else(overflow)?;
        binding_count = binding_count.checked_add(binding_len).ok_or_else(overflow)?;
        encode_targets(chunk_targets, &mut targets);
        for offset in &chunk.relr_offsets {
            relr.extend_from_slice(&offset.to_le_bytes());
        }
        target_count = target_count.checked_add(targets_len).ok_or_else(overflow)?;
        relr_count = relr_count.checked_add(relr_len).ok_or_else(overflow)?;
    }
    let units = encode_units(recorded.directory, base_objects)?;
    let mut payload = records;
    payload.extend_from_slice(&targets);
    payload.extend_from_slice(&relr);
    payload.extend_from_slice(&types);
    payload.extend_from_slice(&units.units);
    payload.extend_from_slice(&units.entries);
    payload.extend_from_slice(&units.names);
    payload.extend_from_slice(&patches);
    payload.extend_from_slice(&bindings);
    let base_symbols = recorded.base_symbols.or_else(|| previous.and_then(|p| p.base_symbols())).unwrap_or_default();
    payload.extend_from_slice(base_symbols);
    for &(file, symbol, digest) in recorded.digests.iter().filter(|d| (d.0 .0 as usize) < base_objects) {
        payload.extend_from_slice(&file.0.to_le_bytes());
        payload.extend_from_slice(&symbol.to_le_bytes());
        payload.extend_from_slice(&digest.to_le_bytes());
    }
    let digest_count = recorded.digests.iter().filter(|d| (d.0 .0 as usize) < base_objects).count();
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(&(base_objects as u32).to_le_bytes());
    header.extend_from_slice(blake3::hash(key.as_bytes()).as_bytes());
    header.extend_from_slice(&[0; 32]);
    for count in [
        chunk_count,
        u64::from(target_count),
        u64::from(relr_count),
        u64::from(type_count),
        units.count,
        u64::from(units.entry_count),
        units.names.len() as u64,
        u64::from(patch_count),
        u64::from(binding_count),
    ] {
        header.extend_from_slice(&count.to_le_bytes());
    }
    // The region's bytes go on the first page boundary after the records.
    let region_at = (HEADER + payload.len()).next_multiple_of(REGION_ALIGN);
    let region_fields = match &recorded.region {
        Some((region, _)) => [region.record.range.start, region.record.range.end, region_at as u64],
        None => [0; 3],
    };
    for value in region_fields {
        header.extend_from_slice(&value.to_le_bytes());
    }
    header.extend_from_slice(&(base_symbols.len() as u64).to_le_bytes());
    let flags = if units.recorded { 0 } else { UNITS_NOT_RECORDED };
    header.extend_from_slice(&flags.to_le_bytes());
    header.resize(192, 0);
    header.extend_from_slice(&(digest_count as u64).to_le_bytes());
    match &recorded.region {
        Some((region, _)) => header.extend_from_slice(&region.record.signature),
        None => header.resize(232, 0),
    }
    header.resize(HEADER, 0);
    write_file(path, header, &payload, recorded.region.as_ref().map(|(region, _)| region))
}

/// The base's dispatch-table units, encoded for the prepared base.
struct EncodedUnits {
    units: Vec<u8>,
    entries: Vec<u8>,
    names: Vec<u8>,
    count: u64,
    entry_count: u32,
    /// Whether they are recorded (see `UNITS_NOT_RECORDED`).
    recorded: bool,
}

/// Every base unit (those of objects below `base_objects`), when all their entries lie in
/// their own objects (else none, and `recorded` is false).
fn encode_units(directory: &ImageDirectory, base_objects: usize) -> std::io::Result<EncodedUnits> {
    let overflow = || std::io::Error::other("prepared base too large");
    let (mut units, mut entries, mut names) = (Vec::new(), Vec::new(), Vec::new());
    let (mut unit_count, mut entry_count) = (0u64, 0u32);
    let base_units = || directory.units.iter().filter(|unit| (unit.file.0 as usize) < base_objects);
    let units_recorded = base_units()
        .all(|unit| unit.fvars.entries.iter().chain(&unit.gvars.entries).all(|place| place.file == unit.file));
    for unit in base_units().filter(|_| units_recorded) {
        let mut name = |symbol: &str| -> std::io::Result<[u32; 2]> {
            let offset = u32::try_from(names.len()).map_err(|_| overflow())?;
            names.extend_from_slice(symbol.as_bytes());
            Ok([offset, symbol.len() as u32])
        };
        let [fvars_name, fvars_len] = name(&unit.fvars.symbol)?;
        let [gvars_name, gvars_len] = name(&unit.gvars.symbol)?;
        let count = |table: &Table| u32::try_from(table.entries.len()).map_err(|_| overflow());
        let (nfvars, ngvars) = (count(&unit.fvars)?, count(&unit.gvars)?);
        for value in [
            unit.generation,
            unit.shard,
            unit.file.0,
            nfvars,
            ngvars,
            entry_count,
            fvars_name,
            fvars_len,
            gvars_name,
            gvars_len,
        ] {
            units.extend_from_slice(&value.to_le_bytes());
        }
        for place in unit.fvars.entries.iter().chain(&unit.gvars.entries) {
            entries.extend_from_slice(&place.section.to_le_bytes());
            entries.extend_from_slice(&[0; 4]);
            entries.extend_from_slice(&place.offset.to_le_bytes());
        }
        entry_count = entry_count.checked_add(nfvars).and_then(|n| n.checked_add(ngvars)).ok_or_else(overflow)?;
        unit_count += 1;
    }
    Ok(EncodedUnits { units, entries, names, count: unit_count, entry_count, recorded: units_recorded })
}

/// Writes `header` (its checksum filled in last), `payload` and, when recorded, the base
/// region's bytes on the next page boundary, to a temporary file renamed to `path`.
fn write_file(path: &Path, mut header: Vec<u8>, payload: &[u8], region: Option<&RegionSource>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temporary =
        crate::util::files::Temporary::create_in(dir, crate::incremental::cache_files::TEMPORARY_PREFIX, 0o644)?;
    let mut checksum = blake3::Hasher::new();
    // The header too (its checksum field read as zeros): every byte is covered.
    checksum.update(&header);
    checksum.update(payload);
    temporary.as_file_mut().write_all(&header)?;
    temporary.as_file_mut().write_all(payload)?;
    if let Some(region) = region {
        let region_at = (HEADER + payload.len()).next_multiple_of(REGION_ALIGN);
        let padding = vec![0u8; region_at - HEADER - payload.len()];
        checksum.update(&padding);
        temporary.as_file_mut().write_all(&padding)?;
        // One read of the region, hashed and written as it goes.
        use std::os::unix::fs::FileExt;
        let range = &region.record.range;
        let mut buffer = vec![0u8; (range.end - range.start).min(8 << 20) as usize];
        let mut at = range.start;
        while at < range.end {
            let block = &mut buffer[..(range.end - at).min(8 << 20) as usize];
            region.output.read_exact_at(block, at)?;
            checksum.update_rayon(block);
            temporary.as_file_mut().write_all(block)?;
            at += block.len() as u64;
        }
    }
    // The header last, now that the checksum is known.
    header[48..80].copy_from_slice(checksum.finalize().as_bytes());
    std::os::unix::fs::FileExt::write_all_at(temporary.as_file(), &header, 0)?;
    temporary.persist(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::ScanRecord;

    fn chunk(file: u32, section: u32, relocs: Range<usize>, bytes: Range<u64>, symbol: u32) -> Chunk {
        let mut chunk = Chunk::new(InputSectionId { file: FileId(file), section }, relocs, bytes);
        chunk.relative = symbol + 1;
        chunk.symbolic = symbol + 2;
        chunk.relr_offsets = vec![chunk.bytes.start + 8];
        chunk.uses_tls_ld = symbol % 2 == 1;
        chunk.recorded = Some(Box::new(ScanRecord {
            targets: vec![TargetRecord { symbol, facts: 3, bits: 5 }],
            type_counts: vec![(7, u64::from(symbol) + 10)],
        }));
        chunk
    }

    /// What `store` writes, `open` reads back: every base chunk's record (found by
    /// section, in order), nothing of the newest generation's, and no other key.
    #[test]
    fn a_stored_prepared_base_reads_back_as_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prepared");
        // Two base objects (files 0 and 1) and a newest one (file 2), out of order.
        let chunks = vec![
            chunk(1, 4, 0..3, 0..64, 11),
            chunk(0, 2, 2..5, 32..100, 22),
            chunk(0, 2, 0..2, 0..32, 33),
            chunk(2, 1, 0..1, 0..8, 44),
        ];
        let directory = ImageDirectory { units: Vec::new() };
        // Digests of base definitions (file 2's is the newest generation's: not kept).
        let digests = [(FileId(0), 5, 0x55), (FileId(0), 9, u128::MAX - 9), (FileId(1), 2, 12), (FileId(2), 1, 21)];
        let recorded = Recorded {
            chunks: &chunks,
            directory: &directory,
            region: None,
            base_symbols: Some(b"symbols"),
            digests: &digests,
        };
        store(&path, "the key", 2, recorded, None).unwrap();

        let Ok(Some((base, verified))) = PreparedBase::open(&path, "the key", 2, |_, _| false) else {
            panic!("the prepared base does not open")
        };
        assert!(verified);
        assert_eq!(base.chunk_count(), 3);
        assert_eq!(base.base_symbols(), Some(&b"symbols"[..]));
        for (file, symbol, digest) in [(0, 5, Some(0x55)), (0, 9, Some(u128::MAX - 9)), (1, 2, Some(12))] {
            assert_eq!(base.digest(FileId(file), symbol), digest);
        }
        for (file, symbol) in [(0, 4), (0, 6), (0, 10), (1, 1), (1, 3), (2, 1), (3, 0)] {
            assert_eq!(base.digest(FileId(file), symbol), None, "file {file} symbol {symbol}");
        }
        let section = InputSectionId { file: FileId(0), section: 2 };
        let replayed = base.chunks_of(section, 5, 100).expect("section 2 of file 0 is recorded");
        assert_eq!(
            replayed.iter().map(|c| (c.relocs.clone(), c.bytes.clone())).collect::<Vec<_>>(),
            [(0..2, 0..32), (2..5, 32..100)]
        );
        for (replayed, symbol) in replayed.iter().zip([33, 22]) {
            let scan = base.scan_of(replayed.prepared.unwrap() as usize);
            assert_eq!((scan.relative, scan.symbolic, scan.uses_tls_ld), (symbol + 1, symbol + 2, symbol % 2 == 1));
            assert_eq!(scan.targets().collect::<Vec<_>>(), [TargetRecord { symbol, facts: 3, bits: 5 }]);
            assert_eq!(scan.type_counts().collect::<Vec<_>>(), [(7, u64::from(symbol) + 10)]);
            assert_eq!(scan.relr_offsets().collect::<Vec<_>>(), [replayed.bytes.start + 8]);
        }
        // Records that do not cover the section exactly are not offered.
        assert!(base.chunks_of(section, 4, 100).is_none());
        assert!(base.chunks_of(InputSectionId { file: FileId(2), section: 1 }, 1, 8).is_none());
        // Another key, or another number of base objects, is not this prepared base.
        assert!(matches!(PreparedBase::open(&path, "another key", 2, |_, _| false), Err(OpenError::Corrupt(..))));
        assert!(matches!(PreparedBase::open(&path, "the key", 3, |_, _| false), Err(OpenError::Corrupt(..))));
    }

    /// A byte changed anywhere is found by the checksum (a file not trusted is verified).
    #[test]
    fn any_damaged_byte_makes_it_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prepared");
        let chunks = vec![chunk(0, 1, 0..1, 0..16, 1)];
        let directory = ImageDirectory { units: Vec::new() };
        let digests = [(FileId(0), 1, 7)];
        let recorded =
            Recorded { chunks: &chunks, directory: &directory, region: None, base_symbols: None, digests: &digests };
        store(&path, "k", 1, recorded, None).unwrap();
        let good = std::fs::read(&path).unwrap();
        for at in (0..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            assert!(PreparedBase::open(&path, "k", 1, |_, _| false).is_err(), "byte {at}");
        }
    }
}
