//! Tests of the parser and of the offload requests built on it
//! ([`crate::wire::offload_request`]), which share the frame builder.

use super::*;
use crate::packet::{Checksum, Gso, GsoKind, Offload, Pkt, PoolConfig, test_pool};
use crate::wire::Framing;
use crate::wire::offload_request::*;
use crate::wire::vnet::{self, VnetHdrLen};
use proptest::prelude::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

// ---- Frame builder ---------------------------------------------------------

/// The IP part of a test frame.
#[derive(Clone, Debug)]
enum IpSpec {
    V4 {
        /// 32-bit words of options (NOPs).
        option_words: usize,
        /// The flags/fragment-offset field (0x4000 is DF, 0x2000 MF).
        frag_field: u16,
    },
    V6 {
        /// Extension header types (0, 43, 60), in order; header `i` is
        /// `(i % 3 + 1) * 8` bytes long.
        ext: Vec<u8>,
        /// Segments Left of every routing header.
        segments_left: u8,
        /// A fragment header after the extension headers.
        fragment: bool,
    },
}

/// The L4 part of a test frame.
#[derive(Clone, Copy, Debug)]
enum L4Spec {
    Tcp { option_words: usize, cwr: bool },
    Udp,
    Other(u8),
}

#[derive(Clone, Debug)]
struct Spec {
    vlans: usize,
    ip: IpSpec,
    l4: L4Spec,
    payload_len: usize,
    /// Varies addresses, ports and payload bytes.
    seed: u8,
}

/// Where the builder put things.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    l3: usize,
    l4: usize,
    l4_hdr_len: usize,
    l4_kind: L4,
}

fn spec(vlans: usize, ip: IpSpec, l4: L4Spec, payload_len: usize) -> Spec {
    Spec {
        vlans,
        ip,
        l4,
        payload_len,
        seed: 7,
    }
}

fn v4() -> IpSpec {
    IpSpec::V4 {
        option_words: 0,
        frag_field: 0x4000,
    }
}

fn v6() -> IpSpec {
    IpSpec::V6 {
        ext: vec![],
        segments_left: 0,
        fragment: false,
    }
}

fn v6_ext(ext: &[u8]) -> IpSpec {
    IpSpec::V6 {
        ext: ext.to_vec(),
        segments_left: 0,
        fragment: false,
    }
}

const TCP: L4Spec = L4Spec::Tcp {
    option_words: 0,
    cwr: false,
};

