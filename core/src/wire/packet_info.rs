//! The packet-information prefix of a TUN/TAP device opened without
//! `IFF_NO_PI`: the kernel's 4-byte `struct tun_pi { u16 flags; be16
//! proto; }` in front of every packet (and in front of the virtio-net
//! header, when there is one), both ways.
//!
//! The backends add and strip it; users never see these bytes. On receive,
//! `flags` has [`TUN_PKT_STRIP`] when the kernel cut the packet to fit the
//! read; `proto` is the EtherType of the packet. On transmit, `proto` tells
//! the kernel what the packet is (for a TUN device it becomes the packet's
//! protocol; the kernel does not look at the packet to find out).
#![forbid(unsafe_code)]

/// Length of the prefix in bytes.
pub const PI_LEN: usize = 4;

/// `flags` bit the kernel sets on receive when the packet did not fit the
/// read and was cut (`TUN_PKT_STRIP`).
pub const TUN_PKT_STRIP: u16 = 0x0001;

/// EtherType of IPv4, the `proto` of an IPv4 packet.
pub const PROTO_IPV4: u16 = 0x0800;
/// EtherType of IPv6, the `proto` of an IPv6 packet.
pub const PROTO_IPV6: u16 = 0x86dd;

/// One decoded prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Flags, in host byte order as the kernel keeps them
    /// ([`TUN_PKT_STRIP`] is the one defined).
    pub flags: u16,
    /// The packet's EtherType (host order here; big endian on the wire).
    pub proto: u16,
}

impl PacketInfo {
    /// Decodes the first [`PI_LEN`] bytes of `bytes`; `None` if there are
    /// fewer.
    pub fn decode(bytes: &[u8]) -> Option<PacketInfo> {
        match bytes.get(..PI_LEN)? {
            &[f0, f1, p0, p1] => Some(PacketInfo {
                flags: u16::from_ne_bytes([f0, f1]),
                proto: u16::from_be_bytes([p0, p1]),
            }),
            _ => None,
        }
    }

    /// The prefix as the kernel reads it.
    pub fn encode(&self) -> [u8; PI_LEN] {
        let [f0, f1] = self.flags.to_ne_bytes();
        let [p0, p1] = self.proto.to_be_bytes();
        [f0, f1, p0, p1]
    }

    /// The prefix for an IP packet whose first byte is `first_byte`: `proto`
    /// from the version nibble (4: [`PROTO_IPV4`], 6: [`PROTO_IPV6`]), no
    /// flags; `None` for any other version (not an IP packet).
    pub fn for_ip_packet(first_byte: u8) -> Option<PacketInfo> {
        let proto = match first_byte >> 4 {
            4 => PROTO_IPV4,
            6 => PROTO_IPV6,
            _ => return None,
        };
        Some(PacketInfo { flags: 0, proto })
    }

    /// Whether the kernel cut the packet ([`TUN_PKT_STRIP`]).
    pub fn is_stripped(&self) -> bool {
        self.flags & TUN_PKT_STRIP != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_byte_order() {
        let pi = PacketInfo {
            flags: TUN_PKT_STRIP,
            proto: PROTO_IPV6,
        };
        let bytes = pi.encode();
        assert_eq!(&bytes[2..], &[0x86, 0xdd], "proto is big endian");
        assert_eq!(
            &bytes[..2],
            &TUN_PKT_STRIP.to_ne_bytes(),
            "flags host order"
        );
        assert_eq!(PacketInfo::decode(&bytes), Some(pi));
        assert!(pi.is_stripped());
        assert_eq!(PacketInfo::decode(&bytes[..3]), None);
        assert_eq!(PacketInfo::decode(&[]), None);
    }

    #[test]
    fn proto_from_the_version_nibble() {
        assert_eq!(
            PacketInfo::for_ip_packet(0x45).map(|p| p.proto),
            Some(PROTO_IPV4)
        );
        assert_eq!(
            PacketInfo::for_ip_packet(0x60).map(|p| p.proto),
            Some(PROTO_IPV6)
        );
        for b in [0x00, 0x15, 0x50, 0x70, 0xff] {
            assert_eq!(PacketInfo::for_ip_packet(b), None, "{b:#x}");
        }
        assert!(!PacketInfo::for_ip_packet(0x45).unwrap().is_stripped());
    }
}
