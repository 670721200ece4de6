//! Test frames: Ethernet + IPv4 + UDP with correct checksums, addressed
//! inside the benchmarking range 198.18.0.0/15, and the ARP/ICMP pieces the
//! self-test responder needs.

/// MAC of the traffic source side.
pub const SRC_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// MAC of the traffic sink side (static bridge entry towards the sink).
pub const DST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
/// Source address of generated traffic.
pub const SRC_IP: [u8; 4] = [198, 18, 0, 1];
/// Destination address of generated traffic.
pub const DST_IP: [u8; 4] = [198, 18, 0, 2];

/// The Internet checksum (RFC 1071) of `data`, folded, not inverted.
pub fn ones_sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a ones' complement sum and inverts it: the value to store.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// An Ethernet/IPv4/UDP frame of exactly `len` bytes (60 ..= 65535+14),
/// UDP ports chosen by `flow` (so multi-queue hashing spreads flows), the
/// payload starting with `seq` (big endian) then a fixed pattern.
pub fn udp_frame(len: usize, flow: u16, seq: u64) -> Vec<u8> {
    let len = len.max(60);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&DST_MAC);
    f[6..12].copy_from_slice(&SRC_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&SRC_IP);
        ip[16..20].copy_from_slice(&DST_IP);
        let c = finish(ones_sum(ip, 0));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let udp_len = ip_len - 20;
    f[34..36].copy_from_slice(&(10_000 + flow).to_be_bytes());
    f[36..38].copy_from_slice(&(20_000u16.wrapping_add(flow)).to_be_bytes());
    f[38..40].copy_from_slice(&udp_len.to_be_bytes());
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    if f.len() >= 50 {
        f[42..50].copy_from_slice(&seq.to_be_bytes());
    }
    let mut acc = ones_sum(&SRC_IP, 0);
    acc = ones_sum(&DST_IP, acc);
    acc += 17 + u32::from(udp_len);
    acc = ones_sum(&f[34..14 + usize::from(ip_len)], acc);
    let c = match finish(acc) {
        0 => 0xffff,
        c => c,
    };
    f[40..42].copy_from_slice(&c.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frames_have_valid_checksums_and_sizes() {
        for len in [60, 64, 1514, 9000] {
            let f = udp_frame(len, 7, 42);
            assert_eq!(f.len(), len);
            assert_eq!(finish(ones_sum(&f[14..34], 0)), 0, "IPv4 header checksum");
            let udp_len = u16::from_be_bytes([f[38], f[39]]) as usize;
            let mut acc = ones_sum(&f[26..34], 0) + 17 + udp_len as u32;
            acc = ones_sum(&f[34..34 + udp_len], acc);
            assert_eq!(finish(acc), 0, "UDP checksum over pseudo header");
            assert_eq!(u64::from_be_bytes(f[42..50].try_into().unwrap()), 42);
        }
    }
}
