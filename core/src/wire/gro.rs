//! Software receive offload (GRO): coalescing a burst's consecutive
//! segments of one TCP flow (and, on request, same-size UDP datagrams of
//! one flow) into a super-frame with a segmentation request, so a port
//! that takes GSO frames (a virtio-net header) hands the receiving kernel
//! one large packet instead of dozens.
//!
//! [`Coalescer::coalesce`] works on a burst in place, without copying
//! payload and without allocating: a segment that merges has its headers
//! [adjusted](crate::Pkt::adj) away and is [chained](crate::Pkt::chain)
//! onto the flow's first segment (the *head*), which keeps its place in
//! the burst; everything else stays where it was, in order. Nothing is
//! held back between calls: every flow is finished when the call returns.
//!
//! # What merges
//!
//! The rules are those of Linux's `inet_gro_receive`, `ipv6_gro_receive`,
//! `tcp_gro_receive` and `udp_gro_receive_segment`:
//!
//! * **One flow**: identical link-layer bytes (MAC addresses, VLAN tags,
//!   EtherType; none on a TUN port, [`Framing::Ip`]), IP version,
//!   addresses, protocol and ports, and for IPv6 the flow label.
//! * **IP**: IPv4 without options (`0x45`), not a fragment, the same TOS,
//!   TTL and flags (DF); the IPv4 ID one more than the previous segment's
//!   or, with DF, the same for every segment. IPv6 without extension
//!   headers, the same traffic class and hop limit.
//! * **TCP**: the same acknowledgment number, window, data offset and
//!   option bytes (timestamps included); flags equal but for CWR, PSH and
//!   FIN. SYN, RST, URG and CWR never merge (and never start a
//!   super-frame: a CWR head would need the ECN bit of the request, which
//!   a merge with its followers would lose). A segment with PSH or FIN
//!   merges as the last one: the flow is finished with it, and the
//!   super-frame carries that PSH/FIN. The sequence number continues the
//!   head's (`seq == head seq + payload merged`), the payload is not
//!   empty, and every segment has the head's payload length (the segment
//!   size) except the last, which may be shorter and then finishes the
//!   flow; a longer one does not merge.
//! * **UDP** (only with [`GroLimits::udp`]): datagrams of the head's size
//!   except a shorter last one, which finishes the flow; at most
//!   [`USO_MAX_SEGMENTS`] per super-frame.
//! * **Checksums known good**: a packet whose Rx offload says the kernel
//!   vouched for it ([`Checksum::Valid`], or [`Checksum::Partial`] at its
//!   own L4 checksum field) or whose L4 checksum verifies in software; the
//!   IPv4 header checksum is always verified. The L4 checksum is verified
//!   only when the packet is about to merge (the head's when the first
//!   packet merges into it): a packet that stays alone goes on as it came,
//!   checksum unread, for its receiver to verify, so traffic that does not
//!   coalesce (requests and replies, small writes) costs no checksum pass.
//!   A packet that carries a segmentation report already (`gso: Some`) is
//!   left alone.
//! * **Lengths**: the IP length fields (and the UDP length) must describe
//!   exactly the packet's bytes. A frame with Ethernet padding (a segment
//!   of less than 6 payload bytes on a TAP port) is not merged: Linux's GRO
//!   flushes on the same mismatch.
//! * **Limits**: the super-frame stays within [`GroLimits::max_len`] and
//!   [`GroLimits::max_segs`] buffers and its IP length fields within
//!   65535; all its buffers come from one pool.
//!
//! A packet of a flow being coalesced that cannot merge (for any of the
//! reasons above) finishes the flow's super-frame, and may start the next
//! one itself: a flow's packets never overtake each other, as in Linux,
//! where such a packet flushes the held one. Flows are tracked in a table
//! of `FLOWS` entries; when it is full, the flow started first is finished
//! early to make room ([`GroReport::evicted`]).
//!
//! # The super-frame
//!
//! Built only when at least two packets merged (a packet nothing merged
//! into is left as it was, bytes and offload): the head's headers with the
//! IPv4 total length and header checksum, or the IPv6 payload length (and
//! the UDP length) made to cover the chain; TCP flags the head's plus PSH
//! and FIN of the last segment merged; the L4 checksum field holding the
//! pseudo-header sum over the new length, not complemented, as
//! [`write_pseudo_header_checksum`](super::offload_request::write_pseudo_header_checksum)
//! writes it; offload [`Checksum::Partial`] at the L4 checksum and
//! [`Gso`] of kind [`GsoKind::Tcpv4`] / [`GsoKind::Tcpv6`] /
//! [`GsoKind::UdpL4`], `size` the head's payload length, `hdr_len` its
//! headers' length, `ecn` false.
//!
//! # Example
//!
//! ```
//! use tapring_core::wire::gro::{Coalescer, GroLimits};
//! use tapring_core::{Burst, Framing};
//!
//! let mut gro: Coalescer = Coalescer::new();
//! let mut burst: Burst<64> = Burst::new();
//! // ... rx_burst into `burst` ...
//! let report = gro.coalesce(&mut burst, Framing::Ethernet, &GroLimits::new(Framing::Ethernet));
//! assert_eq!((report.merged, report.coalesced), (0, 0));
//! ```
#![forbid(unsafe_code)]

