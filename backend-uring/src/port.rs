//! `UringPort` and its queues: a TAP device whose queues are driven by the
//! core engine over one io_uring instance per queue and direction.

use crate::error::UringError;
use crate::probe::probe;
use crate::ring::{RingSetup, UringRing};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tapring_core::RxMode;
use tapring_core::backend::engine::{EngineConfig, RxEngine, Slot, TxEngine};
use tapring_core::{
    BurstSlice, Error, Interest, Pool, Port, PortInfo, PortStats, QueueStats, Readiness, RxQueue,
    TxQueue, Wakeup,
};
use tapring_device::{QueueClaims, TapConfig, TapDevice};

/// Options of the io_uring data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UringConfig {
    /// How Rx buffers are handed to the kernel; `Auto` picks no-wait reads
    /// when tun honours `RWF_NOWAIT` (6.4+), else multishot (6.7+), else
    /// posted reads.
    pub rx_mode: RxMode,
    /// Posted-read mode: reads kept posted per queue; no-wait mode: the
    /// largest batch of reads per burst (power of two).
    pub rx_depth: u32,
    /// Multishot mode: buffers in the provided-buffer ring (power of two).
    /// Keep it well above the interface's tx_queue_len (1000), or the
    /// multishot read ends with ENOBUFS whenever the kernel's queue is full.
    pub multishot_buffers: u32,
    /// Most writes in flight per Tx queue (power of two).
    pub tx_depth: u32,
    /// Use SINGLE_ISSUER + DEFER_TASKRUN when the kernel has it. Completion
    /// work then runs in the queue's own thread instead of interrupting it,
    /// and each queue is bound to the thread that first uses it: any other
    /// thread gets [`Error::WrongThread`]; stop such a queue (`stop()`) on
    /// that thread before dropping it elsewhere, or its buffers stay with
    /// the kernel until the ring is torn down. Set it to `false` for queues
    /// that move between threads (tasks of a multi-thread async runtime;
    /// the `tokio` adaptor of the `tapring` crate does).
    pub defer_taskrun: bool,
    /// Register the TAP fd with each ring (saves a file lookup per operation).
    pub fixed_file: bool,
    /// Which rings register the pool's buffer area and read or write it
    /// with READ_FIXED / WRITE_FIXED (the kernel copies through pinned pages
    /// instead of checking user addresses). Best effort: without
    /// CAP_IPC_LOCK a ring whose pool does not fit RLIMIT_MEMLOCK stays
    /// unregistered and plain reads and writes do the same job. Default
    /// [`FixedBuffers::Rx`]: see that type for what registering costs, and
    /// `docs/PERFORMANCE.md` for what it gained where it was measured.
    pub fixed_buffers: FixedBuffers,
    /// A kernel thread polls submissions (opt-in: it spends a core).
    pub sqpoll: bool,
    /// The CPU the SQPOLL thread is bound to. Without it the thread
    /// inherits the affinity of the thread that opens the queue: if that
    /// thread is pinned to one CPU and busy-polls, the two share the CPU and
    /// throughput collapses.
    pub sqpoll_cpu: Option<u32>,
    /// Port number stamped on received packets.
    pub port_id: u16,
}

/// Setters, one per field: `UringConfig` is `#[non_exhaustive]` (new fields may
/// come), so other crates build one from a constructor and chain these.
impl UringConfig {
    /// With [`UringConfig::rx_mode`] set to `rx_mode`.
    pub fn rx_mode(mut self, rx_mode: RxMode) -> Self {
        self.rx_mode = rx_mode;
        self
    }

    /// With [`UringConfig::rx_depth`] set to `rx_depth`.
    pub fn rx_depth(mut self, rx_depth: u32) -> Self {
        self.rx_depth = rx_depth;
        self
    }

    /// With [`UringConfig::multishot_buffers`] set to `multishot_buffers`.
    pub fn multishot_buffers(mut self, multishot_buffers: u32) -> Self {
        self.multishot_buffers = multishot_buffers;
        self
    }

    /// With [`UringConfig::tx_depth`] set to `tx_depth`.
    pub fn tx_depth(mut self, tx_depth: u32) -> Self {
        self.tx_depth = tx_depth;
        self
    }

