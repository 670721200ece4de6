//! The seed inputs of every target: real frames (Ethernet with IPv4/TCP,
//! IPv6/UDP, VLAN tags, IPv6 extension headers, fragments; IP packets as
//! a TUN device carries them) and virtio-net headers of each GSO type, in
//! each target's input layout.
//!
//! `fuzz/corpus/<target>/<name>` holds them as files, for cargo-fuzz;
//! regenerate with `cargo run -p tapring-testkit --bin tapring-fuzz --
//! --write-corpus fuzz/corpus` (a test checks the files match).

use std::path::Path;

use tapring_core::wire::vnet::{self, VnetHdrLen};
use tapring_core::{Checksum, Gso, GsoKind, Offload};

use super::TARGETS;

/// One seed: a name (its file name) and the input.
pub type Seed = (String, Vec<u8>);

/// The seeds of the target called `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Seed> {
    match name {
        "vnet_codec" => vnet_seeds(),
        "header_parser" => frames()
            .into_iter()
            .map(|f| (f.name.to_string(), f.bytes))
            .collect(),
        "offload_request" => offload_seeds(),
        "rx_tx_prep" => prep_seeds(),
        "gso_segment" => gso_seeds(),
        "gro_coalesce" => gro_seeds(),
        _ => Vec::new(),
    }
}

/// Writes every target's seeds to `dir/<target>/<name>`; returns how many
/// files were written.
pub fn write_corpus(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for t in TARGETS {
        let sub = dir.join(t.name);
        std::fs::create_dir_all(&sub)?;
        for (name, bytes) in seeds(t.name) {
            std::fs::write(sub.join(name), bytes)?;
            n += 1;
        }
    }
    Ok(n)
}

