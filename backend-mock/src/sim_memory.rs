//! The simulated kernel's only window on user memory: copying frames into
//! posted read buffers and out of posted write buffers.
//!
//! Buffers are kept as plain addresses (`usize`) everywhere else in the
//! simulator, so the rings stay `Send` and no other code can dereference
//! them. Soundness rests on the [`Ring`](tapring_core::backend::ring::Ring) contract:
//! a buffer named by a posted operation stays valid, and is not touched by
//! user code, until the completion carrying its token has been harvested.
//! The simulator only touches a buffer between `flush` (the kernel sees the
//! operation) and the moment it produces that operation's completion.

use tapring_core::backend::RawBuf;

/// One buffer lent to the simulated kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Buf {
    /// First byte.
    pub(crate) addr: usize,
    /// Length in bytes.
    pub(crate) len: u32,
}

impl From<RawBuf> for Buf {
    fn from(b: RawBuf) -> Self {
        Buf {
            addr: b.addr() as usize,
            len: b.len(),
        }
    }
}

impl Buf {
    /// True when `[addr, addr + len)` overlaps this buffer.
    pub(crate) fn overlaps(&self, addr: usize, len: usize) -> bool {
        let (a0, a1) = (self.addr, self.addr + self.len as usize);
        addr < a1 && a0 < addr + len.max(1)
    }
}

/// Copies as much of `src` as fits into the buffers `dst`, in order (a
/// scattering read); returns the bytes copied.
pub(crate) fn scatter(dst: &[Buf], src: &[u8]) -> usize {
    let mut done = 0;
    for b in dst {
        if done == src.len() {
            break;
        }
        let chunk = &src[done..done + (b.len as usize).min(src.len() - done)];
        if b.addr == 0 || chunk.is_empty() {
            continue;
        }
        // SAFETY: `b` was lent to the ring by a posted read; by the Ring
        // contract it points at `b.len` writable bytes that nothing else
        // accesses until the read's completion is harvested, which has not
        // happened yet (we are producing it). `chunk.len() <= b.len`, and a
        // pool buffer cannot overlap the simulator's own frame storage.
        unsafe {
            core::ptr::copy_nonoverlapping(chunk.as_ptr(), b.addr as *mut u8, chunk.len());
        }
        done += chunk.len();
    }
    done
}

/// Hands the first `limit` bytes of the buffers `src` (a gathering write)
/// to `f`, one segment at a time; returns the bytes handed over.
pub(crate) fn gather(src: &[Buf], limit: usize, mut f: impl FnMut(&[u8])) -> usize {
    let mut done = 0;
    for b in src {
        let n = (b.len as usize).min(limit - done);
        if n == 0 || b.addr == 0 {
            continue;
        }
        // SAFETY: `b` was lent to the ring by a posted write; by the Ring
        // contract it points at `b.len` initialised bytes that stay valid and
        // unmodified until the write's completion is harvested, which has not
        // happened yet (we are producing it). `n <= b.len`.
        let bytes = unsafe { core::slice::from_raw_parts(b.addr as *const u8, n) };
        f(bytes);
        done += n;
    }
    done
}
