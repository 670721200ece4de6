//! The state-machine property shared by `properties.rs` and `mutations.rs`:
//! a seed and a sequence of operations run against the production engines
//! over the simulated kernel, with every invariant checked after every step
//! and after the final teardown.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::collections::VecDeque;
use tapring_core::backend::engine::EngineConfig;
use tapring_core::backend::ring::Ring;
use tapring_core::{Burst, BurstSlice, Pkt, Pool, PoolConfig, RxMode};
use tapring_mock::{
    FaultRates, ReadFault, Schedule, SimConfig, SimRing, SimRxEngine, SimTxEngine, SimWire,
    WireConfig, WriteFault, slots,
};

/// What the cases exercised, summed over a run (printed by `properties.rs`
/// so a reader can see the faults really happened).
pub static COVERAGE: std::sync::Mutex<[u64; 14]> = std::sync::Mutex::new([0; 14]);
pub const COVERAGE_NAMES: [&str; 14] = [
    "rx delivered",
    "rx runt",
    "rx truncated",
    "rx nombuf",
    "rx canceled",
    "rx io_error+again",
    "tail dropped",
    "rx duplicates",
    "tx duplicates",
    "tx sent",
    "tx short",
    "tx io_error",
    "cq overflows",
    "enobufs",
];

/// Marker (byte 1) of frames injected on the wire.
pub const RX_MARK: u8 = 0xa1;
/// Marker of packets the test builds for transmission.
pub const TX_MARK: u8 = 0xb2;
const DEPTH: usize = 16;
const POOL: u32 = 144;
/// Largest frame sent without segmentation (EngineConfig default).
const MAX_FRAME: usize = 1518;
/// Bytes a read may fill (standard pool, no virtio-net header).
const ROOM: usize = 2048;

/// A frame or packet: `02 mark seq[4] pattern...`, cut to `len`.
pub fn frame(mark: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len.max(6));
    f.push(0x02);
    f.push(mark);
    f.extend_from_slice(&seq.to_le_bytes());
    let mut i = 0u32;
    while f.len() < len {
        f.push((seq.wrapping_mul(31).wrapping_add(i * 7)) as u8);
        i += 1;
    }
    f.truncate(len);
    f
}

/// (mark, seq) of a frame, if it is long enough to say.
pub fn ident(data: &[u8]) -> Option<(u8, u32)> {
    (data.len() >= 6).then(|| (data[1], u32::from_le_bytes(data[2..6].try_into().unwrap())))
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Normal(usize),
    Runt(usize),
    Oversize(usize),
}

impl Kind {
    fn len(self) -> usize {
        match self {
            Kind::Normal(n) | Kind::Runt(n) | Kind::Oversize(n) => n,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    Read(ReadFault),
    Write(WriteFault),
    RaceNextCancel(u32),
}

#[derive(Clone, Debug)]
pub enum Op {
    Inject(Vec<Kind>),
    RxBurst(u8),
    DropHeld(u8),
    ForwardHeld(u8),
    TxNew(Vec<Kind>),
    Fault(Fault),
    Wait,
    Reclaim,
    RestartRx,
    RestartTx,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub mode: RxMode,
    pub schedule: Schedule,
    pub sq_entries: usize,
    pub cq_entries: usize,
    /// Buffers in the pool (small pools run dry: nombuf).
    pub pool: u32,
    /// Random faults from the seed (on top of the scripted ones).
    pub random_faults: bool,
    pub ops: Vec<Op>,
}

fn rx_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        8 => (14usize..=1514).prop_map(Kind::Normal),
        1 => (1usize..=13).prop_map(Kind::Runt),
        1 => (ROOM + 1..=ROOM + 400).prop_map(Kind::Oversize),
    ]
}

fn tx_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        8 => (14usize..=MAX_FRAME).prop_map(Kind::Normal),
        1 => (1usize..=13).prop_map(Kind::Runt),
        1 => (MAX_FRAME + 1..=ROOM).prop_map(Kind::Oversize),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Read(ReadFault::Again)),
        Just(Fault::Read(ReadFault::Io)),
        (1u32..=13).prop_map(|n| Fault::Read(ReadFault::Short(n))),
        Just(Fault::Read(ReadFault::NoBufs)),
        Just(Fault::Read(ReadFault::Duplicate)),
        Just(Fault::Write(WriteFault::Io)),
        (6u32..=13).prop_map(|n| Fault::Write(WriteFault::Short(n))),
        Just(Fault::Write(WriteFault::Duplicate)),
        (1u32..=4).prop_map(Fault::RaceNextCancel),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(rx_kind(), 1..8).prop_map(Op::Inject),
        6 => prop_oneof![Just(1u8), Just(4), Just(32)].prop_map(Op::RxBurst),
        2 => (1u8..16).prop_map(Op::DropHeld),
        2 => (1u8..16).prop_map(Op::ForwardHeld),
        3 => prop::collection::vec(tx_kind(), 1..8).prop_map(Op::TxNew),
        4 => fault().prop_map(Op::Fault),
        1 => Just(Op::Wait),
        1 => Just(Op::Reclaim),
        1 => Just(Op::RestartRx),
        1 => Just(Op::RestartTx),
    ]
}

