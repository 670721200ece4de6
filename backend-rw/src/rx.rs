//! [`RwRxQueue`]: the receive half of the read/write data path.
//!
//! # What tun does with a frame larger than the read buffer
//!
//! Measured on Linux 6.18 (and asserted by the test kit's
//! `rx_oversize_frame_is_truncated_and_counted` case): `read(2)` on a TAP
//! queue fd with a buffer shorter than the next frame copies what fits,
//! **returns the buffer's length** (not the frame's, and no EMSGSIZE) and
//! discards the rest of the frame. A buffer shorter than the virtio-net
//! header gives EINVAL and the frame is lost too (never the case here: a
//! buffer always holds the header). A cut frame therefore
//! looks exactly like a frame that fills the buffer: this queue treats a
//! read that fills the whole buffer (`n >= room`) as truncated and counts
//! it in `drops.truncated`. The largest deliverable frame is thus one byte
//! less than the room (pool slot minus headroom plus the virtio-net header,
//! times `rx_segments`), far above MTU + 18 with standard pools.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use tapring_core::backend::FrameFormat;
use tapring_core::backend::ring::errno::means_device_gone;
use tapring_core::{
    BurstSlice, Error, Interest, Pkt, Pool, PoolCache, QueueStats, Readiness, RxQueue, Wakeup,
};

use crate::options::{CACHE, MAX_RX_SEGS, RwOptions, count_io_error, os_error};

/// A receive queue over one TAP queue fd (its own dup of it): a
/// nonblocking `read` (or `readv` into a chain) per frame.
///
/// `Send`: move it to the thread that polls it. Dropping it closes its fd
/// and returns its cached buffers to the pool.
#[derive(Debug)]
pub struct RwRxQueue {
    fd: OwnedFd,
    cache: PoolCache<CACHE>,
    stats: QueueStats,
    /// Framing and prefixes (packet information, virtio-net header) of
    /// every read.
    format: FrameFormat,
    rx_segments: usize,
    burst: usize,
    port: u16,
    queue: u16,
    /// The errno with which a read said the device is gone, once one did.
    gone: Option<i32>,
    /// How the last burst ended, for `arm_wakeup`.
    last_end: BurstEnd,
}

/// Why the last `rx_burst` stopped reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BurstEnd {
    /// The kernel had nothing more (EAGAIN), or the burst was full.
    Drained,
    /// The pool had no buffer: the kernel may hold frames still.
    NoBuffer,
    /// The read budget ran out on dropped frames: more may be queued.
    Budget,
}

/// What one read produced.
enum Read {
    /// A good frame.
    Frame(Pkt),
    /// A frame was consumed and counted as a drop.
    Dropped,
    /// Nothing queued (EAGAIN).
    Empty,
    /// No buffer to read into.
    NoBuf,
    /// The read failed (counted); the errno.
    Failed(Errno),
}

impl RwRxQueue {
    pub(crate) fn new(
        fd: OwnedFd,
        pool: &Pool,
        format: FrameFormat,
        queue: u16,
        opts: &RwOptions,
    ) -> RwRxQueue {
        RwRxQueue {
            fd,
            cache: pool.cache(),
            stats: QueueStats::default(),
            gone: None,
            last_end: BurstEnd::Drained,
            format,
            rx_segments: usize::from(opts.rx_segments).clamp(1, MAX_RX_SEGS),
            burst: opts.burst.max(1) as usize,
            port: opts.port_id,
            queue,
        }
    }

