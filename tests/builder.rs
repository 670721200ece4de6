//! `PortBuilder` opens the backend asked for, and `Backend::Auto` uses
//! io_uring exactly when the kernel allows it (falling back with a reason
//! otherwise); `AnyPort`'s queues move frames whatever the backend.

use tapring::prelude::*;
use tapring::{ForwardError, PortError};
use tapring_testkit::{InterfaceGuard, require_tap, unique_name};

#[test]
fn auto_uses_io_uring_when_usable_and_explicit_choices_hold() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
    let auto = PortBuilder::new(unique_name("tra")).open(&pool).unwrap();
    if tapring::uring::probe().usable() {
        assert_eq!(auto.backend(), Backend::IoUring);
        assert_eq!(auto.info().backend, "io_uring");
        assert_eq!(auto.fallback_reason(), None);
    } else {
        assert_eq!(auto.backend(), Backend::ReadWrite);
        assert!(auto.fallback_reason().is_some(), "a fallback says why");
    }
    let mut rw = PortBuilder::new(unique_name("trt"))
        .backend(Backend::ReadWrite)
        .up(true)
        .open(&pool)
        .unwrap();
    assert_eq!(rw.backend(), Backend::ReadWrite);
    assert_eq!(
        rw.fallback_reason(),
        None,
        "read/write was asked for, not a fallback"
    );
    let mut tx = rw.take_tx(0).unwrap();
    let mut burst: Burst = Burst::new();
    let mut p = pool.alloc().unwrap();
    p.extend_from_slice(&[0x02; 60]).unwrap();
    burst.push(p).unwrap();
    assert_eq!(tx.tx_burst(&mut burst).unwrap(), 1);
    assert_eq!(tx.stats().packets, 1);
    // The port's counters are the kernel's, with the queue taken out.
    let stats = rw.stats().unwrap();
    assert_eq!((stats.tx_packets, stats.tx_bytes), (1, 60), "{stats:?}");
    assert!(rw.take_tx(0).is_err(), "a queue is taken once");
    drop((tx, rw, auto));
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn builder_options_reach_the_device() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
    for backend in [Backend::IoUring, Backend::ReadWrite] {
        let name = unique_name("trb");
        let port = PortBuilder::new(&name)
            .backend(backend)
            .queues(2)
            .mtu(1400)
            .port_id(7)
            .open(&pool)
            .unwrap();
        assert_eq!(port.name(), name);
        assert_eq!(port.info().rx_queues, 2, "{backend}");
        assert_eq!(port.device().mtu().unwrap(), 1400, "{backend}");
    }
}

#[test]
fn bad_configuration_is_a_typed_error_naming_the_field() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
    let err = PortBuilder::new(unique_name("tre"))
        .backend(Backend::ReadWrite)
        .read_write(tapring::rw::RwOptions::default().burst(0))
        .open(&pool)
        .unwrap_err();
    assert!(matches!(err, PortError::ReadWrite(_)), "{err:?}");
    assert!(err.to_string().contains("burst"), "{err}");
}

#[test]
fn forwarder_refuses_mismatched_ports_and_returns_every_buffer() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(16384)).unwrap();
    let (na, nb) = (unique_name("trfa"), unique_name("trfb"));
    let _guards = (InterfaceGuard::new(&na), InterfaceGuard::new(&nb));
    let a = PortBuilder::new(&na).queues(2).open(&pool).unwrap();
    let b = PortBuilder::new(&nb).open(&pool).unwrap();
    let err = Forwarder::start(vec![a, b]).unwrap_err();
    assert!(matches!(err, ForwardError::QueueMismatch { .. }), "{err}");
    assert!(matches!(
        Forwarder::<AnyPort>::start(vec![]),
        Err(ForwardError::PortCount { given: 0 })
    ));
    for backend in [Backend::IoUring, Backend::ReadWrite] {
        let a = PortBuilder::new(unique_name("trfc"))
            .backend(backend)
            .up(true)
            .open(&pool)
            .unwrap();
        let b = PortBuilder::new(unique_name("trfd"))
            .backend(backend)
            .up(true)
            .open(&pool)
            .unwrap();
        let fwd = Forwarder::start(vec![a, b]).unwrap();
        assert_eq!(fwd.ports().len(), 2);
        let stop = fwd.stop_handle();
        stop.stop();
        let report = fwd.join();
        assert_eq!(report.lanes.len(), 1, "{backend}");
        assert_eq!(report.errors().count(), 0, "{backend}: {report}");
        assert_eq!(pool.stats().in_use, 0, "{backend}: buffers back");
    }
}

