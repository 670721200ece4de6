//! Wire formats: what the bytes of a frame and of the virtio-net header in
//! front of it mean.
//!
//! * [`vnet`]: the `virtio_net_hdr` codec ([`crate::Offload`] to and from
//!   the header);
//! * [`Framing`]: what a frame on a port starts with (an Ethernet header
//!   on a TAP device, the IP header on a TUN device);
//! * [`packet_info`]: the 4-byte packet-information prefix of a TUN device
//!   opened without `IFF_NO_PI`;
//! * [`headers`]: the L2-L4 header parser ([`Headers`]);
//! * [`offload_request`]: transmit offload requests (checksum,
//!   segmentation) built from a frame's own headers;
//! * [`gso`]: software segmentation of packets with a segmentation
//!   request, and software completion of partial checksums, for ports
//!   that cannot do them;
//! * [`gro`]: software receive offload, coalescing a burst's TCP (and
//!   optionally UDP) segments of one flow into super-frames with a
//!   segmentation request;
//! * [`checksum`]: the Internet checksum and pseudo-header sums.
//!
//! Pure code over byte slices and [packets](crate::packet).

pub mod checksum;
mod fields;
pub mod gro;
pub mod gso;
pub mod headers;
pub mod offload_request;
pub mod packet_info;
pub mod vnet;

pub use headers::{HeaderError, Headers, IpVersion, L4};
pub use packet_info::PacketInfo;
pub use vnet::{VnetError, VnetHdrLen};

use crate::packet::{MAX_FRAME, VNET_HDR_MAX};

/// Length of an Ethernet header; anything shorter is a runt.
pub const ETH_HDR_LEN: u32 = 14;

/// Length of one VLAN tag (802.1Q / 802.1ad).
pub const VLAN_TAG_LEN: u32 = 4;

/// The shortest IP packet: an IPv4 header without options. A TUN packet
/// shorter than this is a runt.
pub const IP_MIN_LEN: u32 = 20;

/// What a frame on a port starts with: the device's link layer.
///
/// * [`Framing::Ethernet`] (a TAP device, `IFF_TAP`): every frame starts
///   with a 14-byte Ethernet header (destination MAC, source MAC,
///   EtherType), possibly followed by VLAN tags.
/// * [`Framing::Ip`] (a TUN device, `IFF_TUN`): what a TUN packet is: an
///   IPv4 or IPv6 packet from its first byte, the version nibble telling
///   which, with no link-layer header at all (no MAC addresses, no
///   EtherType, no ARP). The packet-information prefix a TUN device may add
///   ([`packet_info`]) is the library's business, never part of a
///   packet's data.
///
/// In both, offsets the library reports ([`Headers`], the checksum start of
/// an offload request, the virtio-net header's `csum_start`) count from the
/// first byte of the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Framing {
    /// Ethernet frames (TAP).
    #[default]
    Ethernet,
    /// IP packets with no link-layer header (TUN).
    Ip,
}

impl Framing {
    /// The shortest frame of this framing: 14 bytes (an Ethernet header) or
    /// 20 (an IPv4 header). Anything shorter is a runt.
    pub const fn min_len(self) -> u32 {
        match self {
            Framing::Ethernet => ETH_HDR_LEN,
            Framing::Ip => IP_MIN_LEN,
        }
    }

    /// What a frame may add to the MTU: an Ethernet header and one VLAN tag
    /// (18), or nothing for IP packets (the MTU is the largest packet).
    pub const fn l2_overhead(self) -> u32 {
        match self {
            Framing::Ethernet => ETH_HDR_LEN + VLAN_TAG_LEN,
            Framing::Ip => 0,
        }
    }

    /// The largest frame without a segmentation request on a device of MTU
    /// `mtu`: the MTU plus [`Framing::l2_overhead`].
    pub const fn max_frame(self, mtu: u32) -> u32 {
        mtu.saturating_add(self.l2_overhead())
    }

    /// The name in messages: `"ethernet"` or `"ip"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Framing::Ethernet => "ethernet",
            Framing::Ip => "ip",
        }
    }
}

impl core::fmt::Display for Framing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

// The frame limits the pool sizes its buffers by (defined with the pool,
// which does not look at wire formats) agree with the formats.
static_assertions::const_assert_eq!(MAX_FRAME, 65_535 + ETH_HDR_LEN + VLAN_TAG_LEN);
static_assertions::const_assert_eq!(VNET_HDR_MAX as usize, VnetHdrLen::Mergeable.len());
