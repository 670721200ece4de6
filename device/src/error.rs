//! [`DeviceError`]: every way TAP device control can fail, each with what to do
//! next.

use nix::errno::Errno;

use crate::config::{MacAddr, Offloads};

/// An error from opening or controlling a TAP device.
///
/// Each variant's message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// `/dev/net/tun` does not exist.
    #[error(
        "/dev/net/tun not found: load the tun module (`modprobe tun`), or create the node (`mknod /dev/net/tun c 10 200`) inside a container"
    )]
    NoTunDevice,
    /// The kernel refused with EPERM/EACCES.
    #[error(
        "{op}: permission denied: needs CAP_NET_ADMIN (run as root or `setcap cap_net_admin+ep`), or to be the owner/group of the persistent device"
    )]
    PermissionDenied {
        /// The operation that was refused.
        op: &'static str,
    },
    /// The interface name is not acceptable to the kernel (checked before
    /// any syscall).
    #[error(
        "invalid interface name {name:?}: it {reason}; use 1-15 bytes without '/', ':' or whitespace (a single \"%d\" lets the kernel number it)"
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The device exists, is not multi-queue, and already has a queue
    /// attached (EBUSY).
    #[error(
        "device {name:?} is busy: it is single-queue and already attached; close the other user, pick another name, or create it multi-queue"
    )]
    NameBusy {
        /// The device name.
        name: String,
    },
    /// The queue count is 0 or above what the kernel (or the existing
    /// device) allows.
    #[error(
        "cannot open {requested} queues: use 1..={max} (the kernel's limit is 256 per device, one of which tapring keeps detached as a keep-alive)"
    )]
    QueueCount {
        /// Queues asked for.
        requested: usize,
        /// Most queues allowed here.
        max: usize,
    },
    /// An existing device of that name cannot be attached with this
    /// configuration (TUN not TAP, multi-queue mismatch, not a tun device).
    #[error(
        "existing device {name:?} cannot be attached: {reason}; match its flags, delete it (`ip link del {name}`), or pick another name"
    )]
    Incompatible {
        /// The device name.
        name: String,
        /// Why it does not fit.
        reason: &'static str,
    },
    /// [`Attach::Only`](crate::Attach::Only) was asked and no device of
    /// that name exists.
    #[error(
        "no TAP/TUN device {name:?} to attach to: create it first (persist = true, or `ip tuntap add dev {name} mode tap` / `mode tun`), or attach with Attach::IfExists to create it when missing"
    )]
    NotFound {
        /// The device name.
        name: String,
    },
    /// A device of that name exists and attaching was not asked for.
    #[error(
        "device {name:?} exists already: attach to it on purpose (Attach::IfExists; `--attach` on the command line), or pick another name"
    )]
    Exists {
        /// The device name.
        name: String,
    },
    /// The device has queues another user attached (multi-queue): attaching
    /// would take a share of its traffic.
    #[error(
        "device {name:?} is in use ({queues} queue(s) of another user, attached or parked; 0: its use could not be read), and attaching could take a share of its traffic or change its settings; share it on purpose (TapConfig::share; `--share`) with its settings, or pick another name"
    )]
    InUse {
        /// The device name.
        name: String,
        /// Queues of others, attached or detached (0: the kernel's answer
        /// could not be read).
        queues: u32,
    },
    /// Attaching would change a device-wide setting under the device's other
    /// users; nothing was changed.
    #[error(
        "device {name:?} is shared and its {setting} is {in_force}, not {asked}: attaching would change it under its other users; open with {setting} = {in_force}, or stop them first (nothing was changed)"
    )]
    SettingDiffers {
        /// The device name.
        name: String,
        /// The setting (a [`TapConfig`](crate::TapConfig) field).
        setting: &'static str,
        /// What the device has.
        in_force: String,
        /// What was asked.
        asked: String,
    },
    /// The MTU is outside the device's range; the MTU was not changed.
    #[error(
        "MTU {requested} is out of range: this device accepts {min}..={max}; the MTU was not changed"
    )]
    MtuOutOfRange {
        /// The MTU asked for.
        requested: u32,
        /// The device's minimum MTU.
        min: u32,
        /// The device's maximum MTU.
        max: u32,
    },
    /// The MAC address cannot be used (multicast or all zero).
    #[error(
        "MAC address {mac} cannot be used: it must be unicast (low bit of the first byte clear) and not all zero"
    )]
    InvalidMac {
        /// The address asked for.
        mac: MacAddr,
    },
    /// The kernel rejected this TUN_F_* offload mask (EINVAL).
    #[error(
        "the kernel rejected offloads {offloads}: ask only for what `probe()` reports as accepted"
    )]
    OffloadsRejected {
        /// The mask asked for.
        offloads: Offloads,
    },
    /// Segmentation offloads let the kernel hand over 64 KiB frames, but a
    /// read has less room than that.
    #[error(
        "offloads {offloads} let the kernel hand over frames of up to {need} bytes, but a read has room for {room}: use a pool of 64 KiB buffers (PoolConfig::large), or chains (rx_segments, read/write backend), or no segmentation offload"
    )]
    BuffersTooSmallForOffloads {
        /// The offloads negotiated.
        offloads: Offloads,
        /// Data bytes one read can take.
        room: usize,
        /// Data bytes a 64 KiB frame needs.
        need: usize,
    },
    /// A MAC address was asked of, or set on, a TUN device, which has none.
    #[error(
        "device {name:?} is a TUN (layer 3) device and has no MAC address: MAC addresses apply to TAP devices (mode = DeviceMode::Tap)"
    )]
    NoMacInTunMode {
        /// The device name.
        name: String,
    },
    /// The configuration contradicts itself (checked before any syscall).
    #[error("invalid TAP configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// The interface is no longer in this network namespace: deleted, or
    /// moved to another namespace (ENODEV). The queue fds still carry data.
    #[error(
        "device {name:?} is no longer in this network namespace (deleted or moved): its queue fds still carry data; move it back or reopen it"
    )]
    DeviceGone {
        /// The device's name as last known.
        name: String,
    },
    /// The device was deleted: its queue fds are open but attached to no
    /// device any more (the kernel answers EBADFD), so they carry nothing.
    #[error(
        "device {name:?} was deleted: its queues carry nothing any more; open it again (a new device of that name is a new device)"
    )]
    DeviceDeleted {
        /// The device's name as last known.
        name: String,
    },
    /// The device was moved to another network namespace, and this process
    /// cannot reach it there (to read its counters, say); the queue fds
    /// still carry data.
    #[error(
        "device {name:?} is in another network namespace, and this process cannot reach it there: {reason}; or move the device back into this namespace"
    )]
    OtherNamespace {
        /// The device's current name (in its namespace).
        name: String,
        /// Why it cannot be reached.
        reason: NetnsDenied,
    },
    /// Any other failure of a system call.
    #[error("{op} failed: {} (errno {errno}); check `dmesg` and the device with `ip -d link show`", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The operation that failed.
        op: &'static str,
        /// The error number (`errno`).
        errno: i32,
    },
}

