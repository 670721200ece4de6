//! Every `unsafe` operation of tapring-uring: pushing entries whose buffers
//! the kernel will use, the provided-buffer ring's shared memory, registering
//! memory with the kernel, and fd flags.

use io_uring::types::BufRingEntry;
use io_uring::{IoUring, squeue};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use tapring_core::packet::MAX_SEGS;

/// Queues an entry on the submission queue; false when the queue is full.
///
/// Crate-private, and every caller keeps the memory an entry names valid
/// and untouched until the entry's completion is reaped (or the ring is
/// gone):
/// - `UringRing::post`, through the `Ring::post` contract: the engine keeps
///   each packet in its in-flight table until the completion for its token
///   is harvested, and iovec arrays live in `IovecTable` slots that are not
///   reused before that completion either;
/// - `BareLoop`, whose buffers outlive its ring (field order) and which
///   reaps every completion of a batch before it returns;
/// - the probe, which leaks its scratch buffer unless it reaped the
///   completion.
pub(crate) fn push(ring: &mut IoUring, entry: &squeue::Entry) -> bool {
    // SAFETY: see above: every pointer in `entry` stays valid until its
    // completion is reaped.
    unsafe { ring.submission().push(entry).is_ok() }
}

/// Stable storage for the iovec arrays of gather/scatter operations, one
/// array per in-flight slot (indexed by the token's slot).
pub(crate) struct IovecTable {
    arrays: Box<[[libc::iovec; MAX_SEGS]]>,
}

// SAFETY: the iovecs only hold addresses of pool memory, which is itself
// Send; the table is owned by one ring, used by one thread at a time.
unsafe impl Send for IovecTable {}

impl IovecTable {
    pub(crate) fn new(slots: usize) -> Self {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        IovecTable {
            arrays: vec![[empty; MAX_SEGS]; slots].into_boxed_slice(),
        }
    }

    /// Fills slot `slot` from `(addr, len)` pairs; returns its address and
    /// entry count, or `None` when the slot does not exist.
    pub(crate) fn fill(
        &mut self,
        slot: usize,
        segs: impl Iterator<Item = (*mut u8, u32)>,
    ) -> Option<(*const libc::iovec, u32)> {
        let arr = self.arrays.get_mut(slot)?;
        let mut n = 0;
        for (dst, (addr, len)) in arr.iter_mut().zip(segs) {
            *dst = libc::iovec {
                iov_base: addr.cast(),
                iov_len: len as usize,
            };
            n += 1;
        }
        Some((arr.as_ptr(), n))
    }
}

/// A provided-buffer ring: memory shared with the kernel through which
/// userspace hands buffers to multishot reads.
pub(crate) struct BufRing {
    base: NonNull<BufRingEntry>,
    bytes: usize,
    entries: u16,
    /// Next tail value (entries added but maybe not yet published).
    tail: u16,
}

// SAFETY: the ring memory is owned by this struct (and shared only with the
// kernel); it is used by one thread at a time.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Maps a ring of `entries` (a power of two, at most 32768) entries.
    pub(crate) fn new(entries: u16) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping has no preconditions; the
        // result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<BufRingEntry>()).ok_or_else(io::Error::last_os_error)?;
        Ok(BufRing {
            base,
            bytes,
            entries,
            tail: 0,
        })
    }

    /// Registers the ring with `ring` as buffer group `bgid`.
    pub(crate) fn register(&self, ring: &IoUring, bgid: u16) -> io::Result<()> {
        // SAFETY: the memory is page aligned (mmap) and stays mapped until
        // this BufRing drops, which `UringRing` arranges to happen after the
        // io_uring instance itself is gone (or the group is unregistered).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                self.base.as_ptr() as u64,
                self.entries,
                bgid,
                0,
            )
        }
    }

    /// Adds a buffer at the tail (visible to the kernel after `publish`).
    pub(crate) fn add(&mut self, bid: u16, addr: *mut u8, len: u32) {
        let idx = usize::from(self.tail & (self.entries - 1));
        // SAFETY: idx < entries, so the entry lies inside the mapping. The
        // kernel only reads entries between its head and the published tail;
        // this one is beyond the published tail until `publish`.
        let entry = unsafe { &mut *self.base.as_ptr().add(idx) };
        entry.set_addr(addr as u64);
        entry.set_len(len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes every buffer added so far.
    pub(crate) fn publish(&self) {
        // SAFETY: the base points at the first entry of an initialised ring;
        // the tail field is a u16 the kernel reads atomically.
        let tail = unsafe { BufRingEntry::tail(self.base.as_ptr()) };
        // SAFETY: the tail field is 2-byte aligned shared memory; publishing
        // with Release makes the entries written above visible first.
        let tail = unsafe { &*tail.cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.bytes) };
    }
}

