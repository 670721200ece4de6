//! Packets and their buffers: the [`Pool`] (one contiguous region of
//! fixed-size buffers), owned packet handles ([`Pkt`]) with their offload
//! metadata ([`Offload`]), fixed-capacity [`Burst`]s, and the errors of
//! pool configuration ([`ConfigError`]) and packet operations
//! ([`PktError`]).

mod burst;
mod config;
mod error;
mod offload;
mod pool;

pub use burst::{Burst, BurstOf, BurstSlice};
pub use config::{ConfigError, MAX_FRAME, MAX_POOL_BUFFERS, MIN_FRAME, PoolConfig, VNET_HDR_MAX};
pub use error::PktError;
pub use offload::{Checksum, Gso, GsoKind, Offload};
pub(crate) use pool::FreeBatch;
pub use pool::{MAX_SEGS, Pkt, Pool, PoolCache, PoolStats, Segments};

#[cfg(any(test, feature = "backend"))]
#[doc(hidden)]
pub use pool::RawBuf;
#[cfg(test)]
pub(crate) use pool::test_pool;
