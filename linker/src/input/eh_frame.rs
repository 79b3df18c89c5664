//! `.eh_frame` record parsing and `.eh_frame_hdr` construction.
//!
//! [`parse_eh_frame`] splits an input object's `.eh_frame` into CIE and FDE records so the
//! caller can keep or drop them; [`build_eh_frame_hdr`] reads the final output `.eh_frame`
//! and writes the binary search table the unwinder uses. This module must not apply
//! relocations, decide which records survive, or interpret call-frame instructions.

use rayon::prelude::*;
use std::collections::HashMap;

use crate::bail;
use crate::util::error::{Context, Error, Result};

/// One record of an `.eh_frame` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EhRecord {
    /// Offset of the record's length field within the section.
    pub offset: usize,
    /// Size of the record, including the 4-byte length field.
    pub size: usize,
    pub kind: EhRecordKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EhRecordKind {
    /// A Common Information Entry.
    Cie,
    /// A Frame Description Entry, with the section offset of the CIE it uses.
    Fde { cie_offset: usize },
    /// A zero-length record that ends the section.
    Terminator,
}

/// Splits an input object's `.eh_frame` section into records.
///
/// Only the 32-bit length form is supported; a 64-bit length (`0xffffffff`) is an error.
/// A zero-length record is returned as a [`EhRecordKind::Terminator`] and ends the list.
/// Every FDE must point back at a CIE that appears earlier in the section.
pub fn parse_eh_frame(data: &[u8]) -> Result<Vec<EhRecord>> {
    let mut records = Vec::new();
    walk_eh_frame(data, |record| records.push(record))?;
    Ok(records)
}

/// The number of FDEs in an input object's `.eh_frame`, checked as [`parse_eh_frame`]
/// checks it (without keeping the records).
pub fn count_fdes(data: &[u8]) -> Result<usize> {
    let mut fdes = 0;
    walk_eh_frame(data, |record| fdes += matches!(record.kind, EhRecordKind::Fde { .. }) as usize)?;
    Ok(fdes)
}

fn walk_eh_frame(data: &[u8], mut visit: impl FnMut(EhRecord)) -> Result<()> {
    // Offsets of the CIEs so far, in order. FDEs nearly always name the latest one.
    let mut cies: Vec<usize> = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let record = record_at(data, offset)?;
        if record.kind == EhRecordKind::Cie {
            cies.push(record.offset);
        }
        if let EhRecordKind::Fde { cie_offset } = record.kind {
            if cies.last() != Some(&cie_offset) && cies.binary_search(&cie_offset).is_err() {
                bail!(
                    ".eh_frame FDE at offset {offset:#x} points at offset {cie_offset:#x}, \
                     which is not a CIE"
                );
            }
        }
        visit(record);
        if record.kind == EhRecordKind::Terminator {
            break;
        }
        offset += record.size;
    }
    Ok(())
}

/// Size of the fixed part of `.eh_frame_hdr`: version and encodings, `eh_frame_ptr`,
/// `fde_count`.
const HDR_HEADER_SIZE: usize = 12;
/// Size of one binary search table entry: two `sdata4` values.
const HDR_ENTRY_SIZE: usize = 8;

/// Size of `.eh_frame_hdr` with room for `fde_count` table entries.
pub fn eh_frame_hdr_size(fde_count: usize) -> usize {
    HDR_HEADER_SIZE + HDR_ENTRY_SIZE * fde_count
}

// DWARF exception-header pointer encodings (DW_EH_PE_*).
const PE_ABSPTR: u8 = 0x00;
const PE_ULEB128: u8 = 0x01;
const PE_UDATA2: u8 = 0x02;
const PE_UDATA4: u8 = 0x03;
const PE_UDATA8: u8 = 0x04;
const PE_SLEB128: u8 = 0x09;
const PE_SDATA2: u8 = 0x0a;
const PE_SDATA4: u8 = 0x0b;
const PE_SDATA8: u8 = 0x0c;
const PE_FORMAT_MASK: u8 = 0x0f;
const PE_PCREL: u8 = 0x10;
const PE_DATAREL: u8 = 0x30;
const PE_ALIGNED: u8 = 0x50;
const PE_APPLICATION_MASK: u8 = 0x70;
const PE_INDIRECT: u8 = 0x80;
const PE_OMIT: u8 = 0xff;

