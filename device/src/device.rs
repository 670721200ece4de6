//! [`TapDevice`]: an open TAP interface (its queue fds) and its control
//! operations.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::config::{Attach, DeviceMode, MAX_QUEUES, MacAddr, Offloads, TapConfig, VnetHdrLen};
use crate::counters::KernelCounters;
use crate::error::{DeviceError, NetnsDenied};
use crate::{ifname, netlink, sys};

/// The MTU range of a device in kernels without IFLA_MIN_MTU/MAX_MTU:
/// tun.c's `MIN_MTU` and `MAX_MTU - hard_header_len` (`ETH_HLEN` for a TAP,
/// 0 for a TUN).
const fn fallback_mtu_range(mode: DeviceMode) -> (u32, u32) {
    match mode {
        DeviceMode::Tap => (68, 65535 - 14),
        DeviceMode::Tun => (68, 65535),
    }
}

/// An open TAP (or TUN, see [`DeviceMode`]) device: one fd per queue, plus
/// the control operations.
///
/// Dropping it closes every fd; a device that is not persistent then
/// disappears (possibly a moment later, see the crate docs).
///
/// Control operations that go by interface name (MTU, MAC, flags)
/// first ask the fd for the device's current name (TUNGETIFF), then check
/// that this name still denotes our device in the caller's network
/// namespace; if not, they fail with [`DeviceError::DeviceGone`] while the
/// queue fds go on working. The counters are read wherever the device is
/// ([`TapDevice::kernel_counters`]).
#[derive(Debug)]
pub struct TapDevice {
    queues: Vec<OwnedFd>,
    /// Multi-queue only: a fd attached and then detached (TUNSETQUEUE
    /// IFF_DETACH_QUEUE). A detached queue still holds a reference to the
    /// device (the kernel counts it in `numdisabled`) but is never chosen
    /// for traffic, so the interface survives even when every data queue is
    /// closed and reopened, and no frames are lost to it.
    keep_alive: Option<OwnedFd>,
    name: String,
    ifindex: u32,
    mode: DeviceMode,
    packet_info: bool,
    vnet_hdr: VnetHdrLen,
    offloads: Offloads,
    multi_queue: bool,
}

/// Maps an error of opening `/dev/net/tun`.
fn open_error(errno: Errno) -> DeviceError {
    match errno {
        Errno::ENOENT | Errno::ENODEV | Errno::ENXIO => DeviceError::NoTunDevice,
        errno => DeviceError::from_errno("open /dev/net/tun", "", errno),
    }
}

/// Checks an existing interface `name` against what we are about to ask of
/// it, from its sysfs `tun_flags`: its kind (TUN or TAP) and multi-queue
/// flag must match (TUNSETIFF would fail with a bare EINVAL otherwise).
/// The packet-information and vnet-header flags are the attaching fd's to
/// set, not the device's to refuse.
fn check_existing(name: &str, mode: DeviceMode, multi_queue: bool) -> Result<i64, DeviceError> {
    let Some(flags) = sysfs_tun_flags(name) else {
        return Err(DeviceError::Incompatible {
            name: name.to_owned(),
            reason: "it is not a TUN/TAP device",
        });
    };
    let is_tap = flags & i64::from(libc::IFF_TAP) != 0;
    let is_tun = flags & i64::from(libc::IFF_TUN) != 0;
    match mode {
        DeviceMode::Tap if is_tun => {
            return Err(DeviceError::Incompatible {
                name: name.to_owned(),
                reason: "it is a TUN (layer 3) device, not TAP; set mode = DeviceMode::Tun to attach to it",
            });
        }
        DeviceMode::Tun if is_tap => {
            return Err(DeviceError::Incompatible {
                name: name.to_owned(),
                reason: "it is a TAP (layer 2) device, not TUN; set mode = DeviceMode::Tap to attach to it",
            });
        }
        _ => {}
    }
    let is_mq = flags & i64::from(libc::IFF_MULTI_QUEUE) != 0;
    if is_mq != multi_queue {
        return Err(DeviceError::Incompatible {
            name: name.to_owned(),
            reason: if is_mq {
                "it is multi-queue; set multi_queue = true"
            } else {
                "it is single-queue; use queues = 1 and multi_queue = false"
            },
        });
    }
    Ok(flags)
}

