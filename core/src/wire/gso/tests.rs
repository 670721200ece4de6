//! Tests of software segmentation: hand-built super-frames checked field by
//! field against the kernel's rules, properties over random shapes, chains,
//! every error, and the software checksum completion.
//!
//! Checksums are verified with a sum written here (not core's), over a
//! pseudo header built here from the segment's own bytes.

use super::*;
use crate::packet::{Burst, Gso, Pool, PoolConfig, PoolStats, test_pool};
use crate::wire::headers::parse_framed;
use crate::wire::offload_request;
use proptest::prelude::*;
use std::string::ToString;
use std::thread_local;
use std::vec;
use std::vec::Vec;

// ---- Frame builder ---------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum L4Spec {
    /// TCP with the timestamps option (12 bytes) or none, and these flags.
    Tcp {
        timestamps: bool,
        flags: u8,
    },
    Udp,
}

#[derive(Clone, Debug)]
struct Spec {
    framing: Framing,
    /// VLAN tags (Ethernet framing only).
    vlans: usize,
    v6: bool,
    /// IPv4: option words (NOPs); IPv6: 8-byte destination options headers.
    ip_options: usize,
    l4: L4Spec,
    payload_len: usize,
    ipv4_id: u16,
    tcp_seq: u32,
}

const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;

fn tcp4(payload_len: usize) -> Spec {
    Spec {
        framing: Framing::Ethernet,
        vlans: 0,
        v6: false,
        ip_options: 0,
        l4: L4Spec::Tcp {
            timestamps: true,
            flags: TCP_ACK | TCP_PSH,
        },
        payload_len,
        ipv4_id: 0x1234,
        tcp_seq: 0xffff_f800,
    }
}

fn udp(v6: bool, payload_len: usize) -> Spec {
    Spec {
        v6,
        l4: L4Spec::Udp,
        ..tcp4(payload_len)
    }
}

fn payload_byte(i: usize) -> u8 {
    // Not periodic in 256, so a chunk copied from the wrong place shows.
    (i * 31 + i / 251) as u8
}