/// A frame (or an IP packet) of the seed set.
struct Frame {
    name: &'static str,
    bytes: Vec<u8>,
    /// An IP packet (TUN), not an Ethernet frame.
    ip: bool,
    /// The offload a sender would ask for on it.
    off: Offload,
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A TCP header of `20 + 4 * opt_words` bytes with `flags`.
fn tcp(opt_words: usize, flags: u8) -> Vec<u8> {
    let mut h = vec![0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0];
    h.extend_from_slice(&[((5 + opt_words) as u8) << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    for _ in 0..opt_words {
        h.extend_from_slice(&[1, 1, 1, 1]); // NOPs
    }
    h
}

/// A UDP header (its length filled in by [`ip`]).
fn udp() -> Vec<u8> {
    vec![0x13, 0x88, 0x13, 0x89, 0, 0, 0, 0]
}

/// An IP packet: IPv4 or IPv6, extension headers `ext` (IPv6; the first
/// one's type is `next`), the L4 header `l4` of protocol `proto` and
/// `payload` bytes. `fragment` sets IPv4's "more fragments" bit.
fn ip(v6: bool, next: u8, ext: &[u8], proto: u8, l4: &[u8], payload: usize, frag: bool) -> Vec<u8> {
    let mut body = ext.to_vec();
    let l4_at = body.len();
    body.extend_from_slice(l4);
    body.extend((0..payload).map(|i| (i * 13 + 7) as u8));
    if proto == UDP && l4.len() == 8 {
        let len = (body.len() - l4_at) as u16;
        body[l4_at + 4..l4_at + 6].copy_from_slice(&len.to_be_bytes());
    }
    let mut p = if v6 {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    } else {
        let total = (20 + body.len()) as u16;
        let [t0, t1] = total.to_be_bytes();
        let flags = if frag { 0x20 } else { 0x40 };
        let mut h = vec![0x45, 0, t0, t1, 0, 1, flags, 0, 64, proto, 0, 0];
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let c = crate::inet_checksum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    };
    p.extend_from_slice(&body);
    p
}

/// An Ethernet frame around `packet` with VLAN tags of TPIDs `tags`.
fn eth(packet: &[u8], tags: &[u16]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    for (i, tpid) in tags.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    let ethertype: u16 = if packet.first().is_some_and(|b| b >> 4 == 6) {
        0x86dd
    } else {
        0x0800
    };
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(packet);
    f
}

fn csum(start: usize, offset: u16) -> Offload {
    Offload {
        csum: Checksum::Partial {
            start: start as u16,
            offset,
        },
        gso: None,
    }
}

fn gso(kind: GsoKind, start: usize, offset: u16, size: u16, hdr_len: usize) -> Offload {
    Offload {
        gso: Some(Gso {
            kind,
            size,
            hdr_len: hdr_len as u16,
            ecn: false,
        }),
        ..csum(start, offset)
    }
}

/// The frames every target starts from.
fn frames() -> Vec<Frame> {
    let f = |name, bytes, ip, off| Frame {
        name,
        bytes,
        ip,
        off,
    };
    // IPv6 hop-by-hop then destination options, each 8 bytes, then TCP.
    let hbh_dst = [60, 0, 1, 4, 0, 0, 0, 0, TCP, 0, 1, 4, 0, 0, 0, 0];
    // A routing header (type 4) with one segment left, then UDP.
    let routing = [UDP, 0, 4, 1, 0, 0, 0, 0];
    // A fragment header (more fragments), then UDP.
    let fragment = [UDP, 0, 0, 1, 0, 0, 0, 7];
    let v4_tcp = ip(false, 0, &[], TCP, &tcp(0, 0x18), 100, false);
    let v4_tcp_big = ip(false, 0, &[], TCP, &tcp(3, 0x90), 1600, false);
    let v6_udp = ip(true, UDP, &[], UDP, &udp(), 64, false);
    let v6_udp_big = ip(true, UDP, &[], UDP, &udp(), 1600, false);
    let arp = {
        let mut a = vec![0xff; 6];
        a.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        a.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        a
    };
    vec![
        f("eth_ipv4_tcp", eth(&v4_tcp, &[]), false, csum(34, 16)),
        f(
            "eth_ipv4_tcp_cwr_options_1600",
            eth(&v4_tcp_big, &[]),
            false,
            gso(GsoKind::Tcpv4, 34, 16, 536, 66),
        ),
        f("eth_ipv6_udp", eth(&v6_udp, &[]), false, csum(54, 6)),
        f(
            "eth_ipv6_udp_1600",
            eth(&v6_udp_big, &[]),
            false,
            gso(GsoKind::UdpL4, 54, 6, 500, 62),
        ),
        f(
            "eth_vlan_ipv4_udp",
            eth(&ip(false, 0, &[], UDP, &udp(), 40, false), &[0x8100]),
            false,
            csum(38, 6),
        ),
        f(
            "eth_qinq_ipv6_tcp",
            eth(
                &ip(true, TCP, &[], TCP, &tcp(0, 0x10), 30, false),
                &[0x88a8, 0x8100],
            ),
            false,
            csum(62, 16),
        ),
        f(
            "eth_ipv6_ext_tcp",
            eth(&ip(true, 0, &hbh_dst, TCP, &tcp(2, 0x18), 20, false), &[]),
            false,
            csum(70, 16),
        ),
        f(
            "eth_ipv6_routing_udp",
            eth(&ip(true, 43, &routing, UDP, &udp(), 20, false), &[]),
            false,
            Offload::NONE,
        ),
        f(
            "eth_ipv4_fragment",
            eth(&ip(false, 0, &[], UDP, &udp(), 24, true), &[]),
            false,
            Offload::NONE,
        ),
        f(
            "eth_ipv6_fragment",
            eth(&ip(true, 44, &fragment, UDP, &udp(), 24, false), &[]),
            false,
            Offload::NONE,
        ),
        f(
            "eth_ipv4_icmp",
            eth(
                &ip(false, 0, &[], 1, &[8, 0, 0, 0, 0, 1, 0, 1], 32, false),
                &[],
            ),
            false,
            Offload::NONE,
        ),
        f("eth_arp", arp, false, Offload::NONE),
        f("ip_ipv4_tcp", v4_tcp.clone(), true, csum(20, 16)),
        f(
            "ip_ipv4_tcp_cwr_options_1600",
            v4_tcp_big,
            true,
            gso(GsoKind::Tcpv4, 20, 16, 1448, 52),
        ),
        f("ip_ipv6_udp", v6_udp, true, csum(40, 6)),
        f(
            "ip_ipv6_udp_1600",
            v6_udp_big,
            true,
            gso(GsoKind::UdpL4, 40, 6, 1200, 48),
        ),
        f(
            "ip_ipv6_ext_tcp",
            ip(true, 0, &hbh_dst, TCP, &tcp(0, 0x18), 20, false),
            true,
            csum(56, 16),
        ),
    ]
}

/// `[frame_len][header]` of the vnet codec target.
fn vnet_seeds() -> Vec<Seed> {
    let tcp4 = gso(GsoKind::Tcpv4, 34, 16, 1448, 54);
    let mut tcp6_ecn = gso(GsoKind::Tcpv6, 54, 16, 1440, 74);
    if let Some(g) = &mut tcp6_ecn.gso {
        g.ecn = true;
    }
    let ufo = gso(GsoKind::Udp, 34, 6, 1472, 42);
    let uso = gso(GsoKind::UdpL4, 34, 6, 1400, 42);
    let valid = Offload {
        csum: Checksum::Valid,
        gso: None,
    };
    let cases = [
        ("none", Offload::NONE, 60, VnetHdrLen::Short),
        ("csum_partial_tcp", csum(34, 16), 1514, VnetHdrLen::Short),
        ("data_valid", valid, 1514, VnetHdrLen::Short),
        ("gso_tcpv4", tcp4, 65_000, VnetHdrLen::Short),
        ("gso_tcpv4_mergeable", tcp4, 65_000, VnetHdrLen::Mergeable),
        ("gso_tcpv6_ecn", tcp6_ecn, 64_000, VnetHdrLen::Short),
        ("gso_udp_ufo", ufo, 9_000, VnetHdrLen::Short),
        ("gso_udp_l4", uso, 30_000, VnetHdrLen::Mergeable),
    ];
    cases
        .into_iter()
        .map(|(name, off, frame_len, len)| {
            let mut input = (frame_len as u16).to_le_bytes().to_vec();
            input.extend_from_slice(&header(&off, frame_len, len));
            (name.to_string(), input)
        })
        .collect()
}

/// The Rx-form virtio-net header of `off` for a `frame_len`-byte frame.
fn header(off: &Offload, frame_len: usize, len: VnetHdrLen) -> Vec<u8> {
    let mut hdr = [0u8; 12];
    let n = vnet::encode_rx(off, frame_len, len, &mut hdr).expect("a valid seed offload");
    hdr[..n].to_vec()
}

/// `[control][mss][split][frame]` of the offload request target.
fn offload_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for f in frames() {
        let ip = u8::from(f.ip);
        let mss = f.off.gso.map_or(536, |g| g.size);
        // Segmentation through the framed call; for the large frames also a
        // checksum request on a chain split after the headers, and one split
        // inside them.
        let mut cases = vec![("seg", ip | 2 | 4, mss, 0u16)];
        if let Some(g) = f.off.gso {
            cases.push(("csum_chain", ip | 8, 0, g.hdr_len + 10));
            cases.push(("seg_split_headers", ip | 2 | 8, mss, g.hdr_len - 4));
        }
        for (what, control, mss, split) in cases {
            let mut input = vec![control];
            input.extend_from_slice(&mss.to_le_bytes());
            input.extend_from_slice(&split.to_le_bytes());
            input.extend_from_slice(&f.bytes);
            out.push((format!("{}_{what}", f.name), input));
        }
    }
    out
}

/// `[format][mode][a][b][read]` of the prep target: what a device of each
/// format writes for a frame of the seed set.
fn prep_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let pick = [
        "eth_ipv4_tcp",
        "eth_ipv6_udp_1600",
        "eth_vlan_ipv4_udp",
        "eth_arp",
    ];
    let pick_ip = ["ip_ipv4_tcp", "ip_ipv6_udp", "ip_ipv4_tcp_cwr_options_1600"];
    for f in frames() {
        if !pick.contains(&f.name) && !pick_ip.contains(&f.name) {
            continue;
        }
        let formats: &[(u8, &str)] = if f.ip {
            &[
                (1, "tun"),
                (1 | 2, "tun_pi"),
                (1 | 2 | 4, "tun_pi_vnet"),
                (1 | 8, "tun_vnet12"),
            ]
        } else {
            &[
                (0, "tap"),
                (4, "tap_vnet"),
                (8, "tap_vnet12"),
                (2 | 4, "tap_pi_vnet"),
            ]
        };
        for &(format, fname) in formats {
            let fmt = super::prep::format_of(format);
            let mut read = Vec::new();
            if fmt.packet_info {
                let pi = tapring_core::wire::PacketInfo {
                    flags: 0,
                    proto: if !f.ip {
                        0
                    } else if f.bytes[0] >> 4 == 6 {
                        0x86dd
                    } else {
                        0x0800
                    },
                };
                read.extend_from_slice(&pi.encode());
            }
            if !fmt.vnet_hdr_len.is_empty() {
                read.extend_from_slice(&header(&f.off, f.bytes.len(), fmt.vnet_hdr_len));
            }
            read.extend_from_slice(&f.bytes);
            // Mode 0: a read of exactly the bytes, the Tx frame whole, at the
            // MTU of 1500; a GSO frame also padded to 20000 bytes.
            let mut modes = vec![("", 2u8, 1514u16, 0u16)];
            if f.off.gso.is_some() {
                modes.push(("_padded", 8 | 0x60, 1514, 20_000));
            }
            for (what, mode, a, b) in modes {
                let mut input = vec![format, mode];
                let a = if mode & 3 == 2 { read.len() as u16 } else { a };
                input.extend_from_slice(&a.to_le_bytes());
                input.extend_from_slice(&b.to_le_bytes());
                input.extend_from_slice(&read);
                out.push((format!("{fname}_{}{what}", f.name), input));
            }
        }
    }
    out
}

/// `[control][kind][size][max_frame][split][frame]` of the segmentation
/// target: every TCP/UDP frame of the seed set with the request its
/// protocol takes (TCPv4, TCPv6, USO; UFO and a fragment for the errors),
/// written flat with complete checksums at an MTU of 1500, chained right
/// after the headers with partial checksums through a burst, and at a
/// `max_frame` smaller than the request (re-segmented).
fn gso_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for f in frames() {
        let Ok(h) = tapring_core::wire::headers::parse_framed(
            &f.bytes,
            if f.ip {
                tapring_core::Framing::Ip
            } else {
                tapring_core::Framing::Ethernet
            },
        ) else {
            continue;
        };
        let kind: u8 = match (h.l4(), h.ip()) {
            (tapring_core::L4::Tcp, tapring_core::IpVersion::V4) => 0,
            (tapring_core::L4::Tcp, tapring_core::IpVersion::V6) => 1,
            (tapring_core::L4::Udp, _) => 3,
            // A fragment under a USO request: an error seed.
            (tapring_core::L4::Fragment { .. }, _) => 3,
            _ => continue,
        };
        let hdr_len = h.hdr_len() as u16;
        let size = f.off.gso.map_or(16, |g| g.size);
        let ip = u8::from(f.ip);
        let l2 = if f.ip { 0 } else { 14 };
        let mut cases = vec![
            ("complete", ip, kind, size, 1500 + l2, 0u16),
            (
                "partial_chain_burst",
                ip | 2 | 4 | 8 | 16,
                kind,
                size,
                1500 + l2,
                hdr_len,
            ),
            ("smaller_mtu", ip, kind, size, hdr_len + size / 3 + 1, 0),
        ];
        if kind == 3 && f.off.gso.is_some() {
            cases.push(("ufo", ip, 2, size, 1500 + l2, 0));
        }
        for (what, control, kind, size, max_frame, split) in cases {
            let mut input = vec![control, kind];
            input.extend_from_slice(&size.to_le_bytes());
            input.extend_from_slice(&max_frame.to_le_bytes());
            input.extend_from_slice(&split.to_le_bytes());
            input.extend_from_slice(&f.bytes);
            out.push((format!("{}_{what}", f.name), input));
        }
    }
    out
}

