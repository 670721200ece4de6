//! The engine's only `unsafe`: lending buffers to the ring.
//!
//! Every caller passes buffers of packets it has just placed in its
//! in-flight table (posted reads and writes, under the same token) or in its
//! parked table (provided buffers, under the same buffer id), and takes them
//! back only from a completion for that token or id, or after teardown has
//! seen the kernel let go (cancel drained, group unregistered). While a
//! packet sits in those tables nothing else can reach it: the tables own it.

use crate::backend::ring::{Ring, RingError, Sqe};
use crate::packet::RawBuf;

/// Posts `op`, whose buffers the caller keeps in its in-flight table under
/// `token` until the completion for `token` is harvested.
pub(super) fn post<R: Ring>(ring: &mut R, token: u64, op: Sqe<'_>) -> Result<(), RingError> {
    // SAFETY: see the module docs: the packets behind `op` are owned by the
    // caller's in-flight table under `token` until its completion.
    unsafe { ring.post(token, op) }
}

/// Provides `buf`, whose packet the caller parks under `bid` until a
/// completion returns `bid` or the group is unregistered.
pub(super) fn provide<R: Ring>(
    ring: &mut R,
    group: u16,
    bid: u16,
    buf: RawBuf,
) -> Result<(), RingError> {
    // SAFETY: see the module docs: the packet behind `buf` is parked under
    // `bid` until a completion hands it back or the group is unregistered.
    unsafe { ring.provide(group, bid, buf) }
}
