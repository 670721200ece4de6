//! The bodies on hand-made inputs (valid and broken), the checkers on
//! broken results, the seed files, and the loop's reporting.

use super::mutate::{self, Budget, Mutator};
use super::*;
use std::panic::catch_unwind;

fn seeds_of(name: &str) -> Vec<Vec<u8>> {
    corpus::seeds(name).into_iter().map(|(_, b)| b).collect()
}

/// Inputs every body must survive: empty, tiny, all ones, all zeros.
fn broken_inputs() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0],
        vec![0xff],
        vec![0xff; 7],
        vec![0xff; 100],
        vec![0; 100],
        (0..=255).collect(),
    ]
}

#[test]
fn every_body_passes_its_seeds_and_broken_inputs() {
    for t in TARGETS {
        let seeds = seeds_of(t.name);
        assert!(seeds.len() >= 5, "{}: {} seeds", t.name, seeds.len());
        for input in seeds.iter().chain(&broken_inputs()) {
            (t.body)(input);
        }
    }
}

#[test]
fn every_prefix_of_every_seed_passes() {
    // Every cut of a valid input: the truncation paths of each parser and
    // the length checks of each prep.
    for t in TARGETS {
        for seed in seeds_of(t.name) {
            for len in (0..seed.len().min(200)).chain([seed.len() - 1]) {
                (t.body)(&seed[..len]);
            }
        }
    }
}

#[test]
fn seeds_are_what_they_claim() {
    use tapring_core::wire::headers::{parse, parse_ip};
    use tapring_core::{IpVersion, L4};
    let frames = corpus::seeds("header_parser");
    let get = |name: &str| &frames.iter().find(|(n, _)| n == name).expect(name).1;
    let h = parse(get("eth_ipv4_tcp")).unwrap();
    assert_eq!(
        (h.ip(), h.l4(), h.l4_offset(), h.hdr_len()),
        (IpVersion::V4, L4::Tcp, 34, 54)
    );
    let h = parse(get("eth_qinq_ipv6_tcp")).unwrap();
    assert_eq!(
        (h.vlan_tags(), h.ip(), h.l4_offset()),
        (2, IpVersion::V6, 62)
    );
    let h = parse(get("eth_ipv6_ext_tcp")).unwrap();
    assert_eq!((h.l4(), h.l4_offset(), h.l4_hdr_len()), (L4::Tcp, 70, 28));
    let h = parse(get("eth_ipv6_fragment")).unwrap();
    assert_eq!(h.l4(), L4::Fragment { protocol: 17 });
    let h = parse_ip(get("ip_ipv6_udp")).unwrap();
    assert_eq!((h.l3_offset(), h.l4(), h.l4_offset()), (0, L4::Udp, 40));
    assert!(parse(get("eth_arp")).is_err());
    // The vnet seeds decode, one per GSO type.
    let kinds: Vec<_> = corpus::seeds("vnet_codec")
        .into_iter()
        .map(|(_, s)| {
            let frame_len = usize::from(u16::from_le_bytes([s[0], s[1]]));
            let off = tapring_core::wire::vnet::decode(&s[2..], frame_len).unwrap();
            off.gso.map(|g| g.kind)
        })
        .collect();
    for kind in [
        tapring_core::GsoKind::Tcpv4,
        tapring_core::GsoKind::Tcpv6,
        tapring_core::GsoKind::Udp,
        tapring_core::GsoKind::UdpL4,
    ] {
        assert!(kinds.contains(&Some(kind)), "{kind:?}");
    }
}