/// `[control][count][mss][recipe][template]` of the GRO target: flows of
/// TCP (IPv4, IPv6 with options, VLAN, TUN) and UDP, clean and broken by
/// the recipe, with each Rx offload and tight limits; and raw bursts of
/// seed frames.
fn gro_seeds() -> Vec<Seed> {
    let ack = 0x10;
    let v4 = ip(false, 0, &[], TCP, &tcp(0, ack), 64, false);
    let v6_opts = ip(true, TCP, &[], TCP, &tcp(3, ack), 64, false);
    let udp4 = ip(false, 0, &[], UDP, &udp(), 64, false);
    let clean = [0u8; 16];
    // A payload byte flipped, a flag (PSH: bit 3) set, a shorter payload,
    // a swap, a sequence number off, another ack, cut short, chained.
    let broken = [
        0, 8, 0, 0x39, 0, 0x2a, 11, 0, 12, 0, 13, 0x14, 0, 0x6f, 0, 0,
    ];
    // PSH on the fifth, a shorter tenth.
    let psh_last = [0, 0, 0, 0, 0x39, 0, 0, 0, 0, 0x5a, 0, 0, 0, 0, 0, 0];
    let per_frame_offload = [
        0x40, 0x80, 0xc0, 0, 0x40, 0x80, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    // (name, control, count, mss, recipe, template)
    type FlowSeed = (&'static str, u8, u8, u16, [u8; 16], Vec<u8>);
    let flows: Vec<FlowSeed> = vec![
        ("eth_ipv4_tcp_flow", 0, 8, 1448, clean, eth(&v4, &[])),
        (
            "eth_ipv6_tcp_options_flow",
            0,
            12,
            1000,
            clean,
            eth(&v6_opts, &[]),
        ),
        (
            "eth_vlan_ipv4_tcp_broken",
            0,
            16,
            700,
            broken,
            eth(&v4, &[0x8100]),
        ),
        ("ip_ipv4_tcp_flow", 1, 10, 1460, psh_last, v4.clone()),
        ("ip_ipv6_tcp_broken", 1, 16, 512, broken, v6_opts.clone()),
        ("eth_ipv4_udp_flow", 2, 6, 1200, psh_last, eth(&udp4, &[])),
        (
            "eth_ipv4_tcp_tight_limits",
            4 | 8,
            16,
            100,
            [5, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            eth(&v4, &[]),
        ),
        ("eth_ipv4_tcp_valid", 0x20, 8, 1448, broken, eth(&v4, &[])),
        (
            "eth_ipv6_tcp_partial",
            0x40,
            8,
            1440,
            clean,
            eth(&v6_opts, &[]),
        ),
        (
            "ip_ipv4_udp_mixed_offload",
            1 | 2 | 0x60,
            8,
            600,
            per_frame_offload,
            udp4.clone(),
        ),
    ];
    let mut out: Vec<Seed> = flows
        .into_iter()
        .map(|(name, control, count, mss, recipe, template)| {
            let mut input = vec![control, count];
            input.extend_from_slice(&mss.to_le_bytes());
            input.extend_from_slice(&recipe);
            input.extend_from_slice(&template);
            (name.to_string(), input)
        })
        .collect();
    // Raw bursts: the seed frames as they are, Ethernet and IP.
    for (name, control, want_ip) in [
        ("raw_eth_frames", 16u8, false),
        ("raw_ip_packets", 17, true),
    ] {
        let mut input = vec![control, 16, 0, 0];
        input.extend_from_slice(&[0; 16]);
        for f in frames().into_iter().filter(|f| f.ip == want_ip) {
            input.extend_from_slice(&(f.bytes.len() as u16).to_le_bytes());
            input.extend_from_slice(&f.bytes);
        }
        out.push((name.to_string(), input));
    }
    out
}
