//! Posted reads: one read request per lent buffer, re-posted after each
//! completion (with the received buffer's replacement, or the buffer itself
//! when its frame was not delivered).

use super::{Lending, RxCore, Verdict, forget_all, lend_read};
use crate::backend::engine::inflight::{InflightTable, Slot};
use crate::backend::engine::{MULTISHOT_TOKEN, mutation};
use crate::backend::ring::{Cqe, Ring};
use crate::packet::{BurstSlice, Pkt};
use crate::queue::{Error, RxMode};

/// The posted-reads strategy: the reads in flight, by token.
pub(super) struct Posted<S> {
    table: InflightTable<S>,
}

impl<S: AsMut<[Slot]> + AsRef<[Slot]>> Posted<S> {
    pub(super) fn new(slots: S) -> Self {
        Posted {
            table: InflightTable::new(slots),
        }
    }

    /// Posts one read into `pkt` (while the queue runs; else frees it).
    fn post_read<R: Ring>(&mut self, c: &mut RxCore<R>, pkt: Pkt) {
        if !c.started {
            c.cache.free(pkt);
            return;
        }
        let lead = c.lead();
        // Refused: refill retries later, so the queue does not shrink for good.
        if lend_read(&mut c.ring, &mut self.table, &mut c.cache, pkt, lead, false) {
            c.unflushed = true;
        }
    }
}

impl<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>> Lending<R> for Posted<S> {
    fn mode(&self) -> RxMode {
        RxMode::Posted
    }

    fn in_flight(&self) -> usize {
        self.table.len()
    }

    /// Posts reads until `depth` are out (after start, or after the pool
    /// ran dry or the ring refused a post).
    fn refill(&mut self, c: &mut RxCore<R>) -> Result<(), Error> {
        while c.started && self.table.len() < c.depth {
            let Some(pkt) = c.alloc() else {
                break;
            };
            let before = self.table.len();
            self.post_read(c, pkt);
            if self.table.len() == before {
                break;
            }
        }
        c.flush()
    }

    fn complete(&mut self, c: &mut RxCore<R>, cqe: Cqe, burst: &mut BurstSlice) {
        if cqe.token == MULTISHOT_TOKEN {
            c.stats.xstats.spurious += 1;
            return;
        }
        let Some((pkt, _)) = self.table.take(cqe.token) else {
            c.stats.xstats.spurious += 1;
            return;
        };
        let failed = cqe.result < 0;
        // Every buffer goes straight back to the kernel: a delivered
        // frame's replacement, or the buffer itself.
        match c.judge(pkt, cqe.result) {
            Verdict::Recycle(pkt) if failed && mutation::on(mutation::RX_NO_REPOST_ON_ERROR) => {
                core::mem::forget(pkt);
            }
            Verdict::Recycle(pkt) => self.post_read(c, pkt),
            Verdict::Deliver(pkt) => {
                let reuse = c.deliver(pkt, burst);
                self.post_read(c, reuse);
            }
        }
    }

    fn kernel_holds_buffers(&self) -> bool {
        !self.table.is_empty()
    }

    fn reclaim(&mut self, c: &mut RxCore<R>, cqe: Cqe) {
        reclaim_read(&mut self.table, c, cqe);
    }

    fn abandon(&mut self) -> usize {
        forget_all(|f| self.table.drain(f))
    }
}

/// Teardown of a read lent under a token of `table` (posted and no-wait
/// reads): its buffer goes back to the pool; a frame it carried counts as
/// cancelled.
pub(super) fn reclaim_read<R: Ring, S: AsMut<[Slot]> + AsRef<[Slot]>>(
    table: &mut InflightTable<S>,
    c: &mut RxCore<R>,
    cqe: Cqe,
) {
    let Some((pkt, _)) = table.take(cqe.token) else {
        if cqe.token != super::CANCEL_TOKEN {
            c.stats.xstats.spurious += 1;
        }
        return;
    };
    if cqe.result > 0 {
        c.stats.drops.canceled += 1;
    }
    c.cache.free(pkt);
}