/// The frame `s` describes. The L4 checksum field holds garbage: the
/// segmenter must not care what it holds.
fn build(s: &Spec) -> Vec<u8> {
    let (proto, mut l4) = match s.l4 {
        L4Spec::Tcp { timestamps, flags } => {
            let words = if timestamps { 3u8 } else { 0 };
            let mut t = vec![0x30, 0x39, 0x01, 0xbb];
            t.extend_from_slice(&s.tcp_seq.to_be_bytes());
            t.extend_from_slice(&[0, 0, 0x10, 0x01, (5 + words) << 4, flags]);
            t.extend_from_slice(&[0x72, 0x10, 0xde, 0xad, 0, 7]);
            if timestamps {
                t.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]);
            }
            (6u8, t)
        }
        L4Spec::Udp => (17u8, vec![0x13, 0x88, 0x00, 0x35, 0, 0, 0xde, 0xad]),
    };
    if let L4Spec::Udp = s.l4 {
        let len = (l4.len() + s.payload_len) as u16;
        l4[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let mut body = Vec::new();
    if s.v6 {
        for i in 0..s.ip_options {
            let next = if i + 1 == s.ip_options { proto } else { 60 };
            body.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
        }
    }
    body.extend_from_slice(&l4);
    body.extend((0..s.payload_len).map(payload_byte));
    let mut ip = if s.v6 {
        let next = if s.ip_options > 0 { 60 } else { proto };
        let mut h = vec![0x60, 0x01, 0x23, 0x45];
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend((0..16).map(|i| 0xfd ^ i as u8));
        h.extend((0..16).map(|i| 0x20 + i as u8));
        h
    } else {
        let hl = 20 + 4 * s.ip_options;
        let total = ((hl + body.len()) as u16).to_be_bytes();
        let id = s.ipv4_id.to_be_bytes();
        let mut h = vec![
            0x45 + s.ip_options as u8,
            0,
            total[0],
            total[1],
            id[0],
            id[1],
        ];
        h.extend_from_slice(&[0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 192, 168, 7, 2]);
        h.extend(core::iter::repeat_n(1u8, 4 * s.ip_options));
        let c = !ones_sum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    };
    ip.extend_from_slice(&body);
    match s.framing {
        Framing::Ip => ip,
        Framing::Ethernet => {
            let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            for i in 0..s.vlans {
                f.extend_from_slice(&[0x81, 0, 0, 10 + i as u8]);
            }
            f.extend_from_slice(if s.v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
            f.extend_from_slice(&ip);
            f
        }
    }
}

fn kind_of(s: &Spec) -> GsoKind {
    match (s.l4, s.v6) {
        (L4Spec::Udp, _) => GsoKind::UdpL4,
        (_, false) => GsoKind::Tcpv4,
        (_, true) => GsoKind::Tcpv6,
    }
}

/// A segmentation request of `size`, with an `hdr_len` that is wrong on
/// purpose (the segmenter must use the parsed headers).
fn request(kind: GsoKind, size: u16) -> Offload {
    Offload {
        csum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: Some(Gso {
            kind,
            size,
            hdr_len: 3,
            ecn: true,
        }),
    }
}

thread_local! {
    /// Buffers for a 64 KiB frame; one pool per test thread, kept (test
    /// pools are leaked) so property tests do not allocate one per case.
    static POOL: Pool = test_pool(PoolConfig {
        count: 96,
        data_room: 66 * 1024,
        headroom: 128,
    });
}

fn pool() -> Pool {
    POOL.with(Pool::clone)
}

/// A packet holding `frame`, cut after each offset of `cuts` (increasing)
/// into chained segments.
fn pkt_of(pool: &Pool, frame: &[u8], cuts: &[usize], off: Offload) -> Pkt {
    let mut at = 0;
    let mut pkt: Option<Pkt> = None;
    for end in cuts.iter().copied().chain([frame.len()]) {
        let end = end.clamp(at, frame.len());
        let mut seg = pool.alloc().expect("test pool has room");
        seg.extend_from_slice(&frame[at..end]).unwrap();
        match &mut pkt {
            None => pkt = Some(seg),
            Some(p) => p.chain(seg).unwrap(),
        }
        at = end;
    }
    let mut pkt = pkt.unwrap();
    pkt.set_offload(off);
    pkt
}

fn bytes_of(pkt: &Pkt) -> Vec<u8> {
    let mut v = vec![0; pkt.pkt_len()];
    assert_eq!(pkt.copy_to(&mut v), v.len());
    v
}

/// Every segment of `pkt`, through `next_into`.
fn segment_all(
    pkt: &Pkt,
    framing: Framing,
    max_frame: usize,
    csum: SegmentChecksum,
) -> Result<Vec<(Vec<u8>, Offload)>, GsoError> {
    let mut seg = Segmenter::new(pkt, framing, max_frame)?;
    let mut out = Vec::new();
    while seg.remaining() > 0 {
        let mut o = pkt.alloc_sibling().expect("test pool has room");
        seg.next_into(pkt, &mut o, csum)?;
        assert_eq!(o.nb_segs(), 1);
        out.push((bytes_of(&o), o.offload()));
    }
    assert_eq!(out.len(), seg.segments());
    assert_eq!(
        seg.next_into(pkt, &mut pkt.alloc_sibling().unwrap(), csum),
        Err(GsoError::Done)
    );
    Ok(out)
}

// ---- Independent checks ----------------------------------------------------

/// The folded one's-complement sum of the concatenation of `parts` (each
/// even-length but the last).
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for b in parts.iter().flat_map(|p| p.iter()) {
        match odd.take() {
            None => odd = Some(*b),
            Some(hi) => sum += u64::from(u16::from_be_bytes([hi, *b])),
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(hi) << 8;
    }
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The pseudo header of `frame`'s L4 segment, from its own address bytes.
fn pseudo(frame: &[u8], h: &Headers) -> Vec<u8> {
    let (l3, proto) = (h.l3_offset(), if h.l4() == L4::Tcp { 6 } else { 17 });
    let l4_len = frame.len() - h.l4_offset();
    let mut p = Vec::new();
    if h.ip() == IpVersion::V4 {
        p.extend_from_slice(&frame[l3 + 12..l3 + 20]);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&frame[l3 + 8..l3 + 40]);
        p.extend_from_slice(&(l4_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    }
    p
}

/// Checks `segs`, the segments of `frame` (of `framing`) at `mss` for
/// `max_frame`, field by field; returns nothing, panics on a violation.
fn check_segments(
    frame: &[u8],
    framing: Framing,
    segs: &[(Vec<u8>, Offload)],
    mss: usize,
    max_frame: usize,
    csum: SegmentChecksum,
) {
    let h0 = parse_framed(frame, framing).unwrap();
    let (l3, l4, hdr_len) = (h0.l3_offset(), h0.l4_offset(), h0.hdr_len());
    let payload = &frame[hdr_len..];
    assert_eq!(
        segs.len(),
        payload.len().div_ceil(mss).max(1),
        "segment count"
    );
    let tcp = h0.l4() == L4::Tcp;
    let mut joined = Vec::new();
    for (k, (seg, off)) in segs.iter().enumerate() {
        let last = k + 1 == segs.len();
        let h = parse_framed(seg, framing).unwrap_or_else(|e| panic!("segment {k}: {e}"));
        assert_eq!(
            (h.l3_offset(), h.l4_offset(), h.hdr_len(), h.ip(), h.l4()),
            (l3, l4, hdr_len, h0.ip(), h0.l4()),
            "segment {k} headers"
        );
        assert!(
            seg.len() <= max_frame,
            "segment {k}: {} > {max_frame}",
            seg.len()
        );
        let chunk = &seg[hdr_len..];
        if !last {
            assert_eq!(chunk.len(), mss, "segment {k} carries a full mss");
        }
        assert!(!chunk.is_empty() || payload.is_empty(), "segment {k} empty");
        joined.extend_from_slice(chunk);
        // L2 (Ethernet, VLAN tags) as in the packet.
        assert_eq!(seg[..l3], frame[..l3], "segment {k} L2");
        // IP.
        if h0.ip() == IpVersion::V4 {
            assert_eq!(
                usize::from(be16(seg, l3 + 2)),
                seg.len() - l3,
                "total length"
            );
            let id = be16(frame, l3 + 4).wrapping_add(k as u16);
            assert_eq!(be16(seg, l3 + 4), id, "segment {k} IPv4 ID");
            assert_eq!(ones_sum(&[&seg[l3..l4]]), 0xffff, "IPv4 header checksum");
            assert_eq!(seg[l3 + 6..l3 + 10], frame[l3 + 6..l3 + 10]);
            assert_eq!(seg[l3 + 12..l4], frame[l3 + 12..l4], "addresses, options");
        } else {
            assert_eq!(usize::from(be16(seg, l3 + 4)), seg.len() - l3 - 40);
            assert_eq!(seg[l3..l3 + 4], frame[l3..l3 + 4]);
            assert_eq!(
                seg[l3 + 6..l4],
                frame[l3 + 6..l4],
                "addresses, extension headers"
            );
        }
        // L4.
        if tcp {
            let seq = be32(frame, l4 + 4).wrapping_add((k * mss) as u32);
            assert_eq!(be32(seg, l4 + 4), seq, "segment {k} sequence number");
            let mut flags = frame[l4 + 13];
            if !last {
                flags &= !(TCP_FIN | TCP_PSH);
            }
            if k != 0 {
                flags &= !TCP_CWR;
            }
            assert_eq!(seg[l4 + 13], flags, "segment {k} TCP flags");
            assert_eq!(seg[l4..l4 + 4], frame[l4..l4 + 4], "ports");
            assert_eq!(seg[l4 + 8..l4 + 13], frame[l4 + 8..l4 + 13]);
            assert_eq!(seg[l4 + 14..l4 + 16], frame[l4 + 14..l4 + 16], "window");
            assert_eq!(
                seg[l4 + 18..hdr_len],
                frame[l4 + 18..hdr_len],
                "urgent, options"
            );
        } else {
            assert_eq!(usize::from(be16(seg, l4 + 4)), seg.len() - l4, "UDP length");
            assert_eq!(seg[l4..l4 + 4], frame[l4..l4 + 4], "ports");
        }
        let field = l4 + if tcp { 16 } else { 6 };
        let ph = pseudo(seg, &h);
        match csum {
            SegmentChecksum::Complete => {
                assert_eq!(*off, Offload::NONE);
                assert_eq!(
                    ones_sum(&[&ph, &seg[l4..]]),
                    0xffff,
                    "segment {k} L4 checksum"
                );
                assert_ne!(be16(seg, field), 0, "a computed checksum is never 0");
            }
            SegmentChecksum::Partial => {
                let start = l4 as u16;
                let offset = (field - l4) as u16;
                assert_eq!(
                    *off,
                    Offload {
                        csum: Checksum::Partial { start, offset },
                        gso: None
                    }
                );
                assert_eq!(be16(seg, field), ones_sum(&[&ph]), "pseudo-header sum");
            }
        }
    }
    assert!(joined == payload, "payloads concatenate to the original");
}

fn check_spec(s: &Spec, size: u16, max_frame: usize, csum: SegmentChecksum, cuts: &[usize]) {
    let pool = pool();
    let before = pool.stats();
    let frame = build(s);
    {
        let pkt = pkt_of(&pool, &frame, cuts, request(kind_of(s), size));
        let h = parse_framed(&frame, s.framing).unwrap();
        let hdr_len = h.hdr_len();
        // What the MTU leaves after a segment's L3 and L4 headers.
        let limit = (max_frame + h.l3_offset())
            .saturating_sub(s.framing.l2_overhead() as usize)
            .min(max_frame);
        let room = limit.saturating_sub(hdr_len);
        let tcp = h.l4() == L4::Tcp;
        if room == 0 || (!tcp && usize::from(size) > room) {
            let e = segment_all(&pkt, s.framing, max_frame, csum).unwrap_err();
            assert_eq!(e, GsoError::MaxFrameTooSmall { max_frame, hdr_len });
        } else {
            let segs = segment_all(&pkt, s.framing, max_frame, csum).unwrap();
            let mss = if tcp {
                usize::from(size).min(room)
            } else {
                usize::from(size)
            };
            check_segments(&frame, s.framing, &segs, mss, max_frame, csum);
        }
    }
    assert_eq!(pool.stats(), before, "every buffer back");
}

// ---- Hand-built super-frames ----------------------------------------------

#[test]
fn tcpv4_over_ethernet_follows_the_kernel_field_by_field() {
    // ACK|PSH|FIN|CWR|ECE|URG, timestamps, 4000 bytes at 1448: 3 segments.
    let s = Spec {
        l4: L4Spec::Tcp {
            timestamps: true,
            flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR | TCP_ECE | TCP_URG,
        },
        ..tcp4(4000)
    };
    let frame = build(&s);
    let pool = pool();
    let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1448));
    let segs = segment_all(&pkt, Framing::Ethernet, 1518, SegmentChecksum::Complete).unwrap();
    check_segments(
        &frame,
        Framing::Ethernet,
        &segs,
        1448,
        1514,
        SegmentChecksum::Complete,
    );
    // Ethernet 14 + IPv4 20 + TCP 32 = 66 bytes of headers.
    let lens: Vec<usize> = segs.iter().map(|(f, _)| f.len()).collect();
    assert_eq!(lens, [66 + 1448, 66 + 1448, 66 + 1104]);
    let flags: Vec<u8> = segs.iter().map(|(f, _)| f[34 + 13]).collect();
    assert_eq!(
        flags,
        [0xf0, 0x70, 0x79],
        "CWR first only, FIN|PSH last only"
    );
    let seqs: Vec<u32> = segs.iter().map(|(f, _)| be32(f, 34 + 4)).collect();
    assert_eq!(
        seqs,
        [0xffff_f800, 0xffff_fda8, 0x0000_0350],
        "wraps at 2^32"
    );
    let ids: Vec<u16> = segs.iter().map(|(f, _)| be16(f, 14 + 4)).collect();
    assert_eq!(ids, [0x1234, 0x1235, 0x1236]);
}

#[test]
fn tcpv6_with_vlan_tags_leaves_checksums_partial() {
    for vlans in [1, 2] {
        let s = Spec {
            vlans,
            v6: true,
            ..tcp4(3000)
        };
        check_spec(&s, 1000, 1518, SegmentChecksum::Partial, &[]);
        check_spec(&s, 1000, 1518, SegmentChecksum::Complete, &[]);
    }
}

#[test]
fn tun_packets_segment_from_the_ip_header() {
    for v6 in [false, true] {
        for l4 in [
            L4Spec::Udp,
            L4Spec::Tcp {
                timestamps: false,
                flags: TCP_ACK,
            },
        ] {
            let s = Spec {
                framing: Framing::Ip,
                v6,
                l4,
                ..tcp4(2900)
            };
            for csum in [SegmentChecksum::Complete, SegmentChecksum::Partial] {
                check_spec(&s, 1400, 1500, csum, &[]);
            }
        }
    }
}

#[test]
fn udp_segmentation_computes_every_checksum_even_from_zero() {
    for v6 in [false, true] {
        let s = udp(v6, 5000);
        let mut frame = build(&s);
        let l4 = if v6 { 54 } else { 34 };
        frame[l4 + 6..l4 + 8].fill(0); // "no checksum" over IPv4
        let pool = pool();
        let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::UdpL4, 1200));
        let segs = segment_all(&pkt, Framing::Ethernet, 1518, SegmentChecksum::Complete).unwrap();
        check_segments(
            &frame,
            Framing::Ethernet,
            &segs,
            1200,
            1514,
            SegmentChecksum::Complete,
        );
        let lens: Vec<u16> = segs.iter().map(|(f, _)| be16(f, l4 + 4)).collect();
        assert_eq!(lens, [1208, 1208, 1208, 1208, 208]);
    }
}

