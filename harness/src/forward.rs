//! The forwarding core shared by `tapring fwd` and `tapring selftest`: one
//! thread per queue pair moves every frame from port A's queue q to port
//! B's queue q and back (or, with one port, reflects it with the MAC
//! addresses swapped), zero copy: a burst received on one port is handed
//! straight to the other port's `tx_burst`.
//!
//! The loop makes no device control call, so it keeps working when the
//! interfaces are moved into other network namespaces after start (the
//! queue fds stay valid).

use crate::backends::Opened;
use crate::error::HarnessError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tapring::{Burst, QueueStats, RxQueue, TxQueue};

/// Packets per burst call.
const BURST: usize = 64;
/// Idle poll rounds (nothing moved) before the lane sleeps in `wait`.
const SPIN_ROUNDS: u32 = 200;
/// How long an idle lane sleeps in one `wait`.
const IDLE_WAIT: Duration = Duration::from_millis(1);
/// `tx_burst` attempts for one received burst before the rest is dropped.
const TX_ATTEMPTS: u32 = 8;

/// Live counters of one direction (for rates while running).
#[derive(Debug, Default)]
pub struct DirCounters {
    /// Frames received on the source port and handed to the other's Tx.
    pub packets: AtomicU64,
    /// Bytes of those frames.
    pub bytes: AtomicU64,
    /// Frames the destination's Tx queue did not take after all retries
    /// (its ring stayed full); the forwarder dropped them.
    pub tx_full: AtomicU64,
}

/// A snapshot of [`DirCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirTotals {
    /// Frames forwarded.
    pub packets: u64,
    /// Bytes forwarded.
    pub bytes: u64,
    /// Frames dropped because the destination's Tx queue stayed full.
    pub tx_full: u64,
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

/// What a lane (one queue pair) reports when it ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct LaneEnd {
    /// Queue index.
    pub queue: usize,
    /// Counters of the Rx queues, by port (index 1 unused with one port).
    pub rx: [QueueStats; 2],
    /// Counters of the Tx queues, by port.
    pub tx: [QueueStats; 2],
}

/// The Rx and Tx queue `q` of one port, moved into a lane thread.
struct Side {
    rx: Box<dyn RxQueue>,
    tx: Box<dyn TxQueue>,
}

/// A running forwarder.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    /// Counters per direction: [A->B, B->A] (one port: [A->A, unused]).
    dirs: Arc<[DirCounters; 2]>,
    lanes: Vec<JoinHandle<Result<LaneEnd, HarnessError>>>,
}

/// Everything a finished forwarder reports.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Totals per direction.
    pub dirs: [DirTotals; 2],
    /// Per lane.
    pub lanes: Vec<LaneEnd>,
    /// Errors of lanes that failed.
    pub errors: Vec<String>,
}

impl Report {
    /// The Rx (`rx = true`) or Tx counters of port `p`, summed over lanes.
    pub fn port_stats(&self, p: usize, rx: bool) -> QueueStats {
        let mut s = QueueStats::default();
        for l in &self.lanes {
            s += if rx { &l.rx[p] } else { &l.tx[p] };
        }
        s
    }
}

