//! The `virtio_net_hdr` codec: [`Offload`] metadata to and from the header
//! that precedes every frame on a TAP fd opened with `IFF_VNET_HDR`.
//!
//! # Wire format
//!
//! ```text
//! offset  size  field
//!      0     1  flags        NEEDS_CSUM = 1, DATA_VALID = 2, RSC_INFO = 4
//!      1     1  gso_type     NONE = 0, TCPV4 = 1, UDP = 3, TCPV6 = 4, UDP_L4 = 5, | ECN 0x80
//!      2     2  hdr_len      little-endian
//!      4     2  gso_size     little-endian
//!      6     2  csum_start   little-endian
//!      8     2  csum_offset  little-endian
//!     10     2  num_buffers  only in the 12-byte ("mergeable rx buffers") form
//! ```
//!
//! The 16-bit fields are little-endian. That is the virtio 1.0 byte order
//! and the native order of the legacy header on little-endian hosts.
//! tapring does not set the device's byte order (`TUNSETVNETLE` /
//! `TUNSETVNETBE`): it relies on the host being little-endian (x86-64,
//! arm64), where the legacy header the kernel uses by default already has
//! this layout. The header length (0, 10 or 12, [`VnetHdrLen`]) is a device
//! setting (`TUNSETVNETHDRSZ`); both sides must agree on it. `num_buffers` is
//! written as 0 on Tx and ignored on Rx.
//!
//! # Two directions, two rule sets
//!
//! * **Tx** ([`encode`], [`check_tx`]): the header is a request to the
//!   kernel. It is validated strictly, so that a bad request fails here with a
//!   precise [`VnetError`] rather than as a bare `EINVAL` from `write(2)`
//!   (`virtio_net_hdr_to_skb` in `include/linux/virtio_net.h`) or, worse, as
//!   a frame the kernel silently mangles.
//! * **Rx** ([`decode`], [`check_rx`], [`encode_rx`]): the header is a report
//!   written by `virtio_net_hdr_from_skb`. Validation is lenient where the
//!   kernel legitimately writes odd values (see [`check_rx`]) and strict
//!   where only a misconfiguration (wrong header length, wrong byte order)
//!   could explain the bytes: unknown bits and non-zero unused fields are
//!   rejected, which also makes decoding exact — every accepted header
//!   re-encodes ([`encode_rx`]) to the same bytes.
//!
//! Everything a Tx check accepts the Rx check accepts too, so
//! `decode(encode(o)) == o` for every valid Tx request `o`.
//!
//! # Example
//!
//! ```
//! use tapring_core::wire::vnet::{self, VnetHdrLen};
//! use tapring_core::{Checksum, Gso, GsoKind, Offload};
//!
//! // A 64 KiB TCPv4 super-frame: Ethernet (14) + IPv4 (20) + TCP (20) headers,
//! // segmented at an MSS of 1448, TCP checksum left to the kernel.
//! let off = Offload {
//!     csum: Checksum::Partial { start: 34, offset: 16 },
//!     gso: Some(Gso { kind: GsoKind::Tcpv4, size: 1448, hdr_len: 54, ecn: false }),
//! };
//! let frame_len = 65_000;
//!
//! let mut hdr = [0u8; 12];
//! let n = vnet::encode(&off, frame_len, VnetHdrLen::Mergeable, &mut hdr)?;
//! assert_eq!(n, 12);
//! assert_eq!(hdr, [1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0]);
//!
//! assert_eq!(vnet::decode(&hdr[..n], frame_len)?, off);
//! # Ok::<(), vnet::VnetError>(())
//! ```

use core::fmt;

use crate::packet::{Checksum, Gso, GsoKind, Offload};

/// `flags`: the L4 checksum is partial (see [`Checksum::Partial`]).
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was verified (Rx, see [`Checksum::Valid`]).
pub const F_DATA_VALID: u8 = 2;
/// `flags`: `csum_start`/`csum_offset` carry receive-segment-coalescing
/// counters instead. Only with `VIRTIO_NET_F_RSC_EXT`, which a TAP device
/// never offers; [`decode`] rejects it.
pub const F_RSC_INFO: u8 = 4;

