//! Mutations: of raw bytes, of an ELF object's headers, section table, symbols and
//! relocations (the fields a linker trusts least), of an `ar` archive's headers and
//! members (recursively), of a chainlink manifest's lines, and of a linker script's
//! tokens. Each mutation returns a short description, for the report and reproducers.

use crate::common::elf;
use crate::rng::Rng;

/// Values that break arithmetic: the edges of every width, and small numbers.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    0x20,
    0x3f,
    0x40,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x1000,
    0x7fff,
    0x8000,
    0xffff,
    0x10000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 40,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX - 8,
    u64::MAX - 7,
    u64::MAX - 3,
    u64::MAX - 1,
    u64::MAX,
];

/// A value for a field that held `old` in a file of `len` bytes.
fn value_for(rng: &mut Rng, old: u64, len: usize) -> u64 {
    match rng.below(6) {
        0 | 1 => *rng.pick(INTERESTING),
        2 => old.wrapping_add(rng.below(17) as u64).wrapping_sub(8),
        3 => (len as u64).wrapping_add(rng.below(9) as u64).wrapping_sub(4),
        4 => old ^ (1 << rng.below(64)),
        _ => rng.next(),
    }
}

fn write_width(bytes: &mut [u8], at: usize, width: usize, value: u64) {
    if at.checked_add(width).is_some_and(|end| end <= bytes.len()) {
        bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
    }
}

fn read_width(bytes: &[u8], at: usize, width: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(field) = bytes.get(at..at + width) {
        word[..width].copy_from_slice(field);
    }
    u64::from_le_bytes(word)
}

/// One mutation of plain bytes.
pub fn bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) -> String {
    if data.is_empty() {
        data.push(rng.next() as u8);
        return "grow from nothing".into();
    }
    let at = rng.below(data.len());
    match rng.below(9) {
        0..=2 => bytes_in_place(rng, data),
        3 => {
            let len = 1 + rng.below(64);
            let filler: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            data.splice(at..at, filler);
            format!("insert {len} bytes at {at:#x}")
        }
        4 => {
            let len = (1 + rng.below(256)).min(data.len() - at);
            data.drain(at..at + len);
            format!("delete {len} bytes at {at:#x}")
        }
        5 => {
            data.truncate(at);
            format!("truncate to {at:#x}")
        }
        6 => {
            let len = (1 + rng.below(512)).min(data.len() - at);
            let copy = data[at..at + len].to_vec();
            let to = rng.below(data.len());
            data.splice(to..to, copy);
            format!("duplicate {len} bytes from {at:#x} at {to:#x}")
        }
        7 if !other.is_empty() => {
            let from = rng.below(other.len());
            let len = (1 + rng.below(1024)).min(other.len() - from).min(data.len() - at);
            data[at..at + len].copy_from_slice(&other[from..from + len]);
            format!("splice {len} bytes of another seed at {at:#x}")
        }
        _ => {
            let len = (1 + rng.below(32)).min(data.len() - at);
            for byte in &mut data[at..at + len] {
                *byte = rng.next() as u8;
            }
            format!("randomise {len} bytes at {at:#x}")
        }
    }
}

/// Section header fields: (offset in the header, width, name).
const SECTION_FIELDS: &[(usize, usize, &str)] = &[
    (0x00, 4, "sh_name"),
    (0x04, 4, "sh_type"),
    (0x08, 8, "sh_flags"),
    (0x10, 8, "sh_addr"),
    (0x18, 8, "sh_offset"),
    (0x20, 8, "sh_size"),
    (0x28, 4, "sh_link"),
    (0x2c, 4, "sh_info"),
    (0x30, 8, "sh_addralign"),
    (0x38, 8, "sh_entsize"),
];
const SYMBOL_FIELDS: &[(usize, usize, &str)] = &[
    (0, 4, "st_name"),
    (4, 1, "st_info"),
    (5, 1, "st_other"),
    (6, 2, "st_shndx"),
    (8, 8, "st_value"),
    (16, 8, "st_size"),
];
const RELA_FIELDS: &[(usize, usize, &str)] =
    &[(0, 8, "r_offset"), (8, 4, "r_type"), (12, 4, "r_sym"), (16, 8, "r_addend")];
const HEADER_FIELDS: &[(usize, usize, &str)] = &[
    (0x04, 1, "e_ident class"),
    (0x05, 1, "e_ident data"),
    (0x10, 2, "e_type"),
    (0x12, 2, "e_machine"),
    (0x28, 8, "e_shoff"),
    (0x3a, 2, "e_shentsize"),
    (0x3c, 2, "e_shnum"),
    (0x3e, 2, "e_shstrndx"),
];

