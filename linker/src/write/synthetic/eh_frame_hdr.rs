//! `.eh_frame_hdr`: the binary-search index of the written `.eh_frame`, built from the
//! output's own bytes once every chunk is in, while the build-id pieces that do not hold
//! it are hashed. Must not change `.eh_frame`.

use crate::input::eh_frame;
use crate::sections::Synthetic;
use crate::util::error::{Error, Result};
use crate::write::build_id::{BuildIdRecord, PieceDigest};
use crate::write::Writer;

/// Writes `.eh_frame_hdr` (an index of the written `.eh_frame`) while the build-id
/// pieces that do not hold it, and are not in `known`, are hashed; returns their digests.
pub(in crate::write) fn write(
    w: &Writer,
    buffer: &mut [u8],
    build_id: &BuildIdRecord,
    known: &[PieceDigest],
) -> Result<Vec<PieceDigest>> {
    let layout = w.layout;
    let hdr = layout.section(Synthetic::EhFrameHdr);
    let eh_frame = layout.sections.by_name(".eh_frame").filter(|_| hdr.size > 0);
    let (hdr_start, hdr_end) = match eh_frame {
        Some(_) => (hdr.offset as usize, (hdr.offset + hdr.size) as usize),
        None => (buffer.len(), buffer.len()),
    };
    let (head, rest) = buffer.split_at_mut(hdr_start);
    let (hdr_bytes, tail) = rest.split_at_mut(hdr_end - hdr_start);
    let index = || -> Result<()> {
        let Some(eh_frame) = eh_frame else { return Ok(()) };
        // .eh_frame_hdr precedes .eh_frame in the file.
        let eh_frame_bytes = (eh_frame.offset as usize)
            .checked_sub(hdr_end)
            .and_then(|start| tail.get(start..start + eh_frame.size as usize))
            .ok_or_else(|| Error::new("internal error: .eh_frame does not follow .eh_frame_hdr"))?;
        eh_frame::build_eh_frame_hdr(eh_frame_bytes, eh_frame.addr, hdr.addr, hdr_bytes)
            .map_err(|e| e.context("while indexing .eh_frame"))?;
        Ok(())
    };
    let (indexed, (before, after)) = rayon::join(index, || {
        rayon::join(|| build_id.pieces_within(head, 0, known), || build_id.pieces_within(tail, hdr_end as u64, known))
    });
    indexed?;
    Ok(before.into_iter().chain(after).collect())
}
