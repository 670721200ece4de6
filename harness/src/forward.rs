//! Forwarding set-up shared by `tapring fwd` and `tapring selftest`: ring
//! sizes and pool sizes for a forwarder, and the one-line drop summary.
//! The forwarder itself is the library's [`tapring::Forwarder`].

use crate::error::HarnessError;
use tapring::QueueStats;

/// io_uring ring sizes for a forwarder: with offloads every buffer holds a
/// 64 KiB frame, so rings lend fewer of them.
pub fn uring_tuning(offload: bool) -> crate::backends::UringTuning {
    let mut t = crate::backends::UringTuning::default();
    if offload {
        t.rx_depth = LARGE_RING;
        t.multishot_buffers = LARGE_RING;
        t.tx_depth = LARGE_RING;
    }
    t
}

/// Ring size (Rx lending, Tx in flight) with 64 KiB buffers.
const LARGE_RING: u32 = 128;

/// A pool large enough for a forwarder over `ports` ports of `queues`
/// queues each: every io_uring Rx ring may lend up to 2048 buffers (and at
/// most half the pool), every Tx ring holds up to 256 in flight, plus
/// bursts in hand and per-queue caches. With offloads the buffers hold
/// 64 KiB frames and the rings are smaller (see [`uring_tuning`]); the
/// memory is mapped lazily, so untouched buffers cost nothing.
pub fn pool_for(ports: usize, queues: usize, offload: bool) -> Result<tapring::Pool, HarnessError> {
    let rings = (ports * queues) as u32;
    let cfg = if offload {
        tapring::PoolConfig::large((rings * 4 * LARGE_RING + 1024).max(2048))
    } else {
        tapring::PoolConfig::standard((rings * (2048 + 256) + 4096).max(16_384))
    };
    tapring::Pool::new(cfg).map_err(|e| {
        HarnessError::Backend(format!(
            "buffer pool of {} x {} bytes: {e}",
            cfg.count, cfg.data_room
        ))
    })
}

/// One line of the drop reasons of `s` that are not zero ("none" if all are).
pub fn drop_summary(s: &QueueStats) -> String {
    let parts: Vec<String> = s
        .named()
        .iter()
        .filter(|(name, v)| *v > 0 && (name.starts_with("drop_") || *name == "rx_nombuf"))
        .map(|(name, v)| format!("{}={v}", name.trim_start_matches("drop_")))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}
