//! Offloads done in software between two ports that differ in what they
//! take, so nothing is lost and the kernel on each side gets the frames
//! that cost it least.
//!
//! * Into a port **without** a virtio-net header the kernel takes only
//!   complete, MTU-sized frames: a GSO frame from a port with offloads is
//!   segmented (software GSO), a partial checksum finished, a "checksum
//!   verified" mark dropped ([`OffloadPlan::Finish`]).
//! * Into a port **with** one the kernel takes 64 KiB GSO frames whatever
//!   its offload mask: MTU-sized TCP segments from a port without a
//!   virtio-net header are coalesced into them (software GRO,
//!   [`OffloadPlan::Coalesce`]), so the receiving stack handles one frame
//!   where it would have handled dozens.
//!
//! Both work in place on the worker's bursts, with no heap allocation.
//! Segments are buffers of the received frame's own pool. When it runs
//! dry the worker sends what it gathered, reclaims finished transmissions
//! and takes back what its route's two queues keep in their caches before
//! it gives up; a pool needs room for a burst of segments (64) beyond what
//! the rings lend and the other routes' queues keep (up to 64 per
//! read/write queue, 256 per io_uring one). A segment that still finds the
//! pool empty is dropped and counted.

use std::sync::atomic::Ordering;

use tapring_core::packet::MAX_SEGS;
use tapring_core::wire::gro::{Coalescer, GroLimits};
use tapring_core::wire::gso::{self, SegmentChecksum, Segmenter};
use tapring_core::{
    Burst, Checksum, Framing, Offload, Pkt, PortInfo, RxQueue, TxQueue, VnetHdrLen,
};

use super::{DirCounters, FORWARD_BURST, ForwarderConfig, Route, RouteError, send};

/// The most segments software GSO makes of one frame (a 64 KiB frame
/// at an MSS of 64 bytes); a frame that would make more is dropped and
/// counted.
const MAX_SEGMENTS_PER_FRAME: usize = 1024;

/// What one route does in software between receiving and sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OffloadPlan {
    /// Frames pass unchanged: both ports take the same frames (or it is
    /// one port reflecting).
    PassThrough,
    /// The destination has no virtio-net header but the source does:
    /// segment GSO frames, finish partial checksums.
    Finish,
    /// The source has no virtio-net header (its frames are MTU-sized,
    /// checksums complete) and the destination has one: coalesce TCP
    /// segments into GSO frames.
    Coalesce,
}

impl OffloadPlan {
    /// The plan for frames from a port like `from` to a port like `to`;
    /// `gro`: coalescing is allowed ([`ForwarderConfig::gro`]).
    pub(super) fn for_route(from: &PortInfo, to: &PortInfo, gro: bool) -> OffloadPlan {
        let has_hdr = |p: &PortInfo| p.vnet_hdr_len != VnetHdrLen::None;
        match (has_hdr(from), has_hdr(to)) {
            (true, false) => OffloadPlan::Finish,
            (false, true) if gro => OffloadPlan::Coalesce,
            _ => OffloadPlan::PassThrough,
        }
    }
}

/// A worker's reusable state for software offloads: the burst segments
/// are gathered in and the GRO flow table. Made once per worker.
pub(super) struct OffloadScratch {
    out: Burst<FORWARD_BURST>,
    gro: Coalescer,
}

impl OffloadScratch {
    pub(super) fn new() -> OffloadScratch {
        OffloadScratch {
            out: Burst::new(),
            gro: Coalescer::new(),
        }
    }

    /// Coalesces `burst` in place (software GRO) and counts the frames
    /// that went into others.
    pub(super) fn coalesce(
        &mut self,
        burst: &mut Burst<FORWARD_BURST>,
        framing: Framing,
        dir: &DirCounters,
    ) {
        let limits = GroLimits {
            // The largest IP packet a GSO frame may describe, plus the
            // link-layer header in front of it.
            max_len: 65_535 + framing.l2_overhead() as usize,
            max_segs: MAX_SEGS,
            udp: false,
        };
        let report = self.gro.coalesce(burst, framing, &limits);
        if report.merged > 0 {
            dir.coalesced
                .fetch_add(report.merged as u64, Ordering::Relaxed);
        }
    }
}

