//! `TxQueue::alloc` over the simulated kernel: a sender that allocates
//! from its Tx queue reuses the buffers of its finished writes and leaves
//! the pool's shared list alone; every buffer is accounted for.

use tapring_core::{Burst, Pool, PoolConfig, Port, TxQueue};
use tapring_mock::{Capture, MockPort, MockPortConfig, WireConfig};

#[test]
fn a_sender_allocating_from_its_queue_reuses_its_own_buffers() {
    let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
    let cfg = MockPortConfig {
        wire: WireConfig {
            capture: Capture::Frames,
            ..WireConfig::default()
        },
        ..MockPortConfig::default()
    };
    let mut port = MockPort::new(&pool, cfg).unwrap();
    let wire = port.wire(0).clone();
    let mut tx = port.take_tx(0).unwrap();
    let mut burst: Burst = Burst::new();
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..200u32 {
        while !burst.is_full() {
            let mut p = tx.alloc().expect("a buffer");
            p.extend_from_slice(&[round as u8; 60]).unwrap();
            seen.insert(p.buf_index());
            burst.push(p).unwrap();
        }
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 32, "round {round}");
        tx.reclaim().unwrap();
        assert_eq!(wire.take_written().len(), 32, "round {round}");
    }
    // 6400 frames went through no more buffers than one refill of the
    // queue's cache and one burst in flight hold: the same ones, again.
    assert!(seen.len() <= 128 + 32, "{} distinct buffers", seen.len());
    assert_eq!(tx.stats().packets, 200 * 32);
    tx.stop().unwrap();
    drop(tx);
    assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
}

#[test]
fn alloc_falls_back_to_the_pool_and_says_when_it_is_empty() {
    let pool = Pool::new(PoolConfig::standard(8)).unwrap();
    let mut port = MockPort::new(&pool, MockPortConfig::default()).unwrap();
    let mut tx = port.take_tx(0).unwrap();
    let held: Vec<_> = std::iter::from_fn(|| tx.alloc()).collect();
    assert_eq!(held.len(), 8, "the whole pool, through the queue");
    assert!(tx.alloc().is_none());
    drop(held);
    assert!(tx.alloc().is_some(), "freed buffers are found again");
}
