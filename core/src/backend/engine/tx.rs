//! The Tx state machine: posts one write per packet (gather write for
//! chains), prepends the virtio-net header in place, and reaps completions
//! by the number in flight, returning every buffer exactly once.

use super::inflight::{InflightTable, Slot};
use super::{CANCEL_EVERY, CANCEL_TOKEN, DRAIN_ROUNDS, EngineConfig, HARVEST, cancel_all};
use crate::backend::ring::{Cqe, Ring, RingError, Sqe, errno};
use crate::packet::BurstSlice;
use crate::packet::{MAX_SEGS, Pkt, Pool, PoolCache, RawBuf};
use crate::queue::Error;
use crate::queue::QueueStats;
use core::time::Duration;

/// The Tx half of a completion-driven queue.
pub struct TxEngine<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> {
    ring: R,
    cache: PoolCache,
    table: InflightTable<S>,
    cfg: EngineConfig,
    stats: QueueStats,
    cqes: [Cqe; HARVEST],
    segs: [RawBuf; MAX_SEGS],
    started: bool,
    unflushed: bool,
    leaked: usize,
    /// The errno with which the kernel said the device is gone, once it
    /// did: the queue then stops for good.
    gone: Option<i32>,
}

/// What `post_one` did with a packet.
enum Posted {
    /// Lent to the kernel.
    InFlight,
    /// Counted in a drop reason and returned to the pool.
    Dropped,
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> TxEngine<R, S> {
    /// A Tx engine with at most `slots.len()` (a power of two) writes in
    /// flight. Completed packets go back through a cache of `pool` (packets
    /// of other pools go back to their own).
    pub fn new(ring: R, pool: &Pool, slots: S, cfg: EngineConfig) -> Result<Self, Error> {
        cfg.validate(slots.as_ref().len())?;
        Ok(TxEngine {
            ring,
            cache: pool.cache(),
            table: InflightTable::new(slots),
            cfg,
            stats: QueueStats::default(),
            cqes: [Cqe::default(); HARVEST],
            segs: [RawBuf::EMPTY; MAX_SEGS],
            started: false,
            unflushed: false,
            leaked: 0,
            gone: None,
        })
    }

    /// Starts the queue.
    pub fn start(&mut self) -> Result<(), Error> {
        if let Some(e) = self.device_gone() {
            return Err(e);
        }
        self.started = true;
        Ok(())
    }

    /// Writes in flight (lent to the kernel, not yet completed).
    pub fn in_flight(&self) -> usize {
        self.table.len()
    }

    /// The most writes in flight at once.
    pub fn depth(&self) -> usize {
        self.table.capacity()
    }

    /// Buffers parked in this queue's cache.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// An empty packet from the cache of finished transmissions, else from
    /// the pool ([`TxQueue::alloc`](crate::TxQueue::alloc)).
    pub fn alloc(&mut self) -> Option<Pkt> {
        self.cache.alloc()
    }

    /// Returns the cached buffers to the pool's shared list; how many
    /// ([`TxQueue::release_cached`](crate::TxQueue::release_cached)).
    pub fn release_cached(&mut self) -> usize {
        self.cache.flush()
    }

    /// Buffers teardown had to leave with the kernel (should be 0).
    pub fn leaked(&self) -> usize {
        self.leaked
    }

    /// The queue's counters (packets and bytes count completed writes).
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// The ring (for backend-specific inspection).
    pub fn ring(&self) -> &R {
        &self.ring
    }

    /// The ring, writable.
    pub fn ring_mut(&mut self) -> &mut R {
        &mut self.ring
    }

    /// Sends packets from the front of `burst`; returns how many were taken.
    /// Those leave the burst (sent, or counted in a drop reason); the rest
    /// stay, in order, for the caller to retry or drop.
    ///
    /// When a completion says the device is gone, the queue stops (every
    /// buffer back in the pool) and this and every later call return
    /// [`Error::DeviceGone`], leaving the packets not taken in `burst`.
    pub fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        self.check_gone()?;
        if !self.started {
            return Err(Error::NotStarted);
        }
        self.reap();
        self.check_gone()?;
        let mut lent = 0usize;
        let taken = burst.take_prefix(|pkt| match self.post_one(pkt) {
            Ok(Posted::InFlight) => {
                lent += 1;
                Ok(())
            }
            Ok(Posted::Dropped) => Ok(()),
            Err(pkt) => Err(pkt),
        });
        if self.unflushed {
            self.ring.flush(0)?;
            self.unflushed = false;
        }
        if lent > 0 {
            self.reap();
        }
        self.check_gone()?;
        Ok(taken)
    }

    /// The device is gone (see [`Error::DeviceGone`]), if the kernel said
    /// so.
    pub fn device_gone(&self) -> Option<Error> {
        self.gone.map(|errno| Error::DeviceGone { errno })
    }

    /// Stops the queue and fails once the device is gone.
    fn check_gone(&mut self) -> Result<(), Error> {
        match self.device_gone() {
            None => Ok(()),
            Some(e) => {
                if self.started {
                    self.stop()?;
                }
                Err(e)
            }
        }
    }

    /// Collects finished transmissions and returns their buffers; returns
    /// how many completed.
    pub fn reclaim(&mut self) -> Result<usize, Error> {
        if self.unflushed {
            self.ring.flush(0)?;
            self.unflushed = false;
        }
        let done = self.reap();
        self.check_gone()?;
        Ok(done)
    }

