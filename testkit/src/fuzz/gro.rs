//! The GRO (coalescing) target.

use tapring_core::wire::gro::{Coalescer, GroLimits, GroReport};
use tapring_core::wire::headers::parse_framed;
use tapring_core::wire::offload_request::USO_MAX_SEGMENTS;
use tapring_core::wire::vnet;
use tapring_core::{Burst, Checksum, Framing, Headers, IpVersion, L4, Offload, Pkt};

use super::input::Input;
use super::offload::{check_conservation, pkt_of, with_pool};
use super::{finish_checksum, l4_checksum_ok, pseudo_header};

/// Bytes in front of the template frame: control, count, segment size,
/// one recipe byte per frame.
pub(super) const FRAME_START: usize = 4 + MAX_FRAMES;

/// The most frames of one input (a burst).
const MAX_FRAMES: usize = 16;

/// The longest frame of the raw mode (so a burst fits the pool).
const MAX_RAW_FRAME: usize = 4000;

/// One frame of the burst, and how its packet is laid out.
struct Frame {
    bytes: Vec<u8>,
    /// The first buffer's length, for a chained packet.
    split: Option<usize>,
    offload: Offload,
}

/// Fuzzes the coalescer ([`tapring_core::wire::gro`]).
///
/// Input: `[control][count][mss: u16 LE][recipe: 16 bytes][template...]`.
/// `count % 17` frames make the burst. Normally they are a flow built from
/// the template frame: its headers (when it parses as TCP or UDP) with
/// `mss % 2000` payload bytes each, sequence numbers and IPv4 IDs counting
/// on, lengths and checksums right; then frame `i` is changed as
/// `recipe[i]` says (low nibble: 8 a payload byte flipped after the
/// checksum, 9 a TCP flag set, 10 a shorter payload, 11 swapped with the
/// previous frame, 12 a sequence number off, 13 another ack, 14 cut short,
/// 15 chained over two buffers; the high nibble is the amount). Control
/// bit 4 takes the frames from the rest instead (`[len: u16 LE][bytes]`
/// each); bit 0 picks [`Framing::Ip`], bit 1 [`GroLimits::udp`], bit 2 a
/// small [`GroLimits::max_segs`], bit 3 a small [`GroLimits::max_len`],
/// bits 5-6 the Rx offload of every packet (none, valid, partial at the
/// L4 checksum, or per frame). Checks:
///
/// * Nothing panics; every buffer stays in the burst and comes back to
///   the pool when it is dropped; the burst shrinks by the packets merged.
/// * Per flow (link-layer bytes, addresses, flow label, protocol, ports),
///   the TCP/UDP segments in order, as `(seq, payload)`, are the same
///   before and after, super-frames cut at their segment size.
/// * Every super-frame parses, its IP (and UDP) length fields describe it,
///   its IPv4 header checksum verifies, its offload is a segmentation
///   request for its headers (passing [`vnet::check_tx`]) with a partial
///   checksum whose field holds the pseudo-header sum and which, finished
///   as the kernel does, verifies; it keeps to the limits.
/// * Every other packet is one of the inputs, bytes and offload; the
///   inputs left over (merged into super-frames) all had good L4
///   checksums or offloads that vouched for them.
pub fn gro_coalesce(data: &[u8]) {
    run(data);
}

