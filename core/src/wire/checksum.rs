//! The Internet checksum (RFC 1071): the one's-complement sum of 16-bit
//! big-endian words, folded to 16 bits and complemented, and the IPv4 /
//! IPv6 pseudo-header sums that TCP and UDP checksums start from.
//!
//! Sums are kept unfolded in a `u64`, so any number of pieces can be added
//! without overflow (a `u64` holds the sum of 2^48 words); fold once at the
//! end. Pieces must have even length except the last: an odd final byte is
//! padded with zero, as RFC 1071 says.
//!
//! ```
//! use tapring_core::wire::checksum;
//!
//! // RFC 1071, section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
//! let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum::fold(checksum::add(0, &bytes)), 0xddf2);
//! assert_eq!(checksum::checksum(&bytes), !0xddf2);
//! ```
#![forbid(unsafe_code)]

/// Adds the 16-bit big-endian words of `bytes` to the running sum `sum`
/// (an odd final byte counts as its word's high byte). Does not fold.
pub fn add(sum: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(2);
    let mut sum = words.by_ref().fold(sum, |acc, w| {
        acc + u64::from(u16::from_be_bytes([w[0], w[1]]))
    });
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Adds one 16-bit word to the running sum `sum`. Does not fold.
pub const fn add_word(sum: u64, word: u16) -> u64 {
    sum + word as u64
}

/// Folds a running sum to 16 bits (end-around carry), **not**
/// complemented: what a checksum field holds for a partial-checksum
/// request (see [`crate::wire::offload_request`]).
pub const fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Folds and complements a running sum: the value to store in a checksum
/// field. A receiver that sums the data with this field in place gets
/// `0xffff`.
pub const fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// The Internet checksum of `bytes`: `finish(add(0, bytes))`.
pub fn checksum(bytes: &[u8]) -> u16 {
    finish(add(0, bytes))
}

/// The running sum of the IPv4 pseudo header (RFC 793 / 768): source and
/// destination address, zero, `protocol` and the L4 length (header plus
/// payload).
pub fn pseudo_header_v4(src: &[u8; 4], dst: &[u8; 4], protocol: u8, l4_len: u16) -> u64 {
    let sum = add(add(0, src), dst);
    add_word(add_word(sum, u16::from(protocol)), l4_len)
}

/// The running sum of the IPv6 pseudo header (RFC 8200 section 8.1):
/// source and (final) destination address, the 32-bit L4 length, zero and
/// the next header value `protocol`.
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u64 {
    let sum = add(add(0, src), dst);
    let sum = add_word(sum, (l4_len >> 16) as u16);
    add_word(add_word(sum, l4_len as u16), u16::from(protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(add(0, &bytes), 0x2_ddf0);
        assert_eq!(fold(add(0, &bytes)), 0xddf2);
        assert_eq!(checksum(&bytes), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero_and_pieces_add_up() {
        assert_eq!(add(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        let bytes = [0xffu8; 1001];
        let whole = add(0, &bytes);
        assert_eq!(add(add(0, &bytes[..600]), &bytes[600..]), whole);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0xffff), 0xffff);
    }

    #[test]
    fn ipv4_header_with_its_checksum_sums_to_ffff() {
        // A real IPv4 header (checksum 0xb861 in bytes 10..12).
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(add(0, &hdr)), 0xffff);
        let mut zeroed = hdr;
        zeroed[10..12].fill(0);
        assert_eq!(checksum(&zeroed), 0xb861);
    }

    #[test]
    fn pseudo_headers_sum_their_fields() {
        let v4 = pseudo_header_v4(&[10, 0, 0, 1], &[10, 0, 0, 2], 6, 1220);
        assert_eq!(fold(v4), 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 1220);
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        src[15] = 1;
        dst[15] = 2;
        let v6 = pseudo_header_v6(&src, &dst, 17, 0x1_0004);
        assert_eq!(v6, 1 + 2 + 1 + 4 + 17);
    }
}
