use super::*;
use proptest::prelude::*;
use std::string::ToString;
use std::vec::Vec;

const SHORT: VnetHdrLen = VnetHdrLen::Short;
const MRG: VnetHdrLen = VnetHdrLen::Mergeable;

fn partial(start: u16, offset: u16) -> Checksum {
    Checksum::Partial { start, offset }
}

fn gso(kind: GsoKind, size: u16, hdr_len: u16, ecn: bool) -> Option<Gso> {
    Some(Gso {
        kind,
        size,
        hdr_len,
        ecn,
    })
}

fn off(csum: Checksum, gso: Option<Gso>) -> Offload {
    Offload { csum, gso }
}

/// A valid TCPv4 TSO request: Ethernet + IPv4 + TCP = 54 bytes of headers.
fn tso4() -> Offload {
    off(partial(34, 16), gso(GsoKind::Tcpv4, 1448, 54, false))
}

fn enc(o: &Offload, frame_len: usize, len: VnetHdrLen) -> Result<[u8; 12], VnetError> {
    let mut buf = [0xEEu8; 12];
    let n = encode(o, frame_len, len, &mut buf)?;
    assert_eq!(n, len.len());
    Ok(buf)
}

fn enc_err(o: &Offload, frame_len: usize) -> VnetError {
    let mut buf = [0xEEu8; 12];
    let err = encode(o, frame_len, SHORT, &mut buf).unwrap_err();
    assert_eq!(buf, [0xEE; 12], "nothing is written on error");
    err
}

// ---- VnetHdrLen -------------------------------------------------------

#[test]
fn hdr_len_values_and_try_from() {
    assert_eq!(SHORT.len(), 10);
    assert_eq!(MRG.len(), 12);
    assert_eq!(VnetHdrLen::try_from(10), Ok(SHORT));
    assert_eq!(VnetHdrLen::try_from(12), Ok(MRG));
    assert_eq!(VnetHdrLen::None.len(), 0);
    assert_eq!(VnetHdrLen::try_from(0), Ok(VnetHdrLen::None));
    assert!(VnetHdrLen::None.is_empty() && !SHORT.is_empty());
    assert_eq!(VnetHdrLen::default(), VnetHdrLen::None);
}

#[test]
fn err_bad_hdr_len() {
    for len in [1, 9, 11, 13, 20, usize::MAX] {
        assert_eq!(VnetHdrLen::try_from(len), Err(VnetError::BadHdrLen { len }));
    }
}

// ---- Fixed byte vectors, written by hand from the spec ----------------

#[test]
fn vector_tcpv4_tso() {
    // flags NEEDS_CSUM, gso_type TCPV4, hdr_len 54, gso_size 1448 (0x05a8),
    // csum_start 34, csum_offset 16.
    let bytes: [u8; 10] = [0x01, 0x01, 54, 0, 0xa8, 0x05, 34, 0, 16, 0];
    assert_eq!(decode(&bytes, 65_000), Ok(tso4()));
    let out = enc(&tso4(), 65_000, SHORT).unwrap();
    assert_eq!(out[..10], bytes);
    assert_eq!(
        out[10..],
        [0xEE, 0xEE],
        "a short header writes 10 bytes only"
    );
}

#[test]
fn vector_tcpv6_tso_ecn_mergeable() {
    // Ethernet 14 + IPv6 40 + TCP 32 (timestamps) = 86; csum_start 54.
    let bytes: [u8; 12] = [0x01, 0x84, 86, 0, 0x94, 0x05, 54, 0, 16, 0, 0, 0];
    let o = off(partial(54, 16), gso(GsoKind::Tcpv6, 1428, 86, true));
    assert_eq!(decode(&bytes, 30_000), Ok(o));
    assert_eq!(enc(&o, 30_000, MRG).unwrap(), bytes);
}

