//! `UringRing`: the core engine's [`Ring`] over a real io_uring instance
//! bound to one TAP queue fd.

use crate::error::UringError;
use crate::sys::{self, BufRing, IovecTable, RegisteredRegion};
use io_uring::types::{CancelBuilder, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;
use tapring_core::Pool;
use tapring_core::backend::RawBuf;
use tapring_core::backend::ring::{Cqe, Ring, RingError, Sqe};

/// How to build a ring (decided by the port from the probe and the config).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingSetup {
    /// Submission queue entries.
    pub sq_entries: u32,
    /// Completion queue entries.
    pub cq_entries: u32,
    /// SINGLE_ISSUER + DEFER_TASKRUN (+ TASKRUN_FLAG).
    pub defer_taskrun: bool,
    /// A kernel thread polls the submission queue (spends a core).
    pub sqpoll: bool,
    /// The CPU that thread is bound to (`None`: the creator's affinity).
    pub sqpoll_cpu: Option<u32>,
    /// Register the TAP fd and use it as fixed file 0.
    pub fixed_file: bool,
    /// Multishot reads with provided buffers are available.
    pub multishot: bool,
    /// Reads honour `RWF_NOWAIT` (no-wait Rx).
    pub nowait: bool,
    /// Register the pool's buffer area and use READ_FIXED / WRITE_FIXED
    /// for buffers inside it.
    pub fixed_buffers: bool,
    /// In-flight slots (iovec storage).
    pub slots: usize,
}

/// A ring over one TAP queue fd. Crate-private: its `post` trusts that the
/// buffers it is given stay valid until their completion, which the core
/// engine guarantees.
pub(crate) struct UringRing {
    // Field order matters: the ring (and with it the kernel's references to
    // buffers, buffer rings and the fd) goes before the memory it used.
    ring: IoUring,
    /// The registered pool area (fixed buffers), if any.
    region: Option<RegisteredRegion>,
    /// Keeps the registered memory mapped until the ring is gone.
    _pool: Option<Pool>,
    iovecs: IovecTable,
    buf_rings: Vec<(u16, BufRing)>,
    fd: OwnedFd,
    /// The registered eventfd (a `File` so that it can also be written).
    eventfd: Option<std::fs::File>,
    setup: RingSetup,
    enabled: bool,
    /// The TAP fd is registered as fixed file 0 (and operations use it).
    file_registered: bool,
    /// The thread a single-issuer ring is bound to (see [`this_thread`]),
    /// once enabled.
    bound_to: Option<usize>,
    /// The kernel refused an enter as from the wrong task (EEXIST): the
    /// ring is bound elsewhere, whatever `bound_to` says.
    refused_thread: bool,
}

/// This thread's identity, cheaply (one thread-local read after the
/// first): a number drawn once per thread from a process-wide counter, so,
/// unlike a thread-local's address (the C library reuses an exited thread's
/// stack and TLS for the next one), never the same for two threads.
fn this_thread() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    thread_local!(static ID: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    ID.with(|id| *id)
}