impl DeviceError {
    /// Maps an errno from `op` on device `name` to the typed error:
    /// ENODEV → [`DeviceError::DeviceGone`], EBADFD (a queue fd whose
    /// device was deleted) → [`DeviceError::DeviceDeleted`], EPERM/EACCES →
    /// [`DeviceError::PermissionDenied`], anything else → [`DeviceError::Os`].
    pub(crate) fn from_errno(op: &'static str, name: &str, errno: Errno) -> Self {
        match errno {
            Errno::EBADFD => DeviceError::DeviceDeleted {
                name: name.to_owned(),
            },
            Errno::ENODEV | Errno::ENXIO => DeviceError::DeviceGone {
                name: name.to_owned(),
            },
            Errno::EPERM | Errno::EACCES => DeviceError::PermissionDenied { op },
            errno => DeviceError::Os {
                op,
                errno: errno as i32,
            },
        }
    }

    /// [`DeviceError::Os`] from a nix errno (nix stays out of the public API).
    pub(crate) fn os(op: &'static str, errno: Errno) -> Self {
        DeviceError::Os {
            op,
            errno: errno as i32,
        }
    }

    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DeviceError::NoTunDevice => Some(libc::ENOENT),
            DeviceError::PermissionDenied { .. } => Some(libc::EPERM),
            DeviceError::NameBusy { .. } => Some(libc::EBUSY),
            DeviceError::DeviceGone { .. } => Some(libc::ENODEV),
            DeviceError::Os { errno, .. } => Some(*errno),
            DeviceError::OtherNamespace { reason, .. } => Some(reason.errno()),
            _ => None,
        }
    }
}

/// Why a device in another network namespace cannot be reached there
/// ([`DeviceError::OtherNamespace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsDenied {
    /// The kernel cannot tell a TUN/TAP device's namespace from its fd
    /// (TUNGETDEVNETNS, Linux 5.2).
    #[error(
        "this kernel cannot tell a TUN/TAP device's network namespace from its fd (TUNGETDEVNETNS needs Linux 5.2 or later)"
    )]
    KernelTooOld,
    /// Asking for the device's namespace (TUNGETDEVNETNS) needs
    /// CAP_NET_ADMIN over that namespace.
    #[error(
        "asking for the device's network namespace needs CAP_NET_ADMIN over that namespace (run as root, or in the user namespace that owns it)"
    )]
    NoNetAdmin,
    /// Entering the device's namespace (setns) needs CAP_SYS_ADMIN, in
    /// this process's user namespace and over the target's.
    #[error(
        "entering the device's network namespace needs CAP_SYS_ADMIN, here and over that namespace (run as root, or `setcap cap_net_admin,cap_sys_admin+ep`)"
    )]
    NoSysAdmin,
}

impl NetnsDenied {
    /// The errno the kernel answered with.
    pub fn errno(self) -> i32 {
        match self {
            NetnsDenied::KernelTooOld => libc::EINVAL,
            NetnsDenied::NoNetAdmin | NetnsDenied::NoSysAdmin => libc::EPERM,
        }
    }
}