/// Refuses to attach to a device other users have queues on, unless
/// `config.share`; and then refuses every device-wide setting of `config`
/// that differs from what is in force (`flags` is the device's sysfs
/// `tun_flags`), before anything is changed. Returns whether the device
/// is shared (its settings must then be left alone).
fn check_sharing(config: &TapConfig, flags: i64) -> Result<bool, DeviceError> {
    let name = &config.name;
    if flags & i64::from(libc::IFF_MULTI_QUEUE) == 0 {
        // One queue, one user: the kernel refuses a second (NameBusy).
        return Ok(false);
    }
    let ifindex = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    // Detached queues count too: their owner (a VM manager parking
    // queues, say) relies on the device's settings as much as one whose
    // queues carry traffic. Kernels before 4.15 do not report the counts;
    // anything else that fails to answer is no proof of an idle device.
    let attached = match ifindex.map(netlink::tun_queues) {
        Some(Ok((attached, detached))) => attached + detached,
        Some(Err(nix::errno::Errno::EOPNOTSUPP)) => 0,
        _ if config.share => 1,
        _ => {
            return Err(DeviceError::InUse {
                name: name.clone(),
                queues: 0,
            });
        }
    };
    if attached == 0 {
        return Ok(false);
    }
    if !config.share {
        tracing::debug!(device = %name, queues = attached, "refused: in use by another user");
        return Err(DeviceError::InUse {
            name: name.clone(),
            queues: attached,
        });
    }
    let differs = |setting: &'static str, in_force: String, asked: String| {
        tracing::debug!(device = %name, setting, %in_force, %asked, "refused: shared, and a device-wide setting differs");
        Err(DeviceError::SettingDiffers {
            name: name.clone(),
            setting,
            in_force,
            asked,
        })
    };
    let pi_in_force = flags & i64::from(libc::IFF_NO_PI) == 0;
    if pi_in_force != config.packet_info {
        return differs(
            "packet_info",
            pi_in_force.to_string(),
            config.packet_info.to_string(),
        );
    }
    let vnet_in_force = flags & i64::from(libc::IFF_VNET_HDR) != 0;
    if vnet_in_force == config.vnet_hdr.is_empty() {
        return differs(
            "vnet_hdr",
            if vnet_in_force { "a header" } else { "none" }.into(),
            format!("{:?}", config.vnet_hdr),
        );
    }
    // The offload mask has no getter; the interface's features follow it
    // (checksum offload for CSUM, TSO for TSO4/TSO6).
    if let Ok(f) = crate::link::ethtool_features(name) {
        let asked_csum = config.offloads.contains(Offloads::CSUM);
        let asked_tso = config.offloads.intersects(Offloads::TSO4 | Offloads::TSO6);
        if (f.tx_checksum, f.tso) != (asked_csum, asked_tso) {
            return differs(
                "offloads",
                format!("checksum {}, TSO {}", onoff(f.tx_checksum), onoff(f.tso)),
                config.offloads.to_string(),
            );
        }
    }
    if config.persist && flags & i64::from(libc::IFF_PERSIST) == 0 {
        return differs("persist", "false".into(), "true".into());
    }
    Ok(true)
}

/// The device's `tun_flags` from sysfs (IFF_TUN/TAP, NO_PI, VNET_HDR, ...).
fn sysfs_tun_flags(name: &str) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/tun_flags")).ok()?;
    i64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

