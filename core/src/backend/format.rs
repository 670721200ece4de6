//! [`FrameFormat`]: what a queue fd carries in front of and as each frame,
//! which both prep modules and every backend need to agree on.

use crate::wire::packet_info::PI_LEN;
use crate::wire::{Framing, VnetHdrLen};

/// The layout of every read and write on a queue fd:
/// `[packet information][virtio-net header][frame]`, each prefix present
/// or not by the device's settings, the frame Ethernet or IP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameFormat {
    /// What the frame starts with (TAP: Ethernet; TUN: the IP header).
    pub framing: Framing,
    /// The device was opened without `IFF_NO_PI`: the kernel's 4-byte
    /// `struct tun_pi` comes first.
    pub packet_info: bool,
    /// The virtio-net header after the packet information.
    pub vnet_hdr_len: VnetHdrLen,
}

impl FrameFormat {
    /// A TAP device's format: Ethernet frames, no packet information.
    pub const fn tap(vnet_hdr_len: VnetHdrLen) -> FrameFormat {
        FrameFormat {
            framing: Framing::Ethernet,
            packet_info: false,
            vnet_hdr_len,
        }
    }

    /// Bytes of the packet information prefix: 4 or 0.
    pub const fn pi_len(&self) -> usize {
        if self.packet_info { PI_LEN } else { 0 }
    }

    /// Bytes in front of the frame on the fd: packet information plus
    /// virtio-net header (where reads start before the data, and what a
    /// write prepends in the headroom).
    pub const fn prefix_len(&self) -> usize {
        self.pi_len() + self.vnet_hdr_len.len()
    }
}
