//! The baseline a user already has: a pass-through forwarder of two
//! threads, one per direction, each reading a frame from one TAP queue fd
//! and writing it to the other with plain `read()`/`write()` system calls,
//! no library in between. Frames and their virtio-net headers pass
//! unchanged, so with the same offloads negotiated it carries what a
//! tapring forwarder carries. Under load each frame costs one `read` and one
//! `write`; only an idle fd is polled (so the threads can notice a stop).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use tapring::device::TapDevice;

use crate::error::HarnessError;

/// Largest frame plus virtio-net header a read can return (64 KiB GSO
/// frames with offloads on).
const FRAME_ROOM: usize = 65_536 + 64;

/// How long an idle thread sleeps in `poll` before it checks the stop flag.
const IDLE_POLL_MS: u16 = 50;

/// A running plain forwarder between two devices.
pub struct PlainForwarder {
    stop: Arc<AtomicBool>,
    frames: Arc<[AtomicU64; 2]>,
    threads: Vec<JoinHandle<Result<(), Errno>>>,
}

impl PlainForwarder {
    /// Starts one thread per direction between queue 0 of `a` and of `b`
    /// (the devices must outlive the forwarder only as long as it runs: the
    /// threads own duplicates of the queue fds).
    pub fn start(a: &TapDevice, b: &TapDevice) -> Result<PlainForwarder, HarnessError> {
        let dup = |d: &TapDevice| {
            d.queue_fd(0)
                .try_clone_to_owned()
                .map_err(|e| HarnessError::Backend(format!("dup {} queue fd: {e}", d.name())))
        };
        let (a_rx, a_tx, b_rx, b_tx) = (dup(a)?, dup(a)?, dup(b)?, dup(b)?);
        let stop = Arc::new(AtomicBool::new(false));
        let frames: Arc<[AtomicU64; 2]> = Arc::default();
        let mut threads = Vec::with_capacity(2);
        for (dir, (from, to)) in [(a_rx, b_tx), (b_rx, a_tx)].into_iter().enumerate() {
            let (flag, count) = (stop.clone(), frames.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("plain-fwd-{dir}"))
                .spawn(move || pass_through(&from, &to, &flag, &count[dir]));
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => {
                    // Dropping the forwarder stops and joins what started.
                    drop(PlainForwarder {
                        stop,
                        frames,
                        threads,
                    });
                    return Err(HarnessError::Backend(format!("spawn plain forwarder: {e}")));
                }
            }
        }
        Ok(PlainForwarder {
            stop,
            frames,
            threads,
        })
    }

    /// Frames forwarded (written) so far, per direction (A -> B, B -> A).
    pub fn frames(&self) -> [u64; 2] {
        [0, 1].map(|d| self.frames[d].load(Ordering::Relaxed))
    }

    /// Stops both threads and waits for them; an error if one failed.
    pub fn stop(mut self) -> Result<[u64; 2], HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut failed = None;
        for h in self.threads.drain(..) {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(format!("plain forwarder: {e}")),
                Err(_) => failed = Some("plain forwarder thread panicked".into()),
            }
        }
        match failed {
            Some(why) => Err(HarnessError::Backend(why)),
            None => Ok(self.frames()),
        }
    }
}

impl Drop for PlainForwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

/// Reads frames from `from` and writes each to `to` until `stop`.
fn pass_through(
    from: &OwnedFd,
    to: &OwnedFd,
    stop: &AtomicBool,
    count: &AtomicU64,
) -> Result<(), Errno> {
    let mut buf = vec![0u8; FRAME_ROOM];
    while !stop.load(Ordering::Relaxed) {
        match nix::unistd::read(from, &mut buf) {
            Ok(n) => match nix::unistd::write(to, &buf[..n]) {
                Ok(_) => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                // The kernel refused the frame now (full queue, link
                // down): it is lost, as the kernel's own forwarding would
                // lose it, and not counted as forwarded.
                Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::EIO) => {}
                Err(e) => return Err(e),
            },
            Err(Errno::EAGAIN | Errno::EINTR) => {
                let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
                match nix::poll::poll(&mut fds, PollTimeout::from(IDLE_POLL_MS)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
