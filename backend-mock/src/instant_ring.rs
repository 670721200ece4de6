//! [`InstantRing`]: a ring with nothing behind it, for measuring the
//! engine's own cost (see the type's docs).

use std::collections::VecDeque;
use std::time::Duration;
use tapring_core::backend::RawBuf;
use tapring_core::backend::ring::{Cqe, Ring, RingError, Sqe};

/// A [`Ring`] that completes every operation at the next `flush`, with no
/// wire, no copy and no schedule: a write with its length, a read (posted
/// or no-wait) with a frame of a fixed length whose bytes are whatever the
/// buffer held, an input poll at once. `CancelAll` finds nothing to cancel
/// (everything posted before it completes at the same flush) and completes
/// with 0. Provided-buffer groups (multishot) are not supported.
///
/// It does nothing a kernel would, so the engine over it costs its own
/// work per packet plus this ring's bookkeeping (a few ns per operation;
/// the benchmark measures it alone): the yardstick of
/// `cargo bench -p tapring-mock --bench engine`, not a simulation (that is
/// [`SimRing`](crate::SimRing)).
#[derive(Debug)]
pub struct InstantRing {
    /// What a read returns: the frame length it reports.
    frame_len: i32,
    /// Submission queue entries.
    depth: usize,
    /// Posted, not yet flushed: token and result to complete with.
    queued: VecDeque<(u64, i32)>,
    /// Completed, not yet harvested.
    done: VecDeque<Cqe>,
}

impl InstantRing {
    /// A ring of `depth` submission entries (at least 1) whose reads
    /// return frames of `frame_len` bytes (a read into a smaller buffer
    /// reports the frame's length, as a truncating read does).
    pub fn new(depth: usize, frame_len: usize) -> InstantRing {
        assert!(depth > 0, "an InstantRing needs at least one entry");
        InstantRing {
            frame_len: i32::try_from(frame_len).unwrap_or(i32::MAX),
            depth,
            queued: VecDeque::with_capacity(depth),
            done: VecDeque::with_capacity(2 * depth),
        }
    }

    /// Queues one completion, or refuses when the submission queue is full.
    fn queue(&mut self, token: u64, result: i32) -> Result<(), RingError> {
        if self.queued.len() == self.depth {
            return Err(RingError::Full);
        }
        self.queued.push_back((token, result));
        Ok(())
    }

    /// The ring's own bookkeeping for `n` operations, without an engine:
    /// queues `n` completions as `post` does, flushes, and harvests them
    /// into `out` (`n` at most `out.len()` and the depth); how many came
    /// back. The engine benchmark runs it alone so that its cost can be
    /// told apart from the engine's.
    pub fn bookkeeping(&mut self, n: usize, out: &mut [Cqe]) -> usize {
        for token in 0..n as u64 {
            if self.queue(token, 0).is_err() {
                break;
            }
        }
        let _ = self.flush(0);
        self.harvest(out)
    }
}

