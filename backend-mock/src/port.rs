//! [`MockPort`]: a [`Port`] whose queues run the production engine over
//! [`SimRing`]s, so code written on tapring can be tested without a kernel.

use crate::ring::{SimConfig, SimRing};
use crate::wire::{SimWire, WireConfig};
use std::time::Duration;
use tapring_core::backend::engine::{EngineConfig, RxEngine, Slot, TxEngine};
use tapring_core::{
    BurstSlice, Error, Pool, Port, PortInfo, PortStats, QueueStats, RxMode, RxQueue, TxQueue,
};

/// The Rx engine over a simulated ring, as the mock queues use it.
pub type SimRxEngine = RxEngine<SimRing, Vec<Slot>>;
/// The Tx engine over a simulated ring, as the mock queues use it.
pub type SimTxEngine = TxEngine<SimRing, Vec<Slot>>;

/// Empty in-flight storage for an engine of `depth` slots.
pub fn slots(depth: usize) -> Vec<Slot> {
    (0..depth).map(|_| Slot::EMPTY).collect()
}

/// Shape of a [`MockPort`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockPortConfig {
    /// Queue pairs (each with its own wire, like a multi-queue tun fd).
    pub queues: u16,
    /// Rx buffers lent to the kernel and Tx writes in flight, per queue (a
    /// power of two).
    pub depth: u32,
    /// Rx buffer hand-over mode.
    pub rx_mode: RxMode,
    /// Engine settings (port number, virtio-net header, largest frame).
    /// The queue number is set per queue.
    pub engine: EngineConfig,
    /// Settings of every simulated ring; queue `q`'s Rx ring is seeded with
    /// `seed + 2q`, its Tx ring with `seed + 2q + 1`.
    pub sim: SimConfig,
    /// Settings of every wire.
    pub wire: WireConfig,
}

impl Default for MockPortConfig {
    fn default() -> Self {
        MockPortConfig {
            queues: 1,
            depth: 64,
            rx_mode: RxMode::Auto,
            engine: EngineConfig::default(),
            sim: SimConfig::default(),
            wire: WireConfig::default(),
        }
    }
}

/// A simulated port: `queues` queue pairs, each on its own [`SimWire`].
/// Queues are started when the port is made and taken out with
/// [`Port::take_rx`] / [`Port::take_tx`].
#[derive(Debug)]
pub struct MockPort {
    cfg: MockPortConfig,
    wires: Vec<SimWire>,
    rx: Vec<Option<MockRxQueue>>,
    tx: Vec<Option<MockTxQueue>>,
}

impl MockPort {
    /// A started port whose queues take buffers from `pool`.
    pub fn new(pool: &Pool, cfg: MockPortConfig) -> Result<MockPort, Error> {
        let mut wires = Vec::new();
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for q in 0..cfg.queues {
            let wire = SimWire::new(cfg.wire);
            let ecfg = EngineConfig {
                queue: q,
                ..cfg.engine
            };
            let seed = cfg.sim.seed.wrapping_add(2 * u64::from(q));
            let rring = SimRing::new(&wire, SimConfig { seed, ..cfg.sim });
            let tring = SimRing::new(
                &wire,
                SimConfig {
                    seed: seed + 1,
                    ..cfg.sim
                },
            );
            let depth = cfg.depth as usize;
            let mut re = RxEngine::new(rring, pool, slots(depth), cfg.rx_mode, ecfg)?;
            re.start()?;
            let mut te = TxEngine::new(tring, pool, slots(depth), ecfg)?;
            te.start()?;
            rx.push(Some(MockRxQueue { engine: re }));
            tx.push(Some(MockTxQueue { engine: te }));
            wires.push(wire);
        }
        Ok(MockPort { cfg, wires, rx, tx })
    }

    /// The wire of queue pair `q` (inject frames, read written ones, script
    /// faults). Panics if `q` does not exist.
    pub fn wire(&self, q: u16) -> &SimWire {
        &self.wires[usize::from(q)]
    }
}

