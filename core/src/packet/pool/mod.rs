//! The packet buffer pool: one contiguous region of fixed-size buffers.
//!
//! The region holds, in order: the pool's control block, the free-list links,
//! one metadata record per buffer, and the buffers themselves (page aligned,
//! so a backend can register them with the kernel in one call, see
//! [`Pool::buffers`]). Nothing else is allocated, ever.
//!
//! Lifetime: the control block counts pool handles (every [`Pool`] clone,
//! every queue, every cache) and buffers that are not on the free list
//! (held by packets, caches or the kernel). The memory is released when both
//! reach zero, so a packet can never outlive its buffer, and a buffer the
//! kernel may still write to (a queue that could not drain, or that was
//! leaked) keeps the memory alive instead of letting it be reused.

mod cache;
mod free_batch;
mod freelist;
mod pkt;
mod region;

pub use cache::PoolCache;
pub(crate) use free_batch::FreeBatch;
#[cfg(any(test, feature = "backend"))]
pub use pkt::RawBuf;
pub use pkt::{MAX_SEGS, Pkt, Segments};

pub(crate) use freelist::NIL;

use crate::packet::ConfigError;
use crate::packet::Offload;
use crate::packet::PoolConfig;
use crate::sync::{AtomicU64, Ordering};
use core::ptr::NonNull;
use freelist::FreeList;
use region::Shared;

/// One pool handle counts this much in the control block's state word; the
/// low 32 bits count buffers off the free list.
const HANDLE: u64 = 1 << 32;

/// Per-buffer metadata, kept beside the buffers (not in them) so the data
/// area is all the kernel ever sees.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufMeta {
    /// Offset of the first data byte from the start of the buffer.
    pub(crate) data_off: u32,
    /// Data bytes in this segment.
    pub(crate) data_len: u32,
    /// Next segment of the chain, or [`NIL`].
    pub(crate) next: u32,
    /// Head segment only: bytes in the whole chain.
    pub(crate) pkt_len: u32,
    /// Head segment only: segments in the chain.
    pub(crate) nb_segs: u16,
    /// Head segment only: port of arrival.
    pub(crate) port: u16,
    /// Head segment only: queue of arrival.
    pub(crate) queue: u16,
    /// Head segment only: offload request or status.
    pub(crate) offload: Offload,
}

impl BufMeta {
    fn fresh(headroom: u32) -> Self {
        BufMeta {
            data_off: headroom,
            data_len: 0,
            next: NIL,
            pkt_len: 0,
            nb_segs: 1,
            port: 0,
            queue: 0,
            offload: Offload::NONE,
        }
    }
}

/// Occupancy of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers in the pool.
    pub capacity: u32,
    /// Buffers on the shared free list.
    pub available: u32,
    /// Buffers held by packets, per-queue caches or the kernel.
    pub in_use: u32,
}

/// A handle to a buffer pool. Cloning is cheap (a reference count); the
/// pool's memory lives until the last handle and the last buffer are gone.
///
/// ```
/// use tapring_core::{Pool, PoolConfig};
/// let pool = Pool::new(PoolConfig::standard(64)).unwrap();
/// let mut pkt = pool.alloc().unwrap();
/// pkt.extend_from_slice(&[0xff; 60]).unwrap();
/// assert_eq!(pool.stats().in_use, 1);
/// drop(pkt);
/// assert_eq!(pool.stats().in_use, 0);
/// ```
pub struct Pool {
    shared: NonNull<Shared>,
}

// SAFETY: the control block is only mutated through atomics; buffers and their
// metadata are only touched by the unique owner of their index (a `Pkt`, a
// cache slot, or a queue's in-flight table), so sharing the handle across
// threads is sound.
unsafe impl Send for Pool {}
// SAFETY: as for Send: `&Pool` only reaches atomics and immutable fields.
unsafe impl Sync for Pool {}

impl Pool {
    /// Bytes of memory a pool of this shape needs, including alignment slack;
    /// what [`Pool::from_static`] must be given.
    pub fn region_size(cfg: &PoolConfig) -> Result<usize, ConfigError> {
        cfg.validate()?;
        Ok(region::Layout::of(cfg).total + region::REGION_ALIGN)
    }

