//! [`SimRing`]: a deterministic simulated kernel behind the
//! [`Ring`] trait.
//!
//! Semantics, modelled on io_uring over a tun fd:
//!
//! - Operations posted with [`Ring::post`] sit in the submission queue
//!   (bounded: `post` answers [`RingError::Full`]) until [`Ring::flush`].
//! - A posted read stays pending in the kernel until a frame is queued on
//!   the wire; frames go to pending reads in arrival order, and their
//!   completions enter the completion queue in that order. A read copies
//!   `min(frame, buffer)` bytes and completes with the *frame's* length, so a
//!   frame larger than the buffer completes with a result larger than the
//!   buffer ("truncated", as with `MSG_TRUNC`).
//! - A multishot read takes provided buffers first in, first out and
//!   completes once per frame with `more: true` and the buffer id; a frame
//!   with no buffer provided ends it with `-ENOBUFS, more: false`.
//!   Provided buffers stay with the kernel until a read consumes them, also
//!   after the multishot read ended (as in an io_uring buffer ring).
//! - A no-wait read ([`Sqe::ReadNow`]) is decided at `flush`: it takes
//!   the head frame if one is queued, and completes with `-EAGAIN`
//!   otherwise (the same faults apply as to posted reads).
//! - An input poll ([`Sqe::PollIn`]) completes once (result 1, `POLLIN`)
//!   as soon as a frame is queued.
//! - Writes are synchronous, as on tun: at `flush` the frame (segments
//!   concatenated) goes to the wire and the write completes with its length.
//! - `CancelAll` completes every pending read and poll with `-ECANCELED`
//!   (multishot: `more: false`), then completes the cancel itself with the number
//!   cancelled.
//! - The completion queue is bounded; completions beyond it wait, in order,
//!   in an overflow list and are delivered later (io_uring's NODROP).
//! - A seeded [`Schedule`] decides when completions become visible to
//!   [`Ring::harvest`]; it delays but never reorders. [`Ring::wait`] makes
//!   everything visible at once: there is no clock, no thread, no sleep.
//! - Faults come from the wire's script ([`SimWire::script_read`], ...) and
//!   from per-mille [`FaultRates`] drawn from the seed.

use crate::sim_memory::{self, Buf};
use crate::wire::{ReadFault, SimWire, WireState, WriteFault};
use std::collections::VecDeque;
use std::time::Duration;
use tapring_core::backend::RawBuf;
use tapring_core::backend::ring::{Cqe, Ring, RingError, Sqe, errno};

/// Most segments of a pending scattering read (`Readv` with more completes
/// with `-EINVAL`).
pub const READV_MAX: usize = 4;

/// When completions become visible to [`Ring::harvest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// As soon as the kernel produces them.
    Immediate,
    /// Each after a random number (0..=`max_delay`) of ring calls (flush
    /// and harvest), never overtaking an earlier one.
    Delayed {
        /// The longest delay, in ring calls.
        max_delay: u32,
    },
    /// In batches, every `period` ring calls.
    Batched {
        /// Ring calls between batches.
        period: u32,
    },
}

/// Per-mille probabilities of random faults, drawn from the ring's seed.
/// Scripted faults ([`SimWire::script_read`]) come first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRates {
    /// A read gets [`ReadFault::Again`].
    pub read_again: u16,
    /// A read gets [`ReadFault::Io`].
    pub read_io: u16,
    /// A read gets [`ReadFault::Short`] of 1..=13 bytes (a runt).
    pub read_runt: u16,
    /// A multishot read gets [`ReadFault::NoBufs`].
    pub read_nobufs: u16,
    /// A posted read's completion is delivered twice.
    pub read_duplicate: u16,
    /// A write gets [`WriteFault::Io`].
    pub write_io: u16,
    /// A write is cut to 6..=13 bytes ([`WriteFault::Short`]).
    pub write_short: u16,
    /// A write's completion is delivered twice.
    pub write_duplicate: u16,
    /// A cancel races with up to 4 completions (see
    /// [`SimWire::race_next_cancel`]).
    pub cancel_race: u16,
}

