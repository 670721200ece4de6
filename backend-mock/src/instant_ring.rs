//! [`InstantRing`]: a [`Ring`] that completes every operation at the next
//! `flush`, with no wire, no copy and no schedule: a write with its length,
//! a read (posted or no-wait) with a frame of a fixed length whose bytes are
//! whatever the buffer held. It does nothing a kernel would, so the engine
//! over it costs only its own work per packet: the yardstick of the engine
//! benchmark (`cargo bench -p tapring-mock --bench engine`), not a
//! simulation (that is [`SimRing`](crate::SimRing)).

use std::collections::VecDeque;
use std::time::Duration;
use tapring_core::backend::RawBuf;
use tapring_core::backend::ring::{Cqe, Ring, RingError, Sqe};

/// A ring that completes everything at once (see the module docs).
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
    /// A ring of `depth` submission entries whose reads return frames of
    /// `frame_len` bytes.
    pub fn new(depth: usize, frame_len: usize) -> InstantRing {
        InstantRing {
            frame_len: i32::try_from(frame_len).unwrap_or(i32::MAX),
            depth,
            queued: VecDeque::with_capacity(depth),
            done: VecDeque::with_capacity(2 * depth),
        }
    }

    /// Operations completed and not yet harvested.
    pub fn unharvested(&self) -> usize {
        self.done.len()
    }
}

fn total(segs: &[RawBuf]) -> i32 {
    let n: usize = segs.iter().map(|s| s.len() as usize).sum();
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Ring for InstantRing {
    /// Queues `op`; nothing is read from or written to its buffers.
    unsafe fn post(&mut self, token: u64, op: Sqe<'_>) -> Result<(), RingError> {
        if self.queued.len() == self.depth {
            return Err(RingError::Full);
        }
        let result = match op {
            Sqe::Write { buf } => i32::try_from(buf.len()).unwrap_or(i32::MAX),
            Sqe::Writev { segs } => total(segs),
            Sqe::Read { buf } | Sqe::ReadNow { buf } => self
                .frame_len
                .min(i32::try_from(buf.len()).unwrap_or(i32::MAX)),
            Sqe::Readv { segs } => self.frame_len.min(total(segs)),
            Sqe::PollIn => 1,
            Sqe::ReadMultishot { .. } => {
                return Err(RingError::Unsupported("multishot reads on an InstantRing"));
            }
            Sqe::CancelAll => 0,
        };
        self.queued.push_back((token, result));
        Ok(())
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
    use tapring_core::backend::engine::{EngineConfig, RxEngine, TxEngine};
    use tapring_core::{Burst, Pool, PoolConfig, RxMode};

    fn pool() -> Pool {
        Pool::new(PoolConfig::standard(512)).unwrap()
    }

    #[test]
    fn the_engine_over_it_sends_and_receives_every_packet_and_keeps_the_pool_whole() {
        let pool = pool();
        let cfg = EngineConfig::default();
        let mut tx = TxEngine::new(InstantRing::new(64, 0), &pool, crate::slots(64), cfg).unwrap();
        tx.start().unwrap();
        let mut rx = RxEngine::new(
            InstantRing::new(64, 60),
            &pool,
            crate::slots(64),
            RxMode::Nowait,
            cfg,
        )
        .unwrap();
        rx.start().unwrap();
        let (mut out, mut inb): (Burst<32>, Burst<32>) = (Burst::new(), Burst::new());
        let (mut sent, mut got) = (0, 0);
        for _ in 0..100 {
            while let Some(mut p) = tx.alloc() {
                p.extend_from_slice(&[7u8; 60]).unwrap();
                if out.push(p).is_err() {
                    break;
                }
            }
            sent += tx.tx_burst(&mut out).unwrap();
            got += rx.rx_burst(&mut inb).unwrap();
            assert!(inb.iter().all(|p| p.pkt_len() == 60));
            inb.clear();
        }
        assert_eq!(tx.stats().packets, sent as u64);
        assert_eq!(rx.stats().packets, got as u64);
        assert!(
            sent >= 100 * 31 && got >= 100 * 31,
            "sent {sent}, got {got}"
        );
        out.clear();
        tx.stop().unwrap();
        rx.stop().unwrap();
        drop((tx, rx));
        assert_eq!(pool.stats().in_use, 0, "{:?}", pool.stats());
    }
}
