//! Sleeping on queues' readiness fds without an async runtime:
//! [`wait_ready`] is poll(2) over [`Readiness`] values, so a thread can
//! sleep on several queues at once (both directions of a forwarder, every
//! queue of a port).

use std::time::Duration;

use nix::errno::Errno;
use tapring_core::{Interest, Readiness};

use crate::error::DeviceError;
use crate::sys;

/// The most queues one [`wait_ready`] call watches.
pub const MAX_WAIT_SET: usize = 64;

/// Which entries of a [`wait_ready`] set are ready: bit `i` for entry `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadySet(u64);

impl ReadySet {
    /// Whether entry `i` is ready.
    pub fn contains(self, i: usize) -> bool {
        i < MAX_WAIT_SET && self.0 & (1 << i) != 0
    }

    /// Whether nothing is ready (the wait timed out or was interrupted).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many entries are ready.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

/// Sleeps until one of `set` shows its [`Interest`] or `timeout` passes
/// (`None`: no bound); returns which are ready (empty on timeout or a
/// signal). Follow the protocol in [`Readiness`]: call each queue's
/// `arm_wakeup` first and sleep only if every one said
/// [`Wakeup::Armed`](tapring_core::Wakeup::Armed). An fd that is closed or
/// in error counts as ready, so the next queue call reports what is wrong.
///
/// # Errors
///
/// [`DeviceError::InvalidConfig`] for more than [`MAX_WAIT_SET`] entries;
/// [`DeviceError::Os`] if poll(2) itself fails.
pub fn wait_ready(set: &[Readiness], timeout: Option<Duration>) -> Result<ReadySet, DeviceError> {
    if set.len() > MAX_WAIT_SET {
        return Err(DeviceError::InvalidConfig {
            reason: "wait_ready watches at most 64 queues: split the set across threads",
        });
    }
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_WAIT_SET];
    for (pfd, r) in fds.iter_mut().zip(set) {
        pfd.fd = r.fd;
        pfd.events = match r.interest {
            Interest::Readable => libc::POLLIN,
            Interest::Writable => libc::POLLOUT,
        };
    }
    let timeout_ms = match timeout {
        None => -1,
        // Round up, so a short timeout never becomes a busy poll(0).
        Some(t) => t
            .as_micros()
            .div_ceil(1000)
            .try_into()
            .unwrap_or(libc::c_int::MAX),
    };
    match sys::poll_raw(&mut fds[..set.len()], timeout_ms) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok(ReadySet::default()),
        Err(errno) => return Err(DeviceError::os("poll", errno)),
    }
    let mut ready = 0u64;
    for (i, pfd) in fds[..set.len()].iter().enumerate() {
        if pfd.revents != 0 {
            ready |= 1 << i;
        }
    }
    Ok(ReadySet(ready))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
        nix::unistd::pipe().expect("pipe")
    }

    #[test]
    fn reports_exactly_the_ready_entries() {
        let (r1, _w1) = pipe();
        let (r2, w2) = pipe();
        let set = [
            Readiness {
                fd: r1.as_raw_fd(),
                interest: Interest::Readable,
            },
            Readiness {
                fd: r2.as_raw_fd(),
                interest: Interest::Readable,
            },
            Readiness {
                fd: w2.as_raw_fd(),
                interest: Interest::Writable,
            },
        ];
        nix::unistd::write(&w2, b"x").unwrap();
        let ready = wait_ready(&set, Some(Duration::from_secs(1))).unwrap();
        assert!(!ready.contains(0));
        assert!(ready.contains(1) && ready.contains(2));
        assert_eq!(ready.len(), 2);
    }

    #[test]
    fn times_out_empty_and_refuses_oversized_sets() {
        let (r, _w) = pipe();
        let one = Readiness {
            fd: r.as_raw_fd(),
            interest: Interest::Readable,
        };
        let t = std::time::Instant::now();
        let ready = wait_ready(&[one], Some(Duration::from_micros(1500))).unwrap();
        assert!(ready.is_empty());
        assert!(
            t.elapsed() >= Duration::from_millis(1),
            "rounded up, not poll(0)"
        );
        assert!(wait_ready(&[one; MAX_WAIT_SET + 1], None).is_err());
    }
}