impl Port for MockPort {
    type Rx = MockRxQueue;
    type Tx = MockTxQueue;
    type Error = Error;

    fn info(&self) -> PortInfo {
        PortInfo {
            ifindex: 0,
            max_frame: self.cfg.engine.max_frame,
            framing: self.cfg.engine.framing,
            rx_queues: self.cfg.queues,
            tx_queues: self.cfg.queues,
            vnet_hdr_len: self.cfg.engine.vnet_hdr_len,
            backend: "mock",
        }
    }

    fn take_rx(&mut self, q: u16) -> Result<MockRxQueue, Error> {
        take(&mut self.rx, q)
    }

    fn take_tx(&mut self, q: u16) -> Result<MockTxQueue, Error> {
        take(&mut self.tx, q)
    }

    /// The simulated interface's counters, summed over the wires: what the
    /// queues wrote, what they read (the simulation counts frames, not
    /// their bytes, on that side: `rx_bytes` is 0), and what the simulated
    /// kernel queue dropped because it was full.
    fn stats(&self) -> Result<PortStats, Error> {
        let (mut written, mut bytes, mut read, mut dropped) = (0, 0, 0, 0);
        for w in &self.wires {
            let c = w.counters();
            written += c.written;
            bytes += c.written_bytes;
            read += c.consumed;
            dropped += c.tail_dropped;
        }
        Ok(PortStats::from_interface(
            written, bytes, 0, read, 0, dropped,
        ))
    }
}

/// Takes queue `q` out of `queues`: the same errors as the real backends.
fn take<Q>(queues: &mut [Option<Q>], q: u16) -> Result<Q, Error> {
    let count = u16::try_from(queues.len()).unwrap_or(u16::MAX);
    match queues.get_mut(usize::from(q)) {
        None => Err(Error::NoSuchQueue { queue: q, count }),
        Some(slot) => slot.take().ok_or(Error::QueueTaken { queue: q }),
    }
}

/// A simulated Rx queue: the production [`RxEngine`] over a [`SimRing`].
pub struct MockRxQueue {
    engine: SimRxEngine,
}

impl MockRxQueue {
    /// The engine (in-flight counts, stop/start, the ring).
    pub fn engine(&self) -> &SimRxEngine {
        &self.engine
    }

    /// The engine, writable.
    pub fn engine_mut(&mut self) -> &mut SimRxEngine {
        &mut self.engine
    }
}

impl core::fmt::Debug for MockRxQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockRxQueue")
            .field("mode", &self.engine.mode())
            .field("in_flight", &self.engine.in_flight())
            .field("stats", self.engine.stats())
            .finish()
    }
}

impl RxQueue for MockRxQueue {
    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        self.engine.rx_burst(burst)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.engine.wait(timeout)
    }

    fn stats(&self) -> QueueStats {
        *self.engine.stats()
    }

    fn release_cached(&mut self) -> usize {
        self.engine.release_cached()
    }
}

/// A simulated Tx queue: the production [`TxEngine`] over a [`SimRing`].
pub struct MockTxQueue {
    engine: SimTxEngine,
}

impl MockTxQueue {
    /// The engine.
    pub fn engine(&self) -> &SimTxEngine {
        &self.engine
    }

    /// The engine, writable.
    pub fn engine_mut(&mut self) -> &mut SimTxEngine {
        &mut self.engine
    }
}

impl core::fmt::Debug for MockTxQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockTxQueue")
            .field("in_flight", &self.engine.in_flight())
            .field("stats", self.engine.stats())
            .finish()
    }
}

impl TxQueue for MockTxQueue {
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        self.engine.tx_burst(burst)
    }

    fn reclaim(&mut self) -> Result<usize, Error> {
        self.engine.reclaim()
    }

    fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    fn stats(&self) -> QueueStats {
        *self.engine.stats()
    }

    fn release_cached(&mut self) -> usize {
        self.engine.release_cached()
    }

    fn alloc(&mut self) -> Option<tapring_core::Pkt> {
        self.engine.alloc()
    }
}
