//! For backend crates: the completion-driven queue engine, the ring trait it
//! drives, and the checks every backend's receive and transmit paths share.
//! Not part of the user API (hidden from the docs, behind the `backend`
//! feature); applications use the queues the backends build from it.

pub mod engine;
pub mod format;
pub mod ring;
pub mod rx_prep;
pub mod tx_prep;

#[cfg(test)]
mod prep_tests;

pub use crate::packet::RawBuf;
pub use format::FrameFormat;
