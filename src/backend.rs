//! [`Backend`]: which data path drives a port.

use core::fmt;
use core::str::FromStr;

/// Which data path drives a port opened with [`PortBuilder`](crate::PortBuilder).
///
/// Both run over the same TAP device; they differ in how frames cross the
/// kernel boundary. `FromStr` accepts `auto`, `io_uring` (or `uring`) and
/// `read-write` (or `rw`); `Display` prints the first form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Backend {
    /// io_uring where the kernel and the process allow it (not disabled by
    /// sysctl or seccomp, and with what the configuration needs), else
    /// read/write; [`AnyPort::fallback_reason`](crate::AnyPort::fallback_reason)
    /// says why it fell back.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "auto"))]
    Auto,
    /// io_uring, or an error that says why not.
    #[cfg_attr(feature = "serde", serde(rename = "io_uring"))]
    IoUring,
    /// Plain nonblocking `read`/`write` system calls.
    #[cfg_attr(feature = "serde", serde(rename = "read-write"))]
    ReadWrite,
}

impl Backend {
    /// The name `Display` prints and `FromStr` accepts.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::IoUring => "io_uring",
            Backend::ReadWrite => "read-write",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend name [`Backend::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {given:?}: use auto, io_uring (uring) or read-write (rw)")]
pub struct ParseBackendError {
    /// The text given.
    pub given: String,
}

impl FromStr for Backend {
    type Err = ParseBackendError;

    fn from_str(s: &str) -> Result<Backend, ParseBackendError> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "io_uring" | "io-uring" | "iouring" | "uring" => Ok(Backend::IoUring),
            "read-write" | "read_write" | "readwrite" | "rw" => Ok(Backend::ReadWrite),
            _ => Err(ParseBackendError { given: s.into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for b in [Backend::Auto, Backend::IoUring, Backend::ReadWrite] {
            assert_eq!(b.to_string().parse::<Backend>(), Ok(b));
        }
        assert_eq!("uring".parse::<Backend>(), Ok(Backend::IoUring));
        assert_eq!("RW".parse::<Backend>(), Ok(Backend::ReadWrite));
        let err = "tap".parse::<Backend>().unwrap_err();
        assert!(err.to_string().contains("read-write"), "{err}");
    }
}
