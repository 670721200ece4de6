//! Tests of the coalescer on frames built here, checked with an
//! independent checksum implementation and a test-only splitter.

use super::*;
use crate::packet::{Burst, Checksum, Gso, GsoKind, Offload, Pkt, Pool, PoolConfig, test_pool};
use crate::wire::headers::{IpVersion, L4, parse_framed};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

// ---- Frames ------------------------------------------------------------------

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const URG: u8 = 0x20;
const CWR: u8 = 0x80;
const ECE: u8 = 0x40;

/// What every segment of a flow shares.
#[derive(Clone, Copy, Debug)]
struct FlowSpec {
    framing: Framing,
    v6: bool,
    vlan: bool,
    /// A TCP timestamps option (12 bytes with two NOPs).
    ts: bool,
    sport: u16,
}

impl FlowSpec {
    fn tap4() -> Self {
        FlowSpec {
            framing: Framing::Ethernet,
            v6: false,
            vlan: false,
            ts: true,
            sport: 40_000,
        }
    }

    fn l3(&self) -> usize {
        match self.framing {
            Framing::Ethernet => 14 + if self.vlan { 4 } else { 0 },
            Framing::Ip => 0,
        }
    }

    fn l4(&self) -> usize {
        self.l3() + if self.v6 { 40 } else { 20 }
    }

    fn hdr_len(&self) -> usize {
        self.l4() + if self.ts { 32 } else { 20 }
    }
}

/// One segment's own fields.
#[derive(Clone, Debug)]
struct Seg {
    seq: u32,
    payload: Vec<u8>,
    flags: u8,
    ip_id: u16,
    df: bool,
    tos: u8,
    ttl: u8,
    ack: u32,
    window: u16,
    ts_val: u32,
    flow_label: u32,
}

fn seg(seq: u32, payload: Vec<u8>) -> Seg {
    Seg {
        seq,
        payload,
        flags: ACK,
        ip_id: 0,
        df: true,
        tos: 0,
        ttl: 64,
        ack: 0x2000_0000,
        window: 0xfaf0,
        ts_val: 77,
        flow_label: 0x12345,
    }
}

/// Payload bytes that tell segments and offsets apart.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(seed.wrapping_mul(7)) as u8
        })
        .collect()
}

/// `n` segments of `mss` bytes from seq 1000, IPv4 IDs counting up.
fn flow_segs(n: usize, mss: usize) -> Vec<Seg> {
    (0..n)
        .map(|i| {
            let mut s = seg(1000 + (i * mss) as u32, bytes(mss, i as u32));
            s.ip_id = 100 + i as u16;
            s
        })
        .collect()
}

fn ones_sum(parts: &[&[u8]]) -> u64 {
    let joined: Vec<u8> = parts.concat();
    let mut sum = 0u64;
    for w in joined.chunks(2) {
        sum += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
    }
    sum
}