/// One's-complement sum of 16-bit big-endian words; an odd last byte is
/// the high byte of a word padded with zero (RFC 1071).
fn ones_sum(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(2);
    let mut sum: u64 = words
        .by_ref()
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold64(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn ipv4_header_checksum(hdr: &[u8]) -> u16 {
    !fold64(ones_sum(hdr))
}

fn tcp_header(option_words: usize, cwr: bool, seed: u8) -> Vec<u8> {
    let len = 20 + 4 * option_words;
    let mut h = vec![0u8; len];
    h[0..2].copy_from_slice(&(40_000 + u16::from(seed)).to_be_bytes());
    h[2..4].copy_from_slice(&443u16.to_be_bytes());
    h[4..8].copy_from_slice(&(0x1000_0000u32 + u32::from(seed)).to_be_bytes());
    h[8..12].copy_from_slice(&0x2000_0000u32.to_be_bytes());
    h[12] = ((len / 4) as u8) << 4;
    h[13] = 0x18 | if cwr { TCP_FLAG_CWR } else { 0 }; // PSH | ACK
    h[14..16].copy_from_slice(&0xfaf0u16.to_be_bytes());
    // Checksum (16..18) and urgent pointer stay 0; options are NOPs.
    h[20..].fill(1);
    h
}

/// Builds a well-formed frame (lengths and the IPv4 header checksum
/// right, L4 checksum 0) and says where its headers are.
fn build(s: &Spec) -> (Vec<u8>, Layout) {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    for (i, tpid) in [ETHERTYPE_QINQ, ETHERTYPE_VLAN]
        .into_iter()
        .skip(2 - s.vlans)
        .enumerate()
    {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    let payload: Vec<u8> = (0..s.payload_len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(s.seed))
        .collect();
    let (protocol, mut l4_bytes, l4_hdr_len, l4_kind) = match s.l4 {
        L4Spec::Tcp { option_words, cwr } => {
            let h = tcp_header(option_words, cwr, s.seed);
            let n = h.len();
            (IPPROTO_TCP, h, n, L4::Tcp)
        }
        L4Spec::Udp => {
            let mut h = vec![0u8; 8];
            h[0..2].copy_from_slice(&(50_000 + u16::from(s.seed)).to_be_bytes());
            h[2..4].copy_from_slice(&4789u16.to_be_bytes());
            h[4..6].copy_from_slice(&((8 + s.payload_len) as u16).to_be_bytes());
            (IPPROTO_UDP, h, 8, L4::Udp)
        }
        L4Spec::Other(p) => (p, vec![], 0, L4::Other { protocol: p }),
    };
    l4_bytes.extend_from_slice(&payload);
    let l3 = f.len() + 2;
    let layout = match &s.ip {
        IpSpec::V4 {
            option_words,
            frag_field,
        } => {
            f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let hdr_len = 20 + 4 * option_words;
            let mut ip = vec![0u8; hdr_len];
            ip[0] = 0x40 | (hdr_len / 4) as u8;
            ip[2..4].copy_from_slice(&((hdr_len + l4_bytes.len()) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            ip[6..8].copy_from_slice(&frag_field.to_be_bytes());
            ip[8] = 64;
            ip[9] = protocol;
            ip[12..16].copy_from_slice(&[192, 0, 2, s.seed]);
            ip[16..20].copy_from_slice(&[198, 51, 100, s.seed.wrapping_add(1)]);
            ip[20..].fill(1);
            let csum = ipv4_header_checksum(&ip);
            ip[10..12].copy_from_slice(&csum.to_be_bytes());
            f.extend_from_slice(&ip);
            let fragment = frag_field & IPV4_MF_AND_OFFSET != 0;
            Layout {
                l3,
                l4: l3 + hdr_len,
                l4_hdr_len: if fragment { 0 } else { l4_hdr_len },
                l4_kind: if fragment {
                    L4::Fragment { protocol }
                } else {
                    l4_kind
                },
            }
        }
        IpSpec::V6 {
            ext,
            segments_left,
            fragment,
        } => {
            f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            // The chain of next-header values: each extension header, the
            // fragment header, then the L4 protocol.
            let mut chain: Vec<u8> = ext.clone();
            if *fragment {
                chain.push(IPPROTO_FRAGMENT);
            }
            chain.push(protocol);
            let mut exts = Vec::new();
            for (i, &kind) in ext.iter().enumerate() {
                let len = (i % 3 + 1) * 8;
                let start = exts.len();
                exts.resize(start + len, 0);
                exts[start] = chain[i + 1];
                exts[start + 1] = (len / 8 - 1) as u8;
                if kind == IPPROTO_ROUTING {
                    exts[start + 2] = 4; // segment routing
                    exts[start + 3] = *segments_left;
                } else {
                    // PadN option filling the rest of the header.
                    exts[start + 2] = 1;
                    exts[start + 3] = (len - 4) as u8;
                }
            }
            if *fragment {
                let start = exts.len();
                exts.resize(start + 8, 0);
                exts[start] = protocol;
                exts[start + 4..start + 8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
            }
            let mut ip = vec![0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&((exts.len() + l4_bytes.len()) as u16).to_be_bytes());
            ip[6] = chain[0];
            ip[7] = 64;
            ip[8..24].copy_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, s.seed,
            ]);
            ip[24..40].copy_from_slice(&[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 2,
            ]);
            f.extend_from_slice(&ip);
            f.extend_from_slice(&exts);
            Layout {
                l3,
                l4: l3 + 40 + exts.len(),
                l4_hdr_len: if *fragment { 0 } else { l4_hdr_len },
                l4_kind: if *fragment {
                    L4::Fragment { protocol }
                } else {
                    l4_kind
                },
            }
        }
    };
    f.extend_from_slice(&l4_bytes);
    (f, layout)
}

fn assert_layout(h: &Headers, layout: &Layout, s: &Spec) {
    assert_eq!(h.vlan_tags(), s.vlans, "{s:?}");
    assert_eq!(h.l3_offset(), layout.l3, "{s:?}");
    assert_eq!(h.l4_offset(), layout.l4, "{s:?}");
    assert_eq!(h.l4(), layout.l4_kind, "{s:?}");
    assert_eq!(h.l4_hdr_len(), layout.l4_hdr_len, "{s:?}");
    assert_eq!(h.hdr_len(), layout.l4 + layout.l4_hdr_len, "{s:?}");
    let ip = match s.ip {
        IpSpec::V4 { .. } => IpVersion::V4,
        IpSpec::V6 { .. } => IpVersion::V6,
    };
    assert_eq!(h.ip(), ip, "{s:?}");
}

/// Every combination the unit tests walk: VLAN tags × IP variants × L4.
fn combinations() -> Vec<Spec> {
    let ips = [
        v4(),
        IpSpec::V4 {
            option_words: 1,
            frag_field: 0,
        },
        IpSpec::V4 {
            option_words: 10,
            frag_field: 0x4000,
        },
        v6(),
        v6_ext(&[IPPROTO_HOPOPTS]),
        v6_ext(&[IPPROTO_DSTOPTS]),
        v6_ext(&[IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS]),
    ];
    let l4s = [
        TCP,
        L4Spec::Tcp {
            option_words: 3,
            cwr: false,
        },
        L4Spec::Tcp {
            option_words: 10,
            cwr: true,
        },
        L4Spec::Udp,
    ];
    let mut out = Vec::new();
    for vlans in 0..=2 {
        for ip in &ips {
            for l4 in l4s {
                for payload_len in [0, 1, 37] {
                    out.push(spec(vlans, ip.clone(), l4, payload_len));
                }
            }
        }
    }
    out
}

/// What the kernel does with a `CHECKSUM_PARTIAL` frame
/// (`skb_checksum_help`): sum from `start` to the end, the checksum field
/// included, fold, complement, store; a zero result is stored as 0xffff
/// (`CSUM_MANGLED_0`).
fn kernel_finish(frame: &mut [u8], start: usize, offset: usize) {
    let mut csum = !fold64(ones_sum(&frame[start..]));
    if csum == 0 {
        csum = 0xffff;
    }
    frame[start + offset..start + offset + 2].copy_from_slice(&csum.to_be_bytes());
}

/// The receiver's check, written from RFC 793/768/8200 independently of
/// the module: the pseudo header plus the whole L4 segment (checksum
/// included) must sum to 0xffff.
fn l4_checksum_valid(frame: &[u8], l3: usize, l4: usize, v6: bool, protocol: u8) -> bool {
    let l4_len = frame.len() - l4;
    let mut pseudo = Vec::new();
    if v6 {
        pseudo.extend_from_slice(&frame[l3 + 8..l3 + 40]);
        pseudo.extend_from_slice(&(l4_len as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, protocol]);
    } else {
        pseudo.extend_from_slice(&frame[l3 + 12..l3 + 20]);
        pseudo.extend_from_slice(&[0, protocol]);
        pseudo.extend_from_slice(&(l4_len as u16).to_be_bytes());
    }
    fold64(ones_sum(&pseudo) + ones_sum(&frame[l4..])) == 0xffff
}

fn protocol_of(h: &Headers) -> u8 {
    match h.l4() {
        L4::Tcp => IPPROTO_TCP,
        L4::Udp => IPPROTO_UDP,
        l4 => panic!("no L4 checksum for {l4:?}"),
    }
}

/// Finishes a frame whose pseudo-header sum is in place, per its checksum
/// request, and checks it the receiver's way.
fn finish_and_verify(frame: &mut [u8], h: &Headers) -> bool {
    let Checksum::Partial { start, offset } = h.checksum_request().unwrap().csum else {
        panic!("checksum request is Partial");
    };
    kernel_finish(frame, start.into(), offset.into());
    l4_checksum_valid(
        frame,
        h.l3_offset(),
        h.l4_offset(),
        h.ip() == IpVersion::V6,
        protocol_of(h),
    )
}

fn encode_ok(off: &Offload, frame_len: usize) -> bool {
    let mut hdr = [0u8; 12];
    vnet::encode(off, frame_len, VnetHdrLen::Short, &mut hdr).is_ok()
}

// ---- Parsing ---------------------------------------------------------------

#[test]
fn parses_every_combination_of_vlans_ip_and_l4() {
    for s in combinations() {
        let (frame, layout) = build(&s);
        let h = parse(&frame).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_layout(&h, &layout, &s);
    }
}

#[test]
fn offsets_of_known_frames() {
    // Hand-checked numbers, so the builder cannot hide a shared mistake.
    let (f, _) = build(&spec(0, v4(), TCP, 10));
    let h = parse(&f).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (14, 34, 54));

    let (f, _) = build(&spec(2, v4(), L4Spec::Udp, 10));
    let h = parse(&f).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (22, 42, 50));

    let opts = IpSpec::V4 {
        option_words: 2,
        frag_field: 0,
    };
    let (f, _) = build(&spec(1, opts, TCP, 0));
    let h = parse(&f).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (18, 46, 66));

    let (f, _) = build(&spec(0, v6(), TCP, 10));
    let h = parse(&f).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (14, 54, 74));

    // Hop-by-hop (8) + routing (16) + destination options (24).
    let ext = v6_ext(&[IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS]);
    let (f, _) = build(&spec(0, ext, L4Spec::Udp, 10));
    let h = parse(&f).unwrap();
    assert_eq!((h.l4_offset(), h.l4_hdr_len(), h.hdr_len()), (102, 8, 110));
}

#[test]
fn ipv4_fragments_report_l3_but_no_l4() {
    for frag_field in [0x2000, 0x0001, 0x2000 | 0x00b9, 0x1fff, 0x4000 | 0x0010] {
        let ip = IpSpec::V4 {
            option_words: 0,
            frag_field,
        };
        let (f, _) = build(&spec(0, ip, TCP, 30));
        let h = parse(&f).unwrap();
        assert_eq!(h.l4(), L4::Fragment { protocol: 6 }, "{frag_field:#x}");
        assert_eq!((h.l4_offset(), h.l4_hdr_len(), h.hdr_len()), (34, 0, 34));
        assert_eq!(
            h.checksum_request(),
            Err(HeaderError::NoL4 {
                l4: L4::Fragment { protocol: 6 }
            })
        );
    }
    // DF alone is not a fragment.
    let (f, _) = build(&spec(0, v4(), TCP, 30));
    assert_eq!(parse(&f).unwrap().l4(), L4::Tcp);
}

#[test]
fn ipv6_fragment_header_means_no_l4() {
    let ip = IpSpec::V6 {
        ext: vec![IPPROTO_HOPOPTS],
        segments_left: 0,
        fragment: true,
    };
    let (f, _) = build(&spec(1, ip, L4Spec::Udp, 30));
    let h = parse(&f).unwrap();
    assert_eq!(h.l4(), L4::Fragment { protocol: 17 });
    // VLAN 4 + Ethernet 14 + IPv6 40 + hop-by-hop 8 + fragment 8.
    assert_eq!((h.l4_offset(), h.hdr_len()), (74, 74));
    assert_eq!(
        h.segmentation_request(100, 1000),
        Err(HeaderError::NoL4 {
            l4: L4::Fragment { protocol: 17 }
        })
    );
}

