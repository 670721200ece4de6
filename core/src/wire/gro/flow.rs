//! One flow being coalesced: which packets belong to it, whether a packet
//! continues it, and building the super-frame when it is finished.

use super::candidate::{
    Candidate, Proto, Reason, TCP_FIN, TCP_PSH, be16, byte, field, pseudo_header,
};
use super::{GroLimits, MAX_IP_LEN};
use crate::packet::{Checksum, Gso, GsoKind, MAX_SEGS, Offload, Pkt};
use crate::wire::checksum;
use crate::wire::headers::{Headers, IpVersion};
use crate::wire::offload_request::USO_MAX_SEGMENTS;
use crate::wire::vnet::{TCP_CSUM_OFFSET, UDP_CSUM_OFFSET};

use crate::wire::fields::{IPV6_HDR_LEN, TCP_MIN_HDR_LEN};

/// How the IPv4 IDs of a flow's segments go on from the head's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdRule {
    /// Nothing merged yet: either.
    Open,
    /// One more per segment.
    Incrementing,
    /// The head's in every segment (only with DF, as Linux allows).
    Fixed,
}

/// What merging a packet changes in its flow, as [`Flow::check`] found.
#[derive(Clone, Copy, Debug)]
pub(super) struct Merge {
    c: Candidate,
    id_rule: IdRule,
}

/// A flow: its head (the first packet, which stays in its slot and becomes
/// the super-frame) and the burst positions of the packets merged into it,
/// which stay in their slots until the flow is finished.
#[derive(Debug)]
pub(super) struct Flow {
    /// Burst position of the head.
    pub(super) head: usize,
    /// The head, classified.
    first: Candidate,
    /// When the flow was opened (for evicting the oldest).
    pub(super) opened: u64,
    /// Whether the head was counted in the report already (it started the
    /// flow after failing to continue another), so that a bad checksum
    /// found later does not count it twice.
    pub(super) head_counted: bool,
    /// Burst positions of the packets merged, in order.
    members: [usize; MAX_SEGS],
    merged: usize,
    /// Bytes of the super-frame so far.
    len: usize,
    /// Buffers of the super-frame so far.
    segs: usize,
    /// The TCP sequence number the next segment must have.
    next_seq: u32,
    id_rule: IdRule,
    /// TCP flags of the last packet merged (its PSH/FIN go to the
    /// super-frame).
    last_flags: u8,
}

impl Flow {
    /// A flow of the one packet `c` at burst position `at`, counted in the
    /// report already when `head_counted`.
    pub(super) fn start(at: usize, c: Candidate, opened: u64, head_counted: bool) -> Flow {
        Flow {
            head: at,
            first: c,
            opened,
            head_counted,
            members: [0; MAX_SEGS],
            merged: 0,
            len: c.len,
            segs: c.segs,
            next_seq: c.seq.wrapping_add(c.payload as u32),
            id_rule: IdRule::Open,
            last_flags: c.flags,
        }
    }

    /// The head, classified.
    pub(super) fn first(&self) -> &Candidate {
        &self.first
    }