    /// With [`UringConfig::defer_taskrun`] set to `defer_taskrun`.
    pub fn defer_taskrun(mut self, defer_taskrun: bool) -> Self {
        self.defer_taskrun = defer_taskrun;
        self
    }

    /// With [`UringConfig::fixed_file`] set to `fixed_file`.
    pub fn fixed_file(mut self, fixed_file: bool) -> Self {
        self.fixed_file = fixed_file;
        self
    }

    /// With [`UringConfig::fixed_buffers`] set to `fixed_buffers`.
    pub fn fixed_buffers(mut self, fixed_buffers: FixedBuffers) -> Self {
        self.fixed_buffers = fixed_buffers;
        self
    }

    /// With [`UringConfig::sqpoll`] set to `sqpoll`.
    pub fn sqpoll(mut self, sqpoll: bool) -> Self {
        self.sqpoll = sqpoll;
        self
    }

    /// With [`UringConfig::sqpoll_cpu`] set to `sqpoll_cpu`.
    pub fn sqpoll_cpu(mut self, sqpoll_cpu: Option<u32>) -> Self {
        self.sqpoll_cpu = sqpoll_cpu;
        self
    }

    /// With [`UringConfig::port_id`] set to `port_id`.
    pub fn port_id(mut self, port_id: u16) -> Self {
        self.port_id = port_id;
        self
    }
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            rx_mode: RxMode::Auto,
            rx_depth: 256,
            multishot_buffers: 2048,
            tx_depth: 256,
            defer_taskrun: true,
            fixed_file: true,
            fixed_buffers: FixedBuffers::Rx,
            sqpoll: false,
            sqpoll_cpu: None,
            port_id: 0,
        }
    }
}

/// Which queues use registered (fixed) buffers: the pool's area is
/// registered with their rings (pinning it) and reads or writes into it
/// become READ_FIXED / WRITE_FIXED.
///
/// Cost: each ring that registers the pool pins all of it, so the whole
/// pool becomes resident at queue set-up, and the kernel counts it against
/// RLIMIT_MEMLOCK once per ring (without CAP_IPC_LOCK, later rings may stay
/// unregistered when earlier ones used up the limit). Multishot Rx never
/// registers: its reads land in provided buffers. Check what took effect
/// with `uses_fixed_buffers()` on a queue.
/// `FromStr` and `Display` use `off`, `rx` and `all`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum FixedBuffers {
    /// Plain reads and writes; nothing pinned.
    Off,
    /// Rx queues only (the default). A read into a registered buffer
    /// copies through the pinned page instead of to a user address, which
    /// skips the hardened-usercopy check of the socket buffer it copies
    /// from (figures in `docs/PERFORMANCE.md`).
    #[default]
    Rx,
    /// Rx and Tx queues. Writes gained nothing measurable (tun copies into a
    /// page fragment, whose check is cheap), and every Tx ring pins the
    /// pool too.
    RxTx,
}

impl FixedBuffers {
    /// The name `Display` prints and `FromStr` accepts.
    pub const fn name(self) -> &'static str {
        match self {
            FixedBuffers::Off => "off",
            FixedBuffers::Rx => "rx",
            FixedBuffers::RxTx => "all",
        }
    }

    /// Whether the Rx rings use registered buffers.
    pub fn rx(self) -> bool {
        self != FixedBuffers::Off
    }

    /// Whether the Tx rings use registered buffers.
    pub fn tx(self) -> bool {
        self == FixedBuffers::RxTx
    }
}

impl std::fmt::Display for FixedBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name [`FixedBuffers`]' `FromStr` does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fixed-buffers setting: use off, rx or all")]
pub struct ParseFixedBuffersError;

impl std::str::FromStr for FixedBuffers {
    type Err = ParseFixedBuffersError;

    fn from_str(s: &str) -> Result<FixedBuffers, ParseFixedBuffersError> {
        [FixedBuffers::Off, FixedBuffers::Rx, FixedBuffers::RxTx]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or(ParseFixedBuffersError)
    }
}