mod candidate;
mod flow;

use candidate::{Candidate, Reason};
use flow::Flow;

use super::Framing;
use super::offload_request::USO_MAX_SEGMENTS;
use crate::packet::{BurstSlice, MAX_SEGS, Pkt};
#[cfg(doc)]
use crate::packet::{Checksum, Gso, GsoKind};

/// How large a super-frame may grow, and what may be coalesced: what the
/// port the super-frames are written to accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroLimits {
    /// The largest super-frame in bytes, link-layer header included. The
    /// IP length fields limit it further (65535 IP bytes).
    pub max_len: usize,
    /// The most buffers one super-frame may chain (at most [`MAX_SEGS`];
    /// more is taken as [`MAX_SEGS`]).
    pub max_segs: usize,
    /// Also coalesce UDP datagrams into UDP segmentation (USO) requests:
    /// only for a port that takes `VIRTIO_NET_HDR_GSO_UDP_L4`.
    pub udp: bool,
}

impl GroLimits {
    /// TCP only, up to 65535 IP bytes plus the link-layer header of
    /// `framing` (an Ethernet header and one VLAN tag) and [`MAX_SEGS`]
    /// buffers.
    pub const fn new(framing: Framing) -> GroLimits {
        GroLimits {
            max_len: MAX_IP_LEN + framing.l2_overhead() as usize,
            max_segs: MAX_SEGS,
            udp: false,
        }
    }
}

/// The most bytes an IP length field can describe: the IPv4 total length,
/// the IPv6 header plus its payload length (jumbograms aside).
const MAX_IP_LEN: usize = 65_535;

