//! Transmit offload requests from a frame's own headers: parse Ethernet,
//! VLAN, IPv4/IPv6 and TCP/UDP, then fill in the [`Offload`] that asks the
//! kernel to finish the L4 checksum or to segment the frame, and prepare the
//! checksum field the way the kernel expects it.
//!
//! Getting such a request right by hand takes three things to agree: the
//! checksum start and offset (where the L4 header is and which protocol it
//! is), the segmentation header length, and the checksum field itself,
//! which must already hold the sum of the IP pseudo header. [`parse`] finds
//! the headers, [`Headers::checksum_request`] and
//! [`Headers::segmentation_request`] build the request, and
//! [`write_pseudo_header_checksum`] prepares the field. [`request_checksum`]
//! and [`request_segmentation`] do all of it for a [`Pkt`].
//!
//! What the helpers do not do: the IPv4 header checksum is the caller's
//! (virtio-net has no offload for it; the kernel drops IPv4 packets whose
//! header checksum is wrong), and tunnels (VXLAN, GRE, ...) are not looked
//! into: the outer headers are what is parsed.
//!
//! # Example
//!
//! A 1200-byte TCP payload over IPv4, segmented by the kernel at 500 bytes:
//!
//! ```
//! use tapring_core::headers::{self, IpVersion, L4};
//! use tapring_core::offload::{Checksum, Gso, GsoKind};
//! use tapring_core::{Pool, PoolConfig};
//!
//! let pool = Pool::new(PoolConfig::standard(16))?;
//! let mut pkt = pool.alloc().expect("a fresh pool has free buffers");
//! let payload = [0xab_u8; 1200];
//! // Ethernet: destination, source, EtherType IPv4.
//! pkt.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00])?;
//! // IPv4: total length 20 + 20 + 1200 = 1240, DF, TTL 64, TCP, header
//! // checksum 0x221e (computed by the caller), 10.0.0.1 -> 10.0.0.2.
//! pkt.extend_from_slice(&[
//!     0x45, 0, 0x04, 0xd8, 0, 0, 0x40, 0, 64, 6, 0x22, 0x1e, //
//!     10, 0, 0, 1, 10, 0, 0, 2,
//! ])?;
//! // TCP: ports 12345 -> 80, seq 1, ack 0, data offset 5, ACK|PSH, window,
//! // checksum (written by request_segmentation), urgent pointer.
//! pkt.extend_from_slice(&[
//!     0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, //
//!     0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
//! ])?;
//! pkt.extend_from_slice(&payload)?;
//!
//! let h = headers::request_segmentation(&mut pkt, 500)?;
//! assert_eq!((h.ip(), h.l4(), h.l4_offset(), h.hdr_len()), (IpVersion::V4, L4::Tcp, 34, 54));
//! let off = pkt.offload();
//! assert_eq!(off.csum, Checksum::Partial { start: 34, offset: 16 });
//! assert_eq!(off.gso, Some(Gso { kind: GsoKind::Tcpv4, size: 500, hdr_len: 54, ecn: false }));
//! // The TCP checksum field now holds the pseudo-header sum, not complemented:
//! // 0a00 + 0001 + 0a00 + 0002 (addresses) + 0006 (TCP) + 04c4 (1220 bytes).
//! assert_eq!(&pkt.data()[50..52], &[0x18, 0xcd]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The checksum field convention
//!
//! With `VIRTIO_NET_HDR_F_NEEDS_CSUM` the kernel turns the frame into a
//! `CHECKSUM_PARTIAL` skb and finishes the checksum like a NIC would
//! (`skb_checksum_help`): it sums the bytes from `csum_start` to the end of
//! the frame, *including the 16-bit field at `csum_start + csum_offset`*,
//! folds, complements, and stores the result in that field. So the field
//! must hold the folded one's-complement sum of the pseudo header, **not**
//! complemented: that is what Linux's own senders store
//! (`__tcp_v4_send_check`: `th->check = ~tcp_v4_check(skb->len, saddr,
//! daddr, 0)`, where `tcp_v4_check` returns the complemented fold, so the
//! two complements cancel; `udp4_hwcsum` likewise with
//! `~csum_tcpudp_magic(...)`).
//!
//! The length in the pseudo header is the whole L4 length of this frame,
//! also for a segmentation (GSO) request, where it is the length of the
//! super-frame and not of one segment. Linux's segmentation code relies on
//! it: `tcp_gso_segment` adjusts the field by the difference between
//! `skb->len` (the super-frame's L4 length) and each segment's length, and
//! `__udp_gso_segment` subtracts the UDP header's length field and adds each
//! segment's. WireGuard's Linux TUN offload (`wireguard-go`,
//! `tun/tcp_offload_linux.go`), which writes coalesced TCP frames to a TUN
//! device with GSO requests, fills the field the same way (the pseudo
//! header over the full L4 length, folded, not complemented). DPDK's
//! virtio driver shows the difference to NICs: its generic preparation
//! (`rte_net_intel_cksum_prepare`) leaves the length out of the pseudo
//! header for TSO, as Intel NICs want, and `virtio_tso_fix_cksum`
//! (`drivers/net/virtio/virtio_rxtx.c`) adds the full IP payload length
//! back, because "for virtio it is expected".
//!
//! The unit tests finish checksums the way the kernel does and segment the
//! way `tcp_gso_segment` / `__udp_gso_segment` adjust the field, and verify
//! every result the standard way.
#![forbid(unsafe_code)]

