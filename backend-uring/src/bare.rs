//! [`BareLoop`]: the same io_uring calls tapring makes, without tapring: no
//! pool, no packets, no engine, no statistics. It is the yardstick for the
//! library's own cost (`tapring bench --test overhead`), not an API to
//! build on.

use crate::error::UringError;
use crate::port::FixedBuffers;
use crate::sys::{self, RegisteredRegion};
use io_uring::types::Fixed;
use io_uring::{IoUring, opcode};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Bytes per buffer slot.
const SLOT: usize = 2048;

/// A ring over one TAP queue fd with `batch` buffer slots, set up as
/// tapring's rings are (SINGLE_ISSUER + DEFER_TASKRUN + TASKRUN_FLAG where
/// the kernel has them, the fd registered as fixed file 0, the slots
/// registered as fixed buffers for the directions a [`FixedBuffers`]
/// setting names), issuing one batch per `io_uring_enter` and reaping every
/// completion before it returns.
#[doc(hidden)]
pub struct BareLoop {
    // Field order matters: the ring goes before the memory it used.
    ring: IoUring,
    _fd: OwnedFd,
    bufs: Vec<u8>,
    /// The slots' registration, when reads or writes use it.
    region: Option<RegisteredRegion>,
    fixed: FixedBuffers,
    batch: usize,
}

impl BareLoop {
    /// A loop over (a duplicate of) `fd` issuing `batch` operations (1..=256)
    /// per enter, reading or writing registered buffers where `fixed` says
    /// so (as a tapring queue with the same setting would).
    pub fn new(
        fd: BorrowedFd<'_>,
        batch: usize,
        fixed: FixedBuffers,
    ) -> Result<BareLoop, UringError> {
        if !(1..=256).contains(&batch) {
            return Err(UringError::Unsupported {
                what: "bare-loop batches outside 1..=256",
            });
        }
        let fd = fd
            .try_clone_to_owned()
            .map_err(|e| UringError::os("dup(queue fd)", &e))?;
        sys::set_blocking(fd.as_fd()).map_err(|e| UringError::os("fcntl", &e))?;
        let mut b = IoUring::builder();
        if crate::probe().defer_taskrun {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag();
        }
        let ring = b
            .setup_cqsize(2 * batch as u32)
            .build(batch as u32)
            .map_err(|e| UringError::from_setup(&e))?;
        ring.submitter()
            .register_files(&[fd.as_raw_fd()])
            .map_err(|e| UringError::os("io_uring_register(FILES)", &e))?;
        let mut bufs = vec![0; batch * SLOT];
        // Best effort, as in tapring's rings. `bufs` is never resized and
        // is dropped after the ring (field order).
        let region = if fixed == FixedBuffers::Off {
            None
        } else {
            sys::register_region(&ring, bufs.as_mut_ptr(), bufs.len()).ok()
        };
        Ok(BareLoop {
            ring,
            _fd: fd,
            bufs,
            region,
            fixed,
            batch,
        })
    }

    /// Copies `frame` (at most 2048 bytes) into every slot and writes the
    /// slots, one batch in one enter; returns how many writes transferred
    /// the whole frame. The copy stands for the application producing each
    /// frame, as a tapring sender fills each packet it allocates: only the
    /// library's own work is left out.
    pub fn write_batch(&mut self, frame: &[u8]) -> Result<usize, UringError> {
        let n = frame.len().min(SLOT);
        let len = n as u32;
        for i in 0..self.batch {
            let slot = &mut self.bufs[i * SLOT..(i + 1) * SLOT];
            slot[..n].copy_from_slice(&frame[..n]);
            let addr = slot.as_ptr();
            let e = match self.buf_index(self.fixed.tx(), addr, len) {
                Some(b) => opcode::WriteFixed::new(Fixed(0), addr, len, b).build(),
                None => opcode::Write::new(Fixed(0), addr, len).build(),
            }
            .user_data(i as u64);
            if !sys::push(&mut self.ring, &e) {
                return Err(UringError::Unsupported {
                    what: "a submission queue smaller than the batch",
                });
            }
        }
        self.complete(|res| res == len as i32)
    }

    /// Reads into every slot with `RWF_NOWAIT` (as tapring's no-wait mode
    /// does), one batch in one enter; returns how many reads got a frame.
    pub fn read_batch(&mut self) -> Result<usize, UringError> {
        let len = SLOT as u32;
        for i in 0..self.batch {
            let addr = self.bufs[i * SLOT..].as_mut_ptr();
            let e = match self.buf_index(self.fixed.rx(), addr, len) {
                Some(b) => opcode::ReadFixed::new(Fixed(0), addr, len, b)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
                None => opcode::Read::new(Fixed(0), addr, len)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build(),
            }
            .user_data(i as u64);
            if !sys::push(&mut self.ring, &e) {
                return Err(UringError::Unsupported {
                    what: "a submission queue smaller than the batch",
                });
            }
        }
        self.complete(|res| res > 0)
    }

    /// Whether the slots are registered (fixed buffers in use).
    pub fn uses_fixed_buffers(&self) -> bool {
        self.region.is_some()
    }

    /// The fixed-buffer index of `[addr, addr + len)` when this direction
    /// uses registered buffers.
    fn buf_index(&self, direction: bool, addr: *const u8, len: u32) -> Option<u16> {
        direction
            .then_some(self.region.as_ref())
            .flatten()
            .and_then(|r| r.index_of(addr, len))
    }

    /// Submits the batch, waits for all of its completions (so no buffer
    /// is still in the kernel's hands when this returns) and counts those
    /// for which `ok` holds.
    fn complete(&mut self, ok: impl Fn(i32) -> bool) -> Result<usize, UringError> {
        let mut left = self.batch;
        let mut good = 0;
        while left > 0 {
            match self.ring.submit_and_wait(left) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(UringError::os("io_uring_enter", &e)),
            }
            for cqe in self.ring.completion() {
                left -= 1;
                good += usize::from(ok(cqe.result()));
            }
        }
        Ok(good)
    }
}
