//! No-wait reads: nothing stays lent between bursts. Each `rx_burst`
//! issues a batch of reads that must not wait (`RWF_NOWAIT`), which
//! complete inside the same submission with a frame or `EAGAIN`; `wait`
//! arms a one-shot input poll instead of leaving reads posted.

use super::posted::reclaim_read;
use super::{Lending, RxCore, Verdict, forget_all, lend_read};
use crate::backend::engine::inflight::{InflightTable, Slot};
use crate::backend::engine::{MULTISHOT_TOKEN, POLL_TOKEN, mutation};
use crate::backend::ring::{Cqe, Ring, RingError, Sqe};
use crate::packet::BurstSlice;
use crate::queue::{Error, RxMode};

/// The no-wait strategy.
pub(super) struct Nowait<S> {
    /// Reads of the current batch (empty between bursts unless the ring
    /// delays completions).
    table: InflightTable<S>,
    /// Reads the next batch issues: doubled while batches come back full,
    /// cut to one more than found when they do not.
    batch: usize,
    /// A one-shot input poll is armed (by `wait`).
    poll_armed: bool,
}

impl<S: AsMut<[Slot]> + AsRef<[Slot]>> Nowait<S> {
    pub(super) fn new(slots: S, depth: usize) -> Self {
        Nowait {
            table: InflightTable::new(slots),
            batch: depth,
            poll_armed: false,
        }
    }
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Lending<R> for Nowait<S> {
    fn mode(&self) -> RxMode {
        RxMode::Nowait
    }

    fn in_flight(&self) -> usize {
        self.table.len()
    }

    /// Nothing to lend ahead of a burst.
    fn refill(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        c.flush()
    }

    /// Issues one batch of reads that complete at once and delivers what
    /// they found.
    fn lend(&mut self, c: &mut RxCore<R>, burst: &mut BurstSlice) -> Result<(), Error> {
        // A batch whose completions the ring has not shown yet is still
        // out: never stack a second one on it (the burst might not have
        // room for both).
        if !self.table.is_empty() || burst.is_full() {
            return Ok(());
        }
        let want = self.batch.min(burst.spare()).min(c.depth);
        let mut issued = 0;
        while issued < want {
            let Some(pkt) = c.alloc() else {
                break;
            };
            let lead = c.lead();
            if !lend_read(&mut c.ring, &mut self.table, &mut c.cache, pkt, lead, true) {
                break;
            }
            issued += 1;
        }
        if issued == 0 {
            return Ok(());
        }
        c.ring.flush(0)?;
        let got = burst.len();
        self.harvest(c, burst);
        let found = burst.len() - got;
        self.batch = if found == issued {
            (issued * 2).min(c.depth)
        } else {
            found + 1
        };
        Ok(())
    }

    fn complete(&mut self, c: &mut RxCore<R>, cqe: Cqe, burst: &mut BurstSlice) {
        if cqe.token == MULTISHOT_TOKEN {
            c.stats.xstats.spurious += 1;
            return;
        }
        if cqe.token == POLL_TOKEN {
            self.poll_armed = false;
            return;
        }
        let Some((pkt, _)) = self.table.take(cqe.token) else {
            c.stats.xstats.spurious += 1;
            return;
        };
        let failed = cqe.result < 0;
        // Nothing is lent between bursts: a buffer not delivered goes back
        // to the pool.
        match c.judge(pkt, cqe.result) {
            Verdict::Recycle(pkt) if failed && mutation::on(mutation::RX_NO_REPOST_ON_ERROR) => {
                core::mem::forget(pkt);
            }
            Verdict::Recycle(pkt) => c.cache.free(pkt),
            Verdict::Deliver(pkt) => c.hand_over(pkt, burst),
        }
    }

    /// Arms a one-shot input poll when no read is out.
    fn wakeup(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        if self.table.is_empty() && !self.poll_armed {
            let mut r = crate::backend::engine::lend::post(&mut c.ring, POLL_TOKEN, Sqe::PollIn);
            if r == Err(RingError::Full) {
                c.ring.flush(0)?;
                r = crate::backend::engine::lend::post(&mut c.ring, POLL_TOKEN, Sqe::PollIn);
            }
            r?;
            self.poll_armed = true;
            c.unflushed = true;
        }
        c.flush()
    }

    fn kernel_holds_buffers(&self) -> bool {
        !self.table.is_empty() || self.poll_armed
    }

    fn reclaim(&mut self, c: &mut RxCore<R>, cqe: Cqe) {
        if cqe.token == POLL_TOKEN {
            self.poll_armed = false;
        } else {
            reclaim_read(&mut self.table, c, cqe);
        }
    }

    fn abandon(&mut self) -> usize {
        forget_all(|f| self.table.drain(f))
    }

    fn stopped(&mut self, _c: &mut RxCore<R>) {
        // Cancelled with the rest, or its completion is ignored (by token)
        // if it still comes after a restart.
        self.poll_armed = false;
    }
}
