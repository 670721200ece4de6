//! The virtio-net header codec target.

use tapring_core::wire::vnet::{self, VnetError, VnetHdrLen};
use tapring_core::{Checksum, Offload};

use super::check_message;
use super::input::{Input, offload_of};

/// Bytes in front of the header: the frame length.
pub(super) const FRAME_START: usize = 2;

/// The header lengths the codec takes.
const LENS: [VnetHdrLen; 3] = [VnetHdrLen::None, VnetHdrLen::Short, VnetHdrLen::Mergeable];

/// Fuzzes the virtio-net header codec ([`tapring_core::wire::vnet`]).
///
/// Input: `[frame_len: u16 LE][header bytes...]`. Checks:
///
/// * [`vnet::decode`] of the header bytes never panics; a header shorter
///   than 10 bytes is [`VnetError::BufferTooShort`]; every error has a
///   message.
/// * Whatever decodes passes [`vnet::check_rx`], is the offload the bytes
///   spell field by field, and re-encodes ([`vnet::encode_rx`], 10- and
///   12-byte forms) to the same ten bytes (`num_buffers` 0), which decode
///   to the same [`Offload`].
/// * The offload the bytes spell field by field, valid or not, through
///   [`vnet::encode`] and [`vnet::encode_rx`] for every header length and
///   buffers one byte short, exact and long: an error writes nothing; a
///   success writes exactly the header length, only when the check
///   ([`vnet::check_tx`] / [`vnet::check_rx`]) accepts it, and decodes back
///   to the same offload. Everything Tx accepts Rx accepts, with the same
///   bytes.
pub fn vnet_codec(data: &[u8]) {
    let mut input = Input(data);
    let frame_len = usize::from(input.u16());
    let hdr = input.rest();

    match vnet::decode(hdr, frame_len) {
        Ok(off) => {
            assert!(hdr.len() >= 10);
            assert_eq!(vnet::check_rx(&off, frame_len), Ok(()), "{off:?}");
            assert_eq!(offload_of(hdr), off, "decode disagrees with the fields");
            for len in [VnetHdrLen::Short, VnetHdrLen::Mergeable] {
                let mut out = [0xa5u8; 12];
                let n = vnet::encode_rx(&off, frame_len, len, &mut out)
                    .unwrap_or_else(|e| panic!("{off:?} decoded but does not re-encode: {e}"));
                assert_eq!(n, len.len());
                assert_eq!(out[..10], hdr[..10], "re-encoded {off:?} differs");
                if len == VnetHdrLen::Mergeable {
                    assert_eq!(out[10..12], [0, 0], "num_buffers");
                }
                assert_eq!(vnet::decode(&out[..n], frame_len), Ok(off));
            }
        }
        Err(e) => {
            check_message(&e);
            if hdr.len() < 10 {
                assert_eq!(
                    e,
                    VnetError::BufferTooShort {
                        needed: 10,
                        got: hdr.len()
                    }
                );
            }
        }
    }

    let off = offload_of(hdr);
    let tx_ok = vnet::check_tx(&off, frame_len);
    let rx_ok = vnet::check_rx(&off, frame_len);
    if tx_ok.is_ok() {
        assert_eq!(rx_ok, Ok(()), "Tx accepts {off:?} but Rx does not");
    }
    if let Err(e) = tx_ok {
        check_message(&e);
    }
    for len in LENS {
        for room in [len.len().saturating_sub(1), len.len(), 16] {
            let tx = encode_checked(&off, frame_len, len, room, vnet::encode, tx_ok);
            let rx = encode_checked(&off, frame_len, len, room, vnet::encode_rx, rx_ok);
            if let Some(tx) = tx {
                assert_eq!(rx, Some(tx), "Tx and Rx encode {off:?} differently");
            }
        }
    }
    assert!(VnetHdrLen::try_from(frame_len).is_ok() == matches!(frame_len, 0 | 10 | 12));
}

type Encoder = fn(&Offload, usize, VnetHdrLen, &mut [u8]) -> Result<usize, VnetError>;

/// Encodes `off` into a `room`-byte buffer with `encode` and checks the
/// outcome against `check` (the encoder's rule set); returns the header
/// written, if any.
fn encode_checked(
    off: &Offload,
    frame_len: usize,
    len: VnetHdrLen,
    room: usize,
    encode: Encoder,
    check: Result<(), VnetError>,
) -> Option<[u8; 16]> {
    let mut out = [0xa5u8; 16];
    match encode(off, frame_len, len, &mut out[..room]) {
        Err(e) => {
            check_message(&e);
            assert_eq!(out, [0xa5; 16], "{e:?}: written on error");
            let fits = room >= len.len();
            let carried = !len.is_empty() || off.is_none();
            assert!(
                !fits || check.is_err() || !carried,
                "{off:?} ({len:?}, {room} bytes) passes its check but fails: {e:?}"
            );
            None
        }
        Ok(n) => {
            assert_eq!(n, len.len());
            assert!(room >= n);
            assert_eq!(check, Ok(()), "{off:?} encoded but fails its check");
            assert!(
                out[n..].iter().all(|&b| b == 0xa5),
                "written past the header"
            );
            if len.is_empty() {
                assert!(off.is_none(), "{off:?} encoded without a header");
            } else {
                assert_eq!(out[10..n], [0; 2][..n - 10], "num_buffers");
                let back = vnet::decode(&out[..n], frame_len)
                    .unwrap_or_else(|e| panic!("{off:?} encoded but does not decode: {e}"));
                assert_eq!(back, *off, "encode/decode round trip");
                if let Checksum::Partial { start, offset } = off.csum {
                    assert!(usize::from(start) + usize::from(offset) + 2 <= frame_len);
                }
            }
            Some(out)
        }
    }
}
