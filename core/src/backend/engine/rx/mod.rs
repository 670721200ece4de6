//! The Rx state machine: keeps `depth` buffers lent to the kernel (posted
//! reads, or a provided-buffer group behind one multishot read), turns
//! completions into packets, and replaces every buffer it hands out. In
//! no-wait mode it lends nothing between bursts: each burst issues reads
//! that complete at once, with a frame or `EAGAIN`.
//!
//! The three ways of lending buffers are one type each ([`posted`],
//! [`multishot`], [`nowait`]) behind the [`Lending`] trait, one method per
//! step of a queue's life (prepare, refill / lend, complete, wake-up,
//! teardown). What they share (the ring, the cache, counting and judging
//! frames) is [`RxCore`]; [`RxEngine`] drives a core and one strategy.

mod multishot;
mod nowait;
mod posted;

use super::inflight::{InflightTable, Slot};
use super::{CANCEL_EVERY, CANCEL_TOKEN, DRAIN_ROUNDS, EngineConfig, HARVEST, cancel_all};
use crate::backend::ring::{Cqe, Ring, RingError, Sqe, errno};
use crate::packet::{BurstSlice, ConfigError, Pkt, Pool, PoolCache};
use crate::queue::{Error, QueueStats, RxMode};
use core::time::Duration;
use multishot::Multishot;
use nowait::Nowait;
use posted::Posted;

/// What the strategies share: the ring, the buffers' cache, the settings
/// and the counters.
struct RxCore<R> {
    ring: R,
    cache: PoolCache,
    depth: usize,
    cfg: EngineConfig,
    /// Bytes a read may fill (virtio-net header included).
    room: u32,
    stats: QueueStats,
    cqes: [Cqe; HARVEST],
    started: bool,
    unflushed: bool,
    /// Buffers that teardown could not get back from the kernel.
    leaked: usize,
    /// The errno with which the kernel said the device is gone, once it
    /// did: the queue then stops for good.
    gone: Option<i32>,
    /// The last allocation from the pool failed (cleared by the next one
    /// that works): with nothing lent, no read can signal.
    starved: bool,
}

/// What became of one received frame.
enum Verdict {
    /// A good frame: deliver it.
    Deliver(Pkt),
    /// Counted as an error or drop: reuse the buffer.
    Recycle(Pkt),
}

/// One way of lending receive buffers to the kernel: a method per step.
trait Lending<R: Ring> {
    /// The mode this strategy implements.
    fn mode(&self) -> RxMode;

    /// Buffers lent to the kernel right now.
    fn in_flight(&self) -> usize;

    /// Before the first buffer is lent (at every start).
    fn prepare(&mut self, _c: &mut RxCore<R>) -> Result<(), Error> {
        Ok(())
    }

    /// Hands the kernel what was queued for it.
    fn flush(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        c.flush()
    }

    /// Lends buffers until the queue is full again, and flushes.
    fn refill(&mut self, c: &mut RxCore<R>) -> Result<(), Error>;

    /// The step of `rx_burst` after the ready completions were taken.
    fn lend(&mut self, c: &mut RxCore<R>, _burst: &mut BurstSlice) -> Result<(), Error> {
        self.refill(c)
    }

    /// Handles one completion (never the cancel request's).
    fn complete(&mut self, c: &mut RxCore<R>, cqe: Cqe, burst: &mut BurstSlice);

    /// Makes sure a completion will appear when a frame arrives.
    fn wakeup(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        self.flush(c)
    }

    /// Teardown: whether the kernel may still hold (or write into) buffers.
    fn kernel_holds_buffers(&self) -> bool;

    /// Teardown: handles one completion, returning its buffer to the pool.
    fn reclaim(&mut self, c: &mut RxCore<R>, cqe: Cqe);

    /// Teardown gave up: forgets every buffer the kernel may still write
    /// into (so it is never reused); returns how many.
    fn abandon(&mut self) -> usize;

    /// Teardown is over: puts the strategy back in its initial state.
    fn stopped(&mut self, _c: &mut RxCore<R>) {}

    /// Takes completions while the burst has room for what they carry.
    fn harvest(&mut self, c: &mut RxCore<R>, burst: &mut BurstSlice) {
        while !burst.is_full() {
            let want = burst.spare().min(HARVEST);
            let got = c.ring.harvest(&mut c.cqes[..want]);
            for i in 0..got {
                let cqe = c.cqes[i];
                if cqe.token != CANCEL_TOKEN {
                    self.complete(c, cqe, burst);
                }
            }
            if got < want {
                break;
            }
        }
    }
}

