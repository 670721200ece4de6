//! Kernel-side traffic: the frames (TAP) or IP packets (TUN) of a set of
//! UDP flows, and an `AF_PACKET` source (qdisc bypass, batched sends) that
//! offers them to an interface, in the calling thread or on the other core.
//! On a TUN device (`ARPHRD_NONE`) what the socket sends is the IP packet
//! itself, so one source serves both modes.

use crate::error::HarnessError;
use crate::lab::cpu::pin;
use std::io::IoSlice;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use tapring::device::DeviceMode;
use tapring_device::link::{BatchScratch, PacketSocket};
use tapring_testkit::{inet_checksum, udp_frame, udp_packet};

/// One UDP packet of flow `flow` carrying `seq`, as a device of `mode`
/// carries it: an Ethernet frame of `size` bytes (TAP), or an IPv4 packet
/// of `size` bytes (TUN: `size` is the IP length, there is no Ethernet
/// header).
pub fn packet(mode: DeviceMode, size: usize, flow: u16, seq: u32) -> Vec<u8> {
    match mode {
        DeviceMode::Tun => udp_packet(size, flow, seq),
        _ => udp_frame(size, flow, seq),
    }
}

/// `n` packets of `size` bytes for a device of `mode` (see [`packet`]), one
/// per UDP flow (so a multi-queue TAP spreads them), each carrying its
/// index as sequence number.
pub fn flows(mode: DeviceMode, size: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| packet(mode, size, i as u16, i as u32))
        .collect()
}

/// The IPv4/UDP packet `packet` (as [`udp_packet`] makes it) sent from
/// `src` to `dst` instead, its IPv4 and UDP checksums recomputed: the
/// routed TUN benchmark needs addresses the kernel forwards.
pub fn readdressed(packet: &[u8], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut p = packet.to_vec();
    if p.len() < 28 || p[0] != 0x45 || p[9] != 17 {
        return p;
    }
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[10..12].fill(0);
    let c = inet_checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let end = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    let udp_len = u16::try_from(end - 20).unwrap_or(u16::MAX);
    p[26..28].fill(0);
    let sum = inet_checksum(&[&p[12..20], &[0, 17], &udp_len.to_be_bytes(), &p[20..end]]);
    // 0 means "no checksum" in UDP over IPv4.
    let sum = if sum == 0 { 0xffff } else { sum };
    p[26..28].copy_from_slice(&sum.to_be_bytes());
    p
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
        let f = flows(DeviceMode::Tap, 128, 8);
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

    #[test]
    fn tun_flows_are_ip_packets_of_the_size_asked() {
        let f = flows(DeviceMode::Tun, 100, 4);
        for (i, x) in f.iter().enumerate() {
            assert_eq!(x.len(), 100);
            assert_eq!(x[0] >> 4, 4, "IPv4 from the first byte");
            assert_eq!(tapring_testkit::udp_packet_seq(x), Some(i as u32));
        }
    }

    #[test]
    fn readdressed_packets_keep_valid_checksums() {
        let p = readdressed(&udp_packet(200, 3, 9), [198, 18, 10, 2], [198, 18, 11, 2]);
        assert_eq!(&p[12..20], &[198, 18, 10, 2, 198, 18, 11, 2]);
        // A header (or a UDP datagram with its pseudo-header) whose checksum
        // is right sums to zero.
        assert_eq!(inet_checksum(&[&p[..20]]), 0);
        let udp_len = u16::try_from(p.len() - 20).unwrap().to_be_bytes();
        assert_eq!(
            inet_checksum(&[&p[12..20], &[0, 17], &udp_len, &p[20..]]),
            0
        );
        assert_eq!(tapring_testkit::udp_packet_seq(&p), Some(9));
    }
}
