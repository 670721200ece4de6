//! Configuration of queues, validated up front like the pool's
//! ([`crate::packet::PoolConfig`]): a bad value is a [`ConfigError`] at
//! set-up time.

use crate::packet::ConfigError;

/// The kernel's limit on io_uring submission queue entries (IORING_MAX_ENTRIES).
pub const MAX_RING_ENTRIES: u32 = 32_768;

/// How an Rx queue hands buffers to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxMode {
    /// Pick the best mode the backend and kernel support: no-wait reads
    /// where tun honours `RWF_NOWAIT`, else multishot, else posted reads.
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
}