/// `gso_type`: not a GSO frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: UDP fragmentation offload (UFO).
pub const GSO_UDP: u8 = 3;
/// `gso_type`: TCP over IPv6.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type`: UDP segmentation offload (USO).
pub const GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the TCP ECN (CWR) bit is set in the super-frame.
pub const GSO_ECN: u8 = 0x80;

/// `offsetof(struct tcphdr, check)`: the kernel requires this `csum_offset`
/// on a TCP GSO request.
pub const TCP_CSUM_OFFSET: u16 = 16;
/// `offsetof(struct udphdr, check)`: the kernel requires this `csum_offset`
/// on a USO request.
pub const UDP_CSUM_OFFSET: u16 = 6;
/// `GSO_BY_FRAGS`: a `gso_size` the kernel reserves and rejects on Tx.
pub const GSO_SIZE_RESERVED: u16 = 0xFFFF;

/// Length of the virtio-net header in front of every frame: a device
/// setting, fixed when the queue is opened. The one type for it across
/// tapring ([`crate::PortInfo`], the engine's settings, Tx limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VnetHdrLen {
    /// No header (the device was opened without `IFF_VNET_HDR`): plain
    /// Ethernet frames, no offloads possible.
    #[default]
    None,
    /// `struct virtio_net_hdr`, 10 bytes (the TAP default with
    /// `IFF_VNET_HDR`).
    Short,
    /// `struct virtio_net_hdr_mrg_rxbuf`, 12 bytes: adds `num_buffers`.
    Mergeable,
}

impl VnetHdrLen {
    /// The header length in bytes: 0, 10 or 12.
    pub const fn len(self) -> usize {
        match self {
            VnetHdrLen::None => 0,
            VnetHdrLen::Short => 10,
            VnetHdrLen::Mergeable => 12,
        }
    }

    /// True for [`VnetHdrLen::None`]: frames carry no header.
    pub const fn is_empty(self) -> bool {
        matches!(self, VnetHdrLen::None)
    }
}

impl TryFrom<usize> for VnetHdrLen {
    type Error = VnetError;

    /// 0 → [`VnetHdrLen::None`], 10 → [`VnetHdrLen::Short`], 12 →
    /// [`VnetHdrLen::Mergeable`], anything else → [`VnetError::BadHdrLen`].
    fn try_from(len: usize) -> Result<Self, VnetError> {
        match len {
            0 => Ok(VnetHdrLen::None),
            10 => Ok(VnetHdrLen::Short),
            12 => Ok(VnetHdrLen::Mergeable),
            _ => Err(VnetError::BadHdrLen { len }),
        }
    }
}

impl GsoKind {
    /// The `gso_type` value of this kind (without the ECN bit).
    pub const fn vnet_type(self) -> u8 {
        match self {
            GsoKind::Tcpv4 => GSO_TCPV4,
            GsoKind::Tcpv6 => GSO_TCPV6,
            GsoKind::Udp => GSO_UDP,
            GsoKind::UdpL4 => GSO_UDP_L4,
        }
    }

    /// The kind named by a `gso_type` value (ECN bit clear); `None` for
    /// [`GSO_NONE`] and for unknown values.
    pub const fn from_vnet_type(gso_type: u8) -> Option<GsoKind> {
        match gso_type {
            GSO_TCPV4 => Some(GsoKind::Tcpv4),
            GSO_TCPV6 => Some(GsoKind::Tcpv6),
            GSO_UDP => Some(GsoKind::Udp),
            GSO_UDP_L4 => Some(GsoKind::UdpL4),
            _ => None,
        }
    }

    const fn is_tcp(self) -> bool {
        matches!(self, GsoKind::Tcpv4 | GsoKind::Tcpv6)
    }
}

