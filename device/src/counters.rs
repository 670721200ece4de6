//! [`KernelCounters`]: the interface statistics the kernel keeps.

use nix::errno::Errno;

use crate::error::DeviceError;

/// An interface's counters, from `/sys/class/net/NAME/statistics` or
/// (for a device in another network namespace) rtnetlink's IFLA_STATS64.
///
/// The kernel counts from the interface's point of view: a frame written to
/// a queue fd is received (`rx_*`) by the interface, a frame handed to the
/// application is transmitted (`tx_*`), and a frame dropped because a
/// queue's ring (tx_queue_len frames) was full counts in `tx_dropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct KernelCounters {
    /// Frames the interface received (written to a queue fd).
    pub rx_packets: u64,
    /// Frames the interface transmitted (read by the application: tun
    /// counts them as they are read).
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Received frames dropped.
    pub rx_dropped: u64,
    /// Transmitted frames dropped, including a full queue ring.
    pub tx_dropped: u64,
}

impl KernelCounters {
    /// The same counters from the port's side.
    pub const fn port_stats(&self) -> tapring_core::PortStats {
        tapring_core::PortStats::from_interface(
            self.rx_packets,
            self.rx_bytes,
            self.rx_dropped,
            self.tx_packets,
            self.tx_bytes,
            self.tx_dropped,
        )
    }

    /// Reads the counters of any interface `name` (TAP, veth, bridge...),
    /// as `/sys/class/net` shows them: that is the network namespace sysfs
    /// was mounted in, so a process that moved into a namespace of its own
    /// remounts /sys there first. For a TAP device you hold, prefer
    /// [`TapDevice::kernel_counters`](crate::TapDevice::kernel_counters),
    /// which follows the device when it is renamed or moved to another
    /// network namespace.
    pub fn read(name: &str) -> Result<KernelCounters, DeviceError> {
        Self::read_sysfs(name)
            .map_err(|errno| DeviceError::from_errno("read statistics", name, errno))
    }

    /// Reads the counters of interface `name` from sysfs.
    pub(crate) fn read_sysfs(name: &str) -> Result<KernelCounters, Errno> {
        let read = |counter: &str| -> Result<u64, Errno> {
            let path = format!("/sys/class/net/{name}/statistics/{counter}");
            let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Errno::ENODEV,
                _ => Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
            text.trim().parse().map_err(|_| Errno::EBADMSG)
        };
        Ok(KernelCounters {
            rx_packets: read("rx_packets")?,
            tx_packets: read("tx_packets")?,
            rx_bytes: read("rx_bytes")?,
            tx_bytes: read("tx_bytes")?,
            rx_dropped: read("rx_dropped")?,
            tx_dropped: read("tx_dropped")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_any_interface_by_name() {
        // Loopback exists in every network namespace; its counters only grow.
        let a = KernelCounters::read("lo").expect("lo has statistics");
        let b = KernelCounters::read("lo").expect("lo has statistics");
        assert!(b.rx_packets >= a.rx_packets && b.tx_bytes >= a.tx_bytes);
        let gone = KernelCounters::read("trnosuchif0").unwrap_err();
        assert!(matches!(gone, DeviceError::DeviceGone { .. }), "{gone}");
    }
}
