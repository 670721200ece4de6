//! A small ICMP echo client, so tests and the self-test need no `ping`
//! binary: [`ping_in_netns`] sends echo requests from a raw socket opened
//! inside a named network namespace and checks every reply.
//!
//! The packet building and parsing are pure functions
//! ([`echo_request`], [`parse_echo_reply`]), unit-tested below; the socket
//! work runs on a thread of its own, because joining a namespace
//! (`setns`) changes only the calling thread.

use crate::inet_checksum;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recvfrom, sendto, socket,
};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// ICMP type of an echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP type of an echo reply.
pub const ICMP_ECHO_REPLY: u8 = 0;
/// Length of the ICMP echo header (type, code, checksum, id, sequence).
pub const ICMP_ECHO_HEADER: usize = 8;

/// What [`ping_in_netns`] saw.
#[derive(Debug, Clone, PartialEq)]
pub struct PingReport {
    /// Echo requests sent.
    pub sent: u32,
    /// Distinct echo replies received with the payload intact.
    pub received: u32,
    /// Replies whose payload (or length) differed from the request's.
    pub corrupt: u32,
    /// Replies to a sequence number already answered.
    pub duplicates: u32,
    /// Round-trip times of the good replies, in the order they arrived.
    pub rtts: Vec<Duration>,
}

impl PingReport {
    /// Whether every request was answered, once, intact.
    pub fn all_replied(&self) -> bool {
        self.sent > 0 && self.received == self.sent && self.corrupt == 0 && self.duplicates == 0
    }

    /// Smallest round-trip time (zero without replies).
    pub fn rtt_min(&self) -> Duration {
        self.rtts.iter().copied().min().unwrap_or_default()
    }

    /// Largest round-trip time (zero without replies).
    pub fn rtt_max(&self) -> Duration {
        self.rtts.iter().copied().max().unwrap_or_default()
    }

    /// Mean round-trip time (zero without replies).
    pub fn rtt_avg(&self) -> Duration {
        if self.rtts.is_empty() {
            return Duration::ZERO;
        }
        self.rtts.iter().sum::<Duration>() / self.rtts.len() as u32
    }

    /// Mean deviation from the mean round-trip time, as `ping` reports it
    /// (the standard deviation).
    pub fn rtt_mdev(&self) -> Duration {
        if self.rtts.is_empty() {
            return Duration::ZERO;
        }
        let avg = self.rtt_avg().as_secs_f64();
        let var = self
            .rtts
            .iter()
            .map(|r| (r.as_secs_f64() - avg).powi(2))
            .sum::<f64>()
            / self.rtts.len() as f64;
        Duration::from_secs_f64(var.sqrt())
    }
}

impl fmt::Display for PingReport {
    /// `3/3 replies, rtt min/avg/max/mdev 0.041/0.052/0.070/0.012 ms`, plus
    /// corrupt and duplicate counts when there are any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{}/{} replies, rtt min/avg/max/mdev {:.3}/{:.3}/{:.3}/{:.3} ms",
            self.received,
            self.sent,
            ms(self.rtt_min()),
            ms(self.rtt_avg()),
            ms(self.rtt_max()),
            ms(self.rtt_mdev())
        )?;
        if self.corrupt > 0 {
            write!(f, ", {} corrupt", self.corrupt)?;
        }
        if self.duplicates > 0 {
            write!(f, ", {} duplicate(s)", self.duplicates)?;
        }
        Ok(())
    }
}

/// The payload of echo request `seq`: `len` bytes of a pattern that
/// depends on the sequence number, so a reply carrying another request's
/// payload does not pass.
pub fn echo_payload(seq: u16, len: usize) -> Vec<u8> {
    let [hi, lo] = seq.to_be_bytes();
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ hi.wrapping_add(lo).wrapping_add(0x5a))
        .collect()
}

/// An ICMP echo request (header and payload, no IP header) with a valid
/// checksum.
pub fn echo_request(ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(ICMP_ECHO_HEADER + payload.len());
    msg.extend_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0]);
    msg.extend_from_slice(&ident.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(payload);
    let sum = inet_checksum(&[&msg]);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    msg
}

/// An echo reply found by [`parse_echo_reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply<'a> {
    /// The IPv4 source address.
    pub src: Ipv4Addr,
    /// The echo identifier.
    pub ident: u16,
    /// The echo sequence number.
    pub seq: u16,
    /// The echoed payload.
    pub payload: &'a [u8],
}

