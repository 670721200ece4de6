//! Tests of [`rx_prep`](super::rx_prep) and [`tx_prep`](super::tx_prep)
//! over every framing × packet information × virtio-net header: what a
//! transmit prepares is what the kernel reads, and what the kernel writes
//! in the same layout is accepted as the original frame.

use super::FrameFormat;
use super::rx_prep::{RxReject, accept};
use super::tx_prep::{TxLimits, TxReject, prepare, unprepare};
use crate::packet::{Checksum, Offload, Pkt, Pool, PoolConfig, test_pool};
use crate::queue::QueueStats;
use crate::wire::packet_info::{PI_LEN, PROTO_IPV4, PROTO_IPV6, TUN_PKT_STRIP};
use crate::wire::vnet::{self, VnetHdrLen};
use crate::wire::{Framing, PacketInfo};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

fn formats() -> Vec<FrameFormat> {
    let mut out = Vec::new();
    for framing in [Framing::Ethernet, Framing::Ip] {
        for packet_info in [false, true] {
            for vnet_hdr_len in [VnetHdrLen::None, VnetHdrLen::Short, VnetHdrLen::Mergeable] {
                out.push(FrameFormat {
                    framing,
                    packet_info,
                    vnet_hdr_len,
                });
            }
        }
    }
    out
}

/// A frame of `framing` and `len` bytes: an Ethernet frame, or an IPv4
/// (`v6` false) / IPv6 packet with a UDP header.
fn frame(framing: Framing, v6: bool, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    let l3 = match framing {
        Framing::Ethernet => {
            f[12..14].copy_from_slice(&if v6 { [0x86, 0xdd] } else { [8, 0] });
            14
        }
        Framing::Ip => 0,
    };
    if v6 {
        f[l3] = 0x60;
        f[l3 + 4..l3 + 6].copy_from_slice(&((len - l3 - 40) as u16).to_be_bytes());
        f[l3 + 6] = 17;
    } else {
        f[l3] = 0x45;
        f[l3 + 2..l3 + 4].copy_from_slice(&((len - l3) as u16).to_be_bytes());
        f[l3 + 6] = 0;
        f[l3 + 7] = 0;
        f[l3 + 9] = 17;
    }
    f
}

fn pkt_of(pool: &Pool, bytes: &[u8]) -> Pkt {
    let mut p = pool.alloc().expect("room");
    p.extend_from_slice(bytes).expect("fits");
    p
}

/// What the kernel does on a read: writes `bytes` where the queue's read
/// starts (`lead` bytes into the headroom); returns the packet and `n`.
fn kernel_read(pool: &Pool, lead: usize, bytes: &[u8]) -> (Pkt, usize, usize) {
    let mut p = pool.alloc().expect("room");
    let _ = p.rx_target(lead as u32);
    let room = p.tailroom();
    let n = bytes.len().min(room);
    let buf = p.append(room).expect("room");
    buf[..n].copy_from_slice(&bytes[..n]);
    p.trim(room - n).expect("trim");
    (p, n, room)
}

fn limits(format: FrameFormat) -> TxLimits {
    TxLimits {
        format,
        max_frame: 1500 + format.framing.l2_overhead() as usize,
        max_segs: 4,
    }
}

#[test]
fn prepare_then_accept_round_trips_every_format() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats() {
        for v6 in [false, true] {
            for len in [fmt.framing.min_len() as usize + 60, 100, 1000] {
                let original = frame(fmt.framing, v6, len);
                let mut p = pkt_of(&pool, &original);
                let off = if fmt.vnet_hdr_len.is_empty() {
                    Offload::NONE
                } else {
                    let l4 =
                        if fmt.framing == Framing::Ip { 0 } else { 14 } + if v6 { 40 } else { 20 };
                    Offload {
                        csum: Checksum::Partial {
                            start: l4 as u16,
                            offset: 6,
                        },
                        gso: None,
                    }
                };
                p.set_offload(off);
                prepare(&mut p, &limits(fmt)).unwrap_or_else(|e| panic!("{fmt:?}: {e:?}"));
                let wire = p.data().to_vec();
                assert_eq!(wire.len(), fmt.prefix_len() + len, "{fmt:?}");
                assert!(
                    wire[fmt.prefix_len()..] == original[..],
                    "{fmt:?}: frame intact"
                );
                if fmt.packet_info {
                    let pi = PacketInfo::decode(&wire).unwrap();
                    let want = match (fmt.framing, v6) {
                        (Framing::Ethernet, _) => 0,
                        (Framing::Ip, false) => PROTO_IPV4,
                        (Framing::Ip, true) => PROTO_IPV6,
                    };
                    assert_eq!((pi.flags, pi.proto), (0, want), "{fmt:?}");
                }
                if !fmt.vnet_hdr_len.is_empty() {
                    let hdr = &wire[fmt.pi_len()..fmt.prefix_len()];
                    assert_eq!(vnet::decode(hdr, len), Ok(off), "{fmt:?}");
                }
                // Handed back unsent: the packet is the original again.
                unprepare(&mut p, &limits(fmt));
                assert!(p.data() == &original[..], "{fmt:?}: unprepare");
                drop(p);

                // The kernel writes the same layout on a read.
                let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &wire);
                let got =
                    accept(&mut r, n, room, &fmt).unwrap_or_else(|e| panic!("{fmt:?}: {e:?}"));
                assert_eq!(got, off, "{fmt:?}");
                assert!(
                    r.data() == &original[..],
                    "{fmt:?}: users see the frame alone"
                );
                assert_eq!(r.offload(), off);
            }
        }
    }
}