/// Shape and behaviour of one simulated ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed of the scheduler and of the random faults.
    pub seed: u64,
    /// Submission queue entries.
    pub sq_entries: usize,
    /// Completion queue entries (beyond them completions overflow, in order).
    pub cq_entries: usize,
    /// Whether multishot reads with provided buffers are supported.
    pub multishot: bool,
    /// Whether no-wait reads ([`Sqe::ReadNow`]) are supported.
    pub nowait: bool,
    /// When completions become visible.
    pub schedule: Schedule,
    /// Random faults.
    pub faults: FaultRates,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0x7a9_0001,
            sq_entries: 256,
            cq_entries: 512,
            multishot: true,
            nowait: true,
            schedule: Schedule::Immediate,
            faults: FaultRates::default(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Read { segs: [Buf; READV_MAX], n: u8 },
    ReadNow { buf: Buf },
    Poll,
    Write { at: usize, n: usize },
    Multishot { group: u16 },
    Cancel,
    Invalid,
}

#[derive(Clone, Copy, Debug)]
struct SqEntry {
    token: u64,
    op: Op,
}

#[derive(Clone, Copy, Debug)]
struct PendingRead {
    token: u64,
    segs: [Buf; READV_MAX],
    n: u8,
}

#[derive(Debug)]
struct Group {
    id: u16,
    entries: usize,
    avail: VecDeque<(u16, Buf)>,
    staged: Vec<(u16, Buf)>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    cqe: Cqe,
    at: u64,
    /// The completion returns a buffer to its owner (not a duplicate, not a
    /// cancel or an error without a buffer).
    holds: bool,
}

/// The kernel side of a ring (everything but the wire).
#[derive(Debug)]
struct Kernel {
    cfg: SimConfig,
    rng: u64,
    now: u64,
    last_at: u64,
    sq: Vec<SqEntry>,
    arena: Vec<Buf>,
    reads: VecDeque<PendingRead>,
    armed: Option<(u64, u16)>,
    poll: Option<u64>,
    groups: Vec<Group>,
    pending: VecDeque<Entry>,
    cq: VecDeque<Entry>,
    overflow: VecDeque<Entry>,
}