impl Drop for UringRing {
    /// Unregisters the TAP fd before the ring goes (see
    /// [`UringRing::release_file`]).
    fn drop(&mut self) {
        // Fails (EEXIST) from another thread than a single-issuer ring's:
        // the queues' `stop` releases it on their own thread first.
        self.release_file();
    }
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl UringRing {
    /// Builds a (disabled) ring for `fd`. It is enabled by the thread that
    /// first uses it (see [`UringRing::enable`]), because a single-issuer
    /// ring belongs to the task that enables it.
    pub(crate) fn new(fd: OwnedFd, setup: RingSetup, pool: &Pool) -> Result<UringRing, UringError> {
        sys::set_blocking(fd.as_fd()).map_err(|e| UringError::os("fcntl(O_NONBLOCK off)", &e))?;
        let mut b = IoUring::builder();
        b.setup_cqsize(setup.cq_entries).setup_r_disabled();
        if setup.defer_taskrun {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag();
        }
        if setup.sqpoll {
            b.setup_sqpoll(50);
            if let Some(cpu) = setup.sqpoll_cpu {
                b.setup_sqpoll_cpu(cpu);
            }
        }
        let ring = b
            .build(setup.sq_entries)
            .map_err(|e| UringError::from_setup(&e))?;
        if setup.fixed_file {
            ring.submitter()
                .register_files(&[fd.as_raw_fd()])
                .map_err(|e| UringError::os("io_uring_register(FILES)", &e))?;
        }
        // Best effort: pinning the area can fail (RLIMIT_MEMLOCK without
        // CAP_IPC_LOCK); plain reads and writes then do the same job.
        let (region, pool) = if setup.fixed_buffers {
            let (base, len) = pool.buffers();
            match sys::register_region(&ring, base, len) {
                Ok(r) => (Some(r), Some(pool.clone())),
                Err(e) => {
                    tracing::info!(error = %e, bytes = len, "registered buffers unavailable (RLIMIT_MEMLOCK?): plain reads and writes instead");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        Ok(UringRing {
            ring,
            region,
            _pool: pool,
            iovecs: IovecTable::new(setup.slots),
            buf_rings: Vec::new(),
            fd,
            eventfd: None,
            file_registered: setup.fixed_file,
            setup,
            enabled: false,
            bound_to: None,
            refused_thread: false,
        })
    }

    /// Enables the ring from the calling thread (once).
    ///
    /// The ring fd is deliberately not registered (IORING_REGISTER_RING_FDS):
    /// that registration lives in the registering thread's io_uring context
    /// and keeps the ring, and the TAP fd registered with it, alive until
    /// that thread exits, while a queue may be dropped on another thread.
    pub(crate) fn enable(&mut self) -> Result<(), UringError> {
        if self.enabled {
            return self.check_thread();
        }
        self.ring
            .submitter()
            .register_enable_rings()
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => UringError::Core(tapring_core::Error::WrongThread),
                _ => UringError::os("io_uring_register(ENABLE_RINGS)", &e),
            })?;
        self.enabled = true;
        if self.setup.defer_taskrun {
            self.bound_to = Some(this_thread());
        }
        Ok(())
    }

    /// Unregisters the TAP fd (if registered) so that closing the queue
    /// closes the device at once. A ring's teardown is asynchronous in the
    /// kernel (a workqueue frees the context after close returns) and a
    /// registered file stays referenced until then: a non-persistent TAP
    /// outlived its port by that long, and opening the same name at once
    /// failed with EBUSY. Synchronous once nothing is in flight (after the
    /// engine's stop), and only from the ring's own thread when it is
    /// single-issuer.
    pub(crate) fn release_file(&mut self) {
        if self.file_registered && self.ring.submitter().unregister_files().is_ok() {
            self.file_registered = false;
        }
    }

    /// Registers the TAP fd again after [`UringRing::release_file`] (a
    /// queue restarted after `stop`); best effort: without it operations
    /// name the fd itself.
    pub(crate) fn restore_file(&mut self) {
        if self.setup.fixed_file && !self.file_registered {
            self.file_registered = self
                .ring
                .submitter()
                .register_files(&[self.fd.as_raw_fd()])
                .is_ok();
        }
    }

    /// Fails with [`tapring_core::Error::WrongThread`] when a single-issuer
    /// ring is used from another thread than the one that enabled it. The
    /// kernel would refuse the submissions (EEXIST), and worse, run the
    /// completions' deferred work only for the bound thread: a queue moved
    /// between threads (a multi-thread async runtime's tasks are) would
    /// wait forever for frames that already arrived.
    pub(crate) fn check_thread(&self) -> Result<(), UringError> {
        if self.refused_thread {
            return Err(UringError::Core(tapring_core::Error::WrongThread));
        }
        match self.bound_to {
            Some(owner) if owner != this_thread() => {
                tracing::warn!("an io_uring queue bound to one thread was used from another");
                Err(UringError::Core(tapring_core::Error::WrongThread))
            }
            _ => Ok(()),
        }
    }

    /// Readies the eventfd for a sleep and says whether work is already
    /// waiting (then the caller must not sleep). Resets the eventfd first:
    /// every completion posted (even a no-wait read's EAGAIN, harvested at
    /// once) signals it, so without a reset a poll loop would wake for work
    /// long done. Then any completion, overflow or deferred task work
    /// counts as pending: the kernel signals a DEFER_TASKRUN ring's eventfd
    /// only when deferred work first appears, so work that is already
    /// queued would never signal again.
    pub(crate) fn prepare_sleep(&mut self) -> Result<bool, UringError> {
        if let Some(efd) = &self.eventfd {
            use std::io::Read;
            let mut count = [0u8; 8];
            match (&*efd).read(&mut count) {
                // EAGAIN: nothing to reset.
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    return Err(UringError::os("read(eventfd)", &e));
                }
                _ => {}
            }
        }
        let pending = self.deferred_work_pending() || {
            let mut cq = self.ring.completion();
            cq.sync();
            !cq.is_empty()
        };
        Ok(pending)
    }

    /// Whether the pool's area is registered and buffers inside it are read
    /// or written with READ_FIXED / WRITE_FIXED.
    pub(crate) fn has_fixed_buffers(&self) -> bool {
        self.region.is_some()
    }

    /// An eventfd the kernel signals when completions are ready (created
    /// and registered on first use), for epoll/mio/tokio loops.
    pub(crate) fn eventfd(&mut self) -> Result<BorrowedFd<'_>, UringError> {
        if self.eventfd.is_none() {
            let efd = sys::eventfd().map_err(|e| UringError::os("eventfd", &e))?;
            self.ring
                .submitter()
                .register_eventfd(efd.as_raw_fd())
                .map_err(|e| UringError::os("io_uring_register(EVENTFD)", &e))?;
            self.eventfd = Some(std::fs::File::from(efd));
        }
        Ok(self
            .eventfd
            .as_ref()
            .map(|f| f.as_fd())
            .expect("created above"))
    }

