//! What to open: [`TapConfig`] and its parts ([`DeviceMode`], [`VnetHdrLen`],
//! [`Offloads`], [`MacAddr`]).

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use crate::error::DeviceError;
use crate::ifname;

/// Most queues one device can have (the kernel's `MAX_TAP_QUEUES`).
pub const KERNEL_MAX_QUEUES: usize = 256;

/// Most queues [`TapDevice::open`](crate::TapDevice::open) attaches to one
/// multi-queue device: the kernel's limit minus the detached keep-alive fd.
pub const MAX_QUEUES: usize = KERNEL_MAX_QUEUES - 1;

/// The virtio-net header prepended to every frame on the queue fds: core's
/// one type for its length.
pub use tapring_core::VnetHdrLen;

bitflags::bitflags! {
    /// The TUN_F_* offload mask given to TUNSETOFFLOAD: which offloaded frames
    /// the application accepts from the kernel (it may always send them).
    ///
    /// The kernel's rules, checked by [`Offloads::check`]: every flag needs
    /// [`Offloads::CSUM`]; [`Offloads::TSO_ECN`] needs TSO4 or TSO6;
    /// [`Offloads::USO4`] and [`Offloads::USO6`] go together. [`Offloads::UFO`]
    /// is accepted and ignored by kernels since 4.14.
    #[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
    pub struct Offloads: u32 {
        /// Partial checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM).
        const CSUM = libc::TUN_F_CSUM;
        /// TCPv4 segmentation offload.
        const TSO4 = libc::TUN_F_TSO4;
        /// TCPv6 segmentation offload.
        const TSO6 = libc::TUN_F_TSO6;
        /// TSO with the ECN bit.
        const TSO_ECN = libc::TUN_F_TSO_ECN;
        /// UDP fragmentation offload (obsolete: accepted, ignored).
        const UFO = libc::TUN_F_UFO;
        /// UDPv4 segmentation offload (kernel 6.2+, with USO6).
        const USO4 = libc::TUN_F_USO4;
        /// UDPv6 segmentation offload (kernel 6.2+, with USO4).
        const USO6 = libc::TUN_F_USO6;
    }
}

impl Offloads {
    /// No offloads: the kernel hands over only complete, checksummed frames.
    pub const NONE: Offloads = Offloads::empty();

    /// Whether the kernel may hand over coalesced (GSO) frames of up to
    /// 64 KiB: any segmentation offload is accepted.
    pub const fn allows_gso_rx(self) -> bool {
        self.bits()
            & (libc::TUN_F_TSO4
                | libc::TUN_F_TSO6
                | libc::TUN_F_UFO
                | libc::TUN_F_USO4
                | libc::TUN_F_USO6)
            != 0
    }

    /// Checks that one received frame fits in `room` bytes of data (one
    /// buffer's data room, times the segments a read may span): with a
    /// segmentation offload the kernel hands over frames up to
    /// [`MAX_FRAME`](tapring_core::packet::MAX_FRAME) bytes, which would
    /// otherwise all be cut and dropped as truncated.
    pub fn check_rx_room(self, room: usize) -> Result<(), DeviceError> {
        let need = tapring_core::packet::MAX_FRAME as usize + 1;
        if self.allows_gso_rx() && room < need {
            return Err(DeviceError::BuffersTooSmallForOffloads {
                offloads: self,
                room,
                need,
            });
        }
        Ok(())
    }

    /// Checks the kernel's dependency rules (see the type's docs), without
    /// a syscall.
    pub fn check(self) -> Result<(), &'static str> {
        if self.is_empty() {
            return Ok(());
        }
        if !self.contains(Offloads::CSUM) {
            return Err("every offload needs CSUM");
        }
        if self.contains(Offloads::TSO_ECN)
            && !self.contains(Offloads::TSO4)
            && !self.contains(Offloads::TSO6)
        {
            return Err("TSO_ECN needs TSO4 or TSO6");
        }
        if self.contains(Offloads::USO4) != self.contains(Offloads::USO6) {
            return Err("USO4 and USO6 must be set together");
        }
        Ok(())
    }
}

