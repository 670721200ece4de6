//! # tapring-uring
//!
//! The io_uring data path of [tapring] over TAP devices: each queue drives
//! tapring-core's completion engine over its own io_uring instance.
//!
//! - Rx, no-wait (the default where tun honours `RWF_NOWAIT`, 6.4+): each
//!   burst issues a batch of reads that complete within the same submit,
//!   with a frame or `EAGAIN`; nothing stays posted, so no poll waiter is
//!   armed on the TAP between bursts.
//! - Rx, posted reads: one read per posted buffer, re-posted on completion,
//!   one submit per burst.
//! - Rx, multishot: one `READ_MULTISHOT` over a provided-buffer ring refilled
//!   from the pool (kernel 6.7+), re-armed when it ends.
//! - Tx: one write per frame (gather write for chains), one submit per
//!   burst, completions reaped by in-flight count.
//! - Rings use SINGLE_ISSUER + DEFER_TASKRUN where the kernel has them and
//!   the TAP fd as a registered file (the ring fd is deliberately not
//!   registered: that would tie the ring to one thread's lifetime). A ring
//!   is bound to the thread that first uses its queue. Posted and no-wait
//!   reads go into registered (fixed) buffers where the pool's area can be
//!   pinned ([`FixedBuffers`], registered per ring); SQPOLL is opt-in
//!   ([`UringConfig`]).
//!
//! Where io_uring is disabled (sysctl, seccomp), [`UringPort::open`] fails
//! with [`UringError::Disabled`], naming the cause; the `tapring` facade can
//! fall back to the read/write backend.
//!
//! See [`UringPort`] for an example.
//!
//! [tapring]: https://docs.rs/tapring

#[cfg(feature = "bare-loop")]
mod bare;
mod error;
mod port;
mod probe;
mod ring;
mod sys;

/// The benchmark yardstick: the io_uring calls of a queue without the
/// library around them (feature `bare-loop`; not part of the user API).
#[cfg(feature = "bare-loop")]
#[doc(hidden)]
pub use bare::BareLoop;
pub use error::UringError;
pub use port::{
    FixedBuffers, ParseFixedBuffersError, UringConfig, UringPort, UringRxQueue, UringTxQueue,
};
pub use probe::{UringProbe, probe};
