//! Configuration of queues, validated up front like the pool's
//! ([`crate::packet::PoolConfig`]): a bad value is a [`ConfigError`] at
//! set-up time.

use crate::packet::ConfigError;

/// The kernel's limit on io_uring submission queue entries (IORING_MAX_ENTRIES).
pub const MAX_RING_ENTRIES: u32 = 32_768;

/// How an Rx queue hands buffers to the kernel. `FromStr` and `Display`
/// use the lower-case names (`auto`, `posted`, `multishot`, `nowait`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
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

impl RxMode {
    /// Every mode, `Auto` first.
    pub const ALL: [RxMode; 4] = [
        RxMode::Auto,
        RxMode::Posted,
        RxMode::Multishot,
        RxMode::Nowait,
    ];

    /// The name `Display` prints and `FromStr` accepts.
    pub const fn name(self) -> &'static str {
        match self {
            RxMode::Auto => "auto",
            RxMode::Posted => "posted",
            RxMode::Multishot => "multishot",
            RxMode::Nowait => "nowait",
        }
    }
}

impl core::fmt::Display for RxMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name [`RxMode`]'s `FromStr` does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown Rx mode: use auto, posted, multishot or nowait")]
pub struct ParseRxModeError;

impl core::str::FromStr for RxMode {
    type Err = ParseRxModeError;

    fn from_str(s: &str) -> Result<RxMode, ParseRxModeError> {
        RxMode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
            .or_else(|| s.eq_ignore_ascii_case("no-wait").then_some(RxMode::Nowait))
            .ok_or(ParseRxModeError)
    }
}

/// Shape of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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

/// Setters, one per field: `QueueConfig` is `#[non_exhaustive]` (new fields may
/// come), so other crates build one from a constructor and chain these.
impl QueueConfig {
    /// A queue shape from its three parts.
    pub const fn new(depth: u32, burst: u32, rx_mode: RxMode) -> Self {
        QueueConfig {
            depth,
            burst,
            rx_mode,
        }
    }

    /// With [`QueueConfig::depth`] set to `depth`.
    pub const fn depth(mut self, depth: u32) -> Self {
        self.depth = depth;
        self
    }

    /// With [`QueueConfig::burst`] set to `burst`.
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// With [`QueueConfig::rx_mode`] set to `rx_mode`.
    pub const fn rx_mode(mut self, rx_mode: RxMode) -> Self {
        self.rx_mode = rx_mode;
        self
    }
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
    #[test]
    fn rx_mode_names_round_trip() {
        use std::string::ToString;
        for m in super::RxMode::ALL {
            assert_eq!(m.to_string().parse::<super::RxMode>(), Ok(m));
        }
        assert_eq!(
            "NO-WAIT".parse::<super::RxMode>(),
            Ok(super::RxMode::Nowait)
        );
        assert!("poll".parse::<super::RxMode>().is_err());
    }

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
