//! The pool's raw memory: laying the control block, links, metadata and
//! buffers into one region, and releasing it. All of the pool's `unsafe`
//! pointer work on the region is here or in `pkt.rs`.

use super::BufMeta;
use super::freelist::FreeList;
use crate::packet::PoolConfig;
use crate::sync::{AtomicU32, AtomicU64};
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

/// Alignment of the region and of the buffer area (a page).
pub(super) const REGION_ALIGN: usize = 4096;

/// How to give the region back to whoever provided it.
pub(super) type Release = fn(*mut u8, usize);

/// The control block at the start of the region.
#[repr(C, align(128))]
pub(super) struct Shared {
    /// Free-list head; alone on its pair of cache lines (x86 prefetches
    /// lines in 128-byte pairs), it is the contended word.
    pub(super) head: AtomicU64,
    _pad: [u8; 120],
    /// Pool handles (high 32 bits) and buffers off the free list (low 32).
    /// Written by every allocation and free, so it has a pair of cache lines of its
    /// own too: beside the read-mostly fields below, each write would evict
    /// the line every other thread reads on every packet access.
    pub(super) state: AtomicU64,
    _pad_state: [u8; 120],
    pub(super) cfg: PoolConfig,
    pub(super) slot_size: u32,
    links: *const AtomicU32,
    metas: *mut BufMeta,
    pub(super) bufs: *mut u8,
    region: *mut u8,
    region_len: usize,
    release: Option<Release>,
}

// The two words written by every thread own a pair of cache lines each;
// the read-mostly fields begin on the third pair.
static_assertions::const_assert_eq!(core::mem::offset_of!(Shared, state), 128);
static_assertions::const_assert_eq!(core::mem::offset_of!(Shared, cfg), 256);

/// Offsets of the parts of a region, from its (aligned) start.
pub(super) struct Layout {
    links: usize,
    metas: usize,
    bufs: usize,
    pub(super) total: usize,
}

const fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

impl Layout {
    pub(super) fn of(cfg: &PoolConfig) -> Layout {
        let n = cfg.count as usize;
        let links = align_up(size_of::<Shared>(), 64);
        let metas = align_up(links + n * size_of::<AtomicU32>(), 64);
        let bufs = align_up(metas + n * size_of::<BufMeta>(), REGION_ALIGN);
        let total = bufs + n * cfg.slot_size() as usize;
        Layout {
            links,
            metas,
            bufs,
            total,
        }
    }
}

impl Shared {
    pub(super) fn free_list(&self) -> FreeList<'_> {
        // SAFETY: `links` points at `cfg.count` initialised atomics inside the
        // region, which lives at least as long as `self`.
        let links = unsafe { core::slice::from_raw_parts(self.links, self.cfg.count as usize) };
        FreeList::new(&self.head, links)
    }

    /// Pointer to the metadata record of buffer `idx`.
    pub(super) fn meta_ptr(&self, idx: u32) -> *mut BufMeta {
        assert!(idx < self.cfg.count, "buffer index out of range");
        // SAFETY: in bounds of the metadata array (checked above).
        unsafe { self.metas.add(idx as usize) }
    }

    /// Pointer to the first byte of buffer `idx`.
    pub(super) fn buf_ptr(&self, idx: u32) -> *mut u8 {
        assert!(idx < self.cfg.count, "buffer index out of range");
        // SAFETY: in bounds of the buffer area (checked above).
        unsafe { self.bufs.add(idx as usize * self.slot_size as usize) }
    }

    /// Overwrites the metadata of a buffer the caller owns.
    pub(super) fn write_meta(&self, idx: u32, meta: BufMeta) {
        let p = self.meta_ptr(idx);
        // SAFETY: the caller owns buffer `idx` (it just came off the free list
        // or belongs to the caller's packet), so nobody else accesses its
        // metadata; the pointer is in bounds and aligned.
        unsafe { p.write(meta) };
    }
}

