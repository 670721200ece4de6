//! [`Forwarder`]: moves every frame between two ports, both directions
//! (or reflects it on one port), on threads of its own.
//!
//! Zero copy where the ports agree: a burst received on one port is handed
//! straight to the other port's `tx_burst`, frame and virtio-net header
//! unchanged (so offloaded 64 KiB frames pass as they are when both ports
//! have a virtio-net header). Where they differ, offloads are done in
//! software on the way ([`software_offload`]): frames for a port without a
//! virtio-net header are segmented and their checksums finished (GSO), and
//! MTU-sized TCP segments for a port with one are coalesced into GSO
//! frames (GRO, [`ForwarderConfig::gro`]). Queue q of port A forwards to
//! queue q of port B and back,
//! by default on one thread per direction ([`Threading`]). The loop makes no device control call, so
//! it keeps working after the interfaces move to other network namespaces.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tapring_core::{
    Burst, Error, Framing, Port, PortInfo, QueueStats, Readiness, RxQueue, TxQueue, Wakeup,
};
use tapring_device::{MAX_WAIT_SET, wait_ready};

mod software_offload;

use software_offload::{OffloadPlan, OffloadScratch};

/// Packets per burst call (the capacity of the forwarder's bursts).
pub const FORWARD_BURST: usize = 64;

/// How a [`Forwarder`] spreads its work over threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Threading {
    /// One thread per direction and queue (A -> B on queue q, B -> A on
    /// queue q): each thread blocks on its one Rx queue when idle, so
    /// neither direction waits for the other and an idle forwarder leaves
    /// the CPU to the kernel. The default.
    #[default]
    PerDirection,
    /// One thread per queue pair, polling both directions in turn (half the
    /// threads; an idle thread sleeps on one Rx queue at a time).
    PerQueuePair,
}

/// How a [`Forwarder`] polls and where its threads run. The defaults suit
/// most uses; change them with the setters, e.g.
/// `ForwarderConfig::default().spin_rounds(0).cpus(vec![1])`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwarderConfig {
    /// Threads per direction or per queue pair.
    pub threading: Threading,
    /// Poll rounds that moved nothing before a thread sleeps. Spinning
    /// catches the next burst without a wake-up, but on a small machine the
    /// CPU it burns is the kernel's, which feeds the forwarder.
    pub spin_rounds: u32,
    /// The longest one idle sleep lasts: the stop flag is checked after
    /// each, so this bounds how long [`Forwarder::stop`] takes.
    pub idle_wait: Duration,
    /// `tx_burst` calls for one received burst before the rest is dropped
    /// (counted in [`DirTotals::tx_full`]).
    pub tx_attempts: u32,
    /// CPUs to pin the threads to, in the order they start (thread i runs
    /// on `cpus[i % cpus.len()]`); empty: the scheduler decides.
    pub cpus: Vec<usize>,
    /// Coalesce TCP segments (software GRO) from a port without a
    /// virtio-net header into GSO frames for a port with one, so the
    /// kernel behind the second port handles one 64 KiB frame instead of
    /// dozens (default on). Segmenting for a port without a virtio-net
    /// header is not optional: without it such frames could not be sent.
    pub gro: bool,
}

impl ForwarderConfig {
    /// With `threading`.
    pub fn threading(mut self, threading: Threading) -> ForwarderConfig {
        self.threading = threading;
        self
    }

    /// With `spin_rounds`.
    pub fn spin_rounds(mut self, spin_rounds: u32) -> ForwarderConfig {
        self.spin_rounds = spin_rounds;
        self
    }

    /// With at most `idle_wait` per idle sleep.
    pub fn idle_wait(mut self, idle_wait: Duration) -> ForwarderConfig {
        self.idle_wait = idle_wait;
        self
    }

    /// With `tx_attempts` per received burst.
    pub fn tx_attempts(mut self, tx_attempts: u32) -> ForwarderConfig {
        self.tx_attempts = tx_attempts;
        self
    }

    /// With the threads pinned to `cpus`.
    pub fn cpus(mut self, cpus: Vec<usize>) -> ForwarderConfig {
        self.cpus = cpus;
        self
    }