fn fold64(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The pseudo header of the L4 segment of `frame` (TCP or UDP), with the
/// L4 length `l4_len`.
fn pseudo(frame: &[u8], l3: usize, v6: bool, proto: u8, l4_len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    if v6 {
        p.extend_from_slice(&frame[l3 + 8..l3 + 40]);
        p.extend_from_slice(&(l4_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    } else {
        p.extend_from_slice(&frame[l3 + 12..l3 + 20]);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
    }
    p
}

/// A well-formed frame of flow `f`: lengths and checksums right.
fn frame(f: &FlowSpec, s: &Seg) -> Vec<u8> {
    let mut out = Vec::new();
    if f.framing == Framing::Ethernet {
        out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        if f.vlan {
            out.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        }
        out.extend_from_slice(if f.v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    }
    let l3 = out.len();
    let tcp_len = if f.ts { 32 } else { 20 };
    let l4_len = tcp_len + s.payload.len();
    if f.v6 {
        let fl = s.flow_label;
        out.extend_from_slice(&[
            0x60 | s.tos >> 4,
            s.tos << 4 | (fl >> 16) as u8 & 0x0f,
            (fl >> 8) as u8,
            fl as u8,
        ]);
        out.extend_from_slice(&(l4_len as u16).to_be_bytes());
        out.extend_from_slice(&[6, s.ttl]);
        out.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        out.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        out.extend_from_slice(&[0x45, s.tos]);
        out.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        out.extend_from_slice(&s.ip_id.to_be_bytes());
        out.extend_from_slice(&[if s.df { 0x40 } else { 0 }, 0, s.ttl, 6, 0, 0]);
        out.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let c = !fold64(ones_sum(&[&out[l3..]]));
        out[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = out.len();
    out.extend_from_slice(&f.sport.to_be_bytes());
    out.extend_from_slice(&443u16.to_be_bytes());
    out.extend_from_slice(&s.seq.to_be_bytes());
    out.extend_from_slice(&s.ack.to_be_bytes());
    out.extend_from_slice(&[((tcp_len / 4) as u8) << 4, s.flags]);
    out.extend_from_slice(&s.window.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if f.ts {
        out.extend_from_slice(&[1, 1, 8, 10]);
        out.extend_from_slice(&s.ts_val.to_be_bytes());
        out.extend_from_slice(&5u32.to_be_bytes());
    }
    out.extend_from_slice(&s.payload);
    let p = pseudo(&out, l3, f.v6, 6, l4_len);
    let c = !fold64(ones_sum(&[&p, &out[l4..]]));
    out[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    out
}

/// A UDP datagram over IPv4 (TAP), checksum right.
fn udp_frame(sport: u16, payload: &[u8], ip_id: u16) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let l4_len = 8 + payload.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    out.extend_from_slice(&ip_id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let c = !fold64(ones_sum(&[&out[14..]]));
    out[24..26].copy_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&5000u16.to_be_bytes());
    out.extend_from_slice(&(l4_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    let p = pseudo(&out, 14, false, 17, l4_len);
    let c = !fold64(ones_sum(&[&p, &out[34..]]));
    out[40..42].copy_from_slice(&c.to_be_bytes());
    out
}

/// An ICMP echo request over IPv4 (TAP).
fn icmp_frame() -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    out.extend_from_slice(&[0x45, 0, 0, 36, 0, 9, 0x40, 0, 64, 1, 0, 0]);
    out.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 1, 0, 1]);
    out.extend_from_slice(&[0xaa; 8]);
    out
}

/// Recomputes the IPv4 header checksum of `frame` (IP header at `l3`).
fn fix_ipv4_checksum(frame: &mut [u8], l3: usize) {
    frame[l3 + 10..l3 + 12].fill(0);
    let c = !fold64(ones_sum(&[&frame[l3..l3 + 20]]));
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

// ---- Packets and runs ----------------------------------------------------------

fn pool() -> Pool {
    test_pool(PoolConfig::standard(256))
}

/// A packet of `frame` in one buffer.
fn pkt(pool: &Pool, frame: &[u8]) -> Pkt {
    let mut p = pool.alloc().expect("a free buffer");
    p.extend_from_slice(frame).expect("fits a buffer");
    p
}

/// A packet of `frame` in two buffers, the first of `first` bytes.
fn chained(pool: &Pool, frame: &[u8], first: usize) -> Pkt {
    let mut p = pkt(pool, &frame[..first]);
    p.chain(pkt(pool, &frame[first..])).expect("same pool");
    p
}

/// A packet as it came out: its bytes, offload and buffer count.
#[derive(Clone, Debug, PartialEq)]
struct Out {
    bytes: Vec<u8>,
    offload: Offload,
    segs: usize,
}

fn out_of(p: &Pkt) -> Out {
    let mut bytes = vec![0; p.pkt_len()];
    assert_eq!(p.copy_to(&mut bytes), p.pkt_len());
    Out {
        bytes,
        offload: p.offload(),
        segs: p.nb_segs(),
    }
}

/// Coalesces `pkts` with `limits` and a table of `FLOWS` flows; returns
/// what came out and the report, checking that no buffer was lost.
fn run_with<const FLOWS: usize>(
    pool: &Pool,
    pkts: Vec<Pkt>,
    framing: Framing,
    limits: &GroLimits,
) -> (Vec<Out>, GroReport) {
    let in_use = pool.stats().in_use;
    let count = pkts.len();
    let mut burst: Burst<128> = Burst::new();
    for p in pkts {
        burst.push(p).expect("burst has room");
    }
    let mut gro: Coalescer<FLOWS> = Coalescer::new();
    let report = gro.coalesce(&mut burst, framing, limits);
    let out: Vec<Out> = burst.iter().map(out_of).collect();
    assert_eq!(pool.stats().in_use, in_use, "buffers stay in the burst");
    assert_eq!(out.len() + report.merged, count);
    burst.clear();
    assert_eq!(
        pool.stats().in_use,
        0,
        "dropping the burst returns everything"
    );
    (out, report)
}

fn run(frames: &[Vec<u8>], framing: Framing) -> (Vec<Out>, GroReport) {
    let pool = pool();
    let pkts = frames.iter().map(|f| pkt(&pool, f)).collect();
    run_with::<8>(&pool, pkts, framing, &GroLimits::new(framing))
}

fn tap(frames: &[Vec<u8>]) -> (Vec<Out>, GroReport) {
    run(frames, Framing::Ethernet)
}

// ---- Checks --------------------------------------------------------------------

/// Checks a super-frame made of `segs` (frames of flow `f`) and returns
/// nothing: its bytes are the head's headers with the lengths, flags and
/// checksums a super-frame has, then the payloads in order; its offload is
/// the segmentation request.
fn check_super_frame(out: &Out, f: &FlowSpec, segs: &[Vec<u8>]) {
    let (l3, l4, hdr) = (f.l3(), f.l4(), f.hdr_len());
    let b = &out.bytes;
    let payloads: Vec<u8> = segs.iter().flat_map(|s| s[hdr..].to_vec()).collect();
    assert_eq!(&b[hdr..], &payloads[..], "the payloads, in order");
    assert_eq!(b.len(), hdr + payloads.len());
    // Headers: the head's but for the fields a super-frame rewrites.
    let mut want = segs[0][..hdr].to_vec();
    if f.v6 {
        want[l3 + 4..l3 + 6].copy_from_slice(&((b.len() - l3 - 40) as u16).to_be_bytes());
    } else {
        want[l3 + 2..l3 + 4].copy_from_slice(&((b.len() - l3) as u16).to_be_bytes());
        fix_ipv4_checksum(&mut want, l3);
        assert_eq!(
            fold64(ones_sum(&[&b[l3..l3 + 20]])),
            0xffff,
            "IPv4 checksum"
        );
    }
    let last = segs.last().unwrap();
    want[l4 + 13] |= last[l4 + 13] & (PSH | FIN);
    let field = fold64(ones_sum(&[&pseudo(b, l3, f.v6, 6, b.len() - l4)]));
    want[l4 + 16..l4 + 18].copy_from_slice(&field.to_be_bytes());
    assert_eq!(&b[..hdr], &want[..], "headers");
    let mss = segs[0].len() - hdr;
    assert_eq!(
        out.offload,
        Offload {
            csum: Checksum::Partial {
                start: l4 as u16,
                offset: 16
            },
            gso: Some(Gso {
                kind: if f.v6 { GsoKind::Tcpv6 } else { GsoKind::Tcpv4 },
                size: mss as u16,
                hdr_len: hdr as u16,
                ecn: false,
            }),
        }
    );
    // The kernel finishes the checksum over the whole frame: it verifies.
    let mut finished = b.clone();
    let c = !fold64(ones_sum(&[&finished[l4..]]));
    finished[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    let p = pseudo(&finished, l3, f.v6, 6, b.len() - l4);
    assert_eq!(fold64(ones_sum(&[&p, &finished[l4..]])), 0xffff);
}

/// A packet left as it came in: the bytes of `frame`, no offload.
fn check_untouched(out: &Out, frame: &[u8]) {
    assert_eq!(out.bytes, frame);
    assert_eq!(out.offload, Offload::NONE);
    assert_eq!(out.segs, 1);
}

// ---- Whole flows -----------------------------------------------------------------

fn one_flow_becomes_one_super_frame(f: FlowSpec, n: usize, mss: usize) {
    let segs: Vec<Vec<u8>> = flow_segs(n, mss).iter().map(|s| frame(&f, s)).collect();
    let (out, report) = run(&segs, f.framing);
    assert_eq!(out.len(), 1, "{report:?}");
    assert_eq!((report.merged, report.coalesced), (n - 1, 1));
    assert_eq!(report.not_merged(), 0);
    assert_eq!(out[0].segs, n);
    check_super_frame(&out[0], &f, &segs);
}

#[test]
fn tap_ipv4_flow_becomes_one_super_frame() {
    one_flow_becomes_one_super_frame(FlowSpec::tap4(), 10, 1448);
}

#[test]
fn tap_ipv6_flow_becomes_one_super_frame() {
    let f = FlowSpec {
        v6: true,
        ..FlowSpec::tap4()
    };
    one_flow_becomes_one_super_frame(f, 8, 1428);
}

#[test]
fn tap_vlan_flow_becomes_one_super_frame() {
    for v6 in [false, true] {
        let f = FlowSpec {
            vlan: true,
            v6,
            ..FlowSpec::tap4()
        };
        one_flow_becomes_one_super_frame(f, 5, 1000);
    }
}

#[test]
fn tun_flows_become_one_super_frame() {
    for v6 in [false, true] {
        let f = FlowSpec {
            framing: Framing::Ip,
            v6,
            ts: false,
            ..FlowSpec::tap4()
        };
        one_flow_becomes_one_super_frame(f, 7, 1460);
    }
}

#[test]
fn a_full_64k_flow_of_mss_segments_fills_one_super_frame() {
    // 45 segments of 1448 bytes: 65160 payload bytes, 65212 IP bytes.
    one_flow_becomes_one_super_frame(FlowSpec::tap4(), 45, 1448);
}

#[test]
fn lone_packets_are_left_untouched() {
    let f = FlowSpec::tap4();
    let one = frame(&f, &flow_segs(1, 1448)[0]);
    let (out, report) = tap(core::slice::from_ref(&one));
    check_untouched(&out[0], &one);
    assert_eq!(report, GroReport::default());
    // Two flows of one packet each, and offloads kept.
    let pool = pool();
    let mut a = pkt(&pool, &one);
    let valid = Offload {
        csum: Checksum::Valid,
        gso: None,
    };
    a.set_offload(valid);
    let other = frame(
        &FlowSpec {
            sport: 1,
            ..FlowSpec::tap4()
        },
        &flow_segs(1, 100)[0],
    );
    let b = pkt(&pool, &other);
    let (out, report) = run_with::<8>(
        &pool,
        vec![a, b],
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((out[0].bytes.as_slice(), out[0].offload), (&one[..], valid));
    check_untouched(&out[1], &other);
    assert_eq!(report.coalesced, 0);
}

#[test]
fn l4_checksums_are_verified_only_for_packets_that_merge() {
    let f = FlowSpec::tap4();
    let s = flow_segs(3, 1000);
    let mut frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let corrupt = |frame: &mut Vec<u8>| *frame.last_mut().unwrap() ^= 1;
    // A lone segment is not verified: passed on as it came, not counted.
    let mut lone = frames[0].clone();
    corrupt(&mut lone);
    let (out, report) = tap(core::slice::from_ref(&lone));
    check_untouched(&out[0], &lone);
    assert_eq!(report, GroReport::default());
    // A bad head is found when the next segment is to merge into it: it
    // stays alone (counted once), and the next two merge without it.
    corrupt(&mut frames[0]);
    let (out, report) = tap(&frames);
    assert_eq!(out.len(), 2, "{report:?}");
    assert_eq!((report.bad_checksum, report.merged), (1, 1), "{report:?}");
    check_untouched(&out[0], &frames[0]);
    check_super_frame(&out[1], &f, &frames[1..]);
    // A bad segment that restarted the flow (out of order) is counted once,
    // under the first reason, and nothing merges into it.
    let head = frame(&f, &seg(1, bytes(1000, 9)));
    let mut restarted = frames[1].clone();
    corrupt(&mut restarted);
    let (out, report) = tap(&[head.clone(), restarted.clone(), frames[2].clone()]);
    assert_eq!(out.len(), 3, "{report:?}");
    assert_eq!(
        (report.out_of_order, report.bad_checksum, report.merged),
        (1, 0, 0),
        "{report:?}"
    );
    check_untouched(&out[0], &head);
    check_untouched(&out[1], &restarted);
    check_untouched(&out[2], &frames[2]);
}

#[test]
fn two_interleaved_flows_stay_separate_and_in_order() {
    let fa = FlowSpec::tap4();
    let fb = FlowSpec {
        sport: 40_001,
        ..fa
    };
    let a: Vec<_> = flow_segs(4, 1000).iter().map(|s| frame(&fa, s)).collect();
    let b: Vec<_> = flow_segs(3, 700).iter().map(|s| frame(&fb, s)).collect();
    let input = vec![
        b[0].clone(),
        a[0].clone(),
        a[1].clone(),
        b[1].clone(),
        a[2].clone(),
        b[2].clone(),
        a[3].clone(),
    ];
    let (out, report) = tap(&input);
    assert_eq!((out.len(), report.merged, report.coalesced), (2, 5, 2));
    check_super_frame(&out[0], &fb, &b);
    check_super_frame(&out[1], &fa, &a);
}

#[test]
fn other_packets_keep_their_place_between_segments() {
    let f = FlowSpec::tap4();
    let a: Vec<_> = flow_segs(3, 1000).iter().map(|s| frame(&f, s)).collect();
    let icmp = icmp_frame();
    let udp = udp_frame(7, &[1, 2, 3], 1);
    let arp = {
        let mut x = vec![0xff; 6];
        x.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        x.extend_from_slice(&[0; 28]);
        x
    };
    let input = vec![
        icmp.clone(),
        a[0].clone(),
        udp.clone(),
        a[1].clone(),
        arp.clone(),
        a[2].clone(),
    ];
    let (out, report) = tap(&input);
    assert_eq!(out.len(), 4);
    check_untouched(&out[0], &icmp);
    check_super_frame(&out[1], &f, &a);
    check_untouched(&out[2], &udp);
    check_untouched(&out[3], &arp);
    assert_eq!(report.other_protocol, 3, "{report:?}");
}

// ---- What does not merge ------------------------------------------------------------

#[test]
fn out_of_order_and_overlapping_segments_do_not_merge() {
    let f = FlowSpec::tap4();
    let s = flow_segs(4, 1000);
    // 0, 2 (a gap), then 1: 2 finishes 0's flow and starts its own; 1 does
    // not continue 2. Then a retransmission of 1 overlapping nothing new.
    let frames: Vec<_> = [&s[0], &s[2], &s[1]].iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!(out.len(), 3);
    for (o, fr) in out.iter().zip(&frames) {
        check_untouched(o, fr);
    }
    assert_eq!(report.out_of_order, 2, "{report:?}");
    // Overlap: the second segment starts 10 bytes early.
    let mut overlap = s[1].clone();
    overlap.seq -= 10;
    overlap.ip_id = s[1].ip_id;
    let frames = vec![frame(&f, &s[0]), frame(&f, &overlap)];
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.out_of_order), (2, 1));
    // A duplicate of the head.
    let frames = vec![frame(&f, &s[0]), frame(&f, &s[0])];
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.merged), (2, 0));
}

#[test]
fn a_flow_restarts_at_a_packet_that_does_not_continue_it() {
    // 0 1 | ack changes | 2' 3': two super-frames, in order.
    let f = FlowSpec::tap4();
    let mut s = flow_segs(4, 1000);
    s[2].ack += 1;
    s[3].ack += 1;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.coalesced, report.merged), (2, 2, 2));
    assert_eq!(report.ack_or_window_differ, 1);
    check_super_frame(&out[0], &f, &frames[..2]);
    // The second run's IPv4 IDs count on from its own head.
    check_super_frame(&out[1], &f, &frames[2..]);
}

/// The second of two segments, changed by `tweak`, does not merge and is
/// counted by `counter`.
fn second_does_not_merge(
    f: FlowSpec,
    tweak: impl Fn(&mut Seg),
    counter: fn(&GroReport) -> usize,
    what: &str,
) {
    let mut s = flow_segs(2, 500);
    tweak(&mut s[1]);
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!(out.len(), 2, "{what}");
    assert_eq!(report.merged, 0, "{what}: {report:?}");
    assert_eq!(counter(&report), 1, "{what}: {report:?}");
    check_untouched(&out[0], &frames[0]);
    check_untouched(&out[1], &frames[1]);
}

#[test]
fn syn_rst_urg_cwr_never_merge() {
    for (flag, name) in [(SYN, "SYN"), (RST, "RST"), (URG, "URG"), (CWR, "CWR")] {
        second_does_not_merge(FlowSpec::tap4(), |s| s.flags |= flag, |r| r.flags, name);
    }
    // ECE differing from the head's.
    second_does_not_merge(FlowSpec::tap4(), |s| s.flags |= ECE, |r| r.flags, "ECE");
    // Nor do they head a super-frame.
    let f = FlowSpec::tap4();
    let mut s = flow_segs(2, 500);
    s[0].flags |= CWR;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.flags), (2, 1));
}

#[test]
fn differing_fields_do_not_merge_and_are_counted() {
    let tap4 = FlowSpec::tap4();
    let tap6 = FlowSpec { v6: true, ..tap4 };
    second_does_not_merge(tap4, |s| s.ack += 1, |r| r.ack_or_window_differ, "ack");
    second_does_not_merge(
        tap4,
        |s| s.window -= 1,
        |r| r.ack_or_window_differ,
        "window",
    );
    second_does_not_merge(tap4, |s| s.ts_val += 1, |r| r.options_differ, "timestamp");
    second_does_not_merge(tap4, |s| s.tos = 4, |r| r.ip_fields_differ, "TOS");
    second_does_not_merge(tap4, |s| s.ttl = 63, |r| r.ip_fields_differ, "TTL");
    second_does_not_merge(tap4, |s| s.ip_id = 7, |r| r.ip_fields_differ, "IPv4 ID");
    second_does_not_merge(tap6, |s| s.tos = 4, |r| r.ip_fields_differ, "traffic class");
    second_does_not_merge(tap6, |s| s.ttl = 1, |r| r.ip_fields_differ, "hop limit");
    second_does_not_merge(tap4, |s| s.payload.push(0), |r| r.size_mismatch, "longer");
    second_does_not_merge(tap4, |s| s.payload.clear(), |r| r.no_payload, "pure ACK");
}

#[test]
fn a_different_flow_label_is_another_flow() {
    let f = FlowSpec {
        v6: true,
        ..FlowSpec::tap4()
    };
    let mut s = flow_segs(2, 500);
    s[1].flow_label = 1;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.merged, report.not_merged()), (2, 0, 0));
}

