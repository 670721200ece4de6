//! Opening a TAP port with either backend (as the library's [`AnyPort`],
//! so every workload is written once), and what an opened port actually
//! runs with.

use crate::error::HarnessError;
use serde::Serialize;
use tapring::device::TapConfig;
use tapring::uring::{FixedBuffers, UringConfig};
use tapring::{AnyPort, AnyRxQueue, AnyTxQueue, Backend, Pool, Port, PortBuilder, RxMode};

/// Which data path drives the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Plain read/write syscalls (the baseline).
    Tap,
    /// io_uring.
    Uring,
}

impl BackendKind {
    /// The kind of the library's (resolved) backend.
    pub fn of(backend: Backend) -> BackendKind {
        match backend {
            Backend::ReadWrite => BackendKind::Tap,
            _ => BackendKind::Uring,
        }
    }

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Tap => "tap",
            BackendKind::Uring => "uring",
        }
    }
}

/// Rx hand-over mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RxModeArg {
    /// The best the kernel supports.
    Auto,
    /// One read per posted buffer.
    Posted,
    /// One multishot read over a provided-buffer ring.
    Multishot,
    /// A batch of RWF_NOWAIT reads per burst, nothing posted in between.
    Nowait,
}

impl RxModeArg {
    /// The library's mode.
    pub fn mode(self) -> RxMode {
        match self {
            RxModeArg::Auto => RxMode::Auto,
            RxModeArg::Posted => RxMode::Posted,
            RxModeArg::Multishot => RxMode::Multishot,
            RxModeArg::Nowait => RxMode::Nowait,
        }
    }
}

/// Which io_uring queues use registered (fixed) buffers, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FixedBuffersArg {
    /// Plain reads and writes.
    Off,
    /// Rx queues read into registered buffers (the library's default).
    Rx,
    /// Rx and Tx queues.
    All,
}

impl FixedBuffersArg {
    /// The library's setting.
    pub fn setting(self) -> FixedBuffers {
        match self {
            FixedBuffersArg::Off => FixedBuffers::Off,
            FixedBuffersArg::Rx => FixedBuffers::Rx,
            FixedBuffersArg::All => FixedBuffers::RxTx,
        }
    }
}

/// A port with all of its queues taken.
pub struct Opened {
    /// The port, held as long as its queues (control calls stay possible).
    port: AnyPort,
    /// Interface index.
    pub ifindex: u32,
    /// Rx queues, by index.
    pub rx: Vec<AnyRxQueue>,
    /// Tx queues, by index.
    pub tx: Vec<AnyTxQueue>,
}

/// io_uring ring sizes and options (ignored by the tap backend).
#[derive(Clone, Copy, Debug)]
pub struct UringTuning {
    /// Posted-read mode: reads kept posted; no-wait mode: largest batch.
    pub rx_depth: u32,
    /// Multishot mode: provided buffers.
    pub multishot_buffers: u32,
    /// Which queues use registered (fixed) buffers.
    pub fixed_buffers: FixedBuffers,
    /// A kernel thread polls the submission queues.
    pub sqpoll: bool,
    /// The CPU that kernel thread is bound to.
    pub sqpoll_cpu: Option<u32>,
    /// Most writes in flight per Tx queue.
    pub tx_depth: u32,
}

impl Default for UringTuning {
    fn default() -> Self {
        let d = UringConfig::default();
        UringTuning {
            rx_depth: d.rx_depth,
            multishot_buffers: d.multishot_buffers,
            fixed_buffers: d.fixed_buffers,
            sqpoll: d.sqpoll,
            sqpoll_cpu: d.sqpoll_cpu,
            tx_depth: d.tx_depth,
        }
    }
}

/// Opens the device `tap` with backend `kind` (queues not taken), buffers
/// from `pool`.
pub fn open_port(
    kind: BackendKind,
    tap: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    rings: UringTuning,
    port_id: u16,
) -> Result<AnyPort, HarnessError> {
    let backend = match kind {
        BackendKind::Tap => Backend::ReadWrite,
        BackendKind::Uring => Backend::IoUring,
    };
    let cfg = UringConfig {
        rx_mode,
        rx_depth: rings.rx_depth,
        multishot_buffers: rings.multishot_buffers,
        fixed_buffers: rings.fixed_buffers,
        sqpoll: rings.sqpoll,
        sqpoll_cpu: rings.sqpoll_cpu,
        tx_depth: rings.tx_depth,
        ..UringConfig::default()
    };
    PortBuilder::from_device(tap.clone())
        .backend(backend)
        .port_id(port_id)
        .io_uring(cfg)
        .open(pool)
        .map_err(|e| HarnessError::Backend(e.to_string()))
}

/// Opens the device `tap` with backend `kind` and takes all of its queues.
pub fn open(
    kind: BackendKind,
    tap: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    rings: UringTuning,
    port_id: u16,
) -> Result<Opened, HarnessError> {
    let mut port = open_port(kind, tap, pool, rx_mode, rings, port_id)?;
    let info = port.info();
    let mut rx = Vec::new();
    let mut tx = Vec::new();
    for q in 0..info.rx_queues {
        rx.push(port.take_rx(q)?);
    }
    for q in 0..info.tx_queues {
        tx.push(port.take_tx(q)?);
    }
    Ok(Opened {
        ifindex: port.device().ifindex(),
        port,
        rx,
        tx,
    })
}

/// What an opened port actually runs with, as the library reports it
/// (`auto` resolved, registration attempted), for the records of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortSettings {
    /// The backend driving the port.
    pub backend: BackendKind,
    /// Queues (Rx and Tx each).
    pub queues: u16,
    /// io_uring Rx mode in use (`None` for read/write, which lends nothing).
    pub rx_mode: Option<&'static str>,
    /// Which queues read or write registered buffers: off, rx, tx or all.
    pub fixed_buffers: &'static str,
    /// Whether a kernel thread polls the submission queues.
    pub sqpoll: bool,
}

/// The name of an Rx mode in tables and JSON.
pub fn rx_mode_name(mode: RxMode) -> &'static str {
    match mode {
        RxMode::Auto => "auto",
        RxMode::Posted => "posted",
        RxMode::Multishot => "multishot",
        RxMode::Nowait => "nowait",
    }
}

impl Opened {
    /// What this port runs with; `sqpoll` as it was opened (a ring that
    /// cannot poll fails to open, so asked is what runs).
    pub fn settings(&mut self, sqpoll: bool) -> PortSettings {
        let backend = BackendKind::of(self.port.backend());
        let rx_mode = self.rx.first().and_then(AnyRxQueue::mode).map(rx_mode_name);
        let fixed_rx = self
            .rx
            .iter_mut()
            .any(|q| q.as_io_uring().is_some_and(|q| q.uses_fixed_buffers()));
        let fixed_tx = self
            .tx
            .iter_mut()
            .any(|q| q.as_io_uring().is_some_and(|q| q.uses_fixed_buffers()));
        PortSettings {
            backend,
            queues: u16::try_from(self.rx.len()).unwrap_or(u16::MAX),
            rx_mode,
            fixed_buffers: match (fixed_rx, fixed_tx) {
                (false, false) => "off",
                (true, false) => "rx",
                (false, true) => "tx",
                (true, true) => "all",
            },
            sqpoll: sqpoll && backend == BackendKind::Uring,
        }
    }
}
