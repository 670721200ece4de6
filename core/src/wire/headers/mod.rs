//! The L2-L4 header parser: [`parse`] finds the Ethernet, VLAN, IPv4/IPv6
//! and TCP/UDP headers at the start of a frame and reports where they are
//! ([`Headers`]); [`parse_ip`] does the same for an IP packet with no
//! link-layer header (a TUN packet, [`Framing::Ip`]), and [`parse_framed`]
//! picks one by [`Framing`]. The offload requests built from them are in
//! [`crate::wire::offload_request`].
//!
//! Tunnels (VXLAN, GRE, ...) are not looked into: the outer headers are
//! what is parsed.
#![forbid(unsafe_code)]

use super::Framing;

/// The most VLAN tags (802.1Q `0x8100` or 802.1ad `0x88a8`) [`parse`] steps
/// over.
pub const MAX_VLAN_TAGS: usize = 2;

/// The most IPv6 extension headers (hop-by-hop, routing, destination
/// options) [`parse`] steps over before the L4 header or a fragment header.
/// Real traffic carries one or two; the cap bounds the work on hostile input
/// and keeps every offset within 16 bits (each header is at most 2 KiB).
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

const ETH_HDR_LEN: usize = super::ETH_HDR_LEN as usize;
const VLAN_TAG_LEN: usize = super::VLAN_TAG_LEN as usize;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

use crate::wire::fields::{
    IPV4_MIN_HDR_LEN, IPV6_HDR_LEN, TCP_CWR as TCP_FLAG_CWR, TCP_MIN_HDR_LEN,
};
const IPV6_EXT_MAX_LEN: usize = 2048;
const IPV6_FRAG_HDR_LEN: usize = 8;
const TCP_MAX_HDR_LEN: usize = 60;
const UDP_HDR_LEN: usize = 8;

/// IPv4 flags/fragment-offset field: "more fragments" and the offset bits.
const IPV4_MF_AND_OFFSET: u16 = 0x3fff;

const IPPROTO_HOPOPTS: u8 = 0;
pub(super) const IPPROTO_TCP: u8 = 6;
pub(super) const IPPROTO_UDP: u8 = 17;
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
/// Offsets count bytes from the start of the frame: the Ethernet header
/// for [`parse`], the IP header for [`parse_ip`] (whose
/// [`l3_offset`](Headers::l3_offset) is 0). Only the parsers
/// makes these, so the offsets are always consistent with each other and
/// lie within the frame that was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Headers {
    pub(super) vlan_tags: u8,
    pub(super) l3_offset: u16,
    pub(super) ip: IpVersion,
    pub(super) l4_offset: u16,
    pub(super) l4: L4,
    pub(super) l4_hdr_len: u16,
    /// The TCP CWR flag, which a segmentation request must report
    /// (`Gso::ecn`).
    pub(super) tcp_cwr: bool,
    /// Segments Left of the IPv6 routing header, if there is one: when it is
    /// not zero, the destination address in the IPv6 header is not the
    /// final one, which the pseudo header needs.
    pub(super) ipv6_segments_left: u8,
}