/// Lays a pool out in `mem` (at least `Layout::total + REGION_ALIGN` bytes)
/// and returns its control block, with one handle counted.
pub(super) fn build(
    mem: &'static mut [u8],
    cfg: PoolConfig,
    release: Option<Release>,
) -> NonNull<Shared> {
    let layout = Layout::of(&cfg);
    let region = mem.as_mut_ptr();
    let region_len = mem.len();
    let skew = region.align_offset(REGION_ALIGN);
    assert!(skew + layout.total <= region_len, "region too small");
    // SAFETY: skew + total <= len (asserted), so every offset below stays in
    // `mem`, which we own exclusively ('static mut borrow or a fresh mapping).
    let base = unsafe { region.add(skew) };
    // SAFETY: in bounds (see above); offsets are multiples of 64 from a
    // page-aligned base, which satisfies the alignment of each part.
    let (links, metas, bufs) = unsafe {
        (
            base.add(layout.links).cast::<AtomicU32>(),
            base.add(layout.metas).cast::<BufMeta>(),
            base.add(layout.bufs),
        )
    };
    debug_assert!(links.is_aligned() && metas.is_aligned());
    for i in 0..cfg.count as usize {
        // SAFETY: slot i of the links array is in bounds and aligned; writing
        // initialises it without reading the old bytes.
        unsafe { links.add(i).write(AtomicU32::new(0)) };
        // SAFETY: as above, for the metadata array.
        unsafe { metas.add(i).write(BufMeta::fresh(cfg.headroom)) };
    }
    let shared = base.cast::<Shared>();
    debug_assert!(shared.is_aligned() && align_of::<Shared>() <= REGION_ALIGN);
    let slot_size = cfg.slot_size();
    // SAFETY: the control block's place is in bounds, aligned and unused.
    unsafe {
        shared.write(Shared {
            head: AtomicU64::new(0),
            _pad: [0; 120],
            state: AtomicU64::new(super::HANDLE),
            _pad_state: [0; 120],
            cfg,
            slot_size,
            links,
            metas,
            bufs,
            region,
            region_len,
            release,
        })
    };
    // SAFETY: just initialised, and nobody else sees it yet.
    let sh = unsafe { &*shared };
    sh.free_list().init();
    NonNull::new(shared).expect("region pointer is not null")
}

/// Gives the region back. Called once, by whoever dropped the last reference.
pub(super) fn release(shared: NonNull<Shared>) {
    // SAFETY: the last reference is gone, so nobody else reads the control
    // block; we copy out what we need before the memory goes.
    let (region, len, rel) = unsafe {
        let sh = shared.as_ref();
        (sh.region, sh.region_len, sh.release)
    };
    if let Some(rel) = rel {
        rel(region, len);
    }
}

/// The size of an x86-64 or arm64 (4 KiB granule) transparent huge page.
#[cfg(feature = "std")]
const HUGE_PAGE: usize = 2 << 20;

/// Maps `len` bytes of anonymous memory (plus alignment slack) for a pool.
#[cfg(feature = "std")]
pub(super) fn map_anonymous(
    len: usize,
) -> Result<(&'static mut [u8], Release), crate::packet::ConfigError> {
    let bytes = len + REGION_ALIGN;
    // SAFETY: an anonymous private mapping has no preconditions; we check the
    // result for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(crate::packet::ConfigError::OutOfMemory { bytes });
    }
    // Transparent huge pages where the system allows them on request (the
    // usual `madvise` setting): a standard pool of 16 384 buffers spans
    // 35 MiB, nearly 9 000 small pages, and every read or write of a buffer
    // by the kernel or the application needs its page's translation; with
    // 2 MiB pages the whole pool fits in a few dozen TLB entries (as DPDK's
    // hugepage pools do). Only advice: where huge pages are off it is
    // ignored, and a pool smaller than one huge page gains nothing.
    if bytes >= HUGE_PAGE {
        // SAFETY: advice on a mapping we own; it changes no contents.
        unsafe { libc::madvise(p, bytes, libc::MADV_HUGEPAGE) };
    }
    fn unmap(p: *mut u8, len: usize) {
        // SAFETY: `p`/`len` are exactly the mapping made above, released once
        // when the last reference to the pool is gone.
        let rc = unsafe { libc::munmap(p.cast(), len) };
        debug_assert_eq!(rc, 0);
    }
    // SAFETY: the mapping is `bytes` long, readable and writable, zeroed, and
    // exclusively ours until `unmap`.
    let mem = unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), bytes) };
    Ok((mem, unmap))
}
