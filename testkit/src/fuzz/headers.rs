//! The header parser target.

use tapring_core::wire::headers::{self, MAX_IPV6_EXT_HEADERS, MAX_VLAN_TAGS};
use tapring_core::wire::offload_request::{USO_MAX_SEGMENTS, write_pseudo_header_checksum};
use tapring_core::wire::vnet;
use tapring_core::{Checksum, Framing, GsoKind, HeaderError, Headers, IpVersion, L4};

use super::{check_message, finish_checksum, l4_checksum_ok};

/// Segment sizes every parsed frame is asked to be segmented at (besides
/// one taken from the input): the invalid 0 and 65535 among them.
const MSS: [u16; 8] = [0, 1, 8, 536, 1448, 9000, 65534, 65535];

/// Fuzzes the L2-L4 header parser ([`tapring_core::wire::headers`]) and
/// the requests built from what it finds.
///
/// Input: a frame, parsed both as an Ethernet frame ([`headers::parse`])
/// and as an IP packet ([`headers::parse_ip`]). Checks:
///
/// * Neither panics, and [`headers::parse_framed`] agrees with each; a
///   [`HeaderError::Truncated`] names the input's length and a need
///   beyond it; every error has a message.
/// * Parsed headers lie inside the frame and in order: `l3 < l4 <=
///   hdr_len <= len`, `l3` is 14 plus 4 per VLAN tag (0 for an IP packet,
///   whose [`Headers::framing`] is [`Framing::Ip`]); they agree with the
///   bytes (EtherType, version nibble, IHL, IPv4 protocol and fragment
///   bits, TCP data offset, UDP's 8 bytes) and with the IP length field,
///   which covers them.
/// * The headers are exactly what the parse needed: the first `hdr_len`
///   bytes parse to the same headers, one byte less is truncated.
/// * [`Headers::checksum_request`] and [`Headers::segmentation_request`]
///   fail exactly for non-TCP/UDP and invalid segment sizes (and UDP beyond
///   [`USO_MAX_SEGMENTS`]); what they build points at the L4 checksum field,
///   has the GSO kind of the IP version and protocol, `hdr_len` of the
///   headers and the CWR bit as ECN, and passes [`vnet::check_tx`].
/// * [`write_pseudo_header_checksum`] on a copy changes nothing but the
///   checksum field, and only when the length fields match the frame; the
///   frame then parses the same, and once the checksum is finished as the
///   kernel does, it verifies against a pseudo header built here.
pub fn header_parser(data: &[u8]) {
    let mss_from_input = match data {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 1,
    };
    for framing in [Framing::Ethernet, Framing::Ip] {
        let parsed = match framing {
            Framing::Ethernet => headers::parse(data),
            Framing::Ip => headers::parse_ip(data),
        };
        assert_eq!(headers::parse_framed(data, framing), parsed);
        match parsed {
            Ok(h) => {
                check_headers(data, &h, framing);
                for mss in MSS.into_iter().chain([mss_from_input]) {
                    check_segmentation(data, &h, mss);
                }
                check_pseudo_header(data, &h);
            }
            Err(e) => check_error(data, &e),
        }
    }
}

/// Checks an error of a parse of `data`.
pub(super) fn check_error(data: &[u8], e: &HeaderError) {
    check_message(e);
    if let HeaderError::Truncated { need, have } = *e {
        assert_eq!(have, data.len(), "{e:?}");
        assert!(need > have, "{e:?}");
    }
}

fn be16(data: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([data[at], data[at + 1]]))
}