/// Parses what a raw `IPPROTO_ICMP` socket receives (the IPv4 header,
/// then the ICMP message): `Some` for a well-formed echo reply with a
/// valid ICMP checksum, `None` for anything else.
pub fn parse_echo_reply(datagram: &[u8]) -> Option<EchoReply<'_>> {
    let first = *datagram.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || datagram.len() < ihl + ICMP_ECHO_HEADER || datagram[9] != 1 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let end = if (ihl + ICMP_ECHO_HEADER..=datagram.len()).contains(&total) {
        total
    } else {
        datagram.len()
    };
    let icmp = &datagram[ihl..end];
    if icmp[0] != ICMP_ECHO_REPLY || icmp[1] != 0 || inet_checksum(&[icmp]) != 0 {
        return None;
    }
    Some(EchoReply {
        src: Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]),
        ident: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[ICMP_ECHO_HEADER..],
    })
}

/// A per-call echo identifier: the process id mixed with a counter, so
/// concurrent pings in one namespace do not take each other's replies.
fn next_ident() -> u16 {
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    (std::process::id() as u16)
        .wrapping_mul(0x9e37)
        .wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Pings `dst` like `ping -c COUNT -i INTERVAL -W TIMEOUT -s PAYLOAD`:
/// `count` echo requests of `payload` bytes, `interval` apart, from a raw
/// ICMP socket inside network namespace `netns` (a name under
/// `/run/netns`, as `ip netns add` makes; `None`: this thread's
/// namespace). Waits up to `timeout` after the last request for the
/// outstanding replies; returns early once every request is answered.
///
/// Needs CAP_NET_RAW (and CAP_SYS_ADMIN to join a namespace). `Err` only
/// when it could not ping at all (namespace, socket, a failed send such as
/// `EMSGSIZE`); lost replies show in the report.
pub fn ping_in_netns(
    netns: Option<&str>,
    dst: Ipv4Addr,
    payload: usize,
    count: u32,
    interval: Duration,
    timeout: Duration,
) -> Result<PingReport, String> {
    let netns = netns.map(str::to_owned);
    std::thread::Builder::new()
        .name("tapring-ping".into())
        .spawn(move || {
            if let Some(name) = &netns {
                let path = format!("/run/netns/{name}");
                let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
                // Only this thread moves; the rest of the process stays.
                setns(file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns {path}: {e}"))?;
            }
            ping_here(dst, payload, count, interval, timeout)
        })
        .map_err(|e| format!("spawn ping thread: {e}"))?
        .join()
        .map_err(|_| "ping thread panicked".to_string())?
}

/// The body of [`ping_in_netns`], in the calling thread's namespace.
fn ping_here(
    dst: Ipv4Addr,
    payload: usize,
    count: u32,
    interval: Duration,
    timeout: Duration,
) -> Result<PingReport, String> {
    if payload > 65_507 {
        return Err(format!("payload {payload} bytes exceeds an IPv4 datagram"));
    }
    let count = count.min(u32::from(u16::MAX));
    // A raw socket, not an ICMP datagram socket: a fresh namespace's
    // net.ipv4.ping_group_range allows no group to open the latter.
    let sock = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(|e| format!("raw ICMP socket (needs CAP_NET_RAW): {e}"))?;
    // Don't Fragment, as `ping -M do`: an echo larger than the path MTU
    // fails instead of crossing in fragments.
    tapring_device::link::set_dont_fragment(sock.as_fd())
        .map_err(|e| format!("raw ICMP socket: {e}"))?;
    let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
    let ident = next_ident();
    let mut report = PingReport {
        sent: 0,
        received: 0,
        corrupt: 0,
        duplicates: 0,
        rtts: Vec::new(),
    };
    let mut sent_at: Vec<Option<Instant>> = vec![None; count as usize];
    let mut answered = vec![false; count as usize];
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    // Every loop below is bounded by this deadline.
    let deadline = start + interval * count.saturating_sub(1) + timeout;
    let mut next_send = start;
    loop {
        let now = Instant::now();
        if report.sent < count && now >= next_send {
            let seq = report.sent as u16;
            let msg = echo_request(ident, seq, &echo_payload(seq, payload));
            // Stamped before the send: a fast peer's reply may be queued
            // before sendto returns.
            let t0 = Instant::now();
            sendto(sock.as_raw_fd(), &msg, &to, MsgFlags::empty())
                .map_err(|e| format!("sendto {dst} ({payload}-byte payload): {e}"))?;
            sent_at[usize::from(seq)] = Some(t0);
            report.sent += 1;
            next_send += interval;
            continue;
        }
        if report.sent == count && report.received + report.corrupt >= count {
            break;
        }
        if now >= deadline {
            break;
        }
        let mut wait = deadline - now;
        if report.sent < count {
            wait = wait.min(next_send.saturating_duration_since(now));
        }
        let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        // Drain what is queued (bounded: the socket is non-blocking and
        // the deadline is checked on every datagram).
        while Instant::now() < deadline {
            let n = match recvfrom::<SockaddrIn>(sock.as_raw_fd(), &mut buf) {
                Ok((n, _)) => n,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(format!("recvfrom: {e}")),
            };
            let Some(reply) = parse_echo_reply(&buf[..n]) else {
                continue;
            };
            let seq = usize::from(reply.seq);
            if reply.ident != ident || reply.src != dst || seq >= sent_at.len() {
                continue;
            }
            let Some(t0) = sent_at[seq] else { continue };
            if answered[seq] {
                report.duplicates += 1;
            } else if reply.payload != echo_payload(reply.seq, payload).as_slice() {
                report.corrupt += 1;
            } else {
                answered[seq] = true;
                report.received += 1;
                report.rtts.push(t0.elapsed());
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header (IHL 5, protocol ICMP) in front of `icmp`.
    fn ipv4(src: [u8; 4], icmp: &[u8]) -> Vec<u8> {
        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&[198, 18, 0, 1]);
        let sum = inet_checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(icmp);
        ip
    }

    /// What a peer answers to `request`: type 0, checksum fixed up.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = ICMP_ECHO_REPLY;
        r[2..4].fill(0);
        let sum = inet_checksum(&[&r]);
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    #[test]
    fn request_layout_and_checksum() {
        let payload = echo_payload(7, 56);
        let msg = echo_request(0x1234, 7, &payload);
        assert_eq!(msg.len(), 64);
        assert_eq!(&msg[..2], &[8, 0]);
        assert_eq!(&msg[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&msg[8..], payload.as_slice());
        assert_eq!(inet_checksum(&[&msg]), 0, "checksum verifies");
        // Odd payload lengths checksum too.
        assert_eq!(inet_checksum(&[&echo_request(1, 2, &[1, 2, 3])]), 0);
    }

    #[test]
    fn payload_depends_on_sequence() {
        assert_eq!(echo_payload(3, 1000).len(), 1000);
        assert_ne!(echo_payload(0, 64), echo_payload(1, 64));
        assert_eq!(echo_payload(9, 64), echo_payload(9, 64));
    }

    #[test]
    fn parses_reply_after_ip_header() {
        let payload = echo_payload(2, 1472);
        let req = echo_request(0xbeef, 2, &payload);
        let dgram = ipv4([198, 18, 0, 2], &reply_to(&req));
        let r = parse_echo_reply(&dgram).expect("reply");
        assert_eq!(r.src, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!((r.ident, r.seq), (0xbeef, 2));
        assert_eq!(r.payload, payload.as_slice());
    }

    #[test]
    fn skips_ip_options() {
        let req = echo_request(5, 6, &[0xaa; 10]);
        let mut dgram = ipv4([198, 18, 0, 2], &reply_to(&req));
        // IHL 6: four bytes of options (NOPs) after the fixed header.
        dgram[0] = 0x46;
        dgram.splice(20..20, [1, 1, 1, 1]);
        let total = dgram.len() as u16;
        dgram[2..4].copy_from_slice(&total.to_be_bytes());
        let r = parse_echo_reply(&dgram).expect("reply");
        assert_eq!((r.ident, r.seq, r.payload), (5, 6, &[0xaa; 10][..]));
    }

    #[test]
    fn rejects_requests_bad_checksums_and_runts() {
        let req = echo_request(1, 1, &[0; 8]);
        // Our own request (seen on loopback) is not a reply.
        assert!(parse_echo_reply(&ipv4([127, 0, 0, 1], &req)).is_none());
        let mut bad = reply_to(&req);
        bad[9] ^= 0xff;
        assert!(parse_echo_reply(&ipv4([198, 18, 0, 2], &bad)).is_none());
        assert!(parse_echo_reply(&[0x45; 24]).is_none());
        assert!(parse_echo_reply(&[]).is_none());
        let mut udp = ipv4([198, 18, 0, 2], &reply_to(&req));
        udp[9] = 17;
        assert!(parse_echo_reply(&udp).is_none());
    }

    #[test]
    fn report_statistics_and_line() {
        let report = PingReport {
            sent: 3,
            received: 3,
            corrupt: 0,
            duplicates: 0,
            rtts: [1000, 2000, 3000].map(Duration::from_micros).to_vec(),
        };
        assert!(report.all_replied());
        assert_eq!(report.rtt_min(), Duration::from_millis(1));
        assert_eq!(report.rtt_avg(), Duration::from_millis(2));
        assert_eq!(report.rtt_max(), Duration::from_millis(3));
        assert_eq!(
            report.to_string(),
            "3/3 replies, rtt min/avg/max/mdev 1.000/2.000/3.000/0.816 ms"
        );
        let lost = PingReport {
            received: 2,
            rtts: report.rtts[..2].to_vec(),
            ..report.clone()
        };
        assert!(!lost.all_replied());
        let none = PingReport {
            received: 0,
            rtts: vec![],
            ..report
        };
        assert_eq!(none.rtt_avg(), Duration::ZERO);
        assert!(none.to_string().starts_with("0/3 replies"));
    }
}