/// Sends `burst` to a port without a virtio-net header: every frame goes
/// out complete and no larger than the port takes, in the order received.
/// GSO frames are segmented into `scratch`'s burst (sent whenever it
/// fills), partial checksums finished; what cannot be done is dropped and
/// counted.
pub(super) fn finish<R: RxQueue, T: TxQueue>(
    route: &mut Route<R, T>,
    burst: &mut Burst<FORWARD_BURST>,
    scratch: &mut OffloadScratch,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<(), RouteError> {
    let out = &mut scratch.out;
    let mut failed = None;
    let mut dropped = 0u64;
    let (framing, max_frame) = (route.framing, route.max_frame);
    burst.drain_each(|mut pkt| {
        if failed.is_some() {
            // The destination's Tx queue failed: the rest goes nowhere.
            dir.tx_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let step = match pkt.offload() {
            Offload { gso: Some(_), .. } => {
                segment(route, &pkt, framing, max_frame, out, dir, config)
            }
            Offload {
                csum: Checksum::Partial { .. },
                ..
            } => match gso::finish_checksum(&mut pkt) {
                Ok(()) => {
                    dir.checksums.fetch_add(1, Ordering::Relaxed);
                    push(route, pkt, out, dir, config)
                }
                Err(_) => Ok(false),
            },
            off => {
                // "Verified" is a receive report; the port without a
                // header cannot carry it and needs nothing.
                if !off.is_none() {
                    pkt.set_offload(Offload::NONE);
                }
                push(route, pkt, out, dir, config)
            }
        };
        match step {
            Ok(true) => {}
            Ok(false) => dropped += 1,
            Err(e) => failed = Some(e),
        }
    });
    if dropped > 0 {
        dir.offload_dropped.fetch_add(dropped, Ordering::Relaxed);
    }
    if let Some(e) = failed {
        out.clear();
        return Err(e);
    }
    send(route, out, dir, config)
}

/// Appends `pkt` to `out`, sending `out` first when it is full. `Ok(true)`
/// once the packet is in `out`; when that send fails the packet is
/// dropped and counted with the others the failed queue did not take.
fn push<R: RxQueue, T: TxQueue>(
    route: &mut Route<R, T>,
    pkt: Pkt,
    out: &mut Burst<FORWARD_BURST>,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<bool, RouteError> {
    if out.is_full()
        && let Err(e) = send(route, out, dir, config)
    {
        dir.tx_failed.fetch_add(1, Ordering::Relaxed);
        return Err(e);
    }
    // Cannot fail: the burst was just emptied if it was full.
    Ok(out.push(pkt).is_ok())
}

/// Segments `pkt` into `out` (sending `out` whenever it fills), each
/// segment at most `max_frame` bytes with its checksum complete.
/// `Ok(false)` when it cannot be segmented (nothing of it is sent then,
/// unless the pool ran dry midway: the segments made so far go out).
fn segment<R: RxQueue, T: TxQueue>(
    route: &mut Route<R, T>,
    pkt: &Pkt,
    framing: Framing,
    max_frame: usize,
    out: &mut Burst<FORWARD_BURST>,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<bool, RouteError> {
    let Ok(mut segmenter) = Segmenter::new(pkt, framing, max_frame) else {
        return Ok(false);
    };
    if segmenter.segments() > MAX_SEGMENTS_PER_FRAME {
        // A tiny segment size on a 64 KiB frame would make thousands of
        // writes out of one frame and starve the other direction.
        return Ok(false);
    }
    let mut made = 0u64;
    while segmenter.remaining() > 0 {
        if out.is_full() {
            send(route, out, dir, config)?;
        }
        let seg = match pkt.alloc_sibling() {
            Some(seg) => Some(seg),
            None => {
                // Send what is gathered, collect what has completed, and
                // hand the buffers both queues of this route keep in their
                // caches back to the shared list, where segments are taken
                // from: a tight pool is often empty only there. The Rx
                // queue takes a batch back at its next read, so on a pool
                // this tight the next frames may wait (counted as nombuf,
                // still queued in the kernel) rather than segments drop.
                send(route, out, dir, config)?;
                route.tx.reclaim().map_err(|e| (route.to, e))?;
                route.tx.release_cached();
                route.rx.release_cached();
                pkt.alloc_sibling()
            }
        };
        let Some(mut seg) = seg else { break };
        if segmenter
            .next_into(pkt, &mut seg, SegmentChecksum::Complete)
            .is_err()
        {
            break;
        }
        // Cannot fail: the burst was emptied above if it was full.
        let _ = out.push(seg);
        made += 1;
    }
    if made > 0 {
        dir.segmented.fetch_add(1, Ordering::Relaxed);
        dir.segments.fetch_add(made, Ordering::Relaxed);
    }
    Ok(segmenter.remaining() == 0)
}

#[cfg(test)]
mod tests {
    //! Both plans over simulated ports: what the destination's kernel is
    //! handed, byte for byte, and that steady state leaves the heap alone.
    use super::*;
    use crate::forwarder::{DirTotals, Route, pump};
    use tapring_core::wire::offload_request::write_pseudo_header_checksum;
    use tapring_core::wire::{headers, vnet};
    use tapring_core::{Gso, GsoKind, Pool, PoolConfig, Port};
    // The counting allocator is the test binary's (see the parent module).
    use tapring_mock::alloc_count::{allocations, counted};
    use tapring_mock::{Capture, MockPort, MockPortConfig, SimWire, WireConfig};
    use tapring_testkit::{inet_checksum, tcp_segment};

    const MSS: usize = 1448;
    const HDRS: usize = 14 + 20 + 20;
    /// Buffers of the tight-pool test.
    const TIGHT_POOL: u32 = 160;

    fn port(pool: &Pool, vnet_hdr_len: VnetHdrLen) -> MockPort {
        let mut cfg = MockPortConfig {
            wire: WireConfig {
                capture: Capture::Frames,
                ..WireConfig::default()
            },
            ..MockPortConfig::default()
        };
        cfg.engine.vnet_hdr_len = vnet_hdr_len;
        MockPort::new(pool, cfg).unwrap()
    }

    type MockRoute = Route<<MockPort as Port>::Rx, <MockPort as Port>::Tx>;

    /// One route from a simulated port A to a port B, with a worker's
    /// burst, scratch and counters.
    struct Fixture {
        /// A's kernel side: what is injected is received by the route.
        a: SimWire,
        /// B's kernel side: what the route transmits.
        b: SimWire,
        route: MockRoute,
        dirs: [DirCounters; 2],
        config: ForwarderConfig,
        burst: Burst<FORWARD_BURST>,
        scratch: OffloadScratch,
        _ports: [MockPort; 2],
    }

    impl Fixture {
        fn new(pool: &Pool, a_hdr: VnetHdrLen, b_hdr: VnetHdrLen, gro: bool) -> Fixture {
            let (mut pa, mut pb) = (port(pool, a_hdr), port(pool, b_hdr));
            let (from, to) = (pa.info(), pb.info());
            let route = Route {
                queue: 0,
                from: 0,
                to: 1,
                framing: Framing::Ethernet,
                plan: OffloadPlan::for_route(&from, &to, gro),
                max_frame: to.max_frame as usize,
                rx: pa.take_rx(0).unwrap(),
                tx: pb.take_tx(0).unwrap(),
            };
            Fixture {
                a: pa.wire(0).clone(),
                b: pb.wire(0).clone(),
                route,
                dirs: Default::default(),
                config: ForwarderConfig::default(),
                burst: Burst::new(),
                scratch: OffloadScratch::new(),
                _ports: [pa, pb],
            }
        }

        /// One forwarding step; the frames received.
        fn pump(&mut self) -> usize {
            let (route, burst, scratch) = (&mut self.route, &mut self.burst, &mut self.scratch);
            pump(route, burst, scratch, &self.dirs[0], &self.config).unwrap()
        }

        /// What B's kernel was handed since the last call.
        fn written(&mut self) -> Vec<Vec<u8>> {
            self.route.tx.reclaim().unwrap();
            self.b.take_written()
        }

        fn totals(&self) -> DirTotals {
            self.dirs[0].snapshot()
        }
    }

    fn payload(len: usize, salt: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
    }

    /// The TCP checksum of an Ethernet/IPv4/TCP frame verifies.
    fn tcp_checksum_ok(f: &[u8]) -> bool {
        let tcp_len = ((f.len() - 34) as u16).to_be_bytes();
        inet_checksum(&[&f[26..34], &[0, 6], &tcp_len, &f[34..]]) == 0
    }

    /// `frame` as a kernel with offloads hands it over: its checksum left
    /// partial (the pseudo-header sum in the field), with `gso`, behind the
    /// virtio-net header saying so.
    fn offloaded(frame: &[u8], gso: Option<Gso>) -> Vec<u8> {
        let mut frame = frame.to_vec();
        let h = headers::parse(&frame).unwrap();
        write_pseudo_header_checksum(&mut frame, &h).unwrap();
        let off = Offload {
            csum: Checksum::Partial {
                start: 34,
                offset: 16,
            },
            gso,
        };
        let mut hdr = [0u8; 12];
        let n = vnet::encode_rx(&off, frame.len(), VnetHdrLen::Mergeable, &mut hdr).unwrap();
        [&hdr[..n], &frame[..]].concat()
    }

    /// A TSO4 frame of `data` in segments of `mss`.
    fn gso_frame(data: &[u8], mss: u16) -> Vec<u8> {
        let gso = Gso {
            kind: GsoKind::Tcpv4,
            size: mss,
            hdr_len: HDRS as u16,
            ecn: false,
        };
        offloaded(&tcp_segment(1000, 77, data, true), Some(gso))
    }

    #[test]
    fn plans_follow_the_virtio_net_headers_of_the_two_ports() {
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let plain = port(&pool, VnetHdrLen::None).info();
        let hdr = port(&pool, VnetHdrLen::Mergeable).info();
        let plan = OffloadPlan::for_route;
        assert_eq!(plan(&hdr, &plain, true), OffloadPlan::Finish);
        assert_eq!(plan(&hdr, &plain, false), OffloadPlan::Finish);
        assert_eq!(plan(&plain, &hdr, true), OffloadPlan::Coalesce);
        assert_eq!(plan(&plain, &hdr, false), OffloadPlan::PassThrough);
        assert_eq!(plan(&hdr, &hdr, true), OffloadPlan::PassThrough);
        assert_eq!(plan(&plain, &plain, true), OffloadPlan::PassThrough);
    }

    #[test]
    fn segments_from_a_port_without_offloads_reach_one_with_them_coalesced() {
        let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::None, VnetHdrLen::Mergeable, true);
        // 20 full segments and a short last one with PSH: one stream.
        let data = payload(20 * MSS + 300, 0x5a);
        let mut before = allocations();
        for round in 0..200u32 {
            let base = round.wrapping_mul(1 << 20);
            for (i, chunk) in data.chunks(MSS).enumerate() {
                let last = (i + 1) * MSS >= data.len();
                let seq = base.wrapping_add((i * MSS) as u32);
                assert!(f.a.inject(&tcp_segment(seq, i as u16, chunk, last)));
            }
            if round == 20 {
                before = allocations(); // warm-up done
            }
            let n = counted(|| f.pump());
            assert_eq!(n, 21, "round {round}: the whole burst is read");
            // Taken every round, so the capture's storage stops growing.
            let out = f.written();
            if round > 20 {
                continue;
            }
            assert_eq!(out.len(), 1, "round {round}: one super-frame");
            let (hdr, frame) = out[0].split_at(VnetHdrLen::Mergeable.len());
            let off = vnet::decode(hdr, frame.len()).unwrap();
            let gso = off.gso.expect("a GSO frame");
            assert_eq!(gso.kind, GsoKind::Tcpv4);
            assert_eq!(usize::from(gso.size), MSS);
            assert!(matches!(
                off.csum,
                Checksum::Partial {
                    start: 34,
                    offset: 16
                }
            ));
            assert_eq!(&frame[HDRS..], &data[..], "the payload in order");
            assert_eq!(headers::parse(frame).unwrap().hdr_len(), HDRS);
            assert_eq!(
                usize::from(u16::from_be_bytes([frame[16], frame[17]])),
                frame.len() - 14,
                "IPv4 total length"
            );
            assert_eq!(inet_checksum(&[&frame[14..34]]), 0, "IPv4 header checksum");
            assert_eq!(frame[47] & 0x08, 0x08, "PSH of the last segment kept");
        }
        assert_eq!(allocations() - before, 0, "allocations in steady state");
        let t = f.totals();
        assert_eq!((t.coalesced, t.packets), (200 * 20, 200));
        drop(f);
        assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
    }

    #[test]
    fn with_gro_off_segments_pass_one_by_one() {
        let pool = Pool::new(PoolConfig::standard(512)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::None, VnetHdrLen::Mergeable, false);
        for i in 0..4u32 {
            assert!(f.a.inject(&tcp_segment(i * 100, 0, &payload(100, 1), false)));
        }
        assert_eq!(f.pump(), 4);
        assert_eq!(f.written().len(), 4);
        assert_eq!(f.totals().coalesced, 0);
    }

    #[test]
    fn gso_frames_for_a_port_without_offloads_are_segmented_with_checksums() {
        // Room for both ports' Rx rings, the Tx ring in flight and the
        // buffers a Tx queue's cache keeps before returning them.
        let pool = Pool::new(PoolConfig::large(1024)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::Mergeable, VnetHdrLen::None, true);
        // 3 GSO frames of 45 segments (more than one burst of segments),
        // then an ordinary frame that must come out after them.
        let data = payload(45 * MSS - 100, 3);
        for _ in 0..3 {
            assert!(f.a.inject(&gso_frame(&data, MSS as u16)));
        }
        let small = tcp_segment(5, 1, b"tail", true);
        assert!(f.a.inject(&[&[0u8; 12][..], &small[..]].concat()));
        let before = allocations();
        assert_eq!(counted(|| f.pump()), 4);
        assert_eq!(allocations() - before, 0, "segmenting allocates nothing");
        let out = f.written();
        assert_eq!(out.len(), 3 * 45 + 1, "{:?}", f.totals());
        for (k, frames) in out[..135].chunks(45).enumerate() {
            let mut got = Vec::new();
            for (i, s) in frames.iter().enumerate() {
                assert!(s.len() <= HDRS + MSS, "frame {k}/{i}: {} bytes", s.len());
                assert!(tcp_checksum_ok(s), "frame {k}/{i}: TCP checksum");
                assert_eq!(
                    inet_checksum(&[&s[14..34]]),
                    0,
                    "frame {k}/{i}: IPv4 checksum"
                );
                let seq = u32::from_be_bytes([s[38], s[39], s[40], s[41]]);
                assert_eq!(seq as usize, 1000 + i * MSS, "frame {k}/{i}: sequence");
                assert_eq!(
                    s[47] & 0x08 != 0,
                    i == 44,
                    "frame {k}/{i}: PSH on the last only"
                );
                got.extend_from_slice(&s[HDRS..]);
            }
            assert_eq!(got, data, "GSO frame {k}: the payload, in order");
        }
        assert_eq!(out[135], small, "the ordinary frame after them, unchanged");
        let t = f.totals();
        assert_eq!((t.segmented, t.segments, t.packets), (3, 135, 136));
        assert_eq!(t.offload_dropped, 0);
        drop(f);
        assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
    }

    #[test]
    fn a_tight_pool_segments_with_the_buffers_its_queues_cache() {
        // Room for the Rx rings and one frame's 45 segments only when the
        // buffers of segments already sent come back from the Tx queue's
        // cache (without that the second burst of segments finds the pool
        // empty in round 0).
        let pool = Pool::new(PoolConfig::large(TIGHT_POOL)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::Mergeable, VnetHdrLen::None, true);
        let data = payload(45 * MSS - 100, 6);
        for round in 0..12 {
            assert!(f.a.inject(&gso_frame(&data, MSS as u16)));
            assert_eq!(f.pump(), 1, "round {round}");
            let out = f.written();
            assert_eq!(out.len(), 45, "round {round}: {:?}", f.totals());
            let got: Vec<u8> = out.iter().flat_map(|s| s[HDRS..].to_vec()).collect();
            assert_eq!(got, data, "round {round}: the payload, in order");
        }
        let t = f.totals();
        assert_eq!((t.segments, t.offload_dropped), (12 * 45, 0));
        drop(f);
        assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
    }

    #[test]
    fn a_partial_checksum_for_a_port_without_offloads_is_finished() {
        let pool = Pool::new(PoolConfig::standard(512)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::Mergeable, VnetHdrLen::None, true);
        let good = tcp_segment(9, 2, &payload(700, 9), false);
        assert!(f.a.inject(&offloaded(&good, None)));
        assert_eq!(f.pump(), 1);
        assert_eq!(
            f.written(),
            vec![good],
            "the checksum the kernel would write"
        );
        assert_eq!(f.totals().checksums, 1);
    }

    #[test]
    fn a_gso_frame_that_cannot_be_segmented_is_dropped_and_counted() {
        let pool = Pool::new(PoolConfig::large(512)).unwrap();
        let mut f = Fixture::new(&pool, VnetHdrLen::Mergeable, VnetHdrLen::None, true);
        // A TSO4 request over a UDP datagram: the kind does not match.
        let mut bad = gso_frame(&payload(3000, 4), 1000);
        bad[12 + 23] = 17;
        assert!(f.a.inject(&bad));
        // 2000 segments of 10 bytes: more than one frame may make.
        assert!(f.a.inject(&gso_frame(&payload(20_000, 5), 10)));
        assert_eq!(f.pump(), 2);
        assert!(f.written().is_empty());
        assert_eq!(f.totals().offload_dropped, 2);
        drop(f);
        assert_eq!(pool.stats().in_use, 0);
    }
}