impl fmt::Display for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut first = true;
        for (name, _) in self.iter_names() {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Offloads({self})")
    }
}

/// An Ethernet (EUI-48) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A random, locally administered, unicast address (from /dev/urandom).
    pub fn random_local() -> std::io::Result<MacAddr> {
        let mut bytes = [0u8; 6];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        bytes[0] = (bytes[0] & !0x01) | 0x02;
        Ok(MacAddr(bytes))
    }

    /// Whether this is a usable unicast address: the group bit is clear and
    /// it is not all zero.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 0x01 == 0 && self.0 != [0; 6]
    }

    /// Whether the locally administered bit is set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// The error of parsing a [`MacAddr`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a MAC address like 02:00:00:00:00:01")]
pub struct ParseMacError;

impl FromStr for MacAddr {
    type Err = ParseMacError;
    fn from_str(s: &str) -> Result<MacAddr, ParseMacError> {
        let mut bytes = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut bytes {
            let part = parts.next().ok_or(ParseMacError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError)?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError);
        }
        Ok(MacAddr(bytes))
    }
}

/// Which kind of device: a TAP (layer 2, Ethernet frames) or a TUN (layer 3,
/// IP packets with no link-layer header).
///
/// Everything else in [`TapConfig`] (queues, multi-queue, vnet header and
/// offloads, MTU, up/down, persist) applies to both; a TUN device has no
/// MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeviceMode {
    /// `IFF_TAP`: Ethernet frames ([`Framing::Ethernet`](tapring_core::Framing::Ethernet)).
    #[default]
    Tap,
    /// `IFF_TUN`: IPv4/IPv6 packets from their first byte
    /// ([`Framing::Ip`](tapring_core::Framing::Ip)), for VPNs, tunnels and
    /// userspace IP stacks.
    Tun,
}

impl DeviceMode {
    /// What the device's frames start with.
    pub const fn framing(self) -> tapring_core::Framing {
        match self {
            DeviceMode::Tap => tapring_core::Framing::Ethernet,
            DeviceMode::Tun => tapring_core::Framing::Ip,
        }
    }

    /// The name: `"tap"` or `"tun"` (as `ip tuntap` spells it).
    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceMode::Tap => "tap",
            DeviceMode::Tun => "tun",
        }
    }

    /// The TUNSETIFF type flag.
    pub(crate) const fn iff_flag(self) -> libc::c_int {
        match self {
            DeviceMode::Tap => libc::IFF_TAP,
            DeviceMode::Tun => libc::IFF_TUN,
        }
    }
}

impl fmt::Display for DeviceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`DeviceMode`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device mode {0:?}: use \"tap\" (Ethernet frames) or \"tun\" (IP packets)")]
pub struct ParseDeviceModeError(pub String);

impl FromStr for DeviceMode {
    type Err = ParseDeviceModeError;
    fn from_str(s: &str) -> Result<DeviceMode, ParseDeviceModeError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tap" => Ok(DeviceMode::Tap),
            "tun" => Ok(DeviceMode::Tun),
            _ => Err(ParseDeviceModeError(s.to_owned())),
        }
    }
}

/// What [`TapDevice::open`](crate::TapDevice::open) does when a device of
/// the name asked for exists already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Attach {
    /// Fail with [`DeviceError::Exists`]: only a new device is opened.
    #[default]
    Never,
    /// Attach to it (a persistent device, say), or create it when there is
    /// none. A device another user has queues attached to also needs
    /// [`TapConfig::share`].
    IfExists,
    /// Only attach; fail with [`DeviceError::NotFound`] when there is none.
    Only,
}

