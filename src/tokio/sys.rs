//! The adaptor's one `unsafe`: handing tokio's reactor a queue's readiness
//! fd. tokio's registration is `unsafe` because it cannot check that the fd
//! stays open for as long as it is registered; the reactor here gets its
//! own duplicate, owned by the registration, so that holds by construction.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

/// Registers a duplicate of `fd` (a queue's readiness fd, open while the
/// caller holds the queue) with the current runtime's reactor.
pub(super) fn register(fd: RawFd, interest: Interest) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `fd` is the readiness fd of a queue the caller holds by `&mut`
    // (see `watch`): the queue keeps it open for the whole of this call,
    // which is as long as the borrow lasts.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let own = borrowed.try_clone_to_owned()?;
    // SAFETY: the `OwnedFd` moves into the `AsyncFd` and is closed only when
    // it is dropped, so the descriptor stays open and refers to the same
    // open file (the queue's eventfd or TAP queue) for the registration's
    // whole life; `as_raw_fd` of an `OwnedFd` always returns that number.
    unsafe { AsyncFd::register_with_interest(own, interest) }.map_err(|e| e.into_parts().1)
}