impl Forwarder {
    /// Takes every queue out of `ports` (one or two ports with the same
    /// queue count) and starts one thread per queue index. The queues are
    /// first used (io_uring: bound) in their lane's thread. `stop` ends
    /// the lanes; it may be shared with a Ctrl-C handler.
    pub fn start(ports: &mut [Opened], stop: Arc<AtomicBool>) -> Result<Forwarder, HarnessError> {
        let n = match ports {
            [a] => a.rx.len(),
            [a, b] => {
                if a.rx.len() != b.rx.len() {
                    return Err(HarnessError::Usage(format!(
                        "{} has {} queues but {} has {}",
                        a.name,
                        a.rx.len(),
                        b.name,
                        b.rx.len()
                    )));
                }
                a.rx.len()
            }
            _ => return Err(HarnessError::Usage("give one or two ports".into())),
        };
        for p in ports.iter() {
            if p.rx.len() != n || p.tx.len() != n {
                return Err(HarnessError::Usage(format!(
                    "{}: {} Rx and {} Tx queues (expected {n} of each)",
                    p.name,
                    p.rx.len(),
                    p.tx.len()
                )));
            }
        }
        let mut sides: Vec<Vec<Side>> = ports
            .iter_mut()
            .map(|p| {
                let rx = std::mem::take(&mut p.rx);
                let tx = std::mem::take(&mut p.tx);
                rx.into_iter()
                    .zip(tx)
                    .map(|(rx, tx)| Side { rx, tx })
                    .rev()
                    .collect()
            })
            .collect();
        let dirs: Arc<[DirCounters; 2]> = Arc::default();
        let mut fwd = Forwarder {
            stop,
            dirs,
            lanes: Vec::with_capacity(n),
        };
        for q in 0..n {
            // Sides were reversed, so pop() yields queue 0 first.
            let a = sides[0].pop();
            let b = sides.get_mut(1).and_then(Vec::pop);
            let Some(a) = a else { break };
            let (stop, dirs) = (fwd.stop.clone(), fwd.dirs.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("fwd-q{q}"))
                .spawn(move || lane(q, a, b, &stop, &dirs));
            match spawned {
                Ok(h) => fwd.lanes.push(h),
                Err(e) => {
                    fwd.stop.store(true, Ordering::Relaxed);
                    let _ = fwd.finish();
                    return Err(HarnessError::Backend(format!(
                        "spawn forwarder thread: {e}"
                    )));
                }
            }
        }
        Ok(fwd)
    }

    /// Live totals per direction.
    pub fn totals(&self) -> [DirTotals; 2] {
        [self.dirs[0].snapshot(), self.dirs[1].snapshot()]
    }

    /// Whether a lane has ended (it only ends early on an error).
    pub fn any_lane_ended(&self) -> bool {
        self.lanes.iter().any(JoinHandle::is_finished)
    }

    /// Stops every lane, waits for them (each stops and closes its queues
    /// in its own thread) and reports.
    pub fn finish(mut self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = Report::default();
        for h in self.lanes.drain(..) {
            match h.join() {
                Ok(Ok(end)) => report.lanes.push(end),
                Ok(Err(e)) => report.errors.push(e.to_string()),
                Err(_) => report.errors.push("forwarder thread panicked".into()),
            }
        }
        report.dirs = self.totals();
        report
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.lanes.drain(..) {
            let _ = h.join();
        }
    }
}

/// Swaps destination and source MAC addresses (reflect mode).
fn swap_macs(burst: &mut Burst<BURST>) {
    for p in burst.iter_mut() {
        let d = p.data_mut();
        if d.len() >= 12 {
            let (dst, src) = d.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
        }
    }
}

/// Moves one burst from `rx` to `tx`; returns the frames moved.
fn pump(
    rx: &mut dyn RxQueue,
    tx: &mut dyn TxQueue,
    burst: &mut Burst<BURST>,
    reflect: bool,
    dir: &DirCounters,
) -> Result<usize, HarnessError> {
    let n = rx.rx_burst(burst)?;
    if n == 0 {
        return Ok(0);
    }
    let bytes: usize = burst.iter().map(|p| p.pkt_len()).sum();
    if reflect {
        swap_macs(burst);
    }
    let mut attempts = 0;
    while !burst.is_empty() && attempts < TX_ATTEMPTS {
        if tx.tx_burst(burst)? == 0 {
            tx.reclaim()?;
        }
        attempts += 1;
    }
    let left = burst.len();
    burst.clear();
    dir.packets.fetch_add(n as u64, Ordering::Relaxed);
    dir.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    if left > 0 {
        dir.tx_full.fetch_add(left as u64, Ordering::Relaxed);
    }
    Ok(n)
}