/// A simulated io_uring on a simulated tun fd (see the module docs).
///
/// ```
/// use tapring_core::backend::ring::{Cqe, Ring, Sqe};
/// use tapring_core::{Pool, PoolConfig};
/// use tapring_mock::{SimConfig, SimRing, SimWire};
///
/// let pool = Pool::new(PoolConfig::standard(4)).unwrap();
/// let wire = SimWire::default();
/// let mut ring = SimRing::new(&wire, SimConfig::default());
/// let mut pkt = pool.alloc().unwrap();
/// // SAFETY: `pkt` stays alive and untouched until its completion is
/// // harvested below.
/// unsafe { ring.post(7, Sqe::Read { buf: pkt.rx_target(0) }) }.unwrap();
/// ring.flush(0).unwrap();
/// wire.inject(&[0xab; 60]);
/// let mut cqes = [Cqe::default(); 4];
/// assert_eq!(ring.harvest(&mut cqes), 1);
/// assert_eq!((cqes[0].token, cqes[0].result), (7, 60));
/// pkt.rx_complete(60);
/// assert_eq!(pkt.data(), &[0xab; 60][..]);
/// ```
#[derive(Debug)]
pub struct SimRing {
    wire: SimWire,
    k: Kernel,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SimRing {
    /// A ring on `wire`; every queue it needs is reserved now.
    pub fn new(wire: &SimWire, cfg: SimConfig) -> SimRing {
        let cap = cfg.sq_entries.max(1) + cfg.cq_entries.max(1);
        SimRing {
            wire: wire.clone(),
            k: Kernel {
                cfg,
                rng: cfg.seed,
                now: 0,
                last_at: 0,
                sq: Vec::with_capacity(cfg.sq_entries),
                arena: Vec::with_capacity(cfg.sq_entries * READV_MAX),
                reads: VecDeque::with_capacity(cap),
                armed: None,
                poll: None,
                groups: Vec::with_capacity(4),
                pending: VecDeque::with_capacity(2 * cap),
                cq: VecDeque::with_capacity(cfg.cq_entries.max(1)),
                overflow: VecDeque::with_capacity(2 * cap),
            },
        }
    }

    /// The wire this ring reads from and writes to.
    pub fn wire(&self) -> &SimWire {
        &self.wire
    }

    /// Replaces the random fault rates.
    pub fn set_faults(&mut self, faults: FaultRates) {
        self.k.cfg.faults = faults;
    }

    /// Buffers the simulated kernel holds right now: in posted operations
    /// (submitted or not), provided to buffer groups, or in completions not
    /// yet harvested. Equals the engine's `in_flight()` when both agree.
    pub fn outstanding_buffers(&self) -> usize {
        let k = &self.k;
        let sq =
            k.sq.iter()
                .filter(|e| {
                    matches!(
                        e.op,
                        Op::Read { .. } | Op::ReadNow { .. } | Op::Write { .. } | Op::Invalid
                    )
                })
                .count();
        let groups: usize = k
            .groups
            .iter()
            .map(|g| g.avail.len() + g.staged.len())
            .sum();
        let cqes = k
            .pending
            .iter()
            .chain(&k.cq)
            .chain(&k.overflow)
            .filter(|e| e.holds)
            .count();
        sq + k.reads.len() + groups + cqes
    }

    /// True when the simulated kernel may still write into or read from
    /// memory overlapping `[addr, addr + len)` (a posted operation or a
    /// provided buffer).
    pub fn holds_memory(&self, addr: *const u8, len: usize) -> bool {
        let a = addr as usize;
        let k = &self.k;
        let in_sq = k.sq.iter().any(|e| match e.op {
            Op::Read { segs, n } => segs[..usize::from(n)].iter().any(|b| b.overlaps(a, len)),
            Op::ReadNow { buf } => buf.overlaps(a, len),
            Op::Write { at, n } => k.arena[at..at + n].iter().any(|b| b.overlaps(a, len)),
            _ => false,
        });
        in_sq
            || k.reads.iter().any(|r| {
                r.segs[..usize::from(r.n)]
                    .iter()
                    .any(|b| b.overlaps(a, len))
            })
            || k.groups.iter().any(|g| {
                g.avail
                    .iter()
                    .chain(&g.staged)
                    .any(|(_, b)| b.overlaps(a, len))
            })
    }

    /// Completions produced but not yet harvested (visible or not).
    pub fn unharvested(&self) -> usize {
        self.k.pending.len() + self.k.cq.len() + self.k.overflow.len()
    }

    /// Whether a multishot read is armed.
    pub fn multishot_armed(&self) -> bool {
        self.k.armed.is_some()
    }

    /// Whether an input poll is armed.
    pub fn poll_armed(&self) -> bool {
        self.k.poll.is_some()
    }
}

impl Kernel {
    fn chance(&mut self, per_mille: u16) -> bool {
        per_mille > 0 && splitmix(&mut self.rng) % 1000 < u64::from(per_mille)
    }

    fn below(&mut self, n: u64) -> u64 {
        splitmix(&mut self.rng) % n.max(1)
    }

    fn complete(&mut self, w: &mut WireState, cqe: Cqe, holds: bool, duplicate: bool) {
        let at = match self.cfg.schedule {
            Schedule::Immediate => self.now,
            Schedule::Delayed { max_delay } => self.now + self.below(u64::from(max_delay) + 1),
            Schedule::Batched { period } => {
                let p = u64::from(period.max(1));
                (self.now / p + 1) * p
            }
        };
        let at = at.max(self.last_at);
        self.last_at = at;
        self.pending.push_back(Entry { cqe, at, holds });
        if duplicate {
            self.pending.push_back(Entry {
                cqe,
                at,
                holds: false,
            });
        }
        self.release(w);
    }