#[test]
fn options_differing_in_length_do_not_merge() {
    let with = FlowSpec::tap4();
    let without = FlowSpec { ts: false, ..with };
    let s = flow_segs(2, 500);
    let frames = vec![frame(&with, &s[0]), frame(&without, &s[1])];
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.options_differ), (2, 1));
}

#[test]
fn ipv4_ids_count_up_or_stay_fixed_with_df() {
    let f = FlowSpec::tap4();
    let mut fixed = flow_segs(3, 500);
    for s in &mut fixed {
        s.ip_id = 9;
    }
    let frames: Vec<_> = fixed.iter().map(|x| frame(&f, x)).collect();
    let (out, _) = tap(&frames);
    assert_eq!(out.len(), 1, "fixed IDs with DF merge");
    check_super_frame(&out[0], &f, &frames);
    // Without DF, a fixed ID does not.
    for s in &mut fixed {
        s.df = false;
    }
    let frames: Vec<_> = fixed.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.ip_fields_differ), (3, 2));
    // Counting up without DF merges; a switch from counting to fixed does
    // not.
    let mut s = flow_segs(3, 500);
    for x in &mut s {
        x.df = false;
    }
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    assert_eq!(tap(&frames).0.len(), 1);
    let mut s = flow_segs(3, 500);
    s[2].ip_id = s[1].ip_id;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.ip_fields_differ), (2, 1));
}