#[test]
fn vector_uso() {
    // USO over IPv4: headers 14 + 20 + 8 = 42, csum at 34 + 6.
    let bytes: [u8; 10] = [0x01, 0x05, 42, 0, 0xdc, 0x05, 34, 0, 6, 0];
    let o = off(partial(34, 6), gso(GsoKind::UdpL4, 1500, 42, false));
    assert_eq!(decode(&bytes, 9000), Ok(o));
    assert_eq!(enc(&o, 9000, SHORT).unwrap()[..10], bytes);
}

#[test]
fn vector_plain_frames() {
    let none = [0u8; 10];
    assert_eq!(decode(&none, 60), Ok(Offload::NONE));
    assert_eq!(enc(&Offload::NONE, 60, SHORT).unwrap()[..10], none);

    let valid = [0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(decode(&valid, 60), Ok(off(Checksum::Valid, None)));
    assert_eq!(
        enc(&off(Checksum::Valid, None), 60, SHORT).unwrap()[..10],
        valid
    );

    // A UDP datagram with its checksum left to the kernel; csum_start 0x0122
    // checks the byte order.
    let udp = [0x01, 0, 0, 0, 0, 0, 0x22, 0x01, 6, 0];
    assert_eq!(decode(&udp, 400), Ok(off(partial(0x0122, 6), None)));
    assert_eq!(
        enc(&off(partial(0x0122, 6), None), 400, SHORT).unwrap()[..10],
        udp
    );
}

#[test]
fn num_buffers_ignored_on_rx_zero_on_tx() {
    let bytes: [u8; 12] = [0x01, 0x01, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0x34, 0x12];
    assert_eq!(decode(&bytes, 65_000), Ok(tso4()));
    assert_eq!(enc(&tso4(), 65_000, MRG).unwrap()[10..], [0, 0]);
}

#[test]
fn decode_reads_only_the_first_ten_bytes() {
    let mut buf = [0xFFu8; 64];
    buf[..10].copy_from_slice(&[0x01, 0x01, 54, 0, 0xa8, 0x05, 34, 0, 16, 0]);
    assert_eq!(decode(&buf, 65_000), Ok(tso4()));
}

// ---- Round trips --------------------------------------------------------

fn round_trip(o: Offload, frame_len: usize) {
    for len in [SHORT, MRG] {
        let bytes = enc(&o, frame_len, len).unwrap();
        assert_eq!(
            decode(&bytes[..len.len()], frame_len),
            Ok(o),
            "{o:?} {len:?}"
        );
        let mut rx = [0u8; 12];
        assert_eq!(encode_rx(&o, frame_len, len, &mut rx), Ok(len.len()));
        assert_eq!(rx[..len.len()], bytes[..len.len()]);
    }
}

#[test]
fn round_trip_each_gso_kind() {
    round_trip(tso4(), 65_000);
    round_trip(
        off(partial(54, 16), gso(GsoKind::Tcpv6, 1440, 74, false)),
        65_000,
    );
    round_trip(
        off(partial(34, 6), gso(GsoKind::Udp, 1472, 42, false)),
        8000,
    );
    round_trip(
        off(Checksum::None, gso(GsoKind::Udp, 1472, 42, false)),
        8000,
    );
    round_trip(
        off(partial(54, 6), gso(GsoKind::UdpL4, 1452, 62, false)),
        60_000,
    );
}

#[test]
fn round_trip_ecn() {
    round_trip(
        off(partial(34, 16), gso(GsoKind::Tcpv4, 1448, 54, true)),
        65_000,
    );
    round_trip(
        off(partial(54, 16), gso(GsoKind::Tcpv6, 1440, 74, true)),
        65_000,
    );
}

#[test]
fn round_trip_checksum_states() {
    round_trip(Offload::NONE, 60);
    round_trip(off(Checksum::Valid, None), 1514);
    round_trip(off(partial(34, 16), None), 1514);
    // The checksum field may end exactly at the end of the frame.
    round_trip(off(partial(40, 6), None), 48);
    // Valid is accepted on Tx (forwarding a received offload).
    round_trip(
        off(Checksum::Valid, gso(GsoKind::Udp, 1000, 42, false)),
        3000,
    );
}

#[test]
fn gso_kind_vnet_types() {
    for (kind, t) in [
        (GsoKind::Tcpv4, GSO_TCPV4),
        (GsoKind::Tcpv6, GSO_TCPV6),
        (GsoKind::Udp, GSO_UDP),
        (GsoKind::UdpL4, GSO_UDP_L4),
    ] {
        assert_eq!(kind.vnet_type(), t);
        assert_eq!(GsoKind::from_vnet_type(t), Some(kind));
    }
    for t in [GSO_NONE, 2, 6, 0x7f, GSO_ECN | GSO_TCPV4] {
        assert_eq!(GsoKind::from_vnet_type(t), None);
    }
}

// ---- Rx leniency --------------------------------------------------------

#[test]
fn rx_accepts_hdr_len_hints() {
    // skb_headlen() may be 0 (all in frags) ...
    let zero = [0x01, 0x01, 0, 0, 0xa8, 0x05, 34, 0, 16, 0];
    let o = off(partial(34, 16), gso(GsoKind::Tcpv4, 1448, 0, false));
    assert_eq!(decode(&zero, 5000), Ok(o));
    assert_eq!(
        check_tx(&o, 5000),
        Err(VnetError::GsoHdrLenZero {
            kind: GsoKind::Tcpv4
        })
    );
    // ... or the whole (linear) frame ...
    let whole = [0x01, 0x01, 0x88, 0x13, 0xa8, 0x05, 34, 0, 16, 0];
    assert_eq!(decode(&whole, 5000).unwrap().gso.unwrap().hdr_len, 5000);
    // ... or shorter than the real headers.
    let short = [0x01, 0x01, 20, 0, 0xa8, 0x05, 34, 0, 16, 0];
    assert!(decode(&short, 5000).is_ok());
}

#[test]
fn rx_accepts_gso_without_partial_csum() {
    for flags in [0u8, F_DATA_VALID] {
        let bytes = [flags, GSO_TCPV4, 54, 0, 0xa8, 0x05, 0, 0, 0, 0];
        let o = decode(&bytes, 5000).unwrap();
        assert!(o.gso.is_some());
        assert!(matches!(
            check_tx(&o, 5000),
            Err(VnetError::GsoNeedsPartialCsum { .. })
        ));
    }
}

#[test]
fn rx_accepts_reserved_gso_size_and_udp_ecn() {
    let o = decode(&[0x01, 0x85, 42, 0, 0xff, 0xff, 34, 0, 6, 0], 5000).unwrap();
    assert_eq!(
        o,
        off(partial(34, 6), gso(GsoKind::UdpL4, 0xffff, 42, true))
    );
}

// ---- Every error variant -------------------------------------------------

#[test]
fn err_buffer_too_short() {
    for got in 0..10 {
        assert_eq!(
            decode(&[0u8; 12][..got], 100),
            Err(VnetError::BufferTooShort { needed: 10, got })
        );
    }
    let mut buf = [0u8; 11];
    assert_eq!(
        encode(&Offload::NONE, 100, MRG, &mut buf),
        Err(VnetError::BufferTooShort {
            needed: 12,
            got: 11
        })
    );
    assert_eq!(
        encode_rx(&Offload::NONE, 100, SHORT, &mut buf[..9]),
        Err(VnetError::BufferTooShort { needed: 10, got: 9 })
    );
}

#[test]
fn err_unknown_flags() {
    for flags in [F_RSC_INFO, F_RSC_INFO | F_NEEDS_CSUM, 0x08, 0x80, 0xff] {
        let bytes = [flags, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&bytes, 100), Err(VnetError::UnknownFlags { flags }));
    }
}