/// What one [`Coalescer::coalesce`] call did: packets merged and
/// super-frames built, and, for packets that did not merge, why (each
/// such packet is counted once, under the first reason found).
///
/// A packet that started a flow and had nothing merged into it is not
/// counted anywhere: it is a lone segment, not a failure (unless its L4
/// checksum failed when the next packet was to merge into it: then it is
/// counted under [`bad_checksum`](Self::bad_checksum)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroReport {
    /// Packets absorbed into another (they left the burst).
    pub merged: usize,
    /// Super-frames built (heads with at least one packet merged).
    pub coalesced: usize,
    /// Not TCP (nor UDP with [`GroLimits::udp`]): another protocol, an IP
    /// fragment, or not IP at all.
    pub other_protocol: usize,
    /// IPv4 options or IPv6 extension headers.
    pub ip_options: usize,
    /// Headers that do not parse, headers that continue past the first
    /// buffer, or IP/UDP length fields that disagree with the packet's
    /// length (Ethernet padding included).
    pub malformed: usize,
    /// An IPv4 header checksum that does not verify, or the L4 checksum of
    /// a packet that was about to merge (with the packet before it, or the
    /// packet after it into it). A lone packet's L4 checksum is not read,
    /// so a bad one is not counted here: it goes on unmerged, and its
    /// receiver drops it.
    pub bad_checksum: usize,
    /// A segmentation report (`gso`) already, or a partial checksum that is
    /// not at the packet's L4 checksum field.
    pub offloaded: usize,
    /// No payload (a pure ACK, an empty datagram).
    pub no_payload: usize,
    /// SYN, RST, URG or CWR set, or flags other than PSH/FIN different from
    /// the head's.
    pub flags: usize,
    /// TOS, TTL, flags or ID (IPv4), traffic class or hop limit (IPv6)
    /// that do not continue the head's.
    pub ip_fields_differ: usize,
    /// A TCP acknowledgment number or window different from the head's.
    pub ack_or_window_differ: usize,
    /// A TCP data offset or option bytes different from the head's.
    pub options_differ: usize,
    /// A TCP sequence number that does not continue the flow (out of
    /// order, overlapping, a retransmission).
    pub out_of_order: usize,
    /// A payload longer than the head's (the segment size).
    pub size_mismatch: usize,
    /// The super-frame would exceed [`GroLimits::max_len`],
    /// [`GroLimits::max_segs`], 65535 IP bytes or (UDP)
    /// [`USO_MAX_SEGMENTS`] datagrams.
    pub too_big: usize,
    /// A buffer from another pool than the head's (chains are of one pool).
    pub foreign_pool: usize,
    /// Flows finished early because the flow table was full (flows, not
    /// packets).
    pub evicted: usize,
}

impl GroReport {
    /// Adds the counts of `other`, for totals over many bursts.
    pub fn add(&mut self, other: &GroReport) {
        let GroReport {
            merged,
            coalesced,
            other_protocol,
            ip_options,
            malformed,
            bad_checksum,
            offloaded,
            no_payload,
            flags,
            ip_fields_differ,
            ack_or_window_differ,
            options_differ,
            out_of_order,
            size_mismatch,
            too_big,
            foreign_pool,
            evicted,
        } = *other;
        self.merged += merged;
        self.coalesced += coalesced;
        self.other_protocol += other_protocol;
        self.ip_options += ip_options;
        self.malformed += malformed;
        self.bad_checksum += bad_checksum;
        self.offloaded += offloaded;
        self.no_payload += no_payload;
        self.flags += flags;
        self.ip_fields_differ += ip_fields_differ;
        self.ack_or_window_differ += ack_or_window_differ;
        self.options_differ += options_differ;
        self.out_of_order += out_of_order;
        self.size_mismatch += size_mismatch;
        self.too_big += too_big;
        self.foreign_pool += foreign_pool;
        self.evicted += evicted;
    }

    /// Packets that did not merge, all reasons together (not counting
    /// [`evicted`](Self::evicted) flows).
    pub fn not_merged(&self) -> usize {
        self.other_protocol
            + self.ip_options
            + self.malformed
            + self.bad_checksum
            + self.offloaded
            + self.no_payload
            + self.flags
            + self.ip_fields_differ
            + self.ack_or_window_differ
            + self.options_differ
            + self.out_of_order
            + self.size_mismatch
            + self.too_big
            + self.foreign_pool
    }