/// The strategy of one engine.
enum Lent<S> {
    Posted(Posted<S>),
    Multishot(Multishot<S>),
    Nowait(Nowait<S>),
}

/// Calls the same [`Lending`] method on whichever strategy `lent` holds.
macro_rules! each {
    ($lent:expr, $s:ident => $e:expr) => {
        match $lent {
            Lent::Posted($s) => $e,
            Lent::Multishot($s) => $e,
            Lent::Nowait($s) => $e,
        }
    };
}

/// The Rx half of a completion-driven queue.
pub struct RxEngine<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> {
    core: RxCore<R>,
    lent: Lent<S>,
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> RxEngine<R, S> {
    /// An Rx engine lending `slots.len()` buffers (a power of two) from
    /// `pool` to `ring`. `RxMode::Auto` picks no-wait reads where the ring
    /// supports them (tun honours `RWF_NOWAIT`), else multishot where the
    /// ring has it, else posted reads.
    pub fn new(
        ring: R,
        pool: &Pool,
        slots: S,
        mode: RxMode,
        cfg: EngineConfig,
    ) -> Result<Self, Error> {
        let depth = slots.as_ref().len();
        cfg.validate(depth)?;
        let mode = match mode {
            RxMode::Auto if ring.supports_nowait() => RxMode::Nowait,
            RxMode::Auto if ring.supports_multishot() => RxMode::Multishot,
            RxMode::Auto => RxMode::Posted,
            RxMode::Multishot if !ring.supports_multishot() => {
                return Err(RingError::Unsupported("multishot read").into());
            }
            RxMode::Nowait if !ring.supports_nowait() => {
                return Err(RingError::Unsupported("no-wait read (RWF_NOWAIT)").into());
            }
            m => m,
        };
        let multishot = mode == RxMode::Multishot;
        if multishot && depth > usize::from(u16::MAX) {
            return Err(Error::Unsupported(
                "provided-buffer groups beyond 32768 buffers",
            ));
        }
        let pc = pool.config();
        if cfg.hdr_len() > pc.headroom {
            return Err(ConfigError::HeadroomTooSmall {
                headroom: pc.headroom,
                min: cfg.hdr_len(),
            }
            .into());
        }
        let lead = cfg.hdr_len();
        let room = pc.slot_size() - (pc.headroom - lead);
        let lent = match mode {
            RxMode::Multishot => Lent::Multishot(Multishot::new(slots)),
            RxMode::Nowait => Lent::Nowait(Nowait::new(slots, depth)),
            _ => Lent::Posted(Posted::new(slots)),
        };
        Ok(RxEngine {
            core: RxCore {
                ring,
                cache: pool.cache(),
                depth,
                cfg,
                room,
                stats: QueueStats::default(),
                cqes: [Cqe::default(); HARVEST],
                started: false,
                unflushed: false,
                leaked: 0,
                gone: None,
                starved: false,
            },
            lent,
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> RxMode {
        each!(&self.lent, s => Lending::<R>::mode(s))
    }

    /// Buffers the queue keeps lent to the kernel (no-wait mode: the
    /// largest read batch).
    pub fn depth(&self) -> usize {
        self.core.depth
    }

    /// Buffers lent to the kernel right now.
    pub fn in_flight(&self) -> usize {
        each!(&self.lent, s => Lending::<R>::in_flight(s))
    }

    /// Buffers parked in this queue's cache.
    pub fn cached(&self) -> usize {
        self.core.cache.len()
    }

    /// Returns the cached buffers (not those lent) to the pool's shared
    /// list; how many ([`RxQueue::release_cached`](crate::RxQueue::release_cached)).
    pub fn release_cached(&mut self) -> usize {
        self.core.cache.flush()
    }

    /// Buffers teardown had to leave with the kernel (their memory stays
    /// mapped; should be 0).
    pub fn leaked(&self) -> usize {
        self.core.leaked
    }

    /// The queue's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.core.stats
    }

    /// The ring (for backend-specific inspection).
    pub fn ring(&self) -> &R {
        &self.core.ring
    }

    /// The ring, writable (for backend-specific control and tests).
    pub fn ring_mut(&mut self) -> &mut R {
        &mut self.core.ring
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &Pool {
        self.core.cache.pool()
    }

    /// The device is gone (see [`Error::DeviceGone`]), if the kernel said
    /// so.
    pub fn device_gone(&self) -> Option<Error> {
        self.core.gone.map(|errno| Error::DeviceGone { errno })
    }

    /// Whether the queue waits for buffers rather than for frames: the
    /// pool had none at the last try and no read is lent, so nothing the
    /// kernel does can signal (see [`Wakeup::Starved`](crate::Wakeup::Starved)).
    pub fn starved(&self) -> bool {
        self.core.starved && self.in_flight() == 0
    }

    /// Lends buffers to the kernel and starts receiving.
    pub fn start(&mut self) -> Result<(), Error> {
        if let Some(e) = self.device_gone() {
            return Err(e);
        }
        let c = &mut self.core;
        if c.started {
            return Ok(());
        }
        each!(&mut self.lent, s => s.prepare(c))?;
        c.started = true;
        each!(&mut self.lent, s => s.refill(c))
    }

    /// Receives up to `burst.spare()` packets, appending them to `burst`;
    /// returns how many were appended. Never blocks.
    ///
    /// When a completion says the device is gone, the queue stops (every
    /// buffer back in the pool) and this and every later call return
    /// [`Error::DeviceGone`]; packets received before that stay in `burst`.
    pub fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        if let Some(e) = self.device_gone() {
            return Err(e);
        }
        let c = &mut self.core;
        if !c.started {
            return Err(Error::NotStarted);
        }
        let before = burst.len();
        each!(&mut self.lent, s => {
            s.harvest(c, burst);
            if c.gone.is_none() {
                s.lend(c, burst)?;
            }
            Ok::<(), Error>(())
        })?;
        if let Some(e) = self.device_gone() {
            self.stop()?;
            return Err(e);
        }
        Ok(burst.len() - before)
    }

    /// Waits until a completion is ready or `timeout` passes, so an idle
    /// queue costs no CPU. Follow with [`RxEngine::rx_burst`].
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.arm_wakeup()?;
        self.core.ring.wait(timeout).map_err(Error::from)
    }

    /// Makes sure a completion will appear when a frame arrives, without
    /// waiting for it: for callers that sleep elsewhere (an eventfd in an
    /// epoll set). No-wait mode leaves nothing posted between bursts, so it
    /// arms a one-shot input poll; the other modes have reads posted already.
    pub fn arm_wakeup(&mut self) -> Result<(), Error> {
        if let Some(e) = self.device_gone() {
            return Err(e);
        }
        let c = &mut self.core;
        if !c.started {
            return Err(Error::NotStarted);
        }
        each!(&mut self.lent, s => s.wakeup(c))
    }

    /// Stops receiving: cancels every read, waits for the kernel to give
    /// every buffer back, and returns them to the pool. Frames that
    /// arrived meanwhile are counted in `drops.canceled`. Can be started
    /// again with [`RxEngine::start`].
    pub fn stop(&mut self) -> Result<(), Error> {
        let c = &mut self.core;
        if !c.started {
            return Ok(());
        }
        c.started = false;
        each!(&mut self.lent, s => {
            let mut rounds = 0;
            while Lending::<R>::kernel_holds_buffers(s) && rounds < DRAIN_ROUNDS {
                // Cancel again every few idle rounds: a read whose wake-up
                // was still queued as task work when a cancel ran is not
                // found by it, re-arms afterwards and would wait forever.
                if rounds % CANCEL_EVERY == 0
                    && let Err(e) = cancel_all(&mut c.ring)
                {
                    // The kernel still holds these reads (a ring refusing
                    // this thread, say): their buffers must never be reused.
                    c.leaked += Lending::<R>::abandon(s);
                    c.cache.flush();
                    return Err(e);
                }
                let got = c.ring.harvest(&mut c.cqes);
                for i in 0..got {
                    let cqe = c.cqes[i];
                    s.reclaim(c, cqe);
                }
                if got == 0 {
                    rounds += 1;
                    let _ = c.ring.wait(Some(Duration::from_millis(1)));
                }
            }
            if Lending::<R>::kernel_holds_buffers(s) {
                // The kernel may still write into these buffers: never
                // reuse them. Forgetting the packets keeps the pool's
                // memory alive.
                c.leaked += Lending::<R>::abandon(s);
            }
            s.stopped(c);
        });
        c.cache.flush();
        if c.leaked > 0 {
            return Err(Error::TeardownIncomplete { buffers: c.leaked });
        }
        Ok(())
    }
}

impl<R: Ring> RxCore<R> {
    /// The virtio-net header's length: where reads start before the data.
    fn lead(&self) -> u32 {
        self.cfg.hdr_len()
    }

    /// Flushes the ring if something was posted since the last flush.
    fn flush(&mut self) -> Result<(), Error> {
        if self.unflushed {
            self.ring.flush(0)?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Classifies a completed read of `pkt`.
    fn judge(&mut self, mut pkt: Pkt, result: i32) -> Verdict {
        if result < 0 {
            self.stats.last_errno = result;
            match -result {
                errno::EAGAIN | errno::EINTR => self.stats.xstats.again += 1,
                // No frame was lost: the queue itself is.
                e if errno::means_device_gone(e) => self.gone = Some(e),
                errno::EMSGSIZE => {
                    self.stats.errors += 1;
                    self.stats.drops.truncated += 1;
                }
                _ => {
                    self.stats.errors += 1;
                    self.stats.drops.io_error += 1;
                }
            }
            return Verdict::Recycle(pkt);
        }
        let n = result as usize;
        pkt.rx_complete(result as u32);
        let fmt = self.cfg.format();
        match crate::backend::rx_prep::accept(&mut pkt, n, self.room as usize, &fmt) {
            Ok(off) => self.stats.count_offload(&off),
            Err(crate::backend::rx_prep::RxReject::Runt)
                if super::mutation::on(super::mutation::RX_UNCOUNTED_RUNT) =>
            {
                return Verdict::Recycle(pkt);
            }
            Err(why) => {
                why.count(&mut self.stats);
                return Verdict::Recycle(pkt);
            }
        }
        pkt.set_origin(self.cfg.port, self.cfg.queue);
        Verdict::Deliver(pkt)
    }

    /// Hands `pkt` to the burst if a replacement buffer exists; returns the
    /// buffer to lend to the kernel next (the replacement, or `pkt` itself
    /// when the pool is empty and the frame is dropped).
    fn deliver(&mut self, pkt: Pkt, burst: &mut BurstSlice) -> Pkt {
        let Some(fresh) = self.cache.alloc() else {
            self.stats.rx_nombuf += 1;
            self.stats.drops.nombuf += 1;
            return pkt;
        };
        self.hand_over(pkt, burst);
        fresh
    }

    /// Counts `pkt` and appends it to the burst.
    fn hand_over(&mut self, pkt: Pkt, burst: &mut BurstSlice) {
        let len = pkt.pkt_len();
        self.stats.count_framed(self.cfg.framing, pkt.data(), len);
        if let Err(back) = burst.push(pkt) {
            // Unreachable: harvest never takes more completions than the
            // burst has room for. Count it rather than lose it silently.
            self.stats.drops.nombuf += 1;
            self.cache.free(back);
        }
    }

    /// A buffer for the next read, counting a miss (once per call, like a
    /// failed refill in DPDK: the ring runs short until the pool refills).
    fn alloc(&mut self) -> Option<Pkt> {
        let pkt = self.cache.alloc();
        self.starved = pkt.is_none();
        if self.starved {
            self.stats.rx_nombuf += 1;
        }
        pkt
    }
}

/// Lends `pkt` to the kernel for one read (a no-wait read when `now`)
/// under a fresh token of `table`, its data starting `lead` bytes into the
/// headroom. False when the table or the ring refused: the kernel never saw
/// the packet, which is back in `cache`.
fn lend_read<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>>(
    ring: &mut R,
    table: &mut InflightTable<S>,
    cache: &mut PoolCache,
    mut pkt: Pkt,
    lead: u32,
    now: bool,
) -> bool {
    let buf = pkt.rx_target(lead);
    let token = match table.insert(pkt, buf.len()) {
        Ok(t) => t,
        Err(pkt) => {
            cache.free(pkt);
            return false;
        }
    };
    let op = if now {
        Sqe::ReadNow { buf }
    } else {
        Sqe::Read { buf }
    };
    let mut posted = super::lend::post(ring, token, op);
    if posted == Err(RingError::Full) && ring.flush(0).is_ok() {
        posted = super::lend::post(ring, token, op);
    }
    if posted.is_ok() {
        return true;
    }
    if let Some((pkt, _)) = table.take(token) {
        cache.free(pkt);
    }
    false
}

/// Hands every packet of a drained table to `f`, counting them.
fn forget_all(drain: impl FnOnce(&mut dyn FnMut(Pkt))) -> usize {
    let mut n = 0;
    drain(&mut |p| {
        n += 1;
        core::mem::forget(p);
    });
    n
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Drop for RxEngine<R, S> {
    fn drop(&mut self) {
        // Teardown before the ring goes: every buffer comes back, or is
        // left with the kernel for good (see `stop`).
        let _ = self.stop();
    }
}