#[test]
fn other_protocols_are_reported_not_parsed() {
    let (f, _) = build(&spec(0, v4(), L4Spec::Other(1), 8));
    let h = parse(&f).unwrap();
    assert_eq!(h.l4(), L4::Other { protocol: 1 });
    assert_eq!((h.l4_offset(), h.hdr_len()), (34, 34));

    let (f, _) = build(&spec(0, v6_ext(&[IPPROTO_DSTOPTS]), L4Spec::Other(58), 8));
    let h = parse(&f).unwrap();
    assert_eq!(h.l4(), L4::Other { protocol: 58 });
    assert_eq!(h.l4_offset(), 14 + 40 + 8);
    let mut g = f.clone();
    assert_eq!(
        write_pseudo_header_checksum(&mut g, &h),
        Err(HeaderError::NoL4 {
            l4: L4::Other { protocol: 58 }
        })
    );
    assert_eq!(g, f);
}

#[test]
fn err_not_ip() {
    let mut f = vec![0u8; 60];
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // ARP
    assert_eq!(parse(&f), Err(HeaderError::NotIp { ethertype: 0x0806 }));
    // An 802.3 length field, behind a VLAN tag.
    f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    assert_eq!(parse(&f), Err(HeaderError::NotIp { ethertype: 46 }));
}

#[test]
fn err_too_many_vlan_tags() {
    let (f, _) = build(&spec(2, v4(), TCP, 0));
    // Insert a third tag after the two.
    let mut g = f[..20].to_vec();
    g.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    g.extend_from_slice(&[0, 7]);
    g.extend_from_slice(&f[20..]);
    assert_eq!(parse(&g), Err(HeaderError::TooManyVlanTags { max: 2 }));
}

#[test]
fn err_ip_version_mismatch() {
    let (mut f, _) = build(&spec(0, v4(), TCP, 0));
    f[14] = 0x65;
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpVersionMismatch {
            ethertype: 0x0800,
            version: 6
        })
    );
    let (mut f, _) = build(&spec(0, v6(), TCP, 0));
    f[14] = 0x45;
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpVersionMismatch {
            ethertype: 0x86dd,
            version: 4
        })
    );
}

#[test]
fn err_bad_ipv4_header_length() {
    for ihl in 0..5 {
        let (mut f, _) = build(&spec(0, v4(), TCP, 0));
        f[14] = 0x40 | ihl;
        assert_eq!(parse(&f), Err(HeaderError::BadIpv4HeaderLength { ihl }));
    }
}

#[test]
fn err_ipv4_options_beyond_the_frame() {
    // IHL 15 (60 bytes) in a frame that ends after 20 bytes of IP header.
    let (f, _) = build(&spec(0, v4(), L4Spec::Other(1), 0));
    let mut f = f[..34].to_vec();
    f[14] = 0x4f;
    assert_eq!(
        parse(&f),
        Err(HeaderError::Truncated {
            need: 14 + 60,
            have: 34
        })
    );
}

#[test]
fn err_ip_length_does_not_cover_the_headers() {
    // IPv4 total length shorter than the IP header.
    let (mut f, _) = build(&spec(0, v4(), TCP, 10));
    f[16..18].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpLengthTooShort {
            declared: 19,
            needed: 20
        })
    );
    // IPv4 total length covering the IP header but not the TCP header.
    f[16..18].copy_from_slice(&39u16.to_be_bytes());
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpLengthTooShort {
            declared: 39,
            needed: 40
        })
    );
    // IPv6 payload length shorter than the extension header.
    let (mut f, _) = build(&spec(0, v6_ext(&[IPPROTO_HOPOPTS]), L4Spec::Udp, 10));
    f[18..20].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpLengthTooShort {
            declared: 44,
            needed: 48
        })
    );
    // IPv6 payload length shorter than the UDP header.
    f[18..20].copy_from_slice(&15u16.to_be_bytes());
    assert_eq!(
        parse(&f),
        Err(HeaderError::IpLengthTooShort {
            declared: 55,
            needed: 56
        })
    );
}

#[test]
fn err_bad_tcp_data_offset() {
    for data_offset in 0..5u8 {
        let (mut f, _) = build(&spec(0, v4(), TCP, 10));
        f[34 + 12] = data_offset << 4;
        assert_eq!(
            parse(&f),
            Err(HeaderError::BadTcpDataOffset { data_offset })
        );
    }
    // Data offset 15 (60 bytes) beyond a 20-byte header and 10-byte payload.
    let (mut f, _) = build(&spec(0, v6(), TCP, 10));
    f[54 + 12] = 0xf0;
    assert_eq!(
        parse(&f),
        Err(HeaderError::Truncated {
            need: 54 + 60,
            have: 84
        })
    );
}

#[test]
fn err_misplaced_hop_by_hop() {
    let (f, _) = build(&spec(
        0,
        v6_ext(&[IPPROTO_DSTOPTS, IPPROTO_HOPOPTS]),
        TCP,
        0,
    ));
    assert_eq!(
        parse(&f),
        Err(HeaderError::MisplacedHopByHop {
            offset: 14 + 40 + 8
        })
    );
}

#[test]
fn extension_header_limit() {
    let eight = [IPPROTO_DSTOPTS; MAX_IPV6_EXT_HEADERS];
    let (f, layout) = build(&spec(0, v6_ext(&eight), L4Spec::Udp, 4));
    assert_eq!(parse(&f).unwrap().l4_offset(), layout.l4);

    let nine = [IPPROTO_DSTOPTS; MAX_IPV6_EXT_HEADERS + 1];
    let (f, _) = build(&spec(0, v6_ext(&nine), L4Spec::Udp, 4));
    assert_eq!(
        parse(&f),
        Err(HeaderError::TooManyExtensionHeaders { max: 8 })
    );
}

#[test]
fn longest_accepted_headers_fit_u16_offsets() {
    // Eight 2 KiB extension headers behind two VLAN tags, then a maximal
    // TCP header: the offsets stay exact, and the request encodes.
    let mut f = build(&spec(2, v6(), L4Spec::Other(59), 0)).0;
    let l3 = 22;
    f[l3 + 6] = IPPROTO_DSTOPTS;
    for i in 0..MAX_IPV6_EXT_HEADERS {
        let mut ext = vec![0u8; 2048];
        ext[0] = if i + 1 == MAX_IPV6_EXT_HEADERS {
            IPPROTO_TCP
        } else {
            IPPROTO_DSTOPTS
        };
        ext[1] = 255;
        f.extend_from_slice(&ext);
    }
    f.extend_from_slice(&tcp_header(10, false, 1));
    f.extend_from_slice(&[0xaa; 100]);
    let payload_len = (f.len() - l3 - 40) as u16;
    f[l3 + 4..l3 + 6].copy_from_slice(&payload_len.to_be_bytes());
    let h = parse(&f).unwrap();
    let l4 = l3 + 40 + 8 * 2048;
    assert_eq!((h.l4_offset(), h.hdr_len()), (l4, l4 + 60));
    let off = h.segmentation_request(50, 100).unwrap();
    assert_eq!(
        off.csum,
        Checksum::Partial {
            start: l4 as u16,
            offset: 16
        }
    );
    assert_eq!(off.gso.unwrap().hdr_len, (l4 + 60) as u16);
    assert!(encode_ok(&off, f.len()));
    write_pseudo_header_checksum(&mut f, &h).unwrap();
    assert!(finish_and_verify(&mut f, &h));
}

/// Every prefix of a valid frame either parses to exactly the full frame's
/// headers (when it holds them all) or is `Truncated` with a `need` beyond
/// the prefix and within the headers.
fn check_every_prefix(frame: &[u8]) {
    let full = parse(frame).unwrap();
    for len in 0..=frame.len() {
        let prefix = &frame[..len];
        match parse(prefix) {
            Ok(h) => {
                assert!(len >= full.hdr_len(), "parsed a {len}-byte prefix");
                assert_eq!(h, full, "prefix of {len}");
            }
            Err(HeaderError::Truncated { need, have }) => {
                assert!(len < full.hdr_len(), "{len}-byte prefix holds the headers");
                assert_eq!(have, len);
                assert!(need > len && need <= full.hdr_len(), "need {need} at {len}");
            }
            Err(e) => panic!("prefix of {len}: unexpected {e:?}"),
        }
    }
}