use core::fmt;

use crate::offload::{Checksum, Gso, GsoKind, Offload};
use crate::pool::Pkt;
use crate::vnet::{GSO_SIZE_RESERVED, TCP_CSUM_OFFSET, UDP_CSUM_OFFSET};

/// The most VLAN tags (802.1Q `0x8100` or 802.1ad `0x88a8`) [`parse`] steps
/// over.
pub const MAX_VLAN_TAGS: usize = 2;

/// The most IPv6 extension headers (hop-by-hop, routing, destination
/// options) [`parse`] steps over before the L4 header or a fragment header.
/// Real traffic carries one or two; the cap bounds the work on hostile input
/// and keeps every offset within 16 bits (each header is at most 2 KiB).
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// The most segments a UDP segmentation (USO) request may produce.
/// The kernel rejects a USO frame whose payload exceeds `gso_size *
/// UDP_MAX_SEGMENTS` (`virtio_net_hdr_to_skb`, since "net: more strict
/// VIRTIO_NET_HDR_GSO_UDP_L4 validation", 2024). `UDP_MAX_SEGMENTS` was 64
/// and was raised to 128 by a later fix (also backported to stable
/// kernels); kernels with the check but without that fix reject more than
/// 64, so the lower value is used.
pub const USO_MAX_SEGMENTS: usize = 64;

const ETH_HDR_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

const IPV4_MIN_HDR_LEN: usize = 20;
const IPV6_HDR_LEN: usize = 40;
const IPV6_EXT_MAX_LEN: usize = 2048;
const IPV6_FRAG_HDR_LEN: usize = 8;
const TCP_MIN_HDR_LEN: usize = 20;
const TCP_MAX_HDR_LEN: usize = 60;
const UDP_HDR_LEN: usize = 8;

/// IPv4 flags/fragment-offset field: "more fragments" and the offset bits.
const IPV4_MF_AND_OFFSET: u16 = 0x3fff;
/// TCP flags byte: Congestion Window Reduced.
const TCP_FLAG_CWR: u8 = 0x80;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_DSTOPTS: u8 = 60;

/// A bound on the header stack [`parse`] accepts: two VLAN tags, IPv6 with
/// the most extension headers of the largest size, a fragment header and
/// the longest TCP header (never both, so this overestimates). Every offset
/// it reports fits a `u16`, which is what the virtio-net header carries.
const MAX_HDR_LEN: usize = ETH_HDR_LEN
    + MAX_VLAN_TAGS * VLAN_TAG_LEN
    + IPV6_HDR_LEN
    + MAX_IPV6_EXT_HEADERS * IPV6_EXT_MAX_LEN
    + IPV6_FRAG_HDR_LEN
    + TCP_MAX_HDR_LEN;
static_assertions::const_assert!(MAX_HDR_LEN <= u16::MAX as usize);

/// IP version of a parsed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (EtherType `0x0800`).
    V4,
    /// IPv6 (EtherType `0x86dd`).
    V6,
}

/// What follows the IP header (and any IPv6 extension headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    /// A TCP header, parsed.
    Tcp,
    /// A UDP header, parsed.
    Udp,
    /// A fragment of a larger IP packet (IPv4 with "more fragments" or a
    /// non-zero offset, or IPv6 with a fragment header). The L4 header, if
    /// any, is not looked at: the L4 checksum covers the whole reassembled
    /// packet, so it cannot be offloaded per fragment.
    Fragment {
        /// Protocol of the fragmented packet (IPv4 protocol or the fragment
        /// header's next header).
        protocol: u8,
    },
    /// Another protocol (ICMP, SCTP, ESP, ...), not parsed.
    Other {
        /// The IP protocol number / IPv6 next header value.
        protocol: u8,
    },
}

/// Where the headers of a frame are, as found by [`parse`].
///
/// Offsets count bytes from the start of the Ethernet frame. Only [`parse`]
/// makes these, so the offsets are always consistent with each other and
/// lie within the frame that was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Headers {
    vlan_tags: u8,
    l3_offset: u16,
    ip: IpVersion,
    l4_offset: u16,
    l4: L4,
    l4_hdr_len: u16,
    /// The TCP CWR flag, which a segmentation request must report
    /// (`Gso::ecn`).
    tcp_cwr: bool,
    /// Segments Left of the IPv6 routing header, if there is one: when it is
    /// not zero, the destination address in the IPv6 header is not the
    /// final one, which the pseudo header needs.
    ipv6_segments_left: u8,
}

