//! `AnyPort` picks the backend asked for, and `Backend::Auto` uses io_uring
//! exactly when the kernel allows it (falling back with a reason otherwise).

use tapring::tap::TapConfig;
use tapring::tap::testkit::{require_tap, unique_name};
use tapring::uring::UringConfig;
use tapring::{AnyPort, Backend, Burst, Pool, PoolConfig, Port, TxQueue};

#[test]
fn auto_uses_io_uring_when_usable_and_explicit_choices_hold() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
    let auto = AnyPort::open(
        &TapConfig::named(unique_name("tra")),
        &pool,
        Backend::Auto,
        UringConfig::default(),
    )
    .unwrap();
    if tapring::uring::probe().usable() {
        assert_eq!(auto.info().backend, "uring");
        assert_eq!(auto.fallback_reason(), None);
    } else {
        assert_eq!(auto.info().backend, "tap");
        assert!(auto.fallback_reason().is_some(), "a fallback says why");
    }
    let mut tap = AnyPort::open(
        &TapConfig::named(unique_name("trt")),
        &pool,
        Backend::Tap,
        UringConfig::default(),
    )
    .unwrap();
    assert_eq!(tap.info().backend, "tap");
    assert_eq!(
        tap.fallback_reason(),
        None,
        "read/write was asked for, not a fallback"
    );
    // Boxed queues are queues: a frame goes out through the trait object.
    tap.device().set_up(true).unwrap();
    let mut tx = tap.take_tx(0).unwrap();
    let mut burst: Burst = Burst::new();
    let mut p = pool.alloc().unwrap();
    p.extend_from_slice(&[0x02; 60]).unwrap();
    burst.push(p).unwrap();
    assert_eq!(tx.tx_burst(&mut burst).unwrap(), 1);
    assert_eq!(tx.stats().packets, 1);
    assert!(tap.take_tx(0).is_err(), "a queue is taken once");
    drop((tx, tap, auto));
    assert_eq!(pool.stats().in_use, 0);
}
