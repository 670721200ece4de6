//! Opening a TAP port with either backend, as trait objects, so every
//! workload is written once.

use crate::error::HarnessError;
use serde::Serialize;
use tapring::tap::{TapConfig, TapPort, TapQueueOptions};
use tapring::uring::{UringConfig, UringPort};
use tapring::{Pool, Port, RxMode, RxQueue, TxQueue};

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
}

impl RxModeArg {
    /// The library's mode.
    pub fn mode(self) -> RxMode {
        match self {
            RxModeArg::Auto => RxMode::Auto,
            RxModeArg::Posted => RxMode::Posted,
            RxModeArg::Multishot => RxMode::Multishot,
        }
    }
}

/// An open port of either backend.
pub enum AnyPort {
    /// read/write.
    Tap(TapPort),
    /// io_uring.
    Uring(UringPort),
}

/// A port with all of its queues taken.
pub struct Opened {
    /// The port (keeps the device alive).
    pub port: AnyPort,
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// Rx queues, by index.
    pub rx: Vec<Box<dyn RxQueue>>,
    /// Tx queues, by index.
    pub tx: Vec<Box<dyn TxQueue>>,
}

impl Opened {
    /// The device (control operations).
    pub fn device(&self) -> &tapring::tap::TapDevice {
        match &self.port {
            AnyPort::Tap(p) => p.device(),
            AnyPort::Uring(p) => p.device(),
        }
    }

    /// Frames the kernel dropped because the Rx queues did not keep up
    /// (the interface's tx_dropped). Fails while the interface is in
    /// another network namespace.
    pub fn imissed(&self) -> Result<u64, HarnessError> {
        let r = match &self.port {
            AnyPort::Tap(p) => p.imissed(),
            AnyPort::Uring(p) => p.imissed(),
        };
        r.map_err(HarnessError::from)
    }
}

/// Every queue of a port, as trait objects.
type AllQueues = (Vec<Box<dyn RxQueue>>, Vec<Box<dyn TxQueue>>);

fn take_all<P: Port>(port: &mut P) -> Result<AllQueues, HarnessError>
where
    P::Rx: 'static,
    P::Tx: 'static,
{
    let info = port.info();
    let mut rx: Vec<Box<dyn RxQueue>> = Vec::new();
    let mut tx: Vec<Box<dyn TxQueue>> = Vec::new();
    for q in 0..info.rx_queues {
        rx.push(Box::new(port.take_rx(q)?));
    }
    for q in 0..info.tx_queues {
        tx.push(Box::new(port.take_tx(q)?));
    }
    Ok((rx, tx))
}

/// Opens the device `tap` with backend `kind`, queues taking buffers from
/// `pool`.
pub fn open(
    kind: BackendKind,
    tap: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    port_id: u16,
) -> Result<Opened, HarnessError> {
    let (port, rx, tx) = match kind {
        BackendKind::Tap => {
            let opts = TapQueueOptions {
                port_id,
                ..TapQueueOptions::default()
            };
            let mut p = TapPort::open(tap, pool, opts)?;
            let (rx, tx) = take_all(&mut p)?;
            (AnyPort::Tap(p), rx, tx)
        }
        BackendKind::Uring => {
            let cfg = UringConfig {
                rx_mode,
                port_id,
                ..UringConfig::default()
            };
            let mut p = UringPort::open(tap, pool, cfg)?;
            let (rx, tx) = take_all(&mut p)?;
            (AnyPort::Uring(p), rx, tx)
        }
    };
    let mut o = Opened {
        port,
        name: String::new(),
        ifindex: 0,
        rx,
        tx,
    };
    o.name = o.device().name().to_string();
    o.ifindex = o.device().ifindex();
    Ok(o)
}