    /// Moves completions whose time has come to the CQ (or, behind a full
    /// CQ or an existing overflow, to the overflow list).
    fn release(&mut self, w: &mut WireState) {
        while let Some(e) = self.pending.front().copied() {
            if e.at > self.now {
                break;
            }
            self.pending.pop_front();
            if self.overflow.is_empty() && self.cq.len() < self.cfg.cq_entries.max(1) {
                self.cq.push_back(e);
            } else {
                w.counters.cq_overflows += 1;
                self.overflow.push_back(e);
            }
        }
    }

    /// A kernel entry: overflowed completions move into the CQ.
    fn refill(&mut self) {
        while self.cq.len() < self.cfg.cq_entries.max(1) {
            match self.overflow.pop_front() {
                Some(e) => self.cq.push_back(e),
                None => break,
            }
        }
    }

    fn make_all_visible(&mut self, w: &mut WireState) {
        self.now = self.now.max(self.last_at);
        self.release(w);
        self.refill();
    }

    fn read_fault(&mut self, w: &mut WireState, multishot: bool) -> Option<ReadFault> {
        if let Some(f) = w.next_read_fault() {
            return Some(f);
        }
        let r = self.cfg.faults;
        if self.chance(r.read_again) {
            Some(ReadFault::Again)
        } else if self.chance(r.read_io) {
            Some(ReadFault::Io)
        } else if self.chance(r.read_runt) {
            Some(ReadFault::Short(1 + self.below(13) as u32))
        } else if multishot && self.chance(r.read_nobufs) {
            Some(ReadFault::NoBufs)
        } else if !multishot && self.chance(r.read_duplicate) {
            Some(ReadFault::Duplicate)
        } else {
            None
        }
    }

    /// Copies the head frame into `segs`; returns the read's result.
    fn consume(w: &mut WireState, segs: &[Buf], short: Option<u32>) -> i32 {
        let Some(frame) = w.front() else {
            return 0;
        };
        let flen = frame.len();
        let room: usize = segs.iter().map(|b| b.len as usize).sum();
        let take = short.map_or(flen, |n| flen.min(n as usize));
        sim_memory::scatter(segs, &frame[..take]);
        w.counters.consumed += 1;
        if take < flen {
            w.counters.short_reads += 1;
        } else if flen > room {
            w.counters.truncated += 1;
        }
        w.pop();
        take as i32
    }

    /// Lets pending reads meet queued frames.
    fn run(&mut self, w: &mut WireState) {
        while !self.reads.is_empty() && w.front().is_some() {
            let fault = self.read_fault(w, false);
            let r = self.reads.pop_front().expect("checked non-empty");
            let segs = &r.segs[..usize::from(r.n)];
            match fault {
                Some(ReadFault::Again) | Some(ReadFault::Io) => {
                    w.counters.read_errors += 1;
                    let e = if fault == Some(ReadFault::Again) {
                        errno::EAGAIN
                    } else {
                        errno::EIO
                    };
                    self.complete(w, cqe(r.token, -e), true, false);
                }
                _ => {
                    let short = match fault {
                        Some(ReadFault::Short(n)) => Some(n),
                        _ => None,
                    };
                    let res = Self::consume(w, segs, short);
                    let dup = fault == Some(ReadFault::Duplicate);
                    if dup {
                        w.counters.rx_duplicates += 1;
                    }
                    self.complete(w, cqe(r.token, res), true, dup);
                }
            }
        }
        self.run_multishot(w, usize::MAX);
        if w.front().is_some()
            && let Some(token) = self.poll.take()
        {
            self.complete(w, cqe(token, 1), false, false);
        }
    }