/// A virtio-net header that cannot be encoded or decoded.
///
/// Every variant carries the offending values. Its `Display` says what is
/// wrong and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum VnetError {
    /// The buffer to decode from or encode into is shorter than the header.
    #[error(
        "virtio-net header buffer is {got} bytes but the header needs {needed}: \
                 pass a buffer of at least the configured header length (10 or 12)"
    )]
    BufferTooShort {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// An offload request for a device without a virtio-net header
    /// ([`VnetHdrLen::None`]): nothing can carry it.
    #[error(
        "offload request {off:?} on a device without a virtio-net header: open the device \
         with a 10- or 12-byte header, or send the frame without offload"
    )]
    NoHeader {
        /// The request.
        off: Offload,
    },
    /// A header length other than 0, 10 or 12.
    #[error(
        "virtio-net header length {len} is not supported: use 0 (no header), 10 \
         (virtio_net_hdr) or 12 (virtio_net_hdr_mrg_rxbuf)"
    )]
    BadHdrLen {
        /// The rejected length.
        len: usize,
    },
    /// `flags` has bits this codec does not know (or `RSC_INFO`, which a TAP
    /// device never negotiates).
    #[error("{}", unknown_flags_msg(*flags))]
    UnknownFlags {
        /// The whole `flags` byte.
        flags: u8,
    },
    /// `flags` has both `NEEDS_CSUM` and `DATA_VALID`.
    #[error(
        "virtio-net header flags {flags:#04x} set both NEEDS_CSUM and DATA_VALID: \
                 a header reports one checksum state; check the header length and byte order"
    )]
    ConflictingCsumFlags {
        /// The whole `flags` byte.
        flags: u8,
    },
    /// `gso_type` is not one of NONE, TCPV4, UDP, TCPV6, UDP_L4 (optionally
    /// with the ECN bit, which needs a GSO type).
    #[error(
        "virtio-net gso_type {gso_type:#04x} is unknown (known: NONE 0, TCPV4 1, UDP 3, \
                 TCPV6 4, UDP_L4 5, plus ECN 0x80 with a GSO type): check the header length \
                 and byte order"
    )]
    UnknownGsoType {
        /// The whole `gso_type` byte.
        gso_type: u8,
    },
    /// A field that must be zero in this header is not: `csum_start` and
    /// `csum_offset` without `NEEDS_CSUM`, `hdr_len` and `gso_size` without a
    /// GSO type.
    #[error(
        "virtio-net header field {field} is {value} but must be 0 without \
         {}: the header length or byte order probably does not match the device's",
        unused_field_condition(field)
    )]
    NonZeroUnused {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: u16,
    },
    /// A GSO frame with `gso_size` 0 (no segment size), or on Tx `0xFFFF`
    /// (reserved by the kernel as `GSO_BY_FRAGS`).
    #[error(
        "{kind:?} GSO with gso_size {size}: the segment size must be 1..=65534 \
                 (0 means no segment size, 65535 is reserved by the kernel); set it to the \
                 MSS / payload bytes per segment"
    )]
    InvalidGsoSize {
        /// Segmentation kind.
        kind: GsoKind,
        /// The rejected size.
        size: u16,
    },
    /// The checksum field (`csum_start + csum_offset .. + 2`) ends past the
    /// end of the frame.
    #[error(
        "checksum field at csum_start {start} + csum_offset {offset} (2 bytes) ends \
                 beyond the {frame_len}-byte frame: csum_start must be the L4 header's offset \
                 in the frame and csum_offset the checksum field's offset inside it"
    )]
    CsumOutOfFrame {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// Frame length (without the virtio-net header).
        frame_len: usize,
    },
    /// `hdr_len` is longer than the frame.
    #[error(
        "hdr_len {hdr_len} exceeds the {frame_len}-byte frame: hdr_len is the length \
                 of the Ethernet + IP + L4 headers at the start of the frame"
    )]
    HdrLenOutOfFrame {
        /// `hdr_len`.
        hdr_len: u16,
        /// Frame length (without the virtio-net header).
        frame_len: usize,
    },
    /// Tx: a GSO request with `hdr_len` 0.
    #[error(
        "{kind:?} GSO request with hdr_len 0: set hdr_len to the length of the \
                 Ethernet + IP + L4 headers every segment repeats"
    )]
    GsoHdrLenZero {
        /// Segmentation kind.
        kind: GsoKind,
    },
    /// Tx: a GSO request whose frame is all headers (`hdr_len == frame_len`):
    /// there is no payload to segment.
    #[error(
        "GSO request with hdr_len {hdr_len} covering the whole {frame_len}-byte \
                 frame: there is no payload to segment; send it without GSO, or fix hdr_len"
    )]
    GsoNoPayload {
        /// `hdr_len`.
        hdr_len: u16,
        /// Frame length (without the virtio-net header).
        frame_len: usize,
    },
    /// Tx: a TCP or USO GSO request without a partial checksum request.
    #[error(
        "{kind:?} GSO request with checksum {csum:?}: segmentation needs \
         Checksum::Partial pointing at the L4 checksum (every segment's checksum \
         is recomputed); set csum to Partial {{ start: <L4 offset>, offset: {} }}",
        csum_offset_of(*kind)
    )]
    GsoNeedsPartialCsum {
        /// Segmentation kind.
        kind: GsoKind,
        /// The checksum state given instead.
        csum: Checksum,
    },
    /// Tx: a TCP or USO GSO request whose `csum_offset` does not point at the
    /// L4 checksum field.
    #[error(
        "{kind:?} GSO request with csum_offset {offset}: the kernel requires \
                 {expected} (the L4 checksum field) and rejects the frame otherwise"
    )]
    GsoCsumOffset {
        /// Segmentation kind.
        kind: GsoKind,
        /// `csum_offset` given.
        offset: u16,
        /// `csum_offset` the kernel requires for this kind.
        expected: u16,
    },
    /// Tx: the ECN bit on a UDP segmentation request (ECN is a TCP flag).
    #[error(
        "{kind:?} GSO request with the ECN bit: ECN applies to TCP segmentation only \
                 and the kernel rejects it here; clear Gso::ecn"
    )]
    EcnWithoutTcp {
        /// Segmentation kind.
        kind: GsoKind,
    },
}