/// Why a frame's headers cannot be parsed or an offload request cannot be
/// built. Its `Display` says what is wrong and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderError {
    /// The frame (or the first segment of a packet) ends inside a header.
    Truncated {
        /// Bytes the header being read needs, from the start of the frame.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// More VLAN tags than [`MAX_VLAN_TAGS`].
    TooManyVlanTags {
        /// The most tags parsed.
        max: usize,
    },
    /// The EtherType (after any VLAN tags) is neither IPv4 nor IPv6.
    NotIp {
        /// The EtherType found (a value below `0x0600` is an 802.3 length).
        ethertype: u16,
    },
    /// The IP header's version field does not match the EtherType.
    IpVersionMismatch {
        /// The EtherType (`0x0800` or `0x86dd`).
        ethertype: u16,
        /// The version field found.
        version: u8,
    },
    /// The IPv4 header length (IHL) is below the minimum of 5 words.
    BadIpv4HeaderLength {
        /// The IHL field (32-bit words).
        ihl: u8,
    },
    /// The IP length field says the packet ends before its headers do.
    IpLengthTooShort {
        /// The packet length the IP header declares (IPv4 total length, or
        /// 40 + IPv6 payload length).
        declared: usize,
        /// The bytes the IP, extension and L4 headers take.
        needed: usize,
    },
    /// An IPv6 hop-by-hop options header that is not the first header after
    /// the IPv6 header (receivers drop these packets, RFC 8200 section 4.1).
    MisplacedHopByHop {
        /// Offset of the misplaced header in the frame.
        offset: usize,
    },
    /// More IPv6 extension headers than [`MAX_IPV6_EXT_HEADERS`].
    TooManyExtensionHeaders {
        /// The most extension headers parsed.
        max: usize,
    },
    /// The TCP data offset is below the minimum of 5 words.
    BadTcpDataOffset {
        /// The data offset field (32-bit words).
        data_offset: u8,
    },
    /// The frame carries no TCP or UDP header to offload for.
    NoL4 {
        /// What follows the IP headers instead.
        l4: L4,
    },
    /// The segment size of a segmentation request is 0 or the kernel's
    /// reserved 65535.
    InvalidMss {
        /// The rejected segment size.
        mss: u16,
    },
    /// A UDP segmentation request would make more segments than the kernel
    /// accepts ([`USO_MAX_SEGMENTS`]).
    TooManySegments {
        /// Segments the request would make.
        segments: usize,
        /// The most accepted.
        max: usize,
    },
    /// A length field in the headers disagrees with the frame's length, so
    /// the pseudo header (and the receiver's view of the packet) would be
    /// wrong.
    LengthMismatch {
        /// The field: "IPv4 total length", "IPv6 payload length" or "UDP
        /// length".
        field: &'static str,
        /// Its value.
        declared: usize,
        /// The value the frame's length implies.
        actual: usize,
    },
    /// An IPv6 routing header with segments left: the pseudo header needs
    /// the final destination, which is in the routing header, not in the
    /// IPv6 header, and this helper does not extract it.
    RoutedIpv6 {
        /// The routing header's Segments Left field.
        segments_left: u8,
    },
    /// The [`Headers`] given do not describe this frame.
    HeadersMismatch,
    /// A chained packet's headers continue past its first segment.
    SplitHeaders {
        /// Bytes from the start of the frame that the header being read
        /// needs (the headers as a whole may need more).
        need: usize,
        /// Bytes in the first segment.
        first_segment: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeaderError::Truncated { need, have } => write!(
                f,
                "frame of {have} bytes ends inside a header that needs {need}: \
                 the frame is cut short or a length field in it is wrong"
            ),
            HeaderError::TooManyVlanTags { max } => write!(
                f,
                "more than {max} VLAN tags: at most {max} (802.1Q 0x8100 / 802.1ad 0x88a8) \
                 are parsed; send such frames without offload"
            ),
            HeaderError::NotIp { ethertype } => write!(
                f,
                "EtherType {ethertype:#06x} is not IPv4 (0x0800) or IPv6 (0x86dd): \
                 checksum and segmentation offload need an IP frame"
            ),
            HeaderError::IpVersionMismatch { ethertype, version } => write!(
                f,
                "IP version field {version} does not match EtherType {ethertype:#06x}: \
                 set the version to 4 for 0x0800 or 6 for 0x86dd"
            ),
            HeaderError::BadIpv4HeaderLength { ihl } => write!(
                f,
                "IPv4 header length (IHL) {ihl} is below the minimum of 5 (20 bytes): \
                 set IHL to 5 plus the option words"
            ),
            HeaderError::IpLengthTooShort { declared, needed } => write!(
                f,
                "the IP header declares a {declared}-byte packet but its headers take \
                 {needed} bytes: set the IPv4 total length / IPv6 payload length to \
                 cover the headers and payload"
            ),
            HeaderError::MisplacedHopByHop { offset } => write!(
                f,
                "IPv6 hop-by-hop options header at offset {offset} is not directly after \
                 the IPv6 header, where it must be (receivers drop such packets)"
            ),
            HeaderError::TooManyExtensionHeaders { max } => write!(
                f,
                "more than {max} IPv6 extension headers: send such frames without offload"
            ),
            HeaderError::BadTcpDataOffset { data_offset } => write!(
                f,
                "TCP data offset {data_offset} is below the minimum of 5 (20 bytes): \
                 set it to 5 plus the option words"
            ),
            HeaderError::NoL4 { l4 } => write!(
                f,
                "no TCP or UDP header to offload for ({l4:?}): checksum and segmentation \
                 offload apply to unfragmented TCP and UDP only; send the frame without offload"
            ),
            HeaderError::InvalidMss { mss } => write!(
                f,
                "segment size {mss} is not valid: use 1..=65534 (the MSS, or payload bytes \
                 per UDP datagram)"
            ),
            HeaderError::TooManySegments { segments, max } => write!(
                f,
                "UDP segmentation into {segments} segments exceeds the kernel's limit of \
                 {max}: use a larger segment size or a smaller frame"
            ),
            HeaderError::LengthMismatch {
                field,
                declared,
                actual,
            } => write!(
                f,
                "{field} is {declared} but the frame makes it {actual}: set the field from \
                 the frame's length (and do not pad frames that carry offload requests)"
            ),
            HeaderError::RoutedIpv6 { segments_left } => write!(
                f,
                "IPv6 routing header with {segments_left} segments left: the pseudo header \
                 needs the final destination, which this helper does not take from the \
                 routing header; fill the checksum yourself"
            ),
            HeaderError::HeadersMismatch => write!(
                f,
                "the Headers do not describe this frame: parse the frame again after \
                 changing its headers"
            ),
            HeaderError::SplitHeaders {
                need,
                first_segment,
            } => write!(
                f,
                "the headers take at least {need} bytes but the packet's first segment \
                 holds {first_segment}: put all headers in the first segment"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HeaderError {}

/// Checks that `frame` has at least `end` bytes.
fn need(frame: &[u8], end: usize) -> Result<(), HeaderError> {
    if end > frame.len() {
        Err(HeaderError::Truncated {
            need: end,
            have: frame.len(),
        })
    } else {
        Ok(())
    }
}

fn byte_at(frame: &[u8], at: usize) -> Result<u8, HeaderError> {
    frame.get(at).copied().ok_or(HeaderError::Truncated {
        need: at.saturating_add(1),
        have: frame.len(),
    })
}

fn be16_at(frame: &[u8], at: usize) -> Result<u16, HeaderError> {
    match frame.get(at..at.saturating_add(2)) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(HeaderError::Truncated {
            need: at.saturating_add(2),
            have: frame.len(),
        }),
    }
}

/// An offset or length within the header stack as the `u16` the
/// virtio-net header carries. [`parse`] never accepts headers longer than
/// [`MAX_HDR_LEN`], which fits (checked at compile time above).
fn hdr_u16(value: usize) -> u16 {
    debug_assert!(value <= MAX_HDR_LEN);
    value as u16
}

/// Parses the headers at the start of an Ethernet frame: Ethernet II, up to
/// [`MAX_VLAN_TAGS`] VLAN tags, IPv4 (options included) or IPv6 (hop-by-hop,
/// routing and destination options extension headers, up to
/// [`MAX_IPV6_EXT_HEADERS`]), then TCP or UDP.
///
/// `frame` needs to hold the headers only: a frame's first segment is
/// enough, and bytes after the headers are not looked at. Every length read
/// from the frame is checked against `frame` (a [`HeaderError::Truncated`]
/// otherwise) and against the IP header's own length field
/// ([`HeaderError::IpLengthTooShort`]).
///
/// IP fragments (IPv4 with "more fragments" or an offset, IPv6 with a
/// fragment header) parse with [`L4::Fragment`], and other protocols with
/// [`L4::Other`]: the IP headers are reported, the L4 header is not parsed.
///
/// # Errors
///
/// Truncated or malformed headers, a non-IP EtherType, too many VLAN tags
/// or IPv6 extension headers: see [`HeaderError`]. Never panics.
pub fn parse(frame: &[u8]) -> Result<Headers, HeaderError> {
    need(frame, ETH_HDR_LEN)?;
    let mut ethertype = be16_at(frame, ETH_HDR_LEN - 2)?;
    let mut l3_offset = ETH_HDR_LEN;
    let mut vlan_tags = 0;
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        if vlan_tags == MAX_VLAN_TAGS {
            return Err(HeaderError::TooManyVlanTags { max: MAX_VLAN_TAGS });
        }
        // A tag is the TCI (2 bytes) then the next EtherType.
        need(frame, l3_offset + VLAN_TAG_LEN)?;
        ethertype = be16_at(frame, l3_offset + 2)?;
        l3_offset += VLAN_TAG_LEN;
        vlan_tags += 1;
    }
    let ip = match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4(frame, l3_offset)?,
        ETHERTYPE_IPV6 => parse_ipv6(frame, l3_offset)?,
        ethertype => return Err(HeaderError::NotIp { ethertype }),
    };
    Ok(Headers {
        vlan_tags: vlan_tags as u8,
        l3_offset: hdr_u16(l3_offset),
        ip: ip.version,
        l4_offset: hdr_u16(ip.l4_offset),
        l4: ip.l4.kind,
        l4_hdr_len: hdr_u16(ip.l4.hdr_len),
        tcp_cwr: ip.l4.tcp_cwr,
        ipv6_segments_left: ip.ipv6_segments_left,
    })
}

