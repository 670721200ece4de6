//! The hot path does not touch the heap: after warm-up, rx_burst, tx_burst
//! and reclaim through the mock (production engines over the simulated
//! kernel) allocate nothing, in both Rx modes.

use tapring_core::{Burst, Pool, PoolConfig, Port, RxMode, RxQueue, TxQueue};
use tapring_mock::alloc_count::{CountingAlloc, allocations, counted};
use tapring_mock::{Capture, MockPort, MockPortConfig, WireConfig};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn run(mode: RxMode) {
    let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
    let cfg = MockPortConfig {
        rx_mode: mode,
        wire: WireConfig {
            capture: Capture::Digest,
            ..WireConfig::default()
        },
        ..MockPortConfig::default()
    };
    let mut port = MockPort::new(&pool, cfg).unwrap();
    let wire = port.wire(0).clone();
    let (mut rx, mut tx) = (port.take_rx(0).unwrap(), port.take_tx(0).unwrap());
    let frames: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            (0..60 + 100 * usize::from(i))
                .map(|b| b as u8 ^ i)
                .collect()
        })
        .collect();
    let mut burst: Burst = Burst::new();
    let (mut received, mut sent) = (0u64, 0u64);
    let mut before = allocations();
    for round in 0..10_100u32 {
        for f in &frames {
            assert!(wire.inject(f));
        }
        if round == 100 {
            // Warm-up done.
            before = allocations();
        }
        let n = counted(|| rx.rx_burst(&mut burst)).unwrap();
        received += n as u64;
        let m = counted(|| tx.tx_burst(&mut burst)).unwrap();
        sent += m as u64;
        counted(|| tx.reclaim()).unwrap();
        assert!(burst.is_empty(), "the Tx queue takes all of a small burst");
    }
    let allocs = allocations() - before;
    assert_eq!(allocs, 0, "{mode:?}: {allocs} allocations on the hot path");
    assert_eq!(received, 10_100 * 8, "{mode:?}: every frame received");
    assert_eq!(sent, received);
    tx.reclaim().unwrap();
    let d = wire.digest();
    assert_eq!(d.frames, sent, "every frame reached the wire");
    let expected =
        tapring_mock::Digest::of((0..10_100).flat_map(|_| frames.iter().map(Vec::as_slice)));
    assert_eq!(d, expected, "byte for byte, in order");
    assert_eq!(rx.stats().drops.total(), 0);
}

#[test]
fn rx_and_tx_bursts_do_not_allocate() {
    // The counter counts.
    let before = allocations();
    let v = counted(|| Vec::<u8>::with_capacity(16));
    assert!(allocations() > before);
    drop(v);
    run(RxMode::Posted);
    run(RxMode::Multishot);
    run(RxMode::Nowait);
}
