//! Opening a TAP port with either backend, as trait objects, so every
//! workload is written once.

use crate::error::HarnessError;
use serde::Serialize;
use tapring::device::{Offloads, TapConfig};
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
    _port: AnyPort,
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

/// The offloads a forwarder negotiates when asked to: partial checksums,
/// TSO for IPv4 and IPv6 (with ECN), and USO where the kernel accepts it.
pub fn forwarding_offloads() -> Offloads {
    let mut o = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6 | Offloads::TSO_ECN;
    let uso = Offloads::USO4 | Offloads::USO6;
    if tapring::device::probe()
        .accepted_offloads
        .is_some_and(|a| a.contains(uso))
    {
        o |= uso;
    }
    o
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
        rx.push(
            port.take_rx(q)
                .map_err(|e| HarnessError::Backend(e.to_string()))?,
        );
    }
    for q in 0..info.tx_queues {
        tx.push(
            port.take_tx(q)
                .map_err(|e| HarnessError::Backend(e.to_string()))?,
        );
    }
    Ok(Opened {
        ifindex: port.device().ifindex(),
        _port: port,
        rx,
        tx,
    })
}
