//! Just enough ELF64 reading to damage an object on purpose: find its sections and the
//! file offsets of their fields and relocation entries, so that a test (or the fuzzer) can
//! rewrite one field of a real, compiled object.

/// One section header of an ELF64 little-endian object.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    /// File offset of this section's header.
    pub header_at: usize,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
}

pub const SHT_SYMTAB: u32 = 2;
pub const SHT_RELA: u32 = 4;

pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

pub fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// The section headers (empty when `bytes` is not an ELF64 object this can read).
pub fn sections(bytes: &[u8]) -> Vec<Section> {
    let read = || -> Option<Vec<Section>> {
        if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 {
            return None;
        }
        let shoff = u64_at(bytes, 0x28)? as usize;
        let shentsize = u16_at(bytes, 0x3a)? as usize;
        let shnum = u16_at(bytes, 0x3c)? as usize;
        let shstrndx = u16_at(bytes, 0x3e)? as usize;
        if shentsize != 64 {
            return None;
        }
        let header = |index: usize| shoff.checked_add(index.checked_mul(64)?);
        let names_at = u64_at(bytes, header(shstrndx)? + 0x18)? as usize;
        let mut found = Vec::with_capacity(shnum);
        for index in 0..shnum {
            let at = header(index)?;
            let name_offset = u32_at(bytes, at)? as usize;
            let name_bytes = bytes.get(names_at.checked_add(name_offset)?..)?;
            let end = name_bytes.iter().position(|&b| b == 0)?;
            found.push(Section {
                name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
                header_at: at,
                sh_type: u32_at(bytes, at + 4)?,
                flags: u64_at(bytes, at + 8)?,
                offset: u64_at(bytes, at + 0x18)?,
                size: u64_at(bytes, at + 0x20)?,
                link: u32_at(bytes, at + 0x28)?,
                info: u32_at(bytes, at + 0x2c)?,
            });
        }
        Some(found)
    };
    read().unwrap_or_default()
}

/// The section named `name`.
pub fn section(bytes: &[u8], name: &str) -> Option<Section> {
    sections(bytes).into_iter().find(|s| s.name == name)
}

/// File offsets of the entries (24 bytes each: offset, info, addend) of the relocation
/// section `name` (`.rela.text`, say).
pub fn rela_entries(bytes: &[u8], name: &str) -> Vec<usize> {
    let Some(rela) = section(bytes, name) else { return Vec::new() };
    entries_in_file(bytes, &rela).collect()
}

/// The file offsets of a relocation section's 24-byte entries that lie inside the file
/// (its header may claim any size).
fn entries_in_file(bytes: &[u8], rela: &Section) -> impl Iterator<Item = usize> {
    let len = bytes.len();
    let count = rela.size.min(len as u64) as usize / 24;
    let start = rela.offset as usize;
    (0..count)
        .map(move |i| start.wrapping_add(24 * i))
        .take_while(move |&at| at.checked_add(24).is_some_and(|end| end <= len))
}

/// Every relocation entry of the object: (file offset of the entry, section it applies to).
pub fn all_rela_entries(bytes: &[u8]) -> Vec<(usize, String)> {
    let all = sections(bytes);
    all.iter()
        .filter(|s| s.sh_type == SHT_RELA)
        .flat_map(|rela| {
            let target = all.get(rela.info as usize).map(|s| s.name.clone()).unwrap_or_default();
            entries_in_file(bytes, rela).map(move |at| (at, target.clone()))
        })
        .collect()
}
