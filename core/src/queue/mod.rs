//! Queues and ports: the traits every backend's queues and ports implement
//! ([`RxQueue`], [`TxQueue`], [`Port`]), what they report ([`PortInfo`],
//! [`PortStats`], [`QueueStats`]), how they are configured
//! ([`QueueConfig`], [`RxMode`]) and the crate's one error type,
//! [`Error`]. Small on purpose: a backend that cannot do something says so
//! with a typed error.

mod config;
mod error;
mod readiness;
pub mod stats;

pub use config::{MAX_RING_ENTRIES, ParseRxModeError, QueueConfig, RxMode};
pub use error::Error;
pub use readiness::{Interest, Readiness, Wakeup};
pub use stats::QueueStats;

use crate::packet::BurstSlice;
use crate::wire::{Framing, VnetHdrLen};
use core::time::Duration;

/// A receive queue, used by one thread at a time.
pub trait RxQueue: Send {
    /// Appends up to `burst.spare()` received packets to `burst`; returns how
    /// many. Never blocks; 0 means nothing was ready.
    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error>;

    /// Blocks until a packet may be ready or `timeout` passes (an idle queue
    /// then costs no CPU). Spurious wake-ups are allowed.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error>;

    /// The queue's counters.
    fn stats(&self) -> QueueStats;

    /// Stops the queue: every buffer lent to the kernel comes back to the
    /// pool (frames the kernel queues meanwhile wait there). The next
    /// `rx_burst` or `wait` starts it again. Synchronous backends hold no
    /// buffers and have nothing to do.
    fn stop(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// The file descriptor an event loop (epoll, mio, tokio) watches to
    /// learn that frames may have arrived. Stable for the queue's life;
    /// see [`Readiness`] for the protocol.
    fn readiness(&mut self) -> Result<Readiness, Error> {
        Err(Error::Unsupported("readiness (an fd for an event loop)"))
    }

    /// Prepares to sleep on [`RxQueue::readiness`]: call it after
    /// `rx_burst` returned 0. [`Wakeup::Armed`]: the fd will signal when a
    /// frame arrives, sleep. [`Wakeup::Pending`]: something is waiting
    /// already, call `rx_burst` again instead.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        Err(Error::Unsupported("readiness (an fd for an event loop)"))
    }

    /// Gives the free buffers this queue keeps for itself (its cache, not
    /// those lent to the kernel) back to the pool's shared free list, where
    /// [`Pool::alloc`](crate::Pool::alloc) and
    /// [`Pkt::alloc_sibling`](crate::Pkt::alloc_sibling) find them; returns
    /// how many. For code that allocates from the pool directly and found
    /// it empty while queues may be sitting on buffers; the queue refills
    /// its cache by itself later. A queue without a cache returns 0.
    fn release_cached(&mut self) -> usize {
        0
    }
}

/// A transmit queue, used by one thread at a time.
pub trait TxQueue: Send {
    /// Sends packets from the front of `burst`; returns how many it took.
    /// Taken packets leave the burst (sent, or counted in a drop reason and
    /// freed); the rest stay in order for the caller to retry or drop.
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error>;

    /// Collects finished transmissions and frees their buffers; returns how
    /// many completed. Synchronous backends return 0.
    fn reclaim(&mut self) -> Result<usize, Error>;

    /// An empty packet for the next frame to send: a buffer of a finished
    /// transmission from this queue's cache, else from the pool (`None`
    /// when both are empty). A sender that fills its packets with it
    /// reuses the buffers it just sent, still warm in this CPU's cache,
    /// and never passes them through the pool's shared free list, where a
    /// thread on another CPU could take them (each buffer would then
    /// cross between the CPUs' caches). Packets allocated anywhere else
    /// can still be sent.
    fn alloc(&mut self) -> Option<crate::Pkt>;

    /// Transmissions handed to the kernel but not yet completed.
    fn in_flight(&self) -> usize;

    /// The queue's counters.
    fn stats(&self) -> QueueStats;

    /// Stops the queue: waits for (or cancels) what is in flight and returns
    /// every buffer to the pool. The next `tx_burst` starts it again.
    fn stop(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// The file descriptor an event loop watches to learn that the queue
    /// can take packets again or has finished transmissions to reclaim.
    /// Stable for the queue's life; see [`Readiness`].
    fn readiness(&mut self) -> Result<Readiness, Error> {
        Err(Error::Unsupported("readiness (an fd for an event loop)"))
    }

    /// Prepares to sleep on [`TxQueue::readiness`]: call it when `tx_burst`
    /// left packets in the burst (no room) or to wait for what is in
    /// flight. [`Wakeup::Armed`]: the fd will signal when transmissions
    /// complete, sleep. [`Wakeup::Pending`]: the queue can make progress
    /// now (room, or completions to reclaim), so do not sleep.
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        Err(Error::Unsupported("readiness (an fd for an event loop)"))
    }

    /// Gives the free buffers this queue keeps for itself (its cache of
    /// buffers whose transmissions completed, not those in flight) back to
    /// the pool's shared free list, where
    /// [`Pool::alloc`](crate::Pool::alloc) and
    /// [`Pkt::alloc_sibling`](crate::Pkt::alloc_sibling) find them; returns
    /// how many. For code that allocates from the pool directly and found
    /// it empty while queues may be sitting on buffers (software GSO in
    /// the forwarder). Call [`TxQueue::reclaim`] first to collect what has
    /// completed. A queue without a cache returns 0.
    fn release_cached(&mut self) -> usize {
        0
    }
}