/// One mutation of an ELF relocatable object, aimed mostly at its structure; plain byte
/// mutations when it is not one (any more).
pub fn elf(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) -> String {
    let sections = elf::sections(data);
    if sections.is_empty() || rng.one_in(6) {
        return bytes(rng, data, other);
    }
    let len = data.len();
    let field = |rng: &mut Rng, data: &mut Vec<u8>, at: usize, fields: &[(usize, usize, &str)], what: &str| {
        let &(offset, width, name) = rng.pick(fields);
        let old = read_width(data, at + offset, width);
        let value = value_for(rng, old, len);
        write_width(data, at + offset, width, value);
        format!("{what} {name} {old:#x} -> {value:#x}")
    };
    match rng.below(8) {
        0 => field(rng, data, 0, HEADER_FIELDS, "ELF header"),
        1 | 2 => {
            let section = rng.pick(&sections).clone();
            field(rng, data, section.header_at, SECTION_FIELDS, &format!("section {}", section.name))
        }
        3 => {
            let Some(symtab) = sections.iter().find(|s| s.sh_type == elf::SHT_SYMTAB) else {
                return bytes(rng, data, other);
            };
            let count = (symtab.size / 24) as usize;
            let index = rng.below(count.max(1));
            let at = (symtab.offset as usize).saturating_add(24 * index);
            field(rng, data, at, SYMBOL_FIELDS, &format!("symbol {index}"))
        }
        4 | 5 => {
            let entries = elf::all_rela_entries(data);
            if entries.is_empty() {
                return bytes(rng, data, other);
            }
            let (at, section) = rng.pick(&entries).clone();
            field(rng, data, at, RELA_FIELDS, &format!("relocation in {section} at {at:#x}"))
        }
        _ => {
            // The contents of a section with data (code around relocations, .eh_frame
            // records, dispatch tables, strings).
            let with_data: Vec<&elf::Section> = sections
                .iter()
                .filter(|s| {
                    s.sh_type != 8 && s.size > 0 && s.offset.checked_add(s.size).is_some_and(|end| end <= len as u64)
                })
                .collect();
            if with_data.is_empty() {
                return bytes(rng, data, other);
            }
            let section = (*rng.pick(&with_data)).clone();
            let mut contents = data[section.offset as usize..(section.offset + section.size) as usize].to_vec();
            let what = bytes_in_place(rng, &mut contents);
            data[section.offset as usize..(section.offset + section.size) as usize].copy_from_slice(&contents);
            format!("section {}: {what}", section.name)
        }
    }
}

