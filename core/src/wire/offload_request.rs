//! Transmit offload requests from a frame's own headers: parse Ethernet,
//! VLAN, IPv4/IPv6 and TCP/UDP, then fill in the [`Offload`] that asks the
//! kernel to finish the L4 checksum or to segment the frame, and prepare the
//! checksum field the way the kernel expects it.
//!
//! Getting such a request right by hand takes three things to agree: the
//! checksum start and offset (where the L4 header is and which protocol it
//! is), the segmentation header length, and the checksum field itself,
//! which must already hold the sum of the IP pseudo header. [`parse`](super::headers::parse) finds
//! the headers, [`Headers::checksum_request`] and
//! [`Headers::segmentation_request`] build the request, and
//! [`write_pseudo_header_checksum`] prepares the field. [`request_checksum`]
//! and [`request_segmentation`] do all of it for a [`Pkt`] that holds an
//! Ethernet frame; [`request_checksum_framed`] and
//! [`request_segmentation_framed`] for either [`Framing`] (a TUN port's
//! packets start with the IP header: [`Framing::Ip`]).
//!
//! What the helpers do not do: the IPv4 header checksum is the caller's
//! (virtio-net has no offload for it; the kernel drops IPv4 packets whose
//! header checksum is wrong; [`crate::wire::checksum`] computes it), and
//! tunnels (VXLAN, GRE, ...) are not looked into: the outer headers are
//! what is parsed.
//!
//! # Example
//!
//! A 1200-byte TCP payload over IPv4, segmented by the kernel at 500 bytes:
//!
//! ```
//! use tapring_core::wire::offload_request;
//! use tapring_core::{Checksum, Gso, GsoKind, IpVersion, L4, Pool, PoolConfig};
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
//! let h = offload_request::request_segmentation(&mut pkt, 500)?;
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

use super::Framing;
use super::checksum;
use super::fields::IPV6_HDR_LEN;
use super::headers::{
    HeaderError, Headers, IPPROTO_TCP, IPPROTO_UDP, IpVersion, L4, be16_at, hdr_u16, parse_framed,
};
use super::vnet::{GSO_SIZE_RESERVED, TCP_CSUM_OFFSET, UDP_CSUM_OFFSET};
use crate::packet::{Checksum, Gso, GsoKind, Offload, Pkt};

/// The most segments a UDP segmentation (USO) request may produce.
/// The kernel rejects a USO frame whose payload exceeds `gso_size *
/// UDP_MAX_SEGMENTS` (`virtio_net_hdr_to_skb`, since "net: more strict
/// VIRTIO_NET_HDR_GSO_UDP_L4 validation", 2024). `UDP_MAX_SEGMENTS` was 64
/// and was raised to 128 by a later fix (also backported to stable
/// kernels); kernels with the check but without that fix reject more than
/// 64, so the lower value is used.
pub const USO_MAX_SEGMENTS: usize = 64;