/// What an IP header parser found.
struct IpParsed {
    version: IpVersion,
    l4_offset: usize,
    l4: L4Parsed,
    ipv6_segments_left: u8,
}

struct L4Parsed {
    kind: L4,
    hdr_len: usize,
    tcp_cwr: bool,
}

impl L4Parsed {
    fn unparsed(kind: L4) -> L4Parsed {
        L4Parsed {
            kind,
            hdr_len: 0,
            tcp_cwr: false,
        }
    }
}

/// Fails unless the IP packet, `ip_end` bytes from the frame start by its
/// own length field, covers the headers up to `hdr_end`.
fn check_ip_len(l3_offset: usize, ip_end: usize, hdr_end: usize) -> Result<(), HeaderError> {
    if hdr_end > ip_end {
        Err(HeaderError::IpLengthTooShort {
            declared: ip_end - l3_offset,
            needed: hdr_end - l3_offset,
        })
    } else {
        Ok(())
    }
}

fn parse_ipv4(frame: &[u8], l3: usize) -> Result<IpParsed, HeaderError> {
    need(frame, l3 + IPV4_MIN_HDR_LEN)?;
    let version_ihl = byte_at(frame, l3)?;
    let version = version_ihl >> 4;
    if version != 4 {
        return Err(HeaderError::IpVersionMismatch {
            ethertype: ETHERTYPE_IPV4,
            version,
        });
    }
    let ihl = version_ihl & 0x0f;
    let ip_hdr_len = usize::from(ihl) * 4;
    if ip_hdr_len < IPV4_MIN_HDR_LEN {
        return Err(HeaderError::BadIpv4HeaderLength { ihl });
    }
    let l4_offset = l3 + ip_hdr_len;
    need(frame, l4_offset)?;
    let ip_end = l3 + usize::from(be16_at(frame, l3 + 2)?);
    check_ip_len(l3, ip_end, l4_offset)?;
    let protocol = byte_at(frame, l3 + 9)?;
    let l4 = if be16_at(frame, l3 + 6)? & IPV4_MF_AND_OFFSET != 0 {
        L4Parsed::unparsed(L4::Fragment { protocol })
    } else {
        parse_l4(frame, protocol, l3, l4_offset, ip_end)?
    };
    Ok(IpParsed {
        version: IpVersion::V4,
        l4_offset,
        l4,
        ipv6_segments_left: 0,
    })
}

