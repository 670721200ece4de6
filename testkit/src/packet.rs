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

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in bytes.chunks(2) {
        let word = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Marker at the start of the UDP payload of [`udp_frame`].
const UDP_MAGIC: &[u8; 4] = b"TAPR";

/// A valid IPv4/UDP frame (60 bytes) of flow `flow` (addresses
/// 198.18.1.1 -> 198.18.2.x and ports vary with it, so the kernel hashes
/// flows to different queues) carrying `seq`.
pub fn udp_frame(flow: u16, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&TEST_DST);
    f.extend_from_slice(&TEST_SRC);
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    let payload_len = 8 + 4 + 4 + 2;
    let ip_len = 20 + payload_len;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[198, 18, 1, 1]);
    ip[16..20].copy_from_slice(&[198, 18, 2, (flow % 250) as u8 + 1]);
    let csum = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&(10_000 + flow).to_be_bytes());
    f.extend_from_slice(&(20_000u16.wrapping_add(flow.wrapping_mul(7))).to_be_bytes());
    f.extend_from_slice(&(payload_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
    f.extend_from_slice(UDP_MAGIC);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&flow.to_be_bytes());
    f.resize(60, 0);
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
    let c = inet_checksum(&out[iph]);
    out[24..26].copy_from_slice(&c.to_be_bytes());
    let icmp = 14 + ihl..len;
    out[icmp.start] = 0; // echo reply
    out[icmp.start + 2..icmp.start + 4].fill(0);
    let c = inet_checksum(&out[icmp.clone()]);
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
        let u = udp_frame(3, 99);
        assert_eq!((u.len(), udp_frame_seq(&u)), (60, Some(99)));
        assert_eq!(
            inet_checksum(&u[14..34]),
            0,
            "IPv4 header checksum verifies"
        );
        assert_eq!(test_frame_seq(&u), None);
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
        assert_eq!(inet_checksum(&out[14..34]), 0);
        assert_eq!(inet_checksum(&out[34..50]), 0);
        assert_eq!(out[34], 0);
    }
}