/// Why a frame's headers cannot be parsed or an offload request cannot be
/// built. Its `Display` says what is wrong and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The frame (or the first segment of a packet) ends inside a header.
    #[error(
        "frame of {have} bytes ends inside a header that needs {need}: \
                 the frame is cut short or a length field in it is wrong"
    )]
    Truncated {
        /// Bytes the header being read needs, from the start of the frame.
        need: usize,
        /// Bytes there are.
        have: usize,
    },
    /// More VLAN tags than [`MAX_VLAN_TAGS`].
    #[error(
        "more than {max} VLAN tags: at most {max} (802.1Q 0x8100 / 802.1ad 0x88a8) \
                 are parsed; send such frames without offload"
    )]
    TooManyVlanTags {
        /// The most tags parsed.
        max: usize,
    },
    /// The EtherType (after any VLAN tags) is neither IPv4 nor IPv6.
    #[error(
        "EtherType {ethertype:#06x} is not IPv4 (0x0800) or IPv6 (0x86dd): \
                 checksum and segmentation offload need an IP frame"
    )]
    NotIp {
        /// The EtherType found (a value below `0x0600` is an 802.3 length).
        ethertype: u16,
    },
    /// An IP packet (a TUN packet, [`Framing::Ip`]) whose first byte's
    /// version nibble is neither 4 nor 6.
    #[error(
        "IP version nibble {version} is neither 4 nor 6: a TUN (IP-framed) packet \
                 starts with its IPv4 or IPv6 header, with no link-layer header in front"
    )]
    NotIpPacket {
        /// The version nibble found (the first byte's high four bits).
        version: u8,
    },
    /// The IP header's version field does not match the EtherType.
    #[error(
        "IP version field {version} does not match EtherType {ethertype:#06x}: \
                 set the version to 4 for 0x0800 or 6 for 0x86dd"
    )]
    IpVersionMismatch {
        /// The EtherType (`0x0800` or `0x86dd`).
        ethertype: u16,
        /// The version field found.
        version: u8,
    },
    /// The IPv4 header length (IHL) is below the minimum of 5 words.
    #[error(
        "IPv4 header length (IHL) {ihl} is below the minimum of 5 (20 bytes): \
                 set IHL to 5 plus the option words"
    )]
    BadIpv4HeaderLength {
        /// The IHL field (32-bit words).
        ihl: u8,
    },
    /// The IP length field says the packet ends before its headers do.
    #[error(
        "the IP header declares a {declared}-byte packet but its headers take \
                 {needed} bytes: set the IPv4 total length / IPv6 payload length to \
                 cover the headers and payload"
    )]
    IpLengthTooShort {
        /// The packet length the IP header declares (IPv4 total length, or
        /// 40 + IPv6 payload length).
        declared: usize,
        /// The bytes the IP, extension and L4 headers take.
        needed: usize,
    },
    /// An IPv6 hop-by-hop options header that is not the first header after
    /// the IPv6 header (receivers drop these packets, RFC 8200 section 4.1).
    #[error(
        "IPv6 hop-by-hop options header at offset {offset} is not directly after \
                 the IPv6 header, where it must be (receivers drop such packets)"
    )]
    MisplacedHopByHop {
        /// Offset of the misplaced header in the frame.
        offset: usize,
    },
    /// More IPv6 extension headers than [`MAX_IPV6_EXT_HEADERS`].
    #[error("more than {max} IPv6 extension headers: send such frames without offload")]
    TooManyExtensionHeaders {
        /// The most extension headers parsed.
        max: usize,
    },
    /// The TCP data offset is below the minimum of 5 words.
    #[error(
        "TCP data offset {data_offset} is below the minimum of 5 (20 bytes): \
                 set it to 5 plus the option words"
    )]
    BadTcpDataOffset {
        /// The data offset field (32-bit words).
        data_offset: u8,
    },
    /// The frame carries no TCP or UDP header to offload for.
    #[error(
        "no TCP or UDP header to offload for ({l4:?}): checksum and segmentation \
                 offload apply to unfragmented TCP and UDP only; send the frame without offload"
    )]
    NoL4 {
        /// What follows the IP headers instead.
        l4: L4,
    },
    /// The segment size of a segmentation request is 0 or the kernel's
    /// reserved 65535.
    #[error(
        "segment size {mss} is not valid: use 1..=65534 (the MSS, or payload bytes \
                 per UDP datagram)"
    )]
    InvalidMss {
        /// The rejected segment size.
        mss: u16,
    },
    /// A UDP segmentation request would make more segments than the kernel
    /// accepts ([`USO_MAX_SEGMENTS`](super::offload_request::USO_MAX_SEGMENTS)).
    #[error(
        "UDP segmentation into {segments} segments exceeds the kernel's limit of \
                 {max}: use a larger segment size or a smaller frame"
    )]
    TooManySegments {
        /// Segments the request would make.
        segments: usize,
        /// The most accepted.
        max: usize,
    },
    /// A length field in the headers disagrees with the frame's length, so
    /// the pseudo header (and the receiver's view of the packet) would be
    /// wrong.
    #[error(
        "{field} is {declared} but the frame makes it {actual}: set the field from \
                 the frame's length (and do not pad frames that carry offload requests)"
    )]
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
    #[error(
        "IPv6 routing header with {segments_left} segments left: the pseudo header \
                 needs the final destination, which this helper does not take from the \
                 routing header; fill the checksum yourself"
    )]
    RoutedIpv6 {
        /// The routing header's Segments Left field.
        segments_left: u8,
    },
    /// The [`Headers`] given do not describe this frame.
    #[error(
        "the Headers do not describe this frame: parse the frame again after \
                 changing its headers"
    )]
    HeadersMismatch,
    /// A chained packet's headers continue past its first segment.
    #[error(
        "the headers take at least {need} bytes but the packet's first segment \
                 holds {first_segment}: put all headers in the first segment"
    )]
    SplitHeaders {
        /// Bytes from the start of the frame that the header being read
        /// needs (the headers as a whole may need more).
        need: usize,
        /// Bytes in the first segment.
        first_segment: usize,
    },
}

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

