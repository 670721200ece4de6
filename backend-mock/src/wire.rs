//! The simulated wire: the kernel->user frame queue of one TAP queue (a
//! bounded queue like tun's `ptr_ring`), the frames user space wrote, the
//! scripted faults, and the counters. Shared by every [`SimRing`] made from
//! it (the Rx and Tx ring of one port queue) and by the test.
//!
//! [`SimRing`]: crate::SimRing

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// How written frames are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capture {
    /// Keep every frame, byte for byte, in pre-reserved storage (read them
    /// with [`SimWire::take_written`]).
    Frames,
    /// Keep only counts and a running checksum ([`SimWire::digest`]): for
    /// long runs and zero-allocation tests.
    Digest,
}

/// Shape of a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireConfig {
    /// Frames the kernel->user queue holds before it tail-drops (tun's
    /// `tx_queue_len`, 1000 by default).
    pub queue_capacity: usize,
    /// How written frames are kept.
    pub capture: Capture,
    /// Bytes reserved up front for each queued frame and, times
    /// `queue_capacity`, for captured frames (so steady state does not
    /// allocate).
    pub frame_reserve: usize,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            queue_capacity: 1000,
            capture: Capture::Frames,
            frame_reserve: 2048,
        }
    }
}

/// A fault for the next read that would complete with a frame (scripted
/// with [`SimWire::script_read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFault {
    /// The read completes with `-EAGAIN`; the frame stays queued. A
    /// multishot read ends (`more: false`).
    Again,
    /// The read completes with `-EIO`; the frame stays queued. A multishot
    /// read ends.
    Io,
    /// The frame is consumed but only its first `n` bytes arrive, and the
    /// read completes with that length (a short or runt read).
    Short(u32),
    /// Multishot: the read ends with `-ENOBUFS` although buffers were
    /// provided; the frame stays queued. Ignored by posted reads.
    NoBufs,
    /// The read completes normally, but its completion is delivered twice
    /// (invalid kernel behaviour; the engine must ignore the copy). Ignored
    /// by multishot reads, whose buffer ids carry no generation.
    Duplicate,
}

/// A fault for the next write (scripted with [`SimWire::script_write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// The write fails with `-EIO`; nothing reaches the wire.
    Io,
    /// Only the first `n` bytes are written (if `n` is less than the frame)
    /// and the write completes with that length.
    Short(u32),
    /// The write succeeds but its completion is delivered twice.
    Duplicate,
}

/// What happened on a wire, by category. Every injected frame ends in
/// exactly one of `tail_dropped`, `consumed` (then in at most one of
/// `truncated`, `short_reads`, `raced`) or [`SimWire::queued`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Frames offered with [`SimWire::inject`].
    pub injected: u64,
    /// Frames dropped because the queue was full (the interface's tx_dropped).
    pub tail_dropped: u64,
    /// Frames taken by reads (posted or multishot), whatever became of them.
    pub consumed: u64,
    /// Consumed frames larger than the read buffer (completed with the full
    /// length, larger than the buffer, like `MSG_TRUNC`).
    pub truncated: u64,
    /// Consumed frames cut short by a [`ReadFault::Short`].
    pub short_reads: u64,
    /// Consumed frames that completed a read racing with a cancel.
    pub raced: u64,
    /// Reads that completed with `-EIO` or `-EAGAIN` (the frame stayed).
    pub read_errors: u64,
    /// Multishot reads that ended with `-ENOBUFS`.
    pub enobufs: u64,
    /// Reads completed with `-ECANCELED`.
    pub canceled_reads: u64,
    /// Frames written whole.
    pub written: u64,
    /// Bytes of frames written whole.
    pub written_bytes: u64,
    /// Writes cut short (a prefix reached the wire).
    pub short_writes: u64,
    /// Writes that failed with `-EIO`.
    pub write_errors: u64,
    /// Read completions delivered twice.
    pub rx_duplicates: u64,
    /// Write completions delivered twice.
    pub tx_duplicates: u64,
    /// Completions that went to the overflow list because the CQ was full.
    pub cq_overflows: u64,
}

/// A running checksum of written frames (FNV-1a over length and bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    /// Frames (whole or partial) that reached the wire.
    pub frames: u64,
    /// Bytes that reached the wire.
    pub bytes: u64,
    /// Checksum over every frame's length and bytes, in order.
    pub hash: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            frames: 0,
            bytes: 0,
            hash: FNV_OFFSET,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Digest {
    fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// The digest of `frames` written in this order (to compare with
    /// [`SimWire::digest`]).
    pub fn of<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Digest {
        let mut d = Digest::default();
        for f in frames {
            d.begin(f.len());
            d.mix(f);
        }
        d
    }

    fn begin(&mut self, len: usize) {
        self.frames += 1;
        self.bytes += len as u64;
        self.mix(&(len as u64).to_le_bytes());
    }
}

pub(crate) struct WireState {
    pub(crate) cfg: WireConfig,
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    cap_bytes: Vec<u8>,
    cap_frames: Vec<(usize, usize)>,
    digest: Digest,
    read_script: VecDeque<ReadFault>,
    write_script: VecDeque<WriteFault>,
    cancel_race: u32,
    pub(crate) counters: WireCounters,
}