    fn count(&mut self, reason: Reason) {
        let counter = match reason {
            Reason::OtherProtocol => &mut self.other_protocol,
            Reason::IpOptions => &mut self.ip_options,
            Reason::Malformed => &mut self.malformed,
            Reason::BadChecksum => &mut self.bad_checksum,
            Reason::Offloaded => &mut self.offloaded,
            Reason::NoPayload => &mut self.no_payload,
            Reason::Flags => &mut self.flags,
            Reason::IpFieldsDiffer => &mut self.ip_fields_differ,
            Reason::AckOrWindowDiffer => &mut self.ack_or_window_differ,
            Reason::OptionsDiffer => &mut self.options_differ,
            Reason::OutOfOrder => &mut self.out_of_order,
            Reason::SizeMismatch => &mut self.size_mismatch,
            Reason::TooBig => &mut self.too_big,
            Reason::ForeignPool => &mut self.foreign_pool,
        };
        *counter += 1;
    }
}

/// The coalescer: a table of `FLOWS` flows being coalesced, reused by every
/// call (no allocation; a few KiB, so keep one per forwarding loop rather
/// than on a deep stack).
///
/// `FLOWS` bounds how many flows of one burst coalesce at the same time
/// (Linux keeps 8 per hash bucket); with more interleaved flows, the oldest
/// is finished early ([`GroReport::evicted`]).
pub struct Coalescer<const FLOWS: usize = 8> {
    flows: [Option<Flow>; FLOWS],
    /// Opening order, to find the oldest flow to evict.
    clock: u64,
}

impl<const FLOWS: usize> Default for Coalescer<FLOWS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const FLOWS: usize> core::fmt::Debug for Coalescer<FLOWS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Coalescer").field("flows", &FLOWS).finish()
    }
}

/// What to do with the packet at hand, decided while the burst is only
/// read.
enum Step {
    /// Not coalescable, and no flow of it is open.
    Skip(Reason),
    /// Not coalescable; finish its flow `flow` (so nothing overtakes it).
    SkipAndFinish(Reason, usize),
    /// Merge into flow `flow`.
    Merge(usize, flow::Merge),
    /// Finish flow `flow` (the packet does not continue it, for `Reason`),
    /// then let the packet start the flow again.
    Restart(Reason, usize, Candidate),
    /// The head of flow `flow` failed its checksum when the packet was to
    /// merge into it: finish the flow (nothing merged into that head), then
    /// let the packet start the flow again.
    HeadBad(usize, Candidate),
    /// Start a new flow.
    Open(Candidate),
}

impl<const FLOWS: usize> Coalescer<FLOWS> {
    /// An empty coalescer.
    pub const fn new() -> Self {
        Coalescer {
            flows: [const { None }; FLOWS],
            clock: 0,
        }
    }

    /// Coalesces the packets of `burst`, which start as `framing` says, in
    /// place: see the [module documentation](self) for what merges and
    /// what a super-frame looks like. Every buffer stays in the burst
    /// (owned by the head a packet merged into, or by the packet itself);
    /// the burst gets shorter by [`GroReport::merged`].
    ///
    /// Never panics, whatever the packets hold.
    pub fn coalesce(
        &mut self,
        burst: &mut BurstSlice,
        framing: Framing,
        limits: &GroLimits,
    ) -> GroReport {
        let mut report = GroReport::default();
        self.flows = [const { None }; FLOWS];
        let limits = GroLimits {
            max_segs: limits.max_segs.min(MAX_SEGS),
            ..*limits
        };
        let slots = burst.slots_mut();
        for at in 0..slots.len() {
            match self.step(slots, at, framing, &limits) {
                None => {}
                Some(Step::Skip(reason)) => report.count(reason),
                Some(Step::SkipAndFinish(reason, f)) => {
                    report.count(reason);
                    self.finish(f, slots, &mut report);
                }
                Some(Step::Merge(f, merge)) => {
                    report.merged += 1;
                    if let Some(flow) = &mut self.flows[f]
                        && flow.add(at, merge)
                    {
                        self.finish(f, slots, &mut report);
                    }
                }
                Some(Step::Restart(reason, f, c)) => {
                    report.count(reason);
                    self.finish(f, slots, &mut report);
                    self.open_at(f, at, c, true);
                }
                Some(Step::HeadBad(f, c)) => {
                    if self.flows[f]
                        .as_ref()
                        .is_some_and(|flow| !flow.head_counted)
                    {
                        report.count(Reason::BadChecksum);
                    }
                    self.finish(f, slots, &mut report);
                    self.open_at(f, at, c, false);
                }
                Some(Step::Open(c)) => self.open(slots, at, c, &mut report),
            }
        }
        for f in 0..FLOWS {
            self.finish(f, slots, &mut report);
        }
        burst.close_gaps();
        report
    }