pub fn case(mode: RxMode) -> impl Strategy<Value = Case> {
    let schedule = prop_oneof![
        Just(Schedule::Immediate),
        (0u32..5).prop_map(|max_delay| Schedule::Delayed { max_delay }),
        (2u32..5).prop_map(|period| Schedule::Batched { period }),
    ];
    (
        any::<u64>(),
        schedule,
        prop_oneof![Just(256usize), Just(8)],
        prop_oneof![Just(512usize), (1usize..6)],
        prop_oneof![Just(POOL), (DEPTH as u32 + 8..=64)],
        any::<bool>(),
        prop::collection::vec(op(), 1..80),
    )
        .prop_map(
            move |(seed, schedule, sq_entries, cq_entries, pool, random_faults, ops)| Case {
                seed,
                mode,
                schedule,
                sq_entries,
                cq_entries,
                pool,
                random_faults,
                ops,
            },
        )
}

/// Test-side bookkeeping.
struct Model {
    pool: Pool,
    wire: SimWire,
    rx: SimRxEngine,
    tx: SimTxEngine,
    /// Length of injected frame `seq` (None: tail-dropped).
    injected: Vec<Option<usize>>,
    last_delivered: Option<u32>,
    /// Received packets the test holds, with their seq.
    held: VecDeque<(Pkt, u32)>,
    /// Every packet tx_burst consumed, in order: (mark, seq, len).
    consumed: Vec<(u8, u32, usize)>,
    /// Consumed packets that went to the kernel (not runt/oversize).
    posted: Vec<(u8, u32, usize)>,
    /// Next `posted` entry a wire frame may match.
    wire_at: usize,
    full_on_wire: u64,
    partial_on_wire: u64,
    skipped: u64,
    tx_seq: u32,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(fail(format!($($arg)*)));
        }
    };
}

impl Model {
    fn new(c: &Case) -> Model {
        let pool = Pool::new(PoolConfig::standard(c.pool)).expect("pool");
        let wire = SimWire::new(WireConfig {
            queue_capacity: 32,
            ..WireConfig::default()
        });
        let sim = SimConfig {
            seed: c.seed,
            sq_entries: c.sq_entries,
            cq_entries: c.cq_entries,
            multishot: true,
            nowait: true,
            schedule: c.schedule,
            faults: if c.random_faults {
                FaultRates {
                    read_again: 20,
                    read_io: 20,
                    read_runt: 20,
                    read_nobufs: 20,
                    read_duplicate: 20,
                    write_io: 20,
                    write_short: 20,
                    write_duplicate: 20,
                    cancel_race: 300,
                }
            } else {
                FaultRates::default()
            },
        };
        let cfg = EngineConfig::default();
        let mut rx = SimRxEngine::new(SimRing::new(&wire, sim), &pool, slots(DEPTH), c.mode, cfg)
            .expect("rx engine");
        let tsim = SimConfig {
            seed: c.seed ^ 0x5555,
            ..sim
        };
        let mut tx =
            SimTxEngine::new(SimRing::new(&wire, tsim), &pool, slots(DEPTH), cfg).expect("tx");
        rx.start().expect("rx start");
        tx.start().expect("tx start");
        Model {
            pool,
            wire,
            rx,
            tx,
            injected: Vec::new(),
            last_delivered: None,
            held: VecDeque::new(),
            consumed: Vec::new(),
            posted: Vec::new(),
            wire_at: 0,
            full_on_wire: 0,
            partial_on_wire: 0,
            skipped: 0,
            tx_seq: 0,
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Inject(kinds) => {
                for k in kinds {
                    let seq = self.injected.len() as u32;
                    let ok = self.wire.inject(&frame(RX_MARK, seq, k.len()));
                    self.injected.push(ok.then_some(k.len()));
                }
            }
            Op::RxBurst(n) => match n {
                1 => self.rx_burst::<1>()?,
                4 => self.rx_burst::<4>()?,
                _ => self.rx_burst::<32>()?,
            },
            Op::DropHeld(n) => {
                for _ in 0..*n {
                    self.held.pop_front();
                }
            }
            Op::ForwardHeld(n) => {
                let mut b: Burst<16> = Burst::new();
                let mut items = Vec::new();
                while b.len() < usize::from(*n) {
                    let Some((p, seq)) = self.held.pop_front() else {
                        break;
                    };
                    items.push((RX_MARK, seq, p.pkt_len()));
                    b.push(p).expect("room");
                }
                self.tx_burst(&mut b, items)?;
            }
            Op::TxNew(kinds) => {
                let mut b: Burst<16> = Burst::new();
                let mut items = Vec::new();
                for k in kinds {
                    let Some(mut p) = self.pool.alloc() else {
                        break;
                    };
                    let seq = self.tx_seq;
                    self.tx_seq += 1;
                    p.extend_from_slice(&frame(TX_MARK, seq, k.len()))
                        .expect("fits");
                    items.push((TX_MARK, seq, k.len()));
                    b.push(p).expect("room");
                }
                self.tx_burst(&mut b, items)?;
            }
            Op::Fault(Fault::Read(f)) => self.wire.script_read(*f),
            Op::Fault(Fault::Write(f)) => self.wire.script_write(*f),
            Op::Fault(Fault::RaceNextCancel(n)) => self.wire.race_next_cancel(*n),
            Op::Wait => self.rx.wait(Some(std::time::Duration::ZERO)).map_err(err)?,
            Op::Reclaim => {
                self.tx.reclaim().map_err(err)?;
            }
            Op::RestartRx => {
                self.rx.stop().map_err(err)?;
                ensure!(self.rx.in_flight() == 0, "rx in flight after stop");
                self.rx.start().map_err(err)?;
            }
            Op::RestartTx => {
                self.tx.stop().map_err(err)?;
                ensure!(self.tx.in_flight() == 0, "tx in flight after stop");
                self.tx.start().map_err(err)?;
            }
        }
        Ok(())
    }

