//! Multishot reads over a provided-buffer ring: the lent buffers are
//! provided to a buffer group under their ids, and one multishot read picks
//! from them, one completion per frame, until the kernel ends it (then it
//! is armed again).

use super::{Lending, RxCore, Verdict, forget_all};
use crate::backend::engine::inflight::{ParkedTable, Slot};
use crate::backend::engine::{MULTISHOT_TOKEN, lend};
use crate::backend::ring::{Cqe, Ring, RingError, Sqe, errno};
use crate::packet::{BurstSlice, Pkt};
use crate::queue::{Error, RxMode};

/// The multishot strategy.
pub(super) struct Multishot<S> {
    /// The provided buffers, by buffer id.
    parked: ParkedTable<S>,
    /// The multishot read is armed.
    armed: bool,
    /// The buffer group is registered with the ring.
    registered: bool,
    /// Buffers were provided since the last commit.
    uncommitted: bool,
}

impl<S: AsMut<[Slot]> + AsRef<[Slot]>> Multishot<S> {
    pub(super) fn new(slots: S) -> Self {
        Multishot {
            parked: ParkedTable::new(slots),
            armed: false,
            registered: false,
            uncommitted: false,
        }
    }

    /// Provides `pkt` under buffer id `bid` (while the queue runs; else
    /// frees it).
    fn provide<R: Ring>(&mut self, c: &mut RxCore<R>, bid: usize, mut pkt: Pkt) {
        if !c.started {
            c.cache.free(pkt);
            return;
        }
        let buf = pkt.rx_target(c.lead());
        if let Err(pkt) = self.parked.put(bid, pkt) {
            c.cache.free(pkt);
            return;
        }
        if lend::provide(&mut c.ring, c.cfg.buffer_group, bid as u16, buf).is_ok() {
            self.uncommitted = true;
        } else if let Some(pkt) = self.parked.take(bid) {
            c.cache.free(pkt);
        }
    }

    /// Provides buffers until `depth` are out: one pass over the buffer
    /// ids, from where the last empty one was found (a scan per buffer
    /// would make a start cost O(depth^2)).
    fn top_up<R: Ring>(&mut self, c: &mut RxCore<R>) {
        let mut next_bid = 0;
        while c.started && self.parked.len() < c.depth {
            let Some(bid) = self.parked.first_empty_from(next_bid) else {
                return;
            };
            let Some(pkt) = c.alloc() else {
                return;
            };
            let before = self.parked.len();
            self.provide(c, bid, pkt);
            next_bid = bid + 1;
            if self.parked.len() == before {
                return;
            }
        }
    }

    /// Arms the multishot read if it is not and buffers are provided.
    fn arm<R: Ring>(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        if !c.started || self.armed || self.parked.is_empty() {
            return Ok(());
        }
        let op = Sqe::ReadMultishot {
            group: c.cfg.buffer_group,
        };
        match lend::post(&mut c.ring, MULTISHOT_TOKEN, op) {
            Ok(()) => {}
            Err(RingError::Full) => {
                c.ring.flush(0)?;
                lend::post(&mut c.ring, MULTISHOT_TOKEN, op)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.armed = true;
        c.stats.xstats.rearms += 1;
        c.unflushed = true;
        Ok(())
    }
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Lending<R> for Multishot<S> {
    fn mode(&self) -> RxMode {
        RxMode::Multishot
    }

    fn in_flight(&self) -> usize {
        self.parked.len()
    }

    /// Registers the buffer group (once: it outlives a stop when
    /// unregistering failed).
    fn prepare(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        if !self.registered {
            c.ring.register_group(c.cfg.buffer_group, c.depth as u16)?;
            self.registered = true;
        }
        Ok(())
    }

    /// Publishes the buffers provided since the last flush, then flushes.
    fn flush(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        if self.uncommitted {
            c.ring.provide_commit(c.cfg.buffer_group);
            self.uncommitted = false;
        }
        c.flush()
    }

    fn refill(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        self.top_up(c);
        self.arm(c)?;
        Lending::<R>::flush(self, c)
    }

    fn complete(&mut self, c: &mut RxCore<R>, cqe: Cqe, burst: &mut BurstSlice) {
        if cqe.token != MULTISHOT_TOKEN {
            c.stats.xstats.spurious += 1;
            return;
        }
        if !cqe.more {
            // The kernel ended the multishot read (ENOBUFS, an error, or a
            // cancel): it must be armed again.
            self.armed = false;
        }
        if cqe.result < 0 {
            // No buffer was consumed; nothing was lost either (the frame, if
            // any, is still queued in the kernel).
            c.stats.last_errno = cqe.result;
            if errno::means_device_gone(-cqe.result) {
                c.gone = Some(-cqe.result);
            } else if cqe.result != -errno::ENOBUFS && cqe.result != -errno::ECANCELED {
                c.stats.errors += 1;
                c.stats.drops.io_error += 1;
            }
            return;
        }
        let Some(bid) = cqe.buffer_id else {
            c.stats.xstats.spurious += 1;
            return;
        };
        let Some(pkt) = self.parked.take(usize::from(bid)) else {
            c.stats.xstats.spurious += 1;
            return;
        };
        let reuse = match c.judge(pkt, cqe.result) {
            Verdict::Recycle(pkt) => pkt,
            Verdict::Deliver(pkt) => c.deliver(pkt, burst),
        };
        self.provide(c, usize::from(bid), reuse);
    }

    fn kernel_holds_buffers(&self) -> bool {
        self.armed
    }

    fn reclaim(&mut self, c: &mut RxCore<R>, cqe: Cqe) {
        if cqe.token != MULTISHOT_TOKEN {
            return;
        }
        if !cqe.more {
            self.armed = false;
        }
        if let Some(pkt) = cqe.buffer_id.and_then(|b| self.parked.take(usize::from(b))) {
            if cqe.result > 0 {
                c.stats.drops.canceled += 1;
            }
            c.cache.free(pkt);
        }
    }

    fn abandon(&mut self) -> usize {
        forget_all(|f| self.parked.drain(f))
    }

    /// The read has ended, but the group's buffer ring still lists every
    /// provided buffer, and a later multishot read (after a restart) would
    /// pick them. Only unregistering the group gives them back; if that
    /// fails they must stay reserved.
    fn stopped(&mut self, c: &mut RxCore<R>) {
        if !self.registered || c.ring.unregister_group(c.cfg.buffer_group).is_ok() {
            self.registered = false;
            let cache = &mut c.cache;
            self.parked.drain(|p| cache.free(p));
        } else {
            c.leaked += forget_all(|f| self.parked.drain(f));
        }
        self.armed = false;
        self.uncommitted = false;
    }
}
