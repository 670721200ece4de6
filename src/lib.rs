//! # tapring
//!
//! Fast, correct userspace packet I/O over Linux TAP devices, built like a
//! DPDK poll-mode driver: ports, Rx/Tx queues, burst calls and a packet
//! buffer pool. The kernel's network stack sits on the other side of the
//! pipe; tapring moves frames across it with io_uring (the `uring` backend),
//! with plain `read`/`write` (the `tap` backend, the baseline and the
//! fallback), or through a simulated kernel for tests (`mock`).
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
//! With a device (needs CAP_NET_ADMIN), the io_uring backend:
//!
//! ```no_run
//! # #[cfg(feature = "uring")] {
//! use tapring::{Burst, Pool, PoolConfig, RxQueue, TxQueue};
//! use tapring::tap::TapConfig;
//! use tapring::uring::{UringConfig, UringPort};
//!
//! let pool = Pool::new(PoolConfig::standard(8192)).unwrap();
//! let mut port = UringPort::open(&TapConfig::named("tr0"), &pool, UringConfig::default()).unwrap();
//! let (mut rx, mut tx) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
//! let mut burst: Burst = Burst::new();
//! rx.rx_burst(&mut burst).unwrap();
//! tx.tx_burst(&mut burst).unwrap(); // what is not taken stays in the burst
//! # }
//! ```
//!
//! Crates: [`tapring_core`] (no_std: pool, packets, bursts, engine, codec),
//! [`tap`] (device control, read/write data path), [`uring`] (io_uring data
//! path), [`mock`] (simulated kernel, feature `mock`).
#![warn(missing_docs)]

pub use tapring_core;
pub use tapring_core::{
    Burst, BurstSlice, Checksum, ConfigError, Error, Gso, GsoKind, Offload, Pkt, PktError, Pool,
    PoolCache, PoolConfig, PoolStats, Port, PortInfo, PortStats, QueueConfig, QueueStats, RxMode,
    RxQueue, TxQueue,
};

/// Frame headers and the transmit offload requests built from them: the
/// parser ([`tapring_core::wire::headers`]) and the requests
/// ([`tapring_core::wire::offload_request`]) in one place.
pub mod headers {
    pub use tapring_core::wire::headers::*;
    pub use tapring_core::wire::offload_request::*;
}

#[cfg(all(feature = "tap", feature = "uring"))]
mod any_port;
#[cfg(all(feature = "tap", feature = "uring"))]
pub use any_port::{AnyPort, Backend, OpenError};

/// TAP device control and the read/write data path.
#[cfg(feature = "tap")]
pub use tapring_tap as tap;

/// The io_uring data path.
#[cfg(feature = "uring")]
pub use tapring_uring as uring;

/// The simulated kernel, for testing code written on tapring.
#[cfg(feature = "mock")]
pub use tapring_mock as mock;

// The README's examples are compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
