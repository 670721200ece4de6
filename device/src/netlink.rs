//! What only rtnetlink tells: a device's MTU range (IFLA_MIN_MTU,
//! IFLA_MAX_MTU), how many queues a TUN/TAP device has attached
//! (IFLA_LINKINFO / IFLA_INFO_DATA / IFLA_TUN_NUM_QUEUES), and an
//! interface's counters (IFLA_STATS64) in any network namespace this
//! process may enter. Safe code over a nix netlink socket; the messages are
//! built and parsed as bytes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

use crate::counters::KernelCounters;

const NLMSG_HDR_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLM_F_REQUEST: u16 = 1;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_TUN_NUM_QUEUES: u16 = 8;
const IFLA_TUN_NUM_DISABLED_QUEUES: u16 = 9;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
/// `struct rtnl_link_stats64`'s first eight u64 counters, in this order:
/// rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors,
/// rx_dropped, tx_dropped (linux/if_link.h; later fields are appended).
const STATS64_MIN_LEN: usize = 8 * 8;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The MTU range of interface `ifindex` in the caller's network namespace,
/// as `(min, max)`. ENODEV when no such interface is here.
pub(crate) fn mtu_range(ifindex: u32) -> nix::Result<(u32, u32)> {
    let reply = get_link(ifindex)?;
    parse_reply(&reply)
}

/// Queues of TUN/TAP interface `ifindex`: `(attached, detached)` (a
/// detached queue holds the device but carries no traffic). EOPNOTSUPP
/// when the kernel does not report them (before 4.15).
pub(crate) fn tun_queues(ifindex: u32) -> nix::Result<(u32, u32)> {
    let reply = get_link(ifindex)?;
    parse_tun_queues(&reply)
}

/// Why a route socket in another network namespace could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnterError {
    /// setns(2) refused (EPERM): CAP_SYS_ADMIN is missing, in this
    /// process's user namespace or over the target's.
    Denied,
    /// Anything else: the operation and its errno.
    Os(&'static str, Errno),
}

/// A route netlink socket in the caller's network namespace.
fn route_socket() -> nix::Result<OwnedFd> {
    socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
}

/// A route netlink socket in network namespace `netns` (a namespace fd,
/// such as TUNGETDEVNETNS gives). A socket belongs to the namespace it was
/// created in for its whole life, and setns(2) moves only the calling
/// thread: so a short-lived thread enters `netns`, creates the socket and
/// ends, and the rest of the process never leaves its own namespace.
pub(crate) fn route_socket_in(netns: BorrowedFd<'_>) -> Result<OwnedFd, EnterError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("tapring-netns".into())
            .spawn_scoped(s, || {
                nix::sched::setns(netns, CloneFlags::CLONE_NEWNET).map_err(
                    |errno| match errno {
                        Errno::EPERM => EnterError::Denied,
                        errno => EnterError::Os("setns", errno),
                    },
                )?;
                route_socket().map_err(|errno| EnterError::Os("socket", errno))
            })
            .map_err(|e| {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN));
                EnterError::Os("spawn a thread", errno)
            })?
            .join()
            // The thread does not panic; if it did, say it failed.
            .unwrap_or(Err(EnterError::Os("setns", Errno::EIO)))
    })
}

/// The counters of interface `name` in the network namespace of `sock` (a
/// route socket, see [`route_socket_in`]): RTM_GETLINK by name, its
/// IFLA_STATS64. ENODEV when no such interface is there.
pub(crate) fn link_stats(sock: BorrowedFd<'_>, name: &str) -> nix::Result<KernelCounters> {
    let mut request = link_request(0);
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    request.extend_from_slice(&((4 + ifname.len()) as u16).to_ne_bytes());
    request.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    request.extend_from_slice(&ifname);
    while !request.len().is_multiple_of(4) {
        request.push(0);
    }
    let reply = exchange(sock, &mut request)?;
    parse_stats64(&reply)
}

