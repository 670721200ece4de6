//! The receive and transmit prep target.

use tapring_core::backend::FrameFormat;
use tapring_core::backend::rx_prep::{self, RxReject};
use tapring_core::backend::tx_prep::{self, TxLimits, TxReject};
use tapring_core::wire::PacketInfo;
use tapring_core::wire::packet_info::TUN_PKT_STRIP;
use tapring_core::wire::vnet;
use tapring_core::{Checksum, Framing, Offload, Pool, QueueStats, VnetHdrLen};

use super::input::{Input, offload_of};
use super::offload::{Snapshot, check_conservation, pkt_of, with_pool};

/// Bytes in front of the read: format, mode and two lengths.
pub(super) const FRAME_START: usize = 6;

/// The format a control byte names: bit 0 IP framing (TUN), bit 1 packet
/// information, bits 2-3 the virtio-net header (0 none, 1 short, 2 and 3
/// mergeable).
pub(super) fn format_of(control: u8) -> FrameFormat {
    FrameFormat {
        framing: if control & 1 != 0 {
            Framing::Ip
        } else {
            Framing::Ethernet
        },
        packet_info: control & 2 != 0,
        vnet_hdr_len: match (control >> 2) & 3 {
            0 => VnetHdrLen::None,
            1 => VnetHdrLen::Short,
            _ => VnetHdrLen::Mergeable,
        },
    }
}

/// Fuzzes the receive and transmit prep every backend shares
/// ([`rx_prep::accept`], [`tx_prep::prepare`], [`tx_prep::unprepare`]).
///
/// Input: `[format: u8][mode: u8][a: u16 LE][b: u16 LE][read...]`. The
/// format byte: bit 0 IP framing (TUN), bit 1 packet information, bits 2-3
/// the virtio-net header (0 none, 1 short, 2 and 3 mergeable). `read` is
/// what a read of the device returned (prefixes, then the frame). Mode bits
/// 0-1 pick the read's length `n` (the bytes, the whole buffer, `a`, or the
/// buffer less 1..4) and the Tx maximum frame (1514, 1518, the framing's at
/// an MTU of 1500, `a`), bits 2-3 the Tx frame's first segment (whole, `b`
/// bytes, or the frame padded with zeros to `b` bytes), bit 4 takes
/// `a % 128` of the Tx packet's headroom, bits 5-6 the Tx segment limit (1,
/// 4, 16, 64), bit 7 replaces the Tx offload with [`Checksum::Valid`]
/// (which a device without a virtio-net header cannot carry).
/// The Tx frame is `read` after the prefixes, its offload the virtio-net
/// header's fields taken as they are. Checks:
///
/// * Rx: `accept` never panics; a rejected read leaves the packet as it
///   was (data, headroom, length) and counts one error under one reason; a
///   full buffer is [`RxReject::Truncated`], a read shorter than the
///   prefixes and the framing's minimum [`RxReject::Runt`]; an accepted
///   read is shorter than the buffer, its data is the frame after the
///   prefixes and its offload the header's.
/// * Tx: `prepare` never panics; a rejected packet is unchanged (every
///   segment's bytes, layout, headroom, offload), for the reason the limits
///   give; a prepared one holds the packet information (`proto` from the
///   version nibble) and the virtio-net header that decodes to its offload,
///   then the frame; `unprepare` restores it exactly; written to a device
///   of the same format and read back (one segment), `accept` returns the
///   same frame and offload.
/// * Every pool buffer comes back.
pub fn rx_tx_prep(data: &[u8]) {
    let mut input = Input(data);
    let fmt = format_of(input.u8());
    let mode = input.u8();
    let a = usize::from(input.u16());
    let b = usize::from(input.u16());
    let read = input.rest();
    with_pool(|pool| {
        let before = pool.stats();
        let n = match mode & 3 {
            0 => read.len(),
            1 => usize::MAX, // the whole buffer: set from the room below
            2 => a,
            _ => usize::MAX - 1 - (a % 4),
        };
        check_rx(pool, &fmt, read, n);
        check_conservation(pool, before);
        check_tx(pool, &fmt, mode, a, b, read);
        check_conservation(pool, before);
    });
}