    fn rx_burst<const N: usize>(&mut self) -> Result<(), TestCaseError> {
        let mut b: Burst<N> = Burst::new();
        let n = self.rx.rx_burst(&mut b).map_err(err)?;
        ensure!(
            n == b.len(),
            "rx_burst returned {n} but appended {}",
            b.len()
        );
        let mut got = Vec::new();
        b.drain_each(|p| got.push(p));
        for p in got {
            let seq = self.check_delivered(&p)?;
            self.held.push_back((p, seq));
        }
        Ok(())
    }

    /// A delivered packet is the next expected frame, byte for byte.
    fn check_delivered(&mut self, p: &Pkt) -> Result<u32, TestCaseError> {
        let data = p.data();
        let Some((mark, seq)) = ident(data) else {
            return Err(fail(format!("delivered a {}-byte packet", data.len())));
        };
        ensure!(mark == RX_MARK, "delivered a frame that was never injected");
        let len = self.injected.get(seq as usize).copied().flatten();
        ensure!(len.is_some(), "delivered frame {seq}: never queued");
        ensure!(
            self.last_delivered.is_none_or(|l| seq > l),
            "frame {seq} delivered after {:?}: duplicate or reordered",
            self.last_delivered
        );
        let len = len.unwrap();
        ensure!(
            (14..=ROOM).contains(&len),
            "delivered runt/oversize frame {seq}"
        );
        ensure!(
            p.pkt_len() == len && data == frame(RX_MARK, seq, len).as_slice(),
            "frame {seq} delivered with wrong bytes ({} of {len})",
            p.pkt_len()
        );
        self.last_delivered = Some(seq);
        Ok(seq)
    }

    fn tx_burst(
        &mut self,
        b: &mut BurstSlice,
        items: Vec<(u8, u32, usize)>,
    ) -> Result<(), TestCaseError> {
        let before: Vec<u32> = b.iter().map(|p| p.buf_index()).collect();
        let n = self.tx.tx_burst(b).map_err(err)?;
        let after: Vec<u32> = b.iter().map(|p| p.buf_index()).collect();
        ensure!(n <= before.len(), "tx_burst took {n} of {}", before.len());
        ensure!(
            after == before[n..],
            "tx_burst left {after:?}, not the suffix of {before:?} after {n}"
        );
        for &(mark, seq, len) in &items[..n] {
            self.consumed.push((mark, seq, len));
            if (14..=MAX_FRAME).contains(&len) {
                self.posted.push((mark, seq, len));
            }
        }
        // The rest: verify intact, then drop (back to the pool).
        for (p, &(mark, seq, len)) in b.iter().zip(&items[n..]) {
            ensure!(
                p.data() == frame(mark, seq, len).as_slice(),
                "unconsumed packet modified"
            );
        }
        b.clear();
        Ok(())
    }

