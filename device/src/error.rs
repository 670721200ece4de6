//! [`DeviceError`]: every way TAP device control can fail, each with what to do
//! next.

use std::fmt;

use nix::errno::Errno;

use crate::config::{MacAddr, Offloads};

/// An error from opening or controlling a TAP device.
///
/// Each variant's message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// `/dev/net/tun` does not exist.
    NoTunDevice,
    /// The kernel refused with EPERM/EACCES.
    PermissionDenied {
        /// The operation that was refused.
        op: &'static str,
    },
    /// The interface name is not acceptable to the kernel (checked before
    /// any syscall).
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The device exists, is not multi-queue, and already has a queue
    /// attached (EBUSY).
    NameBusy {
        /// The device name.
        name: String,
    },
    /// The queue count is 0 or above what the kernel (or the existing
    /// device) allows.
    QueueCount {
        /// Queues asked for.
        requested: usize,
        /// Most queues allowed here.
        max: usize,
    },
    /// An existing device of that name cannot be attached with this
    /// configuration (TUN not TAP, multi-queue mismatch, not a tun device).
    Incompatible {
        /// The device name.
        name: String,
        /// Why it does not fit.
        reason: &'static str,
    },
    /// `attach_only` was set and no device of that name exists.
    NotFound {
        /// The device name.
        name: String,
    },
    /// The MTU is outside the device's range; the MTU was not changed.
    MtuOutOfRange {
        /// The MTU asked for.
        requested: u32,
        /// The device's minimum MTU.
        min: u32,
        /// The device's maximum MTU.
        max: u32,
    },
    /// The MAC address cannot be used (multicast or all zero).
    InvalidMac {
        /// The address asked for.
        mac: MacAddr,
    },
    /// The kernel rejected this TUN_F_* offload mask (EINVAL).
    OffloadsRejected {
        /// The mask asked for.
        offloads: Offloads,
    },
    /// Segmentation offloads let the kernel hand over 64 KiB frames, but a
    /// read has less room than that.
    BuffersTooSmallForOffloads {
        /// The offloads negotiated.
        offloads: Offloads,
        /// Data bytes one read can take.
        room: usize,
        /// Data bytes a 64 KiB frame needs.
        need: usize,
    },
    /// The configuration contradicts itself (checked before any syscall).
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// The interface is no longer in this network namespace: deleted, or
    /// moved to another namespace (ENODEV). The queue fds still carry data.
    DeviceGone {
        /// The device's name as last known.
        name: String,
    },
    /// Any other failure of a system call.
    Os {
        /// The operation that failed.
        op: &'static str,
        /// The error number.
        errno: Errno,
    },
}

impl DeviceError {
    /// Maps an errno from `op` on device `name` to the typed error:
    /// ENODEV → [`DeviceError::DeviceGone`], EPERM/EACCES →
    /// [`DeviceError::PermissionDenied`], anything else → [`DeviceError::Os`].
    pub(crate) fn from_errno(op: &'static str, name: &str, errno: Errno) -> Self {
        match errno {
            Errno::ENODEV | Errno::ENXIO => DeviceError::DeviceGone {
                name: name.to_owned(),
            },
            Errno::EPERM | Errno::EACCES => DeviceError::PermissionDenied { op },
            errno => DeviceError::Os { op, errno },
        }
    }

    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            DeviceError::NoTunDevice => Some(Errno::ENOENT),
            DeviceError::PermissionDenied { .. } => Some(Errno::EPERM),
            DeviceError::NameBusy { .. } => Some(Errno::EBUSY),
            DeviceError::DeviceGone { .. } => Some(Errno::ENODEV),
            DeviceError::Os { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::NoTunDevice => write!(
                f,
                "/dev/net/tun not found: load the tun module (`modprobe tun`), or create the node (`mknod /dev/net/tun c 10 200`) inside a container"
            ),
            DeviceError::PermissionDenied { op } => write!(
                f,
                "{op}: permission denied: needs CAP_NET_ADMIN (run as root or `setcap cap_net_admin+ep`), or to be the owner/group of the persistent device"
            ),
            DeviceError::InvalidName { name, reason } => write!(
                f,
                "invalid interface name {name:?}: it {reason}; use 1-15 bytes without '/', ':' or whitespace (a single \"%d\" lets the kernel number it)"
            ),
            DeviceError::NameBusy { name } => write!(
                f,
                "device {name:?} is busy: it is single-queue and already attached; close the other user, pick another name, or create it multi-queue"
            ),
            DeviceError::QueueCount { requested, max } => write!(
                f,
                "cannot open {requested} queues: use 1..={max} (the kernel's limit is 256 per device, one of which tapring keeps detached as a keep-alive)"
            ),
            DeviceError::Incompatible { name, reason } => write!(
                f,
                "existing device {name:?} cannot be attached: {reason}; match its flags, delete it (`ip link del {name}`), or pick another name"
            ),
            DeviceError::NotFound { name } => write!(
                f,
                "no TAP device {name:?} to attach to: create it first (persist = true, or `ip tuntap add dev {name} mode tap`), or clear attach_only"
            ),
            DeviceError::MtuOutOfRange {
                requested,
                min,
                max,
            } => write!(
                f,
                "MTU {requested} is out of range: this device accepts {min}..={max}; the MTU was not changed"
            ),
            DeviceError::InvalidMac { mac } => write!(
                f,
                "MAC address {mac} cannot be used: it must be unicast (low bit of the first byte clear) and not all zero"
            ),
            DeviceError::OffloadsRejected { offloads } => write!(
                f,
                "the kernel rejected offloads {offloads}: ask only for what `probe()` reports as accepted"
            ),
            DeviceError::BuffersTooSmallForOffloads {
                offloads,
                room,
                need,
            } => write!(
                f,
                "offloads {offloads} let the kernel hand over frames of up to {need} bytes, but a read has room for {room}: use a pool of 64 KiB buffers (PoolConfig::large), or chains (rx_segments, read/write backend), or no segmentation offload"
            ),
            DeviceError::InvalidConfig { reason } => {
                write!(f, "invalid TAP configuration: {reason}")
            }
            DeviceError::DeviceGone { name } => write!(
                f,
                "device {name:?} is no longer in this network namespace (deleted or moved): its queue fds still carry data; move it back or reopen it"
            ),
            DeviceError::Os { op, errno } => write!(
                f,
                "{op} failed: {errno} ({}); check `dmesg` and the device with `ip -d link show`",
                errno.desc()
            ),
        }
    }
}

impl std::error::Error for DeviceError {}