    /// A pool in caller-provided memory (for `no_std` users). The memory is
    /// never released; it must be at least [`Pool::region_size`] bytes.
    pub fn from_static(mem: &'static mut [u8], cfg: PoolConfig) -> Result<Pool, ConfigError> {
        let needed = Self::region_size(&cfg)?;
        if mem.len() < needed {
            return Err(ConfigError::RegionTooSmall {
                given: mem.len(),
                needed,
            });
        }
        Ok(Pool {
            shared: region::build(mem, cfg, None),
        })
    }

    /// A pool in an anonymous memory mapping it owns.
    #[cfg(feature = "std")]
    pub fn new(cfg: PoolConfig) -> Result<Pool, ConfigError> {
        cfg.validate()?;
        let (mem, release) = region::map_anonymous(region::Layout::of(&cfg).total)?;
        Ok(Pool {
            shared: region::build(mem, cfg, Some(release)),
        })
    }

    fn shared(&self) -> &Shared {
        // SAFETY: `shared` points at the control block, which lives as long as
        // any handle exists (this one).
        unsafe { self.shared.as_ref() }
    }

    fn free_list(&self) -> FreeList<'_> {
        self.shared().free_list()
    }

    /// The pool's shape.
    pub fn config(&self) -> PoolConfig {
        self.shared().cfg
    }

    /// True when `pkt` was allocated from this pool.
    pub fn owns(&self, pkt: &Pkt) -> bool {
        pkt.pool_ptr() == self.shared
    }

    /// Allocates one empty packet (data starts after the headroom), or
    /// `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Pkt> {
        alloc_from(self.shared, self.shared())
    }

    /// Turns an index taken off the free list into a fresh packet.
    pub(crate) fn adopt(&self, idx: u32) -> Pkt {
        let sh = self.shared();
        sh.write_meta(idx, BufMeta::fresh(sh.cfg.headroom));
        Pkt::from_raw(self.shared, idx)
    }

    /// Takes up to `out.len()` indices off the free list at once, counting
    /// them as in use.
    pub(crate) fn take_bulk(&self, out: &mut [u32]) -> usize {
        let n = self.free_list().pop_bulk(out);
        self.shared().state.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Returns indices to the free list at once.
    pub(crate) fn give_bulk(&self, idxs: &[u32]) {
        if idxs.is_empty() {
            return;
        }
        self.free_list().push_bulk(idxs);
        // A handle (self) is alive, so this cannot be the last reference.
        self.shared()
            .state
            .fetch_sub(idxs.len() as u64, Ordering::AcqRel);
    }

    /// Occupancy right now (a snapshot: other threads may be allocating).
    pub fn stats(&self) -> PoolStats {
        let sh = self.shared();
        // Buffers pushed back in bulk are on the free list a moment before
        // the state word counts them back, so another thread's allocations
        // can briefly make the count exceed the pool: never report more
        // than there is.
        let in_use = ((sh.state.load(Ordering::Acquire) & (HANDLE - 1)) as u32).min(sh.cfg.count);
        PoolStats {
            capacity: sh.cfg.count,
            available: sh.cfg.count - in_use,
            in_use,
        }
    }

    #[cfg(any(test, feature = "backend"))]
    #[doc(hidden)]
    /// The buffer area: start address and length in bytes; every packet's
    /// data lies in it (what an io_uring ring registers as fixed buffers).
    pub fn buffers(&self) -> (*mut u8, usize) {
        let sh = self.shared();
        (sh.bufs, sh.cfg.count as usize * sh.slot_size as usize)
    }

    /// A per-queue cache in front of this pool.
    pub fn cache<const N: usize>(&self) -> PoolCache<N> {
        PoolCache::new(self.clone())
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        self.shared().state.fetch_add(HANDLE, Ordering::Relaxed);
        Pool {
            shared: self.shared,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        release_refs(self.shared, HANDLE);
    }
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Takes one buffer off the free list of the pool `sh` (at `ptr`) as a
/// fresh packet, or `None` when the pool is exhausted. The caller's `&Shared`
/// comes from a live reference to the pool (a handle or a packet); the new
/// packet counts as one more.
fn alloc_from(ptr: NonNull<Shared>, sh: &Shared) -> Option<Pkt> {
    let idx = sh.free_list().pop()?;
    sh.state.fetch_add(1, Ordering::Relaxed);
    sh.write_meta(idx, BufMeta::fresh(sh.cfg.headroom));
    Some(Pkt::from_raw(ptr, idx))
}

/// Drops `amount` from the state word; whoever brings it to zero releases
/// the memory.
fn release_refs(shared: NonNull<Shared>, amount: u64) {
    // SAFETY: the caller held `amount` worth of references, so the control
    // block is alive until the subtraction below.
    let state: &AtomicU64 = unsafe { &shared.as_ref().state };
    if state.fetch_sub(amount, Ordering::AcqRel) == amount {
        region::release(shared);
    }
}

/// A pool over leaked heap memory, for tests that must not depend on the
/// `std` feature.
#[cfg(test)]
pub(crate) fn test_pool(cfg: PoolConfig) -> Pool {
    extern crate std;
    let size = Pool::region_size(&cfg).expect("valid test config");
    let mem = std::boxed::Box::leak(std::vec![0u8; size].into_boxed_slice());
    Pool::from_static(mem, cfg).expect("region sized by region_size")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::packet::PktError;
    extern crate std;
    use std::vec::Vec;

    fn cfg(count: u32) -> PoolConfig {
        PoolConfig {
            count,
            data_room: 256,
            headroom: 64,
        }
    }

    #[test]
    fn alloc_until_empty_then_free_restores_everything() {
        let pool = test_pool(cfg(16));
        let pkts: Vec<Pkt> = (0..16).map(|_| pool.alloc().unwrap()).collect();
        assert!(pool.alloc().is_none());
        assert_eq!(
            pool.stats(),
            PoolStats {
                capacity: 16,
                available: 0,
                in_use: 16
            }
        );
        let mut idx: Vec<u32> = pkts.iter().map(|p| p.buf_index()).collect();
        idx.sort();
        idx.dedup();
        assert_eq!(idx.len(), 16, "every buffer handed out once");
        drop(pkts);
        assert_eq!(pool.stats().available, 16);
    }

    #[test]
    fn buffers_are_disjoint_and_inside_the_registered_area() {
        let pool = test_pool(cfg(8));
        let (base, len) = pool.buffers();
        assert_eq!(base as usize % 4096, 0, "page aligned for registration");
        let mut pkts: Vec<Pkt> = (0..8).map(|_| pool.alloc().unwrap()).collect();
        for (i, p) in pkts.iter_mut().enumerate() {
            p.extend_from_slice(&[i as u8; 256]).unwrap();
            assert!(p.append(1).is_err(), "data room is the limit");
        }
        for (i, p) in pkts.iter().enumerate() {
            assert!(p.data().iter().all(|&b| b == i as u8), "no overlap");
            let a = p.data().as_ptr() as usize;
            assert!(a >= base as usize && a + 256 <= base as usize + len);
        }
    }

    #[test]
    fn headroom_prepend_adj_trim_bounds() {
        let pool = test_pool(cfg(2));
        let mut p = pool.alloc().unwrap();
        assert_eq!((p.headroom(), p.tailroom()), (64, 256));
        assert_eq!(
            p.prepend(65).unwrap_err(),
            PktError::NoHeadroom { need: 65, have: 64 }
        );
        p.extend_from_slice(&[1, 2, 3]).unwrap();
        p.prepend(64).unwrap().fill(9);
        assert_eq!(p.len(), 67);
        assert_eq!(
            p.adj(68).unwrap_err(),
            PktError::TooShort { need: 68, have: 67 }
        );
        p.adj(64).unwrap();
        p.trim(1).unwrap();
        assert_eq!(p.data(), &[1, 2]);
        assert_eq!(p.pkt_len(), 2);
    }

    #[test]
    fn chains_carry_total_length_and_free_every_segment() {
        let pool = test_pool(cfg(4));
        let other = test_pool(cfg(1));
        let mut head = pool.alloc().unwrap();
        head.extend_from_slice(b"abc").unwrap();
        let mut tail = pool.alloc().unwrap();
        tail.extend_from_slice(b"defg").unwrap();
        head.chain(tail).unwrap();
        let foreign = other.alloc().unwrap();
        let (err, back) = head.chain(foreign).unwrap_err();
        assert_eq!(err, PktError::ForeignPool);
        drop(back);
        assert_eq!((head.pkt_len(), head.nb_segs()), (7, 2));
        let segs: Vec<&[u8]> = head.segments().collect();
        assert_eq!(segs, [&b"abc"[..], &b"defg"[..]]);
        let mut flat = [0u8; 7];
        assert_eq!(head.copy_to(&mut flat), 7);
        assert_eq!(&flat, b"abcdefg");
        head.extend_from_slice(b"h").unwrap();
        head.trim(2).unwrap();
        assert_eq!(head.pkt_len(), 6);
        let mut raw = [RawBuf::EMPTY; 4];
        assert_eq!(head.raw_segments(&mut raw), 2);
        assert_eq!((raw[0].len(), raw[1].len()), (3, 3));
        assert_eq!(pool.stats().in_use, 2);
        drop(head);
        assert_eq!(pool.stats().in_use, 0);
        assert_eq!(other.stats().in_use, 0);
    }

    #[test]
    fn alloc_sibling_takes_a_fresh_packet_from_the_same_pool() {
        let pool = test_pool(cfg(2));
        let other = test_pool(cfg(2));
        let mut first = pool.alloc().unwrap();
        first.extend_from_slice(b"data").unwrap();
        let mut sib = first.alloc_sibling().unwrap();
        assert!(pool.owns(&sib) && !other.owns(&sib));
        assert_eq!((sib.len(), sib.headroom(), sib.tailroom()), (0, 64, 256));
        assert_eq!(sib.offload(), Offload::NONE);
        assert_eq!(pool.stats().in_use, 2);
        assert!(first.alloc_sibling().is_none(), "pool exhausted");
        sib.extend_from_slice(b"x").unwrap();
        first.chain(sib).unwrap();
        drop(pool);
        // A packet alone keeps the pool alive and allocates from it.
        assert!(first.alloc_sibling().is_none(), "still exhausted");
        assert_eq!(first.pkt_len(), 5);
        assert_eq!(other.stats().in_use, 0);
    }

    #[test]
    fn cache_refills_and_flushes_in_bulk() {
        let pool = test_pool(cfg(64));
        let mut cache: PoolCache<8> = pool.cache();
        let p = cache.alloc().unwrap();
        assert_eq!(cache.len(), 3, "refilled half the cache, handed out one");
        assert_eq!(pool.stats().in_use, 4);
        cache.free(p);
        let many: Vec<Pkt> = (0..20).map(|_| cache.alloc().unwrap()).collect();
        for p in many {
            cache.free(p);
        }
        assert!(cache.len() <= 8);
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn cache_frees_foreign_packets_to_their_own_pool() {
        let a = test_pool(cfg(4));
        let b = test_pool(cfg(4));
        let mut cache: PoolCache<4> = a.cache();
        cache.free(b.alloc().unwrap());
        assert_eq!((cache.len(), b.stats().in_use), (0, 0));
    }

    #[test]
    fn packets_keep_the_pool_alive_after_the_last_handle() {
        let pool = Pool::region_size(&cfg(2)).unwrap();
        let _ = pool;
        let p = test_pool(cfg(2));
        let mut pkt = p.alloc().unwrap();
        drop(p);
        pkt.extend_from_slice(b"still valid").unwrap();
        assert_eq!(pkt.data(), b"still valid");
    }

    #[test]
    fn too_small_region_is_a_typed_error() {
        let mem = std::boxed::Box::leak(std::vec![0u8; 100].into_boxed_slice());
        let err = Pool::from_static(mem, cfg(4)).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::RegionTooSmall { given: 100, .. }
        ));
        let mem = std::boxed::Box::leak(std::vec![0u8; 100].into_boxed_slice());
        assert_eq!(
            Pool::from_static(mem, PoolConfig { count: 0, ..cfg(1) }).unwrap_err(),
            ConfigError::ZeroBuffers
        );
    }

    #[test]
    fn pools_are_shared_across_threads() {
        let pool = test_pool(cfg(256));
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let pool = pool.clone();
                s.spawn(move || {
                    let mut cache: PoolCache<16> = pool.cache();
                    for i in 0..5_000u32 {
                        let mut held: Vec<Pkt> = Vec::new();
                        for _ in 0..(1 + i % 7) {
                            let mut p = cache
                                .alloc()
                                .or_else(|| pool.alloc())
                                .expect("pool large enough");
                            p.extend_from_slice(&[t; 8]).unwrap();
                            held.push(p);
                        }
                        for p in held {
                            assert!(
                                p.data().iter().all(|&b| b == t),
                                "buffer shared between owners"
                            );
                            if i % 2 == 0 { cache.free(p) } else { drop(p) }
                        }
                    }
                });
            }
        });
        assert_eq!(pool.stats().in_use, 0);
    }
}
