//! Helpers for tests that use real TAP devices, in this crate and in the
//! crates built on it.
//!
//! Every such test starts with `if !require_tap() { return; }`, names its
//! devices with [`unique_name`], and holds an [`InterfaceGuard`] (and a
//! [`NetnsGuard`] for namespaces) so nothing is left behind even when it
//! panics. The kernel is the oracle: [`ip_link`] parses `ip -o link show`,
//! [`sysfs_attr`] reads `/sys/class/net`, [`ethtool_features`] asks the
//! ethtool ioctl.

use std::path::Path;
use std::process::{Command, Stdio};

pub mod fuzz;
pub mod icmp;
mod packet;
pub mod suite;
mod tcp;

pub use icmp::{PingReport, ping_in_netns};
pub use tcp::tcp_transfer_between;

pub use packet::{
    ETH_P_ALL, ETH_P_IP, PacketSocket, Reply, TEST_DST, TEST_ETHERTYPE, TEST_IP_PROTOCOL, TEST_SRC,
    inet_checksum, respond, respond_ip, tcp_segment, test_frame, test_frame_seq, test_packet,
    test_packet_seq, udp_frame, udp_frame_seq, udp_packet, udp_packet_seq,
};

use tapring_device::MacAddr;
pub use tapring_device::link::{KernelFeatures, ethtool_features};
pub use tapring_device::{interface_exists, unique_name};

/// The line printed when real-TAP tests are skipped.
pub const SKIP_LINE: &str = "skipped: needs CAP_NET_ADMIN and /dev/net/tun (run as root); set TAPRING_REQUIRE_TAP=1 to fail instead";

/// Whether real-TAP tests can run here (CAP_NET_ADMIN and /dev/net/tun).
///
/// If not: with `TAPRING_REQUIRE_TAP=1` in the environment it panics (CI),
/// otherwise it prints [`SKIP_LINE`] to stderr and returns `false`.
pub fn require_tap() -> bool {
    if tapring_device::has_cap_net_admin() && Path::new(tapring_device::TUN_PATH).exists() {
        return true;
    }
    if std::env::var("TAPRING_REQUIRE_TAP").is_ok_and(|v| v == "1") {
        panic!(
            "TAPRING_REQUIRE_TAP=1 but this process lacks CAP_NET_ADMIN or /dev/net/tun: run the tests as root on a machine with the tun module"
        );
    }
    eprintln!("{SKIP_LINE}");
    false
}

/// Deletes interface `name` (`ip link del`) when dropped, also on panic.
/// For persistent devices made by tests; harmless if it is already gone.
#[derive(Debug)]
pub struct InterfaceGuard {
    name: String,
}

impl InterfaceGuard {
    /// Guards interface `name`.
    pub fn new(name: impl Into<String>) -> Self {
        InterfaceGuard { name: name.into() }
    }

    /// The guarded name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for InterfaceGuard {
    fn drop(&mut self) {
        if interface_exists(&self.name) {
            let _ = quiet_ip(&["link", "del", "dev", &self.name]);
        }
    }
}

/// A network namespace made for a test (`ip netns add`), deleted on drop.
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    /// Creates a namespace with a unique name.
    ///
    /// # Panics
    /// If `ip netns add` fails.
    pub fn new() -> Self {
        let name = format!("tapring-{}", unique_name("ns"));
        assert!(
            quiet_ip(&["netns", "add", &name]),
            "ip netns add {name} failed"
        );
        NetnsGuard { name }
    }

    /// The namespace's name (for `ip netns exec` / `ip link set netns`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for NetnsGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = quiet_ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip ARGS`, without output; whether it succeeded.
pub fn quiet_ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// One interface as `ip -o link show dev NAME` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpLink {
    /// The flags between `<` and `>` (e.g. `UP`, `PROMISC`, `LOWER_UP`).
    pub flags: Vec<String>,
    /// `mtu N`.
    pub mtu: u32,
    /// `link/ether MAC`.
    pub mac: Option<MacAddr>,
}

impl IpLink {
    /// Whether the flag list holds `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Parses one line of `ip -o link show`.
    pub fn parse(line: &str) -> Option<IpLink> {
        let flags = line.split_once('<')?.1.split_once('>')?.0;
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
        };
        Some(IpLink {
            flags: flags
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            mtu: after("mtu")?.parse().ok()?,
            mac: after("link/ether").and_then(|m| m.parse().ok()),
        })
    }
}

/// `ip -o link show dev NAME`, parsed; `None` if there is no such
/// interface.
pub fn ip_link(name: &str) -> Option<IpLink> {
    let output = Command::new("ip")
        .args(["-o", "link", "show", "dev", name])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    IpLink::parse(String::from_utf8_lossy(&output.stdout).lines().next()?)
}

/// `/sys/class/net/NAME/ATTR`, trimmed; `None` if absent.
pub fn sysfs_attr(name: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{attr}"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Turns IPv6 off on interface `name` (before bringing it up), so the
/// kernel sends no router solicitations or MLD reports through it.
pub fn disable_ipv6(name: &str) -> bool {
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1").is_ok()
}

/// The number of open fds of this process (`/proc/self/fd`).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_link_line() {
        let line = "7: trt1x2: <BROADCAST,MULTICAST,PROMISC,ALLMULTI,UP,LOWER_UP> mtu 1400 qdisc fq_codel state UNKNOWN mode DEFAULT group default qlen 1000\\    link/ether 02:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff";
        let link = IpLink::parse(line).unwrap();
        assert_eq!(link.mtu, 1400);
        assert!(link.has_flag("PROMISC") && link.has_flag("ALLMULTI") && link.has_flag("UP"));
        assert_eq!(link.mac.unwrap().to_string(), "02:11:22:33:44:55");
    }
}
