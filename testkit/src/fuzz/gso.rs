//! The software segmentation target.

use std::cell::RefCell;

use tapring_core::wire::gso::{self, GsoError, SegmentChecksum, Segmenter};
use tapring_core::wire::headers::parse_framed;
use tapring_core::{
    Burst, Checksum, Framing, Gso, GsoKind, IpVersion, L4, Offload, Pkt, Pool, PoolConfig,
};

use super::headers::lengths_match;
use super::input::Input;
use super::offload::{Snapshot, check_conservation, pkt_of};
use super::{check_message, finish_checksum, l4_checksum_ok};

/// Bytes in front of the frame: control, GSO kind, size, max_frame, split.
pub(super) const FRAME_START: usize = 8;

/// The GSO kinds by the input's kind byte modulo 5 (4: no request).
const KINDS: [GsoKind; 4] = [GsoKind::Tcpv4, GsoKind::Tcpv6, GsoKind::Udp, GsoKind::UdpL4];

/// Buffers of the target's pool: a 64 KiB frame in 9 KiB segments, the
/// segments in flight (a burst of 4 at most) and room to spare.
const POOL_BUFFERS: u32 = 32;

/// Data room of the pool's buffers: a jumbo frame's, so most `max_frame`
/// values fit and a few (above it) exercise [`GsoError::NoTailroom`].
const DATA_ROOM: u32 = 9216;

thread_local! {
    static POOL: RefCell<Option<Pool>> = const { RefCell::new(None) };
}

fn with_pool<R>(f: impl FnOnce(&Pool) -> R) -> R {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.get_or_insert_with(|| {
            let cfg = PoolConfig::standard(POOL_BUFFERS).data_room(DATA_ROOM);
            Pool::new(cfg).expect("a pool for fuzzing")
        });
        f(pool)
    })
}

/// How a run writes and checks the segments, from the control byte.
#[derive(Clone, Copy, Debug)]
struct Mode {
    framing: Framing,
    csum: SegmentChecksum,
    /// Through [`Segmenter::push_into`] into a small burst, rather than
    /// [`Segmenter::next_into`] one by one.
    burst: bool,
    /// Also finish each partial segment with [`gso::finish_checksum`].
    finish: bool,
}

/// Fuzzes software segmentation ([`tapring_core::wire::gso`]).
///
/// Input: `[control: u8][kind: u8][size: u16 LE][max_frame: u16 LE]
/// [split: u16 LE][frame...]`. Control bit 0 picks [`Framing::Ip`] over
/// Ethernet, bit 1 partial checksums over complete ones, bit 2 chains the
/// frame (a first segment of `split` bytes), bit 3 writes the segments
/// through `push_into` into a burst of 4, bit 4 finishes partial
/// checksums with `finish_checksum`, bit 5 sets the request's ECN flag.
/// `kind % 5` picks TCPv4, TCPv6, UFO, USO or no request. Checks:
///
/// * Nothing panics; every error has a message; the source packet does not
///   change; errors from `Segmenter::new` are the ones its input explains
///   (no request, UFO, size 0, unparsable headers, a `max_frame` at most
///   the headers, length fields that disagree with the chain).
/// * When `new` succeeds, the only error writing segments is a segment
///   larger than the output buffer, and otherwise: every segment parses
///   with the packet's header layout, is at most `max_frame` bytes, carries
///   `mss` payload bytes (the last one at most), has IP/UDP lengths that
///   match it, a valid IPv4 header checksum and an L4 checksum that
///   verifies (complete, or once finished as the kernel does); there are
///   `max(1, ceil(payload / mss))` segments; their payloads concatenate to
///   the packet's.
/// * Every pool buffer comes back.
pub fn gso_segment(data: &[u8]) {
    let mut input = Input(data);
    let control = input.u8();
    let kind = input.u8();
    let size = input.u16();
    let max_frame = usize::from(input.u16());
    let split = usize::from(input.u16());
    let frame = input.rest();
    let mode = Mode {
        framing: if control & 1 != 0 {
            Framing::Ip
        } else {
            Framing::Ethernet
        },
        csum: if control & 2 != 0 {
            SegmentChecksum::Partial
        } else {
            SegmentChecksum::Complete
        },
        burst: control & 8 != 0,
        finish: control & 16 != 0,
    };
    let first = (control & 4 != 0).then_some(split);
    let off = Offload {
        csum: Checksum::Partial {
            start: 0,
            offset: 0,
        },
        gso: KINDS.get(usize::from(kind % 5)).map(|&kind| Gso {
            kind,
            size,
            hdr_len: 0,
            ecn: control & 32 != 0,
        }),
    };

    with_pool(|pool| {
        let before = pool.stats();
        {
            let mut pkt = pkt_of(pool, frame, first, 0);
            pkt.set_offload(off);
            let was = Snapshot::of(&pkt);
            match Segmenter::new(&pkt, mode.framing, max_frame) {
                Err(e) => check_new_error(&pkt, &was, mode.framing, max_frame, &e),
                Ok(seg) => check_segments(&pkt, &was, seg, max_frame, mode),
            }
            assert_eq!(Snapshot::of(&pkt), was, "the source packet changed");
        }
        check_conservation(pool, before);
    });
}