pub(super) fn be16_at(frame: &[u8], at: usize) -> Result<u16, HeaderError> {
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
pub(super) fn hdr_u16(value: usize) -> u16 {
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
    Ok(headers_of(vlan_tags, l3_offset, ip))
}

/// Parses the headers of an IP packet that starts at its first byte, with
/// no link-layer header (what a TUN device carries, [`Framing::Ip`]): IPv4
/// or IPv6 by the version nibble, then as [`parse`] (IPv6 extension
/// headers, TCP or UDP). Offsets count from the packet's first byte, so
/// [`Headers::l3_offset`] is 0 and [`Headers::vlan_tags`] 0.
///
/// # Errors
///
/// [`HeaderError::NotIpPacket`] when the version nibble is neither 4 nor
/// 6 ([`HeaderError::Truncated`] for an empty packet); otherwise as
/// [`parse`]. Never panics.
pub fn parse_ip(packet: &[u8]) -> Result<Headers, HeaderError> {
    let ip = match byte_at(packet, 0)? >> 4 {
        4 => parse_ipv4(packet, 0)?,
        6 => parse_ipv6(packet, 0)?,
        version => return Err(HeaderError::NotIpPacket { version }),
    };
    Ok(headers_of(0, 0, ip))
}

/// Parses `frame` as `framing` says: [`parse`] for [`Framing::Ethernet`],
/// [`parse_ip`] for [`Framing::Ip`].
///
/// # Errors
///
/// As the parser chosen. Never panics.
pub fn parse_framed(frame: &[u8], framing: Framing) -> Result<Headers, HeaderError> {
    match framing {
        Framing::Ethernet => parse(frame),
        Framing::Ip => parse_ip(frame),
    }
}

fn headers_of(vlan_tags: usize, l3_offset: usize, ip: IpParsed) -> Headers {
    Headers {
        vlan_tags: vlan_tags as u8,
        l3_offset: hdr_u16(l3_offset),
        ip: ip.version,
        l4_offset: hdr_u16(ip.l4_offset),
        l4: ip.l4.kind,
        l4_hdr_len: hdr_u16(ip.l4.hdr_len),
        tcp_cwr: ip.l4.tcp_cwr,
        ipv6_segments_left: ip.ipv6_segments_left,
    }
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
    /// Offset of the IP header: 14 plus 4 per VLAN tag in an Ethernet
    /// frame, 0 in an IP packet ([`parse_ip`]).
    pub fn l3_offset(&self) -> usize {
        usize::from(self.l3_offset)
    }

    /// The framing of the frame these headers were parsed from:
    /// [`Framing::Ip`] when it starts with the IP header (from
    /// [`parse_ip`]), else [`Framing::Ethernet`].
    pub fn framing(&self) -> Framing {
        if self.l3_offset == 0 {
            Framing::Ip
        } else {
            Framing::Ethernet
        }
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

    /// Length of all headers (Ethernet and VLAN if any, IP, L4): where the payload
    /// starts. This is the `hdr_len` of a segmentation request.
    pub fn hdr_len(&self) -> usize {
        self.l4_offset() + self.l4_hdr_len()
    }
}

#[cfg(test)]
mod tests;