#[test]
fn vnet_codec_on_hand_made_headers() {
    let with_len = |frame_len: u16, hdr: &[u8]| [&frame_len.to_le_bytes()[..], hdr].concat();
    // TCPv4 GSO, the module example's header.
    vnet_codec(&with_len(
        65_000,
        &[1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0],
    ));
    // RSC_INFO, both checksum flags, unknown GSO type, ECN alone, a
    // checksum past the frame, non-zero unused fields, 9 bytes.
    for hdr in [
        &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        &[3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0xff, 0xff, 16, 0],
        &[0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        &[1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16],
    ] {
        vnet_codec(&with_len(1514, hdr));
    }
}

#[test]
fn header_parser_on_hand_made_frames() {
    let seed = |name: &str| {
        corpus::seeds("header_parser")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
    };
    let mut f = seed("eth_ipv4_tcp");
    header_parser(&f);
    f[14] = 0x44; // IHL 4
    header_parser(&f);
    f[14] = 0x4f; // IHL 15: options past the TCP header start
    header_parser(&f);
    let mut f = seed("eth_ipv4_tcp");
    f[16..18].copy_from_slice(&30u16.to_be_bytes()); // total length inside TCP
    header_parser(&f);
    f.extend_from_slice(&[0; 6]); // padding: lengths no longer match
    header_parser(&f);
    let mut f = seed("eth_ipv6_ext_tcp");
    f[54 + 8] = 0; // hop-by-hop in second place
    header_parser(&f);
    let mut f = seed("eth_qinq_ipv6_tcp");
    f.splice(12..12, [0x81, 0, 0, 1]); // a third tag
    header_parser(&f);
}

#[test]
fn offload_request_on_hand_made_packets() {
    for (_, seed) in corpus::seeds("offload_request") {
        for control in 0..32u8 {
            let mut input = seed.clone();
            input[0] = control;
            offload_request(&input);
            // A split at every point of the headers.
            for split in [0u16, 1, 13, 14, 33, 34, 53, 54, 55] {
                input[0] = control | 8;
                input[3..5].copy_from_slice(&split.to_le_bytes());
                offload_request(&input);
            }
        }
    }
}

#[test]
fn rx_tx_prep_on_hand_made_reads() {
    for (_, seed) in corpus::seeds("rx_tx_prep") {
        for mode in [0u8, 1, 2, 3, 4, 8, 0x10, 0x20, 0x40, 0x60, 0x80, 0x7b, 0xff] {
            for format in [0u8, 1, 2, 3, 4, 7, 8, 15] {
                let mut input = seed.clone();
                input[0] = format;
                input[1] = mode;
                rx_tx_prep(&input);
            }
        }
        // A read whose packet information says the kernel cut it.
        let mut input = seed.clone();
        if input[0] & 2 != 0 {
            input[FRAME_START_PREP] |= 1;
            rx_tx_prep(&input);
        }
    }
}

const FRAME_START_PREP: usize = super::prep::FRAME_START;

#[test]
fn the_checkers_catch_broken_results() {
    let frames = corpus::seeds("header_parser");
    let frame = &frames[0].1;
    let h = tapring_core::wire::headers::parse(frame).unwrap();
    // A byte changed outside the checksum field.
    let mut other = frame.clone();
    other[20] ^= 1;
    assert!(catch_unwind(|| headers::check_only_checksum_changed(frame, &other, &h)).is_err());
    // Headers that do not match the frame.
    let v6 = &frames.iter().find(|(n, _)| n == "eth_ipv6_udp").unwrap().1;
    assert!(catch_unwind(|| headers::check_headers(v6, &h, Framing::Ethernet)).is_err());
    // A checksum that does not verify.
    let mut bad = frame.clone();
    finish_checksum(&mut bad, 34, 16);
    bad[60] ^= 0x10;
    assert!(!l4_checksum_ok(&bad, &h, 6));
    // A lost pool buffer.
    offload::with_pool(|pool| {
        let before = pool.stats();
        let held = pool.alloc().unwrap();
        assert!(catch_unwind(|| offload::check_conservation(pool, before)).is_err());
        drop(held);
        offload::check_conservation(pool, before);
    });
}

use tapring_core::Framing;

#[test]
fn the_loop_runs_every_target_and_is_reproducible() {
    for t in TARGETS {
        let r = mutate::run(t, Budget::Inputs(1500), 7).unwrap_or_else(|f| {
            panic!(
                "{}: {} on {}",
                f.target,
                f.message,
                mutate::to_hex(&f.input)
            )
        });
        assert_eq!(r.inputs, 1500);
        assert!(r.rate() > 0.0);
    }
    let mut a = Mutator::new(42, seeds_of("rx_tx_prep"), 6);
    let mut b = Mutator::new(42, seeds_of("rx_tx_prep"), 6);
    let mut c = Mutator::new(43, seeds_of("rx_tx_prep"), 6);
    let (xs, ys, zs): (Vec<_>, Vec<_>, Vec<_>) = (0..200)
        .map(|_| (a.next_input(), b.next_input(), c.next_input()))
        .fold(
            (vec![], vec![], vec![]),
            |(mut x, mut y, mut z), (p, q, r)| {
                x.push(p);
                y.push(q);
                z.push(r);
                (x, y, z)
            },
        );
    assert_eq!(xs, ys, "the same seed makes the same inputs");
    assert_ne!(xs, zs);
    assert!(xs.iter().all(|x| x.len() <= mutate::MAX_INPUT));
}

#[test]
fn the_loop_reports_a_failing_input() {
    fn picky(data: &[u8]) {
        assert!(!data.contains(&0x42), "found 0x42");
    }
    let t = Target {
        name: "picky",
        body: picky,
        frame_start: 0,
    };
    let f = mutate::run_with(&t, vec![vec![0x41; 8]], Budget::Inputs(100_000), 1)
        .expect_err("the mutations find 0x42");
    assert!(f.input.contains(&0x42));
    assert!(f.message.contains("found 0x42"), "{}", f.message);
    assert_eq!(mutate::replay(&t, &f.input), Err(f.message.clone()));
    // The same seed fails on the same input.
    let g = mutate::run_with(&t, vec![vec![0x41; 8]], Budget::Inputs(f.index + 1), 1).unwrap_err();
    assert_eq!((g.index, g.input), (f.index, f.input));
}

#[test]
fn hex_round_trips() {
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(mutate::from_hex(&mutate::to_hex(&bytes)), Some(bytes));
    assert_eq!(mutate::from_hex("0a 0B\n"), Some(vec![10, 11]));
    assert_eq!(mutate::from_hex("abc"), None);
    assert_eq!(mutate::from_hex("zz"), None);
}

#[test]
fn the_seed_files_match_the_generator() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for t in TARGETS {
        for (name, bytes) in corpus::seeds(t.name) {
            let path = dir.join(t.name).join(&name);
            let file = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; regenerate with `cargo run -p tapring-testkit --bin tapring-fuzz -- --write-corpus fuzz/corpus`",
                    path.display()
                )
            });
            assert!(
                file == bytes,
                "{} differs from the generator",
                path.display()
            );
        }
    }
}

