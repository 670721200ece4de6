//! Frames for tests (the `AF_PACKET` socket that injects and captures them
//! is [`tapring_device::link::PacketSocket`]), plus a minimal ARP/ICMP echo
//! responder.

pub use tapring_device::link::{ETH_P_ALL, ETH_P_IP, PacketSocket};

/// The EtherType of test frames (IEEE 802 local experimental 2).
pub const TEST_ETHERTYPE: u16 = 0x88B5;
/// Destination MAC of test frames (locally administered unicast).
pub const TEST_DST: [u8; 6] = [0x02, 0x7a, 0x70, 0, 0, 0x01];
/// Source MAC of test frames.
pub const TEST_SRC: [u8; 6] = [0x02, 0x7a, 0x70, 0, 0, 0x02];

/// A test frame of `len` bytes (at least 18): Ethernet header to
/// [`TEST_DST`] of type [`TEST_ETHERTYPE`], then `seq` (big endian), then a
/// pattern that depends on `seq` and the position.
pub fn test_frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(18));
    f.extend_from_slice(&TEST_DST);
    f.extend_from_slice(&TEST_SRC);
    f.extend_from_slice(&TEST_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    let mut i = 0u32;
    while f.len() < len {
        f.push((seq.wrapping_mul(31).wrapping_add(i) & 0xff) as u8);
        i += 1;
    }
    f.truncate(len.max(18));
    f
}

