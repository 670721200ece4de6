//! `Pkt`, the owned packet handle, and its data accessors.

use super::region::Shared;
use super::{BufMeta, NIL, alloc_from, release_refs};
use crate::packet::Offload;
use crate::packet::PktError;
use core::ptr::NonNull;

/// The most segments one chain may have (enough for a 64 KiB frame in
/// 2 KiB buffers, with room to spare).
pub const MAX_SEGS: usize = 64;

/// A buffer described by address and length, as handed to the kernel.
/// Holding one grants nothing: the queue that made it keeps the packet it
/// points into until the kernel is done with it.
///
/// Only a pool's packets make them (the fields are private), so a ring
/// implementation may rely on every `RawBuf` it is given lying inside some
/// pool's buffer area: safe code cannot aim a ring at arbitrary memory.
#[cfg(any(test, feature = "backend"))]
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawBuf {
    addr: *mut u8,
    len: u32,
    buf_index: u32,
}

// SAFETY: a `RawBuf` is only a description (address, length, index); it
// grants no access by itself (see above). Engines keep them in their state
// (e.g. the Tx gather list), and queues holding engines must be `Send`.
#[cfg(any(test, feature = "backend"))]
unsafe impl Send for RawBuf {}
#[cfg(any(test, feature = "backend"))]
// SAFETY: as for Send: sharing a description grants nothing.
unsafe impl Sync for RawBuf {}

#[cfg(any(test, feature = "backend"))]
impl RawBuf {
    /// First byte.
    pub fn addr(&self) -> *mut u8 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True for a zero-length buffer (the placeholder).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index of the buffer in its pool (for registered-buffer operations).
    pub fn buf_index(&self) -> u32 {
        self.buf_index
    }

    /// A placeholder, for initialising arrays.
    pub const EMPTY: RawBuf = RawBuf {
        addr: core::ptr::null_mut(),
        len: 0,
        buf_index: 0,
    };
}

/// An owned packet: one buffer, or a chain of buffers, from a pool.
///
/// Not `Clone`: there is exactly one owner. Dropping it returns every
/// segment to its pool. The data starts after the pool's headroom, so
/// headers can be prepended in place.
///
/// ```
/// use tapring_core::{Pool, PoolConfig};
/// let pool = Pool::new(PoolConfig::standard(8)).unwrap();
/// let mut pkt = pool.alloc().unwrap();
/// pkt.extend_from_slice(b"payload").unwrap();
/// pkt.prepend(2).unwrap().copy_from_slice(b"h:");
/// assert_eq!(pkt.data(), b"h:payload");
/// pkt.adj(2).unwrap();
/// pkt.trim(4).unwrap();
/// assert_eq!(pkt.data(), b"pay");
/// ```
pub struct Pkt {
    pool: NonNull<Shared>,
    idx: u32,
}

// SAFETY: a `Pkt` is the unique owner of its buffers (and their metadata);
// moving it to another thread moves that ownership. The pool's shared state
// is only touched through atomics.
unsafe impl Send for Pkt {}
// SAFETY: `&Pkt` only allows reading the packet's own buffers.
unsafe impl Sync for Pkt {}

impl Pkt {
    pub(super) fn from_raw(pool: NonNull<Shared>, idx: u32) -> Pkt {
        Pkt { pool, idx }
    }

    pub(super) fn pool_ptr(&self) -> NonNull<Shared> {
        self.pool
    }

    fn shared(&self) -> &Shared {
        // SAFETY: a packet counts as a reference to its pool, so the control
        // block is alive while `self` is.
        unsafe { self.pool.as_ref() }
    }

    fn seg_meta(&self, idx: u32) -> &BufMeta {
        // SAFETY: `idx` is a segment of this packet's chain, which `self` owns
        // exclusively; the pointer is in bounds and aligned.
        unsafe { &*self.shared().meta_ptr(idx) }
    }

    fn seg_meta_mut(&mut self, idx: u32) -> &mut BufMeta {
        // SAFETY: as in `seg_meta`, and `&mut self` makes the access unique.
        unsafe { &mut *self.shared().meta_ptr(idx) }
    }

    fn meta(&self) -> &BufMeta {
        self.seg_meta(self.idx)
    }

    fn meta_mut(&mut self) -> &mut BufMeta {
        let idx = self.idx;
        self.seg_meta_mut(idx)
    }