#[test]
fn every_prefix_is_truncated_or_complete() {
    for s in combinations() {
        check_every_prefix(&build(&s).0);
    }
    let frag = IpSpec::V6 {
        ext: vec![IPPROTO_HOPOPTS, IPPROTO_ROUTING],
        segments_left: 2,
        fragment: true,
    };
    check_every_prefix(&build(&spec(2, frag, L4Spec::Udp, 9)).0);
    check_every_prefix(&build(&spec(1, v4(), L4Spec::Other(47), 9)).0);
}

// ---- Requests --------------------------------------------------------------

#[test]
fn checksum_request_per_protocol() {
    let cases = [
        (spec(0, v4(), TCP, 5), 34, 16),
        (spec(1, v4(), L4Spec::Udp, 5), 38, 6),
        (spec(2, v6(), TCP, 5), 62, 16),
        (spec(0, v6_ext(&[IPPROTO_HOPOPTS]), L4Spec::Udp, 5), 62, 6),
    ];
    for (s, start, offset) in cases {
        let (f, _) = build(&s);
        let off = parse(&f).unwrap().checksum_request().unwrap();
        assert_eq!(
            off,
            Offload {
                csum: Checksum::Partial { start, offset },
                gso: None
            },
            "{s:?}"
        );
        assert!(encode_ok(&off, f.len()));
    }
}

#[test]
fn segmentation_request_per_protocol() {
    let cases = [
        (spec(0, v4(), TCP, 3000), GsoKind::Tcpv4, 34, 54),
        (spec(1, v6(), TCP, 3000), GsoKind::Tcpv6, 58, 78),
        (spec(0, v4(), L4Spec::Udp, 3000), GsoKind::UdpL4, 34, 42),
        (spec(2, v6(), L4Spec::Udp, 3000), GsoKind::UdpL4, 62, 70),
    ];
    for (s, kind, start, hdr_len) in cases {
        let (f, _) = build(&s);
        let h = parse(&f).unwrap();
        let off = h.segmentation_request(1000, 3000).unwrap();
        let offset = if kind == GsoKind::UdpL4 { 6 } else { 16 };
        assert_eq!(
            off,
            Offload {
                csum: Checksum::Partial { start, offset },
                gso: Some(Gso {
                    kind,
                    size: 1000,
                    hdr_len,
                    ecn: false
                })
            },
            "{s:?}"
        );
        assert!(encode_ok(&off, f.len()));
    }
}

#[test]
fn segmentation_request_small_payload_is_checksum_only() {
    let (f, _) = build(&spec(0, v4(), TCP, 1000));
    let h = parse(&f).unwrap();
    for payload_len in [0, 1, 999, 1000] {
        let off = h.segmentation_request(1000, payload_len).unwrap();
        assert_eq!(off, h.checksum_request().unwrap(), "{payload_len}");
    }
    assert!(h.segmentation_request(1000, 1001).unwrap().gso.is_some());
    // A header-only frame still gets a request the codec accepts.
    let (f, _) = build(&spec(0, v4(), TCP, 0));
    let off = parse(&f).unwrap().segmentation_request(1448, 0).unwrap();
    assert!(encode_ok(&off, f.len()));
}

#[test]
fn segmentation_request_reports_cwr_as_ecn() {
    let cwr = L4Spec::Tcp {
        option_words: 0,
        cwr: true,
    };
    let (f, _) = build(&spec(0, v6(), cwr, 3000));
    let off = parse(&f).unwrap().segmentation_request(1000, 3000).unwrap();
    assert!(off.gso.unwrap().ecn);
    assert!(encode_ok(&off, f.len()));
    // ECE alone (or any other flag) is not CWR.
    let (mut f, _) = build(&spec(0, v4(), TCP, 3000));
    f[34 + 13] = 0x40 | 0x10;
    let off = parse(&f).unwrap().segmentation_request(1000, 3000).unwrap();
    assert!(!off.gso.unwrap().ecn);
}

#[test]
fn err_segmentation_invalid_mss() {
    let (f, _) = build(&spec(0, v4(), TCP, 3000));
    let h = parse(&f).unwrap();
    for mss in [0, u16::MAX] {
        assert_eq!(
            h.segmentation_request(mss, 3000),
            Err(HeaderError::InvalidMss { mss })
        );
    }
    assert!(h.segmentation_request(u16::MAX - 1, 70_000).is_ok());
}

#[test]
fn err_uso_too_many_segments() {
    let (f, _) = build(&spec(0, v4(), L4Spec::Udp, 100));
    let h = parse(&f).unwrap();
    assert!(h.segmentation_request(10, 640).unwrap().gso.is_some());
    assert_eq!(
        h.segmentation_request(10, 641),
        Err(HeaderError::TooManySegments {
            segments: 65,
            max: 64
        })
    );
    // TCP has no such limit.
    let (f, _) = build(&spec(0, v4(), TCP, 100));
    assert!(parse(&f).unwrap().segmentation_request(10, 641).is_ok());
}

// ---- Pseudo-header checksum ------------------------------------------------

#[test]
fn pseudo_header_value_by_hand() {
    // 192.0.2.7 -> 198.51.100.8, TCP, L4 length 20 + 10:
    // c000 + 0207 + c633 + 6408 + 0006 + 001e = 0x1_ec66 -> 0xec67.
    let (mut f, _) = build(&spec(0, v4(), TCP, 10));
    let h = parse(&f).unwrap();
    write_pseudo_header_checksum(&mut f, &h).unwrap();
    assert_eq!(&f[50..52], &[0xec, 0x67]);
}

#[test]
fn checksum_end_to_end_tcp_ipv4() {
    for s in [
        spec(0, v4(), TCP, 100),
        spec(2, v4(), TCP, 101),
        spec(
            1,
            IpSpec::V4 {
                option_words: 3,
                frag_field: 0,
            },
            L4Spec::Tcp {
                option_words: 5,
                cwr: true,
            },
            1,
        ),
    ] {
        let (mut f, _) = build(&s);
        let h = parse(&f).unwrap();
        write_pseudo_header_checksum(&mut f, &h).unwrap();
        assert!(finish_and_verify(&mut f, &h), "{s:?}");
    }
}

#[test]
fn checksum_end_to_end_udp_ipv6() {
    for s in [
        spec(0, v6(), L4Spec::Udp, 100),
        spec(
            1,
            v6_ext(&[IPPROTO_HOPOPTS, IPPROTO_DSTOPTS]),
            L4Spec::Udp,
            33,
        ),
        spec(2, v6_ext(&[IPPROTO_ROUTING]), L4Spec::Udp, 0),
    ] {
        let (mut f, _) = build(&s);
        let h = parse(&f).unwrap();
        write_pseudo_header_checksum(&mut f, &h).unwrap();
        assert!(finish_and_verify(&mut f, &h), "{s:?}");
    }
}

#[test]
fn checksum_end_to_end_every_combination() {
    for s in combinations() {
        let (mut f, _) = build(&s);
        let h = parse(&f).unwrap();
        write_pseudo_header_checksum(&mut f, &h).unwrap();
        assert!(finish_and_verify(&mut f, &h), "{s:?}");
    }
}