    fn post_one(&mut self, mut pkt: Pkt) -> Result<Posted, Pkt> {
        if self.table.is_full() {
            // Reap by in-flight count: make room by collecting completions.
            if self.unflushed && self.ring.flush(0).is_ok() {
                self.unflushed = false;
            }
            self.reap();
            if self.table.is_full() {
                return Err(pkt);
            }
        }
        if let Err(why) = crate::backend::tx_prep::prepare(&mut pkt, &self.limits()) {
            if why == crate::backend::tx_prep::TxReject::Oversize
                && super::mutation::on(super::mutation::TX_SILENT_OVERSIZE)
            {
                self.cache.free(pkt);
                return Ok(Posted::Dropped);
            }
            why.count(&mut self.stats);
            self.cache.free(pkt);
            return Ok(Posted::Dropped);
        }
        let total = pkt.pkt_len() as u32;
        let nsegs = pkt.raw_segments(&mut self.segs);
        let token = match self.table.insert(pkt, total) {
            Ok(t) => t,
            Err(pkt) => return Err(self.unprepend(pkt)),
        };
        let mut r = self.post_write(token, nsegs);
        if r == Err(RingError::Full) && self.ring.flush(0).is_ok() {
            self.unflushed = false;
            r = self.post_write(token, nsegs);
        }
        match r {
            Ok(()) => {
                self.unflushed = true;
                Ok(Posted::InFlight)
            }
            Err(_) => {
                let (pkt, _) = self
                    .table
                    .take(token)
                    .expect("token inserted above is in flight");
                Err(self.unprepend(pkt))
            }
        }
    }

    fn post_write(&mut self, token: u64, nsegs: usize) -> Result<(), RingError> {
        let op = if nsegs == 1 {
            Sqe::Write { buf: self.segs[0] }
        } else {
            Sqe::Writev {
                segs: &self.segs[..nsegs],
            }
        };
        super::lend::post(&mut self.ring, token, op)
    }

    fn limits(&self) -> crate::backend::tx_prep::TxLimits {
        crate::backend::tx_prep::TxLimits {
            format: self.cfg.format(),
            max_frame: self.cfg.max_frame as usize,
            max_segs: self.segs.len(),
        }
    }

    /// Undoes the header prepend of a packet handed back to the caller.
    fn unprepend(&self, mut pkt: Pkt) -> Pkt {
        crate::backend::tx_prep::unprepare(&mut pkt, &self.limits());
        pkt
    }

    fn reap(&mut self) -> usize {
        let mut done = 0;
        loop {
            let got = self.ring.harvest(&mut self.cqes);
            for i in 0..got {
                let cqe = self.cqes[i];
                if self.finish(cqe) {
                    done += 1;
                }
            }
            if got < self.cqes.len() {
                return done;
            }
        }
    }

    /// Accounts one completion; true when it finished a write of ours.
    fn finish(&mut self, cqe: Cqe) -> bool {
        let Some((pkt, expect)) = self.table.take(cqe.token) else {
            if cqe.token != CANCEL_TOKEN {
                self.stats.xstats.spurious += 1;
            }
            return false;
        };
        let hdr = self.cfg.hdr_len() as usize;
        let s = &mut self.stats;
        if cqe.result >= 0 && cqe.result as u32 == expect {
            let frame = pkt.data().get(hdr..).unwrap_or(&[]);
            s.count_framed(
                self.cfg.framing,
                frame,
                (expect as usize).saturating_sub(hdr),
            );
            s.count_offload(&pkt.offload());
        } else if cqe.result >= 0 {
            s.errors += 1;
            s.drops.short_write += 1;
        } else if cqe.result == -errno::ECANCELED {
            s.drops.canceled += 1;
        } else {
            if super::mutation::on(super::mutation::TX_SKIP_FAILED) {
                core::mem::forget(pkt);
                return true;
            }
            s.errors += 1;
            s.drops.io_error += 1;
            s.last_errno = cqe.result;
            if errno::means_device_gone(-cqe.result) {
                self.gone = Some(-cqe.result);
            }
        }
        self.cache.free(pkt);
        true
    }

    /// Stops the queue: cancels what the kernel has not taken yet, waits
    /// for every completion, and returns every buffer to the pool.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.started = false;
        if self.table.is_empty() {
            self.cache.flush();
            return Ok(());
        }
        self.unflushed = false;
        let mut rounds = 0;
        while !self.table.is_empty() && rounds < DRAIN_ROUNDS {
            if rounds % CANCEL_EVERY == 0
                && let Err(e) = cancel_all(&mut self.ring)
            {
                // The kernel still holds these writes (a ring refusing this
                // thread, say): their buffers must never be reused.
                let mut n = 0;
                self.table.drain(|p| {
                    n += 1;
                    core::mem::forget(p);
                });
                self.leaked += n;
                self.cache.flush();
                return Err(e);
            }
            if self.reap() == 0 {
                rounds += 1;
                let _ = self.ring.wait(Some(Duration::from_millis(1)));
            }
        }
        if !self.table.is_empty() {
            let mut n = 0;
            self.table.drain(|p| {
                n += 1;
                core::mem::forget(p);
            });
            self.leaked += n;
        }
        self.cache.flush();
        if self.leaked > 0 {
            return Err(Error::TeardownIncomplete {
                buffers: self.leaked,
            });
        }
        Ok(())
    }
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Drop for TxEngine<R, S> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
