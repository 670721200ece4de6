//! Checks shared by every backend's receive path: what a completed read
//! holds, and the virtio-net header in front of the frame.

use crate::packet::Offload;
use crate::packet::Pkt;
use crate::queue::QueueStats;
use crate::wire::ETH_HDR_LEN;

/// Why a received frame is not delivered. Its buffer is reused and the
/// frame counted under this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxReject {
    /// The frame filled the buffer: tun copies what fits and returns the
    /// buffer's length for a longer frame, so a full buffer cannot be told
    /// from a cut frame.
    Truncated,
    /// Shorter than an Ethernet header (plus the virtio-net header).
    Runt,
    /// The virtio-net header makes no sense.
    BadVnetHdr,
}

impl RxReject {
    /// Counts the rejected frame in `stats`.
    pub fn count(self, stats: &mut QueueStats) {
        stats.errors += 1;
        let d = &mut stats.drops;
        match self {
            RxReject::Truncated => d.truncated += 1,
            RxReject::Runt => d.runt += 1,
            RxReject::BadVnetHdr => d.bad_vnet_hdr += 1,
        }
    }
}

/// Classifies a read that returned `n` bytes into `pkt` (which holds them,
/// header first) out of `room` bytes of buffer; on success strips and
/// decodes the `vnet_hdr_len`-byte header and returns what it said.
pub fn accept(
    pkt: &mut Pkt,
    n: usize,
    room: usize,
    vnet_hdr_len: usize,
) -> Result<Offload, RxReject> {
    if n >= room {
        return Err(RxReject::Truncated);
    }
    if n < vnet_hdr_len + ETH_HDR_LEN as usize {
        return Err(RxReject::Runt);
    }
    if vnet_hdr_len == 0 {
        return Ok(Offload::NONE);
    }
    // The header lies in the first segment: it is filled first and is
    // larger than any header.
    let hdr = pkt.data().get(..vnet_hdr_len).ok_or(RxReject::Runt)?;
    let off = crate::wire::vnet::decode(hdr, n - vnet_hdr_len).map_err(|_| RxReject::BadVnetHdr)?;
    pkt.adj(vnet_hdr_len).map_err(|_| RxReject::Runt)?;
    pkt.set_offload(off);
    Ok(off)
}