/// A read of `n` bytes (of `bytes`, then zeros) into a fresh packet, as the
/// kernel does it: `lead` bytes before the usual data start. `n` of
/// `usize::MAX` is the whole buffer, `usize::MAX - k` the buffer less `k`.
/// Returns the packet, `n` and the room the read had.
fn kernel_read(
    pool: &Pool,
    lead: usize,
    bytes: &[u8],
    n: usize,
) -> (tapring_core::Pkt, usize, usize) {
    let mut pkt = pool.alloc().expect("a free buffer");
    let _ = pkt.rx_target(lead as u32);
    let room = pkt.tailroom();
    let n = if n > usize::MAX - 8 {
        room.saturating_sub(usize::MAX - n)
    } else {
        n
    };
    let got = n.min(room);
    let buf = pkt.append(got).expect("room");
    let k = got.min(bytes.len());
    buf[..k].copy_from_slice(&bytes[..k]);
    buf[k..].fill(0);
    (pkt, n, room)
}

/// Checks `accept` on a read of `n` bytes of `read`.
fn check_rx(pool: &Pool, fmt: &FrameFormat, read: &[u8], n: usize) {
    let lead = fmt.prefix_len();
    let (mut pkt, n, room) = kernel_read(pool, lead, read, n);
    let was = Snapshot::of(&pkt);
    match rx_prep::accept(&mut pkt, n, room, fmt) {
        Err(why) => {
            assert_eq!(Snapshot::of(&pkt), was, "{why:?}: rejected read changed");
            let mut stats = QueueStats::default();
            why.count(&mut stats);
            assert_eq!(stats.errors, 1);
            let d = stats.drops;
            assert_eq!(d.truncated + d.runt + d.bad_vnet_hdr, 1, "{why:?}");
            if n >= room {
                assert_eq!(why, RxReject::Truncated);
            } else if n < lead + fmt.framing.min_len() as usize {
                assert!(
                    matches!(why, RxReject::Runt | RxReject::Truncated),
                    "{why:?}"
                );
            }
        }
        Ok(off) => {
            assert!(
                n < room && n >= lead + fmt.framing.min_len() as usize,
                "n {n}"
            );
            let wire = &was.bytes;
            assert_eq!(pkt.data(), &wire[lead..], "accepted data is the frame");
            assert_eq!(pkt.pkt_len(), n - lead);
            assert_eq!(pkt.offload(), off);
            if fmt.packet_info {
                let pi = PacketInfo::decode(wire).expect("packet information");
                assert_eq!(pi.flags & TUN_PKT_STRIP, 0, "a cut packet accepted");
            }
            let pi = fmt.pi_len();
            match fmt.vnet_hdr_len {
                VnetHdrLen::None => assert_eq!(off, Offload::NONE),
                _ => assert_eq!(vnet::decode(&wire[pi..lead], n - lead), Ok(off)),
            }
        }
    }
}