/// Static facts about a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// Interface index in the kernel (0 if none).
    pub ifindex: u32,
    /// Maximum frame the port accepts without segmentation: MTU + L2 header
    /// on a TAP port, the MTU on a TUN port.
    pub max_frame: u32,
    /// What every frame starts with: an Ethernet header (TAP) or the IP
    /// header (TUN, [`Framing::Ip`]).
    pub framing: Framing,
    /// Rx queues configured.
    pub rx_queues: u16,
    /// Tx queues configured.
    pub tx_queues: u16,
    /// Length of the virtio-net header on each frame.
    pub vnet_hdr_len: VnetHdrLen,
    /// Backend name ("io_uring", "read-write", "mock").
    pub backend: &'static str,
}

/// Port-level counters, as the kernel counts the interface: they work
/// whether or not the queues were taken out of the port, and include what
/// only the kernel knows (frames it dropped because the port was slow).
/// Counted from the port's side: `tx_*` is what the port wrote, `rx_*`
/// what it read. Per-queue counters are each queue's
/// `stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortStats {
    /// Frames the kernel took from the port's Tx queues (the interface's
    /// rx_packets).
    pub tx_packets: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames written that the kernel dropped (the interface's rx_dropped).
    pub tx_dropped: u64,
    /// Frames the port's Rx queues read (the interface's tx_packets, which
    /// tun counts as frames are read).
    pub rx_packets: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames the kernel dropped because the Rx queues did not keep up (the
    /// interface's tx_dropped: its queue towards the port was full).
    pub imissed: u64,
}

impl PortStats {
    /// From the interface's own counters, which count from the kernel's
    /// side (`ifrx_*` is what the interface received, i.e. what the port
    /// wrote; `iftx_*` what it sent towards the port).
    pub const fn from_interface(
        ifrx_packets: u64,
        ifrx_bytes: u64,
        ifrx_dropped: u64,
        iftx_packets: u64,
        iftx_bytes: u64,
        iftx_dropped: u64,
    ) -> PortStats {
        PortStats {
            tx_packets: ifrx_packets,
            tx_bytes: ifrx_bytes,
            tx_dropped: ifrx_dropped,
            rx_packets: iftx_packets,
            rx_bytes: iftx_bytes,
            imissed: iftx_dropped,
        }
    }
}

/// A port: a device with Rx and Tx queues. Queues are taken out of the
/// port (each once) to be moved to the threads that use them.
pub trait Port {
    /// The Rx queue type.
    type Rx: RxQueue;
    /// The Tx queue type.
    type Tx: TxQueue;
    /// Why a queue could not be taken or the counters read: the backend's
    /// own error type, whole.
    type Error: core::error::Error + Send + Sync + 'static;

    /// Static facts about the port.
    fn info(&self) -> PortInfo;

    /// Takes Rx queue `q` (once); an error if it does not exist or was taken.
    fn take_rx(&mut self, q: u16) -> Result<Self::Rx, Self::Error>;

    /// Takes Tx queue `q` (once).
    fn take_tx(&mut self, q: u16) -> Result<Self::Tx, Self::Error>;

    /// The interface's counters (see [`PortStats`]). Fails while the
    /// interface is in another network namespace than the caller's.
    fn stats(&self) -> Result<PortStats, Self::Error>;
}

/// A boxed queue is a queue (so ports can hand out trait objects).
#[cfg(feature = "std")]
impl<T: RxQueue + ?Sized> RxQueue for std::boxed::Box<T> {
    fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        (**self).rx_burst(burst)
    }
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        (**self).wait(timeout)
    }
    fn stats(&self) -> QueueStats {
        (**self).stats()
    }
    fn stop(&mut self) -> Result<(), Error> {
        (**self).stop()
    }
    fn readiness(&mut self) -> Result<Readiness, Error> {
        (**self).readiness()
    }
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        (**self).arm_wakeup()
    }
    fn release_cached(&mut self) -> usize {
        (**self).release_cached()
    }
}

/// A boxed queue is a queue (so ports can hand out trait objects).
#[cfg(feature = "std")]
impl<T: TxQueue + ?Sized> TxQueue for std::boxed::Box<T> {
    fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        (**self).tx_burst(burst)
    }
    fn reclaim(&mut self) -> Result<usize, Error> {
        (**self).reclaim()
    }
    fn alloc(&mut self) -> Option<crate::Pkt> {
        (**self).alloc()
    }
    fn in_flight(&self) -> usize {
        (**self).in_flight()
    }
    fn stats(&self) -> QueueStats {
        (**self).stats()
    }
    fn stop(&mut self) -> Result<(), Error> {
        (**self).stop()
    }
    fn readiness(&mut self) -> Result<Readiness, Error> {
        (**self).readiness()
    }
    fn arm_wakeup(&mut self) -> Result<Wakeup, Error> {
        (**self).arm_wakeup()
    }
    fn release_cached(&mut self) -> usize {
        (**self).release_cached()
    }
}
