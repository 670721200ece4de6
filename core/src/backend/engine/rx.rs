//! The Rx state machine: keeps `depth` buffers lent to the kernel (posted
//! reads, or a provided-buffer group behind one multishot read), turns
//! completions into packets, and replaces every buffer it hands out. In
//! no-wait mode it lends nothing between bursts: each burst issues reads
//! that complete at once, with a frame or `EAGAIN`.

use super::inflight::{InflightTable, ParkedTable, Slot};
use super::{
    CANCEL_EVERY, CANCEL_TOKEN, DRAIN_ROUNDS, EngineConfig, HARVEST, MULTISHOT_TOKEN, POLL_TOKEN,
    cancel_all,
};
use crate::backend::ring::{Cqe, Ring, RingError, Sqe, errno};
use crate::packet::BurstSlice;
use crate::packet::{Pkt, Pool, PoolCache};
use crate::queue::Error;
use crate::queue::QueueStats;
use crate::queue::RxMode;
use core::time::Duration;

enum Lent<S> {
    Posted(InflightTable<S>),
    Multishot {
        parked: ParkedTable<S>,
        armed: bool,
        registered: bool,
        uncommitted: bool,
    },
    Nowait {
        /// Reads of the current batch (empty between bursts unless the
        /// ring delays completions).
        table: InflightTable<S>,
        /// Reads the next batch issues: doubled while batches come back
        /// full, cut to one more than found when they do not.
        batch: usize,
        /// A one-shot input poll is armed (by `wait`).
        poll_armed: bool,
    },
}

/// What became of one received frame.
enum Verdict {
    /// A good frame: deliver it.
    Deliver(Pkt),
    /// Counted as an error or drop: reuse the buffer.
    Recycle(Pkt),
}

/// The Rx half of a completion-driven queue.
pub struct RxEngine<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> {
    ring: R,
    cache: PoolCache,
    lent: Lent<S>,
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
        let lead = cfg.hdr_len().min(pc.headroom);
        let room = pc.slot_size() - (pc.headroom - lead);
        let lent = match mode {
            RxMode::Multishot => Lent::Multishot {
                parked: ParkedTable::new(slots),
                armed: false,
                registered: false,
                uncommitted: false,
            },
            RxMode::Nowait => Lent::Nowait {
                table: InflightTable::new(slots),
                batch: depth,
                poll_armed: false,
            },
            _ => Lent::Posted(InflightTable::new(slots)),
        };
        Ok(RxEngine {
            ring,
            cache: pool.cache(),
            lent,
            depth,
            cfg,
            room,
            stats: QueueStats::default(),
            cqes: [Cqe::default(); HARVEST],
            started: false,
            unflushed: false,
            leaked: 0,
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> RxMode {
        match self.lent {
            Lent::Posted(_) => RxMode::Posted,
            Lent::Multishot { .. } => RxMode::Multishot,
            Lent::Nowait { .. } => RxMode::Nowait,
        }
    }

    /// Buffers the queue keeps lent to the kernel (no-wait mode: the
    /// largest read batch).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Buffers lent to the kernel right now.
    pub fn in_flight(&self) -> usize {
        match &self.lent {
            Lent::Posted(t) | Lent::Nowait { table: t, .. } => t.len(),
            Lent::Multishot { parked, .. } => parked.len(),
        }
    }

    /// Buffers parked in this queue's cache.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Buffers teardown had to leave with the kernel (their memory stays
    /// mapped; should be 0).
    pub fn leaked(&self) -> usize {
        self.leaked
    }

    /// The queue's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// The ring (for backend-specific inspection).
    pub fn ring(&self) -> &R {
        &self.ring
    }

    /// The ring, writable (for backend-specific control and tests).
    pub fn ring_mut(&mut self) -> &mut R {
        &mut self.ring
    }

    /// The pool buffers come from.
    pub fn pool(&self) -> &Pool {
        self.cache.pool()
    }

    /// Lends buffers to the kernel and starts receiving.
    pub fn start(&mut self) -> Result<(), Error> {
        if self.started {
            return Ok(());
        }
        if let Lent::Multishot { registered, .. } = &mut self.lent
            && !*registered
        {
            self.ring
                .register_group(self.cfg.buffer_group, self.depth as u16)?;
            *registered = true;
        }
        self.started = true;
        self.top_up();
        self.arm_if_needed()?;
        self.flush()
    }

    /// Receives up to `burst.spare()` packets, appending them to `burst`;
    /// returns how many were appended. Never blocks.
    pub fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let before = burst.len();
        self.harvest_into(burst);
        if matches!(self.lent, Lent::Nowait { .. }) {
            self.read_now(burst)?;
        } else {
            self.top_up();
            self.arm_if_needed()?;
            self.flush()?;
        }
        Ok(burst.len() - before)
    }

    /// Takes completions while the burst has room for what they carry.
    fn harvest_into(&mut self, burst: &mut BurstSlice) {
        while !burst.is_full() {
            let want = burst.spare().min(HARVEST);
            let got = self.ring.harvest(&mut self.cqes[..want]);
            for i in 0..got {
                let cqe = self.cqes[i];
                self.complete(cqe, burst);
            }
            if got < want {
                break;
            }
        }
    }

    /// No-wait mode: issues one batch of reads that complete at once and
    /// delivers what they found.
    fn read_now(&mut self, burst: &mut BurstSlice) -> Result<(), Error> {
        let Lent::Nowait { table, batch, .. } = &mut self.lent else {
            return Ok(());
        };
        // A batch whose completions the ring has not shown yet is still
        // out: never stack a second one on it (the burst might not have
        // room for both).
        if !table.is_empty() || burst.is_full() {
            return Ok(());
        }
        let want = (*batch).min(burst.spare()).min(self.depth);
        let mut issued = 0;
        while issued < want {
            let Some(pkt) = self.cache.alloc() else {
                self.stats.rx_nombuf += 1;
                break;
            };
            let lead = self.cfg.hdr_len();
            if !lend_read(&mut self.ring, table, &mut self.cache, pkt, lead, true) {
                break;
            }
            issued += 1;
        }
        if issued == 0 {
            return Ok(());
        }
        self.ring.flush(0)?;
        let got = burst.len();
        self.harvest_into(burst);
        let found = burst.len() - got;
        if let Lent::Nowait { batch, .. } = &mut self.lent {
            *batch = if found == issued {
                (issued * 2).min(self.depth)
            } else {
                found + 1
            };
        }
        Ok(())
    }

    /// Waits until a completion is ready or `timeout` passes, so an idle
    /// queue costs no CPU. Follow with [`RxEngine::rx_burst`].
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.arm_wakeup()?;
        self.ring.wait(timeout).map_err(Error::from)
    }

