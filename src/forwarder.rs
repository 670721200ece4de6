//! [`Forwarder`]: moves every frame between two ports, both directions
//! (or reflects it on one port), on threads of its own.
//!
//! Zero copy: a burst received on one port is handed straight to the other
//! port's `tx_burst`, frame and virtio-net header unchanged (so offloaded
//! 64 KiB frames pass as they are when both ports negotiated the same
//! offloads). One thread per queue pair: queue q of port A forwards to
//! queue q of port B and back. The loop makes no device control call, so
//! it keeps working after the interfaces move to other network namespaces.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tapring_core::{Burst, Error, Port, PortInfo, QueueStats, RxQueue, TxQueue};

/// Packets per burst call (the capacity of the forwarder's bursts).
pub const FORWARD_BURST: usize = 64;

/// How a [`Forwarder`] polls. The defaults suit most uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwarderConfig {
    /// Poll rounds that moved nothing before a lane sleeps.
    pub spin_rounds: u32,
    /// The longest one idle sleep lasts (the stop flag is checked after it).
    pub idle_wait: Duration,
    /// `tx_burst` calls for one received burst before the rest is dropped
    /// (counted in [`DirTotals::tx_full`]).
    pub tx_attempts: u32,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        ForwarderConfig {
            spin_rounds: 200,
            idle_wait: Duration::from_millis(1),
            tx_attempts: 8,
        }
    }
}

/// Why a [`Forwarder`] could not start, or why a lane ended early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// Not one or two ports.
    #[error("a forwarder joins two ports (or reflects on one): {given} given")]
    PortCount {
        /// Ports given.
        given: usize,
    },
    /// The ports' queue counts differ (queue q forwards to queue q).
    #[error(
        "port {a} has {a_queues} queues but port {b} has {b_queues}: open both with the same count"
    )]
    QueueMismatch {
        /// First port's index.
        a: usize,
        /// Its queue count.
        a_queues: u16,
        /// Second port's index.
        b: usize,
        /// Its queue count.
        b_queues: u16,
    },
    /// A queue could not be taken from its port or failed while running.
    #[error("port {port} queue {queue}: {error}")]
    Queue {
        /// Port index.
        port: usize,
        /// Queue index.
        queue: u16,
        /// What the queue said.
        error: Error,
    },
    /// The operating system would not start a thread.
    #[error("could not start forwarder thread {queue}: {reason}")]
    Spawn {
        /// The lane's queue index.
        queue: u16,
        /// What the OS said.
        reason: String,
    },
    /// A lane's thread panicked.
    #[error("forwarder thread {queue} panicked")]
    Panicked {
        /// The lane's queue index.
        queue: u16,
    },
}

/// Live counters of one direction.
#[derive(Debug, Default)]
struct DirCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    tx_full: AtomicU64,
}

impl DirCounters {
    fn snapshot(&self) -> DirTotals {
        DirTotals {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            tx_full: self.tx_full.load(Ordering::Relaxed),
        }
    }
}

/// What one direction moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirTotals {
    /// Frames received and handed to the other port's Tx queue.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames dropped because the destination's Tx queue stayed full.
    pub tx_full: u64,
}

/// What one lane (queue pair) reports when it ends.
#[derive(Clone, Debug, Default)]
pub struct LaneReport {
    /// Queue index.
    pub queue: u16,
    /// Counters of the lane's Rx queues, by port (drops by reason inside).
    pub rx: Vec<QueueStats>,
    /// Counters of the lane's Tx queues, by port.
    pub tx: Vec<QueueStats>,
    /// Why the lane ended early, if it did (its counters are still here).
    pub error: Option<ForwardError>,
}

/// Everything a stopped [`Forwarder`] reports.
#[derive(Clone, Debug, Default)]
pub struct ForwardReport {
    /// Totals per direction: `[A -> B, B -> A]` (one port: `[A -> A]`).
    pub dirs: Vec<DirTotals>,
    /// Per lane.
    pub lanes: Vec<LaneReport>,
    /// The ports' static facts, by port.
    pub ports: Vec<PortInfo>,
}