/// `.eh_frame_hdr` version and the encodings of its three fields.
const HDR_VERSION: u8 = 1;
const HDR_EH_FRAME_PTR_ENC: u8 = PE_PCREL | PE_SDATA4;
const HDR_FDE_COUNT_ENC: u8 = PE_UDATA4;
const HDR_TABLE_ENC: u8 = PE_DATAREL | PE_SDATA4;

/// Builds `.eh_frame_hdr` into `out` from the final, relocated output `.eh_frame` bytes.
///
/// `eh_frame_addr` and `hdr_addr` are the virtual addresses of the two sections. `out` is
/// normally `eh_frame_hdr_size(max_fdes)` bytes long. Each FDE's `pc_begin` is decoded with
/// the pointer encoding its CIE declares. FDEs whose `pc_begin` field is zero or resolves
/// to address 0 describe discarded code and are left out. Reading stops at a terminator.
/// The table is sorted by initial location and the number of entries written is returned;
/// unused tail bytes of `out` are zeroed.
pub fn build_eh_frame_hdr(eh_frame: &[u8], eh_frame_addr: u64, hdr_addr: u64, out: &mut [u8]) -> Result<usize> {
    if out.len() < HDR_HEADER_SIZE {
        bail!(".eh_frame_hdr buffer is {} bytes, smaller than the {HDR_HEADER_SIZE}-byte header", out.len());
    }
    let capacity = (out.len() - HDR_HEADER_SIZE) / HDR_ENTRY_SIZE;

    // (initial location, FDE address)
    let mut entries: Vec<(u64, u64)> = Vec::new();
    let mut fde_encodings: HashMap<usize, u8> = HashMap::new();
    // FDEs come in runs sharing a CIE (one per input object): look that one up first.
    let mut last_cie = (usize::MAX, 0u8);
    let mut offset = 0;
    while offset < eh_frame.len() {
        let record = record_at(eh_frame, offset).context(|| "in output .eh_frame")?;
        match record.kind {
            EhRecordKind::Terminator => break,
            EhRecordKind::Cie => {}
            EhRecordKind::Fde { cie_offset } => {
                let known = if last_cie.0 == cie_offset { Some(&last_cie.1) } else { fde_encodings.get(&cie_offset) };
                let encoding = match known {
                    Some(&encoding) => encoding,
                    None => {
                        let encoding = cie_fde_encoding(eh_frame, cie_offset, eh_frame_addr).context(|| {
                            format!(
                                "output .eh_frame: CIE at offset {cie_offset:#x} \
                                     (used by FDE at {offset:#x})"
                            )
                        })?;
                        fde_encodings.insert(cie_offset, encoding);
                        encoding
                    }
                };
                last_cie = (cie_offset, encoding);
                let mut cursor = Cursor::new(eh_frame, offset + 8, offset + record.size);
                let (raw, pc_begin) = read_encoded_address(&mut cursor, encoding, eh_frame_addr)
                    .context(|| format!("output .eh_frame: FDE at offset {offset:#x}"))?;
                if raw != 0 && pc_begin != 0 {
                    let fde_addr = eh_frame_addr.wrapping_add(offset as u64);
                    entries.push((pc_begin, fde_addr));
                }
            }
        }
        offset += record.size;
    }

    if entries.len() > capacity {
        bail!("output .eh_frame has {} FDEs but .eh_frame_hdr only has room for {capacity}", entries.len());
    }
    // Both fields: a total order, whatever the sort does with equal keys.
    entries.par_sort_unstable();

    out.fill(0);
    let (header, table) = out.split_at_mut(HDR_HEADER_SIZE);
    header[..4].copy_from_slice(&[HDR_VERSION, HDR_EH_FRAME_PTR_ENC, HDR_FDE_COUNT_ENC, HDR_TABLE_ENC]);
    let eh_frame_ptr = sdata4(eh_frame_addr, hdr_addr.wrapping_add(4))
        .context(|| "eh_frame_hdr: .eh_frame is too far from .eh_frame_hdr")?;
    header[4..8].copy_from_slice(&eh_frame_ptr.to_le_bytes());
    let count =
        u32::try_from(entries.len()).map_err(|_| Error::new("eh_frame_hdr: too many FDEs for a 32-bit count"))?;
    header[8..12].copy_from_slice(&count.to_le_bytes());

    for (slot, &(initial_location, fde_addr)) in table.chunks_exact_mut(HDR_ENTRY_SIZE).zip(&entries) {
        let location = sdata4(initial_location, hdr_addr)
            .context(|| format!("eh_frame_hdr: code address {initial_location:#x} is too far from the header"))?;
        let fde = sdata4(fde_addr, hdr_addr)
            .context(|| format!("eh_frame_hdr: FDE address {fde_addr:#x} is too far from the header"))?;
        slot[..4].copy_from_slice(&location.to_le_bytes());
        slot[4..].copy_from_slice(&fde.to_le_bytes());
    }
    Ok(entries.len())
}

