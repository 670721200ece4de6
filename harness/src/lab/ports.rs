//! Opening a TAP port with either backend (as the library's [`AnyPort`],
//! so every workload is written once), and what an opened port actually
//! runs with.

use crate::error::HarnessError;
use serde::Serialize;
use tapring::device::{DeviceMode, TapConfig};
use tapring::uring::UringConfig;
use tapring::{AnyPort, AnyRxQueue, AnyTxQueue, Backend, Pool, Port, PortBuilder, RxMode};

/// A short tag of `backend` for interface names (at most 15 bytes each).
pub fn tag(backend: Backend) -> &'static str {
    match backend {
        Backend::ReadWrite => "rw",
        _ => "ur",
    }
}

/// Writes a [`DeviceMode`] as its name (`"tap"` or `"tun"`) in JSON records
/// (the library type has `Display`, not `Serialize`).
pub fn serialize_mode<S: serde::Serializer>(mode: &DeviceMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.as_str())
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

/// Opens the device `tap` with backend `kind` (queues not taken), buffers
/// from `pool`.
pub fn open_port(
    kind: Backend,
    tap: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    rings: UringConfig,
    port_id: u16,
) -> Result<AnyPort, HarnessError> {
    let cfg = rings.rx_mode(rx_mode);
    PortBuilder::from_device(tap.clone())
        .backend(kind)
        .port_id(port_id)
        .io_uring(cfg)
        .open(pool)
        .map_err(|e| HarnessError::Backend(e.to_string()))
}

/// Opens the device `tap` with backend `kind` and takes all of its queues.
pub fn open(
    kind: Backend,
    tap: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    rings: UringConfig,
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
    pub backend: Backend,
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
        let backend = self.port.backend();
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
            sqpoll: sqpoll && backend == Backend::IoUring,
        }
    }
}