    /// With software GRO on or off ([`ForwarderConfig::gro`]).
    pub fn gro(mut self, gro: bool) -> ForwarderConfig {
        self.gro = gro;
        self
    }
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        ForwarderConfig {
            threading: Threading::PerDirection,
            spin_rounds: 64,
            idle_wait: Duration::from_millis(50),
            tx_attempts: 8,
            cpus: Vec::new(),
            gro: true,
        }
    }
}

/// Why a [`Forwarder`] could not start, or why a thread ended early.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The ports carry different framings (a TAP's Ethernet frames and a
    /// TUN's IP packets): frames pass through the forwarder unchanged, so
    /// one port's frames would be garbage on the other.
    #[error(
        "port {a} carries {a_framing} frames but port {b} carries {b_framing}: the forwarder passes frames through unchanged, so open both ports in the same mode (both TAP or both TUN), or add or strip the Ethernet header yourself between the queues"
    )]
    FramingMismatch {
        /// First port's index.
        a: usize,
        /// Its framing.
        a_framing: Framing,
        /// Second port's index.
        b: usize,
        /// Its framing.
        b_framing: Framing,
    },
    /// A queue could not be taken from its port.
    #[error("port {port} queue {queue}: {error}")]
    Take {
        /// Port index.
        port: usize,
        /// Queue index.
        queue: u16,
        /// What the port said: its backend's own error, whole (downcast it,
        /// e.g. to [`PortError`](crate::PortError), to match on it).
        error: std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A queue failed while forwarding.
    #[error("port {port} queue {queue}: {error}")]
    Queue {
        /// Port index.
        port: usize,
        /// Queue index.
        queue: u16,
        /// What the queue said.
        error: Error,
    },
    /// The operating system would not start (or pin) a thread.
    #[error("could not start the forwarder thread of queue {queue}: {reason}")]
    Spawn {
        /// The lane's queue index.
        queue: u16,
        /// What the OS said.
        reason: String,
    },
    /// A forwarder thread panicked.
    #[error("a forwarder thread of queue {queue} panicked")]
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
    tx_failed: AtomicU64,
    coalesced: AtomicU64,
    segmented: AtomicU64,
    segments: AtomicU64,
    checksums: AtomicU64,
    offload_dropped: AtomicU64,
}

impl DirCounters {
    fn snapshot(&self) -> DirTotals {
        DirTotals {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            tx_full: self.tx_full.load(Ordering::Relaxed),
            tx_failed: self.tx_failed.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            segmented: self.segmented.load(Ordering::Relaxed),
            segments: self.segments.load(Ordering::Relaxed),
            checksums: self.checksums.load(Ordering::Relaxed),
            offload_dropped: self.offload_dropped.load(Ordering::Relaxed),
        }
    }
}

/// What one direction moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirTotals {
    /// Frames handed to the other port's Tx queue: the frames received,
    /// less those coalesced into others, plus the segments made in
    /// software in place of the frames they came from.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames dropped because the destination's Tx queue stayed full.
    pub tx_full: u64,
    /// Frames dropped because the destination's Tx queue failed (the
    /// error ends the thread; see [`ForwardReport::errors`]).
    pub tx_failed: u64,
    /// Frames received that software GRO appended to an earlier frame of
    /// their flow (not in `packets`: they went out inside it).
    pub coalesced: u64,
    /// GSO frames segmented in software (for a port without a virtio-net
    /// header), also those cut short when the pool ran dry (then counted
    /// in `offload_dropped` too).
    pub segmented: u64,
    /// The segments those became (the ones the Tx queue took are in
    /// `packets`; the others in `tx_full` or `tx_failed`).
    pub segments: u64,
    /// Partial checksums finished in software.
    pub checksums: u64,
    /// Frames dropped because software GSO or a checksum could not be done
    /// (malformed headers, an unsupported kind, a UDP datagram larger than
    /// the destination's MTU, more than 1024 segments, no buffer left); the
    /// destination could not have taken them as they were.
    pub offload_dropped: u64,
}

/// What one lane (queue pair) reports when it ends.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LaneReport {
    /// Queue index.
    pub queue: u16,
    /// Counters of the lane's Rx queues, by port (drops by reason inside).
    pub rx: Vec<QueueStats>,
    /// Counters of the lane's Tx queues, by port.
    pub tx: Vec<QueueStats>,
    /// Why the lane's threads ended early, if they did (their counters
    /// are still here).
    pub errors: Vec<ForwardError>,
}

