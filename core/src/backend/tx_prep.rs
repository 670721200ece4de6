//! Checks shared by every backend's transmit path: what may go to the
//! kernel, and the prefixes (packet information, virtio-net header)
//! prepended in place.

use crate::backend::FrameFormat;
use crate::packet::Pkt;
use crate::queue::QueueStats;
use crate::wire::vnet::{self, VnetHdrLen};
use crate::wire::{Framing, PacketInfo};

/// Why a packet is not handed to the kernel. The packet is consumed and
/// counted under this reason, never written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxReject {
    /// Shorter than the framing's minimum (an Ethernet header, or an IPv4
    /// header on a TUN port).
    Runt,
    /// On a TUN port: neither IPv4 nor IPv6 by its version nibble.
    NotIp,
    /// Larger than the port's maximum frame without a segmentation request.
    Oversize,
    /// More segments than the backend can gather.
    TooManySegments,
    /// An offload request the virtio-net header cannot carry (or no header).
    BadOffload,
    /// No headroom left for the prefixes.
    NoHeadroom,
}

impl TxReject {
    /// Counts the rejected packet in `stats`.
    pub fn count(self, stats: &mut QueueStats) {
        stats.errors += 1;
        let d = &mut stats.drops;
        match self {
            TxReject::Runt => d.runt += 1,
            TxReject::NotIp => d.not_ip += 1,
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
    /// The framing and prefixes on the device.
    pub format: FrameFormat,
    /// Largest frame without a segmentation request (MTU + L2 header).
    pub max_frame: usize,
    /// Most segments one write may gather.
    pub max_segs: usize,
}

/// Checks `pkt` against `lim` and prepends what the device expects in front
/// of the frame: the packet information (its `proto` from the IP version
/// nibble) and the virtio-net header built from the packet's offload
/// request. On success the packet's data is exactly what to write; undo
/// with [`unprepare`] if it is handed back unsent.
pub fn prepare(pkt: &mut Pkt, lim: &TxLimits) -> Result<(), TxReject> {
    let len = pkt.pkt_len();
    let off = pkt.offload();
    let fmt = &lim.format;
    if len < fmt.framing.min_len() as usize {
        return Err(TxReject::Runt);
    }
    // A TUN device takes IP packets only: the kernel refuses anything else
    // without packet information, and with it would take an unknown
    // protocol. Refused here, before a syscall, and counted.
    let pi = match fmt.framing {
        Framing::Ip => {
            // The version nibble is the packet's first byte, which is not in
            // the first segment when that one is empty.
            let first = pkt
                .segments()
                .find_map(|seg| seg.first().copied())
                .ok_or(TxReject::Runt)?;
            Some(PacketInfo::for_ip_packet(first).ok_or(TxReject::NotIp)?)
        }
        Framing::Ethernet => None,
    };
    if off.gso.is_none() && len > lim.max_frame {
        return Err(TxReject::Oversize);
    }
    if pkt.nb_segs() > lim.max_segs {
        return Err(TxReject::TooManySegments);
    }
    let mut bytes = [0u8; 16];
    let pi_len = fmt.pi_len();
    if fmt.packet_info {
        // An Ethernet frame on a TAP with packet information: proto 0, the
        // kernel reads the EtherType from the frame (eth_type_trans).
        let pi = pi.unwrap_or_default();
        bytes[..pi_len].copy_from_slice(&pi.encode());
    }
    let vnet_len = match fmt.vnet_hdr_len {
        VnetHdrLen::None if off.is_none() => 0,
        // Without a virtio-net header the kernel cannot be asked to finish
        // a checksum or to segment: the frame would go out wrong.
        VnetHdrLen::None => return Err(TxReject::BadOffload),
        VnetHdrLen::Short | VnetHdrLen::Mergeable => {
            vnet::encode(&off, len, fmt.vnet_hdr_len, &mut bytes[pi_len..])
                .map_err(|_| TxReject::BadOffload)?
        }
    };
    let prefix = pi_len + vnet_len;
    if prefix > 0 {
        pkt.prepend(prefix)
            .map_err(|_| TxReject::NoHeadroom)?
            .copy_from_slice(&bytes[..prefix]);
    }
    Ok(())
}

/// Removes the prefixes [`prepare`] added (for a packet handed back unsent).
pub fn unprepare(pkt: &mut Pkt, lim: &TxLimits) {
    // Cannot fail: `prepare` added exactly this many bytes in front.
    let _ = pkt.adj(lim.format.prefix_len());
}