/// How to open a TAP (or TUN) device.
///
/// `TapConfig::default()` creates a new single-queue TAP device named by the
/// kernel from the template `tap%d`, without packet information, vnet
/// header or offloads, not persistent, with a random locally administered
/// MAC, the kernel's default MTU, and down. With `mode` =
/// [`DeviceMode::Tun`] it is a TUN device instead (no MAC; name it, or use a
/// template such as `tun%d`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TapConfig {
    /// The interface name, or a template with one `%d` the kernel numbers.
    pub name: String,
    /// TAP (Ethernet frames, the default) or TUN (IP packets).
    pub mode: DeviceMode,
    /// Open without `IFF_NO_PI`: the kernel puts its 4-byte packet
    /// information (`struct tun_pi`: flags, protocol) in front of every
    /// packet on the queue fds. The data paths add and strip it; their
    /// users never see it. Default `false` (`IFF_NO_PI`).
    pub packet_info: bool,
    /// Number of queue fds (1..=[`MAX_QUEUES`]); more than one implies
    /// multi-queue.
    pub queues: usize,
    /// Use IFF_MULTI_QUEUE even with one queue (so more queues can attach
    /// later).
    pub multi_queue: bool,
    /// The virtio-net header on every frame.
    pub vnet_hdr: VnetHdrLen,
    /// Exactly the offloads to accept (needs a vnet header when not empty).
    pub offloads: Offloads,
    /// Make the device persistent. `false` leaves an existing device's
    /// persist flag as it is; see [`TapDevice::set_persist`](crate::TapDevice::set_persist).
    pub persist: bool,
    /// What to do when a device of this name exists already (default
    /// [`Attach::Never`]: an error, so that a second program or a typo never
    /// takes over somebody's device).
    pub attach: Attach,
    /// Attach even when another user has queues attached to the device
    /// (multi-queue): the kernel then spreads the device's traffic over
    /// everybody's queues. Only with the settings already in force: a
    /// device-wide setting that differs is [`DeviceError::SettingDiffers`].
    pub share: bool,
    /// The MAC address. `None`: a random locally administered unicast
    /// address for a TAP device we create; an existing device keeps its
    /// own. Must be `None` in TUN mode (a TUN device has no MAC).
    pub mac: Option<MacAddr>,
    /// The MTU. `None` keeps the device's.
    pub mtu: Option<u32>,
    /// Bring the interface up (IFF_UP) after configuring it.
    pub up: bool,
}

/// Setters, one per field: `TapConfig` is `#[non_exhaustive]` (new fields may
/// come), so other crates build one from a constructor and chain these.
impl TapConfig {
    /// With [`TapConfig::name`] set to `name`.
    pub fn name(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    /// With [`TapConfig::mode`] set to `mode`.
    pub fn mode(mut self, mode: DeviceMode) -> Self {
        self.mode = mode;
        self
    }

    /// With [`TapConfig::packet_info`] set to `packet_info`.
    pub fn packet_info(mut self, packet_info: bool) -> Self {
        self.packet_info = packet_info;
        self
    }

    /// With [`TapConfig::queues`] set to `queues`.
    pub fn queues(mut self, queues: usize) -> Self {
        self.queues = queues;
        self
    }

    /// With [`TapConfig::multi_queue`] set to `multi_queue`.
    pub fn multi_queue(mut self, multi_queue: bool) -> Self {
        self.multi_queue = multi_queue;
        self
    }

    /// With [`TapConfig::vnet_hdr`] set to `vnet_hdr`.
    pub fn vnet_hdr(mut self, vnet_hdr: VnetHdrLen) -> Self {
        self.vnet_hdr = vnet_hdr;
        self
    }

    /// With [`TapConfig::offloads`] set to `offloads`.
    pub fn offloads(mut self, offloads: Offloads) -> Self {
        self.offloads = offloads;
        self
    }

    /// With [`TapConfig::persist`] set to `persist`.
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = persist;
        self
    }