#[test]
fn ip_options_and_extension_headers_are_repeated() {
    for v6 in [false, true] {
        let s = Spec {
            v6,
            ip_options: 2,
            ..tcp4(2500)
        };
        check_spec(&s, 700, 1514, SegmentChecksum::Complete, &[]);
        check_spec(&udp(v6, 2500), 700, 1514, SegmentChecksum::Partial, &[]);
    }
}

#[test]
fn a_packet_that_fits_yields_one_complete_segment() {
    for payload_len in [0, 1, 1000] {
        let s = Spec {
            l4: L4Spec::Tcp {
                timestamps: false,
                flags: TCP_ACK | TCP_FIN | TCP_CWR,
            },
            ..tcp4(payload_len)
        };
        let frame = build(&s);
        let pool = pool();
        let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1000));
        let segs = segment_all(&pkt, Framing::Ethernet, 1518, SegmentChecksum::Complete).unwrap();
        assert_eq!(segs.len(), 1);
        check_segments(
            &frame,
            Framing::Ethernet,
            &segs,
            1000,
            1514,
            SegmentChecksum::Complete,
        );
        let mut want = frame.clone();
        want[50..52].copy_from_slice(&segs[0].0[50..52]);
        assert_eq!(segs[0].0, want, "only the checksum changes");
    }
}