/// The offload requests a parsed frame supports.
impl Headers {
    /// Offset of the L4 checksum field relative to the L4 header.
    pub(super) fn csum_offset(&self) -> Result<u16, HeaderError> {
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
    /// request without payload would be rejected ([`crate::wire::vnet::check_tx`]).
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

/// `N` bytes of `frame` at `at`, or [`HeaderError::Truncated`].
fn array_at<const N: usize>(frame: &[u8], at: usize) -> Result<[u8; N], HeaderError> {
    frame
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or(HeaderError::Truncated {
            need: at + N,
            have: frame.len(),
        })
}

/// The folded, not complemented, pseudo-header sum for a frame whose
/// headers `h` lie in `first` and whose whole length is `frame_len`.
/// Checks that the IP (and UDP) length fields agree with `frame_len`.
pub(super) fn pseudo_header_sum(
    first: &[u8],
    frame_len: usize,
    h: &Headers,
) -> Result<u16, HeaderError> {
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
    if h.ip == IpVersion::V4 {
        check_len("IPv4 total length", be16_at(first, l3 + 2)?, frame_len - l3)?;
    } else {
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
    }
    if h.l4 == L4::Udp {
        check_len("UDP length", be16_at(first, l4 + 4)?, l4_len)?;
    }
    // Source and destination address, protocol, L4 length (32 bits for
    // IPv6; the IPv4 total length check above keeps it within 16 bits).
    let sum = match h.ip {
        IpVersion::V4 => checksum::pseudo_header_v4(
            &array_at(first, l3 + 12)?,
            &array_at(first, l3 + 16)?,
            protocol,
            l4_len as u16,
        ),
        IpVersion::V6 => checksum::pseudo_header_v6(
            &array_at(first, l3 + 8)?,
            &array_at(first, l3 + 24)?,
            protocol,
            l4_len as u32,
        ),
    };
    Ok(checksum::fold(sum))
}

/// Stores `value` in the L4 checksum field of `first`.
pub(super) fn store_l4_checksum(
    first: &mut [u8],
    h: &Headers,
    value: u16,
) -> Result<(), HeaderError> {
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
/// `h` must be what [`parse`](super::headers::parse) (or
/// [`parse_ip`](super::headers::parse_ip), for an IP packet) returns for `frame` (parse again after
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
    if parse_framed(frame, h.framing())? != *h {
        return Err(HeaderError::HeadersMismatch);
    }
    let sum = pseudo_header_sum(frame, frame.len(), h)?;
    store_l4_checksum(frame, h, sum)
}

/// Parses the first segment of `pkt`, telling headers that continue into
/// the next segment apart from a packet that is too short as a whole.
pub(super) fn parse_first_segment(pkt: &Pkt, framing: Framing) -> Result<Headers, HeaderError> {
    parse_framed(pkt.data(), framing).map_err(|e| match e {
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
    framing: Framing,
    build: impl FnOnce(&Headers, usize) -> Result<Offload, HeaderError>,
) -> Result<Headers, HeaderError> {
    let h = parse_first_segment(pkt, framing)?;
    let frame_len = pkt.pkt_len();
    let off = build(&h, frame_len.saturating_sub(h.hdr_len()))?;
    let sum = pseudo_header_sum(pkt.data(), frame_len, &h)?;
    store_l4_checksum(pkt.data_mut(), &h, sum)?;
    pkt.set_offload(off);
    Ok(h)
}

/// Asks the kernel to finish the TCP or UDP checksum of `pkt`, an Ethernet
/// frame (as [`request_checksum_framed`] with [`Framing::Ethernet`]): parses its
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
/// As [`parse`](super::headers::parse) and [`write_pseudo_header_checksum`], and
/// [`HeaderError::SplitHeaders`] if the headers continue past the first
/// segment. Nothing is changed on error.
pub fn request_checksum(pkt: &mut Pkt) -> Result<Headers, HeaderError> {
    request_checksum_framed(pkt, Framing::Ethernet)
}

/// [`request_checksum`] for a packet of `framing`: an Ethernet frame, or an
/// IP packet with no link-layer header ([`Framing::Ip`], what a TUN port
/// sends; the checksum start then counts from the IP header, which is what
/// the kernel expects on a TUN device).
///
/// # Errors
///
/// As [`request_checksum`], with
/// [`parse_ip`](super::headers::parse_ip)'s errors for [`Framing::Ip`]
/// ([`HeaderError::NotIpPacket`]). Nothing is changed on error.
pub fn request_checksum_framed(pkt: &mut Pkt, framing: Framing) -> Result<Headers, HeaderError> {
    request(pkt, framing, |h, _| h.checksum_request())
}

/// Asks the kernel to segment `pkt`, an Ethernet frame, into segments of `mss` payload bytes
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
    request_segmentation_framed(pkt, mss, Framing::Ethernet)
}

/// [`request_segmentation`] for a packet of `framing` (see
/// [`request_checksum_framed`]).
///
/// # Errors
///
/// As [`request_checksum_framed`] and [`Headers::segmentation_request`].
/// Nothing is changed on error.
pub fn request_segmentation_framed(
    pkt: &mut Pkt,
    mss: u16,
    framing: Framing,
) -> Result<Headers, HeaderError> {
    request(pkt, framing, |h, payload_len| {
        h.segmentation_request(mss, payload_len)
    })
}