/// The sequence number of a [`test_frame`], or `None` for other frames.
pub fn test_frame_seq(frame: &[u8]) -> Option<u32> {
    if frame.len() >= 18 && frame[12..14] == TEST_ETHERTYPE.to_be_bytes() {
        Some(u32::from_be_bytes([
            frame[14], frame[15], frame[16], frame[17],
        ]))
    } else {
        None
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`
/// (e.g. a pseudo header, then a segment): the value to store in a zeroed
/// checksum field, or 0 when summed over data whose checksum is right.
///
/// Every checksum the tests and the harness compute goes through this one
/// function.
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    use tapring_core::wire::checksum;
    let mut sum = 0u64;
    // A part of odd length leaves its last byte as the high half of a word
    // the next part completes; the arithmetic is core's.
    let mut pending: Option<u8> = None;
    for part in parts {
        let mut bytes = *part;
        if let (Some(hi), [lo, rest @ ..]) = (pending, bytes) {
            sum = checksum::add_word(sum, u16::from_be_bytes([hi, *lo]));
            pending = None;
            bytes = rest;
        }
        let even = bytes.len() & !1;
        sum = checksum::add(sum, &bytes[..even]);
        pending = pending.or(bytes.get(even).copied());
    }
    if let Some(hi) = pending {
        sum = checksum::add_word(sum, u16::from(hi) << 8);
    }
    checksum::finish(sum)
}

/// Marker at the start of the UDP payload of [`udp_frame`].
const UDP_MAGIC: &[u8; 4] = b"TAPR";

/// A valid Ethernet/IPv4/UDP frame of `len` bytes (at least 60; IPv4 and
/// UDP checksums set, don't-fragment) of flow `flow` carrying `seq`.
/// Addresses 198.18.1.1 -> 198.18.2.x and the ports vary with the flow, so
/// the kernel hashes flows to different queues; the Ethernet header goes
/// from [`TEST_SRC`] to [`TEST_DST`]. The payload starts with a marker,
/// `seq` and `flow` (read back by [`udp_frame_seq`]), then a fixed pattern.
pub fn udp_frame(len: usize, flow: u16, seq: u32) -> Vec<u8> {
    let len = len.max(60);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&TEST_DST);
    f[6..12].copy_from_slice(&TEST_SRC);
    f[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    let ip_len = u16::try_from(len - 14).unwrap_or(u16::MAX);
    let udp_len = ip_len - 20;
    {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[198, 18, 1, 1]);
        ip[16..20].copy_from_slice(&[198, 18, 2, (flow % 250) as u8 + 1]);
        let c = inet_checksum(&[ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    f[34..36].copy_from_slice(&(10_000 + flow).to_be_bytes());
    f[36..38].copy_from_slice(&(20_000u16.wrapping_add(flow.wrapping_mul(7))).to_be_bytes());
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    f[42..46].copy_from_slice(UDP_MAGIC);
    f[46..50].copy_from_slice(&seq.to_be_bytes());
    f[50..52].copy_from_slice(&flow.to_be_bytes());
    let end = 14 + usize::from(ip_len);
    let pseudo = [0, 17];
    let c = match inet_checksum(&[&f[26..34], &pseudo, &udp_len.to_be_bytes(), &f[34..end]]) {
        0 => 0xffff, // 0 means "no checksum" in UDP over IPv4
        c => c,
    };
    f[40..42].copy_from_slice(&c.to_be_bytes());
    f
}

/// A valid Ethernet/IPv4/TCP segment (IPv4 and TCP checksums set,
/// don't-fragment, ACK set, PSH when `push`) of one flow, 198.18.1.1:40000
/// -> 198.18.2.1:5201, from [`TEST_SRC`] to [`TEST_DST`], with sequence
/// number `seq`, IPv4 ID `id` and `payload`: what a kernel without
/// offloads hands a TAP for a TCP stream.
pub fn tcp_segment(seq: u32, id: u16, payload: &[u8], push: bool) -> Vec<u8> {
    let ip_len = u16::try_from(20 + 20 + payload.len()).expect("a segment fits an IPv4 packet");
    let mut f = vec![0u8; 14 + usize::from(ip_len)];
    f[0..6].copy_from_slice(&TEST_DST);
    f[6..12].copy_from_slice(&TEST_SRC);
    f[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[198, 18, 1, 1]);
        ip[16..20].copy_from_slice(&[198, 18, 2, 1]);
        let c = inet_checksum(&[ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    {
        let tcp = &mut f[34..54];
        tcp[0..2].copy_from_slice(&40_000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&7u32.to_be_bytes()); // ack
        tcp[12] = 5 << 4;
        tcp[13] = 0x10 | if push { 0x08 } else { 0 };
        tcp[14..16].copy_from_slice(&502u16.to_be_bytes()); // window
    }
    f[54..].copy_from_slice(payload);
    let tcp_len = (ip_len - 20).to_be_bytes();
    let c = inet_checksum(&[&f[26..34], &[0, 6], &tcp_len, &f[34..]]);
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f
}

/// The sequence number of a [`udp_frame`], or `None` for other frames.
pub fn udp_frame_seq(frame: &[u8]) -> Option<u32> {
    let p = 14 + 20 + 8;
    if frame.len() >= p + 8
        && frame[12..14] == ETH_P_IP.to_be_bytes()
        && &frame[p..p + 4] == UDP_MAGIC
    {
        Some(u32::from_be_bytes([
            frame[p + 4],
            frame[p + 5],
            frame[p + 6],
            frame[p + 7],
        ]))
    } else {
        None
    }
}

/// IP protocol number of [`test_packet`]s (253: for experimentation,
/// RFC 3692).
pub const TEST_IP_PROTOCOL: u8 = 253;

/// A test packet for TUN devices (no Ethernet header) of `len` bytes (at
/// least 28): an IPv4 header (protocol [`TEST_IP_PROTOCOL`], 198.18.3.1 ->
/// 198.18.3.2, valid header checksum), then `seq` (big endian) and a
/// marker, then a pattern that depends on `seq` and the position.
pub fn test_packet(seq: u32, len: usize) -> Vec<u8> {
    let len = len.max(28);
    let mut p: Vec<u8> = (0..len)
        .map(|i| (seq.wrapping_mul(31).wrapping_add(i as u32) & 0xff) as u8)
        .collect();
    p[..20].fill(0);
    p[0] = 0x45;
    p[2..4].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    p[8] = 64;
    p[9] = TEST_IP_PROTOCOL;
    p[12..16].copy_from_slice(&[198, 18, 3, 1]);
    p[16..20].copy_from_slice(&[198, 18, 3, 2]);
    let c = inet_checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..24].copy_from_slice(&seq.to_be_bytes());
    p[24..28].copy_from_slice(UDP_MAGIC);
    p
}

/// The sequence number of a [`test_packet`], or `None` for other packets.
pub fn test_packet_seq(packet: &[u8]) -> Option<u32> {
    if packet.len() >= 28
        && packet[0] == 0x45
        && packet[9] == TEST_IP_PROTOCOL
        && &packet[24..28] == UDP_MAGIC
    {
        Some(u32::from_be_bytes([
            packet[20], packet[21], packet[22], packet[23],
        ]))
    } else {
        None
    }
}

/// [`udp_frame`] without its Ethernet header: a valid IPv4/UDP packet of
/// `len` bytes (at least 46) for a TUN device.
pub fn udp_packet(len: usize, flow: u16, seq: u32) -> Vec<u8> {
    udp_frame(len.max(46) + 14, flow, seq)[14..].to_vec()
}

/// The sequence number of a [`udp_packet`], or `None` for other packets.
pub fn udp_packet_seq(packet: &[u8]) -> Option<u32> {
    let mut frame = vec![0u8; 14];
    frame[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    frame.extend_from_slice(packet.get(..packet.len().min(64))?);
    udp_frame_seq(&frame)
}

/// A minimal IP host at `ip` on a TUN device: answers ICMP echo requests
/// to it (addresses swapped; IPv4 and ICMP checksums recomputed), writing
/// the reply into `out` (at least as long as `packet`). Returns the
/// reply's length, or `None` for anything else.
pub fn respond_ip(packet: &[u8], ip: [u8; 4], out: &mut [u8]) -> Option<usize> {
    let mut frame = vec![0u8; 14];
    frame[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
    frame.extend_from_slice(packet);
    let mut reply = vec![0u8; frame.len().max(60)];
    match respond(&frame, ip, [0; 6], &mut reply) {
        Reply::Echo(_) => {
            let len = packet.len();
            out.get_mut(..len)?.copy_from_slice(&reply[14..14 + len]);
            Some(len)
        }
        _ => None,
    }
}

/// What [`respond`] made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Not for us (or not ARP/ICMP echo).
    Ignore,
    /// An ARP reply of this many bytes is in `out`.
    Arp(usize),
    /// An ICMP echo reply of this many bytes is in `out`.
    Echo(usize),
}

/// A minimal host at `ip`/`mac`: answers ARP requests for `ip` and ICMP
/// echo requests to it (MAC swap; IPv4 and ICMP checksums recomputed),
/// writing the reply into `out` (at least as long as `frame`, and 60).
pub fn respond(frame: &[u8], ip: [u8; 4], mac: [u8; 6], out: &mut [u8]) -> Reply {
    if frame.len() < 14 {
        return Reply::Ignore;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype == 0x0806 && frame.len() >= 42 {
        let arp = &frame[14..42];
        // Ethernet/IPv4 request for our address.
        if arp[0..2] != [0, 1] || arp[2..4] != [8, 0] || arp[6..8] != [0, 1] || arp[24..28] != ip {
            return Reply::Ignore;
        }
        let (sha, spa) = (&arp[8..14], &arp[14..18]);
        out[..60].fill(0);
        out[0..6].copy_from_slice(sha);
        out[6..12].copy_from_slice(&mac);
        out[12..14].copy_from_slice(&[0x08, 0x06]);
        let r = &mut out[14..42];
        r[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
        r[8..14].copy_from_slice(&mac);
        r[14..18].copy_from_slice(&ip);
        r[18..24].copy_from_slice(sha);
        r[24..28].copy_from_slice(spa);
        return Reply::Arp(60);
    }
    if ethertype != ETH_P_IP || frame.len() < 14 + 20 + 8 {
        return Reply::Ignore;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    if frame[14] >> 4 != 4 || ihl < 20 || frame[23] != 1 || frame[30..34] != ip {
        return Reply::Ignore;
    }
    if total < ihl + 8 || 14 + total > frame.len() || frame[14 + ihl] != 8 {
        return Reply::Ignore;
    }
    let len = 14 + total;
    out[..len].copy_from_slice(&frame[..len]);
    out[0..6].copy_from_slice(&frame[6..12]);
    out[6..12].copy_from_slice(&mac);
    let iph = 14..14 + ihl;
    out[26..30].copy_from_slice(&frame[30..34]);
    out[30..34].copy_from_slice(&frame[26..30]);
    out[22] = 64; // TTL
    out[24..26].fill(0);
    let c = inet_checksum(&[&out[iph]]);
    out[24..26].copy_from_slice(&c.to_be_bytes());
    let icmp = 14 + ihl..len;
    out[icmp.start] = 0; // echo reply
    out[icmp.start + 2..icmp.start + 4].fill(0);
    let c = inet_checksum(&[&out[icmp.clone()]]);
    out[icmp.start + 2..icmp.start + 4].copy_from_slice(&c.to_be_bytes());
    if len < 60 {
        out[len..60].fill(0);
        return Reply::Echo(60);
    }
    Reply::Echo(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_sequence_and_checksums_verify() {
        let f = test_frame(7, 61);
        assert_eq!((f.len(), test_frame_seq(&f)), (61, Some(7)));
        let u = udp_frame(60, 3, 99);
        assert_eq!((u.len(), udp_frame_seq(&u)), (60, Some(99)));
        assert_eq!(
            inet_checksum(&[&u[14..34]]),
            0,
            "IPv4 header checksum verifies"
        );
        assert_eq!(test_frame_seq(&u), None);
    }

    #[test]
    fn udp_frames_have_valid_checksums_and_sizes() {
        for len in [10, 60, 64, 1514, 9000] {
            let f = udp_frame(len, 7, 42);
            assert_eq!(f.len(), len.max(60));
            assert_eq!(inet_checksum(&[&f[14..34]]), 0, "IPv4 header checksum");
            let udp_len = u16::from_be_bytes([f[38], f[39]]);
            assert_eq!(usize::from(udp_len), f.len() - 34);
            let udp = &f[34..34 + usize::from(udp_len)];
            let sum = inet_checksum(&[&f[26..34], &[0, 17], &udp_len.to_be_bytes(), udp]);
            assert_eq!(sum, 0, "UDP checksum over the pseudo header");
            assert_eq!(udp_frame_seq(&f), Some(42));
        }
        // Flows differ in addresses and ports (the kernel's flow hash).
        assert_ne!(udp_frame(60, 1, 0)[26..38], udp_frame(60, 2, 0)[26..38]);
    }

    #[test]
    fn checksum_of_parts_is_the_checksum_of_their_concatenation() {
        let data: Vec<u8> = (0..=200u8).map(|i| i.wrapping_mul(37)).collect();
        let whole = inet_checksum(&[&data]);
        for cut in [0, 1, 2, 7, 100, 201] {
            let (a, b) = data.split_at(cut);
            assert_eq!(inet_checksum(&[a, b]), whole, "cut at {cut}");
        }
        let (a, rest) = data.split_at(3);
        let (b, c) = rest.split_at(5);
        assert_eq!(inet_checksum(&[a, b, c]), whole);
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            inet_checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
        assert_eq!(inet_checksum(&[]), 0xffff);
    }

    #[test]
    fn tun_packets_carry_their_sequence_and_valid_headers() {
        for len in [0, 28, 61, 1500] {
            let p = test_packet(9, len);
            assert_eq!(p.len(), len.max(28));
            assert_eq!(test_packet_seq(&p), Some(9));
            assert_eq!(inet_checksum(&[&p[..20]]), 0);
            assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
        }
        let u = udp_packet(60, 3, 77);
        assert_eq!((u.len(), udp_packet_seq(&u)), (60, Some(77)));
        assert_eq!(u[0], 0x45);
        assert_eq!(test_packet_seq(&u), None);
        assert_eq!(udp_packet_seq(&test_packet(1, 60)), None);
    }

    #[test]
    fn ip_echo_request_gets_a_valid_reply() {
        let ip = [198, 18, 0, 2];
        let mut req = vec![0u8; 20 + 16];
        req[0] = 0x45;
        req[2..4].copy_from_slice(&36u16.to_be_bytes());
        req[8] = 64;
        req[9] = 1;
        req[12..16].copy_from_slice(&[198, 18, 0, 1]);
        req[16..20].copy_from_slice(&ip);
        req[20] = 8;
        req[24..36].copy_from_slice(b"abcdefghijkl");
        let mut out = [0u8; 64];
        let n = respond_ip(&req, ip, &mut out).expect("an echo reply");
        assert_eq!(n, 36);
        assert_eq!(
            (&out[12..16], &out[16..20]),
            (&ip[..], &[198, 18, 0, 1][..])
        );
        assert_eq!(inet_checksum(&[&out[..20]]), 0);
        assert_eq!(inet_checksum(&[&out[20..36]]), 0);
        assert_eq!(out[20], 0);
        assert_eq!(respond_ip(&req, [198, 18, 0, 9], &mut out), None);
    }

    #[test]
    fn echo_request_gets_a_valid_reply() {
        let ip = [198, 18, 0, 2];
        let mac = [2, 0, 0, 0, 0, 9];
        let mut req = vec![0u8; 14 + 20 + 16];
        req[0..6].copy_from_slice(&mac);
        req[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        req[12..14].copy_from_slice(&[8, 0]);
        req[14] = 0x45;
        req[16..18].copy_from_slice(&36u16.to_be_bytes());
        req[22] = 64;
        req[23] = 1;
        req[26..30].copy_from_slice(&[198, 18, 0, 1]);
        req[30..34].copy_from_slice(&ip);
        req[34] = 8;
        req[38..50].copy_from_slice(b"abcdefghijkl");
        let mut out = [0u8; 128];
        let Reply::Echo(n) = respond(&req, ip, mac, &mut out) else {
            panic!("no echo reply");
        };
        assert_eq!(n, 60);
        assert_eq!(&out[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&out[26..30], &ip);
        assert_eq!(inet_checksum(&[&out[14..34]]), 0);
        assert_eq!(inet_checksum(&[&out[34..50]]), 0);
        assert_eq!(out[34], 0);
    }
}
