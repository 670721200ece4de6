//! The harness's error type: every failure says what to do next.
//!
//! A typed enum rather than `anyhow`: each command turns it into one line
//! and an exit status, and callers (the self-test) match on the kind; no
//! failure needs a chain of context beyond its message.

/// Why a `tapring` command failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The process lacks a capability the command needs (or /dev/net/tun
    /// is missing); the text names exactly what and why.
    #[error("{0}")]
    NeedsPrivilege(String),
    /// A system call failed.
    #[error("{op} failed: {errno}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The errno.
        errno: nix::errno::Errno,
    },
    /// An external command (`ip`, ...) failed.
    #[error("`{cmd}` failed: {detail} (is iproute2 installed?)")]
    Command {
        /// The command line.
        cmd: String,
        /// Its error output.
        detail: String,
    },
    /// A backend failed.
    #[error("{0}")]
    Backend(String),
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// A self-test check failed.
    #[error("check failed: {0}")]
    Check(String),
}

impl HarnessError {
    pub(crate) fn sys(op: &'static str, errno: nix::errno::Errno) -> Self {
        HarnessError::Sys { op, errno }
    }
}

impl From<tapring::Error> for HarnessError {
    fn from(e: tapring::Error) -> Self {
        HarnessError::Backend(e.to_string())
    }
}

impl From<tapring::ConfigError> for HarnessError {
    fn from(e: tapring::ConfigError) -> Self {
        HarnessError::Backend(e.to_string())
    }
}

impl From<tapring::device::DeviceError> for HarnessError {
    fn from(e: tapring::device::DeviceError) -> Self {
        HarnessError::Backend(e.to_string())
    }
}

impl From<tapring::uring::UringError> for HarnessError {
    fn from(e: tapring::uring::UringError) -> Self {
        HarnessError::Backend(e.to_string())
    }
}

impl From<std::io::Error> for HarnessError {
    fn from(e: std::io::Error) -> Self {
        HarnessError::Backend(e.to_string())
    }
}