#[test]
fn a_smaller_max_frame_resegments() {
    // A 9000-byte request out of a 1500-byte MTU (max_frame 1518, a VLAN
    // tag allowed): 1500 - 52 bytes of IP and TCP headers = 1448.
    let s = tcp4(20_000);
    let frame = build(&s);
    let pool = pool();
    let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 9000));
    let seg = Segmenter::new(&pkt, Framing::Ethernet, 1518).unwrap();
    assert_eq!((seg.mss(), seg.segments()), (1448, 14));
    let segs = segment_all(&pkt, Framing::Ethernet, 1518, SegmentChecksum::Complete).unwrap();
    check_segments(
        &frame,
        Framing::Ethernet,
        &segs,
        1448,
        1514,
        SegmentChecksum::Complete,
    );
    // And a larger max_frame does not grow segments past the request.
    let seg = Segmenter::new(&pkt, Framing::Ethernet, 65_000).unwrap();
    assert_eq!((seg.mss(), seg.segments()), (9000, 3));
}

#[test]
fn chained_input_gives_the_same_segments_as_flat() {
    for s in [tcp4(10_001), udp(true, 7777)] {
        let frame = build(&s);
        let hdr_len = parse_framed(&frame, s.framing).unwrap().hdr_len();
        let pool = pool();
        let flat = pkt_of(&pool, &frame, &[], request(kind_of(&s), 1000));
        let want = segment_all(&flat, s.framing, 1514, SegmentChecksum::Complete).unwrap();
        // Cut right after the headers, at odd offsets, inside a chunk.
        for cuts in [
            vec![hdr_len],
            vec![hdr_len + 1, hdr_len + 999, hdr_len + 1000, hdr_len + 3001],
            (1..40).map(|i| hdr_len + 7 + i * 251).collect(),
        ] {
            let chained = pkt_of(&pool, &frame, &cuts, request(kind_of(&s), 1000));
            assert!(chained.nb_segs() > 1);
            let got = segment_all(&chained, s.framing, 1514, SegmentChecksum::Complete).unwrap();
            assert!(got == want, "cuts {cuts:?}");
        }
    }
}

