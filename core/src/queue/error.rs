//! [`Error`], the crate's one error type: what a queue or port operation
//! returns. The narrower enums it wraps are what the individual operations
//! raise, each beside its code ([`ConfigError`] with the configurations,
//! [`PktError`] with the packets, [`VnetError`] with the codec).

use crate::packet::{ConfigError, PktError};
use crate::wire::VnetError;

/// tapring-core's error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A packet operation does not fit.
    #[error(transparent)]
    Pkt(#[from] PktError),
    /// A virtio-net header is malformed or a request cannot be expressed.
    #[error(transparent)]
    Vnet(#[from] VnetError),
    /// The kernel's submission ring stayed full even after handing it
    /// everything queued: the queue cannot go on.
    #[error("the ring's submission queue stayed full after a flush: use a deeper queue")]
    RingFull,
    /// The queue is not running: its backend never started it, or tore it
    /// down after an error it could not recover from.
    #[error(
        "queue is not running (never started, or torn down after a fatal error): \
         take the queue from a newly opened port"
    )]
    NotStarted,
    /// The backend cannot do this; the message names what is missing.
    #[error("not supported by this backend: {0}")]
    Unsupported(&'static str),
    /// A system call failed for good (the device is gone, the fd is bad...).
    #[error("{op} failed with errno {errno}: check that the device still exists")]
    Os {
        /// What was being done.
        op: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The queue was driven from another thread than the one its kernel
    /// rings are bound to (io_uring's SINGLE_ISSUER: the first thread that
    /// used the queue).
    #[error(
        "this queue is bound to the thread that first used it (io_uring SINGLE_ISSUER + \
         DEFER_TASKRUN rings): drive it from that one thread, or open the port with \
         UringConfig::defer_taskrun(false) so any thread may (needed on a multi-thread \
         async runtime)"
    )]
    WrongThread,
    /// The device went away: deleted (`ip link del`, its owner closed a
    /// non-persistent device) or this queue detached from it. The queue has
    /// stopped and every buffer it held is back in the pool; packets it
    /// received before noticing stay in the burst.
    #[error(
        "the device is gone (errno {errno}: deleted, or this queue detached from it); the \
         queue stopped and returned its buffers: open the port again once the device exists"
    )]
    DeviceGone {
        /// What the kernel answered (EBADFD, ENODEV or ENXIO).
        errno: i32,
    },
    /// The port has no queue of that index.
    #[error(
        "queue {queue} does not exist (the port has {count}): ask for 0..{count}, or open the port with more queues"
    )]
    NoSuchQueue {
        /// The queue asked for.
        queue: u16,
        /// Queues the port has.
        count: u16,
    },
    /// The queue was taken from its port already: each queue is taken
    /// once, then moved to the thread that drives it.
    #[error("queue {queue} was already taken from this port: take each queue once")]
    QueueTaken {
        /// The queue asked for.
        queue: u16,
    },
    /// Teardown could not get these buffers back from the kernel in time;
    /// they stay reserved (never reused) so the kernel cannot corrupt a
    /// packet. Close the device's fds to make the kernel let go.
    #[error(
        "teardown left {buffers} buffers with the kernel (kept reserved, never reused): \
         close the device to release them"
    )]
    TeardownIncomplete {
        /// Buffers left with the kernel.
        buffers: usize,
    },
}
