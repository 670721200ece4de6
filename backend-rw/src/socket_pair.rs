//! Unit-test stand-in for a TAP queue fd: like tun, a unix datagram socket
//! hands over one frame per read, cuts a frame longer than the buffer, and
//! answers EAGAIN when there is nothing to read or no room to write.

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use std::os::fd::OwnedFd;

/// A nonblocking, close-on-exec unix datagram socket pair.
pub(crate) fn datagram_pair() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}
