//! Checks shared by every backend's receive path: what a completed read
//! holds, and the prefixes (packet information, virtio-net header) in
//! front of the frame.

use crate::backend::FrameFormat;
use crate::packet::Offload;
use crate::packet::Pkt;
use crate::queue::QueueStats;
use crate::wire::PacketInfo;

/// Why a received frame is not delivered. Its buffer is reused and the
/// frame counted under this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxReject {
    /// The frame filled the buffer: tun copies what fits and returns the
    /// buffer's length for a longer frame, so a full buffer cannot be told
    /// from a cut frame. With the packet-information prefix the kernel also
    /// says so (`TUN_PKT_STRIP`).
    Truncated,
    /// Shorter than the framing's minimum (an Ethernet header, or an IPv4
    /// header on a TUN port) plus the prefixes.
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
/// prefixes first) out of `room` bytes of buffer; on success strips the
/// packet information (if `fmt` has it) and the virtio-net header, decodes
/// the header and returns what it said. The packet's data is then the
/// frame alone.
pub fn accept(
    pkt: &mut Pkt,
    n: usize,
    room: usize,
    fmt: &FrameFormat,
) -> Result<Offload, RxReject> {
    if n >= room {
        return Err(RxReject::Truncated);
    }
    let (pi_len, vnet_len) = (fmt.pi_len(), fmt.vnet_hdr_len.len());
    let lead = pi_len + vnet_len;
    if fmt.packet_info {
        // The prefixes lie in the first segment: it is filled first and is
        // larger than any prefix.
        let pi = pkt
            .data()
            .get(..pi_len)
            .and_then(PacketInfo::decode)
            .ok_or(RxReject::Runt)?;
        if pi.is_stripped() {
            return Err(RxReject::Truncated);
        }
    }
    if n < lead + fmt.framing.min_len() as usize {
        return Err(RxReject::Runt);
    }
    let off = if vnet_len == 0 {
        Offload::NONE
    } else {
        let hdr = pkt.data().get(pi_len..lead).ok_or(RxReject::Runt)?;
        crate::wire::vnet::decode(hdr, n - lead).map_err(|_| RxReject::BadVnetHdr)?
    };
    if lead > 0 {
        pkt.adj(lead).map_err(|_| RxReject::Runt)?;
    }
    pkt.set_offload(off);
    Ok(off)
}