    fn seg_bytes(&self, idx: u32) -> &[u8] {
        let m = self.seg_meta(idx);
        // SAFETY: data_off + data_len <= slot size is kept by every mutator;
        // the bytes belong to a segment `self` owns and no `&mut` to them can
        // exist while `&self` is borrowed.
        unsafe {
            core::slice::from_raw_parts(
                self.shared().buf_ptr(idx).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    fn seg_range_mut(&mut self, idx: u32, off: u32, len: u32) -> &mut [u8] {
        debug_assert!(off + len <= self.shared().slot_size);
        // SAFETY: off + len lies within the segment's slot (callers check it
        // against headroom/tailroom); `&mut self` makes the access unique.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.shared().buf_ptr(idx).add(off as usize),
                len as usize,
            )
        }
    }

    fn last_seg(&self) -> u32 {
        let mut cur = self.idx;
        loop {
            let next = self.seg_meta(cur).next;
            if next == NIL {
                return cur;
            }
            cur = next;
        }
    }

    /// A fresh empty packet from the pool this one came from, or `None`
    /// when that pool has no free buffer. Code that only holds packets
    /// (software segmentation making a packet per segment,
    /// [`crate::wire::gso`]) allocates with it without carrying a [`Pool`](super::Pool)
    /// handle around. Takes from the shared free list, not from any
    /// [`PoolCache`](super::PoolCache).
    pub fn alloc_sibling(&self) -> Option<Pkt> {
        alloc_from(self.pool, self.shared())
    }

    /// Index of the (first) buffer in its pool.
    pub fn buf_index(&self) -> u32 {
        self.idx
    }

    /// Bytes in the first segment.
    pub fn len(&self) -> usize {
        self.meta().data_len as usize
    }

    /// True when the packet holds no data at all.
    pub fn is_empty(&self) -> bool {
        self.pkt_len() == 0
    }

    /// Bytes in the whole chain.
    pub fn pkt_len(&self) -> usize {
        self.meta().pkt_len as usize
    }

    /// Segments in the chain (1 for a plain packet).
    pub fn nb_segs(&self) -> usize {
        self.meta().nb_segs as usize
    }

    /// The first segment's data.
    pub fn data(&self) -> &[u8] {
        self.seg_bytes(self.idx)
    }

    /// The first segment's data, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (off, len) = (self.meta().data_off, self.meta().data_len);
        let idx = self.idx;
        self.seg_range_mut(idx, off, len)
    }

    /// Free bytes in front of the first segment's data.
    pub fn headroom(&self) -> usize {
        self.meta().data_off as usize
    }

    /// Free bytes after the last segment's data.
    pub fn tailroom(&self) -> usize {
        let m = self.seg_meta(self.last_seg());
        (self.shared().slot_size - m.data_off - m.data_len) as usize
    }