/// [`gro_coalesce`], returning what the coalescer reported.
pub(super) fn run(data: &[u8]) -> GroReport {
    let mut input = Input(data);
    let control = input.u8();
    let count = usize::from(input.u8()) % (MAX_FRAMES + 1);
    let mss = usize::from(input.u16()) % 2000;
    let mut recipe = [0u8; MAX_FRAMES];
    for r in &mut recipe {
        *r = input.u8();
    }
    let rest = input.rest();
    let framing = if control & 1 != 0 {
        Framing::Ip
    } else {
        Framing::Ethernet
    };
    let mut limits = GroLimits::new(framing);
    limits.udp = control & 2 != 0;
    if control & 4 != 0 {
        limits.max_segs = usize::from(recipe[0] % 8);
    }
    if control & 8 != 0 {
        limits.max_len = 60 + usize::from(recipe[1]) * 64;
    }
    let mut frames = if control & 16 != 0 {
        raw_frames(rest, count)
    } else {
        flow_frames(rest, framing, count, mss, &recipe)
    };
    for (i, f) in frames.iter_mut().enumerate() {
        f.offload = offload_of((control >> 5) & 3, recipe[i], &f.bytes, framing);
    }
    with_pool(|pool| {
        let before = pool.stats();
        let report = {
            let mut burst: Burst<MAX_FRAMES> = Burst::new();
            for f in &frames {
                let mut pkt = pkt_of(pool, &f.bytes, f.split, 0);
                pkt.set_offload(f.offload);
                assert!(burst.push(pkt).is_ok(), "the burst holds MAX_FRAMES");
            }
            let in_use = pool.stats().in_use;
            let mut gro: Coalescer = Coalescer::new();
            let report = gro.coalesce(&mut burst, framing, &limits);
            assert_eq!(pool.stats().in_use, in_use, "a buffer left the burst");
            assert_eq!(burst.len() + report.merged, frames.len(), "{report:?}");
            // Each packet that did not merge is counted once at most.
            assert!(
                report.merged + report.not_merged() <= frames.len(),
                "a packet counted twice: {report:?}"
            );
            let outs: Vec<Out> = burst.iter().map(Out::of).collect();
            let supers = check_outputs(&frames, &outs, framing, &limits);
            assert_eq!(supers, report.coalesced, "{report:?}");
            let segments = |list: &mut dyn Iterator<Item = (Vec<u8>, Option<u16>)>| {
                let mut all = Vec::new();
                for (bytes, size) in list {
                    all.extend(segments_of(&bytes, size, framing));
                }
                streams(all)
            };
            let was = segments(&mut frames.iter().map(|f| (f.bytes.clone(), None)));
            let now = segments(
                &mut outs
                    .iter()
                    .map(|o| (o.bytes.clone(), o.offload.gso.map(|g| g.size))),
            );
            if was != now {
                panic!(
                    "a flow's segments changed: {:?} became {:?}",
                    summary(&was),
                    summary(&now)
                );
            }
            report
        };
        check_conservation(pool, before);
        report
    })
}

/// A packet as it came out.
struct Out {
    bytes: Vec<u8>,
    offload: Offload,
    segs: usize,
}

impl Out {
    fn of(pkt: &Pkt) -> Out {
        let mut bytes = vec![0; pkt.pkt_len()];
        assert_eq!(pkt.copy_to(&mut bytes), pkt.pkt_len());
        Out {
            bytes,
            offload: pkt.offload(),
            segs: pkt.nb_segs(),
        }
    }
}

/// Frames `[len: u16 LE][bytes]` from `rest`, at most `count`.
fn raw_frames(rest: &[u8], count: usize) -> Vec<Frame> {
    let mut input = Input(rest);
    let mut frames = Vec::new();
    while frames.len() < count && !input.0.is_empty() {
        let len = usize::from(input.u16()).min(input.0.len());
        let (bytes, more) = input.0.split_at(len);
        input = Input(more);
        frames.push(Frame {
            bytes: bytes[..len.min(MAX_RAW_FRAME)].to_vec(),
            split: None,
            offload: Offload::NONE,
        });
    }
    frames
}

/// `count` frames of the flow the template starts (see [`gro_coalesce`]);
/// copies of the template if it is not TCP or UDP.
fn flow_frames(
    template: &[u8],
    framing: Framing,
    count: usize,
    mss: usize,
    recipe: &[u8; MAX_FRAMES],
) -> Vec<Frame> {
    let template = &template[..template.len().min(MAX_RAW_FRAME)];
    let parsed = parse_framed(template, framing)
        .ok()
        .filter(|h| matches!(h.l4(), L4::Tcp | L4::Udp));
    let Some(h) = parsed else {
        return (0..count)
            .map(|i| Frame {
                bytes: template.to_vec(),
                split: (recipe[i] & 0x0f == 15).then_some(usize::from(recipe[i] >> 4) * 5),
                offload: Offload::NONE,
            })
            .collect();
    };
    let (l3, l4, hdr) = (h.l3_offset(), h.l4_offset(), h.hdr_len());
    let tcp = h.l4() == L4::Tcp;
    let base = &template[hdr..];
    let mut seq = be32(template, l4 + 4);
    let id = be16(template, l3 + 4);
    let mut frames: Vec<Frame> = Vec::new();
    for (i, &r) in recipe.iter().enumerate().take(count) {
        let (what, amount) = (r & 0x0f, usize::from(r >> 4));
        let mut len = mss.max(1);
        if what == 10 {
            len = len.saturating_sub(amount + 1).max(1);
        }
        let mut f = template[..hdr].to_vec();
        f.extend((0..len).map(|k| base.get(k % base.len().max(1)).copied().unwrap_or(0) ^ i as u8));
        if tcp {
            let s = if what == 12 {
                seq.wrapping_sub(amount as u32 + 1)
            } else {
                seq
            };
            f[l4 + 4..l4 + 8].copy_from_slice(&s.to_be_bytes());
            if what == 9 {
                f[l4 + 13] |= 1 << (amount & 7);
            }
            if what == 13 {
                f[l4 + 11] = f[l4 + 11].wrapping_add(1);
            }
        }
        seq = seq.wrapping_add(len as u32);
        fix_lengths_and_checksums(&mut f, &h, id.wrapping_add(i as u16));
        match what {
            8 => {
                let at = hdr + (amount * 13) % len;
                f[at] ^= 0x5a;
            }
            14 => f.truncate(f.len() - (amount + 1).min(len)),
            _ => {}
        }
        let split = (what == 15).then_some(hdr.saturating_sub(8) + amount * 3);
        frames.push(Frame {
            bytes: f,
            split,
            offload: Offload::NONE,
        });
        if what == 11 && i > 0 {
            frames.swap(i, i - 1);
        }
    }
    frames
}

