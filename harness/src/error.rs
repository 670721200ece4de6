//! The harness's error type: every failure says what to do next.

use std::fmt;

/// Why a `tapring` command failed.
#[derive(Debug)]
pub enum HarnessError {
    /// The process lacks CAP_NET_ADMIN (or /dev/net/tun is missing).
    NeedsPrivilege(String),
    /// A system call failed.
    Sys {
        /// What was being done.
        op: &'static str,
        /// The errno.
        errno: nix::errno::Errno,
    },
    /// An external command (`ip`, ...) failed.
    Command {
        /// The command line.
        cmd: String,
        /// Its error output.
        detail: String,
    },
    /// A backend failed.
    Backend(String),
    /// Bad arguments.
    Usage(String),
    /// A self-test check failed.
    Check(String),
}

impl HarnessError {
    pub(crate) fn sys(op: &'static str, errno: nix::errno::Errno) -> Self {
        HarnessError::Sys { op, errno }
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::NeedsPrivilege(what) => write!(
                f,
                "{what}: run as root, or give the binary CAP_NET_ADMIN and CAP_SYS_ADMIN \
                 (sudo setcap cap_net_admin,cap_sys_admin+ep $(which tapring))"
            ),
            HarnessError::Sys { op, errno } => write!(f, "{op} failed: {errno}"),
            HarnessError::Command { cmd, detail } => {
                write!(f, "`{cmd}` failed: {detail} (is iproute2 installed?)")
            }
            HarnessError::Backend(e) => write!(f, "{e}"),
            HarnessError::Usage(e) => write!(f, "{e}"),
            HarnessError::Check(e) => write!(f, "check failed: {e}"),
        }
    }
}

impl std::error::Error for HarnessError {}

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