#[test]
fn push_into_fills_bursts_and_resumes() {
    let s = tcp4(14_480);
    let frame = build(&s);
    let pool = pool();
    let before = pool.stats();
    {
        let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1448));
        let mut burst: Burst<4> = Burst::new();
        let mut seg = Segmenter::new(&pkt, Framing::Ethernet, 1518).unwrap();
        let mut segs = Vec::new();
        let mut pushed = Vec::new();
        loop {
            pushed.push(
                seg.push_into(&pkt, SegmentChecksum::Complete, &mut burst)
                    .unwrap(),
            );
            burst.drain_each(|p| segs.push((bytes_of(&p), p.offload())));
            if seg.remaining() == 0 {
                break;
            }
        }
        assert_eq!(pushed, [4, 4, 2]);
        check_segments(
            &frame,
            Framing::Ethernet,
            &segs,
            1448,
            1514,
            SegmentChecksum::Complete,
        );
        // Done: nothing more to push.
        assert_eq!(
            seg.push_into(&pkt, SegmentChecksum::Complete, &mut burst),
            Ok(0)
        );
    }
    assert_eq!(pool.stats(), before);
}

#[test]
fn an_empty_pool_stops_and_the_segmenter_resumes() {
    let pool = test_pool(PoolConfig::standard(6));
    let frame = build(&tcp4(5000));
    let pkt = pkt_of(&pool, &frame, &[2000, 4000], request(GsoKind::Tcpv4, 1000));
    let mut burst: Burst<8> = Burst::new();
    // 3 buffers hold the packet: room for 3 of its 5 segments.
    let mut seg = Segmenter::new(&pkt, Framing::Ethernet, 1518).unwrap();
    assert_eq!(
        seg.push_into(&pkt, SegmentChecksum::Partial, &mut burst),
        Err(GsoError::PoolEmpty)
    );
    assert_eq!((burst.len(), seg.remaining()), (3, 2));
    assert_eq!(pool.stats().available, 0);
    let mut segs = Vec::new();
    burst.drain_each(|p| segs.push((bytes_of(&p), p.offload())));
    assert_eq!(
        seg.push_into(&pkt, SegmentChecksum::Partial, &mut burst),
        Ok(2)
    );
    burst.drain_each(|p| segs.push((bytes_of(&p), p.offload())));
    check_segments(
        &frame,
        Framing::Ethernet,
        &segs,
        1000,
        1514,
        SegmentChecksum::Partial,
    );
    drop(pkt);
    assert_eq!(pool.stats().in_use, 0);
}