#[test]
fn ip_options_fragments_checksums_and_lengths_are_checked() {
    let f = FlowSpec::tap4();
    let s = flow_segs(2, 500);
    let head = frame(&f, &s[0]);
    let good = frame(&f, &s[1]);
    let counted = |second: Vec<u8>, counter: fn(&GroReport) -> usize, what: &str| {
        let (out, report) = tap(&[head.clone(), second.clone()]);
        assert_eq!(out.len(), 2, "{what}: {report:?}");
        assert_eq!(counter(&report), 1, "{what}: {report:?}");
        check_untouched(&out[1], &second);
    };
    // IPv4 options: one NOP word after the header.
    let mut opts = good.clone();
    opts.splice(34..34, [1, 1, 1, 1]);
    opts[14] = 0x46;
    let total = u16::from_be_bytes([opts[16], opts[17]]) + 4;
    opts[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut opts, 14);
    counted(opts, |r| r.ip_options, "IPv4 options");
    // A fragment (more fragments).
    let mut frag = good.clone();
    frag[20] |= 0x20;
    fix_ipv4_checksum(&mut frag, 14);
    counted(frag, |r| r.other_protocol, "fragment");
    // A payload byte changed: the TCP checksum fails.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    counted(bad, |r| r.bad_checksum, "TCP checksum");
    // The IPv4 header checksum fails.
    let mut bad = good.clone();
    bad[24] ^= 1;
    counted(bad, |r| r.bad_checksum, "IPv4 checksum");
    // A total length shorter than the frame (trailing bytes, as padding).
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 4]);
    counted(padded, |r| r.malformed, "padding");
    // A total length longer than the frame.
    let mut long = good.clone();
    long.truncate(long.len() - 1);
    counted(long, |r| r.malformed, "truncated");
    // IPv6 with a destination options header.
    let f6 = FlowSpec {
        v6: true,
        ..FlowSpec::tap4()
    };
    let mut ext = frame(&f6, &s[1]);
    ext.splice(54..54, [6, 0, 1, 4, 0, 0, 0, 0]);
    ext[20] = 60;
    let plen = u16::from_be_bytes([ext[18], ext[19]]) + 8;
    ext[18..20].copy_from_slice(&plen.to_be_bytes());
    let (out, report) = tap(&[frame(&f6, &s[0]), ext]);
    assert_eq!((out.len(), report.ip_options), (2, 1));
}

