//! Configuration of pools and queues, validated up front so that a bad value
//! is a typed error at set-up time, never a surprise on the hot path.

use crate::error::ConfigError;

/// Bytes of the largest virtio-net header (the 12-byte "mergeable" form).
/// Every pool keeps at least this much headroom so a header can always be
/// prepended in place.
pub const VNET_HDR_MAX: u32 = 12;

/// The smallest frame a buffer must hold: an Ethernet frame without FCS.
pub const MIN_FRAME: u32 = 60;

/// Length of an Ethernet header; anything shorter is a runt.
pub const ETH_HDR_LEN: u32 = 14;

/// The largest frame a TAP device hands over with GSO/GRO: 64 KiB of IP
/// packet plus the Ethernet header and a VLAN tag.
pub const MAX_FRAME: u32 = 65_535 + ETH_HDR_LEN + 4;

/// The kernel's limit on io_uring submission queue entries (IORING_MAX_ENTRIES).
pub const MAX_RING_ENTRIES: u32 = 32_768;

/// The most buffers one pool can hold (indices are 32 bits, one value is
/// reserved as "none").
pub const MAX_POOL_BUFFERS: u32 = 1 << 24;

/// Shape of a buffer pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// How many buffers the pool holds.
    pub count: u32,
    /// Bytes available for frame data after the headroom.
    pub data_room: u32,
    /// Bytes reserved in front of the data for headers prepended in place
    /// (at least [`VNET_HDR_MAX`]).
    pub headroom: u32,
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

/// How an Rx queue hands buffers to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxMode {
    /// Pick the best mode the backend and kernel support.
    #[default]
    Auto,
    /// One read request per posted buffer, re-posted after each completion.
    Posted,
    /// One multishot read over a ring of provided buffers.
    Multishot,
    /// Nothing stays posted: each `rx_burst` issues a batch of reads that
    /// must not wait (`RWF_NOWAIT`), which the kernel completes inside the
    /// same submission with a frame or `EAGAIN`. No poll is armed, so the
    /// sender never pays for waking the reader, and an idle queue holds no
    /// buffers. The batch adapts to what the last one found.
    Nowait,
}

/// Shape of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Rx: buffers kept posted to the kernel; Tx: the most transmissions in
    /// flight. A power of two no larger than [`MAX_RING_ENTRIES`].
    pub depth: u32,
    /// The burst size the application uses (checked against the burst
    /// capacity it will pass).
    pub burst: u32,
    /// Rx buffer hand-over mode.
    pub rx_mode: RxMode,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            depth: 256,
            burst: 32,
            rx_mode: RxMode::Auto,
        }
    }
}

impl QueueConfig {
    /// Checks the configuration against the capacity of the bursts the
    /// application will pass.
    pub fn validate(&self, burst_capacity: usize) -> Result<(), ConfigError> {
        if self.depth == 0 || !self.depth.is_power_of_two() {
            return Err(ConfigError::RingNotPowerOfTwo { size: self.depth });
        }
        if self.depth > MAX_RING_ENTRIES {
            return Err(ConfigError::RingTooLarge {
                size: self.depth,
                max: MAX_RING_ENTRIES,
            });
        }
        if self.burst == 0 || self.burst as usize > burst_capacity {
            return Err(ConfigError::BurstBeyondCapacity {
                burst: self.burst,
                capacity: burst_capacity,
            });
        }
        Ok(())
    }
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
    fn bad_queue_configs_are_typed_errors() {
        let ok = QueueConfig::default();
        assert_eq!(ok.validate(32), Ok(()));
        assert_eq!(
            QueueConfig { depth: 100, ..ok }.validate(32),
            Err(ConfigError::RingNotPowerOfTwo { size: 100 })
        );
        assert_eq!(
            QueueConfig { depth: 0, ..ok }.validate(32),
            Err(ConfigError::RingNotPowerOfTwo { size: 0 })
        );
        assert!(matches!(
            QueueConfig {
                depth: 1 << 16,
                ..ok
            }
            .validate(32),
            Err(ConfigError::RingTooLarge { .. })
        ));
        assert!(matches!(
            QueueConfig { burst: 64, ..ok }.validate(32),
            Err(ConfigError::BurstBeyondCapacity {
                burst: 64,
                capacity: 32
            })
        ));
        assert!(matches!(
            QueueConfig { burst: 0, ..ok }.validate(32),
            Err(ConfigError::BurstBeyondCapacity { burst: 0, .. })
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
