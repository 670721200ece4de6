//! Configuration of pools, validated up front so that a bad value is a
//! typed error at set-up time, never a surprise on the hot path, and
//! [`ConfigError`], the error of every configuration check (pools here,
//! queues in [`crate::queue`]).
//!
//! The frame limits a buffer is sized against live here because the pool
//! enforces them; [`crate::wire`] checks at compile time that they agree
//! with the wire formats.

/// Bytes of the largest virtio-net header (the 12-byte "mergeable" form).
/// Every pool keeps at least this much headroom so a header can always be
/// prepended in place.
pub const VNET_HDR_MAX: u32 = 12;

/// The smallest frame a buffer must hold: an Ethernet frame without FCS.
pub const MIN_FRAME: u32 = 60;

/// The largest frame a TAP device hands over with GSO/GRO: 64 KiB of IP
/// packet plus the Ethernet header (14) and a VLAN tag (4).
pub const MAX_FRAME: u32 = 65_535 + 14 + 4;

/// The most buffers one pool can hold (indices are 32 bits, one value is
/// reserved as "none").
pub const MAX_POOL_BUFFERS: u32 = 1 << 24;

/// Shape of a buffer pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// How many buffers the pool holds.
    pub count: u32,
    /// Bytes available for frame data after the headroom.
    pub data_room: u32,
    /// Bytes reserved in front of the data for headers prepended in place
    /// (at least [`VNET_HDR_MAX`]).
    pub headroom: u32,
}

/// Setters, one per field: `PoolConfig` is `#[non_exhaustive]` (new fields may
/// come), so other crates build one from a constructor and chain these.
impl PoolConfig {
    /// With [`PoolConfig::count`] set to `count`.
    pub const fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// With [`PoolConfig::data_room`] set to `data_room`.
    pub const fn data_room(mut self, data_room: u32) -> Self {
        self.data_room = data_room;
        self
    }

    /// With [`PoolConfig::headroom`] set to `headroom`.
    pub const fn headroom(mut self, headroom: u32) -> Self {
        self.headroom = headroom;
        self
    }
}

impl PoolConfig {
    /// A pool of `count` buffers for standard frames (2048-byte data room,
    /// 128 bytes of headroom).
    pub const fn standard(count: u32) -> Self {
        PoolConfig {
            count,
            data_room: 2048,
            headroom: 128,
        }
    }

    /// A pool of `count` buffers large enough for 64 KiB GSO/GRO frames.
    pub const fn large(count: u32) -> Self {
        PoolConfig {
            count,
            data_room: MAX_FRAME + VNET_HDR_MAX,
            headroom: 128,
        }
    }

    /// Checks the configuration; every rule violated is a [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::ZeroBuffers);
        }
        if self.count > MAX_POOL_BUFFERS {
            return Err(ConfigError::TooManyBuffers {
                count: self.count,
                max: MAX_POOL_BUFFERS,
            });
        }
        if self.headroom < VNET_HDR_MAX {
            return Err(ConfigError::HeadroomTooSmall {
                headroom: self.headroom,
                min: VNET_HDR_MAX,
            });
        }
        if self.data_room < MIN_FRAME {
            return Err(ConfigError::BufferTooSmall {
                data_room: self.data_room,
                min: MIN_FRAME,
            });
        }
        if self.headroom > u16::MAX as u32 || self.data_room > 2 * MAX_FRAME {
            return Err(ConfigError::BufferTooLarge {
                headroom: self.headroom,
                data_room: self.data_room,
                max: 2 * MAX_FRAME,
            });
        }
        Ok(())
    }

    /// Bytes one buffer occupies in the region (headroom plus data room,
    /// rounded up to a cache line).
    pub const fn slot_size(&self) -> u32 {
        (self.headroom + self.data_room).div_ceil(64) * 64
    }
}

