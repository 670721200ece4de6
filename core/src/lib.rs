//! tapring-core (skeleton; filled in below).
#![no_std]
#[cfg(feature = "std")]
extern crate std;

pub mod offload;
