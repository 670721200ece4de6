//! Software segmentation (GSO): turning a packet that carries a
//! segmentation request (a TCP or UDP "super-frame" of up to 64 KiB, as a
//! TAP device with offloads hands them over) into the wire-sized packets
//! the request describes, for a port that cannot take the request itself
//! (a TAP device without the offload, a smaller MTU, a device that is not
//! a TAP at all).
//!
//! * [`Segmenter`] writes the segments of one packet, one at a time, into
//!   packets the caller provides ([`Pkt::alloc_sibling`] makes them), and
//!   can stop and resume at any segment: a burst that fills up, a pool
//!   that runs dry;
//! * [`Segmenter::push_into`] allocates the segments and pushes them into
//!   a [`BurstSlice`], resuming where it stopped;
//! * [`finish_checksum`] completes a partial checksum in software, for a
//!   port that cannot finish checksums either.
//!
//! # What a segment is
//!
//! The semantics are Linux's software GSO (`tcp_gso_segment`,
//! `__udp_gso_segment`, `inet_gso_segment`, `ipv6_gso_segment`):
//!
//! * every segment repeats the packet's headers byte for byte (Ethernet
//!   and VLAN tags, IPv4 with its options or IPv6 with its extension
//!   headers, TCP with its options or UDP), taken from the headers parsed
//!   out of the packet ([`parse_framed`](super::headers::parse_framed)):
//!   the `hdr_len` of the request is not trusted;
//! * then a chunk of the payload: `mss` bytes, the last chunk what is left.
//!   `mss` is the request's size, or less when the output's `max_frame`
//!   cannot take a segment that large (a smaller MTU re-segments);
//! * IPv4: total length per segment; the ID of segment `i` is the
//!   packet's ID plus `i` (the first keeps it), as `inet_gso_segment` does
//!   without `SKB_GSO_TCP_FIXEDID`; the header checksum recomputed. IPv6:
//!   payload length per segment;
//! * TCP: sequence number plus the segment's payload offset; FIN and PSH
//!   only on the last segment, CWR only on the first (`tcp_gso_segment`;
//!   the request's `ecn` flag only tells that CWR is set), every other
//!   flag, the window, the urgent pointer and the options on every one;
//! * UDP (`UDP_L4`, USO): length per segment, and a checksum per segment
//!   (a zero checksum in the packet, "none" over IPv4, does not carry
//!   over: `__udp_gso_segment` always computes it);
//! * the L4 checksum per segment ([`SegmentChecksum`]): computed in
//!   software ([`SegmentChecksum::Complete`], a result of 0 stored as
//!   `0xffff` as the kernel does), or left partial with the pseudo-header
//!   sum in the field ([`SegmentChecksum::Partial`]) for a port that
//!   finishes checksums. What the packet's own checksum field holds does
//!   not matter (with a segmentation request it holds a pseudo-header sum).
//!
//! A packet whose payload fits in one segment (or has none) yields one
//! segment, complete and with the checksum as asked.
//!
//! Not done: `GsoKind::Udp` (UFO, which is IP fragmentation;
//! [`GsoError::UnsupportedKind`]), IPv6 routing headers with segments left
//! ([`GsoError::RoutedIpv6`]), tunnels (the outer headers are what is
//! segmented, as the parser sees them), IPv4/IPv6 jumbograms (BIG TCP).
//!
//! No heap allocation and no panics on any input: every length comes from
//! the parser and is checked against the packet before a byte is written.
#![forbid(unsafe_code)]

mod chain;
mod error;

pub use chain::finish_checksum;
pub use error::GsoError;

use super::Framing;
use super::checksum;
use super::headers::{HeaderError, Headers, IpVersion, L4};
use super::offload_request::{parse_first_segment, pseudo_header_sum, store_l4_checksum};
use crate::packet::{BurstSlice, Checksum, GsoKind, Offload, Pkt};

use crate::wire::fields::{IPV6_HDR_LEN, TCP_CWR, TCP_FIN, TCP_PSH};