/// The message of [`VnetError::UnknownFlags`]: `RSC_INFO` points at a
/// header length or byte order mismatch.
fn unknown_flags_msg(flags: u8) -> UnknownFlagsMsg {
    UnknownFlagsMsg(flags)
}

/// Displays the message of [`VnetError::UnknownFlags`].
struct UnknownFlagsMsg(u8);

impl fmt::Display for UnknownFlagsMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = self.0;
        if flags & F_RSC_INFO != 0 {
            write!(
                f,
                "virtio-net header flags {flags:#04x} include RSC_INFO, which a TAP \
                 device never negotiates: the header length or byte order configured \
                 on the device probably differs from the one used to decode"
            )
        } else {
            write!(
                f,
                "virtio-net header flags {flags:#04x} have unknown bits (known: \
                 NEEDS_CSUM 0x01, DATA_VALID 0x02): check that the header length and \
                 byte order match the device's"
            )
        }
    }
}

/// What a non-zero unused field needs to be in use
/// ([`VnetError::NonZeroUnused`]).
fn unused_field_condition(field: &str) -> &'static str {
    if matches!(field, "csum_start" | "csum_offset") {
        "NEEDS_CSUM"
    } else {
        "a GSO type"
    }
}

/// The `csum_offset` a segmentation request of `kind` needs.
fn csum_offset_of(kind: GsoKind) -> u16 {
    if kind.is_tcp() {
        TCP_CSUM_OFFSET
    } else {
        UDP_CSUM_OFFSET
    }
}

/// Checks that a checksum request/report lies within the frame.
fn check_csum(csum: Checksum, frame_len: usize) -> Result<(), VnetError> {
    if let Checksum::Partial { start, offset } = csum
        && usize::from(start) + usize::from(offset) + 2 > frame_len
    {
        return Err(VnetError::CsumOutOfFrame {
            start,
            offset,
            frame_len,
        });
    }
    Ok(())
}

