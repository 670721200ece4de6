//! Offload metadata carried by a packet: what the kernel should do for us
//! on transmit (checksum, segmentation) and what it already did on receive
//! (checksum verified, frames coalesced).
//!
//! The same vocabulary serves both directions because the virtio-net header
//! that carries it over a TAP fd is symmetric: on Tx it is a request, on Rx a
//! report.

/// Checksum state of a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// Nothing to do (Tx) or nothing known (Rx): the checksum in the frame is
    /// whatever the sender wrote.
    #[default]
    None,
    /// The L4 checksum is partial: the checksum over the pseudo header is in
    /// place and the sum over the bytes from `start` to the end of the frame
    /// must be folded into the 16-bit field at `start + offset`.
    /// On Tx this asks the kernel to finish it; on Rx it means the kernel
    /// left it unfinished (the data is known good).
    Partial {
        /// Byte offset from the start of the Ethernet frame where summing begins.
        start: u16,
        /// Offset of the checksum field, relative to `start`.
        offset: u16,
    },
    /// Rx only: the kernel already verified the checksum (`DATA_VALID`).
    Valid,
}

/// Kind of segmentation offload, as named by the virtio-net header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GsoKind {
    /// TCP over IPv4 (TSO4).
    Tcpv4,
    /// TCP over IPv6 (TSO6).
    Tcpv6,
    /// UDP fragmentation offload (UFO, legacy).
    Udp,
    /// UDP segmentation (USO), over IPv4 or IPv6.
    UdpL4,
}

/// A segmentation request (Tx) or the description of a coalesced frame (Rx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gso {
    /// What is segmented.
    pub kind: GsoKind,
    /// Payload bytes per segment (the MSS for TCP).
    pub size: u16,
    /// Length of the headers (Ethernet + IP + L4) that every segment repeats.
    pub hdr_len: u16,
    /// The TCP ECN bit (`VIRTIO_NET_HDR_GSO_ECN`) is set.
    pub ecn: bool,
}

/// All offload metadata of one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Offload {
    /// Checksum request (Tx) or status (Rx).
    pub csum: Checksum,
    /// Segmentation request (Tx) or coalescing information (Rx); `None` for an
    /// ordinary frame.
    pub gso: Option<Gso>,
}

impl Offload {
    /// No offload at all: the frame is complete as it stands.
    pub const NONE: Offload = Offload {
        csum: Checksum::None,
        gso: None,
    };

    /// True when neither a checksum nor a segmentation request is present.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }
}