/// A TAP port driven through io_uring.
///
/// ```no_run
/// use tapring_core::{Burst, Pool, PoolConfig, Port, RxQueue, TxQueue};
/// use tapring_device::TapConfig;
/// use tapring_uring::{UringConfig, UringPort};
///
/// let pool = Pool::new(PoolConfig::standard(8192))?;
/// let mut port = UringPort::open(&TapConfig::named("tap-demo"), &pool, UringConfig::default())?;
/// let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
/// let mut burst: Burst = Burst::new();
/// loop {
///     rx.wait(Some(std::time::Duration::from_millis(100)))?;
///     rx.rx_burst(&mut burst)?;
///     tx.tx_burst(&mut burst)?; // reflect
///     burst.clear(); // drop what the kernel did not take
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UringPort {
    dev: TapDevice,
    pool: Pool,
    cfg: UringConfig,
    claims: QueueClaims,
    max_frame: u32,
}

/// Checks ring size `n` of `field`: the error names the field to change.
fn check_depth(field: &'static str, n: u32) -> Result<(), UringError> {
    let cfg = tapring_core::QueueConfig::new(n, 1, RxMode::Auto);
    cfg.validate(1).map_err(|e| UringError::Setting {
        field,
        value: n,
        why: e.to_string(),
    })
}

impl UringPort {
    /// Opens (or attaches to) the TAP device `tap` and prepares io_uring
    /// queues over it, with buffers from `pool`.
    pub fn open(tap: &TapConfig, pool: &Pool, cfg: UringConfig) -> Result<UringPort, UringError> {
        let p = probe();
        if let Some(e) = &p.unavailable {
            return Err(UringError::Disabled {
                reason: e.to_string(),
            });
        }
        if !p.usable() {
            return Err(UringError::Unsupported {
                what: "io_uring read/write/cancel-any opcodes (kernel 5.19+)",
            });
        }
        if cfg.rx_mode == RxMode::Multishot && !p.multishot() {
            return Err(UringError::Unsupported {
                what: "multishot read with provided buffer rings (kernel 6.7+)",
            });
        }
        if cfg.rx_mode == RxMode::Nowait && !p.nowait() {
            return Err(UringError::Unsupported {
                what: "no-wait reads on tun (RWF_NOWAIT, kernel 6.4+)",
            });
        }
        check_depth("rx_depth", cfg.rx_depth)?;
        check_depth("tx_depth", cfg.tx_depth)?;
        if cfg.multishot_buffers > 32768 {
            return Err(UringError::Setting {
                field: "multishot_buffers",
                value: cfg.multishot_buffers,
                why: "a provided-buffer ring holds at most 32768 buffers: use 32768 or fewer"
                    .into(),
            });
        }
        check_depth("multishot_buffers", cfg.multishot_buffers)?;
        tap.offloads
            .check_rx_room(pool.config().data_room as usize)?;
        let dev = TapDevice::open(tap)?;
        // TAP: MTU + Ethernet header + a VLAN tag; TUN: the MTU.
        let max_frame = dev.framing().max_frame(dev.mtu()?);
        let n = dev.num_queues();
        Ok(UringPort {
            dev,
            pool: pool.clone(),
            cfg,
            claims: QueueClaims::new(n),
            max_frame,
        })
    }

    /// The TAP device (control: MTU, MAC, link state, counters...).
    pub fn device(&self) -> &TapDevice {
        &self.dev
    }

    fn engine_config(&self, q: u16) -> EngineConfig {
        EngineConfig {
            vnet_hdr_len: self.dev.vnet_hdr(),
            max_frame: self.max_frame,
            framing: self.dev.framing(),
            packet_info: self.dev.packet_info(),
            port: self.cfg.port_id,
            queue: q,
            buffer_group: q,
        }
    }

    fn ring_setup(
        &self,
        sq: u32,
        cq: u32,
        slots: usize,
        mode: RxMode,
        fixed_buffers: bool,
    ) -> RingSetup {
        let p = probe();
        RingSetup {
            sq_entries: sq,
            cq_entries: cq,
            defer_taskrun: self.cfg.defer_taskrun && p.defer_taskrun && !self.cfg.sqpoll,
            sqpoll: self.cfg.sqpoll,
            sqpoll_cpu: self.cfg.sqpoll_cpu,
            fixed_file: self.cfg.fixed_file,
            multishot: mode == RxMode::Multishot,
            nowait: mode == RxMode::Nowait,
            fixed_buffers,
            slots,
        }
    }