/// Found by the `rx_tx_prep` fuzz target: an IP packet chained behind an
/// empty first segment was refused as a runt (the version nibble was read
/// from the first segment only), though it is long enough and a gather
/// write sends it as it is.
#[test]
fn ip_packet_behind_an_empty_first_segment_is_sent() {
    let pool = test_pool(PoolConfig::standard(16));
    for packet_info in [false, true] {
        for v6 in [false, true] {
            let fmt = FrameFormat {
                framing: Framing::Ip,
                packet_info,
                vnet_hdr_len: VnetHdrLen::None,
            };
            let original = frame(Framing::Ip, v6, 100);
            let mut p = pool.alloc().expect("room");
            p.chain(pkt_of(&pool, &original)).expect("chains");
            assert_eq!((p.len(), p.pkt_len(), p.nb_segs()), (0, 100, 2));
            assert_eq!(prepare(&mut p, &limits(fmt)), Ok(()), "{fmt:?} v6 {v6}");
            assert_eq!(p.pkt_len(), fmt.pi_len() + 100);
            if packet_info {
                let want = if v6 { PROTO_IPV6 } else { PROTO_IPV4 };
                assert_eq!(PacketInfo::decode(p.data()).map(|pi| pi.proto), Some(want));
            }
            // Not IP is still refused, wherever the first byte is.
            let mut junk = original.clone();
            junk[0] = 0x15;
            let mut p = pool.alloc().expect("room");
            p.chain(pkt_of(&pool, &junk)).expect("chains");
            assert_eq!(prepare(&mut p, &limits(fmt)), Err(TxReject::NotIp));
        }
    }
}

#[test]
fn runts_by_framing() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats() {
        let min = fmt.framing.min_len() as usize;
        // Tx: one byte short of the framing's minimum is a runt.
        let mut short = frame(Framing::Ethernet, false, 60);
        short.truncate(min - 1);
        short[0] = 0x45;
        let mut p = pkt_of(&pool, &short);
        assert_eq!(
            prepare(&mut p, &limits(fmt)),
            Err(TxReject::Runt),
            "{fmt:?}"
        );
        // Rx: the prefixes plus one byte short of the minimum.
        let mut bytes = vec![0u8; fmt.prefix_len() + min - 1];
        if fmt.prefix_len() + min - 1 > fmt.pi_len() {
            bytes[fmt.pi_len()..].fill(0);
        }
        let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &bytes);
        assert_eq!(
            accept(&mut r, n, room, &fmt),
            Err(RxReject::Runt),
            "{fmt:?}"
        );
        // Exactly the minimum is accepted.
        let mut bytes = vec![0u8; fmt.prefix_len() + min];
        bytes[fmt.prefix_len()] = 0x45;
        let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &bytes);
        assert_eq!(accept(&mut r, n, room, &fmt), Ok(Offload::NONE), "{fmt:?}");
        assert_eq!(r.pkt_len(), min);
    }
    // A 14-byte IP packet is a runt on TUN but fine as an Ethernet frame.
    let ip14 = {
        let mut v = vec![0u8; 14];
        v[0] = 0x45;
        v
    };
    let tun = FrameFormat {
        framing: Framing::Ip,
        packet_info: false,
        vnet_hdr_len: VnetHdrLen::None,
    };
    let mut p = pkt_of(&pool, &ip14);
    assert_eq!(prepare(&mut p, &limits(tun)), Err(TxReject::Runt));
    let mut p = pkt_of(&pool, &ip14);
    assert_eq!(
        prepare(&mut p, &limits(FrameFormat::tap(VnetHdrLen::None))),
        Ok(())
    );
}

#[test]
fn tun_refuses_what_is_not_ip_and_counts_it() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats().into_iter().filter(|f| f.framing == Framing::Ip) {
        for first in [0x00u8, 0x15, 0x50, 0xff] {
            let mut bytes = frame(Framing::Ip, false, 60);
            bytes[0] = first;
            let mut p = pkt_of(&pool, &bytes);
            assert_eq!(
                prepare(&mut p, &limits(fmt)),
                Err(TxReject::NotIp),
                "{fmt:?}"
            );
            assert!(p.data() == &bytes[..], "nothing prepended");
        }
    }
    // An Ethernet frame starting with any byte is fine on a TAP.
    let mut p = pkt_of(&pool, &[0xff; 60]);
    assert_eq!(
        prepare(&mut p, &limits(FrameFormat::tap(VnetHdrLen::None))),
        Ok(())
    );
    let mut s = QueueStats::default();
    TxReject::NotIp.count(&mut s);
    assert_eq!((s.errors, s.drops.not_ip, s.drops.total()), (1, 1, 1));
}

