//! Kernel-side traffic: the frames of a set of UDP flows, and an
//! `AF_PACKET` source (qdisc bypass, batched sends) that offers them to an
//! interface, in the calling thread or on the other core.

use crate::error::HarnessError;
use crate::lab::cpu::pin;
use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use tapring_device::link::{BatchScratch, PacketSocket};
use tapring_testkit::udp_frame;

/// `n` frames of `size` bytes, one per UDP flow (so a multi-queue TAP
/// spreads them), each carrying its index as sequence number.
pub fn flows(size: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| udp_frame(size, i as u16, i as u32))
        .collect()
}

/// The frames as the slices a [`Source`] sends (build once, send often).
pub fn io_slices(frames: &[Vec<u8>]) -> Vec<IoSlice<'_>> {
    frames.iter().map(|f| IoSlice::new(f)).collect()
}

/// A pure source of frames into one interface: an `AF_PACKET` socket that
/// receives nothing and skips the qdisc layer, sending in batches.
pub struct Source {
    sock: PacketSocket,
    scratch: BatchScratch,
}

impl Source {
    /// A source into interface `ifindex` sending batches of up to `batch`.
    pub fn new(ifindex: u32, batch: usize) -> Result<Source, HarnessError> {
        let sock = PacketSocket::send_only(ifindex)?;
        sock.bypass_qdisc()?;
        Ok(Source {
            sock,
            scratch: BatchScratch::new(batch),
        })
    }

    /// Sends one batch of `frames` (as many as fit); how many the kernel
    /// took (0 while the device queue is full).
    pub fn send(&mut self, frames: &[IoSlice<'_>]) -> Result<usize, HarnessError> {
        Ok(self.sock.send_batch(frames, &mut self.scratch)?)
    }
}

/// A [`Source`] on core 1 sending `frames` into `ifindex` as fast as it
/// can until `stop`, counting what the kernel took in `sent`.
pub fn spawn_source(
    ifindex: u32,
    frames: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> JoinHandle<Result<(), HarnessError>> {
    std::thread::spawn(move || {
        pin(1);
        let slices = io_slices(&frames);
        let mut src = Source::new(ifindex, slices.len())?;
        while !stop.load(Ordering::Relaxed) {
            let n = src.send(&slices)?;
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_distinct_frames_of_the_size_asked() {
        let f = flows(128, 8);
        assert_eq!(f.len(), 8);
        assert!(f.iter().all(|x| x.len() == 128));
        for (i, x) in f.iter().enumerate() {
            assert_eq!(tapring_testkit::udp_frame_seq(x), Some(i as u32));
        }
        assert_eq!(
            io_slices(&f).iter().map(|s| s.len()).sum::<usize>(),
            8 * 128
        );
    }
}