/// What to do with each segment's L4 checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SegmentChecksum {
    /// Computed in software: the segment goes out with a correct TCP/UDP
    /// checksum and no offload ([`Offload::NONE`]). For a port that cannot
    /// finish checksums.
    #[default]
    Complete,
    /// Left for the port: the field holds the segment's pseudo-header sum
    /// (as [`write_pseudo_header_checksum`](super::offload_request::write_pseudo_header_checksum)
    /// writes it) and the segment's offload is
    /// [`Checksum::Partial`] from the L4 header, with no segmentation. For a
    /// port that finishes checksums (a TAP device with `TUN_F_CSUM`); cheaper,
    /// the payload is not summed here.
    Partial,
}

/// Writes the segments of one packet with a segmentation request.
///
/// Made from the packet ([`Segmenter::new`]) and then given the same
/// packet on every call: it holds the parsed headers and where it is, not
/// a borrow, so the caller keeps the packet wherever it wants between
/// calls (and can stop after any segment and resume later).
///
/// ```
/// use tapring_core::wire::gso::{SegmentChecksum, Segmenter};
/// use tapring_core::wire::offload_request;
/// use tapring_core::{Framing, Pool, PoolConfig};
///
/// let pool = Pool::new(PoolConfig::standard(16))?;
/// let mut pkt = pool.alloc().expect("a fresh pool has free buffers");
/// // IPv4 (total length 20 + 20 + 1200), TCP (seq 1, ACK|PSH), 1200 bytes.
/// pkt.extend_from_slice(&[0x45, 0, 0x04, 0xd8, 0, 7, 0x40, 0, 64, 6, 0, 0])?;
/// pkt.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2])?;
/// pkt.extend_from_slice(&[0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0])?;
/// pkt.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0])?;
/// pkt.extend_from_slice(&[0xab; 1200])?;
/// offload_request::request_segmentation_framed(&mut pkt, 500, Framing::Ip)?;
///
/// // Out of a port of MTU 1500: segments of 500 payload bytes.
/// let mut seg = Segmenter::new(&pkt, Framing::Ip, 1500)?;
/// assert_eq!(seg.segments(), 3);
/// let mut lens = Vec::new();
/// while seg.remaining() > 0 {
///     let mut out = pkt.alloc_sibling().expect("the pool has room");
///     seg.next_into(&pkt, &mut out, SegmentChecksum::Complete)?;
///     lens.push(out.pkt_len());
/// }
/// assert_eq!(lens, [540, 540, 240]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segmenter {
    headers: Headers,
    /// Payload bytes per segment (all but the last).
    mss: usize,
    /// Payload bytes of the packet (after the headers).
    payload_len: usize,
    segments: usize,
    /// The segment the next call writes.
    next: usize,
    /// The packet's IPv4 ID (0 for IPv6) and TCP sequence number (0 for
    /// UDP), which each segment's are derived from.
    ipv4_id: u16,
    tcp_seq: u32,
    /// What identifies the packet, to refuse another one.
    src_buf: u32,
    src_len: usize,
}

