//! # tapring-rw
//!
//! tapring's baseline data path: [`RwPort`] drives the queue fds of a TAP
//! device (opened with `tapring-device`) with plain nonblocking
//! `read`/`readv` and `write`/`writev` ([`RwRxQueue`], [`RwTxQueue`],
//! implementing tapring-core's queue traits). It is what the io_uring
//! backend must beat, and the fallback where io_uring is disabled.
//!
//! ```no_run
//! use tapring_core::{Burst, Pool, PoolConfig, Port, RxQueue, TxQueue};
//! use tapring_device::TapConfig;
//! use tapring_rw::{RwOptions, RwPort};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::new(PoolConfig::standard(1024))?;
//! let config = TapConfig::named("tap%d").up(true);
//! let mut port = RwPort::open(&config, &pool, RwOptions::default())?;
//! println!("{} {:?}", port.device().name(), port.info());
//! let mut rx = port.take_rx(0)?;
//! let mut tx = port.take_tx(0)?;
//! let mut burst: Burst = Burst::new();
//! loop {
//!     rx.wait(Some(Duration::from_millis(100)))?;
//!     rx.rx_burst(&mut burst)?;
//!     // ... look at / rewrite the packets, then echo them back:
//!     tx.tx_burst(&mut burst)?;
//!     burst.clear(); // drop what the kernel would not take now
//! #   break;
//! }
//! println!("rx {:?}\ntx {:?}", rx.stats(), tx.stats());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod error;
mod options;
mod port;
mod rx;
#[cfg(test)]
mod socket_pair;
mod tx;

pub use error::RwError;
pub use options::{MAX_RX_SEGS, RwOptions};
pub use port::RwPort;
pub use rx::RwRxQueue;
pub use tx::RwTxQueue;
