//! [`RwTxQueue`]: the transmit half of the read/write data path.
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
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use tapring_core::backend::FrameFormat;
use tapring_core::backend::ring::errno::means_device_gone;
use tapring_core::backend::tx_prep::{self, TxLimits};
use tapring_core::packet::MAX_SEGS;
use tapring_core::{
    BurstSlice, Error, Interest, Pkt, Pool, PoolCache, QueueStats, Readiness, TxQueue, Wakeup,
};

use crate::options::{CACHE, RwOptions, count_io_error};

/// A transmit queue over one TAP queue fd (its own dup of it): one `write`
/// per frame, `writev` for chains, the virtio-net header prepended in the
/// headroom.
///
/// `Send`: move it to the thread that sends. Dropping it closes its fd and
/// returns its cached buffers to the pool.
#[derive(Debug)]
pub struct RwTxQueue {
    fd: OwnedFd,
    cache: PoolCache<CACHE>,
    stats: QueueStats,
    /// Framing and prefixes (packet information, virtio-net header) of
    /// every write.
    format: FrameFormat,
    max_frame: u32,
    burst: usize,
    queue: u16,
    /// The last write met a full device (EAGAIN/ENOBUFS).
    blocked: bool,
    /// The errno with which a write said the device is gone, once one did.
    gone: Option<i32>,
}

impl RwTxQueue {
    pub(crate) fn new(
        fd: OwnedFd,
        pool: &Pool,
        format: FrameFormat,
        max_frame: u32,
        queue: u16,
        opts: &RwOptions,
    ) -> RwTxQueue {
        RwTxQueue {
            fd,
            cache: pool.cache(),
            stats: QueueStats::default(),
            format,
            max_frame,
            burst: opts.burst.max(1) as usize,
            queue,
            blocked: false,
            gone: None,
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

    /// Sends one packet: `Ok` when it was taken (sent or counted and
    /// freed), `Err(pkt)` to stop the burst with `pkt` unchanged.
    fn send_one(&mut self, mut pkt: Pkt) -> Result<(), Pkt> {
        let limits = TxLimits {
            format: self.format,
            max_frame: self.max_frame as usize,
            max_segs: MAX_SEGS,
        };
        if let Err(why) = tx_prep::prepare(&mut pkt, &limits) {
            why.count(&mut self.stats);
            self.cache.free(pkt);
            return Ok(());
        }
        let (hdr, off) = (limits.format.prefix_len(), pkt.offload());
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
        self.blocked = false;
        let s = &mut self.stats;
        match result {
            Ok(n) if n == total => {
                let frame = pkt.data().get(hdr..).unwrap_or(&[]);
                s.count_framed(self.format.framing, frame, total - hdr);
                s.count_offload(&off);
            }
            Ok(_) => {
                s.errors += 1;
                s.drops.short_write += 1;
            }
            Err(Errno::EAGAIN | Errno::ENOBUFS) => {
                tx_prep::unprepare(&mut pkt, &limits);
                self.blocked = true;
                return Err(pkt);
            }
            Err(errno) if means_device_gone(errno as i32) => {
                tracing::warn!(
                    queue = self.queue,
                    errno = errno as i32,
                    "read/write Tx queue: the device is gone; queue stopped"
                );
                // Not sent and not the frame's fault: hand it back.
                tx_prep::unprepare(&mut pkt, &limits);
                s.last_errno = -(errno as i32);
                self.gone = Some(errno as i32);
                return Err(pkt);
            }
            Err(errno) => count_io_error(s, errno),
        }
        self.cache.free(pkt);
        Ok(())
    }
}

impl TxQueue for RwTxQueue {
    /// Writes packets from the front of `burst` (at most
    /// [`RwOptions::burst`]); returns how many it took. Taken packets
    /// were sent, or counted in a drop reason (runt, oversize, bad_offload,
    /// no_headroom, short_write, io_error) and freed. EAGAIN/ENOBUFS stop
    /// the burst and leave the rest, starting with the packet that met it.
    ///
    /// A write that says the device is gone (deleted) returns
    /// [`Error::DeviceGone`], now and on every later call, with that packet
    /// and the rest left in the burst.
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        if let Some(errno) = self.gone {
            return Err(Error::DeviceGone { errno });
        }
        let mut budget = self.burst;
        let taken = burst.take_prefix(|pkt| {
            if budget == 0 {
                return Err(pkt);
            }
            budget -= 1;
            self.send_one(pkt)
        });
        match self.gone {
            Some(errno) => {
                // Stopped for good: the cached buffers go back to the pool.
                self.cache.flush();
                Err(Error::DeviceGone { errno })
            }
            None => Ok(taken),
        }
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

    /// The queue's fd, for writability.
    fn readiness(&mut self) -> Result<Readiness, Error> {
        Ok(Readiness {
            fd: self.fd.as_raw_fd(),
            interest: Interest::Writable,
        })
    }

    /// [`Wakeup::Armed`] only after a write met a full device (EAGAIN or
    /// ENOBUFS): the fd turns writable when there is room again. Otherwise
    /// the next write can go now.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        Ok(if self.blocked {
            Wakeup::Armed
        } else {
            Wakeup::Pending
        })
    }

    /// Returns the buffers of finished writes kept in the cache to the pool.
    fn release_cached(&mut self) -> usize {
        self.cache.flush()
    }

    /// A buffer of an earlier write from the cache, else from the pool.
    fn alloc(&mut self) -> Option<Pkt> {
        self.cache.alloc()
    }
}

// A queue moves to the thread that drives it.
static_assertions::assert_impl_all!(RwTxQueue: Send);