/// The verification above tells the conventions apart: a complemented
/// pseudo-header sum, or one without the length, does not validate.
#[test]
fn checksum_end_to_end_rejects_other_conventions() {
    for s in [spec(0, v4(), TCP, 100), spec(0, v6(), L4Spec::Udp, 100)] {
        let (f, _) = build(&s);
        let h = parse(&f).unwrap();
        let at = h.l4_offset() + usize::from(h.csum_offset().unwrap());

        let mut right = f.clone();
        write_pseudo_header_checksum(&mut right, &h).unwrap();
        let sum = u16::from_be_bytes([right[at], right[at + 1]]);

        let mut complemented = f.clone();
        complemented[at..at + 2].copy_from_slice(&(!sum).to_be_bytes());
        assert!(!finish_and_verify(&mut complemented, &h), "{s:?}");

        let mut no_length = f.clone();
        let l4_len = (f.len() - h.l4_offset()) as u16;
        let without = fold64(u64::from(sum) + u64::from(!l4_len));
        no_length[at..at + 2].copy_from_slice(&without.to_be_bytes());
        assert!(!finish_and_verify(&mut no_length, &h), "{s:?}");
    }
}

/// Segments a super-frame the way Linux does (`tcp_gso_segment`,
/// `__udp_gso_segment`) for the L4 checksum: every segment repeats the
/// headers with the IP/UDP lengths set for it, and its checksum field is
/// the super-frame's adjusted by the length difference (plus `~old_len`,
/// plus `new_len`); then each is finished as `CHECKSUM_PARTIAL`.
fn linux_segment(frame: &[u8], h: &Headers, mss: usize) -> Vec<Vec<u8>> {
    let (l3, l4, hdr_len) = (h.l3_offset(), h.l4_offset(), h.hdr_len());
    let at = l4 + usize::from(h.csum_offset().unwrap());
    let field = u16::from_be_bytes([frame[at], frame[at + 1]]);
    let old_len = (frame.len() - l4) as u16;
    frame[hdr_len..]
        .chunks(mss)
        .map(|chunk| {
            let mut seg = frame[..hdr_len].to_vec();
            seg.extend_from_slice(chunk);
            let new_len = (seg.len() - l4) as u16;
            match h.ip() {
                IpVersion::V4 => {
                    let tot = (seg.len() - l3) as u16;
                    seg[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
                }
                IpVersion::V6 => {
                    let pl = (seg.len() - l3 - 40) as u16;
                    seg[l3 + 4..l3 + 6].copy_from_slice(&pl.to_be_bytes());
                }
            }
            if h.l4() == L4::Udp {
                seg[l4 + 4..l4 + 6].copy_from_slice(&new_len.to_be_bytes());
            }
            let adjusted = fold64(u64::from(field) + u64::from(!old_len) + u64::from(new_len));
            seg[at..at + 2].copy_from_slice(&adjusted.to_be_bytes());
            kernel_finish(&mut seg, l4, at - l4);
            seg
        })
        .collect()
}

#[test]
fn segmentation_end_to_end_every_segment_validates() {
    for s in [
        spec(0, v4(), TCP, 3500),
        spec(1, v6_ext(&[IPPROTO_HOPOPTS]), TCP, 2999),
        spec(0, v4(), L4Spec::Udp, 3500),
        spec(2, v6(), L4Spec::Udp, 1001),
    ] {
        let (mut f, _) = build(&s);
        let h = parse(&f).unwrap();
        let payload_len = f.len() - h.hdr_len();
        assert!(
            h.segmentation_request(1000, payload_len)
                .unwrap()
                .gso
                .is_some()
        );
        write_pseudo_header_checksum(&mut f, &h).unwrap();
        let segs = linux_segment(&f, &h, 1000);
        assert_eq!(segs.len(), payload_len.div_ceil(1000));
        for (i, seg) in segs.iter().enumerate() {
            assert!(
                l4_checksum_valid(
                    seg,
                    h.l3_offset(),
                    h.l4_offset(),
                    h.ip() == IpVersion::V6,
                    protocol_of(&h)
                ),
                "{s:?}: segment {i}"
            );
        }
        // The super-frame itself, finished unsegmented, validates too.
        assert!(finish_and_verify(&mut f, &h));
    }
}

#[test]
fn segmentation_with_per_segment_length_would_be_wrong() {
    // Control: a pseudo-header sum over one segment's length (not the
    // super-frame's) makes Linux's adjustment produce bad checksums.
    let (mut f, _) = build(&spec(0, v4(), TCP, 3000));
    let h = parse(&f).unwrap();
    write_pseudo_header_checksum(&mut f, &h).unwrap();
    let at = h.l4_offset() + 16;
    let sum = u16::from_be_bytes([f[at], f[at + 1]]);
    let full = (f.len() - h.l4_offset()) as u16;
    let one_segment = (h.l4_hdr_len() + 1000) as u16;
    let wrong = fold64(u64::from(sum) + u64::from(!full) + u64::from(one_segment));
    f[at..at + 2].copy_from_slice(&wrong.to_be_bytes());
    let segs = linux_segment(&f, &h, 1000);
    assert!(
        segs.iter()
            .all(|seg| !l4_checksum_valid(seg, h.l3_offset(), h.l4_offset(), false, 6))
    );
}

#[test]
fn err_length_fields_must_match_the_frame() {
    // Ethernet padding after a short frame.
    let (f, _) = build(&spec(0, v4(), L4Spec::Udp, 4));
    let mut padded = f.clone();
    padded.resize(60, 0);
    let h = parse(&padded).unwrap();
    let before = padded.clone();
    assert_eq!(
        write_pseudo_header_checksum(&mut padded, &h),
        Err(HeaderError::LengthMismatch {
            field: "IPv4 total length",
            declared: 32,
            actual: 46
        })
    );
    assert_eq!(padded, before, "nothing written on error");

    let (mut f, _) = build(&spec(0, v6(), TCP, 10));
    f.push(0);
    let h = parse(&f).unwrap();
    assert_eq!(
        write_pseudo_header_checksum(&mut f, &h),
        Err(HeaderError::LengthMismatch {
            field: "IPv6 payload length",
            declared: 30,
            actual: 31
        })
    );

    let (mut f, _) = build(&spec(0, v6(), L4Spec::Udp, 10));
    f[54 + 4..54 + 6].copy_from_slice(&17u16.to_be_bytes());
    let h = parse(&f).unwrap();
    assert_eq!(
        write_pseudo_header_checksum(&mut f, &h),
        Err(HeaderError::LengthMismatch {
            field: "UDP length",
            declared: 17,
            actual: 18
        })
    );
}

#[test]
fn err_routed_ipv6() {
    let routed = |segments_left| IpSpec::V6 {
        ext: vec![IPPROTO_ROUTING],
        segments_left,
        fragment: false,
    };
    let (mut f, _) = build(&spec(0, routed(2), TCP, 10));
    let h = parse(&f).unwrap();
    assert_eq!(h.l4(), L4::Tcp);
    assert!(h.checksum_request().is_ok(), "the request itself is fine");
    assert_eq!(
        write_pseudo_header_checksum(&mut f, &h),
        Err(HeaderError::RoutedIpv6 { segments_left: 2 })
    );
    // With no segments left the IPv6 destination is the final one.
    let (mut f, _) = build(&spec(0, routed(0), TCP, 10));
    let h = parse(&f).unwrap();
    write_pseudo_header_checksum(&mut f, &h).unwrap();
    assert!(finish_and_verify(&mut f, &h));
}

#[test]
fn err_headers_of_another_frame() {
    let (f4, _) = build(&spec(0, v4(), TCP, 10));
    let (mut f6, _) = build(&spec(0, v6(), TCP, 10));
    let h4 = parse(&f4).unwrap();
    let before = f6.clone();
    assert_eq!(
        write_pseudo_header_checksum(&mut f6, &h4),
        Err(HeaderError::HeadersMismatch)
    );
    assert_eq!(f6, before);
    // Garbage with someone else's headers: the parse error.
    let mut junk = vec![0u8; 10];
    assert_eq!(
        write_pseudo_header_checksum(&mut junk, &h4),
        Err(HeaderError::Truncated { need: 14, have: 10 })
    );
}

// ---- Pkt -------------------------------------------------------------------

fn pkt_with(pool: &crate::packet::Pool, bytes: &[u8]) -> Pkt {
    let mut pkt = pool.alloc().expect("pool has room");
    pkt.extend_from_slice(bytes).unwrap();
    pkt
}

fn chain_bytes(pkt: &Pkt) -> Vec<u8> {
    pkt.segments().flat_map(|s| s.iter().copied()).collect()
}

#[test]
fn request_checksum_on_a_pkt() {
    let pool = test_pool(PoolConfig::standard(16));
    for s in [spec(1, v4(), TCP, 200), spec(0, v6(), L4Spec::Udp, 33)] {
        let (f, _) = build(&s);
        let mut pkt = pkt_with(&pool, &f);
        let h = request_checksum(&mut pkt).unwrap();
        assert_eq!(h, parse(&f).unwrap());
        assert_eq!(pkt.offload(), h.checksum_request().unwrap());
        let mut expected = f.clone();
        write_pseudo_header_checksum(&mut expected, &h).unwrap();
        let mut sent = chain_bytes(&pkt);
        assert_eq!(sent, expected);
        assert!(finish_and_verify(&mut sent, &h), "{s:?}");
    }
}

#[test]
fn request_segmentation_on_a_pkt() {
    let pool = test_pool(PoolConfig::standard(16));
    let (f, _) = build(&spec(0, v6(), TCP, 1800));
    let mut pkt = pkt_with(&pool, &f);
    let h = request_segmentation(&mut pkt, 600).unwrap();
    assert_eq!(
        pkt.offload().gso,
        Some(Gso {
            kind: GsoKind::Tcpv6,
            size: 600,
            hdr_len: 74,
            ecn: false
        })
    );
    let sent = chain_bytes(&pkt);
    for seg in linux_segment(&sent, &h, 600) {
        assert!(l4_checksum_valid(&seg, 14, 54, true, IPPROTO_TCP));
    }
    // A payload within one segment: the checksum request only.
    let (f, _) = build(&spec(0, v4(), L4Spec::Udp, 600));
    let mut pkt = pkt_with(&pool, &f);
    let h = request_segmentation(&mut pkt, 600).unwrap();
    assert_eq!(pkt.offload(), h.checksum_request().unwrap());
}

#[test]
fn request_on_a_chain_uses_the_whole_length() {
    let pool = test_pool(PoolConfig::standard(16));
    let (f, _) = build(&spec(0, v4(), TCP, 3000));
    let hdr_len = 54;
    // Headers plus some payload in the first segment, the rest chained.
    let mut pkt = pkt_with(&pool, &f[..hdr_len + 10]);
    pkt.chain(pkt_with(&pool, &f[hdr_len + 10..2000])).unwrap();
    pkt.chain(pkt_with(&pool, &f[2000..])).unwrap();
    assert_eq!(pkt.nb_segs(), 3);
    let h = request_segmentation(&mut pkt, 1448).unwrap();
    assert_eq!(pkt.offload().gso.unwrap().hdr_len, 54);
    let mut sent = chain_bytes(&pkt);
    assert!(encode_ok(&pkt.offload(), sent.len()));
    assert!(finish_and_verify(&mut sent, &h));
}

#[test]
fn err_headers_split_across_segments() {
    let pool = test_pool(PoolConfig::standard(16));
    let (f, _) = build(&spec(0, v4(), TCP, 100));
    let mut pkt = pkt_with(&pool, &f[..40]);
    pkt.chain(pkt_with(&pool, &f[40..])).unwrap();
    let before = chain_bytes(&pkt);
    assert_eq!(
        request_checksum(&mut pkt),
        Err(HeaderError::SplitHeaders {
            need: 54,
            first_segment: 40
        })
    );
    assert_eq!(pkt.offload(), Offload::NONE);
    assert_eq!(chain_bytes(&pkt), before);

    // A chain too short for the header being read is truncated, not split.
    let mut pkt = pkt_with(&pool, &f[..30]);
    pkt.chain(pkt_with(&pool, &f[30..32])).unwrap();
    assert_eq!(
        request_segmentation(&mut pkt, 100),
        Err(HeaderError::Truncated { need: 34, have: 32 })
    );
}

#[test]
fn err_pkt_requests_change_nothing() {
    let pool = test_pool(PoolConfig::standard(16));
    let (f, _) = build(&spec(0, v4(), L4Spec::Udp, 600));
    let cases: [(Vec<u8>, HeaderError); 3] = [
        (
            build(&spec(0, v4(), L4Spec::Other(1), 20)).0,
            HeaderError::NoL4 {
                l4: L4::Other { protocol: 1 },
            },
        ),
        (
            {
                let mut padded = build(&spec(0, v4(), TCP, 0)).0;
                padded.resize(60, 0);
                padded
            },
            HeaderError::LengthMismatch {
                field: "IPv4 total length",
                declared: 40,
                actual: 46,
            },
        ),
        (f, HeaderError::InvalidMss { mss: 0 }),
    ];
    for (frame, err) in cases {
        let mut pkt = pkt_with(&pool, &frame);
        let marker = Offload {
            csum: Checksum::Valid,
            gso: None,
        };
        pkt.set_offload(marker);
        let result = if matches!(err, HeaderError::InvalidMss { .. }) {
            request_segmentation(&mut pkt, 0)
        } else {
            request_checksum(&mut pkt)
        };
        assert_eq!(result, Err(err));
        assert_eq!(pkt.offload(), marker);
        assert_eq!(pkt.data(), &frame[..]);
    }
}

// ---- Display ---------------------------------------------------------------

#[test]
fn display_says_what_and_what_to_do() {
    let cases: &[(HeaderError, &[&str])] = &[
        (
            HeaderError::Truncated { need: 54, have: 40 },
            &["40 bytes", "needs 54"],
        ),
        (
            HeaderError::TooManyVlanTags { max: 2 },
            &["2 VLAN", "without offload"],
        ),
        (
            HeaderError::NotIp { ethertype: 0x0806 },
            &["0x0806", "IP frame"],
        ),
        (
            HeaderError::IpVersionMismatch {
                ethertype: 0x0800,
                version: 6,
            },
            &["version field 6", "0x0800", "set the version"],
        ),
        (
            HeaderError::BadIpv4HeaderLength { ihl: 3 },
            &["IHL) 3", "set IHL"],
        ),
        (
            HeaderError::IpLengthTooShort {
                declared: 30,
                needed: 40,
            },
            &["30-byte", "40 bytes", "total length"],
        ),
        (
            HeaderError::MisplacedHopByHop { offset: 62 },
            &["offset 62", "directly after"],
        ),
        (
            HeaderError::TooManyExtensionHeaders { max: 8 },
            &["8 IPv6", "without offload"],
        ),
        (
            HeaderError::BadTcpDataOffset { data_offset: 2 },
            &["offset 2", "set it to 5"],
        ),
        (
            HeaderError::NoL4 {
                l4: L4::Fragment { protocol: 6 },
            },
            &["Fragment", "without offload"],
        ),
        (HeaderError::InvalidMss { mss: 0 }, &["size 0", "1..=65534"]),
        (
            HeaderError::TooManySegments {
                segments: 65,
                max: 64,
            },
            &["65 segments", "64", "larger segment size"],
        ),
        (
            HeaderError::LengthMismatch {
                field: "UDP length",
                declared: 17,
                actual: 18,
            },
            &["UDP length is 17", "makes it 18", "do not pad"],
        ),
        (
            HeaderError::RoutedIpv6 { segments_left: 2 },
            &["2 segments left", "final destination"],
        ),
        (
            HeaderError::HeadersMismatch,
            &["do not describe", "parse the frame again"],
        ),
        (
            HeaderError::SplitHeaders {
                need: 54,
                first_segment: 40,
            },
            &["54 bytes", "holds 40", "first segment"],
        ),
    ];
    for (err, needles) in cases {
        let msg = err.to_string();
        for needle in *needles {
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        }
    }
}

// ---- Properties ------------------------------------------------------------

fn ip_s() -> impl Strategy<Value = IpSpec> {
    let frag_field = prop_oneof![
        3 => Just(0u16),
        3 => Just(0x4000),
        1 => Just(0x2000),
        1 => 1u16..0x2000,
    ];
    // Hop-by-hop only first, as receivers require.
    let ext = proptest::collection::vec(
        prop_oneof![Just(IPPROTO_ROUTING), Just(IPPROTO_DSTOPTS)],
        0..4,
    );
    prop_oneof![
        (0usize..=10, frag_field).prop_map(|(option_words, frag_field)| IpSpec::V4 {
            option_words,
            frag_field
        }),
        (
            any::<bool>(),
            ext,
            prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
            proptest::bool::weighted(0.2),
        )
            .prop_map(|(hop, mut ext, segments_left, fragment)| {
                if hop {
                    ext.insert(0, IPPROTO_HOPOPTS);
                }
                IpSpec::V6 {
                    ext,
                    segments_left,
                    fragment,
                }
            }),
    ]
}

fn l4_s() -> impl Strategy<Value = L4Spec> {
    prop_oneof![
        3 => (0usize..=10, any::<bool>())
            .prop_map(|(option_words, cwr)| L4Spec::Tcp { option_words, cwr }),
        3 => Just(L4Spec::Udp),
        1 => prop::sample::select(vec![1u8, 47, 50, 51, 58, 59, 132]).prop_map(L4Spec::Other),
    ]
}

fn spec_s() -> impl Strategy<Value = Spec> {
    (0usize..=2, ip_s(), l4_s(), 0usize..1600, any::<u8>()).prop_map(
        |(vlans, ip, l4, payload_len, seed)| Spec {
            vlans,
            ip,
            l4,
            payload_len,
            seed,
        },
    )
}

fn mss_s() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), 1u16..2000, Just(u16::MAX), any::<u16>()]
}