/// Makes the IP and UDP length fields, the IPv4 ID and header checksum and
/// the L4 checksum of `f` (headers `h`, parsed from the template) right.
fn fix_lengths_and_checksums(f: &mut [u8], h: &Headers, ip_id: u16) {
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let len = f.len();
    match h.ip() {
        IpVersion::V4 => {
            put16(f, l3 + 2, (len - l3) as u16);
            put16(f, l3 + 4, ip_id);
            put16(f, l3 + 10, 0);
            let ihl = usize::from(f[l3] & 0x0f) * 4;
            let c = crate::inet_checksum(&[&f[l3..l3 + ihl]]);
            put16(f, l3 + 10, c);
        }
        IpVersion::V6 => put16(f, l3 + 4, (len - l3 - 40) as u16),
    }
    let (proto, at) = if h.l4() == L4::Tcp {
        (6, l4 + 16)
    } else {
        put16(f, l4 + 4, (len - l4) as u16);
        (17, l4 + 6)
    };
    put16(f, at, 0);
    let c = crate::inet_checksum(&[&pseudo_header(f, h, proto), &f[l4..]]);
    put16(f, at, c);
}

/// The Rx offload of a frame: `mode` 0 none, 1 valid, 2 partial at the L4
/// checksum (when the frame parses as TCP/UDP), 3 by `r`'s top bits.
fn offload_of(mode: u8, r: u8, bytes: &[u8], framing: Framing) -> Offload {
    let mode = if mode == 3 { r >> 6 } else { mode };
    let csum = match mode {
        1 => Checksum::Valid,
        2 => match parse_framed(bytes, framing) {
            Ok(h) if h.l4() == L4::Tcp => Checksum::Partial {
                start: h.l4_offset() as u16,
                offset: 16,
            },
            Ok(h) if h.l4() == L4::Udp => Checksum::Partial {
                start: h.l4_offset() as u16,
                offset: 6,
            },
            _ => Checksum::None,
        },
        _ => Checksum::None,
    };
    Offload { csum, gso: None }
}

/// Checks every output against the inputs (see [`gro_coalesce`]); returns
/// how many super-frames there are.
fn check_outputs(frames: &[Frame], outs: &[Out], framing: Framing, limits: &GroLimits) -> usize {
    let mut unmatched: Vec<(&[u8], Offload)> = frames
        .iter()
        .map(|f| (f.bytes.as_slice(), f.offload))
        .collect();
    let mut supers = 0;
    for o in outs {
        match o.offload.gso {
            Some(_) => {
                supers += 1;
                check_super_frame(o, framing, limits);
            }
            None => {
                let at = unmatched
                    .iter()
                    .position(|&(b, off)| b == o.bytes.as_slice() && off == o.offload)
                    .expect("an output that is neither an input nor a super-frame");
                unmatched.swap_remove(at);
            }
        }
    }
    // What is left went into super-frames, whose partial checksums the
    // receiver completes instead of checking: each must have been good.
    for (bytes, offload) in unmatched {
        assert!(
            merged_checksum_good(bytes, offload, framing),
            "a segment with a bad L4 checksum was merged"
        );
    }
    supers
}

/// Whether an input that merged had a good L4 checksum: one the kernel
/// vouched for (valid, or partial at its own checksum field), an IPv4 UDP
/// checksum of 0 ("none"), or one that verifies.
fn merged_checksum_good(b: &[u8], offload: Offload, framing: Framing) -> bool {
    let Ok(h) = parse_framed(b, framing) else {
        return false;
    };
    let (proto, csum_offset) = match h.l4() {
        L4::Tcp => (6, 16),
        L4::Udp => (17, 6),
        _ => return false,
    };
    let l4 = h.l4_offset();
    match offload.csum {
        Checksum::Valid => true,
        Checksum::Partial { start, offset } => usize::from(start) == l4 && offset == csum_offset,
        Checksum::None => {
            (proto == 17 && h.ip() == IpVersion::V4 && be16(b, l4 + 6) == 0)
                || l4_checksum_ok(b, &h, proto)
        }
    }
}

