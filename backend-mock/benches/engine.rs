//! The engine's own cost per packet, with no kernel: the production Tx and
//! Rx engines over an [`InstantRing`], which completes every operation at
//! the next flush and copies nothing. What it measures is what tapring
//! adds to each frame on top of the system calls (pool, packets, in-flight
//! table, framing checks, statistics) plus the ring's own bookkeeping,
//! which the `ring` group measures alone (subtract it). The kernel's part
//! is not in it. Every timed burst checks that it moved a full burst.
//!
//! Built as tapring-mock's dev-dependencies build tapring-core, with its
//! `mutation-testing` feature: its hooks are atomic loads that sit behind
//! failure branches, none of which a successful burst takes.
//!
//! `cargo bench -p tapring-mock --bench engine` (time per burst of 32, and
//! packets per second).

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tapring_core::backend::engine::{EngineConfig, RxEngine, TxEngine};
use tapring_core::backend::ring::Cqe;
use tapring_core::{Burst, Pool, PoolConfig, RxMode};
use tapring_mock::{InstantRing, slots};

/// Packets per burst, as `tapring bench` uses by default.
const BURST: usize = 32;
/// In-flight slots per queue.
const DEPTH: usize = 256;

fn pool() -> Pool {
    Pool::new(PoolConfig::standard(4096)).expect("a pool")
}

fn tx_engine(pool: &Pool) -> TxEngine<InstantRing, Vec<tapring_core::backend::engine::Slot>> {
    let mut tx = TxEngine::new(
        InstantRing::new(DEPTH, 0),
        pool,
        slots(DEPTH),
        EngineConfig::default(),
    )
    .expect("a Tx engine");
    tx.start().expect("started");
    tx
}

fn rx_engine(
    pool: &Pool,
    frame: usize,
) -> RxEngine<InstantRing, Vec<tapring_core::backend::engine::Slot>> {
    let mut rx = RxEngine::new(
        InstantRing::new(DEPTH, frame),
        pool,
        slots(DEPTH),
        RxMode::Nowait,
        EngineConfig::default(),
    )
    .expect("an Rx engine");
    rx.start().expect("started");
    rx
}

/// A sender's burst: allocate from the Tx engine, fill, transmit (over
/// this ring the writes complete, and are reaped, inside the same
/// `tx_burst`).
fn tx(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(BURST as u64));
    for size in [64usize, 1514] {
        let pool = pool();
        let mut tx = tx_engine(&pool);
        let frame = vec![0x5au8; size];
        let mut burst: Burst<BURST> = Burst::new();
        g.bench_function(format!("alloc+fill+tx_burst {size} B"), |b| {
            b.iter(|| {
                while !burst.is_full() {
                    let Some(mut p) = tx.alloc() else { break };
                    p.extend_from_slice(&frame).expect("fits");
                    if burst.push(p).is_err() {
                        break;
                    }
                }
                let sent = tx.tx_burst(&mut burst).expect("sent");
                assert_eq!(black_box(sent), BURST);
            })
        });
        tx.stop().expect("stopped");
    }
    g.finish();
}

/// A receiver's burst in no-wait mode, then freeing what it got.
fn rx(c: &mut Criterion) {
    let mut g = c.benchmark_group("rx");
    g.throughput(Throughput::Elements(BURST as u64));
    for size in [64usize, 1514] {
        let pool = pool();
        let mut rx = rx_engine(&pool, size);
        let mut burst: Burst<BURST> = Burst::new();
        g.bench_function(format!("rx_burst+clear {size} B"), |b| {
            b.iter(|| {
                let got = rx.rx_burst(&mut burst).expect("received");
                assert_eq!(black_box(got), BURST);
                burst.clear();
            })
        });
        rx.stop().expect("stopped");
    }
    g.finish();
}

/// One forwarding step: a burst received on one queue is transmitted on
/// another (what `Forwarder` does per burst, without software offloads).
fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(BURST as u64));
    for size in [64usize, 1514] {
        let pool = pool();
        let (mut rx, mut tx) = (rx_engine(&pool, size), tx_engine(&pool));
        let mut burst: Burst<BURST> = Burst::new();
        g.bench_function(format!("rx_burst+tx_burst {size} B"), |b| {
            b.iter(|| {
                assert_eq!(rx.rx_burst(&mut burst).expect("received"), BURST);
                let sent = tx.tx_burst(&mut burst).expect("sent");
                assert_eq!(black_box(sent), BURST);
            })
        });
        rx.stop().expect("stopped");
        tx.stop().expect("stopped");
    }
    g.finish();
}

/// The ring alone: queue, flush and harvest a burst of completions, the
/// part of the figures above that is [`InstantRing`]'s (an io_uring ring
/// has its own: pushing SQEs, reading CQEs).
fn ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(BURST as u64));
    let mut ring = InstantRing::new(DEPTH, 64);
    let mut out = [Cqe::default(); BURST];
    g.bench_function("queue+flush+harvest", |b| {
        b.iter(|| assert_eq!(black_box(ring.bookkeeping(BURST, &mut out)), BURST))
    });
    g.finish();
}

criterion_group!(benches, tx, rx, forward, ring);
criterion_main!(benches);
