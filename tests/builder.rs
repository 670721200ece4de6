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