    /// Makes sure a completion will appear when a frame arrives, without
    /// waiting for it: for callers that sleep elsewhere (an eventfd in an
    /// epoll set). No-wait mode leaves nothing posted between bursts, so it
    /// arms a one-shot input poll; the other modes have reads posted already.
    pub fn arm_wakeup(&mut self) -> Result<(), Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        if let Lent::Nowait {
            table, poll_armed, ..
        } = &mut self.lent
            && table.is_empty()
            && !*poll_armed
        {
            let mut r = super::lend::post(&mut self.ring, POLL_TOKEN, Sqe::PollIn);
            if r == Err(RingError::Full) {
                self.ring.flush(0)?;
                r = super::lend::post(&mut self.ring, POLL_TOKEN, Sqe::PollIn);
            }
            r?;
            *poll_armed = true;
            self.unflushed = true;
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), Error> {
        if let Lent::Multishot { uncommitted, .. } = &mut self.lent
            && *uncommitted
        {
            self.ring.provide_commit(self.cfg.buffer_group);
            *uncommitted = false;
        }
        if self.unflushed {
            self.ring.flush(0)?;
            self.unflushed = false;
        }
        Ok(())
    }

    fn complete(&mut self, cqe: Cqe, burst: &mut BurstSlice) {
        if cqe.token == CANCEL_TOKEN {
            return;
        }
        if cqe.token == MULTISHOT_TOKEN {
            self.complete_multishot(cqe, burst);
            return;
        }
        let (table, nowait) = match &mut self.lent {
            Lent::Nowait { poll_armed, .. } if cqe.token == POLL_TOKEN => {
                *poll_armed = false;
                return;
            }
            Lent::Nowait { table, .. } => (table, true),
            Lent::Posted(table) => (table, false),
            Lent::Multishot { .. } => {
                self.stats.xstats.spurious += 1;
                return;
            }
        };
        let Some((pkt, _)) = table.take(cqe.token) else {
            self.stats.xstats.spurious += 1;
            return;
        };
        let failed = cqe.result < 0;
        // Posted reads lend every buffer straight back (a delivered frame's
        // replacement); no-wait reads lend nothing between bursts.
        match (self.judge(pkt, cqe.result), nowait) {
            (Verdict::Recycle(pkt), _)
                if failed && super::mutation::on(super::mutation::RX_NO_REPOST_ON_ERROR) =>
            {
                core::mem::forget(pkt);
            }
            (Verdict::Recycle(pkt), true) => self.cache.free(pkt),
            (Verdict::Recycle(pkt), false) => self.post_read(pkt),
            (Verdict::Deliver(pkt), true) => self.hand_over(pkt, burst),
            (Verdict::Deliver(pkt), false) => {
                let reuse = self.deliver(pkt, burst);
                self.post_read(reuse);
            }
        }
    }