    /// Grows the first segment at the front by `n` bytes (into the headroom)
    /// and returns them for writing.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], PktError> {
        let have = self.headroom();
        if n > have {
            return Err(PktError::NoHeadroom { need: n, have });
        }
        let n32 = n as u32;
        let idx = self.idx;
        let m = self.meta_mut();
        m.data_off -= n32;
        m.data_len += n32;
        m.pkt_len += n32;
        let off = m.data_off;
        Ok(self.seg_range_mut(idx, off, n32))
    }

    /// Grows the last segment at the end by `n` bytes and returns them for
    /// writing (their previous content is unspecified).
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], PktError> {
        let have = self.tailroom();
        if n > have {
            return Err(PktError::NoTailroom { need: n, have });
        }
        let n32 = n as u32;
        let last = self.last_seg();
        let m = self.seg_meta_mut(last);
        let off = m.data_off + m.data_len;
        m.data_len += n32;
        self.meta_mut().pkt_len += n32;
        Ok(self.seg_range_mut(last, off, n32))
    }

    /// Appends a copy of `bytes` to the last segment.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), PktError> {
        self.append(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Removes `n` bytes from the front of the first segment.
    pub fn adj(&mut self, n: usize) -> Result<(), PktError> {
        let have = self.len();
        if n > have {
            return Err(PktError::TooShort { need: n, have });
        }
        let n32 = n as u32;
        let m = self.meta_mut();
        m.data_off += n32;
        m.data_len -= n32;
        m.pkt_len -= n32;
        Ok(())
    }

    /// Removes `n` bytes from the end of the last segment.
    pub fn trim(&mut self, n: usize) -> Result<(), PktError> {
        let last = self.last_seg();
        let have = self.seg_meta(last).data_len as usize;
        if n > have {
            return Err(PktError::TooShort { need: n, have });
        }
        self.seg_meta_mut(last).data_len -= n as u32;
        self.meta_mut().pkt_len -= n as u32;
        Ok(())
    }

    /// Appends `tail` (and its own chain) as further segments. On error the
    /// tail is handed back untouched.
    pub fn chain(&mut self, tail: Pkt) -> Result<(), (PktError, Pkt)> {
        if tail.pool != self.pool {
            return Err((PktError::ForeignPool, tail));
        }
        let segs = self.nb_segs() + tail.nb_segs();
        if segs > MAX_SEGS {
            return Err((PktError::TooManySegments { max: MAX_SEGS }, tail));
        }
        let (tail_idx, tail_len) = (tail.idx, tail.meta().pkt_len);
        core::mem::forget(tail);
        let last = self.last_seg();
        self.seg_meta_mut(last).next = tail_idx;
        let m = self.meta_mut();
        m.pkt_len += tail_len;
        m.nb_segs = segs as u16;
        Ok(())
    }

    /// True when `other` comes from the same pool as `self`: only then can
    /// one be [chained](Pkt::chain) onto the other.
    pub fn same_pool(&self, other: &Pkt) -> bool {
        self.pool == other.pool
    }

    /// The data of every segment, in order.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            pkt: self,
            cur: self.idx,
        }
    }

    /// Copies the whole chain into `out` (as much as fits); returns the
    /// number of bytes copied.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        for seg in self.segments() {
            let n = seg.len().min(out.len() - at);
            out[at..at + n].copy_from_slice(&seg[..n]);
            at += n;
            if at == out.len() {
                break;
            }
        }
        at
    }

    /// Offload request (Tx) or status (Rx).
    pub fn offload(&self) -> Offload {
        self.meta().offload
    }

    /// Sets the offload request for transmission.
    pub fn set_offload(&mut self, off: Offload) {
        self.meta_mut().offload = off;
    }

    /// Port of arrival (set by Rx queues).
    pub fn port(&self) -> u16 {
        self.meta().port
    }

    /// Queue of arrival (set by Rx queues).
    pub fn queue(&self) -> u16 {
        self.meta().queue
    }

    /// Records where the packet arrived.
    pub fn set_origin(&mut self, port: u16, queue: u16) {
        let m = self.meta_mut();
        m.port = port;
        m.queue = queue;
    }

    #[cfg(any(test, feature = "backend"))]
    #[doc(hidden)]
    /// Empties a single-segment packet so a read of up to the returned
    /// length lands at `lead` bytes before the usual data start (room for a
    /// header that [`Pkt::adj`] strips afterwards). Chained packets keep only
    /// their first segment's room; callers post chains with
    /// [`Pkt::raw_segments`].
    pub fn rx_target(&mut self, lead: u32) -> RawBuf {
        let headroom = self.shared().cfg.headroom;
        let slot = self.shared().slot_size;
        let lead = lead.min(headroom);
        let off = headroom - lead;
        let idx = self.idx;
        let m = self.meta_mut();
        m.data_off = off;
        m.data_len = 0;
        m.pkt_len = 0;
        m.offload = Offload::NONE;
        RawBuf {
            addr: self.seg_range_mut(idx, off, 0).as_mut_ptr(),
            len: slot - off,
            buf_index: idx,
        }
    }

    #[cfg(any(test, feature = "backend"))]
    #[doc(hidden)]
    /// Records that a read into [`Pkt::rx_target`] returned `n` bytes
    /// (clamped to the room there was).
    pub fn rx_complete(&mut self, n: u32) {
        let slot = self.shared().slot_size;
        let m = self.meta_mut();
        let n = n.min(slot - m.data_off);
        m.data_len = n;
        m.pkt_len = n;
    }

    #[cfg(any(test, feature = "backend"))]
    #[doc(hidden)]
    /// Describes every segment's data for a gather write; returns how many
    /// entries of `out` were filled (all segments, or as many as fit).
    pub fn raw_segments(&self, out: &mut [RawBuf]) -> usize {
        let mut n = 0;
        let mut cur = self.idx;
        while cur != NIL && n < out.len() {
            let m = self.seg_meta(cur);
            out[n] = RawBuf {
                // SAFETY: data_off is within the slot (kept by every mutator).
                addr: unsafe { self.shared().buf_ptr(cur).add(m.data_off as usize) },
                len: m.data_len,
                buf_index: cur,
            };
            n += 1;
            cur = m.next;
        }
        n
    }

    /// Dismantles the packet, handing each segment's index to `f`; the
    /// caller takes over the buffers (and their count as "in use").
    pub(super) fn into_indices(self, mut f: impl FnMut(u32)) {
        let mut cur = self.idx;
        while cur != NIL {
            let next = self.seg_meta(cur).next;
            f(cur);
            cur = next;
        }
        core::mem::forget(self);
    }
}

impl Drop for Pkt {
    fn drop(&mut self) {
        let fl = self.shared().free_list();
        let mut count = 0u64;
        let mut cur = self.idx;
        let mut last = cur;
        while cur != NIL {
            let next = self.seg_meta(cur).next;
            if next != NIL {
                fl.link(cur, next);
            }
            last = cur;
            count += 1;
            cur = next;
        }
        fl.push_linked(self.idx, last);
        release_refs(self.pool, count);
    }
}

impl core::fmt::Debug for Pkt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pkt")
            .field("buf", &self.idx)
            .field("pkt_len", &self.pkt_len())
            .field("nb_segs", &self.nb_segs())
            .field("offload", &self.offload())
            .finish()
    }
}

/// Iterator over the data of a packet's segments.
pub struct Segments<'a> {
    pkt: &'a Pkt,
    cur: u32,
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.cur == NIL {
            return None;
        }
        let idx = self.cur;
        self.cur = self.pkt.seg_meta(idx).next;
        Some(self.pkt.seg_bytes(idx))
    }
}

// A burst slot costs no more than the handle itself, and ownership rules
// hold: a packet moves between threads but is never duplicated.
static_assertions::assert_eq_size!(Option<Pkt>, Pkt);
static_assertions::assert_impl_all!(Pkt: Send, Sync);
#[cfg(any(test, feature = "backend"))]
static_assertions::assert_impl_all!(RawBuf: Send, Sync);
static_assertions::assert_not_impl_any!(Pkt: Clone, Copy);