/// Checks headers `h` parsed from `data` as `framing` against the bytes.
pub(super) fn check_headers(data: &[u8], h: &Headers, framing: Framing) {
    let (l3, l4, end) = (h.l3_offset(), h.l4_offset(), h.hdr_len());
    assert!(
        l3 < l4 && l4 <= end && end <= data.len(),
        "{h:?} in {} bytes",
        data.len()
    );
    assert!(end <= usize::from(u16::MAX));
    assert_eq!(h.framing(), framing, "{h:?}");
    assert!(h.vlan_tags() <= MAX_VLAN_TAGS);
    match framing {
        Framing::Ethernet => assert_eq!(l3, 14 + 4 * h.vlan_tags(), "{h:?}"),
        Framing::Ip => assert_eq!((l3, h.vlan_tags()), (0, 0), "{h:?}"),
    }
    let (ethertype, version) = match h.ip() {
        IpVersion::V4 => (0x0800, 4),
        IpVersion::V6 => (0x86dd, 6),
    };
    if framing == Framing::Ethernet {
        assert_eq!(be16(data, l3 - 2), ethertype, "{h:?}");
    }
    assert_eq!(data[l3] >> 4, version, "{h:?}");
    // The IP length field covers the headers.
    let ip_len = match h.ip() {
        IpVersion::V4 => be16(data, l3 + 2),
        IpVersion::V6 => 40 + be16(data, l3 + 4),
    };
    assert!(end - l3 <= ip_len, "{h:?}: IP length {ip_len}");
    match h.ip() {
        IpVersion::V4 => {
            assert_eq!(l4 - l3, usize::from(data[l3] & 0x0f) * 4, "{h:?}: IHL");
            let protocol = data[l3 + 9];
            let fragment = be16(data, l3 + 6) & 0x3fff != 0;
            let want = match protocol {
                _ if fragment => L4::Fragment { protocol },
                6 => L4::Tcp,
                17 => L4::Udp,
                protocol => L4::Other { protocol },
            };
            assert_eq!(h.l4(), want, "{h:?}");
        }
        IpVersion::V6 => {
            let ext = l4 - l3 - 40;
            assert!(ext <= MAX_IPV6_EXT_HEADERS * 2048 + 8, "{h:?}");
            assert_eq!(ext % 8, 0, "{h:?}: extension headers are 8-byte units");
            if ext == 0 {
                let next = data[l3 + 6];
                let want = match next {
                    6 => L4::Tcp,
                    17 => L4::Udp,
                    protocol => L4::Other { protocol },
                };
                assert_eq!(h.l4(), want, "{h:?}");
            }
        }
    }
    match h.l4() {
        L4::Tcp => {
            let hl = usize::from(data[l4 + 12] >> 4) * 4;
            assert!((20..=60).contains(&hl));
            assert_eq!(h.l4_hdr_len(), hl, "{h:?}: TCP data offset");
        }
        L4::Udp => assert_eq!(h.l4_hdr_len(), 8, "{h:?}"),
        L4::Fragment { .. } | L4::Other { .. } => assert_eq!(h.l4_hdr_len(), 0, "{h:?}"),
    }
    // Exactly the headers were needed.
    let parse = |f: &[u8]| headers::parse_framed(f, framing);
    assert_eq!(
        parse(&data[..end]),
        Ok(*h),
        "the headers alone parse differently"
    );
    assert!(
        matches!(parse(&data[..end - 1]), Err(HeaderError::Truncated { .. })),
        "{h:?}: parses without its last header byte: {:?}",
        parse(&data[..end - 1])
    );
}

/// The L4 protocol number of headers with a TCP or UDP header.
fn l4_proto(h: &Headers) -> Option<u8> {
    match h.l4() {
        L4::Tcp => Some(6),
        L4::Udp => Some(17),
        _ => None,
    }
}

