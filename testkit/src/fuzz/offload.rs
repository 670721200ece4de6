//! The offload request target.

use std::cell::RefCell;

use tapring_core::wire::headers::parse_framed;
use tapring_core::wire::offload_request::{
    request_checksum, request_checksum_framed, request_segmentation, request_segmentation_framed,
};
use tapring_core::wire::vnet;
use tapring_core::{
    Checksum, Framing, HeaderError, Headers, L4, Offload, Pkt, Pool, PoolConfig, PoolStats,
};

use super::headers::{check_headers, check_only_checksum_changed, lengths_match};
use super::input::Input;
use super::{check_message, finish_checksum, l4_checksum_ok};

/// Bytes in front of the frame: control byte, segment size, split.
pub(super) const FRAME_START: usize = 5;

/// Buffers in the target's pool: a 64 KiB frame in 2 KiB segments, and
/// then some.
const POOL_BUFFERS: u32 = 80;

thread_local! {
    static POOL: RefCell<Option<Pool>> = const { RefCell::new(None) };
}

/// This thread's pool of standard (2 KiB) buffers, made on first use.
pub(super) fn with_pool<R>(f: impl FnOnce(&Pool) -> R) -> R {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.get_or_insert_with(|| {
            Pool::new(PoolConfig::standard(POOL_BUFFERS)).expect("a pool for fuzzing")
        });
        f(pool)
    })
}

/// A packet holding `frame`: the first segment `first` bytes (all of it if
/// `first` is `None` or larger), the rest in full buffers chained behind;
/// its data starts `lead` bytes into the headroom (less headroom left).
/// Whatever does not fit in a chain of [`tapring_core::packet::MAX_SEGS`]
/// is left out.
pub(super) fn pkt_of(pool: &Pool, frame: &[u8], first: Option<usize>, lead: u32) -> Pkt {
    let mut pkt = pool.alloc().expect("a free buffer");
    let _ = pkt.rx_target(lead);
    let room = pkt.tailroom();
    let first = first.unwrap_or(room).min(room).min(frame.len());
    pkt.extend_from_slice(&frame[..first]).expect("fits");
    let mut rest = &frame[first..];
    while !rest.is_empty() {
        let mut seg = pool.alloc().expect("a free buffer");
        let (chunk, more) = rest.split_at(rest.len().min(seg.tailroom()));
        seg.extend_from_slice(chunk).expect("fits");
        if pkt.chain(seg).is_err() {
            break;
        }
        rest = more;
    }
    pkt
}

/// Everything about a packet the requests could change.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Snapshot {
    pub(super) bytes: Vec<u8>,
    pub(super) segments: Vec<usize>,
    pub(super) headroom: usize,
    pub(super) offload: Offload,
}

impl Snapshot {
    pub(super) fn of(pkt: &Pkt) -> Snapshot {
        let mut bytes = vec![0; pkt.pkt_len()];
        assert_eq!(pkt.copy_to(&mut bytes), pkt.pkt_len());
        let segments: Vec<usize> = pkt.segments().map(<[u8]>::len).collect();
        assert_eq!(segments.len(), pkt.nb_segs());
        assert_eq!(segments.iter().sum::<usize>(), pkt.pkt_len());
        assert_eq!(segments[0], pkt.len());
        Snapshot {
            bytes,
            segments,
            headroom: pkt.headroom(),
            offload: pkt.offload(),
        }
    }
}

/// Checks that every buffer taken from `pool` since `before` is back.
pub(super) fn check_conservation(pool: &Pool, before: PoolStats) {
    let now = pool.stats();
    assert_eq!(now, before, "pool buffers lost or duplicated");
    assert_eq!(now.available + now.in_use, now.capacity);
}

