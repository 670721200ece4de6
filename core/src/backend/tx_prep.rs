//! Checks shared by every backend's transmit path: what may go to the
//! kernel, and the virtio-net header prepended in place.

use crate::packet::Pkt;
use crate::queue::QueueStats;
use crate::wire::ETH_HDR_LEN;
use crate::wire::vnet::{self, VnetHdrLen};

/// Why a packet is not handed to the kernel. The packet is consumed and
/// counted under this reason, never written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxReject {
    /// Shorter than an Ethernet header.
    Runt,
    /// Larger than the port's maximum frame without a segmentation request.
    Oversize,
    /// More segments than the backend can gather.
    TooManySegments,
    /// An offload request the virtio-net header cannot carry (or no header).
    BadOffload,
    /// No headroom left for the virtio-net header.
    NoHeadroom,
}

impl TxReject {
    /// Counts the rejected packet in `stats`.
    pub fn count(self, stats: &mut QueueStats) {
        stats.errors += 1;
        let d = &mut stats.drops;
        match self {
            TxReject::Runt => d.runt += 1,
            TxReject::Oversize => d.oversize += 1,
            TxReject::TooManySegments => d.too_many_segs += 1,
            TxReject::BadOffload => d.bad_offload += 1,
            TxReject::NoHeadroom => d.no_headroom += 1,
        }
    }
}

/// Limits of one Tx queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLimits {
    /// Virtio-net header length on the device.
    pub vnet_hdr_len: VnetHdrLen,
    /// Largest frame without a segmentation request (MTU + L2 header).
    pub max_frame: usize,
    /// Most segments one write may gather.
    pub max_segs: usize,
}

/// Checks `pkt` against `lim` and, on a device with a virtio-net header,
/// prepends the header built from the packet's offload request. On success
/// the packet's data is exactly what to write; undo with [`unprepare`] if
/// it is handed back unsent.
pub fn prepare(pkt: &mut Pkt, lim: &TxLimits) -> Result<(), TxReject> {
    let len = pkt.pkt_len();
    let off = pkt.offload();
    if len < ETH_HDR_LEN as usize {
        return Err(TxReject::Runt);
    }
    if off.gso.is_none() && len > lim.max_frame {
        return Err(TxReject::Oversize);
    }
    if pkt.nb_segs() > lim.max_segs {
        return Err(TxReject::TooManySegments);
    }
    match lim.vnet_hdr_len {
        VnetHdrLen::None if off.is_none() => return Ok(()),
        // Without a virtio-net header the kernel cannot be asked to finish
        // a checksum or to segment: the frame would go out wrong.
        VnetHdrLen::None => return Err(TxReject::BadOffload),
        VnetHdrLen::Short | VnetHdrLen::Mergeable => {}
    }
    let mut bytes = [0u8; 12];
    let n =
        vnet::encode(&off, len, lim.vnet_hdr_len, &mut bytes).map_err(|_| TxReject::BadOffload)?;
    pkt.prepend(n)
        .map_err(|_| TxReject::NoHeadroom)?
        .copy_from_slice(&bytes[..n]);
    Ok(())
}

/// Removes the header [`prepare`] added (for a packet handed back unsent).
pub fn unprepare(pkt: &mut Pkt, lim: &TxLimits) {
    // Cannot fail: `prepare` added exactly this many bytes in front.
    let _ = pkt.adj(lim.vnet_hdr_len.len());
}