impl ForwardReport {
    /// Rx (`rx = true`) or Tx counters of port `p`, summed over lanes.
    pub fn queue_stats(&self, p: usize, rx: bool) -> QueueStats {
        let mut sum = QueueStats::default();
        for lane in &self.lanes {
            if let Some(s) = if rx { lane.rx.get(p) } else { lane.tx.get(p) } {
                sum += s;
            }
        }
        sum
    }

    /// The errors of lanes that ended early.
    pub fn errors(&self) -> impl Iterator<Item = &ForwardError> {
        self.lanes.iter().filter_map(|l| l.error.as_ref())
    }
}

impl fmt::Display for ForwardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrows = ["A -> B", "B -> A"];
        for (i, d) in self.dirs.iter().enumerate() {
            let name = if self.ports.len() == 1 {
                "A -> A"
            } else {
                arrows[i]
            };
            writeln!(
                f,
                "{name}: {} packets, {} bytes, {} dropped at a full Tx queue",
                d.packets, d.bytes, d.tx_full
            )?;
        }
        for p in 0..self.ports.len() {
            let (rx, tx) = (self.queue_stats(p, true), self.queue_stats(p, false));
            writeln!(
                f,
                "port {p}: rx {} packets ({} dropped), tx {} packets ({} dropped)",
                rx.packets,
                rx.drops.total(),
                tx.packets,
                tx.drops.total()
            )?;
        }
        for e in self.errors() {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

/// Stops a running [`Forwarder`] from anywhere (a signal handler's thread,
/// a timer). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks every lane to stop (they finish the burst in hand).
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The Rx and Tx queue q of one port, moved into a lane thread.
struct Side<R, T> {
    rx: R,
    tx: T,
}

type Lane<R, T> = (u16, JoinHandle<(Vec<Side<R, T>>, Option<ForwardError>)>);

/// A running forwarder between two ports (both directions), or on one port
/// (every frame reflected with its MAC addresses swapped).
///
/// ```no_run
/// use tapring::prelude::*;
///
/// let pool = Pool::new(PoolConfig::standard(16384))?;
/// let a = PortBuilder::new("tr0").up(true).open(&pool)?;
/// let b = PortBuilder::new("tr1").up(true).open(&pool)?;
/// let forwarder = Forwarder::start(vec![a, b])?;
/// std::thread::sleep(std::time::Duration::from_secs(10));
/// print!("{}", forwarder.stop());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Every queue is first used in its lane's thread (an io_uring ring binds
/// to the thread that first uses it). The ports stay open while it runs
/// ([`Forwarder::ports`]) and close when it is stopped or dropped.
pub struct Forwarder<P: Port> {
    ports: Vec<P>,
    infos: Vec<PortInfo>,
    stop: StopHandle,
    dirs: Arc<[DirCounters; 2]>,
    lanes: Vec<Lane<P::Rx, P::Tx>>,
}

impl<P> Forwarder<P>
where
    P: Port,
    P::Rx: 'static,
    P::Tx: 'static,
{
    /// Takes every queue out of `ports` (one or two ports with the same
    /// queue count) and starts one thread per queue index, with the
    /// default [`ForwarderConfig`].
    pub fn start(ports: Vec<P>) -> Result<Forwarder<P>, ForwardError> {
        Forwarder::start_with(ports, ForwarderConfig::default())
    }

    /// [`Forwarder::start`] with `config`.
    pub fn start_with(
        mut ports: Vec<P>,
        config: ForwarderConfig,
    ) -> Result<Forwarder<P>, ForwardError> {
        if ports.is_empty() || ports.len() > 2 {
            return Err(ForwardError::PortCount { given: ports.len() });
        }
        let infos: Vec<PortInfo> = ports.iter().map(Port::info).collect();
        let queues = infos[0].rx_queues.min(infos[0].tx_queues);
        for (i, info) in infos.iter().enumerate().skip(1) {
            let n = info.rx_queues.min(info.tx_queues);
            if n != queues {
                return Err(ForwardError::QueueMismatch {
                    a: 0,
                    a_queues: queues,
                    b: i,
                    b_queues: n,
                });
            }
        }
        // Take every queue before starting any thread, so a failure leaves
        // nothing running.
        let mut per_lane: Vec<Vec<Side<P::Rx, P::Tx>>> = Vec::with_capacity(usize::from(queues));
        for q in 0..queues {
            let mut sides = Vec::with_capacity(ports.len());
            for (i, port) in ports.iter_mut().enumerate() {
                let err = |error| ForwardError::Queue {
                    port: i,
                    queue: q,
                    error,
                };
                let rx = port.take_rx(q).map_err(err)?;
                let tx = port.take_tx(q).map_err(err)?;
                sides.push(Side { rx, tx });
            }
            per_lane.push(sides);
        }
        let mut fwd = Forwarder {
            ports,
            infos,
            stop: StopHandle::default(),
            dirs: Arc::default(),
            lanes: Vec::with_capacity(usize::from(queues)),
        };
        for (q, sides) in (0..queues).zip(per_lane) {
            let (stop, dirs) = (fwd.stop.clone(), fwd.dirs.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("tapring-fwd-q{q}"))
                .spawn(move || lane(q, sides, &stop, &dirs, config));
            match spawned {
                Ok(h) => fwd.lanes.push((q, h)),
                Err(e) => {
                    let _ = fwd.finish();
                    return Err(ForwardError::Spawn {
                        queue: q,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(fwd)
    }

    /// A handle that stops the forwarder from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Live totals per direction: `[A -> B, B -> A]` (one port: `[A -> A]`).
    pub fn totals(&self) -> Vec<DirTotals> {
        let n = self.ports.len();
        self.dirs[..n].iter().map(DirCounters::snapshot).collect()
    }

    /// The ports (open while the forwarder runs), e.g. for their devices'
    /// kernel counters.
    pub fn ports(&self) -> &[P] {
        &self.ports
    }

    /// Whether a lane has ended; lanes end only when stopped or on an error.
    pub fn any_lane_ended(&self) -> bool {
        self.lanes.iter().any(|(_, h)| h.is_finished())
    }

    /// Blocks until a stop is asked for ([`StopHandle::stop`]) or a lane
    /// ends on an error, then stops and reports.
    pub fn join(self) -> ForwardReport {
        while !self.stop.is_stopped() && !self.any_lane_ended() {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }

    /// Stops every lane, waits for them (each stops its queues in its own
    /// thread, so every buffer is back in the pool) and reports.
    pub fn stop(mut self) -> ForwardReport {
        self.finish()
    }

    fn finish(&mut self) -> ForwardReport {
        self.stop.stop();
        let mut report = ForwardReport {
            ports: self.infos.clone(),
            ..ForwardReport::default()
        };
        for (queue, h) in self.lanes.drain(..) {
            let mut lane = LaneReport {
                queue,
                ..LaneReport::default()
            };
            match h.join() {
                Ok((sides, error)) => {
                    lane.rx = sides.iter().map(|s| s.rx.stats()).collect();
                    lane.tx = sides.iter().map(|s| s.tx.stats()).collect();
                    lane.error = error;
                }
                Err(_) => lane.error = Some(ForwardError::Panicked { queue }),
            }
            report.lanes.push(lane);
        }
        report.dirs = self.totals();
        report
    }
}

impl<P: Port> Drop for Forwarder<P> {
    fn drop(&mut self) {
        self.stop.stop();
        for (_, h) in self.lanes.drain(..) {
            let _ = h.join();
        }
    }
}

impl<P: Port> fmt::Debug for Forwarder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("ports", &self.infos)
            .field("lanes", &self.lanes.len())
            .finish_non_exhaustive()
    }
}

/// Swaps destination and source MAC addresses (reflect mode).
fn swap_macs(burst: &mut Burst<FORWARD_BURST>) {
    for p in burst.iter_mut() {
        let d = p.data_mut();
        if d.len() >= 12 {
            let (dst, src) = d.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
        }
    }
}

/// Moves one burst from `rx` to `tx`; returns the frames moved.
fn pump<R: RxQueue, T: TxQueue>(
    rx: &mut R,
    tx: &mut T,
    burst: &mut Burst<FORWARD_BURST>,
    reflect: bool,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<usize, (bool, Error)> {
    let n = rx.rx_burst(burst).map_err(|e| (true, e))?;
    if n == 0 {
        return Ok(0);
    }
    let bytes: usize = burst.iter().map(|p| p.pkt_len()).sum();
    if reflect {
        swap_macs(burst);
    }
    let mut attempts = 0;
    let mut result = Ok(());
    while !burst.is_empty() && attempts < config.tx_attempts {
        match tx.tx_burst(burst) {
            Ok(0) => {
                if let Err(e) = tx.reclaim() {
                    result = Err((false, e));
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                result = Err((false, e));
                break;
            }
        }
        attempts += 1;
    }
    let left = burst.len();
    let left_bytes: usize = burst.iter().map(|p| p.pkt_len()).sum();
    burst.clear();
    dir.packets.fetch_add((n - left) as u64, Ordering::Relaxed);
    dir.bytes
        .fetch_add((bytes - left_bytes) as u64, Ordering::Relaxed);
    if left > 0 {
        dir.tx_full.fetch_add(left as u64, Ordering::Relaxed);
    }
    result.map(|()| n)
}

/// One lane's thread: runs until stopped or an error, then stops every
/// queue here (an io_uring queue is bound to this thread) and hands the
/// queues back for their counters.
fn lane<R: RxQueue, T: TxQueue>(
    queue: u16,
    mut sides: Vec<Side<R, T>>,
    stop: &StopHandle,
    dirs: &[DirCounters; 2],
    config: ForwarderConfig,
) -> (Vec<Side<R, T>>, Option<ForwardError>) {
    let queue_error = |port: usize, error: Error| ForwardError::Queue { port, queue, error };
    let mut error = run_lane(&mut sides, stop, dirs, &config)
        .err()
        .map(|(p, e)| queue_error(p, e));
    for (i, s) in sides.iter_mut().enumerate() {
        for r in [s.tx.stop(), s.rx.stop()] {
            if let Err(e) = r {
                error.get_or_insert(queue_error(i, e));
            }
        }
    }
    (sides, error)
}

/// The polling loop: busy-polls while frames move, reclaims Tx once when
/// idle starts, and after `spin_rounds` idle rounds sleeps on one Rx queue
/// (alternating) for at most `idle_wait`.
fn run_lane<R: RxQueue, T: TxQueue>(
    sides: &mut [Side<R, T>],
    stop: &StopHandle,
    dirs: &[DirCounters; 2],
    config: &ForwarderConfig,
) -> Result<(), (usize, Error)> {
    let mut burst: Burst<FORWARD_BURST> = Burst::new();
    let mut idle = 0u32;
    let mut turn = 0usize;
    // Port index of the side whose queue failed: Rx errors belong to the
    // receiving port, Tx errors to the sending one.
    let blame = |from: usize, to: usize| {
        move |(is_rx, e): (bool, Error)| (if is_rx { from } else { to }, e)
    };
    while !stop.is_stopped() {
        let moved = match sides {
            [a, b] => {
                pump(&mut a.rx, &mut b.tx, &mut burst, false, &dirs[0], config)
                    .map_err(blame(0, 1))?
                    + pump(&mut b.rx, &mut a.tx, &mut burst, false, &dirs[1], config)
                        .map_err(blame(1, 0))?
            }
            [a] => pump(&mut a.rx, &mut a.tx, &mut burst, true, &dirs[0], config)
                .map_err(blame(0, 0))?,
            _ => return Ok(()),
        };
        if moved > 0 {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        if idle == 1 {
            // Collect finished transmissions while there is time.
            for (i, s) in sides.iter_mut().enumerate() {
                s.tx.reclaim().map_err(|e| (i, e))?;
            }
        }
        if idle < config.spin_rounds {
            std::hint::spin_loop();
            continue;
        }
        turn = (turn + 1) % sides.len();
        sides[turn]
            .rx
            .wait(Some(config.idle_wait))
            .map_err(|e| (turn, e))?;
    }
    Ok(())
}
