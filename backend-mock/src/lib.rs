//! # tapring-mock
//!
//! A deterministic simulated kernel for [tapring]: [`SimRing`] implements
//! the core [`Ring`](tapring_core::backend::ring::Ring) trait over a [`SimWire`] (a
//! simulated TAP queue: a bounded kernel->user frame queue, the frames user
//! space wrote, scripted faults, counters), so the production queue engine
//! runs without a kernel, reproducibly from a seed. [`MockPort`] wraps it
//! as a [`Port`](tapring_core::Port), for testing applications written on
//! tapring; [`mocks`] has [mockall] mocks of the queue traits.
//!
//! No threads, no clock, no sleeping: completions become visible according
//! to a seeded [`Schedule`], and `wait` makes everything visible at once.
//!
//! ```
//! use tapring_core::{Burst, Pool, PoolConfig, Port, RxQueue, TxQueue};
//! use tapring_mock::{MockPort, MockPortConfig};
//!
//! let pool = Pool::new(PoolConfig::standard(256))?;
//! let mut port = MockPort::new(&pool, MockPortConfig::default())?;
//! let wire = port.wire(0).clone();
//! let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
//!
//! // The kernel's stack sends a frame to us...
//! let frame: Vec<u8> = (0..60u8).collect();
//! assert!(wire.inject(&frame));
//!
//! // ...we receive it...
//! let mut burst: Burst = Burst::new();
//! assert_eq!(rx.rx_burst(&mut burst)?, 1);
//! assert_eq!(burst.get(0).unwrap().data(), &frame[..]);
//!
//! // ...and send it back: it appears on the wire, byte for byte.
//! assert_eq!(tx.tx_burst(&mut burst)?, 1);
//! assert!(burst.is_empty());
//! tx.reclaim()?;
//! assert_eq!(wire.take_written(), vec![frame]);
//! assert_eq!(tx.stats().packets, 1);
//! # Ok::<(), tapring_core::Error>(())
//! ```
//!
//! [tapring]: https://docs.rs/tapring
#![warn(missing_docs)]

pub mod alloc_count;
mod instant_ring;
pub mod mocks;
mod port;
mod ring;
mod sim_memory;
mod wire;

pub use instant_ring::InstantRing;
pub use port::{
    MockPort, MockPortConfig, MockRxQueue, MockTxQueue, SimRxEngine, SimTxEngine, slots,
};
pub use ring::{FaultRates, READV_MAX, Schedule, SimConfig, SimRing};
pub use wire::{Capture, Digest, ReadFault, SimWire, WireConfig, WireCounters, WriteFault};