#[test]
fn err_conflicting_csum_flags() {
    let bytes = [0x03, 0, 0, 0, 0, 0, 34, 0, 16, 0];
    assert_eq!(
        decode(&bytes, 100),
        Err(VnetError::ConflictingCsumFlags { flags: 3 })
    );
}

#[test]
fn err_unknown_gso_type() {
    for gso_type in [2u8, 6, 0x7f, GSO_ECN, GSO_ECN | 2, 0xff] {
        let bytes = [0, gso_type, 54, 0, 0xa8, 0x05, 0, 0, 0, 0];
        assert_eq!(
            decode(&bytes, 5000),
            Err(VnetError::UnknownGsoType { gso_type })
        );
    }
}

#[test]
fn err_nonzero_unused() {
    let cases: [([u8; 10], &str, u16); 4] = [
        ([0, 0, 0, 0, 0, 0, 34, 0, 0, 0], "csum_start", 34),
        ([2, 0, 0, 0, 0, 0, 0, 0, 16, 0], "csum_offset", 16),
        ([0, 0, 54, 0, 0, 0, 0, 0, 0, 0], "hdr_len", 54),
        ([1, 0, 0, 0, 0xa8, 0x05, 34, 0, 16, 0], "gso_size", 1448),
    ];
    for (bytes, field, value) in cases {
        assert_eq!(
            decode(&bytes, 5000),
            Err(VnetError::NonZeroUnused { field, value })
        );
    }
}

