//! # tapring-uring
//!
//! The io_uring data path of [tapring] over TAP devices: each queue drives
//! tapring-core's completion engine over its own io_uring instance.
//!
//! - Rx, posted reads: one read per posted buffer, re-posted on completion,
//!   one submit per burst.
//! - Rx, multishot: one `READ_MULTISHOT` over a provided-buffer ring refilled
//!   from the pool (kernel 6.7+), re-armed when it ends.
//! - Tx: one write per frame (gather write for chains), one submit per
//!   burst, completions reaped by in-flight count.
//! - Rings use SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them, the
//!   TAP fd as a registered file, and a registered ring fd. A ring is bound
//!   to the thread that first uses its queue.
//!
//! Where io_uring is disabled (sysctl, seccomp), [`UringPort::open`] fails
//! with [`UringError::Disabled`], naming the cause; the `tapring` facade can
//! fall back to the read/write backend.
//!
//! See [`UringPort`] for an example.
//!
//! [tapring]: https://docs.rs/tapring

mod error;
mod port;
mod probe;
mod ring;
mod sys;

pub use error::UringError;
pub use port::{UringConfig, UringPort, UringRxQueue, UringTxQueue};
pub use probe::{UringProbe, probe};
