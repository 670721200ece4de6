//! # tapring-device
//!
//! TAP device control for tapring: create or attach a Linux TAP interface
//! (single- or multi-queue, with or without a virtio-net header and
//! offloads, persistent or not) and manage it: MTU, MAC, up/down,
//! promiscuous and all-multicast modes, owner and group, counters. Both
//! data paths (`tapring-rw`, `tapring-uring`) open their devices here.
//!
//! The same type opens TUN devices (`mode` = [`DeviceMode::Tun`]: IP packets
//! with no Ethernet header, for VPNs and userspace IP stacks), with or
//! without the kernel's packet-information prefix (`packet_info`), with
//! the same queues, vnet header and offloads; a TUN device has no MAC:
//!
//! ```no_run
//! use tapring_device::{DeviceMode, TapConfig, TapDevice};
//!
//! # fn main() -> Result<(), tapring_device::DeviceError> {
//! let tun = TapDevice::open(&TapConfig::named("tun%d").mode(DeviceMode::Tun).up(true))?;
//! assert_eq!(tun.mode(), DeviceMode::Tun);
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! use tapring_device::{Offloads, TapConfig, TapDevice, VnetHdrLen};
//!
//! # fn main() -> Result<(), tapring_device::DeviceError> {
//! let config = TapConfig::named("tap%d")
//!     .queues(2)
//!     .vnet_hdr(VnetHdrLen::Mergeable)
//!     .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)
//!     .mtu(Some(9000))
//!     .up(true);
//! let tap = TapDevice::open(&config)?;
//! println!("{} (ifindex {}) with {} queues", tap.name(), tap.ifindex(), tap.num_queues());
//! let rx_fd = tap.queue_fd(0); // read/write frames, each after a 12-byte header
//! # let _ = rx_fd;
//! tap.set_promisc(true)?;
//! println!("{:?}", tap.kernel_counters()?);
//! # Ok(()) }
//! ```
//!
//! Capabilities: creating a device needs CAP_NET_ADMIN; attaching to a
//! persistent device needs it too unless the caller is the device's owner
//! or in its group. [`probe()`] reports what the running kernel and process
//! allow.
//!
//! A non-persistent device can linger a moment after its last fd closes
//! (for example while io_uring tears down); opening the same name at once
//! may then fail with [`DeviceError::NameBusy`]. Use fresh names where that
//! matters ([`unique_name`]).
//!
//! [`link`] has link-layer tools for any interface (an `AF_PACKET` socket,
//! the kernel's offload features). All `unsafe` code is in one private
//! module of ioctl and socket wrappers.

#![deny(unsafe_code)]

mod claims;
mod config;
mod counters;
mod device;
mod error;
mod ifname;
pub mod link;
mod netlink;
mod probe;
#[allow(unsafe_code)] // the one module allowed to: ioctls, each with a SAFETY comment
mod sys;
mod wait;

// For backend crates: which queues were taken (not part of the user API).
#[doc(hidden)]
pub use claims::{ClaimError, QueueClaims};
pub use config::{
    Attach, DeviceMode, KERNEL_MAX_QUEUES, MAX_QUEUES, MacAddr, Offloads, ParseDeviceModeError,
    ParseMacError, TapConfig, VnetHdrLen,
};
pub use counters::KernelCounters;
pub use device::TapDevice;
pub use error::{DeviceError, NetnsDenied};
pub use ifname::{MAX_NAME_LEN, interface_exists, unique_name};
pub use probe::{TUN_PATH, TapProbe, has_cap_net_admin, has_capability, probe};
pub use wait::{MAX_WAIT_SET, ReadySet, wait_ready};
