//! Closing means closed: a port's queues driven on another thread, stopped
//! there and dropped with the port, leave nothing behind, so the same name
//! opens again at once, 100 times in a row, on every backend and Rx mode.
//! (io_uring rings used to keep the registered TAP fd referenced until the
//! kernel's asynchronous ring teardown ran, and the reopen failed with
//! "busy".)

use tapring::Error;
use tapring::prelude::*;
use tapring_testkit::{InterfaceGuard, interface_exists, require_tap, unique_name};

mod common;
use common::variants;

#[test]
fn a_closed_port_can_be_reopened_at_once_100_times() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    for (what, open) in variants() {
        let name = unique_name("trr");
        let _guard = InterfaceGuard::new(name.clone());
        for round in 0..100 {
            let mut port = open(&name)
                .up(true)
                .open(&pool)
                .unwrap_or_else(|e| panic!("{what}: reopen {round} of {name}: {e}"));
            let (rx, tx) = (port.take_rx(0).unwrap(), port.take_tx(0).unwrap());
            // Driven and stopped on a thread of their own, as a forwarder's
            // lanes are; dropped here with the port.
            let pool = pool.clone();
            let (rx, tx) = std::thread::spawn(move || -> Result<_, Error> {
                let (mut rx, mut tx) = (rx, tx);
                let mut burst: Burst = Burst::new();
                rx.rx_burst(&mut burst)?;
                burst.clear();
                let mut frame = pool.alloc().expect("a free buffer");
                frame.extend_from_slice(&tapring_testkit::test_frame(round, 60))?;
                burst.push(frame).expect("room");
                tx.tx_burst(&mut burst)?;
                burst.clear();
                rx.stop()?;
                tx.stop()?;
                Ok((rx, tx))
            })
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{what}: round {round}: {e}"));
            drop((rx, tx, port));
            assert!(
                !interface_exists(&name),
                "{what}: {name} outlived its port (round {round})"
            );
        }
        assert_eq!(pool.stats().in_use, 0, "{what}: every buffer back");
    }
}