// ---- Properties -------------------------------------------------------------

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        (any::<bool>(), 0..=2usize, any::<bool>(), 0..=2usize),
        prop_oneof![
            (any::<bool>(), any::<u8>())
                .prop_map(|(timestamps, flags)| L4Spec::Tcp { timestamps, flags }),
            Just(L4Spec::Udp),
        ],
        0..=65_000usize,
        any::<u16>(),
        any::<u32>(),
    )
        .prop_map(
            |((ip_framing, vlans, v6, ip_options), l4, payload_len, id, seq)| Spec {
                framing: if ip_framing {
                    Framing::Ip
                } else {
                    Framing::Ethernet
                },
                vlans,
                v6,
                ip_options,
                l4,
                payload_len,
                ipv4_id: id,
                tcp_seq: seq,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random shapes, sizes and output limits: every segment is what the
    /// kernel would make, and chains make the same segments.
    #[test]
    fn segments_keep_the_invariants(
        s in arb_spec(),
        size in 1..=9000u16,
        max_frame_cut in 0..=8000usize,
        partial in any::<bool>(),
        cuts in proptest::collection::vec(0..66_000usize, 0..6),
    ) {
        let frame = build(&s);
        let h = parse_framed(&frame, s.framing).unwrap();
        let hdr_len = h.hdr_len();
        // A max_frame at most the request's (its MTU plus the L2 allowance),
        // sometimes smaller.
        let fits = s.framing.max_frame((hdr_len - h.l3_offset() + usize::from(size)) as u32) as usize;
        let max_frame = fits.saturating_sub(max_frame_cut).max(1);
        let csum = if partial { SegmentChecksum::Partial } else { SegmentChecksum::Complete };
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| hdr_len + c % (s.payload_len + 1)).collect();
        cuts.sort_unstable();
        check_spec(&s, size, max_frame, csum, &cuts);
    }

    /// `finish_checksum` over any chain equals the checksum computed over
    /// the flat bytes.
    #[test]
    fn finish_checksum_over_chains_matches_the_full_computation(
        s in arb_spec(),
        cuts in proptest::collection::vec(0..66_000usize, 0..8),
    ) {
        let s = Spec { payload_len: s.payload_len % 20_000, ..s };
        let frame = build(&s);
        let h = parse_framed(&frame, s.framing).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| h.hdr_len() + c % (frame.len() - h.hdr_len() + 1)).collect();
        cuts.sort_unstable();
        let pool = pool();
        let mut pkt = pkt_of(&pool, &frame, &cuts, Offload::NONE);
        offload_request::request_checksum_framed(&mut pkt, s.framing).unwrap();
        let want_off = Offload { csum: Checksum::None, ..pkt.offload() };
        finish_checksum(&mut pkt).unwrap();
        let got = bytes_of(&pkt);
        prop_assert_eq!(pkt.offload(), want_off);
        let ph = pseudo(&got, &h);
        prop_assert_eq!(ones_sum(&[&ph, &got[h.l4_offset()..]]), 0xffff);
        let field = h.l4_offset() + if h.l4() == L4::Tcp { 16 } else { 6 };
        let mut zeroed = got.clone();
        zeroed[field..field + 2].fill(0);
        let full = match !ones_sum(&[&ph, &zeroed[h.l4_offset()..]]) { 0 => 0xffff, c => c };
        prop_assert_eq!(be16(&got, field), full);
        prop_assert_eq!(&got[..field], &frame[..field]);
        prop_assert_eq!(&got[field + 2..], &frame[field + 2..]);
    }
}