fn total(segs: &[RawBuf]) -> i32 {
    let n: usize = segs.iter().map(|s| s.len() as usize).sum();
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Ring for InstantRing {
    /// Queues `op`; nothing is read from or written to its buffers.
    unsafe fn post(&mut self, token: u64, op: Sqe<'_>) -> Result<(), RingError> {
        let result = match op {
            Sqe::Write { buf } => i32::try_from(buf.len()).unwrap_or(i32::MAX),
            Sqe::Writev { segs } => total(segs),
            // The frame's length even when the buffer is shorter, as a
            // truncating read reports it (the engine counts it truncated).
            Sqe::Read { .. } | Sqe::ReadNow { .. } | Sqe::Readv { .. } => self.frame_len,
            Sqe::PollIn => 1,
            Sqe::ReadMultishot { .. } => {
                return Err(RingError::Unsupported("multishot reads on an InstantRing"));
            }
            Sqe::CancelAll => 0,
        };
        self.queue(token, result)
    }

    fn flush(&mut self, _wait_for: u32) -> Result<(), RingError> {
        for (token, result) in self.queued.drain(..) {
            self.done.push_back(Cqe {
                token,
                result,
                more: false,
                buffer_id: None,
            });
        }
        Ok(())
    }

    fn harvest(&mut self, out: &mut [Cqe]) -> usize {
        let n = out.len().min(self.done.len());
        for (slot, cqe) in out.iter_mut().zip(self.done.drain(..n)) {
            *slot = cqe;
        }
        n
    }

    fn wait(&mut self, _timeout: Option<Duration>) -> Result<(), RingError> {
        self.flush(0)
    }

    fn register_group(&mut self, _group: u16, _entries: u16) -> Result<(), RingError> {
        Err(RingError::Unsupported("buffer groups on an InstantRing"))
    }

    fn unregister_group(&mut self, _group: u16) -> Result<(), RingError> {
        Ok(())
    }

    unsafe fn provide(&mut self, _group: u16, _bid: u16, _buf: RawBuf) -> Result<(), RingError> {
        Err(RingError::Unsupported("buffer groups on an InstantRing"))
    }

    fn provide_commit(&mut self, _group: u16) {}

    fn supports_multishot(&self) -> bool {
        false
    }

    fn supports_nowait(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapring_core::backend::engine::{EngineConfig, RxEngine, Slot, TxEngine};
    use tapring_core::{Burst, Pool, PoolConfig, RxMode};

    fn pool() -> Pool {
        Pool::new(PoolConfig::standard(512)).unwrap()
    }

    fn rx(pool: &Pool, ring: InstantRing, mode: RxMode) -> RxEngine<InstantRing, Vec<Slot>> {
        let mut rx =
            RxEngine::new(ring, pool, crate::slots(64), mode, EngineConfig::default()).unwrap();
        rx.start().unwrap();
        rx
    }

    #[test]
    fn every_burst_moves_a_full_burst_and_the_pool_stays_whole() {
        let pool = pool();
        let cfg = EngineConfig::default();
        let mut tx = TxEngine::new(InstantRing::new(64, 0), &pool, crate::slots(64), cfg).unwrap();
        tx.start().unwrap();
        let mut rx = rx(&pool, InstantRing::new(64, 60), RxMode::Nowait);
        let (mut out, mut inb): (Burst<32>, Burst<32>) = (Burst::new(), Burst::new());
        for round in 0..100 {
            while !out.is_full() {
                let mut p = tx.alloc().unwrap();
                p.extend_from_slice(&[7u8; 60]).unwrap();
                out.push(p).unwrap();
            }
            assert_eq!(tx.tx_burst(&mut out).unwrap(), 32, "round {round}");
            assert_eq!(rx.rx_burst(&mut inb).unwrap(), 32, "round {round}");
            assert!(inb.iter().all(|p| p.pkt_len() == 60));
            inb.clear();
            // Nothing is left in flight between bursts.
            assert_eq!((tx.in_flight(), rx.in_flight()), (0, 0), "round {round}");
        }
        let (ts, rs) = (*tx.stats(), *rx.stats());
        assert_eq!((ts.packets, rs.packets), (3200, 3200));
        assert_eq!((ts.errors, rs.errors), (0, 0));
        assert_eq!(
            (ts.drops.total(), rs.drops.total()),
            (0, 0),
            "{ts:?} {rs:?}"
        );
        assert_eq!(rs.xstats.spurious, 0);
        tx.stop().unwrap();
        rx.stop().unwrap();
        drop((tx, rx));
        assert_eq!(pool.stats().in_use, 0, "{:?}", pool.stats());
    }

    #[test]
    fn posted_reads_deliver_and_a_stop_with_reads_out_gives_every_buffer_back() {
        let pool = pool();
        // Fewer submission entries than posted reads: posting flushes and
        // retries when the queue is full.
        let mut rx = rx(&pool, InstantRing::new(4, 100), RxMode::Posted);
        let mut inb: Burst<32> = Burst::new();
        let mut got = 0;
        for _ in 0..10 {
            got += rx.rx_burst(&mut inb).unwrap();
            assert!(inb.iter().all(|p| p.pkt_len() == 100));
            inb.clear();
        }
        assert!(got >= 10 * 16, "got {got}");
        assert_eq!(rx.stats().packets, got as u64);
        assert_eq!(rx.stats().drops.total(), 0);
        // Stopped with reads posted.
        rx.stop().unwrap();
        drop(rx);
        assert_eq!(pool.stats().in_use, 0, "{:?}", pool.stats());
    }

    #[test]
    fn bookkeeping_harvests_what_it_queued_up_to_the_depth() {
        let mut r = InstantRing::new(8, 60);
        let mut out = [Cqe::default(); 16];
        assert_eq!(r.bookkeeping(5, &mut out), 5);
        assert_eq!(out[4].token, 4);
        assert_eq!(r.bookkeeping(12, &mut out), 8, "the depth bounds it");
    }

    #[test]
    fn a_frame_longer_than_the_buffer_is_counted_as_truncated() {
        let pool = pool();
        let mut rx = rx(&pool, InstantRing::new(64, 1 << 20), RxMode::Nowait);
        let mut inb: Burst<32> = Burst::new();
        assert_eq!(rx.rx_burst(&mut inb).unwrap(), 0);
        assert!(rx.stats().drops.truncated > 0, "{:?}", rx.stats());
        rx.stop().unwrap();
    }
}