/// Checks a super-frame: see [`gro_coalesce`].
fn check_super_frame(o: &Out, framing: Framing, limits: &GroLimits) {
    let b = &o.bytes;
    let h = parse_framed(b, framing).expect("a super-frame parses");
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let gso = o.offload.gso.expect("a segmentation request");
    let (proto, csum_offset) = match h.l4() {
        L4::Tcp => (6, 16),
        L4::Udp => (17, 6),
        l4 => panic!("a super-frame of {l4:?}"),
    };
    assert!(
        limits.udp || proto == 6,
        "UDP coalesced without being asked"
    );
    match h.ip() {
        IpVersion::V4 => {
            assert_eq!(usize::from(be16(b, l3 + 2)), b.len() - l3);
            assert_eq!(crate::inet_checksum(&[&b[l3..l4]]), 0, "IPv4 checksum");
        }
        IpVersion::V6 => assert_eq!(usize::from(be16(b, l3 + 4)), b.len() - l3 - 40),
    }
    if proto == 17 {
        assert_eq!(usize::from(be16(b, l4 + 4)), b.len() - l4, "UDP length");
        let datagrams = (b.len() - h.hdr_len()).div_ceil(usize::from(gso.size));
        assert!(datagrams <= USO_MAX_SEGMENTS);
    }
    assert_eq!(usize::from(gso.hdr_len), h.hdr_len());
    assert!(
        b.len() - h.hdr_len() > usize::from(gso.size),
        "one segment only"
    );
    assert!(!gso.ecn);
    assert_eq!(vnet::check_tx(&o.offload, b.len()), Ok(()));
    assert_eq!(
        o.offload.csum,
        Checksum::Partial {
            start: l4 as u16,
            offset: csum_offset
        }
    );
    // The field holds the pseudo-header sum, folded, not complemented.
    let field = !crate::inet_checksum(&[&pseudo_header(b, &h, proto)]);
    assert_eq!(
        be16(b, l4 + usize::from(csum_offset)),
        field,
        "checksum field"
    );
    let mut finished = b.clone();
    finish_checksum(&mut finished, l4, usize::from(csum_offset));
    assert!(l4_checksum_ok(&finished, &h, proto), "finished checksum");
    assert!(o.segs <= limits.max_segs && b.len() <= limits.max_len);
}

/// A flow's identity, as the coalescer sees it.
type FlowKey = Vec<u8>;

/// A segment of a flow: sequence number (0 for UDP) and payload.
type Segment = (u32, Vec<u8>);

/// A flow's segments, in order.
type Stream = (FlowKey, Vec<Segment>);

/// The TCP/UDP segments of a frame (a super-frame cut at `size`), as
/// `(flow, seq, payload)`; none if it does not parse as TCP/UDP.
fn segments_of(b: &[u8], size: Option<u16>, framing: Framing) -> Vec<(FlowKey, u32, Vec<u8>)> {
    let Ok(h) = parse_framed(b, framing) else {
        return Vec::new();
    };
    if !matches!(h.l4(), L4::Tcp | L4::Udp) {
        return Vec::new();
    }
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let mut key = b[..l3].to_vec();
    match h.ip() {
        IpVersion::V4 => key.extend_from_slice(&b[l3 + 9..l3 + 10]),
        IpVersion::V6 => {
            key.extend_from_slice(&[b[l3 + 1] & 0x0f, b[l3 + 2], b[l3 + 3]]);
        }
    }
    let addresses = match h.ip() {
        IpVersion::V4 => &b[l3 + 12..l3 + 20],
        IpVersion::V6 => &b[l3 + 8..l3 + 40],
    };
    key.extend_from_slice(addresses);
    key.push(u8::from(h.l4() == L4::Tcp));
    key.extend_from_slice(&b[l4..l4 + 4]);
    let seq = if h.l4() == L4::Tcp {
        be32(b, l4 + 4)
    } else {
        0
    };
    let payload = &b[h.hdr_len()..];
    let size = size.map_or(payload.len().max(1), usize::from);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(size).collect()
    };
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let s = if h.l4() == L4::Tcp {
                seq.wrapping_add((i * size) as u32)
            } else {
                0
            };
            (key.clone(), s, p.to_vec())
        })
        .collect()
}

/// The segments grouped by flow, in order within each, flows sorted.
fn streams(segs: Vec<(FlowKey, u32, Vec<u8>)>) -> Vec<Stream> {
    let mut by_flow: Vec<Stream> = Vec::new();
    for (key, seq, payload) in segs {
        match by_flow.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((seq, payload)),
            None => by_flow.push((key, vec![(seq, payload)])),
        }
    }
    by_flow.sort();
    by_flow
}

/// Per flow, `(seq, payload length)` of each segment: what a failure shows.
fn summary(streams: &[Stream]) -> Vec<Vec<(u32, usize)>> {
    streams
        .iter()
        .map(|(_, segs)| segs.iter().map(|(seq, p)| (*seq, p.len())).collect())
        .collect()
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