impl WireState {
    /// The frame at the head of the queue.
    pub(crate) fn front(&self) -> Option<&[u8]> {
        self.queue.front().map(Vec::as_slice)
    }

    /// Removes the head frame (its storage is kept for reuse).
    pub(crate) fn pop(&mut self) {
        if let Some(mut f) = self.queue.pop_front() {
            f.clear();
            self.spare.push(f);
        }
    }

    pub(crate) fn next_read_fault(&mut self) -> Option<ReadFault> {
        self.read_script.pop_front()
    }

    pub(crate) fn next_write_fault(&mut self) -> Option<WriteFault> {
        self.write_script.pop_front()
    }

    pub(crate) fn take_cancel_race(&mut self) -> u32 {
        core::mem::take(&mut self.cancel_race)
    }

    /// Starts a captured frame of `len` bytes; feed it with `capture_bytes`.
    pub(crate) fn capture_begin(&mut self, len: usize) {
        match self.cfg.capture {
            Capture::Frames => self.cap_frames.push((self.cap_bytes.len(), len)),
            Capture::Digest => self.digest.begin(len),
        }
    }

    pub(crate) fn capture_bytes(&mut self, bytes: &[u8]) {
        match self.cfg.capture {
            Capture::Frames => self.cap_bytes.extend_from_slice(bytes),
            Capture::Digest => self.digest.mix(bytes),
        }
    }
}

/// A cloneable handle to one simulated wire (see the module docs).
#[derive(Clone)]
pub struct SimWire {
    inner: Arc<Mutex<WireState>>,
}

impl Default for SimWire {
    fn default() -> Self {
        SimWire::new(WireConfig::default())
    }
}

impl core::fmt::Debug for SimWire {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.lock();
        f.debug_struct("SimWire")
            .field("queued", &s.queue.len())
            .field("counters", &s.counters)
            .finish()
    }
}

impl SimWire {
    /// A wire of this shape; every queue it needs is reserved now.
    pub fn new(cfg: WireConfig) -> SimWire {
        let n = cfg.queue_capacity;
        let spare = (0..n)
            .map(|_| Vec::with_capacity(cfg.frame_reserve))
            .collect();
        let (cap_bytes, cap_frames) = match cfg.capture {
            Capture::Frames => (
                Vec::with_capacity(n * cfg.frame_reserve),
                Vec::with_capacity(n * 4),
            ),
            Capture::Digest => (Vec::new(), Vec::new()),
        };
        SimWire {
            inner: Arc::new(Mutex::new(WireState {
                cfg,
                queue: VecDeque::with_capacity(n),
                spare,
                cap_bytes,
                cap_frames,
                digest: Digest::default(),
                read_script: VecDeque::with_capacity(64),
                write_script: VecDeque::with_capacity(64),
                cancel_race: 0,
                counters: WireCounters::default(),
            })),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WireState> {
        // A panic while the lock was held (a failing test) leaves the state
        // consistent enough to inspect.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offers a frame from the kernel's side (as if the stack transmitted
    /// it on the TAP). Returns false when the queue was full and the frame
    /// was tail-dropped (counted in `tail_dropped`).
    pub fn inject(&self, frame: &[u8]) -> bool {
        let mut s = self.lock();
        s.counters.injected += 1;
        if s.queue.len() >= s.cfg.queue_capacity {
            s.counters.tail_dropped += 1;
            return false;
        }
        let mut f = s.spare.pop().unwrap_or_default();
        f.extend_from_slice(frame);
        s.queue.push_back(f);
        true
    }

    /// Frames waiting in the kernel->user queue.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Takes every frame written so far (whole, or the prefix of a short
    /// write), in write order. Empty in [`Capture::Digest`] mode.
    pub fn take_written(&self) -> Vec<Vec<u8>> {
        let mut s = self.lock();
        let s = &mut *s;
        let out = s
            .cap_frames
            .iter()
            .map(|&(at, len)| s.cap_bytes[at..at + len].to_vec())
            .collect();
        s.cap_frames.clear();
        s.cap_bytes.clear();
        out
    }

    /// Counts and checksum of everything written (both capture modes).
    pub fn digest(&self) -> Digest {
        let s = self.lock();
        match s.cfg.capture {
            Capture::Digest => s.digest,
            Capture::Frames => Digest::of(
                s.cap_frames
                    .iter()
                    .map(|&(at, len)| &s.cap_bytes[at..at + len]),
            ),
        }
    }

    /// Scripts a fault for the next read that would complete with a frame
    /// (faults apply in the order scripted, before random ones).
    pub fn script_read(&self, fault: ReadFault) {
        self.lock().read_script.push_back(fault);
    }

    /// Scripts a fault for the next write.
    pub fn script_write(&self, fault: WriteFault) {
        self.lock().write_script.push_back(fault);
    }

    /// At the next cancel, up to `reads` pending reads complete with queued
    /// frames instead of `-ECANCELED` (a cancel racing with completions).
    pub fn race_next_cancel(&self, reads: u32) {
        self.lock().cancel_race = reads;
    }

    /// The counters so far.
    pub fn counters(&self) -> WireCounters {
        self.lock().counters
    }
}