/// Everything a stopped [`Forwarder`] reports.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
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
        self.lanes.iter().flat_map(|l| &l.errors)
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
                "{name}: {} packets, {} bytes, {} dropped at a full Tx queue, {} at a failed one",
                d.packets, d.bytes, d.tx_full, d.tx_failed
            )?;
            if d.coalesced + d.segmented + d.checksums + d.offload_dropped > 0 {
                writeln!(
                    f,
                    "{name}: software offloads: {} frames coalesced into others, {} GSO frames \
                     segmented into {}, {} checksums finished, {} dropped",
                    d.coalesced, d.segmented, d.segments, d.checksums, d.offload_dropped
                )?;
            }
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

/// One direction of one queue: frames read from `rx` (queue `queue` of
/// port `from`) go out through `tx` (the same queue of port `to`).
struct Route<R, T> {
    queue: u16,
    from: usize,
    to: usize,
    /// The ports' framing: what reflect mode swaps (MACs or IP addresses).
    framing: Framing,
    /// What is done in software between the two ports.
    plan: OffloadPlan,
    /// The largest frame `to` takes without a segmentation request.
    max_frame: usize,
    rx: R,
    tx: T,
}

/// What a worker thread hands back: its routes (for their counters) and
/// why it ended early, if it did.
type WorkerEnd<R, T> = (Vec<Route<R, T>>, Option<ForwardError>);

/// A worker thread and the queue it forwards.
type Worker<R, T> = (u16, JoinHandle<WorkerEnd<R, T>>);

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
/// By default each direction of each queue has its own thread
/// ([`Threading::PerDirection`]), which busy-polls while frames arrive and
/// then blocks on its Rx queue. Every queue is first used in the thread
/// that drives it (an io_uring ring binds to the thread that first uses
/// it). The ports stay open while it runs ([`Forwarder::ports`]) and close
/// when it is stopped or dropped.
pub struct Forwarder<P: Port> {
    ports: Vec<P>,
    infos: Vec<PortInfo>,
    queues: u16,
    stop: StopHandle,
    dirs: Arc<[DirCounters; 2]>,
    workers: Vec<Worker<P::Rx, P::Tx>>,
}

