//! Freeing many packets at once: one push onto the shared free list and one
//! update of the pool's state word per run of packets from the same pool,
//! where dropping them one by one costs two atomic read-modify-writes each
//! on the pool's most contended words.

use super::freelist::NIL;
use super::region::Shared;
use super::{Pkt, release_refs};
use core::ptr::NonNull;

/// Packets being freed together: their buffers, linked into one chain
/// that goes onto the free list in a single push when the batch is flushed
/// (or dropped, or a packet of another pool arrives).
pub(crate) struct FreeBatch {
    /// The pool of the buffers held; `None` before the first packet.
    pool: Option<NonNull<Shared>>,
    /// Top and bottom of the chain (valid while `count > 0`).
    first: u32,
    last: u32,
    /// Buffers held: each counts as one reference to the pool, which keeps
    /// its control block alive until [`FreeBatch::flush`].
    count: u64,
}

impl FreeBatch {
    /// An empty batch.
    pub(crate) const fn new() -> Self {
        FreeBatch {
            pool: None,
            first: NIL,
            last: NIL,
            count: 0,
        }
    }

    /// Takes `pkt` (every segment) into the batch.
    pub(crate) fn add(&mut self, pkt: Pkt) {
        let pool = pkt.pool_ptr();
        if self.pool != Some(pool) {
            self.flush();
            self.pool = Some(pool);
        }
        // SAFETY: `pkt` is a live reference to its pool, and once its
        // buffers are in the chain the batch holds those references.
        let links = unsafe { pool.as_ref() }.free_list();
        let (mut first, mut prev, mut count) = (self.first, self.last, self.count);
        pkt.into_indices(|idx| {
            if count == 0 {
                first = idx;
            } else {
                links.link(prev, idx);
            }
            prev = idx;
            count += 1;
        });
        (self.first, self.last, self.count) = (first, prev, count);
    }

    /// Puts the chain on its pool's free list and drops its references.
    pub(crate) fn flush(&mut self) {
        let Some(pool) = self.pool else { return };
        if self.count == 0 {
            return;
        }
        // SAFETY: the batch holds `count` references to the pool, so its
        // control block is alive until `release_refs` below.
        unsafe { pool.as_ref() }
            .free_list()
            .push_linked(self.first, self.last);
        release_refs(pool, core::mem::take(&mut self.count));
    }
}

impl Drop for FreeBatch {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::packet::{PoolConfig, test_pool};
    extern crate std;

    #[test]
    fn a_batch_returns_every_buffer_of_every_packet_and_chain() {
        let pool = test_pool(PoolConfig::standard(16));
        let mut batch = FreeBatch::new();
        for segs in [1, 3, 2] {
            let mut head = pool.alloc().unwrap();
            for _ in 1..segs {
                head.chain(pool.alloc().unwrap()).unwrap();
            }
            batch.add(head);
        }
        assert_eq!(pool.stats().in_use, 6, "held until the flush");
        batch.flush();
        assert_eq!(pool.stats().in_use, 0);
        // Every buffer is on the list exactly once: all 16 come back.
        let all: std::vec::Vec<Pkt> = (0..16).map(|_| pool.alloc().unwrap()).collect();
        assert!(pool.alloc().is_none());
        let mut idx: std::vec::Vec<u32> = all.iter().map(Pkt::buf_index).collect();
        idx.sort_unstable();
        idx.dedup();
        assert_eq!(idx.len(), 16);
    }

    #[cfg(feature = "std")]
    #[test]
    fn packets_outlive_the_last_pool_handle_through_a_batch() {
        // A mapped pool is unmapped when its last reference goes: the
        // packets in the batch are those references, so the push onto the
        // free list comes before the unmap (a wrong order would touch
        // unmapped memory here).
        let pool = crate::packet::Pool::new(PoolConfig::standard(8)).unwrap();
        let pkts: std::vec::Vec<Pkt> = (0..3).map(|_| pool.alloc().unwrap()).collect();
        drop(pool);
        let mut batch = FreeBatch::new();
        for mut p in pkts {
            p.extend_from_slice(b"still mapped").unwrap();
            batch.add(p);
        }
        batch.flush();
        batch.flush(); // nothing left: a second flush touches nothing
    }

    #[test]
    fn packets_of_two_pools_each_go_home() {
        let (a, b) = (
            test_pool(PoolConfig::standard(4)),
            test_pool(PoolConfig::standard(4)),
        );
        let mut batch = FreeBatch::new();
        for p in [a.alloc(), b.alloc(), a.alloc(), b.alloc()] {
            batch.add(p.unwrap());
        }
        drop(batch);
        assert_eq!((a.stats().in_use, b.stats().in_use), (0, 0));
        let again: std::vec::Vec<Pkt> = (0..4).filter_map(|_| a.alloc()).collect();
        assert_eq!(again.len(), 4);
    }
}