/// An RTM_GETLINK request for `index` (0: by the name attribute that
/// follows), its length left to [`exchange`].
fn link_request(index: i32) -> Vec<u8> {
    let mut request = vec![0u8; NLMSG_HDR_LEN + IFINFOMSG_LEN];
    request[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number
    request[NLMSG_HDR_LEN + 4..NLMSG_HDR_LEN + 8].copy_from_slice(&index.to_ne_bytes());
    request
}

/// The RTM_NEWLINK answer to an RTM_GETLINK for `ifindex`.
fn get_link(ifindex: u32) -> nix::Result<Vec<u8>> {
    let sock = route_socket()?;
    let index = i32::try_from(ifindex).map_err(|_| Errno::EINVAL)?;
    exchange(sock.as_fd(), &mut link_request(index))
}

/// Sends `request` (its length set here) on `sock`; the one answer.
fn exchange(sock: BorrowedFd<'_>, request: &mut [u8]) -> nix::Result<Vec<u8>> {
    let request_len = u32::try_from(request.len()).map_err(|_| Errno::EINVAL)?;
    request[0..4].copy_from_slice(&request_len.to_ne_bytes());
    sendto(
        sock.as_raw_fd(),
        request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    let mut reply = vec![0u8; 32 * 1024];
    let n = recv(sock.as_raw_fd(), &mut reply, MsgFlags::empty())?;
    reply.truncate(n);
    Ok(reply)
}

/// The attributes of one nested block `b`, as (type, payload) pairs.
fn attributes(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, at)?);
        let kind = u16_at(b, at + 2)? & NLA_TYPE_MASK;
        if len < 4 {
            return None;
        }
        let payload = b.get(at + 4..at + len)?;
        at += (len + 3) & !3;
        Some((kind, payload))
    })
}

/// The link message's own attributes (after the headers), checked.
fn link_attributes(msg: &[u8]) -> nix::Result<&[u8]> {
    let len = u32_at(msg, 0).ok_or(Errno::EBADMSG)? as usize;
    let kind = u16_at(msg, 4).ok_or(Errno::EBADMSG)?;
    let msg = msg.get(..len).ok_or(Errno::EBADMSG)?;
    if kind == NLMSG_ERROR {
        let err = u32_at(msg, NLMSG_HDR_LEN).ok_or(Errno::EBADMSG)? as i32;
        return Err(Errno::from_raw(-err));
    }
    if kind != RTM_NEWLINK {
        return Err(Errno::EBADMSG);
    }
    msg.get(NLMSG_HDR_LEN + IFINFOMSG_LEN..)
        .ok_or(Errno::EBADMSG)
}

