//! The hot path does not touch the heap: after warm-up, rx_burst, tx_burst
//! and reclaim through the mock (production engines over the simulated
//! kernel) allocate nothing, in both Rx modes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use tapring_core::{Burst, Pool, PoolConfig, Port, RxMode, RxQueue, TxQueue};
use tapring_mock::{Capture, MockPort, MockPortConfig, WireConfig};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call unchanged to `System`, which upholds the
// GlobalAlloc contract; the counting touches only an atomic and a
// const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<T>(f: impl FnOnce() -> T) -> T {
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    r
}

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
    let before = ALLOCS.load(Ordering::Relaxed);
    for round in 0..10_100u32 {
        for f in &frames {
            assert!(wire.inject(f));
        }
        if round == 100 {
            // Warm-up done.
            ALLOCS.store(before, Ordering::Relaxed);
        }
        let n = counted(|| rx.rx_burst(&mut burst)).unwrap();
        received += n as u64;
        let m = counted(|| tx.tx_burst(&mut burst)).unwrap();
        sent += m as u64;
        counted(|| tx.reclaim()).unwrap();
        assert!(burst.is_empty(), "the Tx queue takes all of a small burst");
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
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
    let v = counted(|| Vec::<u8>::with_capacity(16));
    assert!(ALLOCS.swap(0, Ordering::Relaxed) >= 1);
    drop(v);
    run(RxMode::Posted);
    run(RxMode::Multishot);
    run(RxMode::Nowait);
}
