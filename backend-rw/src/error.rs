//! [`RwError`]: why a read/write port could not be opened.

use tapring_device::DeviceError;

/// Why [`RwPort::open`](crate::RwPort::open) failed. Each message names
/// what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RwError {
    /// Opening or querying the TAP device failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A queue could not be taken (no such queue, taken already, or its fd
    /// could not be duplicated).
    #[error(transparent)]
    Queue(#[from] tapring_core::Error),
    /// A field of [`RwOptions`](crate::RwOptions) cannot work.
    #[error("RwOptions::{field} = {value} cannot work: {fix}")]
    Option {
        /// The field to change.
        field: &'static str,
        /// The value given.
        value: u64,
        /// What would work.
        fix: &'static str,
    },
}
