//! Link-layer tools that work on any interface, not only TAP devices: an
//! `AF_PACKET` socket to inject and capture frames, and the kernel's view
//! of an interface's offload features. Tests and traffic tools use them to
//! check a TAP port against the kernel.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{MsgFlags, MultiHeaders};

use crate::error::DeviceError;
use crate::sys;

/// Sets Don't Fragment on every datagram of the IPv4 socket `fd`
/// (`IP_MTU_DISCOVER = IP_PMTUDISC_DO`, as `ping -M do`): one larger than
/// the path MTU then fails with EMSGSIZE instead of being fragmented.
pub fn set_dont_fragment(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), DeviceError> {
    sys::ip_dont_fragment(fd).map_err(|errno| DeviceError::os("setsockopt(IP_MTU_DISCOVER)", errno))
}

/// `ETH_P_ALL`: every frame.
pub const ETH_P_ALL: u16 = 0x0003;
/// `ETH_P_IP`.
pub const ETH_P_IP: u16 = 0x0800;

/// An `AF_PACKET` raw socket bound to one interface (in the caller's
/// network namespace): frames sent on it leave through the interface (so a
/// TAP queue reads them), and with [`ETH_P_ALL`] it captures every frame
/// the interface receives (what a TAP queue writes).
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// A socket bound to `ifindex` for EtherType `ethertype` (host order):
    /// sent frames get it as their protocol (the kernel's flow hash uses
    /// it: give [`ETH_P_IP`] for IPv4 frames); it receives frames of that
    /// type ([`ETH_P_ALL`]: all).
    pub fn bind(ifindex: u32, ethertype: u16) -> Result<PacketSocket, DeviceError> {
        sys::packet_socket(ifindex, ethertype)
            .map(|fd| PacketSocket { fd })
            .map_err(|errno| DeviceError::os("AF_PACKET socket", errno))
    }

    /// A pure traffic source on `ifindex`: frames sent on it leave through
    /// the interface (with protocol 0), and it receives nothing, so no
    /// receive queue fills up while it sends at full speed.
    pub fn send_only(ifindex: u32) -> Result<PacketSocket, DeviceError> {
        Self::bind(ifindex, 0)
    }

    /// Sends straight to the device, skipping the qdisc layer
    /// (`PACKET_QDISC_BYPASS`): the fastest kernel-side source. Frames the
    /// device cannot take are dropped instead of queued.
    pub fn bypass_qdisc(&self) -> Result<(), DeviceError> {
        sys::packet_qdisc_bypass(self.fd.as_fd())
            .map_err(|errno| DeviceError::os("setsockopt(PACKET_QDISC_BYPASS)", errno))
    }

    /// Sends up to `scratch.capacity()` of `frames` with one `sendmmsg`,
    /// without waiting; returns how many the kernel took (0 when the device
    /// queue is full: ENOBUFS/EAGAIN). Allocates nothing: the message
    /// headers live in `scratch`, reused from call to call.
    pub fn send_batch(
        &self,
        frames: &[IoSlice<'_>],
        scratch: &mut BatchScratch,
    ) -> Result<usize, DeviceError> {
        let n = frames.len().min(scratch.addrs.len());
        let sent = nix::sys::socket::sendmmsg(
            self.fd.as_raw_fd(),
            &mut scratch.headers,
            frames[..n].iter().map(std::array::from_ref),
            &scratch.addrs[..n],
            [],
            MsgFlags::MSG_DONTWAIT,
        );
        match sent {
            Ok(results) => Ok(results.count()),
            Err(Errno::ENOBUFS | Errno::EAGAIN) => Ok(0),
            Err(errno) => Err(DeviceError::os("AF_PACKET sendmmsg", errno)),
        }
    }

    /// Sends one frame out of the interface, retrying for up to a second
    /// while the device queue is full (ENOBUFS/EAGAIN).
    pub fn send(&self, frame: &[u8]) -> Result<(), DeviceError> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match nix::sys::socket::send(self.fd.as_raw_fd(), frame, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::ENOBUFS | Errno::EAGAIN | Errno::EINTR) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(errno) => {
                    return Err(DeviceError::os("AF_PACKET send", errno));
                }
            }
        }
    }

    /// Receives one frame into `buf`, waiting up to `timeout`; `None` on
    /// timeout. Returns the frame's full length (it may exceed `buf`).
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, DeviceError> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Ok(None),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(DeviceError::os("poll", errno)),
        }
        match nix::sys::socket::recv(
            self.fd.as_raw_fd(),
            buf,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
        ) {
            Ok(n) => Ok(Some(n)),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(None),
            Err(errno) => Err(DeviceError::os("AF_PACKET recv", errno)),
        }
    }
}

/// Reusable message headers for [`PacketSocket::send_batch`], so a
/// sending loop allocates nothing per batch. Not `Send`: make it in the
/// thread that sends.
#[derive(Debug)]
pub struct BatchScratch {
    headers: MultiHeaders<()>,
    /// One (absent) destination per message: the socket is bound.
    addrs: Vec<Option<()>>,
}

impl BatchScratch {
    /// Room for batches of up to `n` frames.
    pub fn new(n: usize) -> BatchScratch {
        BatchScratch {
            headers: MultiHeaders::preallocate(n, None),
            addrs: vec![None; n],
        }
    }

    /// The most frames one batch sends.
    pub fn capacity(&self) -> usize {
        self.addrs.len()
    }
}

/// Offload features the kernel has turned on for an interface, as the
/// legacy ethtool getters report them (the same as `ethtool -k`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelFeatures {
    /// Any transmit checksum offload (TUN_F_CSUM turns it on for a TAP).
    pub tx_checksum: bool,
    /// Any TCP segmentation offload (TUN_F_TSO4/TSO6).
    pub tso: bool,
}

/// Reads [`KernelFeatures`] of interface `name` (SIOCETHTOOL
/// ETHTOOL_GTXCSUM and ETHTOOL_GTSO). Needs no ethtool binary.
pub fn ethtool_features(name: &str) -> Result<KernelFeatures, DeviceError> {
    let sock = sys::control_socket().map_err(|errno| DeviceError::os("socket", errno))?;
    let get = |cmd, op| {
        sys::ethtool_get_value(sock.as_fd(), name, cmd)
            .map(|v| v != 0)
            .map_err(|errno| DeviceError::from_errno(op, name, errno))
    };
    Ok(KernelFeatures {
        tx_checksum: get(sys::ETHTOOL_GTXCSUM, "ETHTOOL_GTXCSUM")?,
        tso: get(sys::ETHTOOL_GTSO, "ETHTOOL_GTSO")?,
    })
}
