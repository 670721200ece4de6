//! # tapring
//!
//! Fast, correct userspace packet I/O over Linux TAP devices, built like a
//! DPDK poll-mode driver: ports, Rx/Tx queues, burst calls and a packet
//! buffer pool. The kernel's network stack sits on the other side of the
//! pipe; tapring moves frames across it with io_uring ([`Backend::IoUring`],
//! feature `uring`), with plain `read`/`write` ([`Backend::ReadWrite`],
//! feature `rw`: the baseline and the fallback), or through a simulated
//! kernel for tests (feature `mock`).
//!
//! Three types do most jobs: a [`Pool`] of packet buffers, a
//! [`PortBuilder`] that opens a TAP device as an [`AnyPort`], and a
//! [`Forwarder`] that moves frames between two ports:
//!
//! ```no_run
//! use tapring::prelude::*;
//!
//! let pool = Pool::new(PoolConfig::standard(16384))?;
//! let a = PortBuilder::new("tr0").up(true).open(&pool)?;
//! let b = PortBuilder::new("tr1").up(true).open(&pool)?;
//! let forwarder = Forwarder::start(vec![a, b])?; // one thread per direction
//! std::thread::sleep(std::time::Duration::from_secs(10));
//! print!("{}", forwarder.stop()); // totals, drops by reason
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Or drive the queues yourself with burst calls ([`RxQueue::rx_burst`]
//! appends, [`TxQueue::tx_burst`] takes a prefix and leaves the rest):
//!
//! ```no_run
//! use tapring::prelude::*;
//!
//! let pool = Pool::new(PoolConfig::standard(8192))?;
//! let mut port = PortBuilder::new("tr0").open(&pool)?;
//! let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
//! let mut burst: Burst = Burst::new();
//! loop {
//!     rx.wait(Some(std::time::Duration::from_millis(100)))?; // idle costs no CPU
//!     rx.rx_burst(&mut burst)?;
//!     tx.tx_burst(&mut burst)?; // echo; what is not taken stays in the burst
//!     burst.clear();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Packets without a device:
//!
//! ```
//! use tapring::{Burst, Pool, PoolConfig};
//!
//! // One region of fixed-size buffers; every packet's data lies in it.
//! let pool = Pool::new(PoolConfig::standard(1024))?;
//! let mut burst: Burst = Burst::new();
//! let mut pkt = pool.alloc().expect("a free buffer");
//! pkt.extend_from_slice(&[0xff; 14])?; // an Ethernet header...
//! pkt.extend_from_slice(b"hello")?;   // ...and a payload
//! burst.push(pkt).expect("room in the burst");
//! assert_eq!(pool.stats().in_use, 1);
//! burst.clear(); // dropping a packet returns its buffer
//! assert_eq!(pool.stats().in_use, 0);
//! # Ok::<(), tapring::Error>(())
//! ```
//!
//! Event loops: every queue has a `readiness()` fd and `arm_wakeup()`
//! (see [`Readiness`] for the protocol); [`wait_ready`] sleeps on several
//! queues without a runtime, and the `tokio` feature adds `tapring::tokio`
//! (`PortBuilder::open_async`, futures for `rx_burst`/`tx_burst`).
//!
//! TUN devices (IP packets, no Ethernet header; for VPNs and userspace IP
//! stacks) open with [`PortBuilder::tun`]; their ports report
//! [`Framing::Ip`] in [`PortInfo::framing`], and the header helpers take
//! the framing (`headers::request_segmentation_framed`).
//!
//! Users who want one backend only can use its types directly:
//! [`uring::UringPort`], [`rw::RwPort`]; [`device`] controls the TAP
//! device itself (MTU, MAC, link state, counters). `examples/` has a
//! two-port forwarder and an ARP/ICMP responder on threads, and with the
//! `tokio` feature a two-port forwarder and a TUN ICMP echo responder as
//! tokio tasks.
#![warn(missing_docs)]

pub use tapring_core::{
    Burst, BurstSlice, Checksum, ConfigError, Error, Framing, Gso, GsoKind, Interest, Offload, Pkt,
    PktError, Pool, PoolCache, PoolConfig, PoolStats, Port, PortInfo, PortStats, QueueStats,
    Readiness, RxMode, RxQueue, TxQueue, Wakeup,
};
pub use tapring_device::{Attach, DeviceMode, Offloads, VnetHdrLen};
/// Sleeping on queues' [`Readiness`] fds without an async runtime.
pub use tapring_device::{MAX_WAIT_SET, ReadySet, wait_ready};

/// Frame headers and the transmit offload requests built from them: the
/// parser ([`tapring_core::wire::headers`]) and the requests
/// ([`tapring_core::wire::offload_request`]) in one place.
pub mod headers {
    pub use tapring_core::wire::headers::*;
    pub use tapring_core::wire::offload_request::*;
}

/// The Internet checksum (RFC 1071) and pseudo-header sums.
pub use tapring_core::wire::checksum;
/// Software receive offload: coalescing a burst's TCP (and UDP) segments
/// into GSO frames, as the [`Forwarder`] does for a port with a virtio-net
/// header; for loops of your own.
pub use tapring_core::wire::gro;
/// Software segmentation of GSO frames and completion of partial
/// checksums, as the [`Forwarder`] does for a port without a virtio-net
/// header; for loops of your own.
pub use tapring_core::wire::gso;

mod backend;
#[cfg(any(feature = "uring", feature = "rw"))]
mod builder;
mod forwarder;
#[cfg(any(feature = "uring", feature = "rw"))]
mod port;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use backend::{Backend, ParseBackendError};
#[cfg(any(feature = "uring", feature = "rw"))]
pub use builder::PortBuilder;
pub use forwarder::{
    DirTotals, FORWARD_BURST, ForwardError, ForwardReport, Forwarder, ForwarderConfig, LaneReport,
    StopHandle, Threading,
};
#[cfg(any(feature = "uring", feature = "rw"))]
pub use port::{AnyPort, AnyRxQueue, AnyTxQueue, PortError};

/// The names most programs need: `use tapring::prelude::*;`.
pub mod prelude {
    #[cfg(any(feature = "uring", feature = "rw"))]
    pub use crate::{AnyPort, PortBuilder};
    pub use crate::{
        Attach, Backend, Burst, DeviceMode, Forwarder, Framing, Offloads, Pkt, Pool, PoolConfig,
        Port, RxQueue, TxQueue,
    };
}

/// TAP device control: open, configure and query the device itself.
#[doc(inline)]
pub use tapring_device as device;

/// The read/write data path.
#[cfg(feature = "rw")]
#[doc(inline)]
pub use tapring_rw as rw;

/// The io_uring data path.
#[cfg(feature = "uring")]
#[doc(inline)]
pub use tapring_uring as uring;

/// The simulated kernel, for testing code written on tapring.
#[cfg(feature = "mock")]
#[doc(inline)]
pub use tapring_mock as mock;

// The README's examples are compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