    /// Classifies the packet at `at` against the open flows.
    fn step(
        &self,
        slots: &[Option<Pkt>],
        at: usize,
        framing: Framing,
        limits: &GroLimits,
    ) -> Option<Step> {
        let pkt = slots.get(at)?.as_ref()?;
        let classified = candidate::classify(pkt, framing, limits.udp);
        let open = classified.flow_headers.and_then(|h| {
            self.flows.iter().position(|f| {
                f.as_ref().is_some_and(|f| {
                    head_of(slots, f)
                        .is_some_and(|head| f.same_flow(head, classified.header_bytes(pkt), &h))
                })
            })
        });
        Some(match (classified.verdict, open) {
            (Err(reason), None) => Step::Skip(reason),
            (Err(reason), Some(f)) => Step::SkipAndFinish(reason, f),
            (Ok(c), None) => Step::Open(c),
            (Ok(c), Some(f)) => {
                let flow = self.flows[f].as_ref()?;
                let head = head_of(slots, flow)?;
                match flow.check(head, pkt, &c, limits) {
                    // Checksums last, and only now: the dearest check,
                    // made only for packets that would merge.
                    Ok(_) if !candidate::verify_l4(head, flow.first()) => Step::HeadBad(f, c),
                    Ok(_) if !candidate::verify_l4(pkt, &c) => {
                        Step::SkipAndFinish(Reason::BadChecksum, f)
                    }
                    Ok(merge) => Step::Merge(f, merge),
                    Err(reason) => Step::Restart(reason, f, c),
                }
            }
        })
    }

    /// Lets the packet at `at` start a flow, in a free entry or in the
    /// oldest one's (finished early).
    fn open(&mut self, slots: &mut [Option<Pkt>], at: usize, c: Candidate, report: &mut GroReport) {
        if !c.can_head() {
            return;
        }
        let entry = match self.flows.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                let Some((oldest, _)) = self
                    .flows
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, f)| f.as_ref().map_or(0, |f| f.opened))
                else {
                    return; // a table of no flows coalesces nothing
                };
                report.evicted += 1;
                self.finish(oldest, slots, report);
                oldest
            }
        };
        self.open_at(entry, at, c, false);
    }

    /// Starts a flow headed by the packet at `at` in entry `entry` (free);
    /// `counted` when the packet was counted in the report already.
    fn open_at(&mut self, entry: usize, at: usize, c: Candidate, counted: bool) {
        if c.can_head() {
            self.clock = self.clock.wrapping_add(1);
            self.flows[entry] = Some(Flow::start(at, c, self.clock, counted));
        }
    }

    /// Finishes the flow in entry `f`, if any, building its super-frame.
    fn finish(&mut self, f: usize, slots: &mut [Option<Pkt>], report: &mut GroReport) {
        if let Some(flow) = self.flows.get_mut(f).and_then(Option::take)
            && flow.finish(slots)
        {
            report.coalesced += 1;
        }
    }
}

/// The head packet of `flow`, still in its slot.
fn head_of<'a>(slots: &'a [Option<Pkt>], flow: &Flow) -> Option<&'a Pkt> {
    slots.get(flow.head)?.as_ref()
}

// The segment count limit of UDP super-frames is the kernel's, kept within
// what one chain can hold anyway.
static_assertions::const_assert!(USO_MAX_SEGMENTS <= MAX_SEGS);

#[cfg(test)]
mod tests;