/// Checks an error of [`Segmenter::new`] against its input.
fn check_new_error(pkt: &Pkt, was: &Snapshot, framing: Framing, max_frame: usize, e: &GsoError) {
    check_message(e);
    let gso = pkt.offload().gso;
    assert_eq!(gso.is_none(), *e == GsoError::NotGso, "{e:?}");
    let Some(gso) = gso else { return };
    assert_eq!(
        gso.kind == GsoKind::Udp,
        matches!(e, GsoError::UnsupportedKind { .. }),
        "{e:?}"
    );
    let parsed = parse_framed(pkt.data(), framing);
    match *e {
        GsoError::ZeroSize => assert_eq!(gso.size, 0),
        GsoError::Headers(_) => assert!(parsed.is_err(), "{e:?} but {parsed:?}"),
        GsoError::MaxFrameTooSmall {
            max_frame: m,
            hdr_len,
        } => {
            assert_eq!(m, max_frame);
            let h = parsed.expect("max_frame is checked on parsed headers");
            assert_eq!(h.hdr_len(), hdr_len);
            // No room after the headers, or (UDP) not for one datagram.
            let room = segment_limit(max_frame, &h, framing).saturating_sub(hdr_len);
            assert!(
                room == 0 || (h.l4() == L4::Udp && usize::from(gso.size) > room),
                "{e:?}: room {room} for a size of {}",
                gso.size
            );
        }
        GsoError::LengthMismatch { .. } => {
            let h = parsed.expect("lengths are checked on parsed headers");
            assert!(
                !lengths_match(&was.bytes, &h),
                "{e:?} but the lengths match"
            );
        }
        GsoError::KindMismatch { .. }
        | GsoError::Fragment { .. }
        | GsoError::RoutedIpv6 { .. }
        | GsoError::UnsupportedKind { .. }
        | GsoError::NotGso => {}
        other => panic!("Segmenter::new cannot fail with {other:?}"),
    }
}

/// The longest segment a port of `max_frame` takes for headers `h`: its
/// MTU plus this frame's own L2 header, and never past `max_frame`.
fn segment_limit(max_frame: usize, h: &tapring_core::Headers, framing: Framing) -> usize {
    (max_frame + h.l3_offset())
        .saturating_sub(framing.l2_overhead() as usize)
        .min(max_frame)
}

/// Writes and checks every segment of `pkt` (`was` is its content).
fn check_segments(pkt: &Pkt, was: &Snapshot, mut seg: Segmenter, max_frame: usize, mode: Mode) {
    let h = seg.headers();
    assert_eq!(
        parse_framed(pkt.data(), mode.framing).map(|p| p.hdr_len()),
        Ok(h.hdr_len())
    );
    assert!(
        lengths_match(&was.bytes, &h),
        "segmenting with wrong lengths"
    );
    let payload = &was.bytes[h.hdr_len()..];
    let mss = seg.mss();
    assert!(mss >= 1 && h.hdr_len() + mss <= segment_limit(max_frame, &h, mode.framing));
    assert_eq!(seg.segments(), payload.len().div_ceil(mss).max(1));
    let mut joined = Vec::with_capacity(payload.len());
    let mut index = 0;
    while seg.remaining() > 0 {
        let result = if mode.burst {
            let mut burst: Burst<4> = Burst::new();
            let result = seg.push_into(pkt, mode.csum, &mut burst);
            burst.drain_each(|mut out| {
                check_segment(
                    &mut out,
                    &was.bytes,
                    index,
                    &seg,
                    max_frame,
                    mode,
                    &mut joined,
                );
                index += 1;
            });
            result.map(drop)
        } else {
            let mut out = pkt.alloc_sibling().expect("the pool has room");
            let result = seg.next_into(pkt, &mut out, mode.csum);
            if result.is_ok() {
                check_segment(
                    &mut out,
                    &was.bytes,
                    index,
                    &seg,
                    max_frame,
                    mode,
                    &mut joined,
                );
                index += 1;
            } else {
                assert!(out.is_empty(), "{result:?}: written on error");
            }
            result
        };
        if let Err(e) = result {
            check_message(&e);
            let GsoError::NoTailroom { need, have } = e else {
                panic!("segment {index}: {e:?}");
            };
            assert!(need > have && need <= max_frame, "{e:?}");
            return;
        }
    }
    assert_eq!(index, seg.segments());
    assert!(
        joined == payload,
        "the segments' payloads are not the packet's"
    );
}