/// `value - base` as a signed 32-bit value, or an error if it does not fit.
fn sdata4(value: u64, base: u64) -> Result<i32> {
    let difference = value.wrapping_sub(base) as i64;
    i32::try_from(difference).map_err(|_| Error::new(format!("difference {difference:#x} does not fit in 32 bits")))
}

/// Reads the record header at `offset`: its size and whether it is a CIE, an FDE or a
/// terminator.
fn record_at(data: &[u8], offset: usize) -> Result<EhRecord> {
    let mut cursor = Cursor::new(data, offset, data.len());
    let length = cursor.u32().map_err(|_| {
        Error::new(format!(
            ".eh_frame record at offset {offset:#x} is truncated: only {} bytes left",
            data.len().saturating_sub(offset)
        ))
    })?;
    if length == 0 {
        return Ok(EhRecord { offset, size: 4, kind: EhRecordKind::Terminator });
    }
    if length == 0xffff_ffff {
        bail!(".eh_frame record at offset {offset:#x} uses the unsupported 64-bit length form");
    }
    if length < 4 {
        bail!(".eh_frame record at offset {offset:#x} has invalid length {length}");
    }
    let size = 4 + length as usize;
    if offset.checked_add(size).is_none_or(|end| end > data.len()) {
        bail!(
            ".eh_frame record at offset {offset:#x} has length {length:#x}, past the end of \
             the {:#x}-byte section",
            data.len()
        );
    }
    let id = cursor.u32()?;
    let kind = if id == 0 {
        EhRecordKind::Cie
    } else {
        let cie_offset = (offset + 4)
            .checked_sub(id as usize)
            .context(|| format!(".eh_frame FDE at offset {offset:#x} has CIE pointer {id:#x} before the section"))?;
        EhRecordKind::Fde { cie_offset }
    };
    Ok(EhRecord { offset, size, kind })
}

/// Parses the CIE at `cie_offset` far enough to find the pointer encoding of its FDEs'
/// `pc_begin` (the 'R' augmentation; `DW_EH_PE_absptr` when absent).
fn cie_fde_encoding(data: &[u8], cie_offset: usize, section_addr: u64) -> Result<u8> {
    let record = record_at(data, cie_offset)?;
    if record.kind != EhRecordKind::Cie {
        bail!("record is not a CIE");
    }
    let mut cursor = Cursor::new(data, cie_offset + 8, cie_offset + record.size);
    let version = cursor.u8()?;
    if version != 1 && version != 3 {
        bail!("unsupported CIE version {version}");
    }
    let augmentation = cursor.c_string()?;
    if augmentation.starts_with(b"eh") {
        // Old GCC: an 8-byte pointer to exception data follows.
        cursor.bytes(8)?;
    }
    cursor.uleb128()?; // code alignment factor
    cursor.sleb128()?; // data alignment factor
    if version == 1 {
        cursor.u8()?; // return address register
    } else {
        cursor.uleb128()?;
    }

    let Some(letters) = augmentation.strip_prefix(b"z") else {
        if augmentation.is_empty() || augmentation == b"eh" {
            return Ok(PE_ABSPTR);
        }
        bail!("unsupported CIE augmentation \"{}\"", String::from_utf8_lossy(augmentation));
    };
    let data_length =
        usize::try_from(cursor.uleb128()?).map_err(|_| Error::new("CIE augmentation data length is too large"))?;
    let start = cursor.pos;
    let end = start
        .checked_add(data_length)
        .filter(|&end| end <= cursor.end)
        .context(|| "CIE augmentation data runs past the end of the CIE")?;
    let mut augmentation_data = Cursor::new(data, start, end);
    for &letter in letters {
        match letter {
            b'R' => return augmentation_data.u8(),
            b'P' => {
                let encoding = augmentation_data.u8()?;
                skip_encoded(&mut augmentation_data, encoding, section_addr).context(|| "CIE personality pointer")?;
            }
            b'L' => {
                augmentation_data.u8()?;
            }
            // Signal frame, AArch64 BTI, memory tagging: no augmentation data.
            b'S' | b'B' | b'G' => {}
            _ => bail!(
                "unsupported CIE augmentation \"{}\" (unknown letter '{}')",
                String::from_utf8_lossy(augmentation),
                letter.escape_ascii()
            ),
        }
    }
    Ok(PE_ABSPTR)
}