    /// The Rx mode this port's Rx queues run in: the configured one, or
    /// for [`RxMode::Auto`] what the kernel's probe picks (never `Auto`).
    pub fn rx_mode(&self) -> RxMode {
        match self.cfg.rx_mode {
            RxMode::Auto => probe().auto_rx_mode(),
            m => m,
        }
    }

    /// Sets up Rx queue `q` (claimed by the caller).
    fn open_rx(&mut self, q: u16) -> Result<UringRxQueue, UringError> {
        let mode = self.rx_mode();
        tracing::debug!(device = %self.dev.name(), queue = q, asked = %self.cfg.rx_mode, mode = %mode, "io_uring Rx queue set up");
        let (depth, sq, cq) = if mode == RxMode::Multishot {
            let b = self.cfg.multishot_buffers;
            (b, 16, (2 * b).max(64))
        } else {
            let d = self.cfg.rx_depth;
            (d, d.max(16), (2 * d).max(64))
        };
        let have = self.pool.config().count;
        // A no-wait queue lends buffers only for the length of a burst.
        if mode != RxMode::Nowait && u64::from(depth) * 2 > u64::from(have) {
            // Name the knob that set the ring's size in this mode.
            let field = if mode == RxMode::Multishot {
                "multishot_buffers"
            } else {
                "rx_depth"
            };
            let fits = (have / 2)
                .checked_next_power_of_two()
                .map_or(0, |p| if p > have / 2 { p / 2 } else { p });
            return Err(UringError::Setting {
                field,
                value: depth,
                why: format!(
                    "the {mode} Rx ring lends {depth} buffers and may lend at most half the pool \
                     ({have} buffers): set {field} to {fits} or less, or give the pool at least {} \
                     buffers",
                    u64::from(depth) * 2
                ),
            });
        }
        let fd = self
            .dev
            .queue_fd(usize::from(q))
            .try_clone_to_owned()
            .map_err(|e| UringError::os("dup(queue fd)", &e))?;
        let fixed_rx = self.cfg.fixed_buffers.rx() && mode != RxMode::Multishot;
        let ring = UringRing::new(
            fd,
            // Multishot reads land in provided buffers, never fixed ones.
            self.ring_setup(sq, cq, depth as usize, mode, fixed_rx),
            &self.pool,
        )?;
        let slots: Vec<Slot> = (0..depth).map(|_| Slot::EMPTY).collect();
        let engine = RxEngine::new(ring, &self.pool, slots, mode, self.engine_config(q))?;
        Ok(UringRxQueue {
            engine,
            started: false,
        })
    }

    /// Sets up Tx queue `q` (claimed by the caller).
    fn open_tx(&mut self, q: u16) -> Result<UringTxQueue, UringError> {
        let d = self.cfg.tx_depth;
        let fd = self
            .dev
            .queue_fd(usize::from(q))
            .try_clone_to_owned()
            .map_err(|e| UringError::os("dup(queue fd)", &e))?;
        let ring = UringRing::new(
            fd,
            self.ring_setup(
                d.max(16),
                (2 * d).max(64),
                d as usize,
                RxMode::Posted,
                self.cfg.fixed_buffers.tx(),
            ),
            &self.pool,
        )?;
        let slots: Vec<Slot> = (0..d).map(|_| Slot::EMPTY).collect();
        let engine = TxEngine::new(ring, &self.pool, slots, self.engine_config(q))?;
        Ok(UringTxQueue {
            engine,
            started: false,
        })
    }
}

impl Port for UringPort {
    type Rx = UringRxQueue;
    type Tx = UringTxQueue;
    type Error = UringError;

    fn info(&self) -> PortInfo {
        let n = self.dev.num_queues() as u16;
        PortInfo {
            ifindex: self.dev.ifindex(),
            max_frame: self.max_frame,
            framing: self.dev.framing(),
            rx_queues: n,
            tx_queues: n,
            vnet_hdr_len: self.dev.vnet_hdr(),
            backend: "io_uring",
        }
    }

    /// Takes Rx queue `q` (once). The queue may be moved to another thread;
    /// its ring is bound to the thread that first uses it. A queue whose
    /// set-up fails stays available.
    fn take_rx(&mut self, q: u16) -> Result<UringRxQueue, UringError> {
        self.claims.claim_rx(q).map_err(Error::from)?;
        self.open_rx(q).inspect_err(|_| self.claims.release_rx(q))
    }