#[test]
fn a_padded_short_segment_is_not_merged() {
    // A 2-byte last segment is padded to 60 bytes on Ethernet.
    let f = FlowSpec {
        ts: false,
        ..FlowSpec::tap4()
    };
    let mut s = flow_segs(2, 500);
    s[1].payload.truncate(2);
    let mut last = frame(&f, &s[1]);
    last.resize(60, 0);
    let (out, report) = tap(&[frame(&f, &s[0]), last]);
    assert_eq!((out.len(), report.malformed), (2, 1));
}

#[test]
fn psh_and_fin_merge_as_the_last_segment_and_finish_the_flow() {
    for flag in [PSH, FIN, PSH | FIN] {
        let f = FlowSpec::tap4();
        let mut s = flow_segs(4, 800);
        s[2].flags |= flag;
        let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
        let (out, report) = tap(&frames);
        assert_eq!(out.len(), 2, "{report:?}");
        check_super_frame(&out[0], &f, &frames[..3]);
        assert_eq!(out[0].bytes[f.l4() + 13], ACK | flag);
        check_untouched(&out[1], &frames[3]);
        assert_eq!(report.not_merged(), 0, "a finished flow is not a failure");
    }
    // A PSH head is left alone, and the next segment starts a flow.
    let f = FlowSpec::tap4();
    let mut s = flow_segs(3, 800);
    s[0].flags |= PSH;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, _) = tap(&frames);
    assert_eq!(out.len(), 2);
    check_untouched(&out[0], &frames[0]);
    check_super_frame(&out[1], &f, &frames[1..]);
}

#[test]
fn a_shorter_segment_merges_and_finishes_the_flow() {
    let f = FlowSpec::tap4();
    let mut s = flow_segs(4, 800);
    s[1].payload.truncate(300);
    s[2].seq = s[1].seq + 300;
    s[3].seq = s[2].seq + 800;
    let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
    let (out, report) = tap(&frames);
    assert_eq!(out.len(), 2);
    check_super_frame(&out[0], &f, &frames[..2]);
    // The next segment (IPv4 ID 102, seq right) starts a flow of its own.
    check_super_frame(&out[1], &f, &frames[2..]);
    assert_eq!(report.not_merged(), 0);
}

#[test]
fn max_len_and_max_segs_are_respected() {
    let f = FlowSpec::tap4();
    let frames: Vec<_> = flow_segs(10, 1000).iter().map(|x| frame(&f, x)).collect();
    let pool = pool();
    let pkts = |pool: &Pool| frames.iter().map(|x| pkt(pool, x)).collect::<Vec<_>>();
    let hdr = f.hdr_len();
    // Room for the head and two more payloads.
    let limits = GroLimits {
        max_len: hdr + 3000,
        ..GroLimits::new(Framing::Ethernet)
    };
    let (out, report) = run_with::<8>(&pool, pkts(&pool), Framing::Ethernet, &limits);
    assert_eq!(out.len(), 4, "3 + 3 + 3 + 1");
    assert_eq!(report.too_big, 3);
    for (o, chunk) in out.iter().zip(frames.chunks(3)) {
        assert!(o.bytes.len() <= limits.max_len);
        if chunk.len() > 1 {
            check_super_frame(o, &f, chunk);
        }
    }
    let limits = GroLimits {
        max_segs: 4,
        ..GroLimits::new(Framing::Ethernet)
    };
    let (out, report) = run_with::<8>(&pool, pkts(&pool), Framing::Ethernet, &limits);
    assert_eq!(out.len(), 3, "4 + 4 + 2");
    assert!(out.iter().all(|o| o.segs <= 4));
    assert_eq!(report.too_big, 2);
    // 65535 IP bytes at most, whatever max_len says: 60 segments of 1448
    // bytes make 45 + 15.
    let big: Vec<_> = flow_segs(60, 1448).iter().map(|x| frame(&f, x)).collect();
    let limits = GroLimits {
        max_len: usize::MAX,
        ..GroLimits::new(Framing::Ethernet)
    };
    let pkts = big.iter().map(|x| pkt(&pool, x)).collect();
    let (out, report) = run_with::<8>(&pool, pkts, Framing::Ethernet, &limits);
    assert!(out.iter().all(|o| o.bytes.len() - 14 <= 65_535));
    assert_eq!(out.len(), 2, "{report:?}");
    check_super_frame(&out[0], &f, &big[..out[0].segs]);
}

#[test]
fn kernel_vouched_checksums_are_trusted_and_gso_frames_left_alone() {
    let f = FlowSpec::tap4();
    let frames: Vec<_> = flow_segs(3, 500).iter().map(|x| frame(&f, x)).collect();
    let pool = pool();
    let limits = GroLimits::new(Framing::Ethernet);
    // Valid and partial (at the TCP checksum) with a checksum field that
    // would not verify: merged all the same.
    let mut zeroed = frames.clone();
    for z in &mut zeroed {
        z[f.l4() + 16..f.l4() + 18].fill(0);
    }
    let offloads = [
        Offload {
            csum: Checksum::Valid,
            gso: None,
        },
        Offload {
            csum: Checksum::Partial {
                start: f.l4() as u16,
                offset: 16,
            },
            gso: None,
        },
        Offload {
            csum: Checksum::Valid,
            gso: None,
        },
    ];
    let pkts = zeroed
        .iter()
        .zip(offloads)
        .map(|(x, o)| {
            let mut p = pkt(&pool, x);
            p.set_offload(o);
            p
        })
        .collect();
    let (out, report) = run_with::<8>(&pool, pkts, Framing::Ethernet, &limits);
    assert_eq!((out.len(), report.merged), (1, 2));
    check_super_frame(&out[0], &f, &frames);
    // A partial checksum elsewhere, or a GSO report: not merged.
    for off in [
        Offload {
            csum: Checksum::Partial {
                start: 14,
                offset: 16,
            },
            gso: None,
        },
        Offload {
            csum: Checksum::Valid,
            gso: Some(Gso {
                kind: GsoKind::Tcpv4,
                size: 500,
                hdr_len: f.hdr_len() as u16,
                ecn: false,
            }),
        },
    ] {
        let pkts = frames
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let mut p = pkt(&pool, x);
                if i == 1 {
                    p.set_offload(off);
                }
                p
            })
            .collect();
        let (out, report) = run_with::<8>(&pool, pkts, Framing::Ethernet, &limits);
        assert_eq!((out.len(), report.offloaded), (3, 1), "{off:?}");
        assert_eq!(out[1].offload, off, "left as it was");
    }
}

