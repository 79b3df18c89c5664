//! The `NT_GNU_BUILD_ID` note: its fixed fields and a given or random descriptor first,
//! and a digest of the finished output (`build_id::BuildIdRecord`) last. Must not hash
//! anything itself.

use crate::config::BuildId;
use crate::sections::Synthetic;
use crate::write::build_id::{BuildIdRecord, PieceDigest};
use crate::write::{Put, Writer};
use object::elf;

/// The build id note's fixed fields, and its descriptor unless that is a digest of
/// the output (written last: [`Writer::write_build_id`]).
pub(in crate::write) fn write_note(w: &Writer, buffer: &mut [u8]) {
    let style = &w.config.gnu.build_id;
    let len = style.note_len();
    if len == 0 {
        return;
    }
    let at = w.layout.section(Synthetic::BuildId).offset as usize;
    buffer.put32(at, 4);
    buffer.put32(at + 4, len as u32);
    buffer.put32(at + 8, elf::NT_GNU_BUILD_ID.0);
    buffer[at + 12..at + 16].copy_from_slice(b"GNU\0");
    let descriptor = &mut buffer[at + 16..at + 16 + len];
    match style {
        BuildId::Hex(bytes) => descriptor.copy_from_slice(bytes),
        BuildId::Uuid => descriptor.copy_from_slice(&random_uuid()),
        _ => {}
    }
}

/// Writes the build id: the digest of the output under `record` (with the pieces in
/// `known` hashed already); returns the digest.
pub(in crate::write) fn write_digest(
    w: &Writer,
    buffer: &mut [u8],
    record: &BuildIdRecord,
    known: &[PieceDigest],
) -> [u8; 32] {
    let at = w.layout.section(Synthetic::BuildId).offset as usize;
    let digest = record.digest_with(buffer, known);
    let style = &w.config.gnu.build_id;
    if style.is_digest() {
        let len = style.note_len();
        buffer[at + 16..at + 16 + len].copy_from_slice(&digest[..len]);
    }
    digest
}

/// 16 random bytes as an RFC 4122 version 4 UUID (`--build-id=uuid`): from the kernel's
/// random source, else from the clock and process id.
fn random_uuid() -> [u8; 16] {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&blake3::hash(seed.as_bytes()).as_bytes()[..16]);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}