    fn entry_for(&mut self, token: u64, op: Sqe<'_>) -> Result<squeue::Entry, RingError> {
        let slot = (token & 0xffff_ffff) as usize;
        let fixed = self.file_registered;
        let raw = self.fd.as_raw_fd();
        macro_rules! target {
            ($op:ident, $($arg:expr),*) => {
                if fixed {
                    opcode::$op::new(Fixed(0), $($arg),*).build()
                } else {
                    opcode::$op::new(Fd(raw), $($arg),*).build()
                }
            };
        }
        let fixed_buf = |b: &RawBuf| {
            self.region
                .as_ref()
                .and_then(|r| r.index_of(b.addr(), b.len()))
        };
        let entry = match op {
            Sqe::Read { buf } => match fixed_buf(&buf) {
                Some(i) => target!(ReadFixed, buf.addr(), buf.len(), i),
                None => target!(Read, buf.addr(), buf.len()),
            },
            Sqe::Write { buf } => match fixed_buf(&buf) {
                Some(i) => target!(WriteFixed, buf.addr().cast_const(), buf.len(), i),
                None => target!(Write, buf.addr().cast_const(), buf.len()),
            },
            Sqe::Readv { segs } | Sqe::Writev { segs } => {
                let (iov, n) = self
                    .iovecs
                    .fill(slot, segs.iter().map(|s| (s.addr(), s.len())))
                    .ok_or(RingError::Unsupported(
                        "gather/scatter beyond the queue depth",
                    ))?;
                if matches!(op, Sqe::Readv { .. }) {
                    target!(Readv, iov, n)
                } else {
                    target!(Writev, iov, n)
                }
            }
            Sqe::ReadMultishot { group } => {
                if !self.setup.multishot {
                    return Err(RingError::Unsupported("multishot read (kernel 6.7+)"));
                }
                target!(ReadMulti, 0, group)
            }
            Sqe::ReadNow { buf } => {
                if !self.setup.nowait {
                    return Err(RingError::Unsupported(
                        "no-wait reads on tun (RWF_NOWAIT, kernel 6.4+)",
                    ));
                }
                let (addr, len) = (buf.addr(), buf.len());
                let nowait = libc::RWF_NOWAIT;
                match (fixed, fixed_buf(&buf)) {
                    (true, Some(i)) => opcode::ReadFixed::new(Fixed(0), addr, len, i)
                        .rw_flags(nowait)
                        .build(),
                    (false, Some(i)) => opcode::ReadFixed::new(Fd(raw), addr, len, i)
                        .rw_flags(nowait)
                        .build(),
                    (true, None) => opcode::Read::new(Fixed(0), addr, len)
                        .rw_flags(nowait)
                        .build(),
                    (false, None) => opcode::Read::new(Fd(raw), addr, len)
                        .rw_flags(nowait)
                        .build(),
                }
            }
            Sqe::PollIn => target!(PollAdd, libc::POLLIN as u32),
            Sqe::CancelAll => opcode::AsyncCancel2::new(CancelBuilder::any()).build(),
        };
        Ok(entry.user_data(token))
    }
}