/// A mutation that keeps the length (for data inside a structure that records it).
fn bytes_in_place(rng: &mut Rng, data: &mut [u8]) -> String {
    let at = rng.below(data.len());
    match rng.below(3) {
        0 => {
            let bit = rng.below(8);
            data[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at:#x}")
        }
        1 => {
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            let old = read_width(data, at, width);
            let value = value_for(rng, old, data.len());
            write_width(data, at, width, value);
            format!("{width}-byte word at {at:#x} = {value:#x}")
        }
        _ => {
            let value = *rng.pick(INTERESTING) as u8;
            data[at] = value;
            format!("byte {at:#x} = {value:#x}")
        }
    }
}

/// An archive member: where its 60-byte header starts, where its data starts and how long
/// it is.
struct Member {
    header: usize,
    data: usize,
    size: usize,
}

fn members(archive: &[u8]) -> Vec<Member> {
    let mut found = Vec::new();
    let mut at = 8;
    while at + 60 <= archive.len() {
        let size_field = std::str::from_utf8(&archive[at + 48..at + 58]).unwrap_or("").trim();
        let Ok(size) = size_field.parse::<usize>() else { break };
        let data = at + 60;
        if data.checked_add(size).is_none_or(|end| end > archive.len()) {
            break;
        }
        found.push(Member { header: at, data, size });
        at = data + size + (size & 1);
    }
    found
}

/// One mutation of an `ar` archive: a header field, a member's name or size, or a
/// mutation of a member's contents (an ELF one for objects, a manifest one for the
/// manifest), with the member's recorded size kept right or not.
pub fn archive(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) -> String {
    let found = members(data);
    if found.is_empty() || rng.one_in(10) {
        return bytes(rng, data, other);
    }
    let member = &found[rng.below(found.len())];
    match rng.below(6) {
        0 => {
            // Size digits: a different, possibly absurd, size.
            let value = value_for(rng, member.size as u64, data.len());
            let text = format!("{:<10}", value % 10_000_000_000);
            data[member.header + 48..member.header + 58].copy_from_slice(&text.as_bytes()[..10]);
            format!("member at {:#x}: size field {}", member.header, text.trim())
        }
        1 => {
            // The name field: a long-name reference, a symbol table, a path.
            let names: &[&[u8]] = &[
                b"/",
                b"//",
                b"/0",
                b"/99999",
                b"/-1",
                b"../../x.o/",
                b"text.o\r/",
                b"a b.o/",
                b"#1/20",
                b"data.o/",
                b"text#0.o/",
            ];
            let name = *rng.pick(names);
            let mut field = [b' '; 16];
            field[..name.len()].copy_from_slice(name);
            data[member.header..member.header + 16].copy_from_slice(&field);
            format!("member at {:#x}: name {:?}", member.header, String::from_utf8_lossy(name))
        }
        2 => {
            let at = member.header + rng.below(60);
            data[at] = rng.next() as u8;
            format!("member at {:#x}: header byte {}", member.header, at - member.header)
        }
        _ => {
            // The member's contents, mutated as what it is; its size field follows along
            // (most of the time).
            let mut contents = data[member.data..member.data + member.size].to_vec();
            let what = if contents.starts_with(b"chainlink-manifest") {
                manifest(rng, &mut contents)
            } else if contents.starts_with(b"\x7fELF") {
                elf(rng, &mut contents, other)
            } else {
                bytes(rng, &mut contents, other)
            };
            let resized = contents.len() != member.size;
            let keep_size = !resized || !rng.one_in(4);
            let mut rebuilt = data[..member.data].to_vec();
            if keep_size {
                let text = format!("{:<10}", contents.len());
                rebuilt[member.header + 48..member.header + 58].copy_from_slice(&text.as_bytes()[..10]);
            }
            rebuilt.extend_from_slice(&contents);
            if contents.len() % 2 == 1 {
                rebuilt.push(b'\n');
            }
            let next = member.data + member.size + (member.size & 1);
            rebuilt.extend_from_slice(data.get(next..).unwrap_or_default());
            *data = rebuilt;
            format!("member at {:#x}{}: {what}", member.header, if keep_size { "" } else { " (size field stale)" })
        }
    }
}

/// One mutation of a chainlink manifest's text: lines dropped, repeated or swapped,
/// numbers and names changed.
pub fn manifest(rng: &mut Rng, data: &mut Vec<u8>) -> String {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let index = rng.below(lines.len());
    let what = match rng.below(6) {
        0 => {
            lines.remove(index);
            format!("drop line {index}")
        }
        1 => {
            let line = lines[index].clone();
            lines.insert(index, line);
            format!("repeat line {index}")
        }
        2 => {
            let other = rng.below(lines.len());
            lines.swap(index, other);
            format!("swap lines {index} and {other}")
        }
        3 => {
            let mut fields: Vec<String> = lines[index].split(' ').map(str::to_string).collect();
            let field = rng.below(fields.len());
            let replacement = *rng.pick(&[
                "0",
                "1",
                "4294967295",
                "18446744073709551615",
                "-1",
                "../../x.o",
                "%",
                "%zz",
                "a%20b",
                "text",
                "data",
                "chainlink.manifest",
                "",
            ]);
            fields[field] = replacement.to_string();
            lines[index] = fields.join(" ");
            format!("line {index} field {field} = {replacement:?}")
        }
        4 => {
            lines[index].push_str(" extra");
            format!("line {index}: an extra field")
        }
        _ => {
            let mut bytes = lines[index].clone().into_bytes();
            if !bytes.is_empty() {
                let at = rng.below(bytes.len());
                bytes[at] = *rng.pick(&[b'0', b'f', b' ', b'\r', b'%', b'/', 0xff]);
            }
            lines[index] = String::from_utf8_lossy(&bytes).into_owned();
            format!("line {index}: one byte changed")
        }
    };
    *data = (lines.join("\n") + "\n").into_bytes();
    what
}

/// One mutation of a GNU ld script: tokens inserted, deleted or nested.
pub fn script(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) -> String {
    if rng.one_in(5) {
        return bytes(rng, data, other);
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let mut tokens: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let at = rng.below(tokens.len() + 1);
    let what = match rng.below(5) {
        0 => {
            let token = *rng.pick(&[
                "(",
                ")",
                "AS_NEEDED",
                "GROUP",
                "INPUT",
                "-l",
                "-lnosuch",
                "/*",
                "*/",
                "\"",
                ",",
                ";",
                "SECTIONS",
                "=x.o",
                "OUTPUT_FORMAT(elf64-x86-64)",
                "/dev/zero",
                ".",
            ]);
            tokens.insert(at, token.to_string());
            format!("insert {token:?} at token {at}")
        }
        1 if !tokens.is_empty() => {
            let removed = tokens.remove(at.min(tokens.len() - 1));
            format!("delete token {removed:?}")
        }
        2 => {
            let depth = 1 + rng.below(20_000);
            let open = "AS_NEEDED ( ".repeat(depth);
            let close = ") ".repeat(if rng.one_in(3) { depth.saturating_sub(1) } else { depth });
            tokens.insert(at, format!("{open}{close}"));
            format!("nest {depth} AS_NEEDED lists at token {at}")
        }
        3 if !tokens.is_empty() => {
            let token = tokens[rng.below(tokens.len())].clone();
            let count = 1 + rng.below(50);
            for _ in 0..count {
                tokens.insert(at, token.clone());
            }
            format!("repeat {token:?} {count} times")
        }
        _ => {
            let name = *rng.pick(&["libfuzz.so", "missing.o", "a b.o", "\"quoted name.o\"", "../x.o"]);
            tokens.insert(at, name.to_string());
            format!("name {name:?} at token {at}")
        }
    };
    *data = (tokens.join(" ") + "\n").into_bytes();
    what
}