#[test]
fn err_invalid_gso_size() {
    let bytes = [0x01, 0x01, 54, 0, 0, 0, 34, 0, 16, 0];
    assert_eq!(
        decode(&bytes, 5000),
        Err(VnetError::InvalidGsoSize {
            kind: GsoKind::Tcpv4,
            size: 0
        })
    );
    for size in [0, GSO_SIZE_RESERVED] {
        let o = off(partial(34, 16), gso(GsoKind::Tcpv4, size, 54, false));
        assert_eq!(
            enc_err(&o, 5000),
            VnetError::InvalidGsoSize {
                kind: GsoKind::Tcpv4,
                size
            }
        );
    }
}

#[test]
fn err_csum_out_of_frame() {
    // start + offset + 2 = 51 > 50.
    let bytes = [0x01, 0, 0, 0, 0, 0, 34, 0, 15, 0];
    let want = VnetError::CsumOutOfFrame {
        start: 34,
        offset: 15,
        frame_len: 50,
    };
    assert_eq!(decode(&bytes, 50), Err(want));
    assert_eq!(decode(&bytes, 51).map(|_| ()), Ok(()));
    assert_eq!(enc_err(&off(partial(34, 15), None), 50), want);
    // No overflow at the extremes.
    let o = off(partial(u16::MAX, u16::MAX), None);
    assert!(matches!(enc_err(&o, 0), VnetError::CsumOutOfFrame { .. }));
    assert!(check_tx(&o, usize::MAX).is_ok());
}

#[test]
fn err_hdr_len_out_of_frame() {
    let bytes = [0x01, 0x01, 54, 0, 0xa8, 0x05, 34, 0, 16, 0];
    let want = VnetError::HdrLenOutOfFrame {
        hdr_len: 54,
        frame_len: 53,
    };
    assert_eq!(decode(&bytes, 53), Err(want));
    assert_eq!(enc_err(&tso4(), 53), want);
}

#[test]
fn err_gso_hdr_len_zero() {
    let o = off(partial(34, 16), gso(GsoKind::Tcpv6, 1448, 0, false));
    assert_eq!(
        enc_err(&o, 5000),
        VnetError::GsoHdrLenZero {
            kind: GsoKind::Tcpv6
        }
    );
}

#[test]
fn err_gso_no_payload() {
    assert_eq!(
        enc_err(&tso4(), 54),
        VnetError::GsoNoPayload {
            hdr_len: 54,
            frame_len: 54
        }
    );
    assert!(enc(&tso4(), 55, SHORT).is_ok());
}

#[test]
fn err_gso_needs_partial_csum() {
    for kind in [GsoKind::Tcpv4, GsoKind::Tcpv6, GsoKind::UdpL4] {
        for csum in [Checksum::None, Checksum::Valid] {
            let o = off(csum, gso(kind, 1448, 54, false));
            assert_eq!(
                enc_err(&o, 5000),
                VnetError::GsoNeedsPartialCsum { kind, csum }
            );
        }
    }
}

