//! The async adaptor for tokio (feature `tokio`): [`AsyncRx::rx_burst`] and
//! [`AsyncTx::tx_burst`] as futures, for both backends, every Rx mode, on
//! current-thread and multi-thread runtimes. An idle queue costs nothing:
//! its task sleeps on the queue's [`Readiness`] fd in tokio's reactor.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tapring::prelude::*;
//!
//! let pool = Pool::new(PoolConfig::standard(4096))?;
//! let mut port = PortBuilder::new("tr0").up(true).open_async(&pool)?;
//! let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
//! let mut burst: Burst = Burst::new();
//! loop {
//!     rx.rx_burst(&mut burst).await?; // sleeps until a frame arrives
//!     tx.tx_burst(&mut burst).await?; // reflects them; waits for room
//! }
//! # }
//! ```
//!
//! **Threads.** An io_uring queue opened with the default
//! [`UringConfig`](crate::uring::UringConfig) is bound to the first thread
//! that drives it (SINGLE_ISSUER + DEFER_TASKRUN), and a multi-thread
//! runtime moves tasks between its workers. [`PortBuilder::open_async`]
//! therefore opens io_uring rings without that binding
//! (`defer_taskrun(false)`), so its queues may be polled from any worker.
//! A queue wrapped by hand with [`AsyncRx::new`] keeps its port's setting:
//! if it is bound, driving it from another worker fails with
//! [`Error::WrongThread`], which names the fix.
//!
//! [`PortBuilder::open_async`]: crate::PortBuilder::open_async

mod sys;

use std::os::fd::OwnedFd;

use ::tokio::io::Interest as TokioInterest;
use ::tokio::io::unix::AsyncFd;

use crate::{BurstSlice, Error, Interest, Readiness, RxQueue, TxQueue, Wakeup};

/// Why a queue could not be made async.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsyncError {
    /// Not called from inside a tokio runtime.
    #[error(
        "no tokio runtime here: make async queues inside one (#[tokio::main], Runtime::block_on, \
         or a task)"
    )]
    NoRuntime,
    /// The queue has no readiness fd (the mock backend, for one).
    #[error(transparent)]
    Queue(#[from] Error),
    /// The runtime's reactor refused the queue's fd.
    #[error(
        "tokio could not watch the queue's fd (errno {errno}): is the runtime built with \
         enable_io()?"
    )]
    Register {
        /// The errno.
        errno: i32,
    },
    /// Opening the port failed.
    #[cfg(any(feature = "uring", feature = "rw"))]
    #[error(transparent)]
    Port(#[from] crate::PortError),
}

/// Registers a queue's readiness fd (a duplicate the registration owns)
/// with the current runtime. The caller holds the queue, which keeps the
/// original open meanwhile.
fn watch(r: Readiness) -> Result<AsyncFd<OwnedFd>, AsyncError> {
    if ::tokio::runtime::Handle::try_current().is_err() {
        return Err(AsyncError::NoRuntime);
    }
    let interest = match r.interest {
        Interest::Readable => TokioInterest::READABLE,
        Interest::Writable => TokioInterest::WRITABLE,
    };
    sys::register(r.fd, interest).map_err(|e| AsyncError::Register {
        errno: e.raw_os_error().unwrap_or(libc_eio()),
    })
}

/// EIO, for an io::Error without an errno (tokio's own failures).
const fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

fn reactor_error(e: &std::io::Error) -> Error {
    Error::Os {
        op: "waiting in the tokio reactor",
        errno: e.raw_os_error().unwrap_or(libc_eio()),
    }
}

/// Waits until `fd` shows `interest` again; then `progress` decides
/// whether the readiness is used up (tokio forgets it only if no new event
/// came meanwhile, so nothing is lost).
async fn sleep_on(fd: &AsyncFd<OwnedFd>, interest: Interest) -> Result<(), Error> {
    let mut guard = match interest {
        Interest::Readable => fd.readable().await,
        Interest::Writable => fd.writable().await,
    }
    .map_err(|e| reactor_error(&e))?;
    // The queue is driven again by the caller; the queue's own arm_wakeup
    // says whether it may sleep next time, so the cached readiness can go.
    guard.clear_ready();
    Ok(())
}

/// An Rx queue whose bursts are futures.
pub struct AsyncRx<Q: RxQueue> {
    /// The reactor's registration of (a duplicate of) the queue's
    /// readiness fd.
    fd: AsyncFd<OwnedFd>,
    interest: Interest,
    queue: Q,
}

impl<Q: RxQueue> AsyncRx<Q> {
    /// Wraps `queue`, registering its readiness fd with the current tokio
    /// runtime's reactor. Call it inside the runtime.
    pub fn new(mut queue: Q) -> Result<AsyncRx<Q>, AsyncError> {
        let r = queue.readiness()?;
        // `queue` is held (and its fd open) while `watch` duplicates it.
        Ok(AsyncRx {
            fd: watch(r)?,
            interest: r.interest,
            queue,
        })
    }

