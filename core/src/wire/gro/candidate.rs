//! What one packet is to the coalescer, on its own: its headers parsed
//! once, and the checks that decide whether it may merge at all (protocol,
//! header shape, lengths, the IPv4 header checksum, flags), whichever flow
//! it belongs to; and its L4 checksum, verified only when it is to merge.

use crate::packet::{Checksum, Pkt};
use crate::wire::Framing;
use crate::wire::checksum;
use crate::wire::headers::{
    HeaderError, Headers, IPPROTO_TCP, IPPROTO_UDP, IpVersion, L4, parse_framed,
};
use crate::wire::vnet::{TCP_CSUM_OFFSET, UDP_CSUM_OFFSET};

use crate::wire::fields::{IPV4_MIN_HDR_LEN as IPV4_HDR_LEN, IPV6_HDR_LEN};
pub(super) use crate::wire::fields::{TCP_CWR, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG};

/// Why a packet did not merge; each is one counter of
/// [`GroReport`](super::GroReport).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    OtherProtocol,
    IpOptions,
    Malformed,
    BadChecksum,
    Offloaded,
    NoPayload,
    Flags,
    IpFieldsDiffer,
    AckOrWindowDiffer,
    OptionsDiffer,
    OutOfOrder,
    SizeMismatch,
    TooBig,
    ForeignPool,
}

/// The L4 protocols that coalesce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proto {
    Tcp,
    Udp,
}

/// A packet that may merge (or head a super-frame), as far as it alone can
/// tell.
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate {
    pub(super) h: Headers,
    pub(super) proto: Proto,
    /// Bytes of the whole packet.
    pub(super) len: usize,
    /// Bytes after the headers.
    pub(super) payload: usize,
    /// Buffers of the packet.
    pub(super) segs: usize,
    /// TCP sequence number (0 for UDP).
    pub(super) seq: u32,
    /// TCP flags byte (0 for UDP).
    pub(super) flags: u8,
    /// IPv4 identification (0 for IPv6).
    pub(super) ip_id: u16,
    /// Whether its L4 checksum is known good: the kernel vouched for it,
    /// or it was verified. A packet arrives unverified when nobody did;
    /// it is verified only if something is to merge with it (see
    /// [`verify_l4`]).
    pub(super) checksum_known_good: bool,
}

impl Candidate {
    /// Whether later packets may merge into this one: not when it ends its
    /// flow's run already (PSH or FIN), as Linux's GRO flushes such a
    /// segment at once.
    pub(super) fn can_head(&self) -> bool {
        self.flags & (TCP_PSH | TCP_FIN) == 0
    }

    /// Whether the flow is finished once this packet merged: PSH or FIN
    /// (TCP; the super-frame takes them over).
    pub(super) fn ends_flow(&self) -> bool {
        !self.can_head()
    }
}

/// Bytes of a chained packet's front copied to find its flow when its
/// headers continue past the first buffer: Ethernet, two VLAN tags, IPv4
/// with the longest options and the longest TCP header (152) fit.
pub(super) const SPLIT_HEADERS_MAX: usize = 160;

/// A packet, classified.
pub(super) struct Classified {
    /// The headers, when the packet is TCP (or UDP, if coalesced) and so
    /// belongs to a flow (even if it cannot merge itself).
    pub(super) flow_headers: Option<Headers>,
    /// The packet as a candidate, or why it cannot merge at all.
    pub(super) verdict: Result<Candidate, Reason>,
    /// The packet's front, copied, when its headers continue past its
    /// first buffer (`flow_headers` then describe these bytes; the packet
    /// does not merge, but must not be overtaken by its flow either).
    pub(super) split_headers: Option<[u8; SPLIT_HEADERS_MAX]>,
}

impl Classified {
    /// The bytes `flow_headers` describe: the first buffer's, or the copy.
    pub(super) fn header_bytes<'a>(&'a self, pkt: &'a Pkt) -> &'a [u8] {
        match &self.split_headers {
            Some(copy) => copy,
            None => pkt.data(),
        }
    }
}