#[test]
fn err_gso_csum_offset() {
    let cases = [
        (GsoKind::Tcpv4, 6, 16),
        (GsoKind::Tcpv6, 0, 16),
        (GsoKind::UdpL4, 16, 6),
    ];
    for (kind, offset, expected) in cases {
        let o = off(partial(34, offset), gso(kind, 1448, 54, false));
        assert_eq!(
            enc_err(&o, 5000),
            VnetError::GsoCsumOffset {
                kind,
                offset,
                expected
            }
        );
    }
}

#[test]
fn err_ecn_without_tcp() {
    for (kind, csum) in [
        (GsoKind::Udp, Checksum::None),
        (GsoKind::UdpL4, partial(34, 6)),
    ] {
        let o = off(csum, gso(kind, 1448, 42, true));
        assert_eq!(enc_err(&o, 5000), VnetError::EcnWithoutTcp { kind });
    }
}

#[test]
fn error_messages_name_the_values() {
    let cases: [(VnetError, &[&str]); 15] = [
        (
            VnetError::BufferTooShort { needed: 12, got: 7 },
            &["12", "7"],
        ),
        (VnetError::BadHdrLen { len: 11 }, &["11", "10", "12"]),
        (
            VnetError::UnknownFlags { flags: 0x08 },
            &["0x08", "byte order"],
        ),
        (
            VnetError::UnknownFlags { flags: 0x04 },
            &["0x04", "RSC_INFO"],
        ),
        (
            VnetError::ConflictingCsumFlags { flags: 3 },
            &["0x03", "DATA_VALID"],
        ),
        (VnetError::UnknownGsoType { gso_type: 0x86 }, &["0x86"]),
        (
            VnetError::NonZeroUnused {
                field: "hdr_len",
                value: 54,
            },
            &["hdr_len", "54", "GSO"],
        ),
        (
            VnetError::InvalidGsoSize {
                kind: GsoKind::UdpL4,
                size: 0,
            },
            &["UdpL4", "gso_size 0", "MSS"],
        ),
        (
            VnetError::CsumOutOfFrame {
                start: 34,
                offset: 16,
                frame_len: 40,
            },
            &["34", "16", "40-byte"],
        ),
        (
            VnetError::HdrLenOutOfFrame {
                hdr_len: 54,
                frame_len: 40,
            },
            &["54", "40-byte"],
        ),
        (
            VnetError::GsoHdrLenZero {
                kind: GsoKind::Tcpv4,
            },
            &["Tcpv4", "hdr_len 0"],
        ),
        (
            VnetError::GsoNoPayload {
                hdr_len: 54,
                frame_len: 54,
            },
            &["54", "no payload"],
        ),
        (
            VnetError::GsoNeedsPartialCsum {
                kind: GsoKind::Tcpv6,
                csum: Checksum::Valid,
            },
            &["Tcpv6", "Valid", "offset: 16"],
        ),
        (
            VnetError::GsoCsumOffset {
                kind: GsoKind::UdpL4,
                offset: 16,
                expected: 6,
            },
            &["UdpL4", "16", "requires 6"],
        ),
        (
            VnetError::EcnWithoutTcp { kind: GsoKind::Udp },
            &["Udp", "ECN", "clear"],
        ),
    ];
    for (err, needles) in cases {
        let msg = err.to_string();
        for needle in needles {
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        }
    }
}

// ---- Properties ----------------------------------------------------------

fn kind_s() -> impl Strategy<Value = GsoKind> {
    prop_oneof![
        Just(GsoKind::Tcpv4),
        Just(GsoKind::Tcpv6),
        Just(GsoKind::Udp),
        Just(GsoKind::UdpL4),
    ]
}

/// u16 values biased towards the ones that matter: 0, small, and anything.
fn field_s() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), 0u16..128, any::<u16>()]
}

fn frame_len_s() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..256, 0usize..70_000, any::<usize>()]
}

/// Header bytes, half of them the canonical serialisation of an arbitrary
/// (possibly invalid) offload, so that many decode.
fn header_s() -> impl Strategy<Value = Vec<u8>> {
    let shaped = (offload_s(), any::<u16>(), any::<bool>()).prop_map(|(o, num_buffers, mrg)| {
        let len = if mrg { MRG } else { SHORT };
        let mut v = std::vec![0u8; len.len()];
        write(&o, len, &mut v).unwrap();
        if mrg {
            v[10..].copy_from_slice(&num_buffers.to_le_bytes());
        }
        v
    });
    prop_oneof![raw_header_s(), shaped]
}

