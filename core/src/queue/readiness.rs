//! Event-loop integration: what a queue gives an event loop to sleep on
//! ([`Readiness`]) and what preparing to sleep found ([`Wakeup`]).

use core::ffi::c_int;

/// A file descriptor an event loop (poll, epoll, mio, tokio's `AsyncFd`)
/// watches for one queue, and for which readiness.
///
/// The protocol, the same for every backend and Rx mode:
///
/// 1. Drive the queue (`rx_burst`, or `reclaim` + `tx_burst`) until it
///    makes no progress.
/// 2. Call the queue's `arm_wakeup`. On [`Wakeup::Pending`] go back to 1.
/// 3. On [`Wakeup::Armed`] sleep until `fd` shows [`Readiness::interest`]
///    (level- or edge-triggered both work: every new event signals, and
///    `Armed` is only answered when nothing already waits), then go back
///    to 1. On [`Wakeup::Starved`] sleep a little (or yield) and go back
///    to 1: the queue waits for buffers, which no fd announces.
///
/// The descriptor belongs to the queue: it stays valid (and the same) while
/// the queue lives. Watch it; do not read, write or close it: `arm_wakeup`
/// resets it where it needs resetting. An idle queue that follows this
/// protocol sleeps: it wakes its waiter only when something arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Readiness {
    /// The descriptor to watch (owned by the queue).
    pub fd: c_int,
    /// What to watch it for.
    pub interest: Interest,
}

/// Which readiness of [`Readiness::fd`] means the queue may progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Readable (POLLIN / EPOLLIN): frames or completions are waiting.
    Readable,
    /// Writable (POLLOUT / EPOLLOUT): the device can take frames again.
    Writable,
}

/// What a queue's `arm_wakeup` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "sleeping on Pending would wait for an event that already happened"]
pub enum Wakeup {
    /// Nothing is waiting and the queue's fd will signal when something
    /// arrives: sleep on it.
    Armed,
    /// Work is already waiting (frames, completions, room): drive the
    /// queue again instead of sleeping.
    Pending,
    /// The queue waits for buffers, not for the kernel: the pool was empty
    /// at its last try and it has nothing lent, so no fd will signal. The
    /// buffers come back as the application drops or sends the packets it
    /// holds: retry after a short sleep (or a yield in async code), and
    /// give the pool more buffers if this is common.
    Starved,
}
