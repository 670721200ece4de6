//! The baseline a user already has: a pass-through forwarder of two
//! threads per queue pair, one per direction, each reading a frame from one
//! TAP queue fd and writing it to the other with plain `read()`/`write()`
//! system calls, no library in between. Frames and their virtio-net headers pass
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
use crate::lab::cpu::{online_cpus, pin, thread_cpu};

/// Largest frame plus virtio-net header a read can return (64 KiB GSO
/// frames with offloads on).
const FRAME_ROOM: usize = 65_536 + 64;

/// How long an idle thread sleeps in `poll` before it checks the stop flag.
const IDLE_POLL_MS: u16 = 50;

/// A running plain forwarder between two devices.
pub struct PlainForwarder {
    stop: Arc<AtomicBool>,
    frames: Arc<[AtomicU64; 2]>,
    /// Per thread: what it did, once it returns.
    threads: Vec<JoinHandle<Result<ThreadCpu, Errno>>>,
}

/// CPU seconds one forwarding thread used (user + system), over its life.
type ThreadCpu = f64;

/// What a stopped plain forwarder did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlainTotals {
    /// Frames forwarded (written), per direction (A -> B, B -> A).
    pub frames: [u64; 2],
    /// CPU seconds its threads used, summed, from start to stop.
    pub cpu_secs: f64,
}

impl PlainForwarder {
    /// Starts two threads (one per direction) for each queue pair: queue i
    /// of `a` with queue i of `b`, for as many queues as both have. The
    /// threads own duplicates of the queue fds, so the devices need not
    /// outlive the forwarder. With `pinned`, pair i's threads run on CPU i
    /// (mod the CPUs), as a bench pins its measured threads; otherwise where
    /// the scheduler puts them, as a user's forwarder would.
    pub fn start(
        a: &TapDevice,
        b: &TapDevice,
        pinned: bool,
    ) -> Result<PlainForwarder, HarnessError> {
        let dup = |d: &TapDevice, q: usize| {
            d.queue_fd(q)
                .try_clone_to_owned()
                .map_err(|e| HarnessError::Backend(format!("dup {} queue fd {q}: {e}", d.name())))
        };
        let mut fwd = PlainForwarder {
            stop: Arc::new(AtomicBool::new(false)),
            frames: Arc::default(),
            threads: Vec::new(),
        };
        // On an error, dropping `fwd` stops and joins what started.
        for q in 0..a.num_queues().min(b.num_queues()) {
            let (a_rx, a_tx, b_rx, b_tx) = (dup(a, q)?, dup(a, q)?, dup(b, q)?, dup(b, q)?);
            for (dir, (from, to)) in [(a_rx, b_tx), (b_rx, a_tx)].into_iter().enumerate() {
                let (flag, count) = (fwd.stop.clone(), fwd.frames.clone());
                let h = std::thread::Builder::new()
                    .name(format!("plain-fwd-{q}-{dir}"))
                    .spawn(move || {
                        if pinned {
                            pin(q % online_cpus().max(1));
                        }
                        let c0 = thread_cpu();
                        pass_through(&from, &to, &flag, &count[dir])?;
                        Ok(thread_cpu() - c0)
                    })
                    .map_err(|e| HarnessError::Backend(format!("spawn plain forwarder: {e}")))?;
                fwd.threads.push(h);
            }
        }
        Ok(fwd)
    }

    /// Frames forwarded (written) so far, per direction (A -> B, B -> A).
    pub fn frames(&self) -> [u64; 2] {
        [0, 1].map(|d| self.frames[d].load(Ordering::Relaxed))
    }

    /// Stops every thread and waits for them; an error if one failed.
    pub fn stop(mut self) -> Result<PlainTotals, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut failed = None;
        let mut cpu_secs = 0.0;
        for h in self.threads.drain(..) {
            match h.join() {
                Ok(Ok(cpu)) => cpu_secs += cpu,
                Ok(Err(e)) => failed = Some(format!("plain forwarder: {e}")),
                Err(_) => failed = Some("plain forwarder thread panicked".into()),
            }
        }
        match failed {
            Some(why) => Err(HarnessError::Backend(why)),
            None => Ok(PlainTotals {
                frames: self.frames(),
                cpu_secs,
            }),
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
