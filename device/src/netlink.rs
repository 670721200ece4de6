//! The one thing only rtnetlink tells: a device's MTU range (IFLA_MIN_MTU,
//! IFLA_MAX_MTU). Safe code over a nix netlink socket; the messages are
//! built and parsed as bytes.

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
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The MTU range of interface `ifindex` in the caller's network namespace,
/// as `(min, max)`. ENODEV when no such interface is here.
pub(crate) fn mtu_range(ifindex: u32) -> nix::Result<(u32, u32)> {
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
    parse_reply(&reply[..n])
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_reply(msg: &[u8]) -> nix::Result<(u32, u32)> {
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
    let (mut min, mut max) = (None, None);
    let mut at = NLMSG_HDR_LEN + IFINFOMSG_LEN;
    while let (Some(attr_len), Some(attr_type)) = (u16_at(msg, at), u16_at(msg, at + 2)) {
        let attr_len = usize::from(attr_len);
        if attr_len < 4 {
            break;
        }
        match attr_type & NLA_TYPE_MASK {
            IFLA_MIN_MTU => min = u32_at(msg, at + 4),
            IFLA_MAX_MTU => max = u32_at(msg, at + 4),
            _ => {}
        }
        at += (attr_len + 3) & !3;
    }
    match (min, max) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
