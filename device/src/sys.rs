//! Every `unsafe` of the crate: the TUN/TAP and interface ioctls, and the raw
//! `ifreq` struct they take. Each function here is a safe wrapper: it builds
//! the argument on the stack, makes exactly one ioctl on a borrowed fd, and
//! converts the result into owned Rust values. Nothing outside this module
//! touches a raw pointer.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;

/// The TUN/TAP clone device.
pub(crate) const TUN_PATH: &str = "/dev/net/tun";

/// `IFNAMSIZ`: 15 bytes of name plus the terminating NUL.
pub(crate) const IFNAMSIZ: usize = libc::IFNAMSIZ;

// `struct ethtool_value` commands (include/uapi/linux/ethtool.h). These legacy
// getters are stable ABI, unlike the bit positions of ETHTOOL_GFEATURES.
/// Is any transmit checksum feature on.
pub(crate) const ETHTOOL_GTXCSUM: u32 = 0x16;
/// Is any TSO feature on.
pub(crate) const ETHTOOL_GTSO: u32 = 0x1e;

/// `struct ethtool_value` from linux/ethtool.h.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

nix::ioctl_readwrite_bad!(tun_set_iff_raw, libc::TUNSETIFF, libc::ifreq);
nix::ioctl_readwrite_bad!(tun_get_iff_raw, libc::TUNGETIFF, libc::ifreq);
nix::ioctl_readwrite_bad!(tun_set_queue_raw, libc::TUNSETQUEUE, libc::ifreq);
nix::ioctl_none_bad!(tun_get_dev_netns_raw, libc::TUNGETDEVNETNS);
nix::ioctl_write_int_bad!(tun_set_offload_raw, libc::TUNSETOFFLOAD);
nix::ioctl_write_int_bad!(tun_set_persist_raw, libc::TUNSETPERSIST);
nix::ioctl_write_int_bad!(tun_set_owner_raw, libc::TUNSETOWNER);
nix::ioctl_write_int_bad!(tun_set_group_raw, libc::TUNSETGROUP);
nix::ioctl_read_bad!(tun_get_features_raw, libc::TUNGETFEATURES, libc::c_uint);
nix::ioctl_write_ptr_bad!(tun_set_vnet_hdr_sz_raw, libc::TUNSETVNETHDRSZ, libc::c_int);
nix::ioctl_read_bad!(tun_get_vnet_hdr_sz_raw, libc::TUNGETVNETHDRSZ, libc::c_int);
nix::ioctl_readwrite_bad!(if_get_flags_raw, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_readwrite_bad!(if_set_flags_raw, libc::SIOCSIFFLAGS, libc::ifreq);
nix::ioctl_readwrite_bad!(if_get_mtu_raw, libc::SIOCGIFMTU, libc::ifreq);
nix::ioctl_readwrite_bad!(if_set_mtu_raw, libc::SIOCSIFMTU, libc::ifreq);
nix::ioctl_readwrite_bad!(if_get_hwaddr_raw, libc::SIOCGIFHWADDR, libc::ifreq);
nix::ioctl_readwrite_bad!(if_set_hwaddr_raw, libc::SIOCSIFHWADDR, libc::ifreq);
nix::ioctl_readwrite_bad!(if_get_index_raw, libc::SIOCGIFINDEX, libc::ifreq);
nix::ioctl_readwrite_bad!(ethtool_raw, libc::SIOCETHTOOL, libc::ifreq);

/// An all-zero `ifreq` carrying `name` (already validated: at most 15 bytes,
/// no NUL). An empty name leaves the kernel to pick one.
fn ifreq_named(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct (a char array and a union of
    // integers, sockaddrs and a pointer); all-zero bytes are a valid value of
    // every field, and a null `ifru_data` is never dereferenced by us.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes().take(IFNAMSIZ - 1)) {
        *dst = src as libc::c_char;
    }
    ifr
}

/// The NUL-terminated name the kernel wrote into `ifr`.
fn ifreq_name(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Opens `/dev/net/tun` read-write, non-blocking, close-on-exec.
pub(crate) fn open_tun() -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        TUN_PATH,
        OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// A datagram socket in the caller's network namespace, used only as the
/// handle for name-based interface ioctls (SIOC*).
pub(crate) fn control_socket() -> nix::Result<OwnedFd> {
    nix::sys::socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// TUNSETIFF: creates or attaches `name` (may be a `%d` template or empty)
/// with `flags`; returns the name the kernel chose.
pub(crate) fn tun_set_iff(
    fd: BorrowedFd<'_>,
    name: &str,
    flags: libc::c_int,
) -> nix::Result<String> {
    let mut ifr = ifreq_named(name);
    // The flags travel in the short `ifr_flags`; every TUN flag fits in 16 bits.
    ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: `fd` is a live descriptor for the duration of the call; `ifr`
    // is a properly initialised ifreq on our stack, which the kernel reads and
    // writes (the chosen name) only during the call.
    unsafe { tun_set_iff_raw(fd.as_raw_fd(), &mut ifr) }?;
    Ok(ifreq_name(&ifr))
}

/// TUNGETIFF: the current name of the device this fd is attached to and its
/// TUN flags (IFF_TAP, IFF_MULTI_QUEUE, IFF_VNET_HDR, IFF_PERSIST, ...).
pub(crate) fn tun_get_iff(fd: BorrowedFd<'_>) -> nix::Result<(String, libc::c_int)> {
    let mut ifr = ifreq_named("");
    // SAFETY: live fd; the kernel fills our stack ifreq during the call only.
    unsafe { tun_get_iff_raw(fd.as_raw_fd(), &mut ifr) }?;
    // SAFETY: TUNGETIFF writes the flags into `ifr_flags` (the union member
    // is a c_short; any bit pattern is a valid c_short).
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    // Reinterpret the 16 flag bits as unsigned before widening.
    Ok((ifreq_name(&ifr), libc::c_int::from(flags as u16)))
}

/// TUNGETDEVNETNS (Linux 5.2+): a new fd of the network namespace the
/// device this queue fd is attached to is in now, wherever it was moved
/// since. Needs CAP_NET_ADMIN over that namespace (EPERM otherwise); an
/// older kernel answers EINVAL (or ENOTTY).
pub(crate) fn tun_get_dev_netns(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    // SAFETY: live fd; TUNGETDEVNETNS takes no argument and passes no
    // memory to or from the kernel.
    let ns = unsafe { tun_get_dev_netns_raw(fd.as_raw_fd()) }?;
    // SAFETY: on success the ioctl's return value is a new descriptor
    // (opened close-on-exec by open_related_ns) that nothing else owns;
    // wrapping it makes it closed exactly once, when the OwnedFd drops.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// TUNSETQUEUE: attaches (`true`) or detaches (`false`) this queue fd.
pub(crate) fn tun_set_queue(fd: BorrowedFd<'_>, attach: bool) -> nix::Result<()> {
    let mut ifr = ifreq_named("");
    let flag = if attach {
        libc::IFF_ATTACH_QUEUE
    } else {
        libc::IFF_DETACH_QUEUE
    };
    ifr.ifr_ifru.ifru_flags = flag as libc::c_short;
    // SAFETY: live fd; the kernel only reads our stack ifreq during the call.
    unsafe { tun_set_queue_raw(fd.as_raw_fd(), &mut ifr) }.map(drop)
}

/// TUNSETOFFLOAD: sets the device-wide TUN_F_* mask to exactly `flags`.
pub(crate) fn tun_set_offload(fd: BorrowedFd<'_>, flags: u32) -> nix::Result<()> {
    // The TUN_F_* mask uses the low 7 bits, so it fits an int unchanged.
    let arg = flags as libc::c_int;
    // SAFETY: live fd; TUNSETOFFLOAD takes its argument by value, no memory
    // is passed to the kernel.
    unsafe { tun_set_offload_raw(fd.as_raw_fd(), arg) }.map(drop)
}

/// TUNSETPERSIST.
pub(crate) fn tun_set_persist(fd: BorrowedFd<'_>, persist: bool) -> nix::Result<()> {
    // SAFETY: live fd; the argument is passed by value.
    unsafe { tun_set_persist_raw(fd.as_raw_fd(), libc::c_int::from(persist)) }.map(drop)
}

/// TUNSETOWNER.
pub(crate) fn tun_set_owner(fd: BorrowedFd<'_>, uid: libc::uid_t) -> nix::Result<()> {
    // uid_t is 32 bits; the kernel reads the argument as an unsigned long and
    // truncates it back to uid_t, so the bit pattern round-trips.
    let arg = uid as libc::c_int;
    // SAFETY: live fd; the argument is passed by value.
    unsafe { tun_set_owner_raw(fd.as_raw_fd(), arg) }.map(drop)
}

/// TUNSETGROUP.
pub(crate) fn tun_set_group(fd: BorrowedFd<'_>, gid: libc::gid_t) -> nix::Result<()> {
    // Same round-trip argument as `tun_set_owner`.
    let arg = gid as libc::c_int;
    // SAFETY: live fd; the argument is passed by value.
    unsafe { tun_set_group_raw(fd.as_raw_fd(), arg) }.map(drop)
}

/// TUNGETFEATURES: the IFF_* flags this kernel's TUNSETIFF accepts. Works on
/// a fresh, unattached fd and needs no privilege.
pub(crate) fn tun_get_features(fd: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut features: libc::c_uint = 0;
    // SAFETY: live fd; the kernel writes one unsigned int into `features`,
    // which lives on our stack for the duration of the call.
    unsafe { tun_get_features_raw(fd.as_raw_fd(), &mut features) }?;
    Ok(features)
}

/// TUNSETVNETHDRSZ (the kernel rejects sizes below 10 with EINVAL).
pub(crate) fn tun_set_vnet_hdr_sz(fd: BorrowedFd<'_>, size: libc::c_int) -> nix::Result<()> {
    // SAFETY: live fd; the kernel copies one int from `&size`, which outlives
    // the call.
    unsafe { tun_set_vnet_hdr_sz_raw(fd.as_raw_fd(), &size) }.map(drop)
}

/// TUNGETVNETHDRSZ.
pub(crate) fn tun_get_vnet_hdr_sz(fd: BorrowedFd<'_>) -> nix::Result<libc::c_int> {
    let mut size: libc::c_int = 0;
    // SAFETY: live fd; the kernel writes one int into `size` on our stack.
    unsafe { tun_get_vnet_hdr_sz_raw(fd.as_raw_fd(), &mut size) }?;
    Ok(size)
}

/// SIOCGIFFLAGS: the interface flags (IFF_UP, IFF_RUNNING, IFF_PROMISC, ...),
/// low 16 bits.
pub(crate) fn if_get_flags(sock: BorrowedFd<'_>, name: &str) -> nix::Result<libc::c_int> {
    let mut ifr = ifreq_named(name);
    // SAFETY: live socket; the kernel fills our stack ifreq during the call.
    unsafe { if_get_flags_raw(sock.as_raw_fd(), &mut ifr) }?;
    // SAFETY: SIOCGIFFLAGS stores the flags in `ifr_flags`; any bit pattern
    // is a valid c_short.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    Ok(libc::c_int::from(flags as u16))
}

/// SIOCSIFFLAGS.
pub(crate) fn if_set_flags(
    sock: BorrowedFd<'_>,
    name: &str,
    flags: libc::c_int,
) -> nix::Result<()> {
    let mut ifr = ifreq_named(name);
    ifr.ifr_ifru.ifru_flags = flags as u16 as libc::c_short;
    // SAFETY: live socket; the kernel reads our stack ifreq during the call.
    unsafe { if_set_flags_raw(sock.as_raw_fd(), &mut ifr) }.map(drop)
}

/// SIOCGIFMTU.
pub(crate) fn if_get_mtu(sock: BorrowedFd<'_>, name: &str) -> nix::Result<u32> {
    let mut ifr = ifreq_named(name);
    // SAFETY: live socket; the kernel fills our stack ifreq during the call.
    unsafe { if_get_mtu_raw(sock.as_raw_fd(), &mut ifr) }?;
    // SAFETY: SIOCGIFMTU stores an int in `ifr_mtu`.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    Ok(u32::try_from(mtu).unwrap_or(0))
}

/// SIOCSIFMTU.
pub(crate) fn if_set_mtu(sock: BorrowedFd<'_>, name: &str, mtu: u32) -> nix::Result<()> {
    let mut ifr = ifreq_named(name);
    ifr.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu).map_err(|_| Errno::EINVAL)?;
    // SAFETY: live socket; the kernel reads our stack ifreq during the call.
    unsafe { if_set_mtu_raw(sock.as_raw_fd(), &mut ifr) }.map(drop)
}

/// SIOCGIFHWADDR: the Ethernet address.
pub(crate) fn if_get_hwaddr(sock: BorrowedFd<'_>, name: &str) -> nix::Result<[u8; 6]> {
    let mut ifr = ifreq_named(name);
    // SAFETY: live socket; the kernel fills our stack ifreq during the call.
    unsafe { if_get_hwaddr_raw(sock.as_raw_fd(), &mut ifr) }?;
    // SAFETY: SIOCGIFHWADDR stores a sockaddr in `ifr_hwaddr`; sockaddr is
    // plain integers, valid for any bit pattern.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, &src) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *dst = src as u8;
    }
    Ok(mac)
}

/// SIOCSIFHWADDR with an Ethernet (ARPHRD_ETHER) address.
pub(crate) fn if_set_hwaddr(sock: BorrowedFd<'_>, name: &str, mac: [u8; 6]) -> nix::Result<()> {
    let mut ifr = ifreq_named(name);
    // SAFETY: an all-zero sockaddr is valid (plain integers).
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (dst, &src) in sa.sa_data.iter_mut().zip(mac.iter()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_hwaddr = sa;
    // SAFETY: live socket; the kernel reads our stack ifreq during the call.
    unsafe { if_set_hwaddr_raw(sock.as_raw_fd(), &mut ifr) }.map(drop)
}

/// SIOCGIFINDEX: the ifindex of `name` in the socket's network namespace.
pub(crate) fn if_get_index(sock: BorrowedFd<'_>, name: &str) -> nix::Result<u32> {
    let mut ifr = ifreq_named(name);
    // SAFETY: live socket; the kernel fills our stack ifreq during the call.
    unsafe { if_get_index_raw(sock.as_raw_fd(), &mut ifr) }?;
    // SAFETY: SIOCGIFINDEX stores an int in `ifr_ifindex`.
    let index = unsafe { ifr.ifr_ifru.ifru_ifindex };
    u32::try_from(index).map_err(|_| Errno::EINVAL)
}

/// A legacy `ETHTOOL_G*` value getter (e.g. [`ETHTOOL_GTSO`]): 0 or 1.
pub(crate) fn ethtool_get_value(sock: BorrowedFd<'_>, name: &str, cmd: u32) -> nix::Result<u32> {
    let mut value = EthtoolValue { cmd, data: 0 };
    let mut ifr = ifreq_named(name);
    ifr.ifr_ifru.ifru_data = (&raw mut value).cast::<libc::c_char>();
    // SAFETY: live socket; `ifru_data` points at `value`, a repr(C)
    // ethtool_value on our stack that outlives the call; the kernel reads
    // `cmd` and writes `data` within its bounds.
    unsafe { ethtool_raw(sock.as_raw_fd(), &mut ifr) }?;
    Ok(value.data)
}

/// An `AF_PACKET` raw socket bound to interface `ifindex` for frames of
/// EtherType `protocol` (host order; `ETH_P_ALL` = 3 captures every frame).
/// Frames sent on it leave through that interface with `skb->protocol` set
/// to `protocol`, which is what the kernel's flow hashing looks at. Used by
/// the test kit to inject and capture frames on a TAP interface.
///
/// The socket is created with protocol 0 (it receives nothing) and only
/// then bound, so it never sees frames of other interfaces.
pub(crate) fn packet_socket(ifindex: u32, protocol: u16) -> nix::Result<OwnedFd> {
    use nix::sys::socket::{LinkAddr, SockaddrLike};
    let fd = nix::sys::socket::socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: an all-zero sockaddr_ll is valid (plain integers).
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = libc::c_int::try_from(ifindex).map_err(|_| Errno::EINVAL)?;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a fully initialised sockaddr_ll on our stack, `len` is
    // its size, and its family is AF_PACKET, which is what LinkAddr wraps;
    // from_raw copies it.
    let addr = unsafe { LinkAddr::from_raw((&raw const sll).cast::<libc::sockaddr>(), Some(len)) }
        .ok_or(Errno::EINVAL)?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr)?;
    Ok(fd)
}

/// `setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)`: frames sent on the
/// packet socket `fd` go straight to the device, skipping the qdisc layer.
pub(crate) fn packet_qdisc_bypass(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int on our stack that outlives the call, and the
    // length passed is exactly its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(rc).map(drop)
}

/// `setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)`: datagrams
/// sent on the IPv4 socket `fd` carry Don't Fragment and one larger than
/// the path MTU fails with EMSGSIZE instead of being fragmented.
pub(crate) fn ip_dont_fragment(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let value: libc::c_int = libc::IP_PMTUDISC_DO;
    // SAFETY: `value` is a c_int on our stack that outlives the call, and
    // the length passed is exactly its size; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    Errno::result(rc).map(drop)
}

/// poll(2) over raw descriptor numbers (an event loop's readiness fds,
/// which their queues own): fills each entry's `revents`; returns how many
/// are ready. An fd that is not open reports POLLNVAL rather than touching
/// anything, so a raw number is memory-safe here.
pub(crate) fn poll_raw(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> nix::Result<usize> {
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()`
    // pollfd structs; poll(2) writes only their `revents` fields.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Errno::result(n).map(|n| n as usize)
}