    /// A no-wait read: the head frame if there is one, `-EAGAIN` if not.
    fn read_now(&mut self, w: &mut WireState, token: u64, buf: Buf) {
        if w.front().is_none() {
            self.complete(w, cqe(token, -errno::EAGAIN), true, false);
            return;
        }
        let fault = self.read_fault(w, false);
        let res = match fault {
            Some(ReadFault::Again) => {
                w.counters.read_errors += 1;
                -errno::EAGAIN
            }
            Some(ReadFault::Io) => {
                w.counters.read_errors += 1;
                -errno::EIO
            }
            Some(ReadFault::Short(n)) => Self::consume(w, &[buf], Some(n)),
            _ => Self::consume(w, &[buf], None),
        };
        let dup = fault == Some(ReadFault::Duplicate) && res >= 0;
        if dup {
            w.counters.rx_duplicates += 1;
        }
        self.complete(w, cqe(token, res), true, dup);
    }

    /// Lets the armed multishot read take up to `limit` frames.
    fn run_multishot(&mut self, w: &mut WireState, limit: usize) {
        let mut taken = 0;
        while let Some((token, group)) = self.armed {
            if w.front().is_none() || taken == limit {
                return;
            }
            let end = |k: &mut Kernel, w: &mut WireState, e: i32| {
                k.armed = None;
                let c = Cqe {
                    token,
                    result: -e,
                    more: false,
                    buffer_id: None,
                };
                k.complete(w, c, false, false);
            };
            let fault = self.read_fault(w, true);
            match fault {
                Some(ReadFault::Again) => {
                    w.counters.read_errors += 1;
                    return end(self, w, errno::EAGAIN);
                }
                Some(ReadFault::Io) => {
                    w.counters.read_errors += 1;
                    return end(self, w, errno::EIO);
                }
                Some(ReadFault::NoBufs) => {
                    w.counters.enobufs += 1;
                    return end(self, w, errno::ENOBUFS);
                }
                _ => {}
            }
            let buf = self
                .groups
                .iter_mut()
                .find(|g| g.id == group)
                .and_then(|g| g.avail.pop_front());
            let Some((bid, buf)) = buf else {
                w.counters.enobufs += 1;
                return end(self, w, errno::ENOBUFS);
            };
            let short = match fault {
                Some(ReadFault::Short(n)) => Some(n),
                _ => None,
            };
            let res = Self::consume(w, &[buf], short);
            let c = Cqe {
                token,
                result: res,
                more: true,
                buffer_id: Some(bid),
            };
            self.complete(w, c, true, false);
            taken += 1;
        }
    }

    fn submit(&mut self, w: &mut WireState) {
        for i in 0..self.sq.len() {
            let SqEntry { token, op } = self.sq[i];
            match op {
                Op::Read { segs, n } => self.reads.push_back(PendingRead { token, segs, n }),
                Op::ReadNow { buf } => self.read_now(w, token, buf),
                Op::Poll => {
                    if self.poll.is_some() {
                        self.complete(w, cqe(token, -errno::EINVAL), false, false);
                    } else {
                        self.poll = Some(token);
                    }
                }
                Op::Write { at, n } => self.write(w, token, at, n),
                Op::Multishot { group } => {
                    if self.armed.is_some() || !self.groups.iter().any(|g| g.id == group) {
                        let c = Cqe {
                            token,
                            result: -errno::EINVAL,
                            more: false,
                            buffer_id: None,
                        };
                        self.complete(w, c, false, false);
                    } else {
                        self.armed = Some((token, group));
                    }
                }
                Op::Cancel => self.cancel(w, token),
                Op::Invalid => self.complete(w, cqe(token, -errno::EINVAL), true, false),
            }
            // Frames already queued meet reads in submission order.
            self.run(w);
        }
        self.sq.clear();
        self.arena.clear();
    }