    fn complete_multishot(&mut self, cqe: Cqe, burst: &mut BurstSlice) {
        let Lent::Multishot { parked, armed, .. } = &mut self.lent else {
            self.stats.xstats.spurious += 1;
            return;
        };
        if !cqe.more {
            // The kernel ended the multishot read (ENOBUFS, an error, or a
            // cancel): it must be armed again.
            *armed = false;
        }
        if cqe.result < 0 {
            // No buffer was consumed; nothing was lost either (the frame, if
            // any, is still queued in the kernel).
            self.stats.last_errno = cqe.result;
            if cqe.result != -errno::ENOBUFS && cqe.result != -errno::ECANCELED {
                self.stats.errors += 1;
                self.stats.drops.io_error += 1;
            }
            return;
        }
        let Some(bid) = cqe.buffer_id else {
            self.stats.xstats.spurious += 1;
            return;
        };
        let Some(pkt) = parked.take(usize::from(bid)) else {
            self.stats.xstats.spurious += 1;
            return;
        };
        let reuse = match self.judge(pkt, cqe.result) {
            Verdict::Recycle(pkt) => pkt,
            Verdict::Deliver(pkt) => self.deliver(pkt, burst),
        };
        self.provide(usize::from(bid), reuse);
    }

    /// Classifies a completed read of `pkt`.
    fn judge(&mut self, mut pkt: Pkt, result: i32) -> Verdict {
        let hdr = self.cfg.hdr_len();
        if result < 0 {
            self.stats.last_errno = result;
            match -result {
                errno::EAGAIN | errno::EINTR => self.stats.xstats.again += 1,
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
        match crate::backend::rx_prep::accept(&mut pkt, n, self.room as usize, hdr as usize) {
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
        self.stats.count_frame(pkt.data(), len);
        if let Err(back) = burst.push(pkt) {
            // Unreachable: harvest never takes more completions than the
            // burst has room for. Count it rather than lose it silently.
            self.stats.drops.nombuf += 1;
            self.cache.free(back);
        }
    }

    fn post_read(&mut self, pkt: Pkt) {
        let Lent::Posted(table) = &mut self.lent else {
            self.cache.free(pkt);
            return;
        };
        if !self.started {
            self.cache.free(pkt);
            return;
        }
        let lead = self.cfg.hdr_len();
        // Refused: top_up retries later, so the queue does not shrink for good.
        if lend_read(&mut self.ring, table, &mut self.cache, pkt, lead, false) {
            self.unflushed = true;
        }
    }

    fn provide(&mut self, bid: usize, mut pkt: Pkt) {
        let Lent::Multishot {
            parked,
            uncommitted,
            ..
        } = &mut self.lent
        else {
            self.cache.free(pkt);
            return;
        };
        if !self.started {
            self.cache.free(pkt);
            return;
        }
        let buf = pkt.rx_target(self.cfg.hdr_len());
        match parked.put(bid, pkt) {
            Ok(()) => {}
            Err(pkt) => {
                self.cache.free(pkt);
                return;
            }
        }
        if super::lend::provide(&mut self.ring, self.cfg.buffer_group, bid as u16, buf).is_ok() {
            *uncommitted = true;
        } else if let Some(pkt) = parked.take(bid) {
            self.cache.free(pkt);
        }
    }

    /// Lends buffers until `depth` are out (after start, or after the pool
    /// ran dry or the ring refused a post).
    fn top_up(&mut self) {
        if !self.started {
            return;
        }
        // Multishot: one pass over the buffer ids, from where the last
        // empty one was found (a scan per buffer would make a start cost
        // O(depth^2)).
        let mut next_bid = 0;
        while self.in_flight() < self.depth {
            let bid = match &self.lent {
                Lent::Nowait { .. } => return,
                Lent::Posted(_) => None,
                Lent::Multishot { parked, .. } => match parked.first_empty_from(next_bid) {
                    Some(b) => Some(b),
                    None => return,
                },
            };
            let Some(pkt) = self.cache.alloc() else {
                // The ring runs short of buffers until the pool refills
                // (counted once per call, like a failed refill in DPDK).
                self.stats.rx_nombuf += 1;
                return;
            };
            let before = self.in_flight();
            match bid {
                None => self.post_read(pkt),
                Some(b) => {
                    self.provide(b, pkt);
                    next_bid = b + 1;
                }
            }
            if self.in_flight() == before {
                return;
            }
        }
    }

    fn arm_if_needed(&mut self) -> Result<(), Error> {
        let group = self.cfg.buffer_group;
        if let Lent::Multishot { armed, parked, .. } = &mut self.lent
            && self.started
            && !*armed
            && !parked.is_empty()
        {
            match super::lend::post(
                &mut self.ring,
                MULTISHOT_TOKEN,
                Sqe::ReadMultishot { group },
            ) {
                Ok(()) => {}
                Err(RingError::Full) => {
                    self.ring.flush(0)?;
                    super::lend::post(
                        &mut self.ring,
                        MULTISHOT_TOKEN,
                        Sqe::ReadMultishot { group },
                    )?;
                }
                Err(e) => return Err(e.into()),
            }
            *armed = true;
            self.stats.xstats.rearms += 1;
            self.unflushed = true;
        }
        Ok(())
    }

    /// Stops receiving: cancels every read, waits for the kernel to give
    /// every buffer back, and returns them to the pool. Frames that
    /// arrived meanwhile are counted in `drops.canceled`. Can be started
    /// again with [`RxEngine::start`].
    pub fn stop(&mut self) -> Result<(), Error> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        let mut rounds = 0;
        while self.kernel_holds_buffers() && rounds < DRAIN_ROUNDS {
            // Cancel again every few idle rounds: a read whose wake-up was
            // still queued as task work when a cancel ran is not found by
            // it, re-arms afterwards and would wait forever.
            if rounds % CANCEL_EVERY == 0 {
                cancel_all(&mut self.ring)?;
            }
            let got = self.ring.harvest(&mut self.cqes);
            for i in 0..got {
                let cqe = self.cqes[i];
                self.reclaim(cqe);
            }
            if got == 0 {
                rounds += 1;
                let _ = self.ring.wait(Some(Duration::from_millis(1)));
            }
        }
        if self.kernel_holds_buffers() {
            // The kernel may still write into these buffers: never reuse
            // them. Forgetting the packets keeps the pool's memory alive.
            let mut n = 0;
            match &mut self.lent {
                Lent::Posted(t) | Lent::Nowait { table: t, .. } => t.drain(|p| {
                    n += 1;
                    core::mem::forget(p);
                }),
                Lent::Multishot { parked, .. } => parked.drain(|p| {
                    n += 1;
                    core::mem::forget(p);
                }),
            }
            self.leaked += n;
        }
        // Multishot: the read has ended, but the group's buffer ring still
        // lists every provided buffer, and a later multishot read (after a
        // restart) would pick them. Only unregistering the group gives them
        // back; if that fails they must stay reserved.
        let cache = &mut self.cache;
        if let Lent::Multishot {
            parked,
            armed,
            uncommitted,
            registered,
        } = &mut self.lent
        {
            if !*registered || self.ring.unregister_group(self.cfg.buffer_group).is_ok() {
                *registered = false;
                parked.drain(|p| cache.free(p));
            } else {
                let mut n = 0;
                parked.drain(|p| {
                    n += 1;
                    core::mem::forget(p);
                });
                self.leaked += n;
            }
            *armed = false;
            *uncommitted = false;
        }
        if let Lent::Nowait { poll_armed, .. } = &mut self.lent {
            // Cancelled with the rest, or its completion is ignored (by
            // token) if it still comes after a restart.
            *poll_armed = false;
        }
        self.cache.flush();
        if self.leaked > 0 {
            return Err(Error::TeardownIncomplete {
                buffers: self.leaked,
            });
        }
        Ok(())
    }

    fn kernel_holds_buffers(&self) -> bool {
        match &self.lent {
            Lent::Posted(t) => !t.is_empty(),
            Lent::Multishot { armed, .. } => *armed,
            Lent::Nowait {
                table, poll_armed, ..
            } => !table.is_empty() || *poll_armed,
        }
    }

    fn reclaim(&mut self, cqe: Cqe) {
        match &mut self.lent {
            Lent::Nowait { poll_armed, .. } if cqe.token == POLL_TOKEN => *poll_armed = false,
            Lent::Posted(t) | Lent::Nowait { table: t, .. } => {
                let Some((pkt, _)) = t.take(cqe.token) else {
                    if cqe.token != CANCEL_TOKEN {
                        self.stats.xstats.spurious += 1;
                    }
                    return;
                };
                if cqe.result > 0 {
                    self.stats.drops.canceled += 1;
                }
                self.cache.free(pkt);
            }
            Lent::Multishot { parked, armed, .. } => {
                if cqe.token != MULTISHOT_TOKEN {
                    return;
                }
                if !cqe.more {
                    *armed = false;
                }
                if let Some(pkt) = cqe.buffer_id.and_then(|b| parked.take(usize::from(b))) {
                    if cqe.result > 0 {
                        self.stats.drops.canceled += 1;
                    }
                    self.cache.free(pkt);
                }
            }
        }
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

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Drop for RxEngine<R, S> {
    fn drop(&mut self) {
        // Teardown before the ring goes: every buffer comes back, or is
        // left with the kernel for good (see `stop`).
        let _ = self.stop();
    }
}
