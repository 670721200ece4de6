//! Reading a packet's bytes across its chain: the Internet checksum sum from
//! an offset to the end, a copy of a byte range, and [`finish_checksum`]
//! built on the sum.
//!
//! Segments of a chain may have odd lengths, so a segment's bytes can start
//! in the middle of a 16-bit checksum word; the sum takes that into account
//! (see [`checksum::add_packet`]).

use super::GsoError;
use crate::packet::{Checksum, Offload, Pkt};
use crate::wire::checksum;

/// The one's-complement running sum of `pkt`'s bytes from `start` to the
/// end of the chain, words counted from `start` (not folded).
pub(super) fn sum_from(pkt: &Pkt, start: usize) -> u64 {
    checksum::add_packet(0, pkt, start)
}

/// Copies `dst.len()` bytes of `pkt` starting at `from` (counted over the
/// whole chain) into `dst`; returns how many bytes there were to copy
/// (less than `dst.len()` when the chain ends first).
pub(super) fn copy_range(pkt: &Pkt, from: usize, dst: &mut [u8]) -> usize {
    let mut done = 0usize;
    let mut seg_start = 0usize;
    for seg in pkt.segments() {
        if done == dst.len() {
            break;
        }
        let seg_end = seg_start.saturating_add(seg.len());
        let want = from.saturating_add(done);
        if seg_end > want {
            let skip = want.saturating_sub(seg_start);
            let src = seg.get(skip..).unwrap_or(&[]);
            let n = src.len().min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&src[..n]);
            done += n;
        }
        seg_start = seg_end;
    }
    done
}

/// Completes a [`Checksum::Partial`] request in software, as the kernel's
/// `skb_checksum_help` does for a device that cannot: sums the bytes from
/// `start` to the end of the packet (across every chained segment, the
/// field at `start + offset` included, which holds the pseudo-header sum),
/// stores the complement in the field (a result of 0 as `0xffff`, which
/// verifies the same and keeps a UDP checksum from meaning "none") and sets
/// the checksum state to [`Checksum::None`]. The segmentation request, if
/// any, is left alone.
///
/// For a port that cannot finish checksums: a packet from a port that
/// left its checksum partial (a TAP device with offloads on) must have it
/// finished before it goes out of one that does not. A packet whose
/// checksum is not partial is left as it is.
///
/// # Errors
///
/// [`GsoError::ChecksumOutOfRange`] when the field does not lie in the
/// packet's first segment (the kernel requires the same). Nothing is
/// changed on error.
pub fn finish_checksum(pkt: &mut Pkt) -> Result<(), GsoError> {
    let off = pkt.offload();
    let Checksum::Partial { start, offset } = off.csum else {
        return Ok(());
    };
    let (start, offset) = (usize::from(start), usize::from(offset));
    let field = start + offset;
    let first_segment = pkt.len();
    if field + 2 > first_segment {
        return Err(GsoError::ChecksumOutOfRange {
            start,
            offset,
            first_segment,
        });
    }
    let value = match checksum::finish(sum_from(pkt, start)) {
        0 => 0xffff,
        c => c,
    };
    pkt.data_mut()[field..field + 2].copy_from_slice(&value.to_be_bytes());
    pkt.set_offload(Offload {
        csum: Checksum::None,
        ..off
    });
    Ok(())
}