fn onoff(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

impl Drop for TapDevice {
    fn drop(&mut self) {
        tracing::debug!(device = %self.name, queues = self.queues.len(), "device closed");
    }
}

impl TapDevice {
    /// Creates or attaches the TAP (or TUN) device `config` describes and
    /// configures it.
    ///
    /// Steps: validate `config` (no syscall on error); open one fd per
    /// queue (`O_RDWR|O_NONBLOCK|O_CLOEXEC`) and TUNSETIFF each with
    /// `IFF_TAP` or `IFF_TUN` by `config.mode`, `IFF_NO_PI` unless
    /// `config.packet_info` (+ `IFF_MULTI_QUEUE`, `IFF_VNET_HDR`); for
    /// multi-queue, a detached keep-alive fd; TUNSETVNETHDRSZ; TUNSETOFFLOAD
    /// with exactly `config.offloads` (0 included: the mask is device-wide
    /// and survives re-attach); MAC (TAP only: a TAP we create gets a random
    /// one), MTU, up; persist last. On any error
    /// every fd is closed again, so a device we created (not yet
    /// persistent) goes away.
    pub fn open(config: &TapConfig) -> Result<TapDevice, DeviceError> {
        config.validate()?;
        let multi_queue = config.is_multi_queue();
        let existed = !ifname::is_template(&config.name) && ifname::interface_exists(&config.name);
        if config.attach == Attach::Only && !existed {
            return Err(DeviceError::NotFound {
                name: config.name.clone(),
            });
        }
        if existed && config.attach == Attach::Never {
            tracing::debug!(device = %config.name, "refused: exists and attaching was not asked for");
            return Err(DeviceError::Exists {
                name: config.name.clone(),
            });
        }
        let shared = if existed {
            let flags = check_existing(&config.name, config.mode, multi_queue)?;
            check_sharing(config, flags)?
        } else {
            false
        };

        let mut flags = config.mode.iff_flag();
        if !config.packet_info {
            flags |= libc::IFF_NO_PI;
        }
        if multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        if !config.vnet_hdr.is_empty() {
            flags |= libc::IFF_VNET_HDR;
        }
        let mut name = config.name.clone();
        let attach = |name: &str| -> Result<(OwnedFd, String), DeviceError> {
            let fd = sys::open_tun().map_err(open_error)?;
            let chosen =
                sys::tun_set_iff(fd.as_fd(), name, flags).map_err(|errno| match errno {
                    Errno::EBUSY => DeviceError::NameBusy {
                        name: name.to_owned(),
                    },
                    Errno::E2BIG => DeviceError::QueueCount {
                        requested: config.queues,
                        max: MAX_QUEUES,
                    },
                    Errno::EINVAL if existed => DeviceError::Incompatible {
                        name: name.to_owned(),
                        reason: "its TUN/TAP type or multi-queue flag differs",
                    },
                    errno => DeviceError::from_errno("TUNSETIFF", name, errno),
                })?;
            Ok((fd, chosen))
        };
        let mut queues = Vec::with_capacity(config.queues);
        for _ in 0..config.queues {
            let (fd, chosen) = attach(&name)?;
            // The first TUNSETIFF expands a template; the others attach to
            // the name it chose.
            name = chosen;
            queues.push(fd);
        }
        let keep_alive = if multi_queue {
            let (fd, _) = attach(&name)?;
            sys::tun_set_queue(fd.as_fd(), false)
                .map_err(|errno| DeviceError::from_errno("TUNSETQUEUE detach", &name, errno))?;
            Some(fd)
        } else {
            None
        };

        let control = queues[0].as_fd();
        // What the kernel made of the flags: it keeps some device-wide
        // settings of an existing device whatever the attaching fd asks.
        let (_, got) = sys::tun_get_iff(control)
            .map_err(|errno| DeviceError::from_errno("TUNGETIFF", &name, errno))?;
        let got_vnet = got & libc::IFF_VNET_HDR != 0;
        // TUNGETIFF reports IFF_NOFILTER where IFF_NO_PI was; sysfs has
        // the device's packet-information flag.
        if let Some(flags) = sysfs_tun_flags(&name) {
            let got_pi = flags & i64::from(libc::IFF_NO_PI) == 0;
            if got_pi != config.packet_info {
                return Err(DeviceError::SettingDiffers {
                    name,
                    setting: "packet_info",
                    in_force: got_pi.to_string(),
                    asked: config.packet_info.to_string(),
                });
            }
        }
        if got_vnet == config.vnet_hdr.is_empty() {
            return Err(DeviceError::SettingDiffers {
                name,
                setting: "vnet_hdr",
                in_force: if got_vnet { "a header" } else { "none" }.into(),
                asked: format!("{:?}", config.vnet_hdr),
            });
        }
        if shared {
            // Shared: its settings stay as they are; the header length
            // must be the one in force.
            if !config.vnet_hdr.is_empty() {
                let len = sys::tun_get_vnet_hdr_sz(control)
                    .map_err(|errno| DeviceError::from_errno("TUNGETVNETHDRSZ", &name, errno))?;
                if len != config.vnet_hdr.len() as libc::c_int {
                    return Err(DeviceError::SettingDiffers {
                        name,
                        setting: "vnet_hdr",
                        in_force: format!("{len} bytes"),
                        asked: format!("{} bytes", config.vnet_hdr.len()),
                    });
                }
            }
        } else {
            if !config.vnet_hdr.is_empty() {
                let len = config.vnet_hdr.len() as libc::c_int;
                sys::tun_set_vnet_hdr_sz(control, len)
                    .map_err(|errno| DeviceError::from_errno("TUNSETVNETHDRSZ", &name, errno))?;
            }
            sys::tun_set_offload(control, config.offloads.bits()).map_err(|errno| match errno {
                Errno::EINVAL => DeviceError::OffloadsRejected {
                    offloads: config.offloads,
                },
                errno => DeviceError::from_errno("TUNSETOFFLOAD", &name, errno),
            })?;
        }
        let sock = sys::control_socket().map_err(|errno| DeviceError::os("socket", errno))?;
        let ifindex = sys::if_get_index(sock.as_fd(), &name)
            .map_err(|errno| DeviceError::from_errno("SIOCGIFINDEX", &name, errno))?;

        let device = TapDevice {
            queues,
            keep_alive,
            name,
            ifindex,
            mode: config.mode,
            packet_info: config.packet_info,
            vnet_hdr: config.vnet_hdr,
            offloads: config.offloads,
            multi_queue,
        };
        let mac = match config.mac {
            Some(mac) => Some(mac),
            // A TUN device has no MAC (validate refused one above).
            None if config.mode == DeviceMode::Tun => None,
            None if !existed => Some(MacAddr::random_local().map_err(|e| DeviceError::Os {
                op: "read /dev/urandom",
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?),
            None => None,
        };
        if shared {
            // MAC and MTU are the device's too: leave them, or say so.
            if let Some(mac) = config.mac
                && device.mac()? != mac
            {
                return Err(DeviceError::SettingDiffers {
                    name: device.name.clone(),
                    setting: "mac",
                    in_force: device.mac()?.to_string(),
                    asked: mac.to_string(),
                });
            }
            if let Some(mtu) = config.mtu
                && device.mtu()? != mtu
            {
                return Err(DeviceError::SettingDiffers {
                    name: device.name.clone(),
                    setting: "mtu",
                    in_force: device.mtu()?.to_string(),
                    asked: mtu.to_string(),
                });
            }
        } else {
            if let Some(mac) = mac {
                device.set_mac(mac)?;
            }
            if let Some(mtu) = config.mtu {
                device.set_mtu(mtu)?;
            }
        }
        // Only when it is down: bringing a link up needs CAP_NET_ADMIN, which
        // the owner of a persistent device that is up already need not have.
        if config.up && !device.is_up()? {
            device.set_up(true)?;
        }
        if config.persist {
            device.set_persist(true)?;
        }
        tracing::info!(
            device = %device.name,
            mode = %config.mode,
            queues = config.queues,
            created = !existed,
            shared,
            vnet_hdr = device.vnet_hdr.len(),
            offloads = %config.offloads,
            "device opened"
        );
        Ok(device)
    }

    /// The interface name when the device was opened (the kernel's choice
    /// for a template). See [`TapDevice::current_name`] for renames.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index when the device was opened.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// TAP or TUN, as opened.
    pub fn mode(&self) -> DeviceMode {
        self.mode
    }

    /// What the frames on the queue fds start with: Ethernet (TAP) or the
    /// IP header (TUN).
    pub fn framing(&self) -> tapring_core::Framing {
        self.mode.framing()
    }

    /// Whether the kernel's 4-byte packet information precedes every packet
    /// on the queue fds (opened without `IFF_NO_PI`).
    pub fn packet_info(&self) -> bool {
        self.packet_info
    }

    /// The number of data queues (fds).
    pub fn num_queues(&self) -> usize {
        self.queues.len()
    }

    /// Whether the device is multi-queue (IFF_MULTI_QUEUE).
    pub fn is_multi_queue(&self) -> bool {
        self.multi_queue
    }

    /// The fd of queue `q`, for the data path (read/write frames).
    ///
    /// # Panics
    /// If `q >= self.num_queues()`.
    pub fn queue_fd(&self, q: usize) -> BorrowedFd<'_> {
        match self.queues.get(q) {
            Some(fd) => fd.as_fd(),
            None => panic!(
                "queue {q} out of range: the device has {} queues",
                self.queues.len()
            ),
        }
    }

    /// The vnet header configured at open: 0, 10 or 12 bytes.
    pub fn vnet_hdr_len(&self) -> usize {
        self.vnet_hdr.len()
    }

    /// The vnet header configured at open.
    pub fn vnet_hdr(&self) -> VnetHdrLen {
        self.vnet_hdr
    }

    /// The vnet header length the kernel uses (TUNGETVNETHDRSZ); meaningful
    /// only with a vnet header.
    pub fn kernel_vnet_hdr_len(&self) -> Result<usize, DeviceError> {
        let len = self
            .tun_ioctl(sys::tun_get_vnet_hdr_sz)
            .map_err(|errno| DeviceError::from_errno("TUNGETVNETHDRSZ", &self.name, errno))?;
        Ok(usize::try_from(len).unwrap_or(0))
    }

    /// The offload mask last set through this handle.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Sets the device-wide TUN_F_* mask to exactly `offloads`.
    pub fn set_offloads(&mut self, offloads: Offloads) -> Result<(), DeviceError> {
        if !offloads.is_empty() && self.vnet_hdr.is_empty() {
            return Err(DeviceError::InvalidConfig {
                reason: "offloads need a vnet header; reopen with vnet_hdr set",
            });
        }
        offloads
            .check()
            .map_err(|reason| DeviceError::InvalidConfig { reason })?;
        self.tun_ioctl(|fd| sys::tun_set_offload(fd, offloads.bits()))
            .map_err(|errno| match errno {
                Errno::EINVAL => DeviceError::OffloadsRejected { offloads },
                errno => DeviceError::from_errno("TUNSETOFFLOAD", &self.name, errno),
            })?;
        self.offloads = offloads;
        Ok(())
    }

    /// The device's current name, asked of the fd (TUNGETIFF): it changes
    /// when someone renames the interface.
    pub fn current_name(&self) -> Result<String, DeviceError> {
        self.tun_ioctl(sys::tun_get_iff)
            .map(|(name, _)| name)
            .map_err(|errno| DeviceError::from_errno("TUNGETIFF", &self.name, errno))
    }

    /// The device's TUN flags (IFF_TAP, IFF_MULTI_QUEUE, IFF_VNET_HDR,
    /// IFF_PERSIST, ...), asked of the fd. Bit 0x1000 here is the fd's
    /// IFF_NOFILTER (no socket filter attached), not IFF_NO_PI, which shares
    /// its value: use [`TapDevice::packet_info`] for that.
    pub fn tun_flags(&self) -> Result<u32, DeviceError> {
        self.tun_ioctl(sys::tun_get_iff)
            .map(|(_, flags)| flags as u32)
            .map_err(|errno| DeviceError::from_errno("TUNGETIFF", &self.name, errno))
    }

    /// Makes the device persistent (it outlives its fds) or not.
    pub fn set_persist(&self, persist: bool) -> Result<(), DeviceError> {
        self.tun_ioctl(|fd| sys::tun_set_persist(fd, persist))
            .map_err(|errno| DeviceError::from_errno("TUNSETPERSIST", &self.name, errno))
    }

    /// Lets user `uid` attach to the persistent device without
    /// CAP_NET_ADMIN.
    pub fn set_owner(&self, uid: u32) -> Result<(), DeviceError> {
        self.tun_ioctl(|fd| sys::tun_set_owner(fd, uid))
            .map_err(|errno| DeviceError::from_errno("TUNSETOWNER", &self.name, errno))
    }

    /// Lets group `gid` attach to the persistent device without
    /// CAP_NET_ADMIN.
    pub fn set_group(&self, gid: u32) -> Result<(), DeviceError> {
        self.tun_ioctl(|fd| sys::tun_set_group(fd, gid))
            .map_err(|errno| DeviceError::from_errno("TUNSETGROUP", &self.name, errno))
    }

    /// The MTU.
    pub fn mtu(&self) -> Result<u32, DeviceError> {
        let (sock, name) = self.locate()?;
        sys::if_get_mtu(sock.as_fd(), &name)
            .map_err(|errno| DeviceError::from_errno("SIOCGIFMTU", &name, errno))
    }

    /// The MTU range the kernel allows for this device (rtnetlink
    /// IFLA_MIN_MTU/IFLA_MAX_MTU; tun.c's 68..=65521 if the kernel does not
    /// say).
    pub fn mtu_range(&self) -> Result<(u32, u32), DeviceError> {
        match netlink::mtu_range(self.ifindex) {
            Ok(range) => Ok(range),
            Err(Errno::ENODEV) => Err(DeviceError::DeviceGone {
                name: self.name.clone(),
            }),
            Err(_) => Ok(fallback_mtu_range(self.mode)),
        }
    }

    /// Sets the MTU; out of range gives [`DeviceError::MtuOutOfRange`] and
    /// leaves the MTU unchanged.
    pub fn set_mtu(&self, mtu: u32) -> Result<(), DeviceError> {
        let (sock, name) = self.locate()?;
        let (min, max) = self.mtu_range()?;
        let out_of_range = DeviceError::MtuOutOfRange {
            requested: mtu,
            min,
            max,
        };
        if mtu < min || mtu > max {
            return Err(out_of_range);
        }
        sys::if_set_mtu(sock.as_fd(), &name, mtu).map_err(|errno| match errno {
            Errno::EINVAL => out_of_range,
            errno => DeviceError::from_errno("SIOCSIFMTU", &name, errno),
        })
    }

    /// The MAC address. A TUN device has none:
    /// [`DeviceError::NoMacInTunMode`].
    pub fn mac(&self) -> Result<MacAddr, DeviceError> {
        self.check_has_mac()?;
        let (sock, name) = self.locate()?;
        sys::if_get_hwaddr(sock.as_fd(), &name)
            .map(MacAddr)
            .map_err(|errno| DeviceError::from_errno("SIOCGIFHWADDR", &name, errno))
    }

    /// Sets the MAC address (must be unicast and not zero; a TAP accepts
    /// it while up). A TUN device has none: [`DeviceError::NoMacInTunMode`].
    pub fn set_mac(&self, mac: MacAddr) -> Result<(), DeviceError> {
        self.check_has_mac()?;
        if !mac.is_unicast() {
            return Err(DeviceError::InvalidMac { mac });
        }
        let (sock, name) = self.locate()?;
        sys::if_set_hwaddr(sock.as_fd(), &name, mac.0).map_err(|errno| match errno {
            Errno::EADDRNOTAVAIL => DeviceError::InvalidMac { mac },
            errno => DeviceError::from_errno("SIOCSIFHWADDR", &name, errno),
        })
    }

    /// Brings the interface up or down (IFF_UP).
    pub fn set_up(&self, up: bool) -> Result<(), DeviceError> {
        self.set_flag(libc::IFF_UP, up)
    }

    /// Whether the interface is administratively up (IFF_UP).
    pub fn is_up(&self) -> Result<bool, DeviceError> {
        self.flag(libc::IFF_UP)
    }

    /// Whether the interface is up and has carrier (IFF_RUNNING): a TAP has
    /// carrier while at least one queue fd is attached.
    pub fn is_running(&self) -> Result<bool, DeviceError> {
        self.flag(libc::IFF_RUNNING)
    }

    /// Sets promiscuous mode (IFF_PROMISC).
    pub fn set_promisc(&self, on: bool) -> Result<(), DeviceError> {
        self.set_flag(libc::IFF_PROMISC, on)
    }

    /// Whether promiscuous mode is on.
    pub fn promisc(&self) -> Result<bool, DeviceError> {
        self.flag(libc::IFF_PROMISC)
    }

    /// Sets all-multicast mode (IFF_ALLMULTI).
    pub fn set_allmulti(&self, on: bool) -> Result<(), DeviceError> {
        self.set_flag(libc::IFF_ALLMULTI, on)
    }

    /// Whether all-multicast mode is on.
    pub fn allmulti(&self) -> Result<bool, DeviceError> {
        self.flag(libc::IFF_ALLMULTI)
    }

    /// The interface's counters, as the kernel keeps them. Note the
    /// direction: frames written to a queue fd are the interface's `rx_*`;
    /// frames the kernel queued for us are its `tx_*`, and frames dropped
    /// because a queue's ring was full are its `tx_dropped`.
    ///
    /// They are read wherever the interface is: in the caller's network
    /// namespace from sysfs, and once it was moved to another namespace
    /// (`ip link set dev NAME netns NS`) through the device's own
    /// namespace ([`TapDevice::netns`]), by rtnetlink from a socket
    /// opened there by a short-lived thread (the caller's threads stay
    /// where they are). That needs Linux 5.2, CAP_NET_ADMIN over that
    /// namespace and CAP_SYS_ADMIN to enter it; without them,
    /// [`DeviceError::OtherNamespace`] says which is missing.
    pub fn kernel_counters(&self) -> Result<KernelCounters, DeviceError> {
        match self.locate() {
            Ok((_sock, name)) => KernelCounters::read(&name),
            // Not here (moved, or another device has its name here now):
            // read it where it is.
            Err(DeviceError::DeviceGone { .. }) => self.kernel_counters_in_netns(),
            Err(e) => Err(e),
        }
    }

    /// A new fd of the network namespace the device is in now, wherever it
    /// was moved since it was opened (TUNGETDEVNETNS, asked of a queue
    /// fd): to `setns(2)` into, or compare with another namespace's inode.
    ///
    /// Needs Linux 5.2 ([`NetnsDenied::KernelTooOld`] before) and
    /// CAP_NET_ADMIN over that namespace ([`NetnsDenied::NoNetAdmin`]),
    /// both inside [`DeviceError::OtherNamespace`].
    pub fn netns(&self) -> Result<OwnedFd, DeviceError> {
        self.tun_ioctl(sys::tun_get_dev_netns)
            .map_err(|errno| match errno {
                Errno::EINVAL | Errno::ENOTTY => DeviceError::OtherNamespace {
                    name: self.current_name().unwrap_or_else(|_| self.name.clone()),
                    reason: NetnsDenied::KernelTooOld,
                },
                Errno::EPERM | Errno::EACCES => DeviceError::OtherNamespace {
                    name: self.current_name().unwrap_or_else(|_| self.name.clone()),
                    reason: NetnsDenied::NoNetAdmin,
                },
                errno => DeviceError::from_errno("TUNGETDEVNETNS", &self.name, errno),
            })
    }

    /// The counters read inside the device's own network namespace: its
    /// current name (TUNGETIFF answers wherever it is), then RTM_GETLINK
    /// by that name on a route socket created there.
    fn kernel_counters_in_netns(&self) -> Result<KernelCounters, DeviceError> {
        let netns = self.netns()?;
        let name = self.current_name()?;
        let sock = netlink::route_socket_in(netns.as_fd()).map_err(|e| match e {
            netlink::EnterError::Denied => DeviceError::OtherNamespace {
                name: name.clone(),
                reason: NetnsDenied::NoSysAdmin,
            },
            netlink::EnterError::Os(op, errno) => DeviceError::os(op, errno),
        })?;
        netlink::link_stats(sock.as_fd(), &name)
            .map_err(|errno| DeviceError::from_errno("RTM_GETLINK", &name, errno))
    }

    /// Fails in TUN mode, where there is no MAC address.
    fn check_has_mac(&self) -> Result<(), DeviceError> {
        match self.mode {
            DeviceMode::Tap => Ok(()),
            DeviceMode::Tun => Err(DeviceError::NoMacInTunMode {
                name: self.name.clone(),
            }),
        }
    }

    /// Runs a fd-based TUN ioctl on the first queue fd that is attached (a
    /// queue detached through TUNSETQUEUE answers EBADFD).
    fn tun_ioctl<T>(&self, op: impl Fn(BorrowedFd<'_>) -> nix::Result<T>) -> nix::Result<T> {
        let mut result = Err(Errno::EBADFD);
        for fd in &self.queues {
            result = op(fd.as_fd());
            if !matches!(result, Err(Errno::EBADFD)) {
                break;
            }
        }
        result
    }

    /// The device's current name, checked to denote our device in the
    /// caller's network namespace, and a control socket there.
    fn locate(&self) -> Result<(OwnedFd, String), DeviceError> {
        let name = self.current_name()?;
        let sock = sys::control_socket().map_err(|errno| DeviceError::os("socket", errno))?;
        match sys::if_get_index(sock.as_fd(), &name) {
            Ok(index) if index == self.ifindex => Ok((sock, name)),
            Ok(_) | Err(Errno::ENODEV) => Err(DeviceError::DeviceGone { name }),
            Err(errno) => Err(DeviceError::from_errno("SIOCGIFINDEX", &name, errno)),
        }
    }

    fn flag(&self, flag: libc::c_int) -> Result<bool, DeviceError> {
        let (sock, name) = self.locate()?;
        let flags = sys::if_get_flags(sock.as_fd(), &name)
            .map_err(|errno| DeviceError::from_errno("SIOCGIFFLAGS", &name, errno))?;
        Ok(flags & flag != 0)
    }

    fn set_flag(&self, flag: libc::c_int, on: bool) -> Result<(), DeviceError> {
        let (sock, name) = self.locate()?;
        let flags = sys::if_get_flags(sock.as_fd(), &name)
            .map_err(|errno| DeviceError::from_errno("SIOCGIFFLAGS", &name, errno))?;
        let wanted = if on { flags | flag } else { flags & !flag };
        if wanted == flags {
            return Ok(());
        }
        sys::if_set_flags(sock.as_fd(), &name, wanted)
            .map_err(|errno| DeviceError::from_errno("SIOCSIFFLAGS", &name, errno))
    }
}

impl TapDevice {
    /// Whether a detached keep-alive fd is held (multi-queue devices).
    pub fn has_keep_alive(&self) -> bool {
        self.keep_alive.is_some()
    }
}
