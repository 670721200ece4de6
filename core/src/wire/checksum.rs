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

use crate::packet::Pkt;

/// Adds the 16-bit big-endian words of `bytes` to the running sum `sum`
/// (an odd final byte counts as its word's high byte). Does not fold; the
/// unfolded value is congruent modulo 0xffff to the plain word sum, not
/// equal to it, so only [`fold`] (or [`finish`]) of a running sum means
/// anything.
///
/// The bulk is summed as native-endian 32-bit words, which the compiler
/// turns into wide vector adds: a 32-bit word is congruent to the sum of
/// its two 16-bit halves modulo 0xffff, and a sum taken in the other byte
/// order is the byte-swapped sum (RFC 1071 section 2(B)), so the folded
/// result is swapped back once. Packet checksums in software (GSO
/// segments, GRO checks, finished partial checksums) spend their time here.
pub fn add(sum: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(4);
    // 2^32 words of up to 2^32 - 1 each fit a u64: any slice is safe.
    let wide: u64 = words
        .by_ref()
        .map(|w| u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    let folded = fold(wide);
    let mut sum = sum
        + u64::from(if cfg!(target_endian = "little") {
            folded.swap_bytes()
        } else {
            folded
        });
    // The remainder starts at an even offset (a multiple of 4).
    let mut rest = words.remainder().chunks_exact(2);
    for w in rest.by_ref() {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The running sum of `pkt`'s bytes from offset `start` (counted over the
/// whole chain) to its end, words counted from `start`. Not folded.
///
/// Segments of a chain may have odd lengths, so a segment's bytes can
/// start in the middle of a 16-bit word: summed as if aligned, such a
/// piece's folded sum is byte-swapped (RFC 1071 section 2(B), as
/// `csum_block_add` does in Linux).
pub fn add_packet(sum: u64, pkt: &Pkt, start: usize) -> u64 {
    let mut sum = sum;
    let mut seg_start = 0usize;
    for seg in pkt.segments() {
        let seg_end = seg_start.saturating_add(seg.len());
        if seg_end > start {
            let skip = start.saturating_sub(seg_start);
            let bytes = seg.get(skip..).unwrap_or(&[]);
            let at = seg_start.saturating_add(skip) - start;
            sum = if at.is_multiple_of(2) {
                add(sum, bytes)
            } else {
                add_word(sum, fold(add(0, bytes)).swap_bytes())
            };
        }
        seg_start = seg_end;
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
        assert_eq!(fold(add(0, &bytes)), 0xddf2);
        assert_eq!(checksum(&bytes), 0x220d);
    }

    #[test]
    fn odd_length_pads_with_zero_and_pieces_add_up() {
        assert_eq!(add(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        let bytes: [u8; 1001] = core::array::from_fn(|i| (i * 37 % 256) as u8);
        let whole = fold(add(0, &bytes));
        // Pieces of even length add up to the whole, at any split.
        for split in (0..=1000).step_by(2) {
            assert_eq!(fold(add(add(0, &bytes[..split]), &bytes[split..])), whole);
        }
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0xffff), 0xffff);
    }

    /// The plain definition: 16-bit big-endian words, one at a time.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum = 0u64;
        for w in bytes.chunks(2) {
            sum += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        fold(sum)
    }

    #[test]
    fn wide_sums_equal_the_word_by_word_definition() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in (0..200).chain([1499, 1500, 1514, 9000, 65_535]) {
            let bytes: std::vec::Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(fold(add(0, &bytes)), reference(&bytes), "{len} bytes");
            assert_eq!(
                fold(add(0xfffe, &bytes)),
                fold(0xfffe + u64::from(reference(&bytes)))
            );
        }
        assert_eq!(fold(add(0, &[0xff; 65_536])), 0xffff);
        assert_eq!(fold(add(0, &[0; 100])), 0);
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