/// Parses `pkt` and checks everything about it that does not depend on a
/// flow.
pub(super) fn classify(pkt: &Pkt, framing: Framing, udp: bool) -> Classified {
    let no_flow = |reason| Classified {
        flow_headers: None,
        verdict: Err(reason),
        split_headers: None,
    };
    let coalesced = |h: &Headers| match h.l4() {
        L4::Tcp => Some(Proto::Tcp),
        L4::Udp if udp => Some(Proto::Udp),
        _ => None,
    };
    let h = match parse_framed(pkt.data(), framing) {
        Ok(h) => h,
        Err(HeaderError::NotIp { .. } | HeaderError::NotIpPacket { .. }) => {
            return no_flow(Reason::OtherProtocol);
        }
        Err(HeaderError::Truncated { .. }) if pkt.pkt_len() > pkt.len() => {
            // Headers split over buffers: not merged (`adj` works on the
            // first buffer), but found in a copy so that the flow is
            // finished before it and nothing of the flow overtakes it.
            let mut copy = [0u8; SPLIT_HEADERS_MAX];
            let n = pkt.copy_to(&mut copy);
            return match parse_framed(&copy[..n], framing) {
                Ok(h) if coalesced(&h).is_some() => Classified {
                    flow_headers: Some(h),
                    verdict: Err(Reason::Malformed),
                    split_headers: Some(copy),
                },
                _ => no_flow(Reason::Malformed),
            };
        }
        Err(_) => return no_flow(Reason::Malformed),
    };
    let Some(proto) = coalesced(&h) else {
        return no_flow(Reason::OtherProtocol);
    };
    Classified {
        flow_headers: Some(h),
        verdict: check(pkt, h, proto),
        split_headers: None,
    }
}

/// The flow-independent checks of a TCP/UDP packet with headers `h`.
fn check(pkt: &Pkt, h: Headers, proto: Proto) -> Result<Candidate, Reason> {
    let data = pkt.data();
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let ip_id = match h.ip() {
        IpVersion::V4 => {
            if byte(data, l3)? != 0x45 {
                return Err(Reason::IpOptions);
            }
            be16(data, l3 + 4)?
        }
        IpVersion::V6 => {
            if l4 != l3 + IPV6_HDR_LEN {
                return Err(Reason::IpOptions);
            }
            0
        }
    };
    let off = pkt.offload();
    if off.gso.is_some() {
        return Err(Reason::Offloaded);
    }
    let len = pkt.pkt_len();
    if !lengths_match(data, &h, proto, len)? {
        return Err(Reason::Malformed);
    }
    if h.ip() == IpVersion::V4
        && checksum::fold(checksum::add(0, field(data, l3, IPV4_HDR_LEN)?)) != 0xffff
    {
        return Err(Reason::BadChecksum);
    }
    let payload = len.checked_sub(h.hdr_len()).ok_or(Reason::Malformed)?;
    if payload == 0 {
        return Err(Reason::NoPayload);
    }
    let (seq, flags) = match proto {
        Proto::Tcp => (be32(data, l4 + 4)?, byte(data, l4 + 13)?),
        Proto::Udp => (0, 0),
    };
    if flags & (TCP_SYN | TCP_RST | TCP_URG | TCP_CWR) != 0 {
        return Err(Reason::Flags);
    }
    let csum_offset = match proto {
        Proto::Tcp => TCP_CSUM_OFFSET,
        Proto::Udp => UDP_CSUM_OFFSET,
    };
    let checksum_known_good = match off.csum {
        Checksum::Valid => true,
        Checksum::Partial { start, offset }
            if usize::from(start) == l4 && offset == csum_offset =>
        {
            true
        }
        Checksum::Partial { .. } => return Err(Reason::Offloaded),
        // Verified later, and only if the packet is to merge: a packet
        // left alone goes on as it came, for its receiver to verify.
        Checksum::None => false,
    };
    Ok(Candidate {
        h,
        proto,
        len,
        payload,
        segs: pkt.nb_segs(),
        seq,
        flags,
        ip_id,
        checksum_known_good,
    })
}