/// Skips one pointer encoded with `encoding`.
fn skip_encoded(cursor: &mut Cursor, encoding: u8, section_addr: u64) -> Result<()> {
    if encoding == PE_OMIT {
        return Ok(());
    }
    if encoding & PE_APPLICATION_MASK == PE_ALIGNED {
        let address = section_addr.wrapping_add(cursor.pos as u64);
        let padding = address.wrapping_neg() % 8;
        cursor.bytes(padding as usize)?;
    }
    read_value(cursor, encoding)?;
    Ok(())
}

/// Reads the raw value of a pointer encoded with `encoding`, sign-extended for the signed
/// formats.
fn read_value(cursor: &mut Cursor, encoding: u8) -> Result<u64> {
    Ok(match encoding & PE_FORMAT_MASK {
        PE_ABSPTR | PE_UDATA8 | PE_SDATA8 => cursor.u64()?,
        PE_ULEB128 => cursor.uleb128()?,
        PE_SLEB128 => cursor.sleb128()? as u64,
        PE_UDATA2 => u64::from(cursor.u16()?),
        PE_SDATA2 => cursor.u16()? as i16 as i64 as u64,
        PE_UDATA4 => u64::from(cursor.u32()?),
        PE_SDATA4 => cursor.u32()? as i32 as i64 as u64,
        format => bail!("unsupported pointer encoding {encoding:#04x} (format {format:#x})"),
    })
}

/// Reads an FDE `pc_begin`. Returns the raw field value and the address it resolves to.
fn read_encoded_address(cursor: &mut Cursor, encoding: u8, section_addr: u64) -> Result<(u64, u64)> {
    if encoding == PE_OMIT {
        bail!("FDE pc_begin has the 'omit' encoding");
    }
    if encoding & PE_INDIRECT != 0 {
        bail!("unsupported indirect pc_begin encoding {encoding:#04x}");
    }
    let field_addr = section_addr.wrapping_add(cursor.pos as u64);
    let raw = read_value(cursor, encoding)?;
    let address = match encoding & PE_APPLICATION_MASK {
        0 => raw,
        PE_PCREL => raw.wrapping_add(field_addr),
        _ => bail!("unsupported pc_begin encoding {encoding:#04x}"),
    };
    Ok((raw, address))
}