/// A pool region registered with a ring as fixed buffers, in chunks of at
/// most 1 GiB (the kernel's limit per registered buffer).
pub(crate) struct RegisteredRegion {
    base: usize,
    len: usize,
}

/// Largest registered buffer the kernel accepts.
const FIXED_CHUNK: usize = 1 << 30;

impl RegisteredRegion {
    /// The fixed-buffer index covering `[addr, addr + len)`, if the range
    /// lies inside the region and inside one chunk.
    pub(crate) fn index_of(&self, addr: *const u8, len: u32) -> Option<u16> {
        if len == 0 {
            return None;
        }
        let a = addr as usize;
        let end = a.checked_add(len as usize)?;
        if a < self.base || end > self.base + self.len {
            return None;
        }
        let (first, last) = (
            (a - self.base) / FIXED_CHUNK,
            (end - 1 - self.base) / FIXED_CHUNK,
        );
        (first == last).then(|| u16::try_from(first).ok()).flatten()
    }
}

/// Registers `[base, base + len)` (a pool's buffer area, or the bare
/// loop's slots) with `ring` as fixed buffers, so reads and writes into it
/// skip the user-copy checks.
///
/// The caller must keep the memory mapped for as long as the ring lives:
/// `UringRing` holds a handle of the pool that owns it and drops it only
/// after the ring; `BareLoop` drops its slots after its ring.
pub(crate) fn register_region(
    ring: &IoUring,
    base: *mut u8,
    len: usize,
) -> io::Result<RegisteredRegion> {
    let chunks: Vec<libc::iovec> = (0..len.div_ceil(FIXED_CHUNK))
        .map(|i| libc::iovec {
            iov_base: base.wrapping_add(i * FIXED_CHUNK).cast(),
            iov_len: (len - i * FIXED_CHUNK).min(FIXED_CHUNK),
        })
        .collect();
    // SAFETY: every iovec lies inside the registered area, which stays
    // mapped while the ring exists (see above); the kernel pins the pages
    // and reads or writes them only through operations posted for buffers
    // their poster owns until the completion (the engine's in-flight
    // tables; the bare loop reaps every completion before it returns).
    unsafe { ring.submitter().register_buffers(&chunks)? };
    Ok(RegisteredRegion {
        base: base as usize,
        len,
    })
}

/// Clears O_NONBLOCK on the open file behind `fd`: io_uring honours it by
/// failing reads with EAGAIN instead of waiting for data.
pub(crate) fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a valid, borrowed fd.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new nonblocking eventfd (close-on-exec).
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: eventfd(2) has no memory preconditions; the result is checked.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::{FIXED_CHUNK, RegisteredRegion};

    #[test]
    fn index_of_finds_the_chunk_or_nothing() {
        let r = RegisteredRegion {
            base: 0x10_0000,
            len: FIXED_CHUNK + 4096,
        };
        let at = |off: usize| (0x10_0000 + off) as *const u8;
        assert_eq!(r.index_of(at(0), 2048), Some(0));
        assert_eq!(r.index_of(at(FIXED_CHUNK), 2048), Some(1));
        // Straddling two chunks, outside the region, or empty: plain I/O.
        assert_eq!(r.index_of(at(FIXED_CHUNK - 1024), 2048), None);
        assert_eq!(r.index_of(at(FIXED_CHUNK + 4096 - 1024), 2048), None);
        assert_eq!(r.index_of(0x1000 as *const u8, 16), None);
        assert_eq!(r.index_of(at(0), 0), None);
    }
}
