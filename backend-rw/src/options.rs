//! [`RwOptions`]: how the read/write data path's queues behave, and
//! the helpers both directions share.

use nix::errno::Errno;
use tapring_core::queue::stats::QueueStats;

/// The most buffers one received frame may span (see
/// [`RwOptions::rx_segments`]).
pub const MAX_RX_SEGS: usize = 16;

/// Buffers each queue keeps in its own cache in front of the shared pool
/// (refilled and flushed half a cache at a time).
pub(crate) const CACHE: usize = 64;

/// Options of the queues of a [`RwPort`](crate::RwPort).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RwOptions {
    /// Port number stamped on received packets ([`tapring_core::Pkt::port`]).
    pub port_id: u16,
    /// The most packets one `rx_burst` reads or one `tx_burst` takes
    /// (besides the burst's own room). Bounds the time of one call.
    pub burst: u32,
    /// Buffers one received frame may span: 1 reads each frame into one
    /// buffer (longer frames are cut by the kernel and counted in
    /// `drops.truncated`); up to [`MAX_RX_SEGS`] reads with `readv` into a
    /// chain (for frames larger than a buffer, e.g. GRO with a standard
    /// pool). Every read then takes that many buffers from the pool and
    /// gives back the unused ones at once.
    pub rx_segments: u16,
    /// Tx: the largest frame (without virtio-net header) sent without a
    /// segmentation request; `None` for the MTU (read at open) + 14 + 4 (a
    /// VLAN tag) on a TAP, the MTU alone on a TUN, as the io_uring backend
    /// does. Larger frames are counted
    /// in `drops.oversize` and never written.
    pub max_frame: Option<u32>,
}

/// Setters, one per field: `RwOptions` is `#[non_exhaustive]` (new fields may
/// come), so other crates build one from a constructor and chain these.
impl RwOptions {
    /// With [`RwOptions::port_id`] set to `port_id`.
    pub fn port_id(mut self, port_id: u16) -> Self {
        self.port_id = port_id;
        self
    }

    /// With [`RwOptions::burst`] set to `burst`.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// With [`RwOptions::rx_segments`] set to `rx_segments`.
    pub fn rx_segments(mut self, rx_segments: u16) -> Self {
        self.rx_segments = rx_segments;
        self
    }

    /// With [`RwOptions::max_frame`] set to `max_frame`.
    pub fn max_frame(mut self, max_frame: Option<u32>) -> Self {
        self.max_frame = max_frame;
        self
    }
}

impl Default for RwOptions {
    fn default() -> Self {
        RwOptions {
            port_id: 0,
            burst: 64,
            rx_segments: 1,
            max_frame: None,
        }
    }
}

/// Counts the offload facts of one packet in the extended statistics (as
/// the io_uring engine does).
/// Records a failed system call the way the io_uring engine records a
/// failed completion: one error, one `io_error` drop, the negative errno.
pub(crate) fn count_io_error(stats: &mut QueueStats, errno: Errno) {
    stats.errors += 1;
    stats.drops.io_error += 1;
    stats.last_errno = -(errno as i32);
}

/// The core error for a system call that failed for good.
pub(crate) fn os_error(op: &'static str, errno: Errno) -> tapring_core::Error {
    tapring_core::Error::Os {
        op,
        errno: errno as i32,
    }
}