impl Segmenter {
    /// Parses `pkt` (of `framing`) and plans its segments for an output
    /// that takes frames of at most `max_frame` bytes (its MTU plus the L2
    /// header and a VLAN tag, [`Framing::max_frame`]): for TCP `mss` is the
    /// request's size, or what the MTU leaves after the segment's L3 and
    /// L4 headers if that is smaller; a UDP datagram (USO) is never cut, so
    /// a UDP request larger than that is [`GsoError::MaxFrameTooSmall`].
    ///
    /// The headers must lie in the packet's first segment; the payload may
    /// be chained.
    ///
    /// # Errors
    ///
    /// [`GsoError::NotGso`] without a segmentation request;
    /// [`GsoError::UnsupportedKind`] for UFO; [`GsoError::ZeroSize`];
    /// [`GsoError::Headers`] when the headers do not parse (or are split
    /// over segments); [`GsoError::Fragment`]; [`GsoError::KindMismatch`]
    /// when the kind is not the protocol found; [`GsoError::LengthMismatch`]
    /// when the IPv4 total length, IPv6 payload length or UDP length is not
    /// the packet's; [`GsoError::RoutedIpv6`]; [`GsoError::MaxFrameTooSmall`].
    pub fn new(pkt: &Pkt, framing: Framing, max_frame: usize) -> Result<Segmenter, GsoError> {
        let gso = pkt.offload().gso.ok_or(GsoError::NotGso)?;
        if gso.kind == GsoKind::Udp {
            return Err(GsoError::UnsupportedKind { kind: gso.kind });
        }
        if gso.size == 0 {
            return Err(GsoError::ZeroSize);
        }
        let h = parse_first_segment(pkt, framing)?;
        match (gso.kind, h.ip(), h.l4()) {
            (_, _, l4 @ L4::Fragment { .. }) => return Err(GsoError::Fragment { l4 }),
            (GsoKind::Tcpv4, IpVersion::V4, L4::Tcp)
            | (GsoKind::Tcpv6, IpVersion::V6, L4::Tcp)
            | (GsoKind::UdpL4, _, L4::Udp) => {}
            (kind, ip, l4) => return Err(GsoError::KindMismatch { kind, ip, l4 }),
        }
        // The same checks the pseudo header of a checksum request needs:
        // length fields that describe the whole chain, no routing header in
        // the way. Each segment's fields are derived from these.
        pseudo_header_sum(pkt.data(), pkt.pkt_len(), &h).map_err(checks_error)?;
        let hdr_len = h.hdr_len();
        // `max_frame` allows a VLAN tag on a TAP (MTU + 18): a segment's IP
        // packet must still fit the MTU, tagged or not (and no frame may
        // pass `max_frame`, with two tags).
        let limit = (max_frame + h.l3_offset())
            .saturating_sub(framing.l2_overhead() as usize)
            .min(max_frame);
        let room = limit
            .checked_sub(hdr_len)
            .filter(|&room| room > 0)
            .ok_or(GsoError::MaxFrameTooSmall { max_frame, hdr_len })?;
        let mss = match gso.kind {
            // A TCP stream can be cut anywhere: a smaller output re-segments.
            GsoKind::Tcpv4 | GsoKind::Tcpv6 => usize::from(gso.size).min(room),
            // Each UDP segment is a datagram of the application's: never
            // cut one (Linux does not change a UDP gso_size either).
            _ if usize::from(gso.size) > room => {
                return Err(GsoError::MaxFrameTooSmall { max_frame, hdr_len });
            }
            _ => usize::from(gso.size),
        };
        let payload_len = pkt.pkt_len().saturating_sub(hdr_len);
        let first = pkt.data();
        let (l3, l4) = (h.l3_offset(), h.l4_offset());
        let ipv4_id = match h.ip() {
            IpVersion::V4 => be16(first, l3 + 4),
            IpVersion::V6 => 0,
        };
        let tcp_seq = match h.l4() {
            L4::Tcp => be32(first, l4 + 4),
            _ => 0,
        };
        Ok(Segmenter {
            headers: h,
            mss,
            payload_len,
            segments: payload_len.div_ceil(mss).max(1),
            next: 0,
            ipv4_id,
            tcp_seq,
            src_buf: pkt.buf_index(),
            src_len: pkt.pkt_len(),
        })
    }

    /// Segments the packet yields in all (at least 1).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Segments not written yet.
    pub fn remaining(&self) -> usize {
        self.segments - self.next
    }

    /// Payload bytes per segment (the last may carry fewer).
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// The packet's headers, as every segment repeats them.
    pub fn headers(&self) -> Headers {
        self.headers
    }

