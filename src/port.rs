//! [`AnyPort`] and its queues: one port type over either backend, chosen
//! at run time, dispatching statically (an enum, no boxes).

use std::time::Duration;

use tapring_core::{
    BurstSlice, Error, Port, PortInfo, PortStats, QueueStats, Readiness, RxMode, RxQueue, TxQueue,
    Wakeup,
};
use tapring_device::{DeviceError, TapDevice};

#[cfg(feature = "rw")]
use tapring_rw::{RwError, RwPort, RwRxQueue, RwTxQueue};
#[cfg(feature = "uring")]
use tapring_uring::{UringError, UringPort, UringRxQueue, UringTxQueue};

use crate::Backend;

/// Why a port could not be opened. The message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// Opening or controlling the TAP device failed (whatever the backend).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The io_uring backend failed (and no fallback applied).
    #[cfg(feature = "uring")]
    #[error(transparent)]
    IoUring(UringError),
    /// The read/write backend failed.
    #[cfg(feature = "rw")]
    #[error(transparent)]
    ReadWrite(RwError),
    /// The backend asked for is not compiled in.
    #[error("the {backend} backend is not compiled in: enable tapring's `{feature}` feature")]
    NotCompiled {
        /// The backend asked for.
        backend: Backend,
        /// The cargo feature that brings it.
        feature: &'static str,
    },
}

#[cfg(feature = "uring")]
impl From<UringError> for PortError {
    /// Device failures become [`PortError::Device`], so they are matched in
    /// one place whatever the backend.
    fn from(e: UringError) -> Self {
        match e {
            UringError::Device(d) => PortError::Device(d),
            e => PortError::IoUring(e),
        }
    }
}

#[cfg(feature = "rw")]
impl From<RwError> for PortError {
    /// Device failures become [`PortError::Device`].
    fn from(e: RwError) -> Self {
        match e {
            RwError::Device(d) => PortError::Device(d),
            e => PortError::ReadWrite(e),
        }
    }
}

/// A port over either backend (see [`PortBuilder`](crate::PortBuilder)).
/// Its queues are [`AnyRxQueue`] and [`AnyTxQueue`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyPort {
    /// Driven through io_uring.
    #[cfg(feature = "uring")]
    IoUring(UringPort),
    /// Driven with read/write; with the reason when io_uring was asked for
    /// ([`Backend::Auto`]) but could not be used.
    #[cfg(feature = "rw")]
    ReadWrite(RwPort, Option<String>),
}

impl AnyPort {
    /// The backend driving this port (never [`Backend::Auto`]).
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(_) => Backend::IoUring,
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(..) => Backend::ReadWrite,
        }
    }

    /// Why io_uring was not used, when [`Backend::Auto`] fell back.
    pub fn fallback_reason(&self) -> Option<&str> {
        match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(_) => None,
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(_, why) => why.as_deref(),
        }
    }

    /// The TAP device (control: MTU, MAC, link state, counters...).
    pub fn device(&self) -> &TapDevice {
        match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => p.device(),
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(p, _) => p.device(),
        }
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        self.device().name()
    }

    /// The io_uring Rx mode this port's Rx queues run in (`Auto`
    /// resolved), or `None` for read/write, which has no Rx modes.
    pub fn rx_mode(&self) -> Option<RxMode> {
        match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => Some(p.rx_mode()),
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(..) => None,
        }
    }
}

impl Port for AnyPort {
    type Rx = AnyRxQueue;
    type Tx = AnyTxQueue;
    type Error = PortError;

    fn info(&self) -> PortInfo {
        match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => p.info(),
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(p, _) => p.info(),
        }
    }

    fn take_rx(&mut self, q: u16) -> Result<AnyRxQueue, PortError> {
        Ok(match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => AnyRxQueue::IoUring(p.take_rx(q)?),
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(p, _) => AnyRxQueue::ReadWrite(p.take_rx(q)?),
        })
    }

    fn take_tx(&mut self, q: u16) -> Result<AnyTxQueue, PortError> {
        Ok(match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => AnyTxQueue::IoUring(p.take_tx(q)?),
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(p, _) => AnyTxQueue::ReadWrite(p.take_tx(q)?),
        })
    }

    fn stats(&self) -> Result<PortStats, PortError> {
        Ok(match self {
            #[cfg(feature = "uring")]
            AnyPort::IoUring(p) => p.stats()?,
            #[cfg(feature = "rw")]
            AnyPort::ReadWrite(p, _) => p.stats()?,
        })
    }
}

/// Calls `$body` with `$q` bound to the backend queue inside `$self`.
macro_rules! dispatch {
    ($ty:ident, $self:expr, $q:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "uring")]
            $ty::IoUring($q) => $body,
            #[cfg(feature = "rw")]
            $ty::ReadWrite($q) => $body,
        }
    };
}

