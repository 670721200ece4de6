//! [`probe()`]: what this kernel and process allow, before opening anything.

use std::fmt;
use std::os::fd::AsFd;
use std::path::Path;

use crate::config::{Offloads, TapConfig, VnetHdrLen};
use crate::device::TapDevice;
use crate::error::DeviceError;
use crate::{ifname, sys};

/// The tun/tap control device.
pub const TUN_PATH: &str = sys::TUN_PATH;

/// Bit of CAP_NET_ADMIN in the capability sets.
const CAP_NET_ADMIN_BIT: u32 = 12;

/// What [`probe()`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapProbe {
    /// `/dev/net/tun` exists and opens.
    pub tun_device: bool,
    /// The IFF_* flags TUNSETIFF accepts (TUNGETFEATURES), if it could be
    /// asked.
    pub tun_features: Option<u32>,
    /// The offload flag sets the kernel accepted on a scratch device; `None`
    /// when no scratch device could be made (e.g. no CAP_NET_ADMIN).
    pub accepted_offloads: Option<Offloads>,
    /// The kernel release (`uname -r`).
    pub kernel_release: String,
    /// The calling thread's effective capabilities include CAP_NET_ADMIN.
    pub cap_net_admin: bool,
    /// What is missing for full use, one human-readable item each.
    pub missing: Vec<String>,
}

impl TapProbe {
    /// Whether TUNSETIFF accepts IFF_MULTI_QUEUE.
    pub fn multi_queue(&self) -> bool {
        self.has_feature(libc::IFF_MULTI_QUEUE)
    }

    /// Whether TUNSETIFF accepts IFF_VNET_HDR.
    pub fn vnet_hdr(&self) -> bool {
        self.has_feature(libc::IFF_VNET_HDR)
    }

    /// Whether tapring can create and control TAP devices here.
    pub fn usable(&self) -> bool {
        self.tun_device && self.cap_net_admin
    }

    fn has_feature(&self, flag: libc::c_int) -> bool {
        self.tun_features
            .is_some_and(|features| features & flag as u32 != 0)
    }
}

/// Whether the calling thread has CAP_NET_ADMIN in its effective set (from
/// `/proc/thread-self/status`, line `CapEff`).
pub fn has_cap_net_admin() -> bool {
    has_capability(CAP_NET_ADMIN_BIT)
}

/// Whether the calling thread has capability number `bit` (linux/
/// capability.h: CAP_NET_ADMIN is 12, CAP_SYS_ADMIN 21, CAP_NET_RAW 13) in
/// its effective set.
pub fn has_capability(bit: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/thread-self/status")
        .or_else(|_| std::fs::read_to_string("/proc/self/status"))
    else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| bit < 64 && caps & (1 << bit) != 0)
}

/// Which offloads the kernel accepts, by trying each dependent set on a
/// scratch device with a unique name (closed, and so removed, before
/// returning).
///
/// Trying is the only reliable answer: kernel versions say nothing about
/// backports or distribution patches, and TUNSETOFFLOAD answers EINVAL for
/// any flag it does not know ("a way to test for new features").
fn accepted_offloads() -> Result<Offloads, DeviceError> {
    let mut device = TapDevice::open(&TapConfig {
        vnet_hdr: VnetHdrLen::Mergeable,
        ..TapConfig::named(ifname::unique_name("trpb"))
    })?;
    let csum = Offloads::CSUM;
    let candidates = [
        csum,
        csum | Offloads::TSO4,
        csum | Offloads::TSO6,
        csum | Offloads::TSO4 | Offloads::TSO_ECN,
        csum | Offloads::UFO,
        csum | Offloads::USO4 | Offloads::USO6,
    ];
    let mut accepted = Offloads::NONE;
    for candidate in candidates {
        match device.set_offloads(candidate) {
            Ok(()) => accepted |= candidate,
            Err(DeviceError::OffloadsRejected { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(accepted)
}

/// Finds out what this kernel and process allow: `/dev/net/tun`,
/// TUNGETFEATURES, the accepted offloads (on a scratch device, needs
/// CAP_NET_ADMIN), the kernel release and CAP_NET_ADMIN.
pub fn probe() -> TapProbe {
    let tun = sys::open_tun();
    let tun_device = tun.is_ok();
    let tun_features = tun
        .as_ref()
        .ok()
        .and_then(|fd| sys::tun_get_features(fd.as_fd()).ok());
    drop(tun);
    let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let cap_net_admin = has_cap_net_admin();
    let accepted_offloads = if tun_device && cap_net_admin {
        accepted_offloads().ok()
    } else {
        None
    };

    let mut probe = TapProbe {
        tun_device,
        tun_features,
        accepted_offloads,
        kernel_release,
        cap_net_admin,
        missing: Vec::new(),
    };
    if !probe.tun_device {
        let why = if Path::new(sys::TUN_PATH).exists() {
            "/dev/net/tun does not open (no driver? `modprobe tun`; in a container, allow the device)"
        } else {
            "/dev/net/tun (`modprobe tun`)"
        };
        probe.missing.push(why.to_owned());
    }
    if !probe.cap_net_admin {
        probe.missing.push(
            "CAP_NET_ADMIN (run as root, or use a persistent device owned by you)".to_owned(),
        );
    }
    if probe.tun_features.is_some() {
        if !probe.multi_queue() {
            probe.missing.push("IFF_MULTI_QUEUE".to_owned());
        }
        if !probe.vnet_hdr() {
            probe.missing.push("IFF_VNET_HDR".to_owned());
        }
    }
    if let Some(accepted) = probe.accepted_offloads {
        for (flag, name) in [
            (Offloads::CSUM, "offload CSUM"),
            (Offloads::TSO4, "offload TSO4"),
            (Offloads::TSO6, "offload TSO6"),
            (
                Offloads::USO4 | Offloads::USO6,
                "offload USO4|USO6 (kernel 6.2+)",
            ),
        ] {
            if !accepted.contains(flag) {
                probe.missing.push(name.to_owned());
            }
        }
    }
    probe
}

impl fmt::Display for TapProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "kernel:          {}", self.kernel_release)?;
        writeln!(f, "/dev/net/tun:    {}", yes_no(self.tun_device))?;
        writeln!(f, "CAP_NET_ADMIN:   {}", yes_no(self.cap_net_admin))?;
        match self.tun_features {
            Some(features) => writeln!(
                f,
                "tun features:    {features:#06x} (multi-queue {}, vnet header {})",
                yes_no(self.multi_queue()),
                yes_no(self.vnet_hdr())
            )?,
            None => writeln!(f, "tun features:    unknown")?,
        }
        match self.accepted_offloads {
            Some(offloads) => writeln!(f, "offloads:        {offloads}")?,
            None => writeln!(
                f,
                "offloads:        not probed (needs /dev/net/tun and CAP_NET_ADMIN)"
            )?,
        }
        if self.missing.is_empty() {
            write!(f, "missing:         nothing")
        } else {
            write!(f, "missing:         {}", self.missing.join("; "))
        }
    }
}
