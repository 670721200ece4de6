//! The completion-driven queue engine: Rx and Tx state machines generic over
//! a [`Ring`](crate::backend::ring::Ring).
//!
//! It owns the in-flight table (token <-> buffer) and implements everything
//! about a completion-based TAP queue that is not a syscall: posting and
//! re-posting reads, multishot re-arming, classifying results, counting,
//! reaping transmissions by in-flight count, and teardown that waits until
//! every buffer is back. `tapring-uring` runs it over io_uring and
//! `tapring-mock` over a simulated kernel, so the property tests exercise
//! the production logic.

mod inflight;
mod lend;
pub mod mutation;
mod rx;
mod tx;

pub use inflight::{InflightTable, ParkedTable, Slot};
pub use rx::RxEngine;
pub use tx::TxEngine;

use crate::backend::FrameFormat;
use crate::packet::ConfigError;
use crate::queue::Error;
use crate::wire::{ETH_HDR_LEN, Framing, VnetHdrLen};

/// Completions harvested per ring call.
pub(crate) const HARVEST: usize = 64;

/// Token of the armed multishot read.
pub(crate) const MULTISHOT_TOKEN: u64 = u64::MAX - 1;

/// Token of the one-shot input poll armed by a waiting no-wait queue.
pub(crate) const POLL_TOKEN: u64 = u64::MAX - 2;

/// Token of the cancel-everything request.
pub(crate) const CANCEL_TOKEN: u64 = u64::MAX;

/// How many times teardown waits for outstanding completions (1 ms each)
/// before it gives up and leaves the remaining buffers to the kernel.
pub(crate) const DRAIN_ROUNDS: u32 = 2000;

/// Teardown repeats its cancel request after this many idle rounds.
pub(crate) const CANCEL_EVERY: u32 = 5;

/// Asks the kernel to cancel everything in flight on `ring`, now.
pub(crate) fn cancel_all<R: crate::backend::ring::Ring>(ring: &mut R) -> Result<(), Error> {
    use crate::backend::ring::{RingError, Sqe};
    let mut r = lend::post(ring, CANCEL_TOKEN, Sqe::CancelAll);
    if r == Err(RingError::Full) {
        ring.flush(0)?;
        r = lend::post(ring, CANCEL_TOKEN, Sqe::CancelAll);
    }
    r?;
    ring.flush(0)?;
    Ok(())
}

/// Settings of one engine (one queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Length of the virtio-net header on every frame.
    pub vnet_hdr_len: VnetHdrLen,
    /// Tx: the largest frame (without virtio-net header) sent without a
    /// segmentation request: MTU + 14 (+ 4 for a VLAN tag) on a TAP, the
    /// MTU on a TUN ([`Framing::max_frame`]).
    pub max_frame: u32,
    /// What frames start with: Ethernet (TAP) or the IP header (TUN).
    pub framing: Framing,
    /// The kernel's 4-byte packet information comes before the virtio-net
    /// header (a device opened without `IFF_NO_PI`).
    pub packet_info: bool,
    /// Port number stamped on received packets.
    pub port: u16,
    /// Queue number stamped on received packets.
    pub queue: u16,
    /// Provided-buffer group id for multishot reads.
    pub buffer_group: u16,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            vnet_hdr_len: VnetHdrLen::None,
            max_frame: 1500 + ETH_HDR_LEN + 4,
            framing: Framing::Ethernet,
            packet_info: false,
            port: 0,
            queue: 0,
            buffer_group: 0,
        }
    }
}

impl EngineConfig {
    /// The framing and prefixes of every read and write.
    pub fn format(&self) -> FrameFormat {
        FrameFormat {
            framing: self.framing,
            packet_info: self.packet_info,
            vnet_hdr_len: self.vnet_hdr_len,
        }
    }

    /// The bytes in front of each frame on the fd (packet information and
    /// virtio-net header), as buffer offsets count.
    pub(crate) fn hdr_len(&self) -> u32 {
        self.format().prefix_len() as u32
    }

    pub(crate) fn validate(&self, depth: usize) -> Result<(), Error> {
        if depth == 0 || !depth.is_power_of_two() {
            return Err(ConfigError::RingNotPowerOfTwo { size: depth as u32 }.into());
        }
        if depth > crate::queue::MAX_RING_ENTRIES as usize {
            return Err(ConfigError::RingTooLarge {
                size: depth as u32,
                max: crate::queue::MAX_RING_ENTRIES,
            }
            .into());
        }
        Ok(())
    }
}
