//! tapring-core (skeleton; filled in below).
#![no_std]
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod offload;
pub mod vnet;