/// Validates a Tx request for a frame of `frame_len` bytes (without the
/// virtio-net header). [`encode`] applies exactly these rules.
///
/// Rules, with the kernel behaviour (`virtio_net_hdr_to_skb`, tun's
/// `tun_get_user`) they follow:
///
/// * [`Checksum::Partial`]: `start + offset + 2 <= frame_len`.
/// * [`Checksum::Valid`] is allowed and encoded as `DATA_VALID`, so a
///   received offload can be forwarded unchanged. The virtio spec forbids it
///   for drivers and the TAP driver ignores it on Tx (the frame is treated
///   as unverified), so it is harmless but buys nothing.
/// * GSO: `gso_size` in `1..=65534` (0 is not a size; 65535 is the
///   kernel's reserved `GSO_BY_FRAGS` and rejected); `0 < hdr_len <
///   frame_len`. The kernel itself tolerates `hdr_len` 0 (it only sizes the
///   linear part of the skb with it and pulls the headers later) but then
///   copies the frame less efficiently; tapring asks for the real header
///   length, and a GSO frame must carry payload beyond it.
/// * TCP (v4, v6) and USO GSO need [`Checksum::Partial`] with `offset` 16
///   (TCP) or 6 (UDP). The kernel rejects USO without `NEEDS_CSUM` and any
///   `NEEDS_CSUM` with another offset. TCP GSO without `NEEDS_CSUM` is
///   accepted by current kernels, but only through a fallback (the flow
///   dissector has to find the TCP header, and segmentation then rewrites the
///   checksum); the virtio spec makes TSO depend on checksum offload
///   (`HOST_TSO4/6` require `CSUM`), and the kernel's own senders always
///   pair GSO with a partial checksum. tapring requires it. UFO
///   ([`GsoKind::Udp`]) has no such requirement.
/// * The ECN bit only with TCP (the kernel rejects USO with ECN; UFO with
///   ECN is meaningless).
///
/// The kernel checks more against the frame's contents (the IP version
/// matches the GSO kind, the L4 protocol, minimum header lengths); the codec
/// does not parse the frame and cannot.
pub fn check_tx(off: &Offload, frame_len: usize) -> Result<(), VnetError> {
    check_csum(off.csum, frame_len)?;
    let Some(gso) = off.gso else {
        return Ok(());
    };
    let kind = gso.kind;
    if gso.size == 0 || gso.size == GSO_SIZE_RESERVED {
        return Err(VnetError::InvalidGsoSize {
            kind,
            size: gso.size,
        });
    }
    if gso.hdr_len == 0 {
        return Err(VnetError::GsoHdrLenZero { kind });
    }
    let hdr_len = usize::from(gso.hdr_len);
    if hdr_len > frame_len {
        return Err(VnetError::HdrLenOutOfFrame {
            hdr_len: gso.hdr_len,
            frame_len,
        });
    }
    if hdr_len == frame_len {
        return Err(VnetError::GsoNoPayload {
            hdr_len: gso.hdr_len,
            frame_len,
        });
    }
    if gso.ecn && !kind.is_tcp() {
        return Err(VnetError::EcnWithoutTcp { kind });
    }
    let expected = match kind {
        GsoKind::Tcpv4 | GsoKind::Tcpv6 => TCP_CSUM_OFFSET,
        GsoKind::UdpL4 => UDP_CSUM_OFFSET,
        GsoKind::Udp => return Ok(()),
    };
    match off.csum {
        Checksum::Partial { offset, .. } if offset == expected => Ok(()),
        Checksum::Partial { offset, .. } => Err(VnetError::GsoCsumOffset {
            kind,
            offset,
            expected,
        }),
        csum => Err(VnetError::GsoNeedsPartialCsum { kind, csum }),
    }
}

