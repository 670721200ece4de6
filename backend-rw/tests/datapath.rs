//! Read/write backend specifics the generic suite does not cover: what tun
//! itself does with a read buffer shorter than the frame (the fact the Rx
//! queue's truncation rule rests on), option validation, and queues that
//! outlive their port on other threads.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use tapring_core::{Burst, Pool, PoolConfig, Port, RxQueue, TxQueue};
use tapring_device::{TapConfig, TapDevice, VnetHdrLen};
use tapring_rw::{RwError, RwOptions, RwPort};
use tapring_testkit::{
    InterfaceGuard, PacketSocket, TEST_ETHERTYPE, disable_ipv6, require_tap, test_frame,
    unique_name,
};

/// Opens a device with IPv6 off, then up; and a socket injecting into it.
fn device(vnet: VnetHdrLen) -> (TapDevice, PacketSocket, InterfaceGuard) {
    let name = unique_name("trd");
    let guard = InterfaceGuard::new(&name);
    let tap = TapDevice::open(&TapConfig::named(&name).vnet_hdr(vnet)).unwrap();
    assert!(disable_ipv6(&name));
    tap.set_up(true).unwrap();
    let inj = PacketSocket::bind(tap.ifindex(), TEST_ETHERTYPE).unwrap();
    (tap, inj, guard)
}

/// Reads from a nonblocking fd, waiting up to a second for a frame.
fn read_wait(tap: &TapDevice, buf: &mut [u8]) -> nix::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match nix::unistd::read(tap.queue_fd(0), buf) {
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            r => return r,
        }
    }
}

/// tun on a short read buffer (Linux 6.18): copies what fits, returns the
/// buffer's length (not the frame's, no EMSGSIZE), and discards the rest
/// of the frame; the next read gets the next frame. With a virtio-net
/// header, a buffer shorter than the header is EINVAL and the frame is
/// lost as well (tun takes it off its ring before copying).
#[test]
fn tun_cuts_a_frame_longer_than_the_read_buffer_and_returns_the_buffer_length() {
    if !require_tap() {
        return;
    }
    let (tap, inj, _guard) = device(VnetHdrLen::None);
    let big = test_frame(1, 1000);
    inj.send(&big).unwrap();
    inj.send(&test_frame(2, 60)).unwrap();
    let mut buf = [0u8; 100];
    assert_eq!(
        read_wait(&tap, &mut buf),
        Ok(100),
        "returns the buffer length"
    );
    assert_eq!(&buf[..], &big[..100], "the head of the frame");
    let mut buf = [0u8; 2048];
    assert_eq!(read_wait(&tap, &mut buf), Ok(60), "the rest is gone");

    let (tap, inj, _guard) = device(VnetHdrLen::Short);
    inj.send(&big).unwrap();
    let mut tiny = [0u8; 9];
    assert_eq!(read_wait(&tap, &mut tiny), Err(Errno::EINVAL));
    let mut buf = [0u8; 2048];
    assert_eq!(
        nix::unistd::read(tap.queue_fd(0), &mut buf),
        Err(Errno::EAGAIN),
        "the frame is gone"
    );
}

/// With the pool exhausted, the frame stays queued in the kernel (the
/// synchronous backend reads nothing it cannot keep): rx_nombuf counts
/// the bursts that stopped, and the frame arrives once buffers are back.
#[test]
fn exhausted_pool_loses_no_frame() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(64)).unwrap();
    let (tap, inj, _guard) = device(VnetHdrLen::None);
    let mut port = RwPort::from_device(tap, &pool, RwOptions::default()).unwrap();
    let mut rx = port.take_rx(0).unwrap();
    let hoard: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
    let frame = test_frame(5, 60);
    inj.send(&frame).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut burst: Burst = Burst::new();
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
    let st = rx.stats();
    assert_eq!((st.rx_nombuf, st.drops.nombuf), (2, 0));
    drop(hoard);
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1);
    assert_eq!(burst.get(0).unwrap().data(), &frame[..]);
}

#[test]
fn bad_options_are_typed_errors_before_any_syscall() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(8)).unwrap();
    let name = unique_name("trd");
    let _guard = InterfaceGuard::new(&name);
    for opts in [
        RwOptions::default().rx_segments(0),
        RwOptions::default().rx_segments(17),
        RwOptions::default().burst(0),
    ] {
        assert!(matches!(
            RwPort::open(&TapConfig::named(&name), &pool, opts),
            Err(RwError::Option { .. })
        ));
    }
}

/// Queues move to threads and keep working after the port is dropped
/// (each owns a dup of its fd); info reflects the device.
#[test]
fn queues_outlive_the_port_on_other_threads() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(256)).unwrap();
    let (tap, inj, _guard) = device(VnetHdrLen::Mergeable);
    tap.set_mtu(9000).unwrap();
    let mut port = RwPort::from_device(tap, &pool, RwOptions::default()).unwrap();
    let info = port.info();
    assert_eq!(
        (
            info.max_frame,
            info.vnet_hdr_len,
            info.rx_queues,
            info.backend
        ),
        (9018, tapring_core::VnetHdrLen::Mergeable, 1, "read-write")
    );
    let stats = port.stats().unwrap();
    assert_eq!((stats.imissed, stats.tx_packets), (0, 0));
    let mut rx = port.take_rx(0).unwrap();
    let mut tx = port.take_tx(0).unwrap();
    let fd_name = port.device().name().to_owned();
    drop(port); // the queues' dups keep the device alive
    assert!(tapring_testkit::interface_exists(&fd_name));
    let frame = test_frame(9, 1000);
    inj.send(&frame).unwrap();
    let got = std::thread::spawn(move || {
        let mut burst: Burst = Burst::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while burst.is_empty() && Instant::now() < deadline {
            rx.wait(Some(Duration::from_millis(50))).unwrap();
            rx.rx_burst(&mut burst).unwrap();
        }
        burst.pop().map(|p| p.data().to_vec())
    })
    .join()
    .unwrap();
    assert!(
        got.as_deref() == Some(&frame[..]),
        "the frame arrives intact"
    );
    let pool2 = pool.clone();
    std::thread::spawn(move || {
        let mut burst: Burst = Burst::new();
        let mut p = pool2.alloc().unwrap();
        p.extend_from_slice(&test_frame(1, 60)).unwrap();
        burst.push(p).unwrap();
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 1);
        assert_eq!(tx.stats().packets, 1);
    })
    .join()
    .unwrap();
    drop(inj);
    assert_eq!(pool.stats().in_use, 0);
}