    /// Takes Tx queue `q` (once).
    fn take_tx(&mut self, q: u16) -> Result<UringTxQueue, UringError> {
        self.claims.claim_tx(q).map_err(Error::from)?;
        self.open_tx(q).inspect_err(|_| self.claims.release_tx(q))
    }

    /// The interface's counters, wherever the interface is: moved to
    /// another network namespace, they are read there
    /// ([`TapDevice::kernel_counters`]); when that namespace cannot be
    /// entered, [`DeviceError::OtherNamespace`] (inside
    /// [`UringError::Device`]) says why.
    ///
    /// [`TapDevice::kernel_counters`]: tapring_device::TapDevice::kernel_counters
    /// [`DeviceError::OtherNamespace`]: tapring_device::DeviceError::OtherNamespace
    fn stats(&self) -> Result<PortStats, UringError> {
        Ok(self.dev.kernel_counters()?.port_stats())
    }
}

/// An Rx queue over io_uring (no-wait, posted or multishot reads, see
/// [`UringRxQueue::mode`]).
pub struct UringRxQueue {
    engine: RxEngine<UringRing, Vec<Slot>>,
    started: bool,
}

impl UringRxQueue {
    fn ensure_started(&mut self) -> Result<(), Error> {
        if let Some(gone) = self.engine.device_gone() {
            // Stopped for good: never set up again.
            return Err(gone);
        }
        if !self.started {
            self.engine.ring_mut().enable()?;
            self.engine.ring_mut().restore_file();
            self.engine.start()?;
            self.started = true;
        } else {
            self.engine.ring().check_thread()?;
        }
        Ok(())
    }

    /// Starts receiving now (otherwise the first `rx_burst` does), binding
    /// the ring to the calling thread.
    pub fn start(&mut self) -> Result<(), Error> {
        self.ensure_started()
    }

    /// The Rx mode in use.
    pub fn mode(&self) -> RxMode {
        self.engine.mode()
    }

    /// Buffers lent to the kernel.
    pub fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    /// Whether reads go into registered buffers (asked for with
    /// [`UringConfig::fixed_buffers`], and the pool's area could be pinned).
    pub fn uses_fixed_buffers(&self) -> bool {
        self.engine.ring().has_fixed_buffers()
    }
}

impl RxQueue for UringRxQueue {
    fn stop(&mut self) -> Result<(), Error> {
        self.started = false;
        self.engine.stop()?;
        // Nothing is in flight now: let go of the TAP fd here, on the
        // queue's own thread, so that closing the port closes the device.
        self.engine.ring_mut().release_file();
        Ok(())
    }

    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        self.ensure_started()?;
        let r = self.engine.rx_burst(burst);
        if let Err(Error::DeviceGone { errno }) = r
            && self.started
        {
            // Stopped by the engine: let go of the TAP fd too (once).
            tracing::warn!(
                errno,
                "io_uring Rx queue: the device is gone; queue stopped"
            );
            self.engine.ring_mut().release_file();
            self.started = false;
        }
        r
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.ensure_started()?;
        self.engine.wait(timeout)
    }

    fn stats(&self) -> QueueStats {
        *self.engine.stats()
    }

    /// An eventfd the ring signals on completions (created and registered
    /// on first call, kept for the queue's life).
    fn readiness(&mut self) -> Result<Readiness, Error> {
        self.engine.ring().check_thread()?;
        let fd = self.engine.ring_mut().eventfd()?.as_raw_fd();
        Ok(Readiness {
            fd,
            interest: Interest::Readable,
        })
    }

    /// Starts the queue if needed (binding it to this thread) and makes
    /// sure the eventfd fires when the next frame arrives: no-wait mode
    /// keeps nothing posted between bursts and arms a one-shot poll; the
    /// other modes have reads posted already. Resets the eventfd (each
    /// completion signals it, a no-wait read's EAGAIN included) and reports
    /// [`Wakeup::Pending`] when completions or deferred work already wait.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        self.ensure_started()?;
        // The eventfd exists before anything is armed, so the arming
        // cannot complete unseen.
        self.engine.ring_mut().eventfd()?;
        if self.engine.starved() {
            // No buffer to lend: no read can signal (see Wakeup::Starved).
            return Ok(Wakeup::Starved);
        }
        self.engine.arm_wakeup()?;
        Ok(if self.engine.ring_mut().prepare_sleep()? {
            Wakeup::Pending
        } else {
            Wakeup::Armed
        })
    }

    fn release_cached(&mut self) -> usize {
        self.engine.release_cached()
    }
}