/// An Rx queue of an [`AnyPort`]. The backend's own queue (for what only
/// it offers, such as io_uring's eventfd) is one match away, or
/// [`AnyRxQueue::as_io_uring`].
// A queue is made once and moved once into the thread that drives it:
// keeping the variants inline spares the hot path a pointer chase.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyRxQueue {
    /// An io_uring Rx queue.
    #[cfg(feature = "uring")]
    IoUring(UringRxQueue),
    /// A read/write Rx queue.
    #[cfg(feature = "rw")]
    ReadWrite(RwRxQueue),
}

impl AnyRxQueue {
    /// How buffers reach the kernel: the io_uring Rx mode in use, or
    /// `None` for read/write (which lends nothing).
    pub fn mode(&self) -> Option<RxMode> {
        match self {
            #[cfg(feature = "uring")]
            AnyRxQueue::IoUring(q) => Some(q.mode()),
            #[cfg(feature = "rw")]
            AnyRxQueue::ReadWrite(_) => None,
        }
    }

    /// The io_uring queue, if that is the backend.
    #[cfg(feature = "uring")]
    pub fn as_io_uring(&mut self) -> Option<&mut UringRxQueue> {
        match self {
            AnyRxQueue::IoUring(q) => Some(q),
            #[cfg(feature = "rw")]
            _ => None,
        }
    }
}

impl AnyRxQueue {
    /// The read/write queue, if that is the backend.
    #[cfg(feature = "rw")]
    pub fn as_read_write(&mut self) -> Option<&mut RwRxQueue> {
        match self {
            AnyRxQueue::ReadWrite(q) => Some(q),
            #[cfg(feature = "uring")]
            _ => None,
        }
    }
}

impl RxQueue for AnyRxQueue {
    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        dispatch!(AnyRxQueue, self, q => q.rx_burst(burst))
    }
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        dispatch!(AnyRxQueue, self, q => q.wait(timeout))
    }
    fn stats(&self) -> QueueStats {
        dispatch!(AnyRxQueue, self, q => q.stats())
    }
    fn stop(&mut self) -> Result<(), Error> {
        dispatch!(AnyRxQueue, self, q => q.stop())
    }
    fn readiness(&mut self) -> Result<Readiness, Error> {
        dispatch!(AnyRxQueue, self, q => q.readiness())
    }
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        dispatch!(AnyRxQueue, self, q => q.arm_wakeup())
    }

    fn release_cached(&mut self) -> usize {
        dispatch!(AnyRxQueue, self, q => q.release_cached())
    }
}

/// A Tx queue of an [`AnyPort`].
// A queue is made once and moved once into the thread that drives it:
// keeping the variants inline spares the hot path a pointer chase.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyTxQueue {
    /// An io_uring Tx queue.
    #[cfg(feature = "uring")]
    IoUring(UringTxQueue),
    /// A read/write Tx queue.
    #[cfg(feature = "rw")]
    ReadWrite(RwTxQueue),
}

impl AnyTxQueue {
    /// The io_uring queue, if that is the backend.
    #[cfg(feature = "uring")]
    pub fn as_io_uring(&mut self) -> Option<&mut UringTxQueue> {
        match self {
            AnyTxQueue::IoUring(q) => Some(q),
            #[cfg(feature = "rw")]
            _ => None,
        }
    }
}

impl AnyTxQueue {
    /// The read/write queue, if that is the backend.
    #[cfg(feature = "rw")]
    pub fn as_read_write(&mut self) -> Option<&mut RwTxQueue> {
        match self {
            AnyTxQueue::ReadWrite(q) => Some(q),
            #[cfg(feature = "uring")]
            _ => None,
        }
    }
}

impl TxQueue for AnyTxQueue {
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        dispatch!(AnyTxQueue, self, q => q.tx_burst(burst))
    }
    fn reclaim(&mut self) -> Result<usize, Error> {
        dispatch!(AnyTxQueue, self, q => q.reclaim())
    }
    fn in_flight(&self) -> usize {
        dispatch!(AnyTxQueue, self, q => q.in_flight())
    }
    fn stats(&self) -> QueueStats {
        dispatch!(AnyTxQueue, self, q => q.stats())
    }
    fn stop(&mut self) -> Result<(), Error> {
        dispatch!(AnyTxQueue, self, q => q.stop())
    }
    fn readiness(&mut self) -> Result<Readiness, Error> {
        dispatch!(AnyTxQueue, self, q => q.readiness())
    }
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        dispatch!(AnyTxQueue, self, q => q.arm_wakeup())
    }

    fn release_cached(&mut self) -> usize {
        dispatch!(AnyTxQueue, self, q => q.release_cached())
    }

    fn alloc(&mut self) -> Option<tapring_core::Pkt> {
        dispatch!(AnyTxQueue, self, q => q.alloc())
    }
}

static_assertions::assert_impl_all!(AnyRxQueue: Send);
static_assertions::assert_impl_all!(AnyTxQueue: Send);
