//! The baseline a user already has: a pass-through forwarder of two
//! threads per queue pair, one per direction, each reading a frame from one
//! TAP queue fd and writing it to the other with plain blocking
//! `read()`/`write()` system calls, no library in between (what a user
//! writes with any TUN/TAP crate). Frames and their virtio-net headers pass
//! unchanged, so with the same offloads negotiated it carries what a
//! tapring forwarder carries. Each frame costs one `read` and one `write`;
//! an idle thread sleeps inside `read`.
//!
//! A thread asleep in `read` notices no flag, so [`PlainForwarder::stop`]
//! takes a wake-up: deleting the devices, which makes the kernel wake
//! every reader of them with an error.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use tapring::device::TapDevice;

use crate::error::HarnessError;
use crate::lab::cpu::{online_cpus, pin, task_cpu, thread_cpu, thread_id};

/// Largest frame plus virtio-net header a read can return (64 KiB GSO
/// frames with offloads on).
const FRAME_ROOM: usize = 65_536 + 64;

/// How long [`PlainForwarder::stop`] waits for its threads once the
/// devices are deleted (the kernel wakes their reads at once; this bounds
/// a deletion that failed).
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A running plain forwarder between two devices.
pub struct PlainForwarder {
    stop: Arc<AtomicBool>,
    frames: Arc<[AtomicU64; 2]>,
    /// The threads' kernel ids, as each publishes its own.
    tids: Arc<Mutex<Vec<i32>>>,
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
    ///
    /// The reads block: `O_NONBLOCK` is cleared on the queues' open files,
    /// which the devices' own fds share, so their other users block too.
    /// On an error the threads already started stay asleep in `read` until
    /// the caller deletes the devices.
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
            tids: Arc::default(),
            threads: Vec::new(),
        };
        // Every fd first, so that a failure leaves no thread behind.
        let mut pairs = Vec::new();
        for q in 0..a.num_queues().min(b.num_queues()) {
            let (a_rx, a_tx, b_rx, b_tx) = (dup(a, q)?, dup(a, q)?, dup(b, q)?, dup(b, q)?);
            for fd in [&a_rx, &b_rx] {
                blocking(fd)?;
            }
            pairs.push((q, [(a_rx, b_tx), (b_rx, a_tx)]));
        }
        // On a failure to spawn, dropping `fwd` detaches what started.
        for (q, directions) in pairs {
            for (dir, (from, to)) in directions.into_iter().enumerate() {
                let (flag, count, tids) = (fwd.stop.clone(), fwd.frames.clone(), fwd.tids.clone());
                let h = std::thread::Builder::new()
                    .name(format!("plain-fwd-{q}-{dir}"))
                    .spawn(move || {
                        if pinned {
                            pin(q % online_cpus().max(1));
                        }
                        if let Ok(mut t) = tids.lock() {
                            t.push(thread_id());
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

    /// CPU seconds its running threads have used so far, summed (read from
    /// the kernel's per-thread accounting, so a caller can take the
    /// difference over a window); `None` where that cannot be read.
    pub fn cpu_secs(&self) -> Option<f64> {
        let tids = self.tids.lock().ok()?;
        tids.iter().map(|&t| task_cpu(t)).sum()
    }

    /// Stops every thread: sets the stop flag, calls `delete_devices`
    /// (which must delete both devices, so that the kernel wakes the
    /// threads asleep in `read`), and waits for them; an error if one
    /// failed or did not end.
    pub fn stop(
        mut self,
        delete_devices: impl FnOnce() -> Result<(), HarnessError>,
    ) -> Result<PlainTotals, HarnessError> {
        self.stop.store(true, Ordering::Release);
        let woken = delete_devices();
        let deadline = Instant::now() + STOP_WAIT;
        while self.threads.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut failed = woken.err().map(|e| e.to_string());
        let mut cpu_secs = 0.0;
        for h in self.threads.drain(..) {
            if !h.is_finished() {
                // Detached: it ends when its device does.
                failed.get_or_insert_with(|| {
                    format!("a plain forwarder thread still reads {STOP_WAIT:?} after the stop")
                });
                continue;
            }
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
    /// Sets the stop flag and detaches the threads (never stopped by
    /// [`PlainForwarder::stop`]: an error path): a thread asleep in `read`
    /// cannot be joined before its device is deleted; when the caller's
    /// clean-up deletes it (or the process ends), the thread sees the flag
    /// and ends.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.threads.clear();
    }
}

/// Clears `O_NONBLOCK` (only) on `fd`'s open file.
fn blocking(fd: &OwnedFd) -> Result<(), HarnessError> {
    let fail = |e: Errno| HarnessError::Backend(format!("fcntl(O_NONBLOCK off): {e}"));
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).map_err(fail)?);
    fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK)).map_err(fail)?;
    Ok(())
}

/// Reads frames from `from` and writes each to `to` until `stop` (seen
/// after the next frame, or when deleting the device fails the read).
fn pass_through(
    from: &OwnedFd,
    to: &OwnedFd,
    stop: &AtomicBool,
    count: &AtomicU64,
) -> Result<(), Errno> {
    let mut buf = vec![0u8; FRAME_ROOM];
    while !stop.load(Ordering::Acquire) {
        match nix::unistd::read(from.as_fd(), &mut buf) {
            Ok(n) => match nix::unistd::write(to, &buf[..n]) {
                Ok(_) => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                // The kernel refused the frame now (full queue, link
                // down): it is lost, as the kernel's own forwarding would
                // lose it, and not counted as forwarded.
                Err(Errno::EAGAIN | Errno::ENOBUFS | Errno::EIO) => {}
                Err(_) if stop.load(Ordering::Acquire) => return Ok(()),
                Err(e) => return Err(e),
            },
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            // The device went away under the read: the stop's wake-up.
            Err(_) if stop.load(Ordering::Acquire) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