    /// Matches newly written frames against the consumed packets, in order.
    fn match_wire(&mut self) -> Result<(), TestCaseError> {
        for f in self.wire.take_written() {
            let Some(id) = ident(&f) else {
                return Err(fail(format!("{}-byte frame on the wire", f.len())));
            };
            let start = self.wire_at;
            while self.wire_at < self.posted.len()
                && (self.posted[self.wire_at].0, self.posted[self.wire_at].1) != id
            {
                self.wire_at += 1;
            }
            ensure!(
                self.wire_at < self.posted.len(),
                "wire frame {id:?} matches no consumed packet in order (duplicate or reordered)"
            );
            self.skipped += (self.wire_at - start) as u64;
            let (mark, seq, len) = self.posted[self.wire_at];
            self.wire_at += 1;
            let want = frame(mark, seq, len);
            ensure!(
                f.len() <= len && f[..] == want[..f.len()],
                "wire frame {id:?} has wrong bytes"
            );
            if f.len() == len {
                self.full_on_wire += 1;
            } else {
                self.partial_on_wire += 1;
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        let (rx, tx) = (&self.rx, &self.tx);
        // 1. Conservation of buffers.
        let in_use = self.pool.stats().in_use as usize;
        let accounted =
            rx.cached() + tx.cached() + rx.in_flight() + tx.in_flight() + self.held.len();
        ensure!(
            in_use == accounted,
            "pool in_use {in_use} != rx cached {} + tx cached {} + rx in flight {} + tx in flight {} + held {}",
            rx.cached(),
            tx.cached(),
            rx.in_flight(),
            tx.in_flight(),
            self.held.len()
        );
        // 4. The kernel holds exactly what the engines think it holds, and
        // nothing the test holds.
        ensure!(
            rx.ring().outstanding_buffers() == rx.in_flight(),
            "kernel holds {} Rx buffers, engine thinks {}",
            rx.ring().outstanding_buffers(),
            rx.in_flight()
        );
        ensure!(
            tx.ring().outstanding_buffers() == tx.in_flight(),
            "kernel holds {} Tx buffers, engine thinks {}",
            tx.ring().outstanding_buffers(),
            tx.in_flight()
        );
        for (p, seq) in &self.held {
            let d = p.data();
            ensure!(
                !rx.ring().holds_memory(d.as_ptr(), d.len()),
                "held packet {seq} is also lent to the kernel"
            );
            let len = self.injected[*seq as usize].unwrap();
            ensure!(
                d == frame(RX_MARK, *seq, len).as_slice(),
                "held packet {seq} was overwritten"
            );
        }
        // 2. Frames: never more accounted than consumed.
        let w = self.wire.counters();
        let s = rx.stats();
        let d = &s.drops;
        let accounted = s.packets + d.runt + d.truncated + d.nombuf + d.canceled;
        ensure!(
            accounted <= w.consumed,
            "rx accounts for {accounted} frames, the kernel delivered {}",
            w.consumed
        );
        ensure!(
            w.injected == w.tail_dropped + w.consumed + self.wire.queued() as u64,
            "wire counters do not add up: {w:?}"
        );
        // 3. Tx: every consumed packet is in flight or in exactly one counter.
        let t = tx.stats();
        let td = &t.drops;
        let sum = t.packets
            + td.short_write
            + td.io_error
            + td.oversize
            + td.runt
            + td.canceled
            + tx.in_flight() as u64;
        ensure!(
            sum == self.consumed.len() as u64,
            "tx: {} consumed, but sent {} + short {} + io {} + oversize {} + runt {} + canceled {} + in flight {}",
            self.consumed.len(),
            t.packets,
            td.short_write,
            td.io_error,
            td.oversize,
            td.runt,
            td.canceled,
            tx.in_flight()
        );
        self.match_wire()
    }

    fn teardown(mut self) -> Result<(), TestCaseError> {
        self.held.clear();
        self.rx.stop().map_err(err)?;
        self.tx.stop().map_err(err)?;
        ensure!(
            self.rx.in_flight() == 0 && self.tx.in_flight() == 0,
            "in flight after teardown"
        );
        self.check()?;
        // Completions nobody waited for any more: only duplicates may be left.
        let rx_left = leftover(self.rx.ring_mut());
        let tx_left = leftover(self.tx.ring_mut());
        ensure!(
            self.pool.stats().in_use == 0,
            "{} buffers not free after teardown",
            self.pool.stats().in_use
        );
        let w = self.wire.counters();
        let s = *self.rx.stats();
        let d = &s.drops;
        // 2. Every consumed frame in exactly one place.
        ensure!(
            s.packets + d.runt + d.truncated + d.nombuf + d.canceled == w.consumed,
            "rx: kernel consumed {} frames; delivered {} + runt {} + truncated {} + nombuf {} + canceled {}",
            w.consumed,
            s.packets,
            d.runt,
            d.truncated,
            d.nombuf,
            d.canceled
        );
        let delivered_expected = self.last_delivered.map_or(0, |l| l + 1);
        ensure!(
            s.packets <= u64::from(delivered_expected),
            "too many deliveries"
        );
        ensure!(
            s.xstats.spurious + rx_left == w.rx_duplicates,
            "rx ignored {} completions (+{rx_left} never harvested), {} duplicated",
            s.xstats.spurious,
            w.rx_duplicates
        );
        // A no-wait read answers EAGAIN whenever the queue is empty, which
        // is no fault: only its I/O errors are bounded by the faults.
        let again = if self.rx.mode() == RxMode::Nowait {
            0
        } else {
            s.xstats.again
        };
        ensure!(
            d.io_error + again <= w.read_errors,
            "rx counted more read errors than happened"
        );
        if let Ok(mut c) = COVERAGE.lock() {
            let t = self.tx.stats();
            let add = [
                s.packets,
                d.runt,
                d.truncated,
                d.nombuf,
                d.canceled,
                d.io_error + again,
                w.tail_dropped,
                w.rx_duplicates,
                w.tx_duplicates,
                t.packets,
                t.drops.short_write,
                t.drops.io_error,
                w.cq_overflows,
                w.enobufs,
            ];
            for (a, b) in c.iter_mut().zip(add) {
                *a += b;
            }
        }
        // 3. Tx: the wire agrees with the counters.
        let t = *self.tx.stats();
        let unmatched = (self.posted.len() - self.wire_at) as u64;
        ensure!(
            t.packets == self.full_on_wire && t.packets == w.written,
            "tx sent {} but {} whole frames on the wire",
            t.packets,
            self.full_on_wire
        );
        ensure!(
            t.drops.short_write == self.partial_on_wire,
            "short writes {} vs partial frames {}",
            t.drops.short_write,
            self.partial_on_wire
        );
        ensure!(
            t.drops.io_error == self.skipped + unmatched && t.drops.io_error == w.write_errors,
            "tx io errors {} vs packets missing from the wire {} (kernel: {})",
            t.drops.io_error,
            self.skipped + unmatched,
            w.write_errors
        );
        ensure!(
            t.xstats.spurious + tx_left == w.tx_duplicates,
            "tx ignored {} completions (+{tx_left} never harvested), {} duplicated",
            t.xstats.spurious,
            w.tx_duplicates
        );
        Ok(())
    }
}

/// Harvests what is left on a ring after teardown; counts all but cancels.
fn leftover(ring: &mut SimRing) -> u64 {
    let _ = ring.wait(None);
    let mut cqes = [tapring_core::backend::ring::Cqe::default(); 64];
    let mut n = 0;
    loop {
        let got = ring.harvest(&mut cqes);
        n += cqes[..got].iter().filter(|c| c.token != u64::MAX).count() as u64;
        if got == 0 {
            return n;
        }
    }
}

fn err(e: tapring_core::Error) -> TestCaseError {
    fail(format!("engine error: {e}"))
}

/// Runs one case; the error names the seed and the failing step.
pub fn run_case(c: &Case) -> Result<(), TestCaseError> {
    let mut m = Model::new(c);
    let tag = |i: usize, e: TestCaseError| {
        fail(format!(
            "seed {:#x}, mode {:?}, step {i} ({:?}): {e}",
            c.seed,
            c.mode,
            c.ops.get(i)
        ))
    };
    m.check().map_err(|e| tag(0, e))?;
    for (i, op) in c.ops.iter().enumerate() {
        m.step(op).map_err(|e| tag(i, e))?;
        m.check().map_err(|e| tag(i, e))?;
    }
    m.teardown().map_err(|e| tag(c.ops.len(), e))
}

/// Cases per property: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// Runs the property for `mode` with `runner`.
pub fn run_property(runner: &mut TestRunner, mode: RxMode) -> Result<(), TestError<Case>> {
    runner.run(&case(mode), |c| run_case(&c))
}

/// Sanity: the ring trait is what the engines drive.
pub fn _assert_ring<R: Ring>() {}
