//! No-wait Rx specifics over the simulated kernel: nothing stays lent between
//! bursts, the read batch follows the traffic (few wasted reads), and a
//! waiting queue arms exactly one poll, which teardown cancels.

use tapring_core::backend::engine::EngineConfig;
use tapring_core::{Burst, Pool, PoolConfig, RxMode};
use tapring_mock::{SimConfig, SimRing, SimRxEngine, SimWire, slots};

const DEPTH: usize = 64;

fn engine(wire: &SimWire, pool: &Pool) -> SimRxEngine {
    let ring = SimRing::new(wire, SimConfig::default());
    let mut rx = SimRxEngine::new(
        ring,
        pool,
        slots(DEPTH),
        RxMode::Auto,
        EngineConfig::default(),
    )
    .expect("engine");
    rx.start().expect("start");
    rx
}

fn frame(seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0] = 0x02;
    f[6..10].copy_from_slice(&seq.to_be_bytes());
    f
}

#[test]
fn auto_picks_nowait_and_lends_nothing_between_bursts() {
    let pool = Pool::new(PoolConfig::standard(512)).unwrap();
    let wire = SimWire::default();
    let mut rx = engine(&wire, &pool);
    assert_eq!(rx.mode(), RxMode::Nowait);
    assert_eq!(rx.in_flight(), 0, "start lends nothing");
    let mut burst: Burst<32> = Burst::new();
    for seq in 0..20 {
        assert!(wire.inject(&frame(seq)));
    }
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 20);
    for (i, p) in burst.iter().enumerate() {
        assert_eq!(p.data(), frame(i as u32).as_slice(), "order and bytes");
    }
    assert_eq!(rx.in_flight(), 0);
    assert_eq!(
        rx.ring().outstanding_buffers(),
        0,
        "the kernel holds nothing"
    );
    // Held by the test, cached by the queue: nothing else is out.
    assert_eq!(
        pool.stats().in_use as usize,
        burst.len() + rx.cached(),
        "every buffer accounted for"
    );
}

#[test]
fn release_cached_gives_the_cache_back_and_the_queue_refills_it() {
    let pool = Pool::new(PoolConfig::standard(512)).unwrap();
    let wire = SimWire::default();
    let mut rx = engine(&wire, &pool);
    let mut burst: Burst<32> = Burst::new();
    for seq in 0..20 {
        assert!(wire.inject(&frame(seq)));
    }
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 20);
    let cached = rx.cached();
    assert!(cached > 0, "the batch's unused buffers stay cached");
    assert_eq!(rx.release_cached(), cached);
    assert_eq!(
        (rx.cached(), pool.stats().in_use as usize),
        (0, burst.len())
    );
    burst.clear();
    for seq in 20..25 {
        assert!(wire.inject(&frame(seq)));
    }
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 5, "it refills by itself");
    assert_eq!(burst.get(0).unwrap().data(), frame(20).as_slice());
}

#[test]
fn the_batch_follows_the_traffic() {
    let pool = Pool::new(PoolConfig::standard(512)).unwrap();
    let wire = SimWire::default();
    let mut rx = engine(&wire, &pool);
    let mut burst: Burst<32> = Burst::new();
    // An idle queue: the first burst issues a full batch, then one read per
    // burst answers "nothing".
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
    let first = rx.stats().xstats.again;
    assert_eq!(first, 32, "a first batch of one burst's worth");
    for _ in 0..10 {
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
    }
    assert_eq!(
        rx.stats().xstats.again - first,
        10,
        "one read per idle burst"
    );
    // A trickle of 3 frames per burst: at most one wasted read per burst
    // once the batch has grown to fit.
    let mut seq = 0;
    let mut delivered = 0;
    let mut settled = 0;
    for round in 0..20 {
        if round == 10 {
            settled = rx.stats().xstats.again;
        }
        for _ in 0..3 {
            assert!(wire.inject(&frame(seq)));
            seq += 1;
        }
        delivered += rx.rx_burst(&mut burst).unwrap();
        burst.clear();
    }
    assert_eq!(delivered, 60, "nothing left behind in the kernel");
    let wasted = rx.stats().xstats.again - settled;
    assert!(
        wasted <= 10,
        "{wasted} empty reads in 10 bursts of 3 frames once the batch settled"
    );
    // A full kernel queue: bursts come back full.
    for _ in 0..200 {
        assert!(wire.inject(&frame(seq)));
        seq += 1;
    }
    let before = rx.stats().xstats.again;
    let mut got = 0;
    while got < 200 {
        let n = rx.rx_burst(&mut burst).unwrap();
        assert!(n > 0, "frames are queued");
        got += n;
        burst.clear();
    }
    // Every batch but the last comes back full; the last one ends where
    // the queue does.
    let wasted = rx.stats().xstats.again - before;
    assert!(
        wasted < 32,
        "draining 200 frames wasted {wasted} reads: more than one batch"
    );
}

#[test]
fn waiting_arms_one_poll_and_teardown_cancels_it() {
    let pool = Pool::new(PoolConfig::standard(512)).unwrap();
    let wire = SimWire::default();
    let mut rx = engine(&wire, &pool);
    rx.arm_wakeup().unwrap();
    rx.arm_wakeup().unwrap();
    assert!(rx.ring().poll_armed(), "a poll waits for input");
    assert_eq!(rx.ring().outstanding_buffers(), 0, "a poll holds no buffer");
    // A frame fires the poll; the next burst consumes its completion and
    // delivers the frame.
    assert!(wire.inject(&frame(7)));
    let mut burst: Burst<32> = Burst::new();
    assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1);
    assert_eq!(burst.get(0).map(|p| p.data()), Some(frame(7).as_slice()));
    assert!(!rx.ring().poll_armed());
    assert_eq!(
        rx.stats().xstats.spurious,
        0,
        "the poll completion is expected"
    );
    burst.clear();
    // Armed and then stopped: the poll is cancelled, nothing is left.
    rx.arm_wakeup().unwrap();
    assert!(rx.ring().poll_armed());
    rx.stop().unwrap();
    assert!(!rx.ring().poll_armed());
    assert_eq!(rx.in_flight(), 0);
    assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
}
