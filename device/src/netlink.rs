//! What only rtnetlink tells: a device's MTU range (IFLA_MIN_MTU,
//! IFLA_MAX_MTU) and how many queues a TUN/TAP device has attached
//! (IFLA_LINKINFO / IFLA_INFO_DATA / IFLA_TUN_NUM_QUEUES). Safe code over a
//! nix netlink socket; the messages are built and parsed as bytes.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

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

/// The RTM_NEWLINK answer to an RTM_GETLINK for `ifindex`.
fn get_link(ifindex: u32) -> nix::Result<Vec<u8>> {
    let sock = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let mut request = [0u8; NLMSG_HDR_LEN + IFINFOMSG_LEN];
    let request_len = request.len() as u32;
    request[0..4].copy_from_slice(&request_len.to_ne_bytes());
    request[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    request[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number
    let index = i32::try_from(ifindex).map_err(|_| Errno::EINVAL)?;
    request[NLMSG_HDR_LEN + 4..NLMSG_HDR_LEN + 8].copy_from_slice(&index.to_ne_bytes());
    sendto(
        sock.as_raw_fd(),
        &request,
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