fn parse_ipv6(frame: &[u8], l3: usize) -> Result<IpParsed, HeaderError> {
    need(frame, l3 + IPV6_HDR_LEN)?;
    let version = byte_at(frame, l3)? >> 4;
    if version != 6 {
        return Err(HeaderError::IpVersionMismatch {
            ethertype: ETHERTYPE_IPV6,
            version,
        });
    }
    let ip_end = l3 + IPV6_HDR_LEN + usize::from(be16_at(frame, l3 + 4)?);
    let mut next = byte_at(frame, l3 + 6)?;
    let mut offset = l3 + IPV6_HDR_LEN;
    let mut ext_headers = 0;
    let mut segments_left = 0;
    loop {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                if next == IPPROTO_HOPOPTS && offset != l3 + IPV6_HDR_LEN {
                    return Err(HeaderError::MisplacedHopByHop { offset });
                }
                if ext_headers == MAX_IPV6_EXT_HEADERS {
                    return Err(HeaderError::TooManyExtensionHeaders {
                        max: MAX_IPV6_EXT_HEADERS,
                    });
                }
                // Next header, then the length in 8-byte units beyond the
                // first 8 (RFC 8200 section 4.3-4.6).
                need(frame, offset + 2)?;
                let len = (usize::from(byte_at(frame, offset + 1)?) + 1) * 8;
                need(frame, offset + len)?;
                check_ip_len(l3, ip_end, offset + len)?;
                if next == IPPROTO_ROUTING {
                    // Routing header: next header, length, type, segments left.
                    segments_left = segments_left.max(byte_at(frame, offset + 3)?);
                }
                next = byte_at(frame, offset)?;
                offset += len;
                ext_headers += 1;
            }
            IPPROTO_FRAGMENT => {
                need(frame, offset + IPV6_FRAG_HDR_LEN)?;
                check_ip_len(l3, ip_end, offset + IPV6_FRAG_HDR_LEN)?;
                let protocol = byte_at(frame, offset)?;
                return Ok(IpParsed {
                    version: IpVersion::V6,
                    l4_offset: offset + IPV6_FRAG_HDR_LEN,
                    l4: L4Parsed::unparsed(L4::Fragment { protocol }),
                    ipv6_segments_left: segments_left,
                });
            }
            protocol => {
                return Ok(IpParsed {
                    version: IpVersion::V6,
                    l4_offset: offset,
                    l4: parse_l4(frame, protocol, l3, offset, ip_end)?,
                    ipv6_segments_left: segments_left,
                });
            }
        }
    }
}