/// A Tx queue over io_uring.
pub struct UringTxQueue {
    engine: TxEngine<UringRing, Vec<Slot>>,
    started: bool,
}

impl UringTxQueue {
    fn ensure_started(&mut self) -> Result<(), Error> {
        if let Some(gone) = self.engine.device_gone() {
            // Stopped for good: never set up again.
            return Err(gone);
        }
        if !self.started {
            self.engine.ring_mut().enable()?;
            self.engine.ring_mut().restore_file();
            self.engine.start()?;
            self.started = true;
        } else {
            self.engine.ring().check_thread()?;
        }
        Ok(())
    }

    /// Whether writes come from registered buffers (asked for with
    /// [`UringConfig::fixed_buffers`], and the pool's area could be pinned).
    pub fn uses_fixed_buffers(&self) -> bool {
        self.engine.ring().has_fixed_buffers()
    }

    /// After the engine found the device gone (and stopped): lets go of the
    /// TAP fd too, once.
    fn note_gone<T>(&mut self, r: &Result<T, Error>) {
        if let Err(Error::DeviceGone { errno }) = r
            && self.started
        {
            tracing::warn!(
                errno,
                "io_uring Tx queue: the device is gone; queue stopped"
            );
            self.engine.ring_mut().release_file();
            self.started = false;
        }
    }
}

impl TxQueue for UringTxQueue {
    fn stop(&mut self) -> Result<(), Error> {
        self.started = false;
        self.engine.stop()?;
        // Nothing is in flight now: let go of the TAP fd here, on the
        // queue's own thread, so that closing the port closes the device.
        self.engine.ring_mut().release_file();
        Ok(())
    }

    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        self.ensure_started()?;
        let r = self.engine.tx_burst(burst);
        self.note_gone(&r);
        r
    }

    fn reclaim(&mut self) -> Result<usize, Error> {
        if !self.started {
            return Ok(0);
        }
        self.engine.ring().check_thread()?;
        let r = self.engine.reclaim();
        self.note_gone(&r);
        r
    }

    fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    fn stats(&self) -> QueueStats {
        *self.engine.stats()
    }

    /// An eventfd the ring signals when writes complete (created and
    /// registered on first call, kept for the queue's life).
    fn readiness(&mut self) -> Result<Readiness, Error> {
        self.engine.ring().check_thread()?;
        let fd = self.engine.ring_mut().eventfd()?.as_raw_fd();
        Ok(Readiness {
            fd,
            interest: Interest::Readable,
        })
    }

    /// [`Wakeup::Pending`] when nothing is in flight (the ring has room) or
    /// completions already wait to be reclaimed; otherwise
    /// [`Wakeup::Armed`]: the eventfd fires when a write completes.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        self.ensure_started()?;
        self.engine.ring_mut().eventfd()?;
        if self.engine.in_flight() == 0 {
            return Ok(Wakeup::Pending);
        }
        Ok(if self.engine.ring_mut().prepare_sleep()? {
            Wakeup::Pending
        } else {
            Wakeup::Armed
        })
    }

    fn release_cached(&mut self) -> usize {
        self.engine.release_cached()
    }

    fn alloc(&mut self) -> Option<tapring_core::Pkt> {
        self.engine.alloc()
    }
}

// Queues are set up on one thread and driven on another (the ring binds to
// the first thread that uses it).
static_assertions::assert_impl_all!(UringRxQueue: Send);
static_assertions::assert_impl_all!(UringTxQueue: Send);

impl std::fmt::Debug for UringPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringPort")
            .field("device", &self.dev.name())
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UringRxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringRxQueue")
            .field("mode", &self.mode())
            .field("in_flight", &self.in_flight())
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UringTxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringTxQueue")
            .field("in_flight", &self.engine.in_flight())
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}
