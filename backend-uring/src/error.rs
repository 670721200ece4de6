//! The errors of tapring-uring.

use tapring_device::DeviceError;

/// Why an io_uring port or queue could not be set up or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UringError {
    /// io_uring cannot be used by this process at all.
    #[error(
        "io_uring is unavailable ({reason}); use the read/write backend (Backend::ReadWrite) instead, \
         or let Backend::Auto fall back to it"
    )]
    Disabled {
        /// What the kernel said and why (sysctl, seccomp, no kernel support).
        reason: String,
    },
    /// The kernel lacks something this configuration needs.
    #[error(
        "the kernel lacks {what}; choose another mode (see `tapring probe`) or use the read/write backend"
    )]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// A field of [`UringConfig`](crate::UringConfig) cannot work (with
    /// this pool, or at all); the message says what would.
    #[error("UringConfig::{field} = {value} cannot work: {why}")]
    Setting {
        /// The field to change.
        field: &'static str,
        /// The value given.
        value: u32,
        /// Why, and what would work.
        why: String,
    },
    /// Device control failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The queue engine refused (configuration, teardown...).
    #[error(transparent)]
    Core(#[from] tapring_core::Error),
    /// A system call failed.
    #[error("{op} failed: {}", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// What was being done.
        op: &'static str,
        /// The errno.
        errno: i32,
    },
}

impl UringError {
    pub(crate) fn os(op: &'static str, e: &std::io::Error) -> UringError {
        UringError::Os {
            op,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    /// Interprets a failed io_uring_setup.
    pub(crate) fn from_setup(e: &std::io::Error) -> UringError {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        match errno {
            libc::EPERM => UringError::Disabled {
                reason: match sysctl {
                    Some(2) => "io_uring_setup: EPERM: kernel.io_uring_disabled = 2 disables io_uring for everyone".into(),
                    Some(1) => "io_uring_setup: EPERM: kernel.io_uring_disabled = 1 limits io_uring to the io_uring_group (and root)".into(),
                    _ => "io_uring_setup: EPERM: blocked by a seccomp filter or security module (containers often do this)".into(),
                },
            },
            libc::ENOSYS => UringError::Disabled {
                reason: "io_uring_setup: ENOSYS: the kernel has no io_uring, or a seccomp filter hides it".into(),
            },
            libc::ENOMEM => UringError::Os {
                op: "io_uring_setup (raise RLIMIT_MEMLOCK or use smaller rings)",
                errno,
            },
            _ => UringError::Os {
                op: "io_uring_setup",
                errno,
            },
        }
    }
}

impl From<UringError> for tapring_core::Error {
    /// Lossy, for the queue traits' `Error` (a queue's ring set-up failing
    /// at first use); ports return the full `UringError`.
    fn from(e: UringError) -> Self {
        match e {
            UringError::Core(c) => c,
            UringError::Disabled { .. } => {
                tapring_core::Error::Unsupported("io_uring (disabled for this process)")
            }
            UringError::Unsupported { what } => tapring_core::Error::Unsupported(what),
            UringError::Setting { field, .. } => tapring_core::Error::Unsupported(field),
            UringError::Os { op, errno } => tapring_core::Error::Os { op, errno },
            UringError::Device(t) => tapring_core::Error::Os {
                op: "TAP device control",
                errno: t.errno().unwrap_or(libc::EIO),
            },
        }
    }
}
