//! Errors of tapring-core. [`Error`] is the crate's one error type; the
//! narrower enums it wraps are what the individual operations return.

use core::fmt;

/// A configuration value that cannot work. Fix the value named in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A pool needs at least one buffer.
    ZeroBuffers,
    /// More buffers than one pool can index.
    TooManyBuffers {
        /// Requested count.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// The headroom cannot hold a virtio-net header.
    HeadroomTooSmall {
        /// Requested headroom.
        headroom: u32,
        /// The minimum.
        min: u32,
    },
    /// The data room cannot hold a minimal Ethernet frame.
    BufferTooSmall {
        /// Requested data room.
        data_room: u32,
        /// The minimum.
        min: u32,
    },
    /// Headroom or data room beyond what a frame can use.
    BufferTooLarge {
        /// Requested headroom.
        headroom: u32,
        /// Requested data room.
        data_room: u32,
        /// The largest data room accepted.
        max: u32,
    },
    /// Ring sizes must be powers of two.
    RingNotPowerOfTwo {
        /// Requested size.
        size: u32,
    },
    /// Ring size beyond the kernel's limit.
    RingTooLarge {
        /// Requested size.
        size: u32,
        /// The kernel's limit.
        max: u32,
    },
    /// The burst size exceeds the capacity of the burst container.
    BurstBeyondCapacity {
        /// Requested burst size.
        burst: u32,
        /// Capacity of the burst container.
        capacity: usize,
    },
    /// The pool cannot feed an Rx ring and still leave buffers for received
    /// packets and Tx: a ring may lend at most half the pool.
    PoolTooSmall {
        /// Buffers the Rx ring lends to the kernel.
        ring: u32,
        /// Buffers in the pool.
        pool: u32,
    },
    /// The memory handed to the pool is smaller than the pool needs.
    RegionTooSmall {
        /// Bytes given.
        given: usize,
        /// Bytes needed (see `Pool::region_size`).
        needed: usize,
    },
    /// The operating system refused the pool's memory.
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::ZeroBuffers => {
                write!(f, "a pool needs at least one buffer: set count > 0")
            }
            ConfigError::TooManyBuffers { count, max } => {
                write!(
                    f,
                    "pool of {count} buffers exceeds the limit of {max}: use several pools"
                )
            }
            ConfigError::HeadroomTooSmall { headroom, min } => write!(
                f,
                "headroom {headroom} cannot hold a virtio-net header: use at least {min} bytes"
            ),
            ConfigError::BufferTooSmall { data_room, min } => write!(
                f,
                "data room {data_room} cannot hold a minimal frame: use at least {min} bytes"
            ),
            ConfigError::BufferTooLarge {
                headroom,
                data_room,
                max,
            } => write!(
                f,
                "buffer of {headroom} headroom + {data_room} data room is larger than any frame: \
                 keep headroom <= 65535 and data room <= {max}"
            ),
            ConfigError::RingNotPowerOfTwo { size } => {
                write!(
                    f,
                    "ring size {size} is not a power of two: use 64, 256, 1024, ..."
                )
            }
            ConfigError::RingTooLarge { size, max } => {
                write!(f, "ring size {size} exceeds the kernel's limit of {max}")
            }
            ConfigError::BurstBeyondCapacity { burst, capacity } => write!(
                f,
                "burst size {burst} does not fit a burst of capacity {capacity}: \
                 use 1..={capacity} or a larger Burst<N>"
            ),
            ConfigError::PoolTooSmall { ring, pool } => write!(
                f,
                "an Rx ring of {ring} buffers needs a pool of at least {} (it has {pool}): \
                 use a larger pool or a smaller ring",
                2 * u64::from(ring)
            ),
            ConfigError::RegionTooSmall { given, needed } => write!(
                f,
                "memory region of {given} bytes is too small: the pool needs {needed} (Pool::region_size)"
            ),
            ConfigError::OutOfMemory { bytes } => write!(
                f,
                "could not map {bytes} bytes for the pool: use fewer or smaller buffers"
            ),
        }
    }
}

/// A packet operation that does not fit the buffer or the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PktError {
    /// Not enough headroom to prepend.
    NoHeadroom {
        /// Bytes asked for.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Not enough tailroom in the last segment to append.
    NoTailroom {
        /// Bytes asked for.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Asked to remove more bytes than the segment holds.
    TooShort {
        /// Bytes asked for.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Chains must stay within one pool.
    ForeignPool,
    /// The chain would exceed the segment limit.
    TooManySegments {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for PktError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PktError::NoHeadroom { need, have } => write!(
                f,
                "cannot prepend {need} bytes, only {have} bytes of headroom: use a pool with more headroom"
            ),
            PktError::NoTailroom { need, have } => write!(
                f,
                "cannot append {need} bytes, only {have} bytes of tailroom: chain another segment"
            ),
            PktError::TooShort { need, have } => {
                write!(f, "cannot remove {need} bytes from a segment of {have}")
            }
            PktError::ForeignPool => {
                write!(f, "segments of one chain must come from the same pool")
            }
            PktError::TooManySegments { max } => {
                write!(
                    f,
                    "a chain holds at most {max} segments: use a large-buffer pool"
                )
            }
        }
    }
}

/// tapring-core's error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A configuration value cannot work.
    Config(ConfigError),
    /// A packet operation does not fit.
    Pkt(PktError),
    /// A virtio-net header is malformed or a request cannot be expressed.
    Vnet(crate::vnet::VnetError),
    /// The ring refused an operation for good (the queue cannot go on).
    Ring(crate::ring::RingError),
    /// The queue is not started (call `start`) or was torn down.
    NotStarted,
    /// The backend cannot do this; the message names what is missing.
    Unsupported(&'static str),
    /// A system call failed for good (the device is gone, the fd is bad...).
    Os {
        /// What was being done.
        op: &'static str,
        /// The errno.
        errno: i32,
    },
    /// The queue does not exist or was already taken.
    NoSuchQueue {
        /// The queue asked for.
        queue: u16,
        /// Queues the port has.
        count: u16,
    },
    /// Teardown could not get these buffers back from the kernel in time;
    /// they stay reserved (never reused) so the kernel cannot corrupt a
    /// packet. Close the device's fds to make the kernel let go.
    TeardownIncomplete {
        /// Buffers left with the kernel.
        buffers: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Pkt(e) => write!(f, "packet: {e}"),
            Error::Vnet(e) => write!(f, "virtio-net header: {e}"),
            Error::Ring(e) => write!(f, "ring: {e}"),
            Error::NotStarted => write!(f, "queue is not started: call start() first"),
            Error::Unsupported(what) => write!(f, "not supported by this backend: {what}"),
            Error::Os { op, errno } => write!(
                f,
                "{op} failed with errno {errno}: check that the device still exists"
            ),
            Error::NoSuchQueue { queue, count } => write!(
                f,
                "queue {queue} does not exist or was already taken (the port has {count})"
            ),
            Error::TeardownIncomplete { buffers } => write!(
                f,
                "teardown left {buffers} buffers with the kernel (kept reserved, never reused): \
                 close the device to release them"
            ),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<PktError> for Error {
    fn from(e: PktError) -> Self {
        Error::Pkt(e)
    }
}

impl From<crate::vnet::VnetError> for Error {
    fn from(e: crate::vnet::VnetError) -> Self {
        Error::Vnet(e)
    }
}

impl From<crate::ring::RingError> for Error {
    fn from(e: crate::ring::RingError) -> Self {
        Error::Ring(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}
#[cfg(feature = "std")]
impl std::error::Error for PktError {}
#[cfg(feature = "std")]
impl std::error::Error for Error {}