/// Checks the checksum and segmentation requests of `h` for a frame of
/// `data.len()` bytes at segment size `mss`.
pub(super) fn check_segmentation(data: &[u8], h: &Headers, mss: u16) {
    let len = data.len();
    let csum = h.checksum_request();
    let Some(_) = l4_proto(h) else {
        assert_eq!(csum, Err(HeaderError::NoL4 { l4: h.l4() }));
        assert_eq!(
            h.segmentation_request(mss, len - h.hdr_len()),
            Err(HeaderError::NoL4 { l4: h.l4() })
        );
        return;
    };
    let csum = csum.expect("TCP/UDP has a checksum request");
    let field = if h.l4() == L4::Tcp { 16 } else { 6 };
    let start = u16::try_from(h.l4_offset()).expect("offsets fit 16 bits");
    assert_eq!(
        csum.csum,
        Checksum::Partial {
            start,
            offset: field
        }
    );
    assert_eq!(csum.gso, None);
    assert_eq!(
        vnet::check_tx(&csum, len),
        Ok(()),
        "{csum:?} for {len} bytes"
    );

    let payload = len - h.hdr_len();
    let seg = h.segmentation_request(mss, payload);
    if mss == 0 || mss == u16::MAX {
        assert_eq!(seg, Err(HeaderError::InvalidMss { mss }));
        return;
    }
    let segments = payload.div_ceil(usize::from(mss));
    let off = match seg {
        Err(HeaderError::TooManySegments { segments: s, max }) => {
            assert_eq!((h.l4(), s, max), (L4::Udp, segments, USO_MAX_SEGMENTS));
            assert!(s > max);
            return;
        }
        Err(e) => panic!("{h:?}: segmentation at {mss} fails: {e:?}"),
        Ok(off) => off,
    };
    assert_eq!(
        off.csum, csum.csum,
        "segmentation keeps the checksum request"
    );
    if payload <= usize::from(mss) {
        assert_eq!(off, csum, "a single segment needs no GSO");
        return;
    }
    let gso = off.gso.expect("more than one segment");
    let kind = match (h.l4(), h.ip()) {
        (L4::Tcp, IpVersion::V4) => GsoKind::Tcpv4,
        (L4::Tcp, IpVersion::V6) => GsoKind::Tcpv6,
        _ => GsoKind::UdpL4,
    };
    assert_eq!((gso.kind, gso.size), (kind, mss));
    assert_eq!(usize::from(gso.hdr_len), h.hdr_len());
    let cwr = h.l4() == L4::Tcp && data[h.l4_offset() + 13] & 0x80 != 0;
    assert_eq!(gso.ecn, cwr, "ECN follows the CWR flag");
    if kind == GsoKind::UdpL4 {
        assert!(segments <= USO_MAX_SEGMENTS);
    }
    assert_eq!(vnet::check_tx(&off, len), Ok(()), "{off:?} for {len} bytes");
}

/// The length fields of `data` agree with its length (what a pseudo
/// header needs).
pub(super) fn lengths_match(data: &[u8], h: &Headers) -> bool {
    let (l3, l4, len) = (h.l3_offset(), h.l4_offset(), data.len());
    let ip = match h.ip() {
        IpVersion::V4 => be16(data, l3 + 2) == len - l3,
        IpVersion::V6 => be16(data, l3 + 4) == len - l3 - 40,
    };
    ip && (h.l4() != L4::Udp || be16(data, l4 + 4) == len - l4)
}

/// Checks [`write_pseudo_header_checksum`] on a copy of `data`.
fn check_pseudo_header(data: &[u8], h: &Headers) {
    let mut frame = data.to_vec();
    match write_pseudo_header_checksum(&mut frame, h) {
        Err(e) => {
            check_message(&e);
            assert_eq!(frame, data, "{e:?}: written on error");
            if let Some(proto) = l4_proto(h)
                && lengths_match(data, h)
            {
                // The one reason left: an IPv6 routing header with segments left.
                assert!(
                    matches!(e, HeaderError::RoutedIpv6 { .. }),
                    "{h:?}, protocol {proto}: {e:?}"
                );
            }
        }
        Ok(()) => {
            let proto = l4_proto(h).expect("a pseudo header for TCP/UDP only");
            assert!(lengths_match(data, h), "{h:?}: written with wrong lengths");
            check_only_checksum_changed(data, &frame, h);
            assert_eq!(headers::parse_framed(&frame, h.framing()), Ok(*h));
            let field = if proto == 6 { 16 } else { 6 };
            finish_checksum(&mut frame, h.l4_offset(), field);
            assert!(
                l4_checksum_ok(&frame, h, proto),
                "{h:?}: checksum does not verify"
            );
        }
    }
}

/// Checks that `after` differs from `before` only in the L4 checksum field.
pub(super) fn check_only_checksum_changed(before: &[u8], after: &[u8], h: &Headers) {
    assert_eq!(before.len(), after.len());
    let at = h.l4_offset() + if h.l4() == L4::Tcp { 16 } else { 6 };
    assert_eq!(
        before[..at],
        after[..at],
        "changed before the checksum field"
    );
    assert_eq!(
        before[at + 2..],
        after[at + 2..],
        "changed after the checksum field"
    );
}