    /// Writes the next segment into `out`, a fresh empty packet with room
    /// for the segment (one from [`Pkt::alloc_sibling`] on `src`, which has
    /// room for any frame the pool takes), and sets its offload as `csum`
    /// says. `src` must be the packet given to [`Segmenter::new`]. `out`
    /// also gets `src`'s port and queue of arrival.
    ///
    /// # Errors
    ///
    /// [`GsoError::Done`] after the last segment; [`GsoError::SourceMismatch`]
    /// for another source packet; [`GsoError::OutNotEmpty`];
    /// [`GsoError::NoTailroom`] when the segment does not fit `out`. On
    /// error nothing is written and the segmenter stays where it is, so the
    /// segment can be written into another packet.
    pub fn next_into(
        &mut self,
        src: &Pkt,
        out: &mut Pkt,
        csum: SegmentChecksum,
    ) -> Result<(), GsoError> {
        if self.next >= self.segments {
            return Err(GsoError::Done);
        }
        if src.buf_index() != self.src_buf || src.pkt_len() != self.src_len {
            return Err(GsoError::SourceMismatch);
        }
        if !out.is_empty() || out.nb_segs() != 1 {
            return Err(GsoError::OutNotEmpty {
                len: out.pkt_len(),
                segments: out.nb_segs(),
            });
        }
        let hdr_len = self.headers.hdr_len();
        let i = self.next;
        let offset = i * self.mss;
        let chunk = self.mss.min(self.payload_len - offset);
        let seg_len = hdr_len + chunk;
        let have = out.tailroom();
        if seg_len > have {
            return Err(GsoError::NoTailroom {
                need: seg_len,
                have,
            });
        }
        let frame = out.append(seg_len).map_err(|_| GsoError::NoTailroom {
            need: seg_len,
            have,
        })?;
        let written = self.write_segment(src, frame, i, offset, csum);
        let off = match written {
            Ok(off) => off,
            Err(e) => {
                // Leave `out` empty, as it was.
                let _ = out.trim(seg_len);
                return Err(e);
            }
        };
        out.set_offload(off);
        out.set_origin(src.port(), src.queue());
        self.next += 1;
        Ok(())
    }