/// What holds for every frame `parse` accepts, whatever its bytes.
fn check_accepted(frame: &[u8], h: &Headers, mss: u16) -> Result<(), TestCaseError> {
    prop_assert_eq!(h.l3_offset(), 14 + 4 * h.vlan_tags());
    prop_assert!(h.vlan_tags() <= MAX_VLAN_TAGS);
    let min_ip = match h.ip() {
        IpVersion::V4 => 20,
        IpVersion::V6 => 40,
    };
    prop_assert!(h.l3_offset() + min_ip <= h.l4_offset());
    prop_assert!(h.l4_offset() <= h.hdr_len());
    prop_assert!(h.hdr_len() <= frame.len());
    match h.l4() {
        L4::Tcp => {
            prop_assert!((20..=60).contains(&h.l4_hdr_len()) && h.l4_hdr_len().is_multiple_of(4))
        }
        L4::Udp => prop_assert_eq!(h.l4_hdr_len(), 8),
        _ => prop_assert_eq!(h.l4_hdr_len(), 0),
    }
    match h.l4() {
        L4::Tcp | L4::Udp => {
            // The helper's output is always a header the codec accepts.
            let off = h.checksum_request().unwrap();
            prop_assert!(encode_ok(&off, frame.len()), "{:?}", off);
            let payload_len = frame.len() - h.hdr_len();
            match h.segmentation_request(mss, payload_len) {
                Ok(off) => prop_assert!(encode_ok(&off, frame.len()), "{:?}", off),
                Err(e) => prop_assert!(
                    matches!(
                        e,
                        HeaderError::InvalidMss { .. } | HeaderError::TooManySegments { .. }
                    ),
                    "{:?}",
                    e
                ),
            }
        }
        l4 => prop_assert_eq!(h.checksum_request(), Err(HeaderError::NoL4 { l4 })),
    }
    // Writing the pseudo header never panics and touches only the field.
    let mut written = frame.to_vec();
    if write_pseudo_header_checksum(&mut written, h).is_ok() {
        let at = h.l4_offset() + usize::from(h.csum_offset().unwrap());
        prop_assert_eq!(&written[..at], &frame[..at]);
        prop_assert_eq!(&written[at + 2..], &frame[at + 2..]);
    } else {
        prop_assert_eq!(&written[..], frame);
    }
    Ok(())
}