#[test]
fn finish_checksum_leaves_other_packets_and_refuses_a_field_past_the_first_segment() {
    let pool = pool();
    let frame = build(&udp(false, 100));
    let mut pkt = pkt_of(&pool, &frame, &[30], Offload::NONE);
    finish_checksum(&mut pkt).unwrap();
    assert_eq!(bytes_of(&pkt), frame, "no partial checksum: unchanged");
    let partial = Offload {
        csum: Checksum::Partial {
            start: 28,
            offset: 2,
        },
        gso: None,
    };
    pkt.set_offload(partial);
    assert_eq!(
        finish_checksum(&mut pkt),
        Err(GsoError::ChecksumOutOfRange {
            start: 28,
            offset: 2,
            first_segment: 30
        })
    );
    assert_eq!(
        (bytes_of(&pkt), pkt.offload()),
        (frame, partial),
        "nothing changed"
    );
}

// ---- Errors -----------------------------------------------------------------

fn new_err(
    frame: &[u8],
    framing: Framing,
    off: Offload,
    cuts: &[usize],
    max_frame: usize,
) -> GsoError {
    let pool = pool();
    let before = pool.stats();
    let err = {
        let pkt = pkt_of(&pool, frame, cuts, off);
        Segmenter::new(&pkt, framing, max_frame).unwrap_err()
    };
    assert_eq!(pool.stats(), before);
    assert!(!err.to_string().is_empty());
    err
}

#[test]
fn each_request_error_comes_from_its_input() {
    let eth = Framing::Ethernet;
    let tcp = build(&tcp4(3000));
    let req = request(GsoKind::Tcpv4, 1000);
    assert_eq!(
        new_err(&tcp, eth, Offload::NONE, &[], 1514),
        GsoError::NotGso
    );
    assert_eq!(
        new_err(&tcp, eth, request(GsoKind::Udp, 1000), &[], 1514),
        GsoError::UnsupportedKind { kind: GsoKind::Udp }
    );
    assert_eq!(
        new_err(&tcp, eth, request(GsoKind::Tcpv4, 0), &[], 1514),
        GsoError::ZeroSize
    );
    assert_eq!(
        new_err(&tcp[..40], eth, req, &[], 1514),
        GsoError::Headers(HeaderError::Truncated { need: 54, have: 40 })
    );
    assert_eq!(
        new_err(&tcp, eth, req, &[50], 1514),
        GsoError::Headers(HeaderError::SplitHeaders {
            need: 54,
            first_segment: 50
        })
    );
    assert_eq!(
        new_err(&tcp, Framing::Ip, req, &[], 1514),
        GsoError::Headers(HeaderError::NotIpPacket { version: 0 })
    );
    assert_eq!(
        new_err(&tcp, eth, request(GsoKind::Tcpv6, 1000), &[], 1514),
        GsoError::KindMismatch {
            kind: GsoKind::Tcpv6,
            ip: IpVersion::V4,
            l4: L4::Tcp
        }
    );
    assert_eq!(
        new_err(&tcp, eth, request(GsoKind::UdpL4, 1000), &[], 1514),
        GsoError::KindMismatch {
            kind: GsoKind::UdpL4,
            ip: IpVersion::V4,
            l4: L4::Tcp
        }
    );
    let mut frag = tcp.clone();
    frag[20] = 0x20; // more fragments
    assert_eq!(
        new_err(&frag, eth, req, &[], 1514),
        GsoError::Fragment {
            l4: L4::Fragment { protocol: 6 }
        }
    );
    assert_eq!(
        new_err(&tcp, eth, req, &[], 66),
        GsoError::MaxFrameTooSmall {
            max_frame: 66,
            hdr_len: 66
        }
    );
    assert_eq!(
        new_err(&tcp, eth, req, &[], 10),
        GsoError::MaxFrameTooSmall {
            max_frame: 10,
            hdr_len: 66
        }
    );
    let mut padded = tcp.clone();
    padded.extend_from_slice(&[0; 4]);
    assert_eq!(
        new_err(&padded, eth, req, &[], 1514),
        GsoError::LengthMismatch {
            field: "IPv4 total length",
            declared: 3052,
            actual: 3056
        }
    );
    let v6 = build(&Spec {
        v6: true,
        ..tcp4(3000)
    });
    assert_eq!(
        new_err(
            &v6[..v6.len() - 1],
            eth,
            request(GsoKind::Tcpv6, 1000),
            &[],
            1514
        ),
        GsoError::LengthMismatch {
            field: "IPv6 payload length",
            declared: 3032,
            actual: 3031
        }
    );
    let mut udp_bad = build(&udp(false, 3000));
    udp_bad[38..40].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(
        new_err(&udp_bad, eth, request(GsoKind::UdpL4, 1000), &[], 1514),
        GsoError::LengthMismatch {
            field: "UDP length",
            declared: 100,
            actual: 3008
        }
    );
    // An IPv6 routing header (type 4) with one segment left before UDP.
    let mut routed = build(&udp(true, 100));
    routed[20] = 43;
    routed.splice(54..54, [17, 0, 4, 1, 0, 0, 0, 0]);
    let plen = be16(&routed, 18) + 8;
    routed[18..20].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(
        new_err(&routed, eth, request(GsoKind::UdpL4, 50), &[], 1514),
        GsoError::RoutedIpv6 { segments_left: 1 }
    );
}

