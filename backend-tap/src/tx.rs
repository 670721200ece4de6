//! [`TapTxQueue`]: the transmit half of the read/write data path.
//!
//! tun processes a write synchronously in the caller's context, so a
//! packet is finished (sent or counted in a drop reason, and its buffer
//! back in the pool) when `tx_burst` returns: `reclaim` has nothing to do
//! and nothing is ever in flight.
//!
//! Errors, as measured on Linux 6.18: a write to an interface that is down
//! fails with EIO; a frame shorter than an Ethernet header with EINVAL
//! (this queue drops those before writing, as runts). EIO and every other
//! error but EAGAIN/ENOBUFS/EINTR consume the packet and count it in
//! `drops.io_error` with `last_errno` (as the io_uring path consumes a
//! failed write completion), so a down link never wedges a sender.
//! EAGAIN/ENOBUFS (no room in the socket send buffer) stop the burst: the
//! packet stays in the burst, unchanged, for the caller to retry.

use std::io::IoSlice;
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use tapring_core::config::ETH_HDR_LEN;
use tapring_core::pool::MAX_SEGS;
use tapring_core::{BurstSlice, Error, Pkt, Pool, PoolCache, QueueStats, TxQueue};

use crate::options::{CACHE, TapQueueOptions, count_io_error, count_offload};

/// A transmit queue over one TAP queue fd (its own dup of it): one `write`
/// per frame, `writev` for chains, the virtio-net header prepended in the
/// headroom.
///
/// `Send`: move it to the thread that sends. Dropping it closes its fd and
/// returns its cached buffers to the pool.
#[derive(Debug)]
pub struct TapTxQueue {
    fd: OwnedFd,
    cache: PoolCache<CACHE>,
    stats: QueueStats,
    vnet_hdr_len: u32,
    max_frame: u32,
    burst: usize,
    queue: u16,
}

impl TapTxQueue {
    pub(crate) fn new(
        fd: OwnedFd,
        pool: &Pool,
        vnet_hdr_len: u32,
        max_frame: u32,
        queue: u16,
        opts: &TapQueueOptions,
    ) -> TapTxQueue {
        TapTxQueue {
            fd,
            cache: pool.cache(),
            stats: QueueStats::default(),
            vnet_hdr_len,
            max_frame,
            burst: opts.burst.max(1) as usize,
            queue,
        }
    }

    /// The queue number on its port.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// The largest frame sent without a segmentation request.
    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    fn drop_pkt(&mut self, pkt: Pkt, reason: fn(&mut QueueStats)) -> Result<(), Pkt> {
        reason(&mut self.stats);
        self.stats.errors += 1;
        self.cache.free(pkt);
        Ok(())
    }

    /// Sends one packet: `Ok` when it was taken (sent or counted and
    /// freed), `Err(pkt)` to stop the burst with `pkt` unchanged.
    fn send_one(&mut self, mut pkt: Pkt) -> Result<(), Pkt> {
        let len = pkt.pkt_len();
        let off = pkt.offload();
        if len < ETH_HDR_LEN as usize {
            return self.drop_pkt(pkt, |s| s.drops.runt += 1);
        }
        if off.gso.is_none() && len > self.max_frame as usize {
            return self.drop_pkt(pkt, |s| s.drops.oversize += 1);
        }
        if pkt.nb_segs() > MAX_SEGS {
            return self.drop_pkt(pkt, |s| s.drops.too_many_segs += 1);
        }
        let hdr = self.vnet_hdr_len as usize;
        if hdr > 0 {
            let mut bytes = [0u8; 12];
            // The one call of the virtio-net header encoder on Tx.
            if tapring_core::vnet::encode_len(&off, hdr, len, &mut bytes[..hdr]).is_err() {
                return self.drop_pkt(pkt, |s| s.drops.bad_offload += 1);
            }
            match pkt.prepend(hdr) {
                Ok(room) => room.copy_from_slice(&bytes[..hdr]),
                Err(_) => return self.drop_pkt(pkt, |s| s.drops.no_headroom += 1),
            }
        } else if !off.is_none() {
            // Without a virtio-net header the kernel cannot be asked to
            // finish a checksum or segment: the frame would go out wrong.
            return self.drop_pkt(pkt, |s| s.drops.bad_offload += 1);
        }
        let total = pkt.pkt_len();
        let result = loop {
            let r = if pkt.nb_segs() == 1 {
                nix::unistd::write(&self.fd, pkt.data())
            } else {
                let mut iovs: [IoSlice<'_>; MAX_SEGS] = [IoSlice::new(&[]); MAX_SEGS];
                let mut n = 0;
                for (iov, seg) in iovs.iter_mut().zip(pkt.segments()) {
                    *iov = IoSlice::new(seg);
                    n += 1;
                }
                nix::sys::uio::writev(&self.fd, &iovs[..n])
            };
            if r != Err(Errno::EINTR) {
                break r;
            }
        };
        let s = &mut self.stats;
        match result {
            Ok(n) if n == total => {
                s.count_frame(pkt.data().get(hdr..).unwrap_or(&[]), total - hdr);
                count_offload(s, &off);
            }
            Ok(_) => {
                s.errors += 1;
                s.drops.short_write += 1;
            }
            Err(Errno::EAGAIN | Errno::ENOBUFS) => {
                // Cannot fail: the header was prepended above.
                let _ = pkt.adj(hdr);
                return Err(pkt);
            }
            Err(errno) => count_io_error(s, errno),
        }
        self.cache.free(pkt);
        Ok(())
    }
}

impl TxQueue for TapTxQueue {
    /// Writes packets from the front of `burst` (at most
    /// [`TapQueueOptions::burst`]); returns how many it took. Taken packets
    /// were sent, or counted in a drop reason (runt, oversize, bad_offload,
    /// no_headroom, short_write, io_error) and freed. EAGAIN/ENOBUFS stop
    /// the burst and leave the rest, starting with the packet that met it.
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        let mut budget = self.burst;
        Ok(burst.take_prefix(|pkt| {
            if budget == 0 {
                return Err(pkt);
            }
            budget -= 1;
            self.send_one(pkt)
        }))
    }

    /// Nothing to reclaim: writes complete before `tx_burst` returns.
    fn reclaim(&mut self) -> Result<usize, Error> {
        Ok(0)
    }

    /// Always 0: nothing is ever in flight.
    fn in_flight(&self) -> usize {
        0
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<TapTxQueue>();
};
