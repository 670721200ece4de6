//! # tapring-core
//!
//! The operating-system-free heart of [tapring]: a packet buffer pool over
//! one contiguous region, owned packet handles ([`Pkt`]), fixed-capacity
//! bursts ([`Burst`]), the queue traits every backend implements
//! ([`RxQueue`], [`TxQueue`], [`Port`]), the completion-driven queue engine
//! generic over a [`Ring`](ring::Ring) ([`engine`]), the virtio-net header
//! codec ([`vnet`]), transmit offload requests built from a frame's own
//! headers ([`headers`]) and per-queue statistics.
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

pub mod burst;
pub mod config;
pub mod engine;
pub mod error;
pub mod headers;
pub mod offload;
pub mod pool;
pub mod queue;
pub mod ring;
pub mod rx_prep;
pub mod stats;
mod sync;
pub mod tx_prep;
pub mod vnet;

pub use burst::{Burst, BurstSlice};
pub use config::{PoolConfig, QueueConfig, RxMode};
pub use error::{ConfigError, Error, PktError};
pub use headers::{HeaderError, Headers, IpVersion, L4};
pub use offload::{Checksum, Gso, GsoKind, Offload};
pub use pool::{Pkt, Pool, PoolCache, PoolStats};
pub use queue::{Port, PortInfo, PortStats, RxQueue, TxQueue};
pub use stats::QueueStats;