/// Checks segment `index` of the packet `src` (its bytes), and adds its
/// payload to `joined`.
fn check_segment(
    out: &mut Pkt,
    src: &[u8],
    index: usize,
    seg: &Segmenter,
    max_frame: usize,
    mode: Mode,
    joined: &mut Vec<u8>,
) {
    let h = &seg.headers();
    let bytes = Snapshot::of(out).bytes;
    let got = parse_framed(&bytes, mode.framing)
        .unwrap_or_else(|e| panic!("segment {index} does not parse: {e}"));
    assert_eq!(
        (got.l3_offset(), got.l4_offset(), got.hdr_len(), got.l4()),
        (h.l3_offset(), h.l4_offset(), h.hdr_len(), h.l4()),
        "segment {index}: another header layout"
    );
    assert!(
        bytes.len() <= max_frame,
        "segment {index}: {} bytes",
        bytes.len()
    );
    let chunk = &bytes[h.hdr_len()..];
    let last = index + 1 == seg.segments();
    assert!(
        chunk.len() == seg.mss() || (last && chunk.len() <= seg.mss()),
        "segment {index}: {} payload bytes at mss {}",
        chunk.len(),
        seg.mss()
    );
    joined.extend_from_slice(chunk);
    assert!(
        lengths_match(&bytes, &got),
        "segment {index}: length fields"
    );
    let l3 = h.l3_offset();
    if h.ip() == IpVersion::V4 {
        assert_eq!(
            crate::inet_checksum(&[&bytes[l3..h.l4_offset()]]),
            0,
            "segment {index}: IPv4 header checksum"
        );
    }
    let (l4, be16) = (h.l4_offset(), |b: &[u8], at: usize| {
        u16::from_be_bytes([b[at], b[at + 1]])
    });
    assert_eq!(bytes[..l3], src[..l3], "segment {index}: L2 header");
    if h.ip() == IpVersion::V4 {
        let id = be16(src, l3 + 4).wrapping_add(index as u16);
        assert_eq!(be16(&bytes, l3 + 4), id, "segment {index}: IPv4 ID");
    }
    if h.l4() == L4::Tcp {
        let be32 = |b: &[u8]| u32::from_be_bytes([b[l4 + 4], b[l4 + 5], b[l4 + 6], b[l4 + 7]]);
        let seq = be32(src).wrapping_add((index * seg.mss()) as u32);
        assert_eq!(be32(&bytes), seq, "segment {index}: sequence number");
        // FIN and PSH on the last segment only, CWR on the first only.
        let mut flags = src[l4 + 13];
        if !last {
            flags &= !0x09;
        }
        if index != 0 {
            flags &= !0x80;
        }
        assert_eq!(bytes[l4 + 13], flags, "segment {index}: TCP flags");
    }
    let proto = if h.l4() == L4::Tcp { 6 } else { 17 };
    let field = if h.l4() == L4::Tcp { 16 } else { 6 };
    match mode.csum {
        SegmentChecksum::Complete => {
            assert_eq!(out.offload(), Offload::NONE);
            assert!(
                l4_checksum_ok(&bytes, &got, proto),
                "segment {index}: checksum"
            );
        }
        SegmentChecksum::Partial => {
            let want = Checksum::Partial {
                start: h.l4_offset() as u16,
                offset: field,
            };
            assert_eq!(
                out.offload(),
                Offload {
                    csum: want,
                    gso: None
                }
            );
            let mut finished = bytes.clone();
            finish_checksum(&mut finished, h.l4_offset(), usize::from(field));
            assert!(
                l4_checksum_ok(&finished, &got, proto),
                "segment {index}: partial"
            );
            if mode.finish {
                gso::finish_checksum(out).expect("a segment's field is in its first buffer");
                let done = Snapshot::of(out);
                assert_eq!(done.offload.csum, Checksum::None);
                assert!(l4_checksum_ok(&done.bytes, &got, proto), "finish_checksum");
            }
        }
    }
}