/// Header bytes biased towards plausible field values.
fn raw_header_s() -> impl Strategy<Value = Vec<u8>> {
    let flags = prop_oneof![Just(0u8), Just(1), Just(2), any::<u8>()];
    let gso_type = prop_oneof![
        Just(GSO_NONE),
        Just(GSO_TCPV4),
        Just(GSO_UDP),
        Just(GSO_TCPV6),
        Just(GSO_UDP_L4),
        Just(GSO_TCPV4 | GSO_ECN),
        Just(GSO_TCPV6 | GSO_ECN),
        any::<u8>(),
    ];
    (
        flags,
        gso_type,
        [field_s(), field_s(), field_s(), field_s()],
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(flags, gso_type, fields, num_buffers, mergeable)| {
            let mut v = std::vec![flags, gso_type];
            for f in fields {
                v.extend_from_slice(&f.to_le_bytes());
            }
            if mergeable {
                v.extend_from_slice(&num_buffers.to_le_bytes());
            }
            v
        })
}

fn checksum_s() -> impl Strategy<Value = Checksum> {
    prop_oneof![
        Just(Checksum::None),
        Just(Checksum::Valid),
        (field_s(), field_s()).prop_map(|(start, offset)| Checksum::Partial { start, offset }),
    ]
}

/// Any offload at all, valid or not.
fn offload_s() -> impl Strategy<Value = Offload> {
    let g =
        (kind_s(), field_s(), field_s(), any::<bool>()).prop_map(|(kind, size, hdr_len, ecn)| {
            Gso {
                kind,
                size,
                hdr_len,
                ecn,
            }
        });
    (checksum_s(), proptest::option::of(g)).prop_map(|(csum, gso)| Offload { csum, gso })
}

/// A valid Tx request and its frame length, built to satisfy `check_tx`.
fn valid_tx_s() -> impl Strategy<Value = (Offload, usize)> {
    (
        64usize..=70_000,
        proptest::option::of((kind_s(), any::<u16>(), any::<u16>(), any::<bool>())),
        0u8..3,
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(frame_len, g, csum_pick, a, b)| {
            let pick = |seed: u32, max: usize| (seed as usize) % (max + 1);
            let partial_with = |offset: u16| {
                let max_start = (frame_len - usize::from(offset) - 2).min(0xFFFF);
                Checksum::Partial {
                    start: pick(a, max_start) as u16,
                    offset,
                }
            };
            let free_csum = match csum_pick {
                0 => Checksum::None,
                1 => Checksum::Valid,
                _ => partial_with(pick(b, (frame_len - 2).min(0xFFFF)) as u16),
            };
            let Some((kind, size, hdr, ecn)) = g else {
                return (
                    Offload {
                        csum: free_csum,
                        gso: None,
                    },
                    frame_len,
                );
            };
            let hdr_len = 1 + pick(u32::from(hdr), frame_len.min(0x1_0000) - 2) as u16;
            let size = 1 + size % 0xFFFE;
            let csum = match kind {
                GsoKind::Tcpv4 | GsoKind::Tcpv6 => partial_with(TCP_CSUM_OFFSET),
                GsoKind::UdpL4 => partial_with(UDP_CSUM_OFFSET),
                GsoKind::Udp => free_csum,
            };
            let ecn = ecn && matches!(kind, GsoKind::Tcpv4 | GsoKind::Tcpv6);
            let gso = Some(Gso {
                kind,
                size,
                hdr_len,
                ecn,
            });
            (Offload { csum, gso }, frame_len)
        })
}