#[test]
fn each_output_error_comes_from_its_input_and_changes_nothing() {
    let pool = pool();
    let before = pool.stats();
    {
        let frame = build(&tcp4(3000));
        let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1000));
        let mut seg = Segmenter::new(&pkt, Framing::Ethernet, 9000).unwrap();
        let csum = SegmentChecksum::Complete;
        // Not empty, or a chain.
        let mut full = pkt.alloc_sibling().unwrap();
        full.extend_from_slice(&[1]).unwrap();
        assert_eq!(
            seg.next_into(&pkt, &mut full, csum),
            Err(GsoError::OutNotEmpty {
                len: 1,
                segments: 1
            })
        );
        let mut chain = pkt.alloc_sibling().unwrap();
        chain.chain(pkt.alloc_sibling().unwrap()).unwrap();
        assert_eq!(
            seg.next_into(&pkt, &mut chain, csum),
            Err(GsoError::OutNotEmpty {
                len: 0,
                segments: 2
            })
        );
        // A buffer too small for the segment.
        let small_pool = test_pool(PoolConfig::standard(1).data_room(512));
        let mut small = small_pool.alloc().unwrap();
        assert_eq!(
            seg.next_into(&pkt, &mut small, csum),
            Err(GsoError::NoTailroom {
                need: 1066,
                have: 512
            })
        );
        assert!(small.is_empty(), "nothing written on error");
        // Another source packet.
        let other = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1000));
        let mut out = pkt.alloc_sibling().unwrap();
        assert_eq!(
            seg.next_into(&other, &mut out, csum),
            Err(GsoError::SourceMismatch)
        );
        assert_eq!(seg.remaining(), 3, "no error moved the segmenter on");
        // The failed segment goes into the next packet given.
        seg.next_into(&pkt, &mut out, csum).unwrap();
        assert_eq!(be32(&bytes_of(&out), 38), be32(&frame, 38), "segment 0");
        while seg.remaining() > 0 {
            seg.next_into(&pkt, &mut pkt.alloc_sibling().unwrap(), csum)
                .unwrap();
        }
        assert_eq!(
            seg.next_into(&pkt, &mut pkt.alloc_sibling().unwrap(), csum),
            Err(GsoError::Done)
        );
        for e in [
            GsoError::OutNotEmpty {
                len: 1,
                segments: 1,
            },
            GsoError::NoTailroom { need: 1, have: 0 },
            GsoError::SourceMismatch,
            GsoError::Done,
            GsoError::PoolEmpty,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
    assert_eq!(pool.stats(), before);
}

#[test]
fn an_exhausted_pool_is_pool_empty_before_anything_is_pushed() {
    let pool = test_pool(PoolConfig::standard(2));
    let frame = build(&tcp4(1500));
    let pkt = pkt_of(&pool, &frame, &[], request(GsoKind::Tcpv4, 1000));
    let hold = pool.alloc().unwrap();
    let mut burst: Burst<4> = Burst::new();
    let mut seg = Segmenter::new(&pkt, Framing::Ethernet, 1518).unwrap();
    assert_eq!(
        seg.push_into(&pkt, SegmentChecksum::Complete, &mut burst),
        Err(GsoError::PoolEmpty)
    );
    assert!(burst.is_empty() && pkt.alloc_sibling().is_none());
    assert_eq!(seg.remaining(), 2, "resumable");
    drop((hold, pkt));
    assert_eq!(
        pool.stats(),
        PoolStats {
            capacity: 2,
            available: 2,
            in_use: 0
        }
    );
}