impl<P> Forwarder<P>
where
    P: Port,
    P::Rx: 'static,
    P::Tx: 'static,
{
    /// Takes every queue out of `ports` (one or two ports with the same
    /// queue count) and starts forwarding with the default
    /// [`ForwarderConfig`].
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
        for (i, info) in infos.iter().enumerate().skip(1) {
            if info.framing != infos[0].framing {
                return Err(ForwardError::FramingMismatch {
                    a: 0,
                    a_framing: infos[0].framing,
                    b: i,
                    b_framing: info.framing,
                });
            }
        }
        let framing = infos[0].framing;
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
        let mut groups: Vec<Vec<Route<P::Rx, P::Tx>>> = Vec::new();
        for q in 0..queues {
            let mut rxs = Vec::with_capacity(2);
            let mut txs = Vec::with_capacity(2);
            for (i, port) in ports.iter_mut().enumerate() {
                let err = |e: P::Error| ForwardError::Take {
                    port: i,
                    queue: q,
                    error: std::sync::Arc::new(e),
                };
                rxs.push(Some(port.take_rx(q).map_err(err)?));
                txs.push(Some(port.take_tx(q).map_err(err)?));
            }
            let n = ports.len();
            let mut routes: Vec<Route<P::Rx, P::Tx>> = (0..n)
                .map(|from| {
                    let to = (from + 1) % n;
                    Route {
                        queue: q,
                        from,
                        to,
                        framing,
                        plan: OffloadPlan::for_route(&infos[from], &infos[to], config.gro),
                        max_frame: infos[to].max_frame as usize,
                        rx: rxs[from].take().expect("each Rx queue is routed once"),
                        tx: txs[to].take().expect("each Tx queue is routed once"),
                    }
                })
                .collect();
            match config.threading {
                Threading::PerQueuePair => groups.push(routes),
                _ => groups.extend(routes.drain(..).map(|r| vec![r])),
            }
        }
        let mut fwd = Forwarder {
            ports,
            infos,
            queues,
            stop: StopHandle::default(),
            dirs: Arc::default(),
            workers: Vec::with_capacity(groups.len()),
        };
        for (i, routes) in groups.into_iter().enumerate() {
            let queue = routes[0].queue;
            let name = match routes.as_slice() {
                [r] => format!("tapring-fwd-q{queue}-{}{}", r.from, r.to),
                _ => format!("tapring-fwd-q{queue}"),
            };
            let cpu = (!config.cpus.is_empty()).then(|| config.cpus[i % config.cpus.len()]);
            let (stop, dirs, config) = (fwd.stop.clone(), fwd.dirs.clone(), config.clone());
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn(move || worker(routes, cpu, &stop, &dirs, &config));
            match spawned {
                Ok(h) => fwd.workers.push((queue, h)),
                Err(e) => {
                    let _ = fwd.finish();
                    tracing::warn!(queue, error = %e, "forwarder thread not started");
                    return Err(ForwardError::Spawn {
                        queue,
                        reason: e.to_string(),
                    });
                }
            }
        }
        tracing::info!(
            ports = fwd.ports.len(),
            queues = fwd.queues,
            threads = fwd.workers.len(),
            threading = ?config.threading,
            "forwarder started"
        );
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

    /// Whether a thread has ended; threads end only when stopped or on an
    /// error.
    pub fn any_lane_ended(&self) -> bool {
        self.workers.iter().any(|(_, h)| h.is_finished())
    }

    /// Blocks until a stop is asked for ([`StopHandle::stop`]) or a thread
    /// ends on an error, then stops and reports.
    pub fn join(self) -> ForwardReport {
        while !self.stop.is_stopped() && !self.any_lane_ended() {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }

    /// Stops every thread, waits for them (each stops its queues in its own
    /// thread, so every buffer is back in the pool) and reports.
    pub fn stop(mut self) -> ForwardReport {
        self.finish()
    }

    fn finish(&mut self) -> ForwardReport {
        self.stop.stop();
        let n = self.infos.len();
        let mut lanes: Vec<LaneReport> = (0..self.queues)
            .map(|queue| LaneReport {
                queue,
                rx: vec![QueueStats::default(); n],
                tx: vec![QueueStats::default(); n],
                errors: Vec::new(),
            })
            .collect();
        for (queue, h) in self.workers.drain(..) {
            let lane = &mut lanes[usize::from(queue)];
            match h.join() {
                Ok((routes, error)) => {
                    for r in &routes {
                        lane.rx[r.from] = r.rx.stats();
                        lane.tx[r.to] = r.tx.stats();
                    }
                    if let Some(e) = &error {
                        tracing::warn!(queue, error = %e, "forwarder lane failed");
                    }
                    lane.errors.extend(error);
                }
                // The worker's queues went with its stack; say so.
                Err(_) => lane.errors.push(ForwardError::Panicked { queue }),
            }
        }
        let dirs = self.totals();
        tracing::info!(
            packets = dirs.iter().map(|d| d.packets).sum::<u64>(),
            bytes = dirs.iter().map(|d| d.bytes).sum::<u64>(),
            errors = lanes.iter().map(|l| l.errors.len()).sum::<usize>(),
            "forwarder stopped"
        );
        ForwardReport {
            dirs,
            lanes,
            ports: self.infos.clone(),
        }
    }
}

impl<P: Port> Drop for Forwarder<P> {
    fn drop(&mut self) {
        self.stop.stop();
        for (_, h) in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

impl<P: Port> fmt::Debug for Forwarder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("ports", &self.infos)
            .field("threads", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Swaps destination and source addresses (reflect mode): the MAC
/// addresses of an Ethernet frame, the IP addresses of an IP packet (a TUN
/// has no MACs). Swapping two fields of a header leaves every Internet
/// checksum over it (IPv4 header, TCP/UDP pseudo header) valid.
fn swap_addresses(burst: &mut Burst<FORWARD_BURST>, framing: Framing) {
    for p in burst.iter_mut() {
        let d = p.data_mut();
        // (source offset, length): the destination follows the source.
        let (src, len) = match framing {
            Framing::Ethernet => (0, 6),
            Framing::Ip => match d.first().map(|b| b >> 4) {
                Some(4) => (12, 4),
                Some(6) => (8, 16),
                _ => continue,
            },
        };
        if let Some(both) = d.get_mut(src..src + 2 * len) {
            let (a, b) = both.split_at_mut(len);
            a.swap_with_slice(b);
        }
    }
}

/// A queue failure: which port's queue, and what it said.
type RouteError = (usize, Error);

/// Moves one burst along `route`, with the software offloads its plan
/// asks for; returns the frames received.
fn pump<R: RxQueue, T: TxQueue>(
    route: &mut Route<R, T>,
    burst: &mut Burst<FORWARD_BURST>,
    scratch: &mut OffloadScratch,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<usize, RouteError> {
    let n = route.rx.rx_burst(burst).map_err(|e| (route.from, e))?;
    if n == 0 {
        return Ok(0);
    }
    match route.plan {
        OffloadPlan::PassThrough => {
            if route.from == route.to {
                swap_addresses(burst, route.framing);
            }
            send(route, burst, dir, config)?;
        }
        OffloadPlan::Coalesce => {
            scratch.coalesce(burst, route.framing, dir);
            send(route, burst, dir, config)?;
        }
        OffloadPlan::Finish => software_offload::finish(route, burst, scratch, dir, config)?,
    }
    Ok(n)
}

/// Hands `burst` to the route's Tx queue, `tx_attempts` calls at most
/// (reclaiming finished transmissions when one takes nothing); what is
/// left is dropped and counted. The burst is empty afterwards.
fn send<R: RxQueue, T: TxQueue>(
    route: &mut Route<R, T>,
    burst: &mut Burst<FORWARD_BURST>,
    dir: &DirCounters,
    config: &ForwarderConfig,
) -> Result<(), RouteError> {
    let n = burst.len();
    if n == 0 {
        return Ok(());
    }
    let bytes: usize = burst.iter().map(|p| p.pkt_len()).sum();
    let mut attempts = 0;
    let mut result = Ok(());
    while !burst.is_empty() && attempts < config.tx_attempts {
        let sent = route.tx.tx_burst(burst);
        let sent = match sent {
            Ok(0) => route.tx.reclaim().map(|_| 0),
            other => other,
        };
        if let Err(e) = sent {
            result = Err((route.to, e));
            break;
        }
        attempts += 1;
    }
    let left = burst.len();
    // Usually nothing is left: only then walk the burst again.
    let left_bytes: usize = if left > 0 {
        burst.iter().map(|p| p.pkt_len()).sum()
    } else {
        0
    };
    burst.clear();
    dir.packets.fetch_add((n - left) as u64, Ordering::Relaxed);
    dir.bytes
        .fetch_add((bytes - left_bytes) as u64, Ordering::Relaxed);
    if left > 0 {
        let why = if result.is_ok() {
            &dir.tx_full
        } else {
            &dir.tx_failed
        };
        why.fetch_add(left as u64, Ordering::Relaxed);
    }
    result
}

/// One worker thread: pins itself if asked, forwards until stopped or an
/// error, then stops every queue here (an io_uring queue is bound to this
/// thread) and hands the routes back for their counters.
fn worker<R: RxQueue, T: TxQueue>(
    mut routes: Vec<Route<R, T>>,
    cpu: Option<usize>,
    stop: &StopHandle,
    dirs: &[DirCounters; 2],
    config: &ForwarderConfig,
) -> WorkerEnd<R, T> {
    let queue = routes.first().map_or(0, |r| r.queue);
    let queue_error = |(port, error): RouteError| ForwardError::Queue { port, queue, error };
    let mut error = cpu
        .and_then(pin_to)
        .map(|reason| ForwardError::Spawn { queue, reason });
    if error.is_none() {
        error = forward(&mut routes, stop, dirs, config)
            .err()
            .map(queue_error);
    }
    for r in routes.iter_mut() {
        if let Err(e) = r.tx.stop() {
            error.get_or_insert(queue_error((r.to, e)));
        }
        if let Err(e) = r.rx.stop() {
            error.get_or_insert(queue_error((r.from, e)));
        }
    }
    (routes, error)
}

/// Pins the calling thread to `cpu`; the reason when it cannot.
fn pin_to(cpu: usize) -> Option<String> {
    let mut set = nix::sched::CpuSet::new();
    if let Err(e) = set.set(cpu) {
        return Some(format!("CPU {cpu} does not exist ({e})"));
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .err()
        .map(|e| format!("cannot pin to CPU {cpu}: {e}"))
}

/// How long a worker whose Rx queues wait for buffers sleeps before it
/// looks again.
const STARVED_WAIT: Duration = Duration::from_millis(1);

/// The readiness fds of every route's Rx queue, when each has one (both
/// real backends do; the mock does not): a worker with several routes
/// then sleeps on all of them at once.
fn rx_readiness<R: RxQueue, T: TxQueue>(routes: &mut [Route<R, T>]) -> Option<Vec<Readiness>> {
    if routes.len() < 2 || routes.len() > MAX_WAIT_SET {
        return None;
    }
    routes.iter_mut().map(|r| r.rx.readiness().ok()).collect()
}

/// Sleeps until a frame may be ready on any of `routes` (whose Rx
/// readiness fds are `set`) or `timeout` passes; returns at once when one
/// of them already has work.
fn sleep_on_all<R: RxQueue, T: TxQueue>(
    routes: &mut [Route<R, T>],
    set: &[Readiness],
    timeout: Duration,
) -> Result<(), RouteError> {
    let mut timeout = timeout;
    for r in routes.iter_mut() {
        match r.rx.arm_wakeup().map_err(|e| (r.from, e))? {
            Wakeup::Armed => {}
            Wakeup::Pending => return Ok(()),
            // Buffers come back as this worker's Tx completes: look again
            // soon rather than sleep the whole idle wait.
            Wakeup::Starved => timeout = timeout.min(STARVED_WAIT),
        }
    }
    let from = routes[0].from;
    wait_ready(set, Some(timeout)).map_err(|e| {
        let errno = match e {
            tapring_device::DeviceError::Os { errno, .. } => errno,
            _ => nix::errno::Errno::EINVAL as i32,
        };
        (from, Error::Os { op: "poll", errno })
    })?;
    Ok(())
}

/// The polling loop: busy-polls while frames move, reclaims finished
/// transmissions once when idle starts, and after `spin_rounds` idle
/// rounds sleeps for at most `idle_wait`: on every Rx queue at once when
/// they have readiness fds, else on one Rx queue in turn.
fn forward<R: RxQueue, T: TxQueue>(
    routes: &mut [Route<R, T>],
    stop: &StopHandle,
    dirs: &[DirCounters; 2],
    config: &ForwarderConfig,
) -> Result<(), RouteError> {
    let mut burst: Burst<FORWARD_BURST> = Burst::new();
    let mut scratch = OffloadScratch::new();
    let mut idle = 0u32;
    let mut turn = 0usize;
    let wake_set = rx_readiness(routes);
    while !stop.is_stopped() {
        let mut moved = 0;
        for r in routes.iter_mut() {
            moved += pump(r, &mut burst, &mut scratch, &dirs[r.from], config)?;
        }
        if moved > 0 {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        if idle == 1 {
            // Collect finished transmissions while there is time.
            for r in routes.iter_mut() {
                r.tx.reclaim().map_err(|e| (r.to, e))?;
            }
        }
        if idle <= config.spin_rounds {
            std::hint::spin_loop();
            continue;
        }
        if let Some(set) = &wake_set {
            sleep_on_all(routes, set, config.idle_wait)?;
            continue;
        }
        turn = (turn + 1) % routes.len();
        let r = &mut routes[turn];
        r.rx.wait(Some(config.idle_wait)).map_err(|e| (r.from, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The forwarding step over simulated ports: every frame crosses once,
    //! in order, byte for byte, and steady state leaves the heap alone.
    use super::*;
    use tapring_core::{Pool, PoolConfig};
    use tapring_mock::alloc_count::{CountingAlloc, allocations, counted};
    use tapring_mock::{Capture, Digest, MockPort, MockPortConfig, WireConfig};

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;

    fn port(pool: &Pool) -> MockPort {
        let cfg = MockPortConfig {
            wire: WireConfig {
                capture: Capture::Digest,
                ..WireConfig::default()
            },
            ..MockPortConfig::default()
        };
        MockPort::new(pool, cfg).unwrap()
    }

    #[test]
    fn a_forwarding_step_moves_every_frame_once_without_allocating() {
        let pool = Pool::new(PoolConfig::standard(2048)).unwrap();
        let (mut a, mut b) = (port(&pool), port(&pool));
        let (wire_a, wire_b) = (a.wire(0).clone(), b.wire(0).clone());
        let mut route = Route {
            queue: 0,
            from: 0,
            to: 1,
            framing: Framing::Ethernet,
            plan: OffloadPlan::PassThrough,
            max_frame: 1514,
            rx: a.take_rx(0).unwrap(),
            tx: b.take_tx(0).unwrap(),
        };
        let frames: Vec<Vec<u8>> = (0..16u8)
            .map(|i| (0..60 + 90 * usize::from(i)).map(|x| x as u8 ^ i).collect())
            .collect();
        let (dirs, config) = (<[DirCounters; 2]>::default(), ForwarderConfig::default());
        let mut burst: Burst<FORWARD_BURST> = Burst::new();
        let mut scratch = OffloadScratch::new();
        let rounds = 5_000u64;
        let probe = allocations();
        drop(counted(|| Vec::<u8>::with_capacity(8)));
        assert!(allocations() > probe, "the allocation counter counts");
        let mut before = allocations();
        for round in 0..rounds {
            for f in &frames {
                assert!(wire_a.inject(f));
            }
            if round == 50 {
                before = allocations(); // warm-up done
            }
            let n =
                counted(|| pump(&mut route, &mut burst, &mut scratch, &dirs[0], &config)).unwrap();
            assert_eq!(n, frames.len(), "round {round}: the whole burst is read");
            counted(|| route.tx.reclaim()).unwrap();
        }
        assert_eq!(allocations() - before, 0, "allocations in steady state");
        route.tx.stop().unwrap();
        route.rx.stop().unwrap();
        let total = dirs[0].snapshot();
        assert_eq!(total.packets, rounds * frames.len() as u64);
        assert_eq!(total.tx_full, 0);
        let bytes: usize = frames.iter().map(Vec::len).sum();
        assert_eq!(total.bytes, rounds * bytes as u64);
        let expected = Digest::of((0..rounds).flat_map(|_| frames.iter().map(Vec::as_slice)));
        assert_eq!(wire_b.digest(), expected, "byte for byte, in order");
        drop(route);
        assert_eq!(pool.stats().in_use, 0, "every buffer back in the pool");
    }

    #[test]
    fn a_queue_already_taken_is_the_ports_own_error() {
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let (mut a, b) = (port(&pool), port(&pool));
        let _mine = a.take_rx(0).unwrap();
        let err = Forwarder::start(vec![a, b]).unwrap_err();
        let ForwardError::Take { port, queue, error } = &err else {
            panic!("expected a Take error, got {err}");
        };
        assert_eq!((*port, *queue), (0, 0));
        assert_eq!(
            error.downcast_ref::<Error>(),
            Some(&Error::QueueTaken { queue: 0 }),
            "the backend's error, whole"
        );
        assert!(err.to_string().starts_with("port 0 queue 0: "), "{err}");
    }

    #[test]
    fn a_running_forwarder_carries_both_directions_and_reports() {
        for threading in [Threading::PerDirection, Threading::PerQueuePair] {
            let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
            let (a, b) = (port(&pool), port(&pool));
            let (wire_a, wire_b) = (a.wire(0).clone(), b.wire(0).clone());
            let config = ForwarderConfig::default().threading(threading);
            let fwd = Forwarder::start_with(vec![a, b], config).unwrap();
            let frame = [0x5au8; 100];
            let n = 2_000u64;
            for i in 0..n {
                // The simulated kernel queue holds 1000 frames: pace it, each
                // wire on its own (retrying both together would inject into
                // A again whenever only B was full).
                while !wire_a.inject(&frame) {
                    std::thread::yield_now();
                }
                while !wire_b.inject(&frame[..80]) {
                    std::thread::yield_now();
                }
                if i % 256 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while fwd.totals().iter().map(|d| d.packets).sum::<u64>() < 2 * n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{threading:?}: {:?}",
                    fwd.totals()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let report = fwd.stop();
            assert_eq!(report.errors().count(), 0, "{threading:?}: {report}");
            assert_eq!(report.dirs[0].packets, n, "{threading:?}");
            assert_eq!(report.dirs[1].bytes, n * 80, "{threading:?}");
            assert_eq!(report.queue_stats(0, true).packets, n, "{threading:?}");
            assert_eq!(report.queue_stats(1, false).packets, n, "{threading:?}");
            assert_eq!(wire_b.digest().frames, n, "{threading:?}: A -> B arrived");
            assert_eq!(wire_a.digest().frames, n, "{threading:?}: B -> A arrived");
            assert_eq!(pool.stats().in_use, 0, "{threading:?}: buffers back");
        }
    }

    #[test]
    fn ports_of_different_framing_are_refused_with_what_to_do() {
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let tun = |pool: &Pool| {
            let mut cfg = MockPortConfig::default();
            cfg.engine.framing = Framing::Ip;
            MockPort::new(pool, cfg).unwrap()
        };
        let err = Forwarder::start(vec![port(&pool), tun(&pool)]).unwrap_err();
        assert!(
            matches!(
                err,
                ForwardError::FramingMismatch {
                    a: 0,
                    a_framing: Framing::Ethernet,
                    b: 1,
                    b_framing: Framing::Ip
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("same mode"), "{err}");
        // Two TUN ports forward.
        let fwd = Forwarder::start(vec![tun(&pool), tun(&pool)]).unwrap();
        assert_eq!(fwd.stop().errors().count(), 0);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn reflect_on_ip_packets_swaps_the_ip_addresses() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let mut burst: Burst<FORWARD_BURST> = Burst::new();
        let mut v4 = vec![0u8; 40];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[198, 18, 0, 1]);
        v4[16..20].copy_from_slice(&[198, 18, 0, 2]);
        let mut v6 = vec![0u8; 60];
        v6[0] = 0x60;
        v6[8..24].fill(1);
        v6[24..40].fill(2);
        let junk = vec![0x11u8; 30];
        for f in [&v4, &v6, &junk] {
            let mut p = pool.alloc().unwrap();
            p.extend_from_slice(f).unwrap();
            burst.push(p).unwrap();
        }
        swap_addresses(&mut burst, Framing::Ip);
        let got: Vec<Vec<u8>> = burst.iter().map(|p| p.data().to_vec()).collect();
        assert_eq!(&got[0][12..16], &[198, 18, 0, 2]);
        assert_eq!(&got[0][16..20], &[198, 18, 0, 1]);
        assert!(got[1][8..24].iter().all(|&b| b == 2) && got[1][24..40].iter().all(|&b| b == 1));
        assert_eq!(got[2], junk, "not IP: unchanged");
        burst.clear();
    }

    #[test]
    fn reflect_swaps_the_mac_addresses() {
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let cfg = MockPortConfig {
            wire: WireConfig {
                capture: Capture::Frames,
                ..WireConfig::default()
            },
            ..MockPortConfig::default()
        };
        let mut a = MockPort::new(&pool, cfg).unwrap();
        let wire = a.wire(0).clone();
        let mut route = Route {
            queue: 0,
            from: 0,
            to: 0,
            framing: Framing::Ethernet,
            plan: OffloadPlan::PassThrough,
            max_frame: 1514,
            rx: a.take_rx(0).unwrap(),
            tx: a.take_tx(0).unwrap(),
        };
        let mut frame = vec![0u8; 60];
        frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        assert!(wire.inject(&frame));
        let (dirs, config) = (<[DirCounters; 2]>::default(), ForwarderConfig::default());
        let mut burst: Burst<FORWARD_BURST> = Burst::new();
        let mut scratch = OffloadScratch::new();
        let n = pump(&mut route, &mut burst, &mut scratch, &dirs[0], &config);
        assert_eq!(n.unwrap(), 1);
        route.tx.reclaim().unwrap();
        let out = wire.take_written();
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..6], &[2, 0, 0, 0, 0, 2]);
        assert_eq!(&out[0][6..12], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&out[0][12..], &frame[12..]);
    }
}