fn lane(
    q: usize,
    mut a: Side,
    mut b: Option<Side>,
    stop: &AtomicBool,
    dirs: &[DirCounters; 2],
) -> Result<LaneEnd, HarnessError> {
    let run = run_lane(&mut a, b.as_mut(), stop, dirs);
    // Stop every queue here: an io_uring queue is bound to this thread.
    let mut end = LaneEnd {
        queue: q,
        ..LaneEnd::default()
    };
    let mut stop_err = None;
    for (i, s) in std::iter::once(&mut a).chain(b.as_mut()).enumerate() {
        if let Err(e) = s.tx.stop() {
            stop_err.get_or_insert(e);
        }
        if let Err(e) = s.rx.stop() {
            stop_err.get_or_insert(e);
        }
        end.rx[i] = s.rx.stats();
        end.tx[i] = s.tx.stats();
    }
    drop(a);
    drop(b);
    run?;
    if let Some(e) = stop_err {
        return Err(HarnessError::Backend(format!("queue {q}: stop: {e}")));
    }
    Ok(end)
}

fn run_lane(
    a: &mut Side,
    mut b: Option<&mut Side>,
    stop: &AtomicBool,
    dirs: &[DirCounters; 2],
) -> Result<(), HarnessError> {
    let mut burst: Burst<BURST> = Burst::new();
    let mut idle = 0u32;
    let mut turn = false;
    while !stop.load(Ordering::Relaxed) {
        let moved = match b.as_deref_mut() {
            Some(b) => {
                pump(&mut *a.rx, &mut *b.tx, &mut burst, false, &dirs[0])?
                    + pump(&mut *b.rx, &mut *a.tx, &mut burst, false, &dirs[1])?
            }
            None => pump(&mut *a.rx, &mut *a.tx, &mut burst, true, &dirs[0])?,
        };
        if moved > 0 {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        if idle == 1 {
            // Collect finished transmissions while there is time.
            a.tx.reclaim()?;
            if let Some(b) = b.as_deref_mut() {
                b.tx.reclaim()?;
            }
        }
        if idle < SPIN_ROUNDS {
            std::hint::spin_loop();
            continue;
        }
        // Idle: sleep on one Rx queue (alternating), at most IDLE_WAIT.
        turn = !turn;
        match b.as_deref_mut() {
            Some(b) if turn => b.rx.wait(Some(IDLE_WAIT))?,
            _ => a.rx.wait(Some(IDLE_WAIT))?,
        }
    }
    Ok(())
}

/// io_uring ring sizes for a forwarder: with offloads every buffer holds a
/// 64 KiB frame, so rings lend fewer of them.
pub fn uring_tuning(offload: bool) -> crate::backends::UringTuning {
    let mut t = crate::backends::UringTuning::default();
    if offload {
        t.rx_depth = LARGE_RING;
        t.multishot_buffers = LARGE_RING;
        t.tx_depth = LARGE_RING;
    }
    t
}

/// Ring size (Rx lending, Tx in flight) with 64 KiB buffers.
const LARGE_RING: u32 = 128;

/// A pool large enough for a forwarder over `ports` ports of `queues`
/// queues each: every io_uring Rx ring may lend up to 2048 buffers (and at
/// most half the pool), every Tx ring holds up to 256 in flight, plus
/// bursts in hand and per-queue caches. With offloads the buffers hold
/// 64 KiB frames and the rings are smaller (see [`uring_tuning`]); the
/// memory is mapped lazily, so untouched buffers cost nothing.
pub fn pool_for(ports: usize, queues: usize, offload: bool) -> Result<tapring::Pool, HarnessError> {
    let rings = (ports * queues) as u32;
    let cfg = if offload {
        tapring::PoolConfig::large((rings * 4 * LARGE_RING + 1024).max(2048))
    } else {
        tapring::PoolConfig::standard((rings * (2048 + 256) + 4096).max(16_384))
    };
    tapring::Pool::new(cfg).map_err(|e| {
        HarnessError::Backend(format!(
            "buffer pool of {} x {} bytes: {e}",
            cfg.count, cfg.data_room
        ))
    })
}

/// One line of the drop reasons of `s` that are not zero ("none" if all are).
pub fn drop_summary(s: &QueueStats) -> String {
    let parts: Vec<String> = s
        .named()
        .iter()
        .filter(|(name, v)| *v > 0 && (name.starts_with("drop_") || *name == "rx_nombuf"))
        .map(|(name, v)| format!("{}={v}", name.trim_start_matches("drop_")))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}