#[test]
fn oversize_is_mtu_on_tun_and_mtu_plus_18_on_tap() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats() {
        let max = limits(fmt).max_frame;
        assert_eq!(
            max,
            if fmt.framing == Framing::Ip {
                1500
            } else {
                1518
            }
        );
        let mut ok = pkt_of(&pool, &frame(fmt.framing, false, max));
        assert_eq!(prepare(&mut ok, &limits(fmt)), Ok(()), "{fmt:?}");
        let mut big = pkt_of(&pool, &frame(fmt.framing, false, max + 1));
        assert_eq!(
            prepare(&mut big, &limits(fmt)),
            Err(TxReject::Oversize),
            "{fmt:?}"
        );
    }
}

#[test]
fn offload_without_vnet_header_is_refused_with_or_without_pi() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats().into_iter().filter(|f| f.vnet_hdr_len.is_empty()) {
        let mut p = pkt_of(&pool, &frame(fmt.framing, false, 100));
        p.set_offload(Offload {
            csum: Checksum::Partial {
                start: 20,
                offset: 6,
            },
            gso: None,
        });
        assert_eq!(
            prepare(&mut p, &limits(fmt)),
            Err(TxReject::BadOffload),
            "{fmt:?}"
        );
    }
}

#[test]
fn stripped_packet_information_is_truncation() {
    let pool = test_pool(PoolConfig::standard(16));
    for fmt in formats().into_iter().filter(|f| f.packet_info) {
        let mut bytes = vec![0u8; fmt.prefix_len() + 100];
        bytes[..PI_LEN].copy_from_slice(
            &PacketInfo {
                flags: TUN_PKT_STRIP,
                proto: PROTO_IPV4,
            }
            .encode(),
        );
        bytes[fmt.prefix_len()] = 0x45;
        let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &bytes);
        assert!(n < room, "the read did not fill the buffer");
        assert_eq!(
            accept(&mut r, n, room, &fmt),
            Err(RxReject::Truncated),
            "{fmt:?}"
        );
    }
}

#[test]
fn a_read_that_fills_the_buffer_is_truncated_in_every_format() {
    let pool = test_pool(PoolConfig::standard(16).data_room(256));
    for fmt in formats() {
        let bytes = vec![0x45u8; 4096];
        let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &bytes);
        assert_eq!(n, room);
        assert_eq!(
            accept(&mut r, n, room, &fmt),
            Err(RxReject::Truncated),
            "{fmt:?}"
        );
    }
}

#[test]
fn no_headroom_for_the_prefixes_is_counted() {
    let pool = test_pool(PoolConfig::standard(16).headroom(12));
    let fmt = FrameFormat {
        framing: Framing::Ip,
        packet_info: true,
        vnet_hdr_len: VnetHdrLen::Mergeable,
    };
    let mut p = pkt_of(&pool, &frame(Framing::Ip, true, 100));
    assert_eq!(prepare(&mut p, &limits(fmt)), Err(TxReject::NoHeadroom));
}

proptest! {
    /// Whatever the kernel writes, accept never panics, and what it accepts
    /// is the read minus the prefixes.
    #[test]
    fn accept_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        fmt_index in 0usize..12,
    ) {
        let pool = test_pool(PoolConfig::standard(4));
        let fmt = formats()[fmt_index];
        let (mut r, n, room) = kernel_read(&pool, fmt.prefix_len(), &bytes);
        if accept(&mut r, n, room, &fmt).is_ok() {
            prop_assert_eq!(r.pkt_len(), n - fmt.prefix_len());
            prop_assert!(r.pkt_len() >= fmt.framing.min_len() as usize);
        }
    }

    /// Whatever a user sends, prepare never panics; on success exactly the
    /// prefixes were added, and unprepare removes them.
    #[test]
    fn prepare_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        fmt_index in 0usize..12,
    ) {
        let pool = test_pool(PoolConfig::standard(4));
        let fmt = formats()[fmt_index];
        let mut p = pool.alloc().unwrap();
        p.extend_from_slice(&bytes).unwrap();
        if prepare(&mut p, &limits(fmt)).is_ok() {
            prop_assert_eq!(p.pkt_len(), bytes.len() + fmt.prefix_len());
            unprepare(&mut p, &limits(fmt));
            prop_assert!(p.data() == &bytes[..]);
        } else {
            prop_assert!(p.data() == &bytes[..]);
        }
    }
}