    fn write(&mut self, w: &mut WireState, token: u64, at: usize, n: usize) {
        let fault = match w.next_write_fault() {
            Some(f) => Some(f),
            None => {
                let r = self.cfg.faults;
                if self.chance(r.write_io) {
                    Some(WriteFault::Io)
                } else if self.chance(r.write_short) {
                    Some(WriteFault::Short(6 + self.below(8) as u32))
                } else if self.chance(r.write_duplicate) {
                    Some(WriteFault::Duplicate)
                } else {
                    None
                }
            }
        };
        let segs = &self.arena[at..at + n];
        let total: usize = segs.iter().map(|b| b.len as usize).sum();
        let res = match fault {
            Some(WriteFault::Io) => {
                w.counters.write_errors += 1;
                -errno::EIO
            }
            Some(WriteFault::Short(s)) if (s as usize) < total => {
                let s = s as usize;
                w.capture_begin(s);
                sim_memory::gather(segs, s, |b| w.capture_bytes(b));
                w.counters.short_writes += 1;
                s as i32
            }
            _ => {
                w.capture_begin(total);
                sim_memory::gather(segs, total, |b| w.capture_bytes(b));
                w.counters.written += 1;
                w.counters.written_bytes += total as u64;
                total as i32
            }
        };
        let dup = fault == Some(WriteFault::Duplicate);
        if dup {
            w.counters.tx_duplicates += 1;
        }
        self.complete(w, cqe(token, res), true, dup);
    }

    fn cancel(&mut self, w: &mut WireState, token: u64) {
        let mut race = w.take_cancel_race();
        if self.chance(self.cfg.faults.cancel_race) {
            race += 1 + self.below(4) as u32;
        }
        // Racing completions: reads that the kernel finishes with data
        // before the cancel reaches them.
        let mut raced = 0;
        while raced < race && w.front().is_some() {
            if let Some(r) = self.reads.pop_front() {
                let res = Self::consume(w, &r.segs[..usize::from(r.n)], None);
                w.counters.raced += 1;
                self.complete(w, cqe(r.token, res), true, false);
            } else if self.armed.is_some() {
                let before = w.counters.consumed;
                self.run_multishot(w, 1);
                if w.counters.consumed == before {
                    break;
                }
                w.counters.raced += 1;
            } else {
                break;
            }
            raced += 1;
        }
        let mut n = 0;
        while let Some(r) = self.reads.pop_front() {
            w.counters.canceled_reads += 1;
            n += 1;
            self.complete(w, cqe(r.token, -errno::ECANCELED), true, false);
        }
        if let Some(t) = self.poll.take() {
            n += 1;
            self.complete(w, cqe(t, -errno::ECANCELED), false, false);
        }
        if let Some((t, _)) = self.armed.take() {
            w.counters.canceled_reads += 1;
            n += 1;
            let c = Cqe {
                token: t,
                result: -errno::ECANCELED,
                more: false,
                buffer_id: None,
            };
            self.complete(w, c, false, false);
        }
        self.complete(w, cqe(token, n), false, false);
    }
}

fn cqe(token: u64, result: i32) -> Cqe {
    Cqe {
        token,
        result,
        more: false,
        buffer_id: None,
    }
}

fn read_op(segs: &[RawBuf]) -> Op {
    if segs.is_empty() || segs.len() > READV_MAX {
        return Op::Invalid;
    }
    let mut out = [Buf::default(); READV_MAX];
    for (o, s) in out.iter_mut().zip(segs) {
        *o = Buf::from(*s);
    }
    Op::Read {
        segs: out,
        n: segs.len() as u8,
    }
}

impl Ring for SimRing {
    unsafe fn post(&mut self, token: u64, op: Sqe<'_>) -> Result<(), RingError> {
        if self.k.sq.len() >= self.k.cfg.sq_entries {
            return Err(RingError::Full);
        }
        let op = match op {
            Sqe::Read { buf } => read_op(&[buf]),
            Sqe::ReadNow { buf } => {
                if !self.k.cfg.nowait {
                    return Err(RingError::Unsupported("no-wait read"));
                }
                Op::ReadNow { buf: buf.into() }
            }
            Sqe::PollIn => Op::Poll,
            Sqe::Readv { segs } => read_op(segs),
            Sqe::Write { buf } => {
                let at = self.k.arena.len();
                self.k.arena.push(buf.into());
                Op::Write { at, n: 1 }
            }
            Sqe::Writev { segs } => {
                let at = self.k.arena.len();
                self.k.arena.extend(segs.iter().map(|&s| Buf::from(s)));
                Op::Write { at, n: segs.len() }
            }
            Sqe::ReadMultishot { group } => {
                if !self.k.cfg.multishot {
                    return Err(RingError::Unsupported("multishot read"));
                }
                Op::Multishot { group }
            }
            Sqe::CancelAll => Op::Cancel,
        };
        self.k.sq.push(SqEntry { token, op });
        Ok(())
    }