/// An IPv4 packet of `len` bytes (protocol 253, for experiments) from
/// 198.18.7.1 to 198.18.7.2 with a valid header checksum, `seq` in its
/// payload.
fn ipv4_packet(len: usize, seq: u8) -> Vec<u8> {
    let mut p = vec![seq; len];
    p[..20].fill(0);
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 253;
    p[12..16].copy_from_slice(&[198, 18, 7, 1]);
    p[16..20].copy_from_slice(&[198, 18, 7, 2]);
    let c = tapring_testkit::inet_checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

#[test]
fn a_tun_port_opens_on_each_backend_with_and_without_packet_information() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
    for backend in [Backend::IoUring, Backend::ReadWrite] {
        for pi in [false, true] {
            let name = unique_name("trn");
            let _guard = InterfaceGuard::new(&name);
            let mut port = PortBuilder::new(&name)
                .backend(backend)
                .tun()
                .packet_info(pi)
                .open(&pool)
                .unwrap_or_else(|e| panic!("{backend} pi={pi}: {e}"));
            let what = format!("{backend} pi={pi}");
            assert_eq!(port.device().mode(), DeviceMode::Tun, "{what}");
            assert_eq!(port.device().packet_info(), pi, "{what}");
            let info = port.info();
            assert_eq!(info.framing, Framing::Ip, "{what}");
            assert_eq!(info.max_frame, 1500, "{what}: a TUN's max frame is its MTU");
            assert!(tapring_testkit::disable_ipv6(&name));
            port.device().set_up(true).unwrap();
            let (mut rx, mut tx) = (port.take_rx(0).unwrap(), port.take_tx(0).unwrap());

            // Tx: the kernel counts the IP packet alone (no prefix bytes);
            // a packet that is not IP is refused before the write.
            let mut burst: Burst = Burst::new();
            for bytes in [ipv4_packet(100, 1), vec![0x11; 60]] {
                let mut p = pool.alloc().unwrap();
                p.extend_from_slice(&bytes).unwrap();
                burst.push(p).unwrap();
            }
            assert_eq!(tx.tx_burst(&mut burst).unwrap(), 2, "{what}");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while tx.in_flight() > 0 && std::time::Instant::now() < deadline {
                tx.reclaim().unwrap();
            }
            let st = tx.stats();
            assert_eq!((st.packets, st.bytes), (1, 100), "{what}: {st:?}");
            assert_eq!(st.drops.not_ip, 1, "{what}: {st:?}");
            let kernel = port.stats().unwrap();
            assert_eq!((kernel.tx_packets, kernel.tx_bytes), (1, 100), "{what}");

            // Rx: an IPv4 packet the kernel sends out of the TUN arrives as
            // it was, whatever the packet-information setting.
            let sock = tapring::device::link::PacketSocket::bind(
                info.ifindex,
                tapring::device::link::ETH_P_IP,
            )
            .unwrap();
            let sent = ipv4_packet(200, 2);
            sock.send(&sent).unwrap();
            let mut got = None;
            while got.is_none() && std::time::Instant::now() < deadline {
                rx.wait(Some(std::time::Duration::from_millis(20))).unwrap();
                rx.rx_burst(&mut burst).unwrap();
                burst.drain_each(|p| {
                    if p.data() == &sent[..] {
                        got = Some(p.pkt_len());
                    }
                });
            }
            assert_eq!(got, Some(200), "{what}: the packet arrives unchanged");
            drop((rx, tx, sock, port));
            assert_eq!(pool.stats().in_use, 0, "{what}: buffers back");
        }
    }
}

#[test]
fn forwarder_refuses_a_tap_and_a_tun_port() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    let (na, nb) = (unique_name("trfe"), unique_name("trff"));
    let _guards = (InterfaceGuard::new(&na), InterfaceGuard::new(&nb));
    let a = PortBuilder::new(&na).open(&pool).unwrap();
    let b = PortBuilder::new(&nb).tun().open(&pool).unwrap();
    let err = Forwarder::start(vec![a, b]).unwrap_err();
    assert!(
        matches!(
            err,
            ForwardError::FramingMismatch {
                a_framing: Framing::Ethernet,
                b_framing: Framing::Ip,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("both TAP or both TUN"), "{err}");
    assert_eq!(pool.stats().in_use, 0);
}