impl Ring for UringRing {
    unsafe fn post(&mut self, token: u64, op: Sqe<'_>) -> Result<(), RingError> {
        let entry = self.entry_for(token, op)?;
        if sys::push(&mut self.ring, &entry) {
            return Ok(());
        }
        // With SQPOLL the kernel thread empties the queue on its own
        // schedule: wait until it has taken entries rather than fail.
        if self.setup.sqpoll
            && self.ring.submit().is_ok()
            && self.ring.submitter().squeue_wait().is_ok()
            && sys::push(&mut self.ring, &entry)
        {
            return Ok(());
        }
        Err(RingError::Full)
    }

    fn flush(&mut self, wait_for: u32) -> Result<(), RingError> {
        match self.ring.submit_and_wait(wait_for as usize) {
            Ok(_) => Ok(()),
            Err(e) => match errno_of(&e) {
                // Transient: the entries stay queued and go with the next
                // enter; completions are still harvested.
                libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ETIME => Ok(()),
                n => Err(RingError::Submit(-n)),
            },
        }
    }

    fn harvest(&mut self, out: &mut [Cqe]) -> usize {
        let mut n = self.take_cqes(out);
        if n < out.len() {
            // Deferred task work (DEFER_TASKRUN) and overflowed completions
            // only reach the CQ through an enter; do one only when the
            // kernel says there is something to collect.
            if self.deferred_work_pending() {
                match self.ring.submit() {
                    Ok(_) => n += self.take_cqes(&mut out[n..]),
                    // Not this ring's thread: the next call says so.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => self.refused_thread = true,
                    Err(_) => {}
                }
            }
        }
        n
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), RingError> {
        let res = match timeout {
            Some(t) => {
                let ts = Timespec::from(t);
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) => match errno_of(&e) {
                libc::ETIME | libc::EINTR | libc::EAGAIN | libc::EBUSY => Ok(()),
                n => Err(RingError::Submit(-n)),
            },
        }
    }

    fn register_group(&mut self, group: u16, entries: u16) -> Result<(), RingError> {
        if !self.setup.multishot {
            return Err(RingError::Unsupported(
                "provided buffer rings (kernel 5.19+)",
            ));
        }
        if self.buf_rings.iter().any(|(g, _)| *g == group) {
            return Ok(());
        }
        let br = BufRing::new(entries).map_err(|e| RingError::Submit(-errno_of(&e)))?;
        br.register(&self.ring, group)
            .map_err(|e| RingError::Submit(-errno_of(&e)))?;
        self.buf_rings.push((group, br));
        Ok(())
    }

    fn unregister_group(&mut self, group: u16) -> Result<(), RingError> {
        let Some(at) = self.buf_rings.iter().position(|(g, _)| *g == group) else {
            return Ok(());
        };
        self.ring
            .submitter()
            .unregister_buf_ring(group)
            .map_err(|e| RingError::Submit(-errno_of(&e)))?;
        // The kernel no longer reads the ring's memory: it may go.
        self.buf_rings.swap_remove(at);
        Ok(())
    }

    unsafe fn provide(&mut self, group: u16, bid: u16, buf: RawBuf) -> Result<(), RingError> {
        let (_, br) =
            self.buf_rings
                .iter_mut()
                .find(|(g, _)| *g == group)
                .ok_or(RingError::Unsupported(
                    "providing to an unregistered buffer group",
                ))?;
        br.add(bid, buf.addr(), buf.len());
        Ok(())
    }

    fn provide_commit(&mut self, group: u16) {
        if let Some((_, br)) = self.buf_rings.iter().find(|(g, _)| *g == group) {
            br.publish();
        }
    }

    fn supports_multishot(&self) -> bool {
        self.setup.multishot
    }

    fn supports_nowait(&self) -> bool {
        self.setup.nowait
    }
}

impl UringRing {
    /// Whether deferred task work (DEFER_TASKRUN) or overflowed completions
    /// wait for an enter to reach the CQ.
    fn deferred_work_pending(&mut self) -> bool {
        let mut sq = self.ring.submission();
        sq.sync();
        sq.taskrun() || sq.cq_overflow()
    }

    fn take_cqes(&mut self, out: &mut [Cqe]) -> usize {
        let mut cq = self.ring.completion();
        let mut n = 0;
        for (slot, cqe) in out.iter_mut().zip(&mut cq) {
            let flags = cqe.flags();
            *slot = Cqe {
                token: cqe.user_data(),
                result: cqe.result(),
                more: cqueue::more(flags),
                buffer_id: cqueue::buffer_select(flags),
            };
            n += 1;
        }
        n
    }
}