    /// Waits for at least one frame, then appends what is ready (up to
    /// `burst.spare()`); returns how many. Returns 0 at once if the burst
    /// is full. Cancel-safe: a dropped future loses no frame (frames are
    /// only taken inside a synchronous `rx_burst`).
    pub async fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        if burst.is_full() {
            return Ok(0);
        }
        loop {
            let n = self.queue.rx_burst(burst)?;
            if n > 0 {
                return Ok(n);
            }
            match self.queue.arm_wakeup()? {
                Wakeup::Armed => sleep_on(&self.fd, self.interest).await?,
                // Frames wait already: take them, letting others run.
                Wakeup::Pending => ::tokio::task::yield_now().await,
                // No buffer to read into: the other tasks of this runtime
                // hold them; let them run (and send or drop them).
                Wakeup::Starved => ::tokio::task::yield_now().await,
            }
        }
    }

    /// The queue, for its counters and backend-specific calls.
    pub fn get_mut(&mut self) -> &mut Q {
        &mut self.queue
    }

    /// The queue's counters.
    pub fn stats(&self) -> crate::QueueStats {
        self.queue.stats()
    }

    /// Stops watching and gives the queue back.
    pub fn into_inner(self) -> Q {
        self.queue
    }
}

/// A Tx queue whose bursts are futures.
pub struct AsyncTx<Q: TxQueue> {
    /// The reactor's registration of (a duplicate of) the queue's
    /// readiness fd.
    fd: AsyncFd<OwnedFd>,
    interest: Interest,
    queue: Q,
}

impl<Q: TxQueue> AsyncTx<Q> {
    /// Wraps `queue`, registering its readiness fd with the current tokio
    /// runtime's reactor. Call it inside the runtime.
    pub fn new(mut queue: Q) -> Result<AsyncTx<Q>, AsyncError> {
        let r = queue.readiness()?;
        Ok(AsyncTx {
            fd: watch(r)?,
            interest: r.interest,
            queue,
        })
    }

    /// Sends the whole burst, waiting for room (or completions to reclaim)
    /// whenever the queue is full; returns how many packets it took (every
    /// one: sent, or counted in a drop reason and freed). Cancel-safe: the
    /// packets not yet taken stay in `burst`.
    pub async fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error> {
        let mut taken = 0;
        loop {
            self.queue.reclaim()?;
            taken += self.queue.tx_burst(burst)?;
            if burst.is_empty() {
                return Ok(taken);
            }
            self.queue.reclaim()?;
            match self.queue.arm_wakeup()? {
                Wakeup::Armed => sleep_on(&self.fd, self.interest).await?,
                // Room now (or completions just reclaimed): yield so a
                // busy sender cannot starve the other tasks of its thread.
                Wakeup::Pending | Wakeup::Starved => ::tokio::task::yield_now().await,
            }
        }
    }

    /// Waits until every transmission handed to the kernel has completed
    /// and its buffer is back in the pool.
    pub async fn flush(&mut self) -> Result<(), Error> {
        loop {
            self.queue.reclaim()?;
            if self.queue.in_flight() == 0 {
                return Ok(());
            }
            match self.queue.arm_wakeup()? {
                Wakeup::Armed => sleep_on(&self.fd, self.interest).await?,
                Wakeup::Pending | Wakeup::Starved => ::tokio::task::yield_now().await,
            }
        }
    }

    /// The queue, for its counters and backend-specific calls.
    pub fn get_mut(&mut self) -> &mut Q {
        &mut self.queue
    }

    /// The queue's counters.
    pub fn stats(&self) -> crate::QueueStats {
        self.queue.stats()
    }

    /// Stops watching and gives the queue back.
    pub fn into_inner(self) -> Q {
        self.queue
    }
}

/// An [`AnyPort`](crate::AnyPort) whose queues come out async: made by
/// [`PortBuilder::open_async`](crate::PortBuilder::open_async).
#[cfg(any(feature = "uring", feature = "rw"))]
#[derive(Debug)]
pub struct AsyncPort {
    port: crate::AnyPort,
}

#[cfg(any(feature = "uring", feature = "rw"))]
impl AsyncPort {
    /// Wraps a port opened by [`PortBuilder::open`](crate::PortBuilder::open).
    /// Its io_uring queues keep their thread binding: on a multi-thread
    /// runtime open the port with `UringConfig::defer_taskrun(false)` (as
    /// [`PortBuilder::open_async`](crate::PortBuilder::open_async) does),
    /// or drive each queue from one thread only.
    pub fn from_port(port: crate::AnyPort) -> AsyncPort {
        AsyncPort { port }
    }

    /// Takes Rx queue `q` (once), registered with the current runtime.
    pub fn take_rx(&mut self, q: u16) -> Result<AsyncRx<crate::AnyRxQueue>, AsyncError> {
        use crate::Port;
        AsyncRx::new(self.port.take_rx(q)?)
    }

    /// Takes Tx queue `q` (once), registered with the current runtime.
    pub fn take_tx(&mut self, q: u16) -> Result<AsyncTx<crate::AnyTxQueue>, AsyncError> {
        use crate::Port;
        AsyncTx::new(self.port.take_tx(q)?)
    }

    /// The port itself: its name, backend, info and counters.
    pub fn port(&self) -> &crate::AnyPort {
        &self.port
    }
}