#[test]
fn gso_segment_on_hand_made_packets() {
    use tapring_core::wire::gso::Segmenter;
    use tapring_core::{Checksum, Gso, GsoKind, Offload};
    let mut segmented = 0;
    for (name, seed) in corpus::seeds("gso_segment") {
        for control in 0..64u8 {
            let mut input = seed.clone();
            input[0] = control;
            gso_segment(&input);
            // Every max_frame around the headers and a few MTUs.
            for max_frame in [0u16, 20, 54, 55, 66, 67, 100, 576, 1280, 9000, 9216, 9217] {
                input[4..6].copy_from_slice(&max_frame.to_le_bytes());
                gso_segment(&input);
            }
        }
        // The "complete" seeds of unfragmented, unrouted frames do segment,
        // so the body's checks of segments run on them.
        if name.ends_with("_complete") && !name.contains("fragment") && !name.contains("routing") {
            let framing = if seed[0] & 1 != 0 {
                Framing::Ip
            } else {
                Framing::Ethernet
            };
            let kinds = [GsoKind::Tcpv4, GsoKind::Tcpv6, GsoKind::Udp, GsoKind::UdpL4];
            let pool = tapring_core::Pool::new(tapring_core::PoolConfig::standard(4)).unwrap();
            let mut pkt = pool.alloc().unwrap();
            pkt.extend_from_slice(&seed[super::gso::FRAME_START..])
                .unwrap();
            pkt.set_offload(Offload {
                csum: Checksum::None,
                gso: Some(Gso {
                    kind: kinds[usize::from(seed[1])],
                    size: u16::from_le_bytes([seed[2], seed[3]]),
                    hdr_len: 0,
                    ecn: false,
                }),
            });
            let max_frame = usize::from(u16::from_le_bytes([seed[4], seed[5]]));
            let seg = Segmenter::new(&pkt, framing, max_frame).expect(&name);
            assert!(seg.segments() > 1, "{name}: {} segments", seg.segments());
            segmented += 1;
        }
    }
    assert!(segmented >= 10, "{segmented} seeds segment");
}

#[test]
fn gro_seeds_coalesce_clean_flows_and_count_broken_ones() {
    let seed = |name: &str| {
        corpus::seeds("gro_coalesce")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
    };
    // Clean flows: one super-frame of every frame.
    for (name, count) in [
        ("eth_ipv4_tcp_flow", 8),
        ("eth_ipv6_tcp_options_flow", 12),
        ("eth_ipv6_tcp_partial", 8),
    ] {
        let r = super::gro::run(&seed(name));
        assert_eq!(
            (r.coalesced, r.merged, r.not_merged()),
            (1, count - 1, 0),
            "{name}: {r:?}"
        );
    }
    // UDP (asked for), and PSH / a shorter segment finishing flows.
    let r = super::gro::run(&seed("eth_ipv4_udp_flow"));
    assert!(r.coalesced >= 1, "{r:?}");
    let r = super::gro::run(&seed("ip_ipv4_tcp_flow"));
    assert_eq!(r.coalesced, 2, "{r:?}");
    // Broken flows: some merge, and each break is counted.
    for name in [
        "eth_vlan_ipv4_tcp_broken",
        "ip_ipv6_tcp_broken",
        "eth_ipv4_tcp_valid",
    ] {
        let r = super::gro::run(&seed(name));
        assert!(r.merged > 0 && r.not_merged() > 0, "{name}: {r:?}");
    }
    let r = super::gro::run(&seed("eth_ipv4_tcp_tight_limits"));
    assert!(r.too_big > 0, "{r:?}");
}