#[test]
fn chained_inputs_verify_across_odd_splits_and_merge() {
    let f = FlowSpec::tap4();
    let frames: Vec<_> = flow_segs(3, 1001).iter().map(|x| frame(&f, x)).collect();
    let pool = pool();
    // Splits at odd offsets inside the payload.
    let pkts: Vec<Pkt> = frames
        .iter()
        .zip([f.hdr_len() + 1, f.hdr_len() + 333, f.hdr_len()])
        .map(|(x, at)| chained(&pool, x, at))
        .collect();
    let in_use = pool.stats().in_use;
    let mut burst: Burst<8> = Burst::new();
    for p in pkts {
        burst.push(p).unwrap();
    }
    let report = Coalescer::<8>::new().coalesce(
        &mut burst,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((burst.len(), report.merged), (1, 2), "{report:?}");
    assert_eq!(pool.stats().in_use, in_use);
    let o = out_of(burst.get(0).unwrap());
    assert_eq!(o.segs, 6);
    check_super_frame(&o, &f, &frames);
    // A corrupted byte in the second buffer is caught.
    let mut bad = frames[1].clone();
    *bad.last_mut().unwrap() ^= 0x80;
    let mut burst: Burst<8> = Burst::new();
    burst.push(chained(&pool, &frames[0], 70)).unwrap();
    burst.push(chained(&pool, &bad, 71)).unwrap();
    let report = Coalescer::<8>::new().coalesce(
        &mut burst,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((burst.len(), report.bad_checksum), (2, 1));
    // Headers split over buffers do not merge, and the flow does not
    // overtake them: the third segment does not join the first.
    burst.clear();
    burst.push(pkt(&pool, &frames[0])).unwrap();
    burst.push(chained(&pool, &frames[1], 40)).unwrap();
    burst.push(pkt(&pool, &frames[2])).unwrap();
    let report = Coalescer::<8>::new().coalesce(
        &mut burst,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((burst.len(), report.malformed, report.merged), (3, 1, 0));
}

#[test]
fn a_full_flow_table_evicts_the_oldest_flow() {
    let specs: Vec<FlowSpec> = (0..3)
        .map(|i| FlowSpec {
            sport: 100 + i,
            ..FlowSpec::tap4()
        })
        .collect();
    let segs = flow_segs(2, 500);
    // a0 b0 c0 a1 b1 c1 with two flows tracked: c0 evicts a, a1 evicts b,
    // b1 evicts c: nothing merges.
    let mut frames = Vec::new();
    for s in &segs {
        for f in &specs {
            frames.push(frame(f, s));
        }
    }
    let pool = pool();
    let pkts = frames.iter().map(|x| pkt(&pool, x)).collect();
    let (out, report) = run_with::<2>(
        &pool,
        pkts,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((out.len(), report.merged), (6, 0));
    assert_eq!(report.evicted, 4);
    // With three tracked, all merge.
    let pkts = frames.iter().map(|x| pkt(&pool, x)).collect();
    let (out, report) = run_with::<3>(
        &pool,
        pkts,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((out.len(), report.coalesced, report.evicted), (3, 3, 0));
    // A table of none coalesces nothing and loses nothing.
    let pkts = frames.iter().map(|x| pkt(&pool, x)).collect();
    let (out, _) = run_with::<0>(
        &pool,
        pkts,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!(out.len(), 6);
}

#[test]
fn packets_of_another_pool_do_not_merge() {
    let f = FlowSpec::tap4();
    let frames: Vec<_> = flow_segs(2, 500).iter().map(|x| frame(&f, x)).collect();
    let (a, b) = (pool(), pool());
    let mut burst: Burst<4> = Burst::new();
    burst.push(pkt(&a, &frames[0])).unwrap();
    burst.push(pkt(&b, &frames[1])).unwrap();
    let report = Coalescer::<8>::new().coalesce(
        &mut burst,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!((burst.len(), report.foreign_pool), (2, 1));
}

#[test]
fn udp_coalesces_only_when_asked() {
    let payloads = [
        bytes(1200, 1),
        bytes(1200, 2),
        bytes(1200, 3),
        bytes(500, 4),
    ];
    let frames: Vec<_> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| udp_frame(9, p, 10 + i as u16))
        .collect();
    let (out, report) = tap(&frames);
    assert_eq!((out.len(), report.other_protocol), (4, 4));
    let pool = pool();
    let pkts = frames.iter().map(|x| pkt(&pool, x)).collect();
    let limits = GroLimits {
        udp: true,
        ..GroLimits::new(Framing::Ethernet)
    };
    let (out, report) = run_with::<8>(&pool, pkts, Framing::Ethernet, &limits);
    assert_eq!((out.len(), report.merged), (1, 3), "{report:?}");
    let b = &out[0].bytes;
    let all: Vec<u8> = payloads.concat();
    assert_eq!(&b[42..], &all[..]);
    assert_eq!(u16::from_be_bytes([b[16], b[17]]) as usize, b.len() - 14);
    assert_eq!(u16::from_be_bytes([b[38], b[39]]) as usize, b.len() - 34);
    assert_eq!(fold64(ones_sum(&[&b[14..34]])), 0xffff);
    let field = fold64(ones_sum(&[&pseudo(b, 14, false, 17, b.len() - 34)]));
    assert_eq!(u16::from_be_bytes([b[40], b[41]]), field);
    assert_eq!(
        out[0].offload,
        Offload {
            csum: Checksum::Partial {
                start: 34,
                offset: 6
            },
            gso: Some(Gso {
                kind: GsoKind::UdpL4,
                size: 1200,
                hdr_len: 42,
                ecn: false
            }),
        }
    );
}

#[test]
fn udp_checksums_are_verified_when_datagrams_merge() {
    let limits = GroLimits {
        udp: true,
        ..GroLimits::new(Framing::Ethernet)
    };
    let run_udp = |frames: &[Vec<u8>]| {
        let pool = pool();
        let pkts = frames.iter().map(|x| pkt(&pool, x)).collect();
        run_with::<8>(&pool, pkts, Framing::Ethernet, &limits)
    };
    let frames: Vec<_> = (0..3)
        .map(|i| udp_frame(9, &bytes(1000, i), 10 + i as u16))
        .collect();
    // A checksum of 0 over IPv4 means "none" (RFC 768): they merge.
    let mut none = frames.clone();
    for f in &mut none {
        f[40..42].fill(0);
    }
    let (out, report) = run_udp(&none);
    assert_eq!((out.len(), report.merged), (1, 2), "{report:?}");
    // A corrupted middle datagram is caught when it is to merge: the
    // first stays alone, the bad one too, the third is alone after it.
    let mut bad = frames.clone();
    *bad[1].last_mut().unwrap() ^= 1;
    let (out, report) = run_udp(&bad);
    assert_eq!((out.len(), report.merged), (3, 0), "{report:?}");
    assert_eq!(report.bad_checksum, 1, "{report:?}");
    for (o, f) in out.iter().zip(&bad) {
        check_untouched(o, f);
    }
}

// ---- Splitting back ----------------------------------------------------------------

/// A test-only TCP segmenter: splits a super-frame at its `gso.size` as a
/// kernel would (sequence numbers, IPv4 IDs counting up, lengths, PSH/FIN
/// on the last segment only, checksums complete).
fn split(out: &Out, framing: Framing) -> Vec<Vec<u8>> {
    let gso = out.offload.gso.expect("a super-frame");
    let b = &out.bytes;
    let h = parse_framed(b, framing).unwrap();
    let (l3, l4, hdr) = (h.l3_offset(), h.l4_offset(), usize::from(gso.hdr_len));
    let v6 = h.ip() == IpVersion::V6;
    let seq0 = u32::from_be_bytes(b[l4 + 4..l4 + 8].try_into().unwrap());
    let id0 = u16::from_be_bytes([b[l3 + 4], b[l3 + 5]]);
    let chunks: Vec<&[u8]> = b[hdr..].chunks(usize::from(gso.size)).collect();
    let n = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut s = b[..hdr].to_vec();
            s.extend_from_slice(chunk);
            let off = (i * usize::from(gso.size)) as u32;
            let len = s.len();
            s[l4 + 4..l4 + 8].copy_from_slice(&seq0.wrapping_add(off).to_be_bytes());
            if i + 1 < n {
                s[l4 + 13] &= !(PSH | FIN);
            }
            if v6 {
                s[l3 + 4..l3 + 6].copy_from_slice(&((len - l3 - 40) as u16).to_be_bytes());
            } else {
                s[l3 + 2..l3 + 4].copy_from_slice(&((len - l3) as u16).to_be_bytes());
                s[l3 + 4..l3 + 6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
                fix_ipv4_checksum(&mut s, l3);
            }
            s[l4 + 16..l4 + 18].fill(0);
            let p = pseudo(&s, l3, v6, 6, s.len() - l4);
            let c = !fold64(ones_sum(&[&p, &s[l4..]]));
            s[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
            s
        })
        .collect()
}

#[test]
fn splitting_a_super_frame_back_gives_the_original_segments() {
    for (f, n, mss, last) in [
        (FlowSpec::tap4(), 12, 1448, 1448),
        (
            FlowSpec {
                v6: true,
                vlan: true,
                ..FlowSpec::tap4()
            },
            5,
            1000,
            17,
        ),
        (
            FlowSpec {
                framing: Framing::Ip,
                ts: false,
                ..FlowSpec::tap4()
            },
            30,
            536,
            535,
        ),
    ] {
        let mut s = flow_segs(n, mss);
        s.last_mut().unwrap().payload.truncate(last);
        s.last_mut().unwrap().flags |= PSH;
        let frames: Vec<_> = s.iter().map(|x| frame(&f, x)).collect();
        let (out, _) = run(&frames, f.framing);
        assert_eq!(out.len(), 1);
        assert_eq!(split(&out[0], f.framing), frames, "{f:?}");
    }
}

// ---- Properties ----------------------------------------------------------------------

/// A TCP segment as `(flow, seq, payload)`, from a frame that parses as
/// TCP; super-frames are cut at their segment size first.
fn segments_of(out: &Out, framing: Framing) -> Vec<(u16, u32, Vec<u8>)> {
    let pieces = match out.offload.gso {
        Some(_) => split(out, framing),
        None => vec![out.bytes.clone()],
    };
    pieces
        .iter()
        .filter_map(|b| {
            let h = parse_framed(b, framing).ok()?;
            (h.l4() == L4::Tcp).then_some(())?;
            let l4 = h.l4_offset();
            let sport = u16::from_be_bytes([b[l4], b[l4 + 1]]);
            let seq = u32::from_be_bytes(b[l4 + 4..l4 + 8].try_into().unwrap());
            Some((sport, seq, b[h.hdr_len()..].to_vec()))
        })
        .collect()
}

/// A flow's segments, `(seq, payload)`, in order, by source port.
type Stream = (u16, Vec<(u32, Vec<u8>)>);

/// Per flow (source port), the payload bytes in stream order.
fn streams(segs: &[(u16, u32, Vec<u8>)]) -> Vec<Stream> {
    let mut by_flow: Vec<Stream> = Vec::new();
    for (flow, seq, payload) in segs {
        match by_flow.iter_mut().find(|(f, _)| f == flow) {
            Some((_, v)) => v.push((*seq, payload.clone())),
            None => by_flow.push((*flow, vec![(*seq, payload.clone())])),
        }
    }
    by_flow.sort();
    by_flow
}

/// A flow's segments: payload sizes `sizes` (at most `mss`) with a change
/// per segment picked by `kinks` (mostly none).
fn flow_frames(f: &FlowSpec, mss: usize, sizes: &[usize], kinks: &[u8]) -> Vec<Vec<u8>> {
    let mut seq = 5000u32;
    sizes
        .iter()
        .zip(kinks)
        .enumerate()
        .map(|(i, (&size, &kink))| {
            let mut s = seg(seq, bytes(size.min(mss), i as u32 + u32::from(f.sport)));
            s.ip_id = i as u16;
            match kink {
                1 => s.flags |= PSH,
                2 => s.seq = s.seq.wrapping_sub(7),
                3 => s.ack += 1,
                4 => s.flags |= FIN,
                _ => {}
            }
            seq = seq.wrapping_add(s.payload.len() as u32);
            let mut fr = frame(f, &s);
            if kink == 5 {
                *fr.last_mut().unwrap() ^= 0xff; // a bad checksum, or no payload
            }
            fr
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_flows_keep_every_byte_and_buffer(
        flows in 1usize..4,
        v6 in any::<bool>(),
        tun in any::<bool>(),
        mss in 1usize..1500,
        sizes in proptest::collection::vec(proptest::collection::vec(1usize..1500, 1..20), 4),
        kinks in proptest::collection::vec(
            prop_oneof![8 => Just(0u8), 1 => 1u8..6],
            20,
        ),
        order in proptest::collection::vec(0usize..4, 80),
        max_segs in prop_oneof![3 => Just(MAX_SEGS), 1 => 1usize..8],
    ) {
        let framing = if tun { Framing::Ip } else { Framing::Ethernet };
        let specs: Vec<FlowSpec> = (0..flows)
            .map(|i| FlowSpec {
                framing,
                v6,
                vlan: false,
                ts: i % 2 == 0,
                sport: 1000 + i as u16,
            })
            .collect();
        let mut queues: Vec<std::collections::VecDeque<Vec<u8>>> = specs
            .iter()
            .zip(&sizes)
            .map(|(f, sz)| {
                // Mostly full segments: sizes below the mss only sometimes.
                let sz: Vec<usize> = sz.iter().map(|&s| if s % 3 == 0 { s } else { mss }).collect();
                flow_frames(f, mss, &sz, &kinks).into()
            })
            .collect();
        // Interleave the flows as `order` says, then whatever is left.
        let mut input = Vec::new();
        for &q in &order {
            if let Some(fr) = queues.get_mut(q % flows).and_then(|q| q.pop_front()) {
                input.push(fr);
            }
        }
        for q in &mut queues {
            input.extend(q.drain(..));
        }
        let pool = test_pool(PoolConfig::standard(128));
        let pkts = input.iter().map(|x| pkt(&pool, x)).collect();
        let limits = GroLimits { max_segs, ..GroLimits::new(framing) };
        let (out, report) = run_with::<8>(&pool, pkts, framing, &limits);
        prop_assert_eq!(out.len() + report.merged, input.len());
        let before: Vec<_> = input
            .iter()
            .flat_map(|b| segments_of(&Out { bytes: b.clone(), offload: Offload::NONE, segs: 1 }, framing))
            .collect();
        let after: Vec<_> = out.iter().flat_map(|o| segments_of(o, framing)).collect();
        // Per flow, the segments in the same order: nothing lost, nothing
        // reordered within a flow.
        prop_assert_eq!(streams(&before), streams(&after));
        let mut coalesced = 0;
        for o in &out {
            prop_assert!(parse_framed(&o.bytes, framing).is_ok());
            prop_assert!(o.segs <= max_segs.max(1));
            if let Some(gso) = o.offload.gso {
                coalesced += 1;
                let h = parse_framed(&o.bytes, framing).unwrap();
                let l3 = h.l3_offset();
                let ip_len = match h.ip() {
                    IpVersion::V4 => usize::from(u16::from_be_bytes([o.bytes[l3 + 2], o.bytes[l3 + 3]])),
                    IpVersion::V6 => 40 + usize::from(u16::from_be_bytes([o.bytes[l3 + 4], o.bytes[l3 + 5]])),
                };
                prop_assert_eq!(ip_len, o.bytes.len() - l3);
                prop_assert_eq!(usize::from(gso.hdr_len), h.hdr_len());
                prop_assert!(o.bytes.len() - h.hdr_len() > usize::from(gso.size));
                prop_assert_eq!(crate::wire::vnet::check_tx(&o.offload, o.bytes.len()), Ok(()));
            }
        }
        prop_assert_eq!(coalesced, report.coalesced);
    }
}

// ---- GSO undoes GRO --------------------------------------------------------------

/// `frame` with its TCP checksum field at `l4 + 16` read as 0xffff when it
/// is 0: both verify the same, and software GSO stores a computed 0 as
/// 0xffff (as the kernel's `CSUM_MANGLED_0`).
fn csum_normalized(mut frame: Vec<u8>, l4: usize) -> Vec<u8> {
    if frame.get(l4 + 16..l4 + 18) == Some(&[0, 0]) {
        frame[l4 + 16..l4 + 18].copy_from_slice(&[0xff, 0xff]);
    }
    frame
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A flow as a kernel segments it (full segments, a shorter last one
    /// with PSH, IPv4 IDs counting up) comes back byte for byte when the
    /// coalesced super-frames are segmented again in software: GSO(GRO(x))
    /// == x, for every framing, IP version, VLAN tag and TCP options.
    #[test]
    fn gso_of_gro_gives_back_every_segment(
        tun in any::<bool>(),
        v6 in any::<bool>(),
        vlan in any::<bool>(),
        ts in any::<bool>(),
        mss in 1usize..1460,
        n in 1usize..46,
        last in 1usize..1460,
    ) {
        use crate::wire::gso::{SegmentChecksum, Segmenter};
        let framing = if tun { Framing::Ip } else { Framing::Ethernet };
        let f = FlowSpec { framing, v6, vlan: vlan && !tun, ts, sport: 40_000 };
        let mut segs = flow_segs(n, mss);
        let tail = segs.last_mut().expect("n >= 1");
        tail.payload.truncate(last.min(mss));
        tail.flags |= PSH;
        let x: Vec<Vec<u8>> = segs.iter().map(|s| frame(&f, s)).collect();
        let pool = test_pool(PoolConfig::standard(512));
        let mut burst: Burst<64> = Burst::new();
        for fr in &x {
            burst.push(pkt(&pool, fr)).expect("room");
        }
        let report = Coalescer::<8>::new().coalesce(&mut burst, framing, &GroLimits::new(framing));
        prop_assert_eq!(report.not_merged(), 0, "{:?}", report);
        let mut again = Vec::new();
        for p in burst.iter() {
            let Some(gso) = p.offload().gso else {
                again.push(out_of(p).bytes);
                continue;
            };
            let mtu = f.hdr_len() - f.l3() + usize::from(gso.size);
            let max_frame = framing.max_frame(mtu as u32) as usize;
            let mut s = Segmenter::new(p, framing, max_frame).expect("a coalesced frame segments");
            while s.remaining() > 0 {
                let mut seg = pool.alloc().expect("a free buffer");
                s.next_into(p, &mut seg, SegmentChecksum::Complete).expect("segment");
                again.push(out_of(&seg).bytes);
            }
        }
        burst.clear();
        prop_assert_eq!(pool.stats().in_use, 0);
        let l4 = f.l4();
        let norm = |v: &[Vec<u8>]| -> Vec<Vec<u8>> {
            v.iter().map(|fr| csum_normalized(fr.clone(), l4)).collect()
        };
        prop_assert_eq!(norm(&again), norm(&x));
    }
}