fn canonical(x: &[u8]) -> Vec<u8> {
    let mut v = x.to_vec();
    if let Some(nb) = v.get_mut(10..12) {
        nb.fill(0);
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..24),
        frame_len in frame_len_s(),
    ) {
        let _ = decode(&bytes, frame_len);
    }

    #[test]
    fn decode_plausible_never_panics(x in header_s(), frame_len in frame_len_s()) {
        let _ = decode(&x, frame_len);
    }

    /// Every accepted header re-encodes to the same bytes (num_buffers
    /// aside): with `encode_rx` always, with `encode` when it is also a
    /// valid Tx request.
    #[test]
    fn encode_decode_is_identity_on_accepted_headers(
        x in header_s(),
        frame_len in frame_len_s(),
    ) {
        if let Ok(o) = decode(&x, frame_len) {
            let len = VnetHdrLen::try_from(x.len()).unwrap();
            let mut out = [0xEEu8; 12];
            prop_assert_eq!(encode_rx(&o, frame_len, len, &mut out), Ok(x.len()));
            prop_assert_eq!(&out[..x.len()], &canonical(&x)[..]);
            if check_tx(&o, frame_len).is_ok() {
                let mut out = [0xEEu8; 12];
                prop_assert_eq!(encode(&o, frame_len, len, &mut out), Ok(x.len()));
                prop_assert_eq!(&out[..x.len()], &canonical(&x)[..]);
            }
        }
    }

    /// Every valid Tx request survives encoding and decoding.
    #[test]
    fn decode_encode_is_identity_on_valid_requests(
        (o, frame_len) in valid_tx_s(),
        mergeable in any::<bool>(),
    ) {
        prop_assert_eq!(check_tx(&o, frame_len), Ok(()));
        let len = if mergeable { MRG } else { SHORT };
        let mut out = [0u8; 12];
        prop_assert_eq!(encode(&o, frame_len, len, &mut out), Ok(len.len()));
        prop_assert_eq!(decode(&out[..len.len()], frame_len), Ok(o));
    }

    /// Whatever either encoder accepts, decode returns unchanged; Tx rules
    /// are a subset of Rx rules.
    #[test]
    fn anything_encoded_decodes(o in offload_s(), frame_len in frame_len_s()) {
        let mut out = [0u8; 10];
        if encode(&o, frame_len, SHORT, &mut out).is_ok() {
            prop_assert_eq!(check_rx(&o, frame_len), Ok(()));
            prop_assert_eq!(decode(&out, frame_len), Ok(o));
        }
        let mut out = [0u8; 10];
        if encode_rx(&o, frame_len, SHORT, &mut out).is_ok() {
            prop_assert_eq!(decode(&out, frame_len), Ok(o));
        }
    }
}

/// Guards the properties above against vacuity: the biased header strategy
/// must produce headers that decode, including GSO ones and valid Tx ones.
#[test]
fn header_strategy_reaches_accepted_headers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut accepted, mut gso, mut tx_ok) = (0, 0, 0);
    for _ in 0..2000 {
        let x = header_s().new_tree(&mut runner).unwrap().current();
        let frame_len = frame_len_s().new_tree(&mut runner).unwrap().current();
        if let Ok(o) = decode(&x, frame_len) {
            accepted += 1;
            gso += usize::from(o.gso.is_some());
            tx_ok += usize::from(check_tx(&o, frame_len).is_ok());
        }
    }
    std::eprintln!("accepted {accepted}, gso {gso}, tx-valid {tx_ok} of 2000");
    assert!(accepted >= 400 && gso >= 100 && tx_ok >= 200);
}

#[test]
fn no_header_carries_only_the_empty_request() {
    let mut buf = [0xEEu8; 12];
    assert_eq!(
        encode(&Offload::NONE, 100, VnetHdrLen::None, &mut buf),
        Ok(0)
    );
    assert_eq!(
        encode_rx(&Offload::NONE, 100, VnetHdrLen::None, &mut buf),
        Ok(0)
    );
    let off = Offload {
        csum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: None,
    };
    let err = encode(&off, 100, VnetHdrLen::None, &mut buf).unwrap_err();
    assert_eq!(err, VnetError::NoHeader { off });
    assert!(err.to_string().contains("without a virtio-net header"));
    assert_eq!(buf, [0xEE; 12], "nothing is written on error");
}