/// Fuzzes the offload requests on packets
/// ([`tapring_core::wire::offload_request`]).
///
/// Input: `[control: u8][mss: u16 LE][split: u16 LE][frame...]`. Control
/// bit 0 picks [`Framing::Ip`] over Ethernet, bit 1 segmentation (at
/// `mss`) over a checksum request, bit 2 the framed variant of the call
/// (the plain one is Ethernet only), bit 3 chains the frame (a first
/// segment of `split` bytes, the rest in 2 KiB segments), bit 4 presets an
/// offload on the packet. Checks:
///
/// * No call panics. An error changes nothing, byte for byte: the data of
///   every segment, the segment layout, the headroom and the offload; every
///   error has a message.
/// * A success returns what [`parse_framed`] finds in the first segment
///   (which holds all headers), sets exactly the request
///   [`Headers::checksum_request`] / [`Headers::segmentation_request`]
///   builds for the packet's length (one that passes [`vnet::check_tx`]),
///   needs length fields that match the whole chain, and changes only the
///   checksum field, to a value that, finished as the kernel does over the
///   whole chain, verifies.
/// * Every pool buffer comes back.
pub fn offload_request(data: &[u8]) {
    let mut input = Input(data);
    let control = input.u8();
    let mss = input.u16();
    let split = usize::from(input.u16());
    let frame = input.rest();
    let framing = if control & 1 != 0 {
        Framing::Ip
    } else {
        Framing::Ethernet
    };
    let segment = control & 2 != 0;
    let framed_call = control & 4 != 0 || framing == Framing::Ip;
    let first = (control & 8 != 0).then_some(split);
    let preset = Offload {
        csum: Checksum::Valid,
        gso: None,
    };

    with_pool(|pool| {
        let before = pool.stats();
        {
            let mut pkt = pkt_of(pool, frame, first, 0);
            if control & 16 != 0 {
                pkt.set_offload(preset);
            }
            let was = Snapshot::of(&pkt);
            let result = match (segment, framed_call) {
                (false, false) => request_checksum(&mut pkt),
                (false, true) => request_checksum_framed(&mut pkt, framing),
                (true, false) => request_segmentation(&mut pkt, mss),
                (true, true) => request_segmentation_framed(&mut pkt, mss, framing),
            };
            let now = Snapshot::of(&pkt);
            match result {
                Err(e) => {
                    check_message(&e);
                    assert_eq!(now, was, "{e:?}: the packet changed on error");
                    check_error(&pkt, &was, framing, &e);
                }
                Ok(h) => check_request(&pkt, &was, &now, &h, framing, segment.then_some(mss)),
            }
        }
        check_conservation(pool, before);
    });
}

/// Checks an error against the packet: a parse error of the first segment
/// is the parser's (truncation told apart from headers split over
/// segments).
fn check_error(pkt: &Pkt, was: &Snapshot, framing: Framing, e: &HeaderError) {
    match *e {
        HeaderError::SplitHeaders {
            need,
            first_segment,
        } => {
            assert_eq!(first_segment, pkt.len());
            assert!(need > first_segment && need <= pkt.pkt_len(), "{e:?}");
        }
        HeaderError::Truncated { need, have } => {
            assert_eq!(have, was.bytes.len(), "{e:?}");
            assert!(need > have, "{e:?}");
        }
        _ => {}
    }
    if let Ok(h) = parse_framed(pkt.data(), framing)
        && let L4::Tcp | L4::Udp = h.l4()
        && lengths_match(&was.bytes, &h)
    {
        // TCP/UDP with the right lengths: only these may fail.
        assert!(
            matches!(
                e,
                HeaderError::InvalidMss { .. }
                    | HeaderError::TooManySegments { .. }
                    | HeaderError::RoutedIpv6 { .. }
            ),
            "{h:?}: {e:?}"
        );
    }
}

/// Checks a successful request for `h` on `pkt` (`was` before, `now` after).
fn check_request(
    pkt: &Pkt,
    was: &Snapshot,
    now: &Snapshot,
    h: &Headers,
    framing: Framing,
    mss: Option<u16>,
) {
    let len = pkt.pkt_len();
    assert_eq!(parse_framed(pkt.data(), framing), Ok(*h));
    check_headers(pkt.data(), h, framing);
    assert_eq!((&now.segments, now.headroom), (&was.segments, was.headroom));
    let want = match mss {
        None => h.checksum_request(),
        Some(mss) => h.segmentation_request(mss, len - h.hdr_len()),
    };
    assert_eq!(Ok(now.offload), want, "{h:?}");
    assert_eq!(
        vnet::check_tx(&now.offload, len),
        Ok(()),
        "{:?}",
        now.offload
    );
    assert!(
        lengths_match(&was.bytes, h),
        "{h:?}: lengths disagree with the chain"
    );
    check_only_checksum_changed(&was.bytes, &now.bytes, h);
    let Checksum::Partial { start, offset } = now.offload.csum else {
        panic!("{:?}: no partial checksum", now.offload);
    };
    let mut finished = now.bytes.clone();
    finish_checksum(&mut finished, usize::from(start), usize::from(offset));
    let proto = if h.l4() == L4::Tcp { 6 } else { 17 };
    assert!(
        l4_checksum_ok(&finished, h, proto),
        "{h:?}: checksum does not verify"
    );
}
