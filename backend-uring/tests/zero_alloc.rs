//! The io_uring hot path does not touch the heap on a real TAP device:
//! after warm-up, rx_burst, tx_burst and reclaim allocate nothing, in every
//! Rx mode this kernel supports, while frames really move both ways.

use std::time::{Duration, Instant};
use tapring_core::{Burst, Pool, PoolConfig, Port, RxMode, RxQueue, TxQueue};
use tapring_device::TapConfig;
use tapring_mock::alloc_count::{CountingAlloc, allocations, counted};
use tapring_testkit::{
    InterfaceGuard, PacketSocket, TEST_ETHERTYPE, disable_ipv6, quiet_ip, require_tap, test_frame,
    test_frame_seq, unique_name,
};
use tapring_uring::{UringConfig, UringPort};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const ROUNDS: u32 = 2_000;
const WARM_UP: u32 = 50;
const PER_ROUND: u32 = 8;

fn run(mode: RxMode) {
    let name = unique_name("trza");
    let _guard = InterfaceGuard::new(&name);
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    let cfg = UringConfig::default().rx_mode(mode);
    let mut port = UringPort::open(&TapConfig::named(&name), &pool, cfg).unwrap();
    assert!(disable_ipv6(&name));
    assert!(quiet_ip(&["link", "set", "dev", &name, "up"]));
    let (mut rx, mut tx) = (port.take_rx(0).unwrap(), port.take_tx(0).unwrap());
    rx.start().unwrap();
    // Frames the kernel sends out of the interface, i.e. to tapring.
    let inject = PacketSocket::bind(port.device().ifindex(), TEST_ETHERTYPE).unwrap();
    let mut burst: Burst = Burst::new();
    let (mut received, mut sent) = (0u64, 0u64);
    let mut before = allocations();
    for round in 0..ROUNDS {
        if round == WARM_UP {
            before = allocations();
        }
        for i in 0..PER_ROUND {
            inject
                .send(&test_frame(round * PER_ROUND + i, 60 + 8 * i as usize))
                .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut got = 0;
        while got < PER_ROUND as usize && Instant::now() < deadline {
            got += counted(|| rx.rx_burst(&mut burst)).unwrap();
        }
        received += got as u64;
        // Only our frames arrive (IPv6 is off, no address): send them
        // back out (the kernel drops the unknown ethertype and counts it).
        assert!(burst.iter().all(|p| test_frame_seq(p.data()).is_some()));
        sent += counted(|| tx.tx_burst(&mut burst)).unwrap() as u64;
        counted(|| tx.reclaim()).unwrap();
        burst.clear();
    }
    let allocs = allocations() - before;
    assert_eq!(allocs, 0, "{mode:?}: {allocs} allocations on the hot path");
    assert_eq!(
        received,
        u64::from(ROUNDS * PER_ROUND),
        "{mode:?}: every frame received"
    );
    assert_eq!(sent, received, "{mode:?}: every frame sent back");
    drop((rx, tx));
    drop(port);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn uring_bursts_do_not_allocate() {
    if !require_tap() {
        return;
    }
    // The counter counts.
    let before = allocations();
    let v = counted(|| Vec::<u8>::with_capacity(16));
    assert!(allocations() > before);
    drop(v);
    let p = tapring_uring::probe();
    for (mode, ok) in [
        (RxMode::Nowait, p.nowait()),
        (RxMode::Posted, true),
        (RxMode::Multishot, p.multishot()),
    ] {
        if ok {
            run(mode);
        } else {
            eprintln!("{mode:?} skipped: not supported by this kernel");
        }
    }
}