    fn flush(&mut self, wait_for: u32) -> Result<(), RingError> {
        let mut w = self.wire.lock();
        let k = &mut self.k;
        k.now += 1;
        k.submit(&mut w);
        k.run(&mut w);
        k.release(&mut w);
        k.refill();
        if wait_for > 0 {
            k.make_all_visible(&mut w);
        }
        Ok(())
    }

    fn harvest(&mut self, out: &mut [Cqe]) -> usize {
        let mut w = self.wire.lock();
        let k = &mut self.k;
        k.now += 1;
        k.run(&mut w);
        k.release(&mut w);
        let mut n = 0;
        while n < out.len() {
            let Some(e) = k.cq.pop_front() else { break };
            out[n] = e.cqe;
            n += 1;
        }
        if k.cq.is_empty() {
            // What liburing's peek does on IORING_SQ_CQ_OVERFLOW: the next
            // harvest sees the overflowed completions.
            k.refill();
        }
        n
    }

    fn wait(&mut self, _timeout: Option<Duration>) -> Result<(), RingError> {
        let mut w = self.wire.lock();
        let k = &mut self.k;
        k.now += 1;
        k.run(&mut w);
        k.make_all_visible(&mut w);
        Ok(())
    }

    fn register_group(&mut self, group: u16, entries: u16) -> Result<(), RingError> {
        if !self.k.cfg.multishot {
            return Err(RingError::Unsupported("provided-buffer rings"));
        }
        if self.k.groups.iter().any(|g| g.id == group) {
            return Err(RingError::Submit(-17)); // EEXIST
        }
        if entries == 0 || !entries.is_power_of_two() {
            return Err(RingError::Submit(-errno::EINVAL));
        }
        let n = usize::from(entries);
        self.k.groups.push(Group {
            id: group,
            entries: n,
            avail: VecDeque::with_capacity(n),
            staged: Vec::with_capacity(n),
        });
        Ok(())
    }

    fn unregister_group(&mut self, group: u16) -> Result<(), RingError> {
        if self.k.armed.is_some_and(|(_, g)| g == group) {
            return Err(RingError::Submit(-16)); // EBUSY
        }
        let i = self
            .k
            .groups
            .iter()
            .position(|g| g.id == group)
            .ok_or(RingError::Submit(-errno::EINVAL))?;
        self.k.groups.swap_remove(i);
        Ok(())
    }

    unsafe fn provide(&mut self, group: u16, bid: u16, buf: RawBuf) -> Result<(), RingError> {
        let g = self
            .k
            .groups
            .iter_mut()
            .find(|g| g.id == group)
            .ok_or(RingError::Submit(-errno::EINVAL))?;
        if g.avail.len() + g.staged.len() >= g.entries {
            return Err(RingError::Full);
        }
        g.staged.push((bid, buf.into()));
        Ok(())
    }

    fn provide_commit(&mut self, group: u16) {
        if let Some(g) = self.k.groups.iter_mut().find(|g| g.id == group) {
            let Group { avail, staged, .. } = g;
            avail.extend(staged.drain(..));
        }
    }

    fn supports_multishot(&self) -> bool {
        self.k.cfg.multishot
    }

    fn supports_nowait(&self) -> bool {
        self.k.cfg.nowait
    }
}