/// Validates an Rx report for a frame of `frame_len` bytes (without the
/// virtio-net header). [`decode`] and [`encode_rx`] apply exactly these
/// rules; they are looser than [`check_tx`]'s because of what the kernel
/// (`virtio_net_hdr_from_skb`) writes:
///
/// * [`Checksum::Partial`]: `start + offset + 2 <= frame_len` (the kernel
///   adds the length of a VLAN tag it inserts to `csum_start`, and the tag is
///   in the frame, so this holds).
/// * GSO: `gso_size > 0`, `hdr_len <= frame_len`. Nothing else about
///   `hdr_len`: the kernel fills it with `skb_headlen()`, the length of the
///   skb's linear part, as a hint — it can be 0 (all data in page
///   fragments), shorter than the real headers, or the whole frame. Only
///   newer virtio devices that negotiate `VIRTIO_NET_F_GUEST_HDRLEN` get the
///   exact header length; TAP does not. Callers that need the header length
///   of a received GSO frame must parse the headers.
/// * GSO frames may come with any checksum state (`NEEDS_CSUM` is usual,
///   `DATA_VALID` occurs for frames aggregated by hardware), with any
///   kind's ECN bit, and with `gso_size` 65535.
pub fn check_rx(off: &Offload, frame_len: usize) -> Result<(), VnetError> {
    check_csum(off.csum, frame_len)?;
    if let Some(gso) = off.gso {
        if gso.size == 0 {
            return Err(VnetError::InvalidGsoSize {
                kind: gso.kind,
                size: gso.size,
            });
        }
        if usize::from(gso.hdr_len) > frame_len {
            return Err(VnetError::HdrLenOutOfFrame {
                hdr_len: gso.hdr_len,
                frame_len,
            });
        }
    }
    Ok(())
}

/// Writes the header for `off` into `out[..len.len()]`, without validation
/// beyond the buffer length.
fn write(off: &Offload, len: VnetHdrLen, out: &mut [u8]) -> Result<usize, VnetError> {
    if len == VnetHdrLen::None {
        return if off.is_none() {
            Ok(0)
        } else {
            Err(VnetError::NoHeader { off: *off })
        };
    }
    let n = len.len();
    let Some(out) = out.get_mut(..n) else {
        return Err(VnetError::BufferTooShort {
            needed: n,
            got: out.len(),
        });
    };
    let (flags, csum_start, csum_offset) = match off.csum {
        Checksum::None => (0, 0, 0),
        Checksum::Partial { start, offset } => (F_NEEDS_CSUM, start, offset),
        Checksum::Valid => (F_DATA_VALID, 0, 0),
    };
    let (gso_type, hdr_len, gso_size) = match off.gso {
        None => (GSO_NONE, 0, 0),
        Some(g) => (
            g.kind.vnet_type() | if g.ecn { GSO_ECN } else { 0 },
            g.hdr_len,
            g.size,
        ),
    };
    out[0] = flags;
    out[1] = gso_type;
    out[2..4].copy_from_slice(&hdr_len.to_le_bytes());
    out[4..6].copy_from_slice(&gso_size.to_le_bytes());
    out[6..8].copy_from_slice(&csum_start.to_le_bytes());
    out[8..10].copy_from_slice(&csum_offset.to_le_bytes());
    if let Some(num_buffers) = out.get_mut(10..12) {
        num_buffers.fill(0);
    }
    Ok(n)
}

/// Encodes a Tx request: validates `off` for a frame of `frame_len` bytes
/// (the frame that follows the header) with [`check_tx`], then writes a
/// `len`-byte header to the start of `out` and returns the number of bytes
/// written (`len.len()`). `num_buffers` is written as 0. With
/// [`VnetHdrLen::None`] nothing is written: only [`Offload::NONE`] can go
/// without a header.
///
/// Errors: [`VnetError::BufferTooShort`] if `out` is shorter than `len`,
/// the first rule of [`check_tx`] that `off` breaks, or
/// [`VnetError::NoHeader`] for a request without a header. Nothing is
/// written on error.
pub fn encode(
    off: &Offload,
    frame_len: usize,
    len: VnetHdrLen,
    out: &mut [u8],
) -> Result<usize, VnetError> {
    check_room(len, out)?;
    check_tx(off, frame_len)?;
    write(off, len, out)
}