fn parse_l4(
    frame: &[u8],
    protocol: u8,
    l3: usize,
    l4: usize,
    ip_end: usize,
) -> Result<L4Parsed, HeaderError> {
    match protocol {
        IPPROTO_TCP => {
            need(frame, l4 + TCP_MIN_HDR_LEN)?;
            let data_offset = byte_at(frame, l4 + 12)? >> 4;
            let hdr_len = usize::from(data_offset) * 4;
            if hdr_len < TCP_MIN_HDR_LEN {
                return Err(HeaderError::BadTcpDataOffset { data_offset });
            }
            need(frame, l4 + hdr_len)?;
            check_ip_len(l3, ip_end, l4 + hdr_len)?;
            Ok(L4Parsed {
                kind: L4::Tcp,
                hdr_len,
                tcp_cwr: byte_at(frame, l4 + 13)? & TCP_FLAG_CWR != 0,
            })
        }
        IPPROTO_UDP => {
            need(frame, l4 + UDP_HDR_LEN)?;
            check_ip_len(l3, ip_end, l4 + UDP_HDR_LEN)?;
            Ok(L4Parsed {
                kind: L4::Udp,
                hdr_len: UDP_HDR_LEN,
                tcp_cwr: false,
            })
        }
        protocol => Ok(L4Parsed::unparsed(L4::Other { protocol })),
    }
}

impl Headers {
    /// Offset of the IP header: 14 plus 4 per VLAN tag.
    pub fn l3_offset(&self) -> usize {
        usize::from(self.l3_offset)
    }

    /// VLAN tags between the Ethernet header and the IP header (0 to
    /// [`MAX_VLAN_TAGS`]).
    pub fn vlan_tags(&self) -> usize {
        usize::from(self.vlan_tags)
    }

    /// IPv4 or IPv6.
    pub fn ip(&self) -> IpVersion {
        self.ip
    }

    /// Offset of what follows the IP header and its options / extension
    /// headers: the L4 header, or the fragment data for [`L4::Fragment`].
    pub fn l4_offset(&self) -> usize {
        usize::from(self.l4_offset)
    }

    /// The L4 protocol.
    pub fn l4(&self) -> L4 {
        self.l4
    }

    /// Length of the L4 header: the TCP data offset in bytes, 8 for UDP, 0
    /// when the L4 header was not parsed ([`L4::Fragment`], [`L4::Other`]).
    pub fn l4_hdr_len(&self) -> usize {
        usize::from(self.l4_hdr_len)
    }

    /// Length of all headers (Ethernet, VLAN, IP, L4): where the payload
    /// starts. This is the `hdr_len` of a segmentation request.
    pub fn hdr_len(&self) -> usize {
        self.l4_offset() + self.l4_hdr_len()
    }

    /// Offset of the L4 checksum field relative to the L4 header.
    fn csum_offset(&self) -> Result<u16, HeaderError> {
        match self.l4 {
            L4::Tcp => Ok(TCP_CSUM_OFFSET),
            L4::Udp => Ok(UDP_CSUM_OFFSET),
            l4 => Err(HeaderError::NoL4 { l4 }),
        }
    }

    /// The request to have the kernel finish the L4 checksum:
    /// [`Checksum::Partial`] from the L4 header, with the TCP (16) or UDP
    /// (6) checksum field offset, and no segmentation. The checksum field
    /// must hold the pseudo-header sum ([`write_pseudo_header_checksum`]).
    ///
    /// # Errors
    ///
    /// [`HeaderError::NoL4`] unless the frame is unfragmented TCP or UDP.
    pub fn checksum_request(&self) -> Result<Offload, HeaderError> {
        Ok(Offload {
            csum: Checksum::Partial {
                start: self.l4_offset,
                offset: self.csum_offset()?,
            },
            gso: None,
        })
    }