    /// With [`TapConfig::attach`] set to `attach`.
    pub fn attach(mut self, attach: Attach) -> Self {
        self.attach = attach;
        self
    }

    /// With [`TapConfig::share`] set to `share`.
    pub fn share(mut self, share: bool) -> Self {
        self.share = share;
        self
    }

    /// With [`TapConfig::mac`] set to `mac`.
    pub fn mac(mut self, mac: Option<MacAddr>) -> Self {
        self.mac = mac;
        self
    }

    /// With [`TapConfig::mtu`] set to `mtu`.
    pub fn mtu(mut self, mtu: Option<u32>) -> Self {
        self.mtu = mtu;
        self
    }

    /// With [`TapConfig::up`] set to `up`.
    pub fn up(mut self, up: bool) -> Self {
        self.up = up;
        self
    }
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig {
            name: "tap%d".to_owned(),
            mode: DeviceMode::Tap,
            packet_info: false,
            queues: 1,
            multi_queue: false,
            vnet_hdr: VnetHdrLen::None,
            offloads: Offloads::NONE,
            persist: false,
            attach: Attach::Never,
            share: false,
            mac: None,
            mtu: None,
            up: false,
        }
    }
}

impl TapConfig {
    /// The default configuration with the interface name (or template)
    /// `name`.
    pub fn named(name: impl Into<String>) -> Self {
        TapConfig {
            name: name.into(),
            ..TapConfig::default()
        }
    }

    /// Whether the device is opened with IFF_MULTI_QUEUE.
    pub fn is_multi_queue(&self) -> bool {
        self.multi_queue || self.queues > 1
    }

