//! Reading control fields off the front of a fuzz input: every read
//! succeeds (zeros once the input is used up), so every input means
//! something.

use tapring_core::{Checksum, Gso, GsoKind, Offload};

/// The unread rest of an input.
pub(super) struct Input<'a>(pub(super) &'a [u8]);

impl<'a> Input<'a> {
    /// The next byte, or 0.
    pub(super) fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next two bytes as a little-endian `u16` (missing bytes are 0).
    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// What is left.
    pub(super) fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// An [`Offload`] from the ten bytes of a virtio-net header taken field
/// by field, without the codec's checks: `flags % 3` picks the checksum
/// (none, partial, valid); `gso_type & 0x7f` the GSO kind by its virtio
/// value (0 none, 1 TCPv4, 3 UFO, 4 TCPv6, 5 USO; any other value picks
/// one of the four by its remainder modulo 4), bit 0x80 ECN. A header that
/// [`decode`](tapring_core::wire::vnet::decode) accepts gives exactly the
/// offload it decodes to.
pub(super) fn offload_of(hdr: &[u8]) -> Offload {
    let mut i = Input(hdr);
    let (flags, gso_type) = (i.u8(), i.u8());
    let (hdr_len, size, start, offset) = (i.u16(), i.u16(), i.u16(), i.u16());
    let csum = match flags % 3 {
        0 => Checksum::None,
        1 => Checksum::Partial { start, offset },
        _ => Checksum::Valid,
    };
    const KINDS: [GsoKind; 4] = [GsoKind::Tcpv4, GsoKind::Tcpv6, GsoKind::Udp, GsoKind::UdpL4];
    let kind = match gso_type & 0x7f {
        0 => None,
        v => GsoKind::from_vnet_type(v).or(Some(KINDS[usize::from(v) % 4])),
    };
    Offload {
        csum,
        gso: kind.map(|kind| Gso {
            kind,
            size,
            hdr_len,
            ecn: gso_type & 0x80 != 0,
        }),
    }
}