fn parse_tun_queues(msg: &[u8]) -> nix::Result<(u32, u32)> {
    let attrs = link_attributes(msg)?;
    let data = attributes(attrs)
        .find(|(k, _)| *k == IFLA_LINKINFO)
        .and_then(|(_, info)| attributes(info).find(|(k, _)| *k == IFLA_INFO_DATA))
        .map(|(_, data)| data)
        .ok_or(Errno::EOPNOTSUPP)?;
    let (mut attached, mut detached) = (None, None);
    for (kind, payload) in attributes(data) {
        match kind {
            IFLA_TUN_NUM_QUEUES => attached = u32_at(payload, 0),
            IFLA_TUN_NUM_DISABLED_QUEUES => detached = u32_at(payload, 0),
            _ => {}
        }
    }
    match (attached, detached) {
        (Some(a), Some(d)) => Ok((a, d)),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// The counters in a link message's IFLA_STATS64; EOPNOTSUPP without it.
fn parse_stats64(msg: &[u8]) -> nix::Result<KernelCounters> {
    let stats = attributes(link_attributes(msg)?)
        .find(|(k, _)| *k == IFLA_STATS64)
        .map(|(_, payload)| payload)
        .filter(|payload| payload.len() >= STATS64_MIN_LEN)
        .ok_or(Errno::EOPNOTSUPP)?;
    let field = |i: usize| u64_at(stats, 8 * i).unwrap_or(0);
    Ok(KernelCounters {
        rx_packets: field(0),
        tx_packets: field(1),
        rx_bytes: field(2),
        tx_bytes: field(3),
        rx_dropped: field(6),
        tx_dropped: field(7),
    })
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_reply(msg: &[u8]) -> nix::Result<(u32, u32)> {
    let (mut min, mut max) = (None, None);
    for (kind, payload) in attributes(link_attributes(msg)?) {
        match kind {
            IFLA_MIN_MTU => min = u32_at(payload, 0),
            IFLA_MAX_MTU => max = u32_at(payload, 0),
            _ => {}
        }
    }
    match (min, max) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    #[test]
    fn parses_tun_queue_counts_from_nested_link_info() {
        let data = [
            attr(3, &[2]), // IFLA_TUN_TYPE: TAP
            attr(IFLA_TUN_NUM_QUEUES, &3u32.to_ne_bytes()),
            attr(IFLA_TUN_NUM_DISABLED_QUEUES, &1u32.to_ne_bytes()),
        ]
        .concat();
        let info = [attr(1, b"tun\0"), attr(IFLA_INFO_DATA | 0x8000, &data)].concat();
        let mut msg = vec![0u8; 32];
        msg[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        msg.extend(attr(3, b"tr0\0"));
        msg.extend(attr(IFLA_LINKINFO | 0x8000, &info));
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(parse_tun_queues(&msg), Ok((3, 1)));
        // A link without tun data (a veth, an old kernel) says so.
        let mut plain = vec![0u8; 32];
        plain[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        plain[0..4].copy_from_slice(&32u32.to_ne_bytes());
        assert_eq!(parse_tun_queues(&plain), Err(Errno::EOPNOTSUPP));
    }

    #[test]
    fn parses_stats64_among_other_attributes() {
        // rtnl_link_stats64 as the kernel lays it out: 8-byte counters, the
        // first eight as named, then more (multicast, collisions, ...).
        let counters: Vec<u64> = (1..=24).map(|i| i * 100 + i).collect();
        let stats: Vec<u8> = counters.iter().flat_map(|c| c.to_ne_bytes()).collect();
        let mut msg = vec![0u8; 32];
        msg[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        msg.extend(attr(IFLA_IFNAME, b"tr0\0"));
        msg.extend(attr(7, &[0; 4])); // IFLA_STATS (32-bit): not the one
        msg.extend(attr(IFLA_STATS64, &stats));
        msg.extend(attr(IFLA_MIN_MTU, &68u32.to_ne_bytes()));
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(
            parse_stats64(&msg),
            Ok(KernelCounters {
                rx_packets: 101,
                tx_packets: 202,
                rx_bytes: 303,
                tx_bytes: 404,
                rx_dropped: 707,
                tx_dropped: 808,
            })
        );
        // A truncated block, or none at all, is not read as zeros.
        let mut short = vec![0u8; 32];
        short[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        short.extend(attr(IFLA_STATS64, &stats[..56]));
        let len = short.len() as u32;
        short[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(parse_stats64(&short), Err(Errno::EOPNOTSUPP));
        let mut err = vec![0u8; 36];
        err[0..4].copy_from_slice(&36u32.to_ne_bytes());
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_stats64(&err), Err(Errno::ENODEV));
    }

    #[test]
    fn reads_loopback_stats_by_name_here() {
        let sock = route_socket().expect("a route socket");
        let lo = link_stats(sock.as_fd(), "lo").expect("lo has IFLA_STATS64");
        let sysfs = KernelCounters::read_sysfs("lo").expect("lo has statistics");
        // The same counters; sysfs is read later, and they only grow.
        assert!(sysfs.rx_packets >= lo.rx_packets && sysfs.tx_bytes >= lo.tx_bytes);
        assert_eq!(link_stats(sock.as_fd(), "trnosuchif0"), Err(Errno::ENODEV));
    }

    #[test]
    fn parses_attributes_and_errors() {
        let mut msg = vec![0u8; 32];
        msg[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        for (kind, value) in [(3u16, 0u32), (IFLA_MIN_MTU, 68), (IFLA_MAX_MTU, 65521)] {
            msg.extend_from_slice(&8u16.to_ne_bytes());
            msg.extend_from_slice(&kind.to_ne_bytes());
            msg.extend_from_slice(&value.to_ne_bytes());
        }
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(parse_reply(&msg), Ok((68, 65521)));

        let mut err = vec![0u8; 36];
        err[0..4].copy_from_slice(&36u32.to_ne_bytes());
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_reply(&err), Err(Errno::ENODEV));
    }
}
