//! The ring abstraction the queue engine drives: post operations tagged with
//! a token, flush them to the kernel, harvest completions.
//!
//! `tapring-uring` implements it over a real io_uring; `tapring-mock` over a
//! simulated kernel. The engine (see [`crate::backend::engine`]) is generic over it,
//! so the exact queue logic that runs in production runs under property
//! tests.

use crate::packet::RawBuf;
use crate::queue::Error;
use core::time::Duration;

/// Linux errno values the engine distinguishes (negated in results).
pub mod errno {
    /// Interrupted.
    pub const EINTR: i32 = 4;
    /// I/O error (a TAP whose link is down answers writes with it).
    pub const EIO: i32 = 5;
    /// Bad file descriptor.
    pub const EBADF: i32 = 9;
    /// Try again (nothing to read / no room to write).
    pub const EAGAIN: i32 = 11;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Message too long (a frame larger than the buffer).
    pub const EMSGSIZE: i32 = 90;
    /// No buffer space (multishot: the provided ring ran dry).
    pub const ENOBUFS: i32 = 105;
    /// Device or link gone.
    pub const ENODEV: i32 = 19;
    /// No such device or address.
    pub const ENXIO: i32 = 6;
    /// File descriptor in bad state: tun's answer on a queue whose device
    /// was deleted (the fd stays open, detached from any device).
    pub const EBADFD: i32 = 77;

    /// Whether `errno` (positive) means the device itself is gone, not
    /// that one operation failed: nothing on this queue can work again.
    pub const fn means_device_gone(errno: i32) -> bool {
        matches!(errno, EBADFD | ENODEV | ENXIO)
    }
    /// Operation cancelled.
    pub const ECANCELED: i32 = 125;
}

/// One operation to post.
#[derive(Clone, Copy, Debug)]
pub enum Sqe<'a> {
    /// Read one frame into `buf`.
    Read {
        /// Destination.
        buf: RawBuf,
    },
    /// Read one frame into `buf` only if one is queued right now: the
    /// read never waits (io_uring: `RWF_NOWAIT`) and completes with
    /// `-EAGAIN` when there is nothing to read.
    ReadNow {
        /// Destination.
        buf: RawBuf,
    },
    /// Read one frame scattered over `segs` (the ring copies the list).
    Readv {
        /// Destinations, in order.
        segs: &'a [RawBuf],
    },
    /// Write one frame from `buf`.
    Write {
        /// Source.
        buf: RawBuf,
    },
    /// Write one frame gathered from `segs` (the ring copies the list).
    Writev {
        /// Sources, in order.
        segs: &'a [RawBuf],
    },
    /// Arm a multishot read that picks buffers from provided-buffer group
    /// `group`; each frame completes with the buffer id it used.
    ReadMultishot {
        /// The provided-buffer group.
        group: u16,
    },
    /// Complete once when a frame is ready to read (a one-shot poll for
    /// input); names no buffer.
    PollIn,
    /// Cancel every operation still in flight on this ring.
    CancelAll,
}

/// One completion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    /// The token the operation was posted with.
    pub token: u64,
    /// Bytes transferred, or a negated errno.
    pub result: i32,
    /// More completions will follow for this (multishot) operation.
    pub more: bool,
    /// The provided buffer the kernel picked (multishot reads).
    pub buffer_id: Option<u16>,
}

/// Linux's EEXIST (the same on every architecture): core is `no_std` and
/// has no libc.
const EEXIST: i32 = 17;

/// A ring failure the queue cannot work around.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The submission queue has no free entry (flush, then retry).
    #[error("submission queue full: flush and retry")]
    Full,
    /// Submitting failed with this errno (negated).
    #[error("submitting to the kernel failed with errno {}", -.0)]
    Submit(i32),
    /// The ring cannot do this operation (e.g. no multishot read).
    #[error("the kernel's ring lacks {0}")]
    Unsupported(&'static str),
}

/// What a queue reports when its ring fails for good: the user-facing
/// [`Error`] names no backend type.
impl From<RingError> for Error {
    fn from(e: RingError) -> Self {
        match e {
            RingError::Full => Error::RingFull,
            // io_uring_enter's answer to a task other than a SINGLE_ISSUER
            // ring's submitter (no other enter failure is EEXIST).
            RingError::Submit(errno) if errno == -EEXIST => Error::WrongThread,
            RingError::Submit(errno) => Error::Os {
                op: "submitting to the io_uring",
                errno: -errno,
            },
            RingError::Unsupported(what) => Error::Unsupported(what),
        }
    }
}

/// A completion ring: the engine's only window on the kernel.
pub trait Ring {
    /// Queues `op` with `token`; the kernel sees it at the next `flush`.
    ///
    /// # Safety
    ///
    /// The kernel reads or writes the buffers `op` names at any time until
    /// the completion carrying `token` is harvested. Until then the caller
    /// must keep every such buffer alive and must not read, write or hand
    /// it to anyone else (the engine keeps the packet in its in-flight
    /// table). A gather/scatter list itself is copied by the ring.
    unsafe fn post(&mut self, token: u64, op: Sqe<'_>) -> Result<(), RingError>;

    /// Hands everything posted to the kernel, and waits until at least
    /// `wait_for` completions are ready (0: don't wait).
    fn flush(&mut self, wait_for: u32) -> Result<(), RingError>;

    /// Copies ready completions into `out`; returns how many. Each
    /// completion is returned exactly once.
    fn harvest(&mut self, out: &mut [Cqe]) -> usize;

    /// Waits until a completion is ready or `timeout` passes.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), RingError>;

    /// Creates provided-buffer group `group` with room for `entries`
    /// buffers (a power of two).
    fn register_group(&mut self, group: u16, entries: u16) -> Result<(), RingError>;

    /// Removes provided-buffer group `group` (io_uring's
    /// `IORING_UNREGISTER_PBUF_RING`). Buffers still provided to it are the
    /// caller's again: a buffer ring keeps its entries after a multishot
    /// read ends, so this is the only way to get them back.
    fn unregister_group(&mut self, group: u16) -> Result<(), RingError>;

    /// Makes `buf` available to multishot reads of `group` under id `bid`.
    /// Takes effect at [`Ring::provide_commit`].
    ///
    /// # Safety
    ///
    /// The kernel may write into `buf` until a completion hands `bid` back
    /// or the group is unregistered ([`Ring::unregister_group`]); until
    /// then the caller must keep the buffer alive and untouched.
    unsafe fn provide(&mut self, group: u16, bid: u16, buf: RawBuf) -> Result<(), RingError>;

    /// Publishes buffers given with [`Ring::provide`].
    fn provide_commit(&mut self, group: u16);

    /// Whether multishot reads with provided buffers are available.
    fn supports_multishot(&self) -> bool;

    /// Whether [`Sqe::ReadNow`] completes at once rather than waiting.
    fn supports_nowait(&self) -> bool;
}
