//! The harness's only `unsafe`: AF_PACKET sockets (the kernel-side traffic
//! source and sink of the benchmarks and self-tests).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Every EtherType, in network byte order, as AF_PACKET wants it.
const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// An AF_PACKET raw socket bound to one interface.
pub struct PacketSocket {
    fd: OwnedFd,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl PacketSocket {
    /// Opens a raw packet socket bound to interface `ifindex`. With
    /// `receive` it sees every frame on the interface; without, it is a pure
    /// source that receives nothing (no receive queue to fill).
    pub fn bind(ifindex: u32, receive: bool) -> io::Result<PacketSocket> {
        let proto = if receive { ETH_P_ALL_BE } else { 0 };
        // SAFETY: plain socket(2); the result is checked.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        })?;
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        })?;
        Ok(PacketSocket { fd })
    }

    fn setsockopt(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        val: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `val` is a c_int and the length says so.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        })
        .map(drop)
    }

    /// Sends straight to the device, skipping the qdisc layer (the fastest
    /// kernel-side source).
    pub fn bypass_qdisc(&self) -> io::Result<()> {
        self.setsockopt(libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
    }

    /// Sends `frames` with one sendmmsg; returns how many the kernel took.
    pub fn send_batch(&self, frames: &[&[u8]], scratch: &mut BatchScratch) -> io::Result<usize> {
        let n = frames.len().min(scratch.iov.len());
        for (i, f) in frames[..n].iter().enumerate() {
            scratch.iov[i] = libc::iovec {
                iov_base: f.as_ptr().cast_mut().cast(),
                iov_len: f.len(),
            };
            // SAFETY: mmsghdr is plain old data; zero is a valid value.
            scratch.msgs[i] = unsafe { std::mem::zeroed() };
            scratch.msgs[i].msg_hdr.msg_iov = &mut scratch.iov[i];
            scratch.msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: msgs[..n] point at iovecs describing `frames`, all alive
        // for the duration of the call.
        let rc = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                scratch.msgs.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOBUFS) | Some(libc::EAGAIN) => Ok(0),
            _ => Err(e),
        }
    }
}

/// Reusable headers for [`PacketSocket::send_batch`] (no allocation per batch).
pub struct BatchScratch {
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the scratch only holds pointers while a send_batch call runs.
unsafe impl Send for BatchScratch {}

impl BatchScratch {
    /// Room for batches of up to `n` frames.
    pub fn new(n: usize) -> BatchScratch {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        BatchScratch {
            iov: vec![empty; n],
            // SAFETY: mmsghdr is plain old data; zero is a valid value.
            msgs: (0..n).map(|_| unsafe { std::mem::zeroed() }).collect(),
        }
    }
}
