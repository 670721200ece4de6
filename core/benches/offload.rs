//! What the software offloads cost per segment, with no kernel: GRO
//! coalescing a burst of MTU-sized TCP segments of one flow into a
//! super-frame, GRO passing over segments that do not coalesce (each with
//! PSH, as requests and replies are), and GSO splitting a 64 KiB
//! super-frame into MTU-sized segments with their checksums computed.
//! Every iteration checks that it did what it is timed for.
//!
//! `cargo bench -p tapring-core --bench offload` (time per burst or
//! super-frame, and segments per second). The GRO cases include copying
//! the frames into their packets, as a receive does; the `fill only` case
//! times that copy alone, to subtract.

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tapring_core::wire::checksum;
use tapring_core::wire::gro::{Coalescer, GroLimits};
use tapring_core::wire::gso::{SegmentChecksum, Segmenter};
use tapring_core::{Burst, Framing, Pkt, Pool, PoolConfig};

/// TCP payload per segment: an Ethernet MTU of 1500 less IPv4 and TCP
/// headers with timestamps, as Linux sends.
const MSS: usize = 1448;
/// Segments per super-frame: 44 of 1448 bytes fill 64 KiB less headers.
const SEGMENTS: usize = 44;
/// The largest frame of a TAP port of MTU 1500 (room for a VLAN tag).
const MAX_FRAME: usize = 1500 + 18;
/// The TCP ACK flag (set on every segment).
const ACK: u8 = 0x10;
/// The TCP PSH flag (a segment with it ends its flow's run).
const PSH: u8 = 0x08;

/// An Ethernet/IPv4/TCP frame (timestamps option) of one flow, with its
/// checksums right: sequence `seq`, IPv4 ID `id`.
fn segment(seq: u32, id: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (l3, l4, hdr) = (14, 34, 66);
    let mut f = vec![0u8; hdr + payload.len()];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = u16::try_from(f.len() - l3).expect("fits");
    f[l3] = 0x45;
    f[l3 + 2..l3 + 4].copy_from_slice(&ip_len.to_be_bytes());
    f[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
    f[l3 + 6] = 0x40; // DF
    f[l3 + 8] = 64;
    f[l3 + 9] = 6;
    f[l3 + 12..l3 + 20].copy_from_slice(&[198, 18, 1, 1, 198, 18, 2, 1]);
    let c = checksum::checksum(&f[l3..l4]);
    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    f[l4..l4 + 4].copy_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
    f[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
    f[l4 + 8..l4 + 12].copy_from_slice(&7u32.to_be_bytes());
    f[l4 + 12] = 8 << 4;
    f[l4 + 13] = flags;
    f[l4 + 14..l4 + 16].copy_from_slice(&502u16.to_be_bytes());
    f[l4 + 20..l4 + 32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
    f[hdr..].copy_from_slice(payload);
    let l4_len = u16::try_from(f.len() - l4).expect("fits");
    let pseudo = checksum::pseudo_header_v4(&[198, 18, 1, 1], &[198, 18, 2, 1], 6, l4_len);
    let c = checksum::finish(checksum::add(pseudo, &f[l4..]));
    f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// `SEGMENTS` consecutive segments of one flow, each with `flags`.
fn flow(flags: u8) -> Vec<Vec<u8>> {
    let payload: Vec<u8> = (0..MSS).map(|i| (i % 251) as u8).collect();
    (0..SEGMENTS)
        .map(|i| segment((i * MSS) as u32, i as u16, flags, &payload))
        .collect()
}

fn pool() -> Pool {
    Pool::new(PoolConfig::standard(1024)).expect("a pool")
}

fn pkt(pool: &Pool, frame: &[u8]) -> Pkt {
    let mut p = pool.alloc().expect("a free buffer");
    p.extend_from_slice(frame).expect("fits a buffer");
    p
}

/// A burst of `frames`, each copied into a packet of `pool`.
fn burst_of(pool: &Pool, frames: &[Vec<u8>]) -> Burst<64> {
    let mut burst = Burst::new();
    for f in frames {
        assert!(burst.push(pkt(pool, f)).is_ok(), "the burst holds them");
    }
    burst
}

fn gro(c: &mut Criterion) {
    let pool = pool();
    let limits = GroLimits::new(Framing::Ethernet);
    let mut coalescer: Coalescer = Coalescer::new();
    let mut g = c.benchmark_group("gro");
    g.throughput(Throughput::Elements(SEGMENTS as u64));
    let bulk = flow(ACK);
    g.bench_function("fill only (subtract)", |b| {
        b.iter(|| {
            let burst = burst_of(&pool, &bulk);
            assert_eq!(black_box(&burst).len(), SEGMENTS);
        })
    });
    g.bench_function("coalesce 44 segments of one flow", |b| {
        b.iter(|| {
            let mut burst = burst_of(&pool, &bulk);
            let report = coalescer.coalesce(&mut burst, Framing::Ethernet, &limits);
            assert_eq!((burst.len(), report.merged), (1, SEGMENTS - 1));
        })
    });
    let lone = flow(ACK | PSH);
    g.bench_function("pass over 44 PSH segments (none merge)", |b| {
        b.iter(|| {
            let mut burst = burst_of(&pool, &lone);
            let report = coalescer.coalesce(&mut burst, Framing::Ethernet, &limits);
            assert_eq!((burst.len(), report.merged), (SEGMENTS, 0));
        })
    });
    g.finish();
}

fn gso(c: &mut Criterion) {
    let pool = pool();
    let limits = GroLimits::new(Framing::Ethernet);
    let mut burst = burst_of(&pool, &flow(ACK));
    Coalescer::<8>::new().coalesce(&mut burst, Framing::Ethernet, &limits);
    let super_frame = burst.get(0).expect("the super-frame");
    let mut g = c.benchmark_group("gso");
    g.throughput(Throughput::Elements(SEGMENTS as u64));
    let mut out: Burst<64> = Burst::new();
    g.bench_function("segment 64 KiB into 44, checksums computed", |b| {
        b.iter(|| {
            let mut seg =
                Segmenter::new(super_frame, Framing::Ethernet, MAX_FRAME).expect("a segmenter");
            let n = seg
                .push_into(super_frame, SegmentChecksum::Complete, &mut out)
                .expect("segments");
            assert_eq!((n, out.len()), (SEGMENTS, SEGMENTS));
            out.clear();
        })
    });
    g.finish();
}

criterion_group!(benches, gro, gso);
criterion_main!(benches);