    /// The request to have the kernel segment the frame into segments of
    /// `mss` payload bytes and finish every segment's checksum: the
    /// [`checksum_request`](Self::checksum_request) plus [`Gso`] with kind
    /// [`GsoKind::Tcpv4`] / [`GsoKind::Tcpv6`] for TCP or
    /// [`GsoKind::UdpL4`] (USO) for UDP, `hdr_len` [`hdr_len`](Self::hdr_len)
    /// and, for TCP, `ecn` set when the frame has the CWR flag (as Linux's
    /// TCP stack sets `SKB_GSO_TCP_ECN` in `tcp_ecn_send`: the segments
    /// after the first must not repeat CWR).
    ///
    /// `payload_len` is the number of bytes after the headers
    /// (`frame length - hdr_len`). When it is at most `mss` the frame is a
    /// single segment already and the checksum request alone is returned:
    /// the kernel would ignore the segmentation request anyway ("too small
    /// packets are not really GSO ones", `virtio_net_hdr_to_skb`), and a
    /// request without payload would be rejected ([`crate::vnet::check_tx`]).
    ///
    /// # Errors
    ///
    /// [`HeaderError::NoL4`] unless the frame is unfragmented TCP or UDP;
    /// [`HeaderError::InvalidMss`] for `mss` 0 or 65535;
    /// [`HeaderError::TooManySegments`] for UDP beyond
    /// [`USO_MAX_SEGMENTS`].
    pub fn segmentation_request(
        &self,
        mss: u16,
        payload_len: usize,
    ) -> Result<Offload, HeaderError> {
        let csum_only = self.checksum_request()?;
        if mss == 0 || mss == GSO_SIZE_RESERVED {
            return Err(HeaderError::InvalidMss { mss });
        }
        let mss_bytes = usize::from(mss);
        if payload_len <= mss_bytes {
            return Ok(csum_only);
        }
        let kind = match (self.l4, self.ip) {
            (L4::Tcp, IpVersion::V4) => GsoKind::Tcpv4,
            (L4::Tcp, IpVersion::V6) => GsoKind::Tcpv6,
            _ => {
                let segments = payload_len.div_ceil(mss_bytes);
                if segments > USO_MAX_SEGMENTS {
                    return Err(HeaderError::TooManySegments {
                        segments,
                        max: USO_MAX_SEGMENTS,
                    });
                }
                GsoKind::UdpL4
            }
        };
        Ok(Offload {
            gso: Some(Gso {
                kind,
                size: mss,
                hdr_len: hdr_u16(self.hdr_len()),
                ecn: self.tcp_cwr,
            }),
            ..csum_only
        })
    }
}

/// Sums 16-bit big-endian words in one's-complement arithmetic, without
/// folding (the caller folds).
fn sum_words(mut sum: u32, bytes: &[u8]) -> u32 {
    for pair in bytes.chunks_exact(2) {
        if let &[hi, lo] = pair {
            sum += u32::from(u16::from_be_bytes([hi, lo]));
        }
    }
    sum
}

/// Folds a one's-complement sum to 16 bits (end-around carry).
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The folded, not complemented, pseudo-header sum for a frame whose
/// headers `h` lie in `first` and whose whole length is `frame_len`.
/// Checks that the IP (and UDP) length fields agree with `frame_len`.
fn pseudo_header_sum(first: &[u8], frame_len: usize, h: &Headers) -> Result<u16, HeaderError> {
    let protocol = match h.l4 {
        L4::Tcp => IPPROTO_TCP,
        L4::Udp => IPPROTO_UDP,
        l4 => return Err(HeaderError::NoL4 { l4 }),
    };
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let l4_len = frame_len.checked_sub(l4).ok_or(HeaderError::Truncated {
        need: l4,
        have: frame_len,
    })?;
    let check_len = |field, declared: u16, actual: usize| {
        if usize::from(declared) == actual {
            Ok(())
        } else {
            Err(HeaderError::LengthMismatch {
                field,
                declared: usize::from(declared),
                actual,
            })
        }
    };
    // The pseudo-header length is the frame's L4 length. It is only right if
    // the IP header agrees (a receiver trims the frame to the IP length), so
    // a disagreement is an error rather than a checksum that fails later.
    let addrs = match h.ip {
        IpVersion::V4 => {
            check_len("IPv4 total length", be16_at(first, l3 + 2)?, frame_len - l3)?;
            l3 + 12..l3 + 20
        }
        IpVersion::V6 => {
            if h.ipv6_segments_left != 0 {
                return Err(HeaderError::RoutedIpv6 {
                    segments_left: h.ipv6_segments_left,
                });
            }
            let declared = be16_at(first, l3 + 4)?;
            check_len(
                "IPv6 payload length",
                declared,
                frame_len.saturating_sub(l3 + IPV6_HDR_LEN),
            )?;
            l3 + 8..l3 + 40
        }
    };
    if h.l4 == L4::Udp {
        check_len("UDP length", be16_at(first, l4 + 4)?, l4_len)?;
    }
    let Some(addrs) = first.get(addrs.clone()) else {
        return Err(HeaderError::Truncated {
            need: addrs.end,
            have: first.len(),
        });
    };
    // Source and destination address, zero + protocol, L4 length (32 bits
    // for IPv6; the checks above keep it within 16 bits for IPv4).
    let l4_len = l4_len as u32;
    let sum = sum_words(0, addrs) + u32::from(protocol) + (l4_len >> 16) + (l4_len & 0xffff);
    Ok(fold(sum))
}