    /// Allocates segments from `src`'s pool ([`Pkt::alloc_sibling`]) and
    /// pushes them into `out` until the packet is done or the burst is
    /// full; returns how many were pushed. Call again (with room in the
    /// burst) while [`remaining`](Self::remaining) is not 0: a packet of
    /// more segments than a burst holds goes out over several bursts.
    ///
    /// ```
    /// # use tapring_core::wire::gso::{GsoError, SegmentChecksum, Segmenter};
    /// # use tapring_core::{Burst, Framing, Pkt};
    /// /// Segments `pkt` into `burst`, sending each time it fills.
    /// fn forward(
    ///     pkt: Pkt,
    ///     framing: Framing,
    ///     max_frame: usize,
    ///     burst: &mut Burst,
    ///     mut send: impl FnMut(&mut Burst),
    /// ) -> Result<(), GsoError> {
    ///     let mut seg = Segmenter::new(&pkt, framing, max_frame)?;
    ///     while seg.remaining() > 0 {
    ///         // PoolEmpty: the segments so far are in the burst; send them
    ///         // and retry, or give up (return the error) as here.
    ///         seg.push_into(&pkt, SegmentChecksum::Complete, burst)?;
    ///         send(burst);
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`GsoError::PoolEmpty`] when the pool has no buffer for the next
    /// segment; otherwise as [`next_into`](Self::next_into). The segments
    /// pushed before the error stay in `out`, and the segmenter resumes at
    /// the one that failed.
    pub fn push_into(
        &mut self,
        src: &Pkt,
        csum: SegmentChecksum,
        out: &mut BurstSlice,
    ) -> Result<usize, GsoError> {
        let mut pushed = 0;
        while self.remaining() > 0 && !out.is_full() {
            let mut seg = src.alloc_sibling().ok_or(GsoError::PoolEmpty)?;
            self.next_into(src, &mut seg, csum)?;
            if out.push(seg).is_err() {
                // Not full a moment ago and only this thread holds `out`.
                self.next -= 1;
                break;
            }
            pushed += 1;
        }
        Ok(pushed)
    }

    /// Fills `frame` (the segment's bytes in the output packet) with
    /// segment `i`, whose payload starts `offset` bytes into the packet's
    /// payload, and returns its offload.
    fn write_segment(
        &self,
        src: &Pkt,
        frame: &mut [u8],
        i: usize,
        offset: usize,
        csum: SegmentChecksum,
    ) -> Result<Offload, GsoError> {
        let hdr_len = self.headers.hdr_len();
        // The first segment may have been edited since new(): check again
        // rather than index past it.
        let headers = src.data().get(..hdr_len).ok_or(GsoError::SourceMismatch)?;
        let (head, payload) = frame.split_at_mut(hdr_len);
        head.copy_from_slice(headers);
        if chain::copy_range(src, hdr_len + offset, payload) != payload.len() {
            return Err(GsoError::SourceMismatch);
        }
        self.patch_headers(frame, i, offset, i + 1 == self.segments);
        finish_l4_checksum(frame, &self.headers, csum)
    }

    /// Sets the IP and L4 fields of segment `i` (payload at `offset`,
    /// `last` or not) in `frame`, a copy of the packet's headers followed
    /// by the segment's payload.
    fn patch_headers(&self, frame: &mut [u8], i: usize, offset: usize, last: bool) {
        let h = &self.headers;
        let (l3, l4, seg_len) = (h.l3_offset(), h.l4_offset(), frame.len());
        // Lengths fit 16 bits: each is at most the packet's own, which new()
        // checked against its 16-bit field.
        match h.ip() {
            IpVersion::V4 => {
                put16(frame, l3 + 2, (seg_len - l3) as u16);
                put16(frame, l3 + 4, self.ipv4_id.wrapping_add(i as u16));
                put16(frame, l3 + 10, 0);
                let c = checksum::checksum(&frame[l3..l4]);
                put16(frame, l3 + 10, c);
            }
            IpVersion::V6 => put16(frame, l3 + 4, (seg_len - l3 - IPV6_HDR_LEN) as u16),
        }
        match h.l4() {
            L4::Tcp => {
                let seq = self.tcp_seq.wrapping_add(offset as u32);
                frame[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                let mut clear = 0;
                if !last {
                    clear |= TCP_FIN | TCP_PSH;
                }
                if i != 0 {
                    clear |= TCP_CWR;
                }
                frame[l4 + 13] &= !clear;
            }
            _ => put16(frame, l4 + 4, (seg_len - l4) as u16),
        }
    }
}

/// The errors of the length and routing checks, as segmentation errors.
fn checks_error(e: HeaderError) -> GsoError {
    match e {
        HeaderError::LengthMismatch {
            field,
            declared,
            actual,
        } => GsoError::LengthMismatch {
            field,
            declared,
            actual,
        },
        HeaderError::RoutedIpv6 { segments_left } => GsoError::RoutedIpv6 { segments_left },
        e => GsoError::Headers(e),
    }
}

/// Writes the L4 checksum of a segment as `csum` asks and returns the
/// segment's offload.
fn finish_l4_checksum(
    frame: &mut [u8],
    h: &Headers,
    csum: SegmentChecksum,
) -> Result<Offload, GsoError> {
    let pseudo = pseudo_header_sum(frame, frame.len(), h).map_err(checks_error)?;
    store_l4_checksum(frame, h, pseudo)?;
    let l4 = h.l4_offset();
    let offset = h.csum_offset()?;
    match csum {
        SegmentChecksum::Partial => Ok(Offload {
            csum: Checksum::Partial {
                start: l4 as u16,
                offset,
            },
            gso: None,
        }),
        SegmentChecksum::Complete => {
            // The field holds the pseudo-header sum: summing it with the
            // rest is the checksum over pseudo header, header and payload.
            let value = match checksum::checksum(&frame[l4..]) {
                0 => 0xffff,
                c => c,
            };
            store_l4_checksum(frame, h, value)?;
            Ok(Offload::NONE)
        }
    }
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn put16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests;
