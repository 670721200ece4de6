//! A per-queue cache in front of the shared free list: allocations and frees
//! on the hot path touch only this queue's array, and the shared list is
//! refilled from or flushed to in bulk (one compare-and-swap per half cache).

use super::{Pkt, Pool};

/// A fixed-capacity stash of free buffers owned by one queue (`N` buffers,
/// default 256). Buffers in the cache count as "in use" in [`Pool::stats`].
pub struct PoolCache<const N: usize = 256> {
    pool: Pool,
    idxs: [u32; N],
    len: usize,
}

impl<const N: usize> PoolCache<N> {
    const BATCH: usize = if N / 2 == 0 { 1 } else { N / 2 };

    /// An empty cache in front of `pool`.
    pub fn new(pool: Pool) -> Self {
        PoolCache {
            pool,
            idxs: [0; N],
            len: 0,
        }
    }

    /// The pool behind the cache.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Buffers parked in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the cache holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocates an empty packet, refilling from the shared list in bulk
    /// when the cache is empty; `None` when the pool is exhausted.
    pub fn alloc(&mut self) -> Option<Pkt> {
        if self.len == 0 {
            self.len = self.pool.take_bulk(&mut self.idxs[..Self::BATCH]);
            if self.len == 0 {
                return None;
            }
        }
        self.len -= 1;
        Some(self.pool.adopt(self.idxs[self.len]))
    }

    /// Takes back a packet (every segment). Packets of another pool are
    /// dropped, which returns them to their own pool.
    pub fn free(&mut self, pkt: Pkt) {
        if !self.pool.owns(&pkt) {
            drop(pkt);
            return;
        }
        pkt.into_indices(|idx| {
            if self.len == N {
                self.spill(Self::BATCH);
            }
            self.idxs[self.len] = idx;
            self.len += 1;
        });
    }

    /// Returns the `n` most recently cached buffers to the shared list.
    fn spill(&mut self, n: usize) {
        let from = self.len - n.min(self.len);
        self.pool.give_bulk(&self.idxs[from..self.len]);
        self.len = from;
    }

    /// Returns every cached buffer to the shared list; how many.
    pub fn flush(&mut self) -> usize {
        let n = self.len;
        self.spill(n);
        n
    }
}

impl<const N: usize> Drop for PoolCache<N> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<const N: usize> core::fmt::Debug for PoolCache<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolCache")
            .field("cached", &self.len)
            .field("capacity", &N)
            .finish()
    }
}