    /// The queue number on its port.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    fn read_one(&mut self) -> Read {
        if self.rx_segments == 1 {
            self.read_single()
        } else {
            self.read_chain()
        }
    }

    /// Reads one frame into one buffer.
    fn read_single(&mut self) -> Read {
        let Some(mut pkt) = self.cache.alloc() else {
            return Read::NoBuf;
        };
        let lead = self.format.prefix_len();
        let _ = pkt.rx_target(lead as u32);
        let room = pkt.tailroom();
        let result = match pkt.append(room) {
            Ok(buf) => {
                // tun leaves the bytes of a 12-byte header past the basic 10
                // (num_buffers) untouched: start the prefixes from zeros.
                buf[..lead].fill(0);
                loop {
                    match nix::unistd::read(&self.fd, buf) {
                        Err(Errno::EINTR) => continue,
                        other => break other,
                    }
                }
            }
            // Unreachable: `room` is exactly the tailroom.
            Err(_) => Ok(0),
        };
        match result {
            Ok(n) => {
                // Cannot fail: n <= room.
                let _ = pkt.trim(room - n.min(room));
                self.judge(pkt, n, room)
            }
            Err(errno) => self.failed(pkt, errno),
        }
    }

    /// Reads one frame into a chain of `rx_segments` buffers (`readv`);
    /// unused buffers go back to the cache.
    fn read_chain(&mut self) -> Read {
        let k = self.rx_segments;
        let mut segs: [Option<Pkt>; MAX_RX_SEGS] = [const { None }; MAX_RX_SEGS];
        for (i, slot) in segs.iter_mut().enumerate().take(k) {
            let Some(mut pkt) = self.cache.alloc() else {
                for p in segs.iter_mut().filter_map(Option::take) {
                    self.cache.free(p);
                }
                return Read::NoBuf;
            };
            let lead = if i == 0 { self.format.prefix_len() } else { 0 };
            let _ = pkt.rx_target(lead as u32);
            *slot = Some(pkt);
        }
        let lead = self.format.prefix_len();
        let mut rooms = [0usize; MAX_RX_SEGS];
        let result = {
            let mut iovs: [IoSliceMut<'_>; MAX_RX_SEGS] =
                core::array::from_fn(|_| IoSliceMut::new(&mut []));
            for (i, (iov, pkt)) in iovs.iter_mut().zip(segs.iter_mut().flatten()).enumerate() {
                let room = pkt.tailroom();
                rooms[i] = room;
                if let Ok(buf) = pkt.append(room) {
                    if i == 0 {
                        buf[..lead].fill(0);
                    }
                    *iov = IoSliceMut::new(buf);
                }
            }
            loop {
                match nix::sys::uio::readv(&self.fd, &mut iovs[..k]) {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            }
        };
        let total_room: usize = rooms[..k].iter().sum();
        let mut head = segs[0].take().expect("first segment allocated above");
        let n = match result {
            Ok(n) => n,
            Err(errno) => {
                for p in segs.iter_mut().filter_map(Option::take) {
                    self.cache.free(p);
                }
                return self.failed(head, errno);
            }
        };
        // Keep what the kernel filled, in order; give back the rest.
        let mut left = n.min(total_room);
        let first = left.min(rooms[0]);
        let _ = head.trim(rooms[0] - first);
        left -= first;
        for (i, slot) in segs.iter_mut().enumerate().take(k).skip(1) {
            let Some(mut seg) = slot.take() else { continue };
            if left == 0 {
                self.cache.free(seg);
                continue;
            }
            let take = left.min(rooms[i]);
            let _ = seg.trim(rooms[i] - take);
            left -= take;
            if let Err((_, seg)) = head.chain(seg) {
                // Unreachable: same pool, at most MAX_RX_SEGS segments.
                self.cache.free(seg);
            }
        }
        self.judge(head, n, total_room)
    }

    /// Classifies a read of `n` bytes into `pkt` (which holds them), of at
    /// most `room` bytes; strips and decodes the virtio-net header.
    fn judge(&mut self, mut pkt: Pkt, n: usize, room: usize) -> Read {
        match tapring_core::backend::rx_prep::accept(&mut pkt, n, room, &self.format) {
            Ok(off) => self.stats.count_offload(&off),
            Err(why) => {
                why.count(&mut self.stats);
                self.cache.free(pkt);
                return Read::Dropped;
            }
        }
        pkt.set_origin(self.port, self.queue);
        let len = pkt.pkt_len();
        self.stats
            .count_framed(self.format.framing, pkt.data(), len);
        Read::Frame(pkt)
    }

    fn failed(&mut self, pkt: Pkt, errno: Errno) -> Read {
        self.cache.free(pkt);
        match errno {
            Errno::EAGAIN => Read::Empty,
            Errno::EMSGSIZE => {
                // Not seen from tun; counted as the io_uring engine does.
                self.stats.errors += 1;
                self.stats.drops.truncated += 1;
                self.stats.last_errno = -(errno as i32);
                Read::Dropped
            }
            errno if means_device_gone(errno as i32) => {
                tracing::warn!(
                    queue = self.queue,
                    errno = errno as i32,
                    "read/write Rx queue: the device is gone; queue stopped"
                );
                self.stats.last_errno = -(errno as i32);
                self.gone = Some(errno as i32);
                // Stopped for good: the cached buffers go back to the pool.
                self.cache.flush();
                Read::Failed(errno)
            }
            errno => {
                count_io_error(&mut self.stats, errno);
                Read::Failed(errno)
            }
        }
    }
}

impl RxQueue for RwRxQueue {
    /// Reads frames until the burst (or [`RwOptions::burst`]) is
    /// full or the kernel has no more (EAGAIN). Runts, truncated frames and
    /// bad virtio-net headers are counted and skipped. When the pool is
    /// empty it stops and counts one `rx_nombuf` (no frame is lost: it stays
    /// queued in the kernel). A failed read is counted (`drops.io_error`)
    /// and ends the burst; it is returned as [`Error::Os`] only when no
    /// packet was appended in this call. A read that says the device is
    /// gone (deleted) returns [`Error::DeviceGone`], now and on every later
    /// call; packets read before it stay in the burst.
    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        if let Some(errno) = self.gone {
            return Err(Error::DeviceGone { errno });
        }
        let want = burst.spare().min(self.burst);
        let mut got = 0;
        let mut reads = 0;
        self.last_end = BurstEnd::Drained;
        while got < want {
            if reads == 2 * want {
                self.last_end = BurstEnd::Budget;
                break;
            }
            reads += 1;
            match self.read_one() {
                Read::Frame(pkt) => {
                    if let Err(pkt) = burst.push(pkt) {
                        // Unreachable: got < spare. Count rather than lose.
                        self.stats.drops.nombuf += 1;
                        self.cache.free(pkt);
                        break;
                    }
                    got += 1;
                }
                Read::Dropped => {}
                Read::Empty => break,
                Read::NoBuf => {
                    self.stats.rx_nombuf += 1;
                    self.last_end = BurstEnd::NoBuffer;
                    break;
                }
                Read::Failed(_) if self.gone.is_some() => break,
                Read::Failed(errno) if got == 0 => return Err(os_error("read", errno)),
                Read::Failed(_) => break,
            }
        }
        if let Some(errno) = self.gone {
            return Err(Error::DeviceGone { errno });
        }
        Ok(got)
    }

    /// `poll(2)` for POLLIN on the queue's fd.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&self.fd),
            PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(errno) => Err(os_error("poll", errno)),
        }
    }

    fn stats(&self) -> QueueStats {
        self.stats
    }

    /// The queue's fd, which is readable while tun holds a frame for it.
    fn readiness(&mut self) -> Result<Readiness, Error> {
        Ok(Readiness {
            fd: self.fd.as_raw_fd(),
            interest: Interest::Readable,
        })
    }

    /// [`Wakeup::Armed`] when the last burst drained the kernel's queue:
    /// the fd itself turns readable with the next frame. Frames may still
    /// wait when it stopped for want of a buffer ([`Wakeup::Starved`]) or
    /// of read budget ([`Wakeup::Pending`]); an edge-triggered waiter would
    /// not hear of those again.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        if let Some(errno) = self.gone {
            return Err(Error::DeviceGone { errno });
        }
        Ok(match self.last_end {
            BurstEnd::Drained => Wakeup::Armed,
            BurstEnd::NoBuffer => Wakeup::Starved,
            BurstEnd::Budget => Wakeup::Pending,
        })
    }

    /// Returns the buffers cached for the next reads to the pool.
    fn release_cached(&mut self) -> usize {
        self.cache.flush()
    }
}