/// A bounds-checked little-endian reader over `data[pos..end]` that keeps section offsets.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], pos: usize, end: usize) -> Cursor<'a> {
        Cursor { data, pos, end: end.min(data.len()) }
    }

    fn bytes(&mut self, count: usize) -> Result<&'a [u8]> {
        let bytes = self
            .pos
            .checked_add(count)
            .filter(|&end| end <= self.end)
            .and_then(|end| self.data.get(self.pos..end))
            .context(|| format!("unexpected end of record at offset {:#x}", self.pos))?;
        self.pos += count;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut array = [0; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn c_string(&mut self) -> Result<&'a [u8]> {
        let rest = self.data.get(self.pos..self.end).unwrap_or_default();
        let length = rest
            .iter()
            .position(|&byte| byte == 0)
            .context(|| format!("unterminated string at offset {:#x}", self.pos))?;
        let string = self.bytes(length)?;
        self.pos += 1;
        Ok(string)
    }

    /// Reads LEB128 bytes: the value's low 64 bits and the shift past its last byte.
    fn leb128(&mut self) -> Result<(u64, u32, u8)> {
        let start = self.pos;
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = self.u8()?;
            if shift >= 64 {
                bail!("LEB128 value at offset {start:#x} is too long");
            }
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return Ok((value, shift, byte));
            }
        }
    }

    fn uleb128(&mut self) -> Result<u64> {
        Ok(self.leb128()?.0)
    }

    fn sleb128(&mut self) -> Result<i64> {
        let (mut value, shift, last) = self.leb128()?;
        if shift < 64 && last & 0x40 != 0 {
            value |= u64::MAX << shift;
        }
        Ok(value as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::read::elf::ElfFile64;
    use object::{Object, ObjectSection};
    use std::process::Command;

    /// Compiles `source` with `cc -c` (plus `args`) and returns the object file's bytes.
    fn compile(source: &str, args: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let c_path = dir.path().join("test.c");
        let o_path = dir.path().join("test.o");
        std::fs::write(&c_path, source).unwrap();
        let status = Command::new("cc").args(args).arg("-c").arg(&c_path).arg("-o").arg(&o_path).status().unwrap();
        assert!(status.success());
        std::fs::read(o_path).unwrap()
    }

    fn section<'a>(file: &ElfFile64<'a>, name: &str) -> (u64, &'a [u8]) {
        let section = file.section_by_name(name).unwrap();
        (section.address(), section.data().unwrap())
    }

    #[test]
    fn parses_gcc_object() {
        let object = compile(
            "int f(int x) { return x * 3; }\nint g(int x) { return f(x) + 1; }\n",
            &["-O2", "-fasynchronous-unwind-tables"],
        );
        let file = ElfFile64::<object::Endianness>::parse(&*object).unwrap();
        let (_, eh_frame) = section(&file, ".eh_frame");
        let records = parse_eh_frame(eh_frame).unwrap();
        let cies: Vec<_> = records.iter().filter(|r| r.kind == EhRecordKind::Cie).collect();
        let fdes: Vec<_> = records.iter().filter(|r| matches!(r.kind, EhRecordKind::Fde { .. })).collect();
        assert_eq!(cies.len(), 1);
        assert_eq!(fdes.len(), 2);
        assert_eq!(count_fdes(eh_frame).unwrap(), 2);
        for fde in fdes {
            assert_eq!(fde.kind, EhRecordKind::Fde { cie_offset: cies[0].offset });
        }
        // Records tile the section.
        let mut offset = 0;
        for record in &records {
            assert_eq!(record.offset, offset);
            offset += record.size;
        }
        assert_eq!(offset, eh_frame.len());
        // The CIE says FDE pointers are pcrel|sdata4, as GCC does on x86-64.
        assert_eq!(cie_fde_encoding(eh_frame, 0, 0).unwrap(), PE_PCREL | PE_SDATA4);
    }

    #[test]
    fn parse_errors() {
        // Truncated length, 64-bit length, length past the end, CIE pointer to nowhere.
        assert!(parse_eh_frame(&[1, 0]).is_err());
        assert!(parse_eh_frame(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(parse_eh_frame(&[0x10, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_eh_frame(&[2, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_eh_frame(&[4, 0, 0, 0, 0x40, 0, 0, 0]).is_err());
        let mut fde_to_fde = cie_bytes(b"zR", &[PE_PCREL | PE_SDATA4]);
        let fde = fde_bytes(fde_to_fde.len(), 0, 5);
        let second_fde_offset = fde_to_fde.len() + fde.len();
        fde_to_fde.extend(&fde);
        fde_to_fde.extend(fde_bytes(second_fde_offset, fde_to_fde.len() - fde.len(), 5));
        assert!(parse_eh_frame(&fde_to_fde).is_err());
        assert!(count_fdes(&fde_to_fde).is_err(), "counting checks as parsing does");
        assert!(parse_eh_frame(&[]).unwrap().is_empty());
    }

    #[test]
    fn terminator_ends_the_list() {
        let mut data = cie_bytes(b"zR", &[PE_PCREL | PE_SDATA4]);
        data.extend([0, 0, 0, 0]);
        data.extend([0xde, 0xad]); // garbage after the terminator is never read
        let records = parse_eh_frame(&data).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].kind, EhRecordKind::Terminator);
        assert_eq!(records[1].size, 4);
    }

    /// A CIE with version 1, the given augmentation string and augmentation data.
    fn cie_bytes(augmentation: &[u8], augmentation_data: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 0, 1];
        body.extend(augmentation);
        body.push(0);
        body.extend([1, 0x78, 16]); // code align 1, data align -8, return register 16
        if augmentation.starts_with(b"z") {
            body.push(augmentation_data.len() as u8);
            body.extend(augmentation_data);
        }
        body.extend([0x0c, 7, 8, 0x90, 1]); // def_cfa rsp+8, offset rip
        while (body.len() + 4) % 8 != 0 {
            body.push(0);
        }
        let mut record = (body.len() as u32).to_le_bytes().to_vec();
        record.extend(body);
        record
    }

    /// An FDE at section offset `offset` for the CIE at `cie_offset`, whose pc_begin field
    /// holds `pc_begin` as sdata4.
    fn fde_bytes(offset: usize, cie_offset: usize, pc_begin: i32) -> Vec<u8> {
        let mut body = ((offset + 4 - cie_offset) as u32).to_le_bytes().to_vec();
        body.extend(pc_begin.to_le_bytes());
        body.extend(16u32.to_le_bytes()); // pc_range
        body.extend([0, 0, 0, 0]); // augmentation data length 0 + padding
        let mut record = (body.len() as u32).to_le_bytes().to_vec();
        record.extend(body);
        record
    }

    fn entries(out: &[u8], count: usize) -> Vec<(i32, i32)> {
        (0..count)
            .map(|i| {
                let at = 12 + 8 * i;
                (
                    i32::from_le_bytes(out[at..at + 4].try_into().unwrap()),
                    i32::from_le_bytes(out[at + 4..at + 8].try_into().unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn builds_sorted_table_from_synthetic_eh_frame() {
        let eh_frame_addr = 0x2000u64;
        let hdr_addr = 0x1f00u64;
        // A "zPLR" CIE with a pcrel|sdata4|indirect personality pointer, then three FDEs for
        // code at 0x1300, 0x1100 and 0x1200, one FDE for discarded code (pc_begin field 0),
        // a terminator, and a record after the terminator that must be ignored.
        let mut data = cie_bytes(b"zPLR", &[0x9b, 0x10, 0, 0, 0, 0x1b, 0x1b]);
        let cie_offset = 0;
        let mut fde_offsets = Vec::new();
        for target in [0x1300i64, 0x1100, 0x1200, 0] {
            let offset = data.len();
            let field_addr = eh_frame_addr as i64 + offset as i64 + 8;
            let pc_begin = if target == 0 { 0 } else { (target - field_addr) as i32 };
            data.extend(fde_bytes(offset, cie_offset, pc_begin));
            fde_offsets.push(offset as i32);
        }
        data.extend([0, 0, 0, 0]);
        data.extend(fde_bytes(data.len(), cie_offset, 0x1234));

        let mut out = vec![0xee; eh_frame_hdr_size(5)];
        let count = build_eh_frame_hdr(&data, eh_frame_addr, hdr_addr, &mut out).unwrap();
        assert_eq!(count, 3);
        assert_eq!(&out[..4], &[1, 0x1b, 0x03, 0x3b]);
        let eh_frame_ptr = i32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(eh_frame_ptr as i64, eh_frame_addr as i64 - (hdr_addr as i64 + 4));
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), 3);
        let base = hdr_addr as i32;
        let fde = |i: usize| eh_frame_addr as i32 + fde_offsets[i] - base;
        assert_eq!(entries(&out, 3), vec![(0x1100 - base, fde(1)), (0x1200 - base, fde(2)), (0x1300 - base, fde(0))]);
        assert!(out[eh_frame_hdr_size(3)..].iter().all(|&byte| byte == 0));

        // Too little room is an error, not a panic or a truncated table.
        let mut small = vec![0; eh_frame_hdr_size(2)];
        assert!(build_eh_frame_hdr(&data, eh_frame_addr, hdr_addr, &mut small).is_err());
        // Addresses more than 2 GiB from the header do not fit.
        let mut far = vec![0; eh_frame_hdr_size(5)];
        assert!(build_eh_frame_hdr(&data, eh_frame_addr, 0x1_0000_0000, &mut far).is_err());
    }

    #[test]
    fn builds_table_for_absptr_and_udata4_encodings() {
        for (augmentation, augmentation_data, encoding) in
            [(&b""[..], &[][..], PE_ABSPTR), (b"zR", &[PE_UDATA4], PE_UDATA4)]
        {
            let mut data = cie_bytes(augmentation, augmentation_data);
            let offset = data.len();
            let mut body = ((offset + 4) as u32).to_le_bytes().to_vec();
            if encoding == PE_ABSPTR {
                body.extend(0x4321u64.to_le_bytes());
                body.extend(8u64.to_le_bytes());
            } else {
                body.extend(0x4321u32.to_le_bytes());
                body.extend(8u32.to_le_bytes());
                body.push(0);
            }
            data.extend((body.len() as u32).to_le_bytes());
            data.extend(body);
            let mut out = vec![0; eh_frame_hdr_size(1)];
            assert_eq!(build_eh_frame_hdr(&data, 0x5000, 0x4000, &mut out).unwrap(), 1);
            assert_eq!(entries(&out, 1), vec![(0x321, 0x1000 + offset as i32)]);
        }
    }

    #[test]
    fn unsupported_or_broken_cies_are_errors() {
        let fde_after = |mut cie: Vec<u8>| {
            let offset = cie.len();
            cie.extend(fde_bytes(offset, 0, 0x100));
            let mut out = vec![0; eh_frame_hdr_size(1)];
            build_eh_frame_hdr(&cie, 0x1000, 0x800, &mut out)
        };
        assert!(fde_after(cie_bytes(b"zR", &[PE_PCREL | PE_SDATA4])).is_ok());
        assert!(fde_after(cie_bytes(b"zX", &[0])).is_err());
        assert!(fde_after(cie_bytes(b"zR", &[0x30 | PE_SDATA4])).is_err());
        assert!(fde_after(cie_bytes(b"zR", &[0x80 | PE_SDATA4])).is_err());
        assert!(fde_after(cie_bytes(b"zR", &[])).is_err());
        assert!(fde_after(cie_bytes(b"weird", &[])).is_err());
        let mut version_9 = cie_bytes(b"zR", &[PE_PCREL | PE_SDATA4]);
        version_9[8] = 9;
        assert!(fde_after(version_9).is_err());
        let mut tiny = vec![0; 4];
        assert!(build_eh_frame_hdr(&[], 0, 0, &mut tiny).is_err());
        let mut empty = vec![0xff; eh_frame_hdr_size(0)];
        assert_eq!(build_eh_frame_hdr(&[], 0x1000, 0x2000, &mut empty).unwrap(), 0);
    }

    /// Builds a shared library with the system linker and checks our `.eh_frame_hdr` for its
    /// `.eh_frame` matches the one the system linker wrote.
    #[test]
    fn matches_system_linker_output() {
        let dir = tempfile::tempdir().unwrap();
        let c_path = dir.path().join("lib.c");
        let so_path = dir.path().join("lib.so");
        let mut source = String::new();
        for i in 0..20 {
            source.push_str(&format!("int f{i}(int x) {{ extern int g(int); return g(x + {i}) * {i}; }}\n"));
        }
        std::fs::write(&c_path, source).unwrap();
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-Wl,--eh-frame-hdr", "-o"])
            .arg(&so_path)
            .arg(&c_path)
            .status()
            .unwrap();
        assert!(status.success());
        let data = std::fs::read(&so_path).unwrap();
        let file = ElfFile64::<object::Endianness>::parse(&*data).unwrap();
        let (eh_frame_addr, eh_frame) = section(&file, ".eh_frame");
        let (hdr_addr, expected) = section(&file, ".eh_frame_hdr");
        let fde_count = u32::from_le_bytes(expected[8..12].try_into().unwrap()) as usize;
        assert!(fde_count >= 20);
        let mut out = vec![0; expected.len()];
        let count = build_eh_frame_hdr(eh_frame, eh_frame_addr, hdr_addr, &mut out).unwrap();
        assert_eq!(count, fde_count);
        assert_eq!(out, expected);
    }
}