/// Stores `value` in the L4 checksum field of `first`.
fn store_l4_checksum(first: &mut [u8], h: &Headers, value: u16) -> Result<(), HeaderError> {
    let at = h.l4_offset() + usize::from(h.csum_offset()?);
    let have = first.len();
    let field = first
        .get_mut(at..at + 2)
        .ok_or(HeaderError::Truncated { need: at + 2, have })?;
    field.copy_from_slice(&value.to_be_bytes());
    Ok(())
}

/// Writes the IPv4/IPv6 pseudo-header sum into the TCP or UDP checksum
/// field of `frame`, as a [`Checksum::Partial`] request needs it: the folded
/// 16-bit one's-complement sum of source and destination address, protocol
/// and L4 length (`frame.len() - h.l4_offset()`), **not** complemented (see
/// the [module documentation](self) for why, and for segmentation
/// requests). The kernel adds the sum over the L4 header and payload and
/// stores the complement.
///
/// `h` must be what [`parse`] returns for `frame` (parse again after
/// editing the headers). The length fields must agree with `frame.len()`:
/// the IPv4 total length, the IPv6 payload length and the UDP length
/// describe exactly the bytes of `frame` (no Ethernet padding).
///
/// # Errors
///
/// [`HeaderError::NoL4`] unless the frame is unfragmented TCP or UDP;
/// [`HeaderError::HeadersMismatch`] if `h` does not describe `frame`;
/// [`HeaderError::LengthMismatch`] if a length field disagrees with the
/// frame; [`HeaderError::RoutedIpv6`] for an IPv6 routing header with
/// segments left; any parse error of `frame`. Nothing is written on error.
pub fn write_pseudo_header_checksum(frame: &mut [u8], h: &Headers) -> Result<(), HeaderError> {
    if parse(frame)? != *h {
        return Err(HeaderError::HeadersMismatch);
    }
    let sum = pseudo_header_sum(frame, frame.len(), h)?;
    store_l4_checksum(frame, h, sum)
}

/// Parses the first segment of `pkt`, telling headers that continue into
/// the next segment apart from a packet that is too short as a whole.
fn parse_first_segment(pkt: &Pkt) -> Result<Headers, HeaderError> {
    parse(pkt.data()).map_err(|e| match e {
        HeaderError::Truncated { need, have } if need <= pkt.pkt_len() => {
            HeaderError::SplitHeaders {
                need,
                first_segment: have,
            }
        }
        HeaderError::Truncated { need, .. } => HeaderError::Truncated {
            need,
            have: pkt.pkt_len(),
        },
        e => e,
    })
}

/// Parses `pkt`, builds its request with `build` (given the headers and the
/// payload length), writes the pseudo-header sum and sets the request.
/// Nothing is changed on error.
fn request(
    pkt: &mut Pkt,
    build: impl FnOnce(&Headers, usize) -> Result<Offload, HeaderError>,
) -> Result<Headers, HeaderError> {
    let h = parse_first_segment(pkt)?;
    let frame_len = pkt.pkt_len();
    let off = build(&h, frame_len.saturating_sub(h.hdr_len()))?;
    let sum = pseudo_header_sum(pkt.data(), frame_len, &h)?;
    store_l4_checksum(pkt.data_mut(), &h, sum)?;
    pkt.set_offload(off);
    Ok(h)
}

/// Asks the kernel to finish the TCP or UDP checksum of `pkt`: parses its
/// first segment, writes the pseudo-header sum into the checksum field
/// ([`write_pseudo_header_checksum`]) and sets
/// [`Headers::checksum_request`] as the packet's offload. Returns the
/// headers found.
///
/// The headers must lie in the first segment; the payload may be chained.
/// The pseudo header uses the length of the whole chain.
///
/// # Errors
///
/// As [`parse`] and [`write_pseudo_header_checksum`], and
/// [`HeaderError::SplitHeaders`] if the headers continue past the first
/// segment. Nothing is changed on error.
pub fn request_checksum(pkt: &mut Pkt) -> Result<Headers, HeaderError> {
    request(pkt, |h, _| h.checksum_request())
}

/// Asks the kernel to segment `pkt` into segments of `mss` payload bytes
/// (TCP segmentation, or UDP segmentation for UDP) and to finish every
/// segment's checksum: as [`request_checksum`], with
/// [`Headers::segmentation_request`] for the payload after the headers. A
/// packet whose payload is at most `mss` gets the checksum request only.
///
/// # Errors
///
/// As [`request_checksum`] and [`Headers::segmentation_request`]. Nothing
/// is changed on error.
pub fn request_segmentation(pkt: &mut Pkt, mss: u16) -> Result<Headers, HeaderError> {
    request(pkt, |h, payload_len| {
        h.segmentation_request(mss, payload_len)
    })
}

#[cfg(test)]
mod tests;