/// A configuration value that cannot work. Fix the value named in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A pool needs at least one buffer.
    #[error("a pool needs at least one buffer: set count > 0")]
    ZeroBuffers,
    /// More buffers than one pool can index.
    #[error("pool of {count} buffers exceeds the limit of {max}: use several pools")]
    TooManyBuffers {
        /// Requested count.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// The headroom cannot hold what goes in front of a frame (a
    /// virtio-net header, and on a TUN port with packet information its
    /// 4-byte prefix too).
    #[error(
        "headroom {headroom} cannot hold the virtio-net header (and packet information) in front of a frame: use at least {min} bytes"
    )]
    HeadroomTooSmall {
        /// Requested headroom.
        headroom: u32,
        /// The minimum.
        min: u32,
    },
    /// The data room cannot hold a minimal Ethernet frame.
    #[error("data room {data_room} cannot hold a minimal frame: use at least {min} bytes")]
    BufferTooSmall {
        /// Requested data room.
        data_room: u32,
        /// The minimum.
        min: u32,
    },
    /// Headroom or data room beyond what a frame can use.
    #[error(
        "buffer of {headroom} headroom + {data_room} data room is larger than any frame: \
         keep headroom <= 65535 and data room <= {max}"
    )]
    BufferTooLarge {
        /// Requested headroom.
        headroom: u32,
        /// Requested data room.
        data_room: u32,
        /// The largest data room accepted.
        max: u32,
    },
    /// Ring sizes must be powers of two.
    #[error("ring size {size} is not a power of two: use 64, 256, 1024, ...")]
    RingNotPowerOfTwo {
        /// Requested size.
        size: u32,
    },
    /// Ring size beyond the kernel's limit.
    #[error("ring size {size} exceeds the kernel's limit of {max}")]
    RingTooLarge {
        /// Requested size.
        size: u32,
        /// The kernel's limit.
        max: u32,
    },
    /// The burst size exceeds the capacity of the burst container.
    #[error(
        "burst size {burst} does not fit a burst of capacity {capacity}: \
         use 1..={capacity} or a larger Burst<N>"
    )]
    BurstBeyondCapacity {
        /// Requested burst size.
        burst: u32,
        /// Capacity of the burst container.
        capacity: usize,
    },
    /// The pool cannot feed an Rx ring and still leave buffers for received
    /// packets and Tx: a ring may lend at most half the pool.
    #[error(
        "an Rx ring of {ring} buffers needs a pool of at least {} (it has {pool}): \
         use a larger pool or a smaller ring",
        twice(*ring)
    )]
    PoolTooSmall {
        /// Buffers the Rx ring lends to the kernel.
        ring: u32,
        /// Buffers in the pool.
        pool: u32,
    },
    /// The memory handed to the pool is smaller than the pool needs.
    #[error(
        "memory region of {given} bytes is too small: the pool needs {needed} (Pool::region_size)"
    )]
    RegionTooSmall {
        /// Bytes given.
        given: usize,
        /// Bytes needed (see `Pool::region_size`).
        needed: usize,
    },
    /// The operating system refused the pool's memory.
    #[error("could not map {bytes} bytes for the pool: use fewer or smaller buffers")]
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
}

/// Twice `n`, without overflow (the pool size an Rx ring of `n` needs).
fn twice(n: u32) -> u64 {
    2 * u64::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_large_pools_are_valid() {
        assert_eq!(PoolConfig::standard(1024).validate(), Ok(()));
        assert_eq!(PoolConfig::large(64).validate(), Ok(()));
    }

    #[test]
    fn bad_pool_configs_are_typed_errors() {
        let ok = PoolConfig::standard(8);
        assert_eq!(
            PoolConfig { count: 0, ..ok }.validate(),
            Err(ConfigError::ZeroBuffers)
        );
        assert!(matches!(
            PoolConfig { headroom: 4, ..ok }.validate(),
            Err(ConfigError::HeadroomTooSmall { headroom: 4, .. })
        ));
        assert!(matches!(
            PoolConfig {
                data_room: 59,
                ..ok
            }
            .validate(),
            Err(ConfigError::BufferTooSmall { data_room: 59, .. })
        ));
        assert!(matches!(
            PoolConfig {
                count: u32::MAX,
                ..ok
            }
            .validate(),
            Err(ConfigError::TooManyBuffers { .. })
        ));
        assert!(matches!(
            PoolConfig {
                data_room: u32::MAX / 2,
                ..ok
            }
            .validate(),
            Err(ConfigError::BufferTooLarge { .. })
        ));
    }

    #[test]
    fn slot_size_is_cache_line_rounded() {
        let c = PoolConfig {
            count: 1,
            data_room: 100,
            headroom: 12,
        };
        assert_eq!(c.slot_size(), 128);
    }
}