/// Mutates a built frame: a few bytes overwritten, then maybe cut short.
fn mutated_frame_s() -> impl Strategy<Value = Vec<u8>> {
    (
        spec_s(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(s, edits, cut)| {
            let (mut f, _) = build(&s);
            for (i, b) in edits {
                let i = i.index(f.len());
                f[i] = b;
            }
            if let Some(cut) = cut {
                f.truncate(cut.index(f.len() + 1));
            }
            f
        })
}

/// The properties below are only as good as the frames they see: the
/// mutated frames must often parse, and often be TCP/UDP with a checksum
/// the helper can write, or the checks on accepted frames run rarely.
#[test]
fn mutated_frames_often_reach_the_l4_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut parsed, mut l4, mut written) = (0, 0, 0);
    for _ in 0..2000 {
        let mut f = mutated_frame_s().new_tree(&mut runner).unwrap().current();
        if let Ok(h) = parse(&f) {
            parsed += 1;
            if matches!(h.l4(), L4::Tcp | L4::Udp) {
                l4 += 1;
                written += usize::from(write_pseudo_header_checksum(&mut f, &h).is_ok());
            }
        }
    }
    std::eprintln!("parsed {parsed}, TCP/UDP {l4}, pseudo header written {written} of 2000");
    assert!(parsed >= 1000 && l4 >= 600 && written >= 300);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        mss in mss_s(),
    ) {
        if let Ok(h) = parse(&bytes) {
            check_accepted(&bytes, &h, mss)?;
        }
    }

    /// Random bytes behind a plausible EtherType reach the IP and L4
    /// parsers far more often.
    #[test]
    fn parse_never_panics_behind_an_ip_ethertype(
        ethertype in prop::sample::select(vec![
            ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ,
        ]),
        version in 0u8..16,
        rest in proptest::collection::vec(any::<u8>(), 0..200),
        mss in mss_s(),
    ) {
        let mut bytes = vec![0u8; 12];
        bytes.extend_from_slice(&ethertype.to_be_bytes());
        bytes.extend_from_slice(&rest);
        if let Some(b) = bytes.get_mut(14) {
            *b = (version << 4) | (*b & 0x0f);
        }
        if let Ok(h) = parse(&bytes) {
            check_accepted(&bytes, &h, mss)?;
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_frames(f in mutated_frame_s(), mss in mss_s()) {
        if let Ok(h) = parse(&f) {
            check_accepted(&f, &h, mss)?;
        }
    }

    /// Valid frames parse as built, every prefix is truncated or complete,
    /// and (unfragmented TCP/UDP, no routing detour) the pseudo-header sum
    /// finished the kernel's way validates.
    #[test]
    fn valid_frames_parse_and_checksum(s in spec_s(), mss in mss_s()) {
        let (mut f, layout) = build(&s);
        let h = parse(&f).unwrap();
        assert_layout(&h, &layout, &s);
        check_accepted(&f, &h, mss)?;
        check_every_prefix(&f[..h.hdr_len().min(f.len())]);
        let routed = matches!(s.ip, IpSpec::V6 { ref ext, segments_left, .. }
            if segments_left != 0 && ext.contains(&IPPROTO_ROUTING));
        match (h.l4(), routed) {
            (L4::Tcp | L4::Udp, false) => {
                write_pseudo_header_checksum(&mut f, &h).unwrap();
                prop_assert!(finish_and_verify(&mut f, &h));
            }
            (L4::Tcp | L4::Udp, true) => prop_assert_eq!(
                write_pseudo_header_checksum(&mut f, &h),
                Err(HeaderError::RoutedIpv6 { segments_left: h.ipv6_segments_left })
            ),
            (l4, _) => prop_assert_eq!(
                write_pseudo_header_checksum(&mut f, &h),
                Err(HeaderError::NoL4 { l4 })
            ),
        }
    }
}

// ---- IP framing (TUN packets) ----------------------------------------------

/// The IP packet inside a frame built without VLAN tags: the frame minus
/// its 14-byte Ethernet header, and the layout shifted to match.
fn build_ip(s: &Spec) -> (Vec<u8>, Layout) {
    assert_eq!(s.vlans, 0, "an IP packet has no VLAN tags");
    let (f, l) = build(s);
    let layout = Layout {
        l3: l.l3 - 14,
        l4: l.l4 - 14,
        ..l
    };
    (f[14..].to_vec(), layout)
}

#[test]
fn ip_packets_parse_from_their_first_byte() {
    for s in combinations().into_iter().filter(|s| s.vlans == 0) {
        let (packet, layout) = build_ip(&s);
        let h = parse_ip(&packet).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(h.l3_offset(), 0, "{s:?}");
        assert_eq!(h.framing(), Framing::Ip);
        assert_layout(&h, &layout, &s);
        assert_eq!(parse_framed(&packet, Framing::Ip), Ok(h));
        // The same headers as in the Ethernet frame, 14 bytes earlier.
        let eth = parse(&build(&s).0).unwrap();
        assert_eq!(eth.framing(), Framing::Ethernet);
        assert_eq!(parse_framed(&build(&s).0, Framing::Ethernet), Ok(eth));
        assert_eq!(h.hdr_len() + 14, eth.hdr_len(), "{s:?}");
        assert_eq!((h.ip(), h.l4()), (eth.ip(), eth.l4()));
    }
}

#[test]
fn ip_offsets_of_known_packets() {
    let (p, _) = build_ip(&spec(0, v4(), TCP, 10));
    let h = parse_ip(&p).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (0, 20, 40));
    let (p, _) = build_ip(&spec(0, v6(), L4Spec::Udp, 10));
    let h = parse_ip(&p).unwrap();
    assert_eq!((h.l3_offset(), h.l4_offset(), h.hdr_len()), (0, 40, 48));
    // Hop-by-hop (8) + routing (16) + destination options (24).
    let ext = v6_ext(&[IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS]);
    let (p, _) = build_ip(&spec(0, ext, TCP, 3));
    let h = parse_ip(&p).unwrap();
    assert_eq!((h.l4_offset(), h.hdr_len(), h.l4()), (88, 108, L4::Tcp));
}