    /// Whether a packet whose headers `h` lie in `b` is of this flow (whose
    /// head is `head`): the same link-layer bytes, IP version, addresses,
    /// protocol, ports, and IPv6 flow label.
    pub(super) fn same_flow(&self, head: &Pkt, b: &[u8], h: &Headers) -> bool {
        let f = &self.first.h;
        if (f.l3_offset(), f.ip(), f.l4()) != (h.l3_offset(), h.ip(), h.l4()) {
            return false;
        }
        let a = head.data();
        let l3 = f.l3_offset();
        let same =
            |a_at: usize, b_at: usize, len: usize| match (field(a, a_at, len), field(b, b_at, len))
            {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
        let ip_same = match f.ip() {
            // Addresses.
            IpVersion::V4 => same(l3 + 12, l3 + 12, 8),
            // Flow label (the low 20 bits of the first word), addresses.
            IpVersion::V6 => {
                let label = |d: &[u8]| field(d, l3 + 1, 3).map(|l| [l[0] & 0x0f, l[1], l[2]]);
                label(a).is_ok_and(|l| label(b) == Ok(l)) && same(l3 + 8, l3 + 8, 32)
            }
        };
        same(0, 0, l3) && ip_same && same(f.l4_offset(), h.l4_offset(), 4)
    }

    /// Whether candidate `c` (packet `pkt`, of this flow) continues the
    /// flow headed by `head`; if not, why.
    pub(super) fn check(
        &self,
        head: &Pkt,
        pkt: &Pkt,
        c: &Candidate,
        limits: &GroLimits,
    ) -> Result<Merge, Reason> {
        let (a, b) = (head.data(), pkt.data());
        let f = &self.first;
        let (l3, l4) = (f.h.l3_offset(), f.h.l4_offset());
        if !head.same_pool(pkt) {
            return Err(Reason::ForeignPool);
        }
        match f.h.ip() {
            IpVersion::V4 => {
                // TOS; flags and fragment offset (DF and the reserved bit,
                // no fragments here); TTL.
                if byte(a, l3 + 1)? != byte(b, l3 + 1)?
                    || be16(a, l3 + 6)? != be16(b, l3 + 6)?
                    || byte(a, l3 + 8)? != byte(b, l3 + 8)?
                {
                    return Err(Reason::IpFieldsDiffer);
                }
            }
            IpVersion::V6 => {
                // Version, traffic class, flow label (already the same);
                // hop limit.
                if field(a, l3, 4)? != field(b, l3, 4)? || byte(a, l3 + 7)? != byte(b, l3 + 7)? {
                    return Err(Reason::IpFieldsDiffer);
                }
            }
        }
        if f.proto == Proto::Tcp {
            // Every flag but CWR (never here), PSH and FIN as the head's.
            if (c.flags ^ f.flags) & !(TCP_PSH | TCP_FIN) != 0 {
                return Err(Reason::Flags);
            }
            // Acknowledgment number; window.
            if field(a, l4 + 8, 4)? != field(b, l4 + 8, 4)?
                || field(a, l4 + 14, 2)? != field(b, l4 + 14, 2)?
            {
                return Err(Reason::AckOrWindowDiffer);
            }
            // Data offset (and the reserved bits beside it); options.
            let options = f.h.l4_hdr_len() - TCP_MIN_HDR_LEN.min(f.h.l4_hdr_len());
            if byte(a, l4 + 12)? != byte(b, l4 + 12)?
                || field(a, l4 + TCP_MIN_HDR_LEN, options)?
                    != field(b, l4 + TCP_MIN_HDR_LEN, options)?
            {
                return Err(Reason::OptionsDiffer);
            }
            if c.seq != self.next_seq {
                return Err(Reason::OutOfOrder);
            }
        }
        // After the sequence number: a lost or reordered segment breaks
        // the IDs too, and is better counted as what it is.
        let id_rule = self.id_rule_after(a, c)?;
        if c.payload > f.payload {
            return Err(Reason::SizeMismatch);
        }
        let len = self.len.checked_add(c.payload).ok_or(Reason::TooBig)?;
        let segs = self.segs.checked_add(c.segs).ok_or(Reason::TooBig)?;
        let datagrams = self.merged + 2;
        if len > limits.max_len
            || len - l3 > MAX_IP_LEN
            || segs > limits.max_segs
            || self.merged + 1 >= MAX_SEGS
            || (f.proto == Proto::Udp && datagrams > USO_MAX_SEGMENTS)
        {
            return Err(Reason::TooBig);
        }
        Ok(Merge { c: *c, id_rule })
    }

    /// How the IPv4 IDs go on if candidate `c` merges (IPv6 has none):
    /// the next in the count, or the head's with DF.
    fn id_rule_after(&self, head: &[u8], c: &Candidate) -> Result<IdRule, Reason> {
        let f = &self.first;
        if f.h.ip() == IpVersion::V6 {
            return Ok(IdRule::Open);
        }
        let df = be16(head, f.h.l3_offset() + 6)? & 0x4000 != 0;
        let next_id = f.ip_id.wrapping_add((self.merged + 1) as u16);
        match self.id_rule {
            IdRule::Open | IdRule::Incrementing if c.ip_id == next_id => Ok(IdRule::Incrementing),
            IdRule::Open | IdRule::Fixed if df && c.ip_id == f.ip_id => Ok(IdRule::Fixed),
            _ => Err(Reason::IpFieldsDiffer),
        }
    }

    /// Merges the packet at burst position `at` (checked by
    /// [`check`](Self::check)); returns true when that finishes the flow
    /// (a shorter segment, PSH or FIN).
    pub(super) fn add(&mut self, at: usize, m: Merge) -> bool {
        let Some(slot) = self.members.get_mut(self.merged) else {
            return true;
        };
        *slot = at;
        // Both checksums were verified before the merge was decided.
        self.first.checksum_known_good = true;
        self.merged += 1;
        self.len += m.c.payload;
        self.segs += m.c.segs;
        self.next_seq = self.next_seq.wrapping_add(m.c.payload as u32);
        self.id_rule = m.id_rule;
        self.last_flags = m.c.flags;
        m.c.payload < self.first.payload || m.c.ends_flow()
    }

    /// Builds the super-frame in the head's slot: the merged packets leave
    /// their slots, lose their headers and are chained onto the head, whose
    /// headers and offload are rewritten. Returns whether a super-frame was
    /// built (not when nothing merged: the head stays as it was).
    pub(super) fn finish(self, slots: &mut [Option<Pkt>]) -> bool {
        let members = &self.members[..self.merged];
        if members.is_empty() {
            return false;
        }
        let hdr_len = self.first.h.hdr_len();
        // Chain from the back, so each `chain` walks one packet's own
        // segments rather than the growing chain: linear in the buffers.
        let mut tail: Option<(usize, Pkt)> = None;
        for &at in members.iter().rev() {
            let Some(mut pkt) = slots.get_mut(at).and_then(Option::take) else {
                continue;
            };
            if pkt.adj(hdr_len).is_err() {
                // Checked when it merged (the headers lie in the first
                // buffer); never here.
                restore(slots, at, pkt);
                continue;
            }
            if let Some((tail_at, rest)) = tail.take()
                && let Err((_, rest)) = pkt.chain(rest)
            {
                // Same pool and within MAX_SEGS were checked; never here.
                restore(slots, tail_at, rest);
            }
            tail = Some((at, pkt));
        }
        let Some(head) = slots.get_mut(self.head).and_then(Option::as_mut) else {
            if let Some((at, rest)) = tail {
                restore(slots, at, rest);
            }
            return false;
        };
        if let Some((at, rest)) = tail
            && let Err((_, rest)) = head.chain(rest)
        {
            restore(slots, at, rest);
            return false;
        }
        self.rewrite_head(head).is_ok()
    }

    /// Rewrites the head's length fields, flags, checksums and offload for
    /// the chain it now is.
    fn rewrite_head(&self, head: &mut Pkt) -> Result<(), Reason> {
        let f = &self.first;
        let (l3, l4) = (f.h.l3_offset(), f.h.l4_offset());
        let total = head.pkt_len();
        let l4_len = total.checked_sub(l4).ok_or(Reason::Malformed)?;
        let data = head.data_mut();
        match f.h.ip() {
            IpVersion::V4 => {
                let ip_len = u16::try_from(total - l3).map_err(|_| Reason::TooBig)?;
                put16(data, l3 + 2, ip_len)?;
                put16(data, l3 + 10, 0)?;
                let c = checksum::checksum(field(data, l3, 20)?);
                put16(data, l3 + 10, c)?;
            }
            IpVersion::V6 => {
                let payload = total - l3 - IPV6_HDR_LEN.min(total - l3);
                put16(
                    data,
                    l3 + 4,
                    u16::try_from(payload).map_err(|_| Reason::TooBig)?,
                )?;
            }
        }
        let csum_offset = match f.proto {
            Proto::Tcp => {
                let flags = data.get_mut(l4 + 13).ok_or(Reason::Malformed)?;
                *flags |= self.last_flags & (TCP_PSH | TCP_FIN);
                TCP_CSUM_OFFSET
            }
            Proto::Udp => {
                put16(
                    data,
                    l4 + 4,
                    u16::try_from(l4_len).map_err(|_| Reason::TooBig)?,
                )?;
                UDP_CSUM_OFFSET
            }
        };
        let sum = checksum::fold(pseudo_header(data, &f.h, f.proto, l4_len)?);
        put16(data, l4 + usize::from(csum_offset), sum)?;
        let kind = match (f.proto, f.h.ip()) {
            (Proto::Tcp, IpVersion::V4) => GsoKind::Tcpv4,
            (Proto::Tcp, IpVersion::V6) => GsoKind::Tcpv6,
            (Proto::Udp, _) => GsoKind::UdpL4,
        };
        // Both fit: the headers are within the first buffer, and the
        // payload within 65535 IP bytes.
        let to_u16 = |v: usize| u16::try_from(v).map_err(|_| Reason::TooBig);
        head.set_offload(Offload {
            csum: Checksum::Partial {
                start: to_u16(l4)?,
                offset: csum_offset,
            },
            gso: Some(Gso {
                kind,
                size: to_u16(f.payload)?,
                hdr_len: to_u16(f.h.hdr_len())?,
                ecn: false,
            }),
        });
        Ok(())
    }
}

/// Puts a packet back into its slot, unmerged (the paths that call this
/// are excluded by the checks before a merge; they keep every buffer in
/// the burst all the same).
fn restore(slots: &mut [Option<Pkt>], at: usize, pkt: Pkt) {
    debug_assert!(false, "a checked merge failed");
    if let Some(slot) = slots.get_mut(at) {
        *slot = Some(pkt);
    }
}

fn put16(data: &mut [u8], at: usize, value: u16) -> Result<(), Reason> {
    data.get_mut(at..at + 2)
        .ok_or(Reason::Malformed)?
        .copy_from_slice(&value.to_be_bytes());
    Ok(())
}