    /// Checks everything that can be checked without a syscall: the name,
    /// the queue count, offloads against the vnet header, the MAC.
    pub fn validate(&self) -> Result<(), DeviceError> {
        ifname::validate(&self.name)?;
        if self.attach != Attach::Never && ifname::is_template(&self.name) {
            return Err(DeviceError::InvalidConfig {
                reason: "attaching needs an exact name, not a %d template",
            });
        }
        let max = if self.is_multi_queue() { MAX_QUEUES } else { 1 };
        if self.queues == 0 || self.queues > MAX_QUEUES {
            return Err(DeviceError::QueueCount {
                requested: self.queues,
                max,
            });
        }
        if !self.offloads.is_empty() && self.vnet_hdr.is_empty() {
            return Err(DeviceError::InvalidConfig {
                reason: "offloads need a vnet header (vnet_hdr = Basic10 or MrgRxbuf12)",
            });
        }
        if let Err(reason) = self.offloads.check() {
            return Err(DeviceError::InvalidConfig { reason });
        }
        if self.mode == DeviceMode::Tun && self.mac.is_some() {
            return Err(DeviceError::InvalidConfig {
                reason: "a TUN device has no MAC address: leave mac = None in TUN mode (or use mode = DeviceMode::Tap)",
            });
        }
        if let Some(mac) = self.mac
            && !mac.is_unicast()
        {
            return Err(DeviceError::InvalidMac { mac });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offload_rules() {
        assert!(Offloads::NONE.check().is_ok());
        assert!(Offloads::TSO4.check().is_err());
        assert!((Offloads::CSUM | Offloads::TSO4).check().is_ok());
        assert!((Offloads::CSUM | Offloads::TSO_ECN).check().is_err());
        assert!((Offloads::CSUM | Offloads::USO4).check().is_err());
        assert!(
            (Offloads::CSUM | Offloads::USO4 | Offloads::USO6)
                .check()
                .is_ok()
        );
        assert_eq!((Offloads::CSUM | Offloads::TSO6).to_string(), "CSUM|TSO6");
        assert_eq!(Offloads::from_bits(0x80), None);
    }

    #[test]
    fn segmentation_offloads_need_room_for_64k_frames() {
        let standard = 2048;
        let large = tapring_core::PoolConfig::large(1).data_room as usize;
        // Checksum offload alone: frames stay within the MTU.
        assert!(Offloads::CSUM.check_rx_room(standard).is_ok());
        assert!(Offloads::NONE.check_rx_room(standard).is_ok());
        for gso in [
            Offloads::TSO4,
            Offloads::TSO6,
            Offloads::UFO,
            Offloads::USO4 | Offloads::USO6,
        ] {
            let o = Offloads::CSUM | gso;
            let e = o.check_rx_room(standard).expect_err("2 KiB is too small");
            assert!(
                matches!(
                    e,
                    DeviceError::BuffersTooSmallForOffloads { room: 2048, .. }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("PoolConfig::large"), "{e}");
            assert!(o.check_rx_room(large).is_ok(), "{o}: a large pool fits");
            // Chains of 2 KiB buffers fit when there are enough of them.
            assert!(o.check_rx_room(standard * 33).is_ok());
            assert!(o.check_rx_room(standard * 32).is_err());
        }
    }

    #[test]
    fn mac_roundtrip_and_random() {
        let mac: MacAddr = "02:ab:00:10:ff:01".parse().unwrap();
        assert_eq!(mac.to_string(), "02:ab:00:10:ff:01");
        assert!("02:ab:00:10:ff".parse::<MacAddr>().is_err());
        assert!("02:ab:00:10:ff:01:02".parse::<MacAddr>().is_err());
        let r = MacAddr::random_local().unwrap();
        assert!(r.is_unicast() && r.is_local());
    }

    #[test]
    fn config_checks_before_syscalls() {
        let queues0 = TapConfig {
            queues: 0,
            ..TapConfig::default()
        };
        assert!(matches!(
            queues0.validate(),
            Err(DeviceError::QueueCount { requested: 0, .. })
        ));
        let queues257 = TapConfig {
            queues: 257,
            ..TapConfig::default()
        };
        assert!(matches!(
            queues257.validate(),
            Err(DeviceError::QueueCount {
                requested: 257,
                max: MAX_QUEUES
            })
        ));
        let no_hdr = TapConfig {
            offloads: Offloads::CSUM,
            ..TapConfig::default()
        };
        assert!(matches!(
            no_hdr.validate(),
            Err(DeviceError::InvalidConfig { .. })
        ));
        let template_attach = TapConfig {
            attach: Attach::Only,
            ..TapConfig::default()
        };
        assert!(template_attach.validate().is_err());
        TapConfig::default().validate().unwrap();
        let tun_mac = TapConfig::named("tun0")
            .mode(DeviceMode::Tun)
            .mac(Some("02:00:00:00:00:01".parse().unwrap()));
        match tun_mac.validate() {
            Err(DeviceError::InvalidConfig { reason }) => {
                assert!(reason.contains("TUN device has no MAC"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        TapConfig::named("tun0")
            .mode(DeviceMode::Tun)
            .packet_info(true)
            .vnet_hdr(VnetHdrLen::Mergeable)
            .offloads(Offloads::CSUM | Offloads::TSO4)
            .validate()
            .unwrap();
    }

    #[test]
    fn device_mode_text_and_framing() {
        assert_eq!(DeviceMode::default(), DeviceMode::Tap);
        assert_eq!(TapConfig::default().mode, DeviceMode::Tap);
        assert!(!TapConfig::default().packet_info);
        for m in [DeviceMode::Tap, DeviceMode::Tun] {
            assert_eq!(m.to_string().parse::<DeviceMode>(), Ok(m));
        }
        assert_eq!("TUN".parse::<DeviceMode>(), Ok(DeviceMode::Tun));
        let e = "tunnel".parse::<DeviceMode>().unwrap_err();
        assert!(e.to_string().contains("\"tun\""), "{e}");
        assert_eq!(DeviceMode::Tun.framing(), tapring_core::Framing::Ip);
        assert_eq!(DeviceMode::Tap.framing(), tapring_core::Framing::Ethernet);
    }
}