/// Whether the L4 checksum of `pkt`, classified as `c`, is good: known
/// already, or verified in software now. A super-frame carries a partial
/// checksum that its receiver completes rather than checks, so a bad
/// segment merged into one would be passed on as good: every packet that
/// merges, the head included, is verified first.
pub(super) fn verify_l4(pkt: &Pkt, c: &Candidate) -> bool {
    c.checksum_known_good || l4_checksum_ok(pkt, &c.h, c.proto).unwrap_or(false)
}

/// Whether the IP length field (and the UDP length) describe exactly the
/// `len` bytes of the packet.
fn lengths_match(data: &[u8], h: &Headers, proto: Proto, len: usize) -> Result<bool, Reason> {
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let ip_ok = match h.ip() {
        IpVersion::V4 => Some(usize::from(be16(data, l3 + 2)?)) == len.checked_sub(l3),
        IpVersion::V6 => {
            Some(usize::from(be16(data, l3 + 4)?)) == len.checked_sub(l3 + IPV6_HDR_LEN)
        }
    };
    let udp_ok = match proto {
        Proto::Tcp => true,
        Proto::Udp => Some(usize::from(be16(data, l4 + 4)?)) == len.checked_sub(l4),
    };
    Ok(ip_ok && udp_ok)
}

/// Whether the TCP/UDP checksum of `pkt` verifies: the pseudo header plus
/// the L4 header and payload over the whole chain sum to `0xffff`. An IPv4
/// UDP checksum of 0 means "none" (RFC 768) and passes; over IPv6 it is
/// invalid (RFC 8200 section 8.1).
fn l4_checksum_ok(pkt: &Pkt, h: &Headers, proto: Proto) -> Result<bool, Reason> {
    let l4 = h.l4_offset();
    if proto == Proto::Udp && be16(pkt.data(), l4 + usize::from(UDP_CSUM_OFFSET))? == 0 {
        return Ok(h.ip() == IpVersion::V4);
    }
    let l4_len = pkt.pkt_len().checked_sub(l4).ok_or(Reason::Malformed)?;
    let sum = checksum::add_packet(pseudo_header(pkt.data(), h, proto, l4_len)?, pkt, l4);
    Ok(checksum::fold(sum) == 0xffff)
}

/// The running (unfolded) pseudo-header sum for `l4_len` L4 bytes.
pub(super) fn pseudo_header(
    data: &[u8],
    h: &Headers,
    proto: Proto,
    l4_len: usize,
) -> Result<u64, Reason> {
    let l3 = h.l3_offset();
    let protocol = match proto {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
    };
    Ok(match h.ip() {
        IpVersion::V4 => checksum::pseudo_header_v4(
            &array(data, l3 + 12)?,
            &array(data, l3 + 16)?,
            protocol,
            u16::try_from(l4_len).map_err(|_| Reason::TooBig)?,
        ),
        IpVersion::V6 => checksum::pseudo_header_v6(
            &array(data, l3 + 8)?,
            &array(data, l3 + 24)?,
            protocol,
            u32::try_from(l4_len).map_err(|_| Reason::TooBig)?,
        ),
    })
}

// Bounds-checked reads: the parser guarantees the headers lie in the first
// segment, but a miss here is a malformed packet, never a panic.

pub(super) fn field(data: &[u8], at: usize, len: usize) -> Result<&[u8], Reason> {
    data.get(at..at.checked_add(len).ok_or(Reason::Malformed)?)
        .ok_or(Reason::Malformed)
}

pub(super) fn byte(data: &[u8], at: usize) -> Result<u8, Reason> {
    data.get(at).copied().ok_or(Reason::Malformed)
}

pub(super) fn be16(data: &[u8], at: usize) -> Result<u16, Reason> {
    Ok(u16::from_be_bytes(array(data, at)?))
}

pub(super) fn be32(data: &[u8], at: usize) -> Result<u32, Reason> {
    Ok(u32::from_be_bytes(array(data, at)?))
}

fn array<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], Reason> {
    field(data, at, N)?
        .try_into()
        .map_err(|_| Reason::Malformed)
}