/// Checks `prepare`/`unprepare` on the frame after `read`'s prefixes.
fn check_tx(pool: &Pool, fmt: &FrameFormat, mode: u8, a: usize, b: usize, read: &[u8]) {
    let frame = read.get(fmt.prefix_len()..).unwrap_or_default();
    let off = if mode & 0x80 != 0 {
        Offload {
            csum: Checksum::Valid,
            gso: None,
        }
    } else if fmt.vnet_hdr_len.is_empty() {
        Offload::NONE
    } else {
        offload_of(read.get(fmt.pi_len()..).unwrap_or_default())
    };
    let padded;
    let (frame, first) = match (mode >> 2) & 3 {
        0 => (frame, None),
        1 => (frame, Some(b)),
        _ => {
            padded = [frame, &vec![0; b.saturating_sub(frame.len())]].concat();
            (&padded[..], None)
        }
    };
    let lead = if mode & 0x10 != 0 {
        (a % 128) as u32
    } else {
        0
    };
    let mut pkt = pkt_of(pool, frame, first, lead);
    pkt.set_offload(off);
    let lim = TxLimits {
        format: *fmt,
        max_frame: [1514, 1518, fmt.framing.max_frame(1500) as usize, a][usize::from(mode) % 4],
        max_segs: [1, 4, 16, 64][usize::from((mode >> 5) & 3)],
    };
    let was = Snapshot::of(&pkt);
    let len = pkt.pkt_len();
    match tx_prep::prepare(&mut pkt, &lim) {
        Err(why) => {
            assert_eq!(Snapshot::of(&pkt), was, "{why:?}: rejected packet changed");
            let mut stats = QueueStats::default();
            why.count(&mut stats);
            assert_eq!(stats.errors, 1);
            // The reason: the first rule the packet breaks.
            let expected = if len < fmt.framing.min_len() as usize {
                TxReject::Runt
            } else if fmt.framing == Framing::Ip
                && PacketInfo::for_ip_packet(was.bytes[0]).is_none()
            {
                TxReject::NotIp
            } else if off.gso.is_none() && len > lim.max_frame {
                TxReject::Oversize
            } else if pkt.nb_segs() > lim.max_segs {
                TxReject::TooManySegments
            } else if fmt.vnet_hdr_len.is_empty() && !off.is_none()
                || !fmt.vnet_hdr_len.is_empty() && vnet::check_tx(&off, len).is_err()
            {
                TxReject::BadOffload
            } else {
                TxReject::NoHeadroom
            };
            assert_eq!(why, expected, "{off:?}, {len} bytes, {:?}", was.segments);
            if why == TxReject::NoHeadroom {
                assert!(was.headroom < fmt.prefix_len(), "{why:?}");
            }
        }
        Ok(()) => {
            let prefix = fmt.prefix_len();
            assert!(len >= fmt.framing.min_len() as usize);
            assert!(off.gso.is_some() || len <= lim.max_frame);
            assert!(pkt.nb_segs() <= lim.max_segs);
            let now = Snapshot::of(&pkt);
            assert_eq!(now.bytes.len(), len + prefix);
            assert_eq!(now.headroom + prefix, was.headroom);
            assert_eq!(now.bytes[prefix..], was.bytes[..], "the frame changed");
            assert_eq!(now.offload, off);
            let pi = fmt.pi_len();
            if fmt.packet_info {
                let info = PacketInfo::decode(&now.bytes).expect("4 bytes");
                let want = match fmt.framing {
                    Framing::Ip => PacketInfo::for_ip_packet(was.bytes[0]).expect("IP"),
                    Framing::Ethernet => PacketInfo::default(),
                };
                assert_eq!(info, want);
            }
            if fmt.vnet_hdr_len.is_empty() {
                assert!(off.is_none(), "{off:?} sent without a header");
            } else {
                assert_eq!(vnet::check_tx(&off, len), Ok(()));
                assert_eq!(vnet::decode(&now.bytes[pi..prefix], len), Ok(off));
            }
            tx_prep::unprepare(&mut pkt, &lim);
            assert_eq!(Snapshot::of(&pkt), was, "unprepare does not restore");
            drop(pkt);
            // What the kernel reads, it writes back in the same layout.
            if now.segments.len() == 1 {
                let (mut rx, n, room) = kernel_read(pool, prefix, &now.bytes, now.bytes.len());
                if n < room {
                    assert_eq!(rx_prep::accept(&mut rx, n, room, fmt), Ok(off));
                    assert_eq!(rx.data(), &was.bytes[..], "the frame read back differs");
                }
            }
        }
    }
}