#[test]
fn ip_err_bad_version_nibble() {
    let (mut p, _) = build_ip(&spec(0, v4(), TCP, 10));
    for version in [0u8, 1, 5, 7, 15] {
        p[0] = (version << 4) | 5;
        assert_eq!(parse_ip(&p), Err(HeaderError::NotIpPacket { version }));
        assert!(
            HeaderError::NotIpPacket { version }
                .to_string()
                .contains("neither 4 nor 6")
        );
    }
    // An Ethernet frame is not an IP packet (its first byte is a MAC's).
    let (f, _) = build(&spec(0, v4(), TCP, 10));
    assert!(matches!(
        parse_ip(&f),
        Err(HeaderError::NotIpPacket { version: 0 })
    ));
    assert_eq!(
        parse_ip(&[]),
        Err(HeaderError::Truncated { need: 1, have: 0 })
    );
}

#[test]
fn ip_every_prefix_is_truncated_or_complete() {
    for s in combinations().into_iter().filter(|s| s.vlans == 0) {
        let (packet, _) = build_ip(&s);
        let full = parse_ip(&packet).unwrap();
        for len in 0..=packet.len() {
            match parse_ip(&packet[..len]) {
                Ok(h) => {
                    assert!(len >= full.hdr_len(), "{s:?}: parsed {len} bytes");
                    assert_eq!(h, full);
                }
                Err(HeaderError::Truncated { need, have }) => {
                    assert!(len < full.hdr_len() && have == len);
                    assert!(need > len && need <= full.hdr_len(), "need {need} at {len}");
                }
                Err(e) => panic!("{s:?}: prefix of {len}: unexpected {e:?}"),
            }
        }
    }
}

#[test]
fn ip_checksum_and_segmentation_end_to_end() {
    for s in [
        spec(0, v4(), TCP, 3500),
        spec(0, v6_ext(&[IPPROTO_HOPOPTS]), TCP, 2999),
        spec(0, v4(), L4Spec::Udp, 3500),
        spec(0, v6(), L4Spec::Udp, 1001),
    ] {
        let (mut p, _) = build_ip(&s);
        let h = parse_ip(&p).unwrap();
        let Checksum::Partial { start, .. } = h.checksum_request().unwrap().csum else {
            panic!("partial");
        };
        assert_eq!(
            usize::from(start),
            h.l4_offset(),
            "csum_start from the IP header"
        );
        write_pseudo_header_checksum(&mut p, &h).unwrap();
        for (i, seg) in linux_segment(&p, &h, 1000).iter().enumerate() {
            let v6 = h.ip() == IpVersion::V6;
            assert!(
                l4_checksum_valid(seg, 0, h.l4_offset(), v6, protocol_of(&h)),
                "{s:?}: segment {i}"
            );
        }
        assert!(finish_and_verify(&mut p, &h), "{s:?}");
    }
}

#[test]
fn ip_requests_on_packets() {
    let pool = test_pool(PoolConfig::standard(8));
    for (s, kind) in [
        (spec(0, v4(), TCP, 1900), GsoKind::Tcpv4),
        (spec(0, v6(), TCP, 1900), GsoKind::Tcpv6),
        (spec(0, v4(), L4Spec::Udp, 1900), GsoKind::UdpL4),
    ] {
        let (p, layout) = build_ip(&s);
        let mut pkt = pool.alloc().unwrap();
        pkt.extend_from_slice(&p).unwrap();
        let h = request_segmentation_framed(&mut pkt, 1000, Framing::Ip).unwrap();
        assert_eq!(h.l4_offset(), layout.l4);
        let off = pkt.offload();
        assert_eq!(
            off.gso,
            Some(Gso {
                kind,
                size: 1000,
                hdr_len: h.hdr_len() as u16,
                ecn: false
            })
        );
        let mut bytes = pkt.data().to_vec();
        assert!(finish_and_verify(&mut bytes, &h), "{s:?}");
        // As an Ethernet frame the same bytes do not parse: nothing changes.
        let mut other = pool.alloc().unwrap();
        other.extend_from_slice(&p).unwrap();
        assert!(request_segmentation(&mut other, 1000).is_err());
        assert!(other.offload().is_none() && other.data() == &p[..]);

        let mut csum_only = pool.alloc().unwrap();
        csum_only.extend_from_slice(&p).unwrap();
        let h = request_checksum_framed(&mut csum_only, Framing::Ip).unwrap();
        assert_eq!(csum_only.offload(), h.checksum_request().unwrap());
        // Framing::Ethernet gives the Ethernet helper's result.
        let (f, _) = build(&s);
        let mut eth = pool.alloc().unwrap();
        eth.extend_from_slice(&f).unwrap();
        let he = request_checksum_framed(&mut eth, Framing::Ethernet).unwrap();
        assert_eq!(he.l4_offset(), h.l4_offset() + 14);
    }
    // Not an IP packet: refused, nothing written.
    let mut junk = pool.alloc().unwrap();
    junk.extend_from_slice(&[0x11; 60]).unwrap();
    assert_eq!(
        request_checksum_framed(&mut junk, Framing::Ip),
        Err(HeaderError::NotIpPacket { version: 1 })
    );
    assert!(junk.data() == &[0x11; 60][..] && junk.offload().is_none());
}

proptest! {
    /// Arbitrary bytes never panic the IP parser, and whatever it accepts
    /// has offsets within the input.
    #[test]
    fn ip_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(h) = parse_ip(&bytes) {
            prop_assert!(h.hdr_len() <= bytes.len());
            prop_assert_eq!(h.l3_offset(), 0);
        }
        let _ = parse_framed(&bytes, Framing::Ethernet);
    }
}