// A queue moves to the thread that drives it.
static_assertions::assert_impl_all!(RwRxQueue: Send);

#[cfg(test)]
mod tests {
    //! The queue logic over a datagram socket pair instead of a TAP fd:
    //! like tun, a unix datagram socket hands over one frame per read and
    //! cuts a frame longer than the buffer, returning the buffer's length.

    use super::*;
    use crate::socket_pair::datagram_pair as pair;
    use tapring_core::{Burst, PoolConfig};

    fn queue(pool: &Pool, fd: OwnedFd, hdr: u32, segs: u16) -> RwRxQueue {
        let opts = RwOptions {
            port_id: 3,
            rx_segments: segs,
            ..RwOptions::default()
        };
        let hdr = tapring_core::VnetHdrLen::try_from(hdr as usize).expect("a test header length");
        RwRxQueue::new(fd, pool, FrameFormat::tap(hdr), 1, &opts)
    }

    fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![fill; len];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f
    }

    fn send(fd: &OwnedFd, bytes: &[u8]) {
        assert_eq!(nix::unistd::write(fd, bytes).unwrap(), bytes.len());
    }

    #[test]
    fn frames_arrive_counted_with_origin_and_empty_is_zero() {
        let pool = Pool::new(PoolConfig::standard(64)).unwrap();
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 0, 1);
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
        send(&b, &frame(60, 1));
        send(&b, &frame(1514, 2));
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 2);
        assert_eq!(burst.get(1).unwrap().data(), &frame(1514, 2)[..]);
        assert_eq!(
            (burst.get(0).unwrap().port(), burst.get(0).unwrap().queue()),
            (3, 1)
        );
        let st = rx.stats();
        assert_eq!((st.packets, st.bytes, st.errors), (2, 1574, 0));
        assert_eq!(st.xstats.unicast, 2);
        burst.clear();
        drop(rx);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn runts_truncated_and_bad_headers_are_counted_not_delivered() {
        let pool = Pool::new(PoolConfig::standard(64).data_room(256).headroom(64)).unwrap();
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 12, 1);
        // Room: slot (320) - (headroom - 12) = 268 bytes.
        let mut hdr_frame = vec![0u8; 12];
        hdr_frame.extend_from_slice(&frame(60, 7));
        send(&b, &hdr_frame[..12 + 13]); // runt: header + 13
        send(&b, &vec![0u8; 268]); // fills the buffer: counted as cut
        send(&b, &vec![0u8; 1000]); // cut by the socket, like tun
        let mut bad = hdr_frame.clone();
        bad[0] = 0xff; // flags the stub decoder rejects
        send(&b, &bad);
        send(&b, &hdr_frame);
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1);
        assert_eq!(burst.get(0).unwrap().data(), &hdr_frame[12..]);
        let st = rx.stats();
        assert_eq!(st.drops.runt, 1);
        assert_eq!(st.drops.truncated, 2);
        assert_eq!(st.drops.bad_vnet_hdr, 1);
        assert_eq!((st.errors, st.packets, st.bytes), (4, 1, 60));
        burst.clear();
        drop(rx);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn stale_num_buffers_bytes_do_not_spoil_the_header() {
        // tun writes only the 10 basic bytes of a 12-byte header.
        let pool = Pool::new(PoolConfig::standard(8)).unwrap();
        let mut p = pool.alloc().unwrap();
        let _ = p.rx_target(12);
        p.extend_from_slice(&[0xee; 100]).unwrap();
        drop(p);
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 12, 1);
        let mut hdr_frame = vec![0u8; 12];
        hdr_frame.extend_from_slice(&frame(60, 7));
        send(&b, &hdr_frame);
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1);
        assert_eq!(rx.stats().drops.total(), 0);
    }

    #[test]
    fn empty_pool_stops_and_counts_nombuf_once_without_losing_the_frame() {
        let pool = Pool::new(PoolConfig::standard(4)).unwrap();
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 0, 1);
        let hoard: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        send(&b, &frame(60, 1));
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 0);
        let st = rx.stats();
        assert_eq!((st.rx_nombuf, st.drops.nombuf, st.errors), (1, 0, 0));
        drop(hoard);
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1, "the frame waited");
    }

    #[test]
    fn chains_take_as_many_buffers_as_the_frame_needs() {
        let pool = Pool::new(PoolConfig::standard(64).data_room(256).headroom(64)).unwrap();
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 12, 4);
        // Rooms: first 268 (incl. 12 header), then 256 each.
        let mut big = vec![0u8; 12];
        big.extend((0..700u32).map(|i| i as u8));
        send(&b, &big);
        let mut small = vec![0u8; 12];
        small.extend_from_slice(&frame(60, 9));
        send(&b, &small);
        send(&b, &vec![0u8; 268 + 3 * 256]); // fills all four: cut
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 2);
        let p = burst.get(0).unwrap();
        assert_eq!((p.pkt_len(), p.nb_segs()), (700, 3));
        let bytes: Vec<u8> = p.segments().flatten().copied().collect();
        assert_eq!(bytes, &big[12..]);
        assert_eq!(burst.get(1).unwrap().nb_segs(), 1);
        assert_eq!(rx.stats().drops.truncated, 1);
        burst.clear();
        drop(rx);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn wait_returns_on_timeout_and_on_data() {
        let pool = Pool::new(PoolConfig::standard(8)).unwrap();
        let (a, b) = pair();
        let mut rx = queue(&pool, a, 0, 1);
        rx.wait(Some(Duration::from_millis(1))).unwrap();
        send(&b, &frame(60, 1));
        rx.wait(None).unwrap();
        let mut burst: Burst<8> = Burst::new();
        assert_eq!(rx.rx_burst(&mut burst).unwrap(), 1);
    }
}
