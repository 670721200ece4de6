//! # tapring-core
//!
//! The operating-system-free heart of [tapring], in four groups:
//!
//! * [`packet`]: a packet buffer pool over one contiguous region, owned
//!   packet handles ([`Pkt`]) with their offload metadata ([`Offload`]),
//!   fixed-capacity bursts ([`Burst`]);
//! * [`wire`]: the virtio-net header codec ([`wire::vnet`]), the L2-L4
//!   header parser ([`wire::headers`]), transmit offload requests built
//!   from a frame's own headers ([`wire::offload_request`]), software
//!   segmentation ([`wire::gso`]), software receive offload
//!   ([`wire::gro`]) and the Internet checksum ([`wire::checksum`]);
//! * [`queue`]: the queue traits every backend implements ([`RxQueue`],
//!   [`TxQueue`], [`Port`]), their statistics and configuration, and the
//!   crate's error type ([`Error`]);
//! * `backend` (feature `backend`, for backend crates only, hidden): the
//!   completion-driven queue engine generic over a ring trait.
//!
//! Dependency order (a module uses only those to its left):
//! packet <- wire <- queue <- backend.
//!
//! `#![no_std]` and allocation-free: memory comes from the caller
//! ([`Pool::from_static`]) or, with the `std` feature, from an anonymous
//! mapping the pool owns ([`Pool::new`]).
//!
//! ```
//! use tapring_core::{Burst, Pool, PoolConfig};
//!
//! let pool = Pool::new(PoolConfig::standard(256))?;
//! let mut burst: Burst = Burst::new();
//! for i in 0..4u8 {
//!     let mut pkt = pool.alloc().expect("pool has room");
//!     pkt.extend_from_slice(&[i; 60])?;
//!     burst.push(pkt).expect("burst has room");
//! }
//! // A transmit queue takes a prefix and leaves the rest in place:
//! let taken = burst.take_prefix(|pkt| if pkt.data()[0] < 2 { Ok(drop(pkt)) } else { Err(pkt) });
//! assert_eq!((taken, burst.len()), (2, 2));
//! assert_eq!(burst.get(0).unwrap().data()[0], 2);
//! # Ok::<(), tapring_core::Error>(())
//! ```
//!
//! [tapring]: https://docs.rs/tapring
#![no_std]
#![warn(missing_docs)]

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(any(test, feature = "backend"))]
#[doc(hidden)]
pub mod backend;
pub mod packet;
pub mod queue;
mod sync;
pub mod wire;

pub use packet::{
    Burst, BurstSlice, Checksum, ConfigError, Gso, GsoKind, Offload, Pkt, PktError, Pool,
    PoolCache, PoolConfig, PoolStats,
};
pub use queue::{
    Error, Interest, ParseRxModeError, Port, PortInfo, PortStats, QueueConfig, QueueStats,
    Readiness, RxMode, RxQueue, TxQueue, Wakeup,
};
pub use wire::{Framing, HeaderError, Headers, IpVersion, L4, VnetError, VnetHdrLen};
