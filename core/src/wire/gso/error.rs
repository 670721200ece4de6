//! [`GsoError`]: why a packet cannot be segmented in software, or a
//! segment or checksum cannot be written.

use crate::packet::GsoKind;
use crate::wire::headers::{HeaderError, IpVersion, L4};

/// Why software segmentation ([`Segmenter`](super::Segmenter)) or
/// [`finish_checksum`](super::finish_checksum) refused. Its `Display` says
/// what is wrong and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum GsoError {
    /// The packet carries no segmentation request (`offload().gso` is
    /// `None`).
    #[error(
        "the packet has no segmentation request (offload().gso is None): \
                 send it as it is, or finish its checksum with finish_checksum"
    )]
    NotGso,
    /// A kind of segmentation this segmenter does not do.
    #[error(
        "segmentation kind {kind:?} is not supported in software (UFO is IP \
                 fragmentation, which Linux no longer does either): drop the packet \
                 or send it to a port that accepts {kind:?} offload"
    )]
    UnsupportedKind {
        /// The kind asked for.
        kind: GsoKind,
    },
    /// The packet's headers do not parse (or continue past its first
    /// segment: [`HeaderError::SplitHeaders`]).
    #[error("cannot segment: {0}")]
    Headers(#[from] HeaderError),
    /// The segmentation kind does not match the headers found.
    #[error(
        "segmentation kind {kind:?} does not match the packet's headers ({ip:?}, {l4:?}): \
                 TCPv4/TCPv6 need TCP over that IP version, UDP_L4 needs UDP; fix the \
                 virtio-net header's gso_type"
    )]
    KindMismatch {
        /// The kind asked for.
        kind: GsoKind,
        /// The IP version found.
        ip: IpVersion,
        /// What follows the IP headers.
        l4: L4,
    },
    /// The packet is an IP fragment, which has no L4 header to repeat.
    #[error(
        "the packet is an IP fragment ({l4:?}): fragments cannot be segmented; \
                 send it without a segmentation request"
    )]
    Fragment {
        /// The fragment as parsed.
        l4: L4,
    },
    /// The segment size of the request is 0.
    #[error(
        "segment size (gso_size) 0: a segmentation request needs 1 or more payload bytes per segment"
    )]
    ZeroSize,
    /// `max_frame` leaves no room for payload after the headers, or (UDP)
    /// for one whole datagram of the request's size.
    #[error(
        "max_frame {max_frame} leaves no room after {hdr_len} bytes of headers for a segment \
                 (UDP: for a whole datagram, which is never cut): pass the output port's MTU \
                 plus its L2 header, or send such datagrams to a port with a larger MTU"
    )]
    MaxFrameTooSmall {
        /// The largest output frame given.
        max_frame: usize,
        /// Bytes of headers every segment repeats.
        hdr_len: usize,
    },
    /// A length field disagrees with the packet's length.
    #[error(
        "{field} is {declared} but the packet makes it {actual}: the super-frame's \
                 length fields must describe exactly its bytes (no padding, not cut short)"
    )]
    LengthMismatch {
        /// "IPv4 total length", "IPv6 payload length" or "UDP length".
        field: &'static str,
        /// Its value.
        declared: usize,
        /// The value the packet's length implies.
        actual: usize,
    },
    /// An IPv6 routing header with segments left: the pseudo header of
    /// each segment needs the final destination, which is in the routing
    /// header.
    #[error(
        "IPv6 routing header with {segments_left} segments left: the segments' checksums \
                 need the final destination from the routing header, which is not \
                 supported; drop the packet or send it to a port that segments"
    )]
    RoutedIpv6 {
        /// The routing header's Segments Left.
        segments_left: u8,
    },
    /// The packet to write a segment into is not an empty single buffer.
    #[error(
        "the output packet holds {len} bytes in {segments} segments: pass a fresh \
                 empty packet (Pkt::alloc_sibling)"
    )]
    OutNotEmpty {
        /// Bytes it holds.
        len: usize,
        /// Segments in its chain.
        segments: usize,
    },
    /// The output packet's buffer cannot hold the segment.
    #[error(
        "a segment of {need} bytes does not fit the output buffer's {have} bytes of \
                 tailroom: use a pool whose data room holds max_frame, or a smaller max_frame"
    )]
    NoTailroom {
        /// Bytes of the segment.
        need: usize,
        /// Tailroom of the output packet.
        have: usize,
    },
    /// The pool has no free buffer for the next segment.
    #[error(
        "the pool has no free buffer for the next segment: send or drop what is \
                 in flight and call again (the segmenter resumes where it stopped)"
    )]
    PoolEmpty,
    /// Every segment was already written.
    #[error("every segment of this packet was already written: drop the source packet")]
    Done,
    /// `next_into` was given another packet than the one the segmenter was
    /// made for.
    #[error(
        "the source packet is not the one this Segmenter was made for: pass the same \
                 packet to Segmenter::new and every next_into"
    )]
    SourceMismatch,
    /// A partial checksum request whose field is not inside the packet's
    /// first segment.
    #[error(
        "checksum request (start {start}, offset {offset}) puts the field outside the \
                 {first_segment} bytes of the first segment: the field must lie in the \
                 first segment, as the kernel requires"
    )]
    ChecksumOutOfRange {
        /// Where summing starts.
        start: usize,
        /// The field's offset from `start`.
        offset: usize,
        /// Bytes in the packet's first segment.
        first_segment: usize,
    },
}