/// [`VnetError::BufferTooShort`] unless `out` holds a `len` header.
fn check_room(len: VnetHdrLen, out: &[u8]) -> Result<(), VnetError> {
    if out.len() < len.len() {
        return Err(VnetError::BufferTooShort {
            needed: len.len(),
            got: out.len(),
        });
    }
    Ok(())
}

/// Encodes an Rx report, as the kernel would write it in front of a received
/// frame of `frame_len` bytes: validated with the looser [`check_rx`], so
/// every header [`decode`] accepts can be reproduced byte for byte. For
/// simulated devices and tests; to transmit, use [`encode`].
///
/// Errors: as [`encode`], with [`check_rx`] in place of [`check_tx`].
pub fn encode_rx(
    off: &Offload,
    frame_len: usize,
    len: VnetHdrLen,
    out: &mut [u8],
) -> Result<usize, VnetError> {
    check_room(len, out)?;
    check_rx(off, frame_len)?;
    write(off, len, out)
}

/// Decodes the header of a received frame. `hdr` starts with the header
/// (only its first 10 bytes are read, so either header length works and
/// `num_buffers` is ignored); `frame_len` is the length of the frame that
/// follows the header.
///
/// Rejected: a buffer shorter than 10 bytes; unknown `flags` bits,
/// `RSC_INFO`, or `NEEDS_CSUM` together with `DATA_VALID`; an unknown
/// `gso_type`, or the ECN bit without a GSO type; non-zero `csum_start` /
/// `csum_offset` without `NEEDS_CSUM`, or non-zero `hdr_len` / `gso_size`
/// without a GSO type (the kernel zeroes them; non-zero values mean the
/// header length or byte order is misconfigured); then the rules of
/// [`check_rx`].
pub fn decode(hdr: &[u8], frame_len: usize) -> Result<Offload, VnetError> {
    let Some(h) = hdr.first_chunk::<10>() else {
        return Err(VnetError::BufferTooShort {
            needed: VnetHdrLen::Short.len(),
            got: hdr.len(),
        });
    };
    let flags = h[0];
    let gso_type = h[1];
    let field = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let hdr_len = field(2);
    let gso_size = field(4);
    let csum_start = field(6);
    let csum_offset = field(8);

    if flags & !(F_NEEDS_CSUM | F_DATA_VALID) != 0 {
        return Err(VnetError::UnknownFlags { flags });
    }
    let csum = match (flags & F_NEEDS_CSUM != 0, flags & F_DATA_VALID != 0) {
        (true, true) => return Err(VnetError::ConflictingCsumFlags { flags }),
        (true, false) => Checksum::Partial {
            start: csum_start,
            offset: csum_offset,
        },
        (false, valid) => {
            nonzero_unused("csum_start", csum_start)?;
            nonzero_unused("csum_offset", csum_offset)?;
            if valid {
                Checksum::Valid
            } else {
                Checksum::None
            }
        }
    };

    let gso = if gso_type == GSO_NONE {
        nonzero_unused("hdr_len", hdr_len)?;
        nonzero_unused("gso_size", gso_size)?;
        None
    } else {
        let kind = GsoKind::from_vnet_type(gso_type & !GSO_ECN)
            .ok_or(VnetError::UnknownGsoType { gso_type })?;
        Some(Gso {
            kind,
            size: gso_size,
            hdr_len,
            ecn: gso_type & GSO_ECN != 0,
        })
    };

    let off = Offload { csum, gso };
    check_rx(&off, frame_len)?;
    Ok(off)
}

fn nonzero_unused(field: &'static str, value: u16) -> Result<(), VnetError> {
    if value == 0 {
        Ok(())
    } else {
        Err(VnetError::NonZeroUnused { field, value })
    }
}

#[cfg(test)]
mod tests;