#[cfg(test)]
mod tests {
    //! The queue logic over a datagram socket pair instead of a TAP fd:
    //! one write per frame, EAGAIN when the peer's queue is full.

    use super::*;
    use crate::socket_pair::datagram_pair as pair;
    use tapring_core::{Burst, PoolConfig};
    use tapring_core::{Checksum, Offload, VnetHdrLen};

    fn queue(pool: &Pool, fd: OwnedFd, hdr: u32) -> RwTxQueue {
        let hdr = VnetHdrLen::try_from(hdr as usize).expect("a test header length");
        RwTxQueue::new(
            fd,
            pool,
            FrameFormat::tap(hdr),
            1518,
            0,
            &RwOptions::default(),
        )
    }

    fn pkt(pool: &Pool, len: usize, fill: u8) -> Pkt {
        let mut p = pool.alloc().unwrap();
        p.extend_from_slice(&vec![fill; len]).unwrap();
        p
    }

    fn recv(fd: &OwnedFd) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 70_000];
        match nix::unistd::read(fd, &mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(Errno::EAGAIN) => None,
            Err(e) => panic!("read: {e}"),
        }
    }

    #[test]
    fn header_is_prepended_and_chains_go_out_whole() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let (a, b) = pair();
        let mut tx = queue(&pool, a, 12);
        let mut chain = pkt(&pool, 100, 1);
        chain.chain(pkt(&pool, 50, 2)).map_err(|(e, _)| e).unwrap();
        chain.chain(pkt(&pool, 10, 3)).map_err(|(e, _)| e).unwrap();
        let mut burst: Burst<4> = Burst::new();
        burst.push(pkt(&pool, 60, 9)).unwrap();
        burst.push(chain).unwrap();
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 2);
        let first = recv(&b).unwrap();
        assert_eq!((first.len(), &first[..12]), (72, &[0u8; 12][..]));
        let second = recv(&b).unwrap();
        assert_eq!(second.len(), 12 + 160);
        assert_eq!(
            &second[12..],
            [vec![1u8; 100], vec![2; 50], vec![3; 10]].concat()
        );
        let st = tx.stats();
        assert_eq!((st.packets, st.bytes), (2, 220));
        assert_eq!((tx.reclaim().unwrap(), tx.in_flight()), (0, 0));
        drop(tx);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn eagain_stops_with_a_consumed_prefix_and_the_packet_unchanged() {
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let (a, b) = pair();
        nix::sys::socket::setsockopt(&a, nix::sys::socket::sockopt::SndBuf, &4096).unwrap();
        let mut tx = queue(&pool, a, 12);
        let mut burst: Burst<64> = Burst::new();
        for i in 0..64 {
            burst.push(pkt(&pool, 60, i)).unwrap();
        }
        let n = tx.tx_burst(&mut burst).unwrap();
        assert!(n > 0 && n < 64, "the peer's queue fills: took {n}");
        assert_eq!(burst.len(), 64 - n);
        let head = burst.get(0).unwrap();
        assert_eq!(head.data(), &[n as u8; 60][..], "header taken off again");
        assert_eq!(head.headroom(), 128);
        assert_eq!(tx.stats().packets, n as u64);
        assert_eq!(tx.stats().drops.total(), 0);
        while recv(&b).is_some() {}
        let m = tx.tx_burst(&mut burst).unwrap();
        assert!(m > 0, "retry goes on");
        assert_eq!(recv(&b).unwrap()[12], n as u8, "in order");
    }

    #[test]
    fn drops_are_counted_consumed_and_never_written() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let (a, b) = pair();
        let mut tx = queue(&pool, a, 0);
        let mut burst: Burst<8> = Burst::new();
        burst.push(pkt(&pool, 13, 1)).unwrap(); // runt
        burst.push(pkt(&pool, 1519, 2)).unwrap(); // oversize
        let mut csum = pkt(&pool, 60, 3);
        csum.set_offload(Offload {
            csum: Checksum::Partial {
                start: 34,
                offset: 6,
            },
            gso: None,
        });
        burst.push(csum).unwrap(); // offload without a vnet header
        burst.push(pkt(&pool, 1518, 4)).unwrap(); // largest allowed
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 4);
        let st = tx.stats();
        assert_eq!(
            (st.drops.runt, st.drops.oversize, st.drops.bad_offload),
            (1, 1, 1)
        );
        assert_eq!((st.errors, st.packets, st.bytes), (3, 1, 1518));
        assert_eq!(recv(&b).unwrap().len(), 1518);
        assert_eq!(recv(&b), None, "nothing else written");
    }

    #[test]
    fn a_failing_fd_consumes_and_counts_io_errors() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let (a, b) = pair();
        drop(b);
        let mut tx = queue(&pool, a, 0);
        let mut burst: Burst<4> = Burst::new();
        burst.push(pkt(&pool, 60, 1)).unwrap();
        burst.push(pkt(&pool, 60, 2)).unwrap();
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 2);
        let st = tx.stats();
        assert_eq!((st.drops.io_error, st.errors, st.packets), (2, 2, 0));
        assert!(st.last_errno < 0);
        drop(tx);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn burst_option_caps_one_call() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let (a, _b) = pair();
        let opts = RwOptions {
            burst: 2,
            ..RwOptions::default()
        };
        let format = FrameFormat::tap(VnetHdrLen::None);
        let mut tx = RwTxQueue::new(a, &pool, format, 1518, 0, &opts);
        let mut burst: Burst<4> = Burst::new();
        for i in 0..3 {
            burst.push(pkt(&pool, 60, i)).unwrap();
        }
        assert_eq!(tx.tx_burst(&mut burst).unwrap(), 2);
        assert_eq!(burst.get(0).unwrap().data()[0], 2);
    }
}
