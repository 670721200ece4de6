//! What the running kernel's io_uring can do for tapring, probed once.

use crate::error::UringError;
use crate::sys::BufRing;
use io_uring::{IoUring, Probe, opcode};
use std::fmt;
use std::sync::OnceLock;
use tapring_core::RxMode;

/// io_uring features tapring uses, as found on this kernel.
#[derive(Debug)]
pub struct UringProbe {
    /// Why io_uring cannot be used at all (`None`: it can).
    pub unavailable: Option<UringError>,
    /// `kernel.io_uring_disabled` (0 enabled, 1 restricted, 2 disabled), if readable.
    pub disabled_sysctl: Option<u32>,
    /// SINGLE_ISSUER + DEFER_TASKRUN (6.1+).
    pub defer_taskrun: bool,
    /// IORING_OP_READ, WRITE, READV, WRITEV.
    pub read_write: bool,
    /// IORING_OP_READ_MULTISHOT (6.7+).
    pub multishot_read: bool,
    /// IORING_OP_READ_FIXED and WRITE_FIXED (registered buffers, for
    /// [`UringConfig::fixed_buffers`](crate::UringConfig::fixed_buffers)).
    pub fixed_buffers: bool,
    /// Registering the TAP fd as a fixed file works.
    pub fixed_files: bool,
    /// Provided buffer rings (5.19+).
    pub buf_ring: bool,
    /// Reads on a tun fd honour `RWF_NOWAIT` (tun has FMODE_NOWAIT, 6.4+),
    /// so no-wait Rx can complete reads at once without arming a poll.
    pub nowait_read: bool,
    /// ASYNC_CANCEL with "match any" (5.19+).
    pub cancel_any: bool,
    /// IORING_FEAT_NODROP: completions are never lost on CQ overflow.
    pub nodrop: bool,
}

impl UringProbe {
    /// True when the io_uring backend can run at all.
    pub fn usable(&self) -> bool {
        self.unavailable.is_none() && self.read_write && self.cancel_any
    }

    /// True when multishot Rx can be used.
    pub fn multishot(&self) -> bool {
        self.usable() && self.multishot_read && self.buf_ring
    }

    /// True when no-wait Rx can be used.
    pub fn nowait(&self) -> bool {
        self.usable() && self.nowait_read
    }

    /// The Rx mode `RxMode::Auto` stands for on this kernel: no-wait reads
    /// where tun honours them, else multishot, else posted reads.
    pub fn auto_rx_mode(&self) -> RxMode {
        if self.nowait() {
            RxMode::Nowait
        } else if self.multishot() {
            RxMode::Multishot
        } else {
            RxMode::Posted
        }
    }
}

impl fmt::Display for UringProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.unavailable {
            return write!(f, "io_uring: unavailable: {e}");
        }
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(
            f,
            "io_uring: available (io_uring_disabled = {})",
            self.disabled_sysctl.map_or("?".into(), |v| v.to_string())
        )?;
        writeln!(
            f,
            "  read/write/readv/writev:      {}",
            yes(self.read_write)
        )?;
        writeln!(
            f,
            "  multishot read (6.7+):        {}",
            yes(self.multishot_read)
        )?;
        writeln!(f, "  provided buffer rings:        {}", yes(self.buf_ring))?;
        writeln!(
            f,
            "  fixed files:                  {}",
            yes(self.fixed_files)
        )?;
        writeln!(
            f,
            "  READ_FIXED/WRITE_FIXED:       {}",
            yes(self.fixed_buffers)
        )?;
        writeln!(
            f,
            "  RWF_NOWAIT reads on tun:      {}",
            yes(self.nowait_read)
        )?;
        writeln!(
            f,
            "  cancel any:                   {}",
            yes(self.cancel_any)
        )?;
        writeln!(
            f,
            "  SINGLE_ISSUER+DEFER_TASKRUN:  {}",
            yes(self.defer_taskrun)
        )?;
        write!(f, "  NODROP completions:           {}", yes(self.nodrop))
    }
}

/// Probes the kernel (once per process; later calls return the same answer).
pub fn probe() -> &'static UringProbe {
    static PROBE: OnceLock<UringProbe> = OnceLock::new();
    PROBE.get_or_init(run_probe)
}

fn run_probe() -> UringProbe {
    let disabled_sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let mut p = UringProbe {
        unavailable: None,
        disabled_sysctl,
        defer_taskrun: false,
        read_write: false,
        multishot_read: false,
        fixed_buffers: false,
        fixed_files: false,
        buf_ring: false,
        nowait_read: false,
        cancel_any: false,
        nodrop: false,
    };
    let defer = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(8);
    let mut ring = match defer {
        Ok(r) => {
            p.defer_taskrun = true;
            r
        }
        Err(_) => match IoUring::new(8) {
            Ok(r) => r,
            Err(e) => {
                p.unavailable = Some(UringError::from_setup(&e));
                return p;
            }
        },
    };
    p.nodrop = ring.params().is_feature_nodrop();
    let mut probe = Probe::new();
    if ring.submitter().register_probe(&mut probe).is_ok() {
        p.read_write = [
            opcode::Read::CODE,
            opcode::Write::CODE,
            opcode::Readv::CODE,
            opcode::Writev::CODE,
        ]
        .iter()
        .all(|&c| probe.is_supported(c));
        p.multishot_read = probe.is_supported(opcode::ReadMulti::CODE);
        p.fixed_buffers = probe.is_supported(opcode::ReadFixed::CODE)
            && probe.is_supported(opcode::WriteFixed::CODE);
        // "Cancel any" arrived with ASYNC_CANCEL flags in 5.19, the same
        // release as provided buffer rings; the opcode itself is older.
        p.cancel_any = probe.is_supported(opcode::AsyncCancel::CODE);
    }
    if let Ok(br) = BufRing::new(8) {
        p.buf_ring = br.register(&ring, 0).is_ok();
        if p.buf_ring {
            let _ = ring.submitter().unregister_buf_ring(0);
        }
        p.cancel_any &= p.buf_ring;
    }
    if p.read_write {
        p.nowait_read = tun_honours_nowait(&mut ring);
    }
    // Any fd will do to see whether the file table can be registered.
    if let Ok(f) = std::fs::File::open("/dev/null") {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        p.fixed_files = ring.submitter().register_files(&[fd]).is_ok();
    }
    p
}

/// Reads with `RWF_NOWAIT` from a fresh /dev/net/tun fd that is attached to
/// no device: io_uring refuses the flag (`EOPNOTSUPP`) before calling the
/// driver when tun lacks FMODE_NOWAIT; otherwise tun itself answers
/// `EBADFD` (no device). No frame can be consumed, and no privilege is
/// needed.
fn tun_honours_nowait(ring: &mut IoUring) -> bool {
    let Ok(tun) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    else {
        return false;
    };
    // On the heap, and given up for good unless the completion is reaped
    // here: if the submit half-failed, the kernel may still write into it.
    let mut scratch = Box::new([0u8; 64]);
    let entry = opcode::Read::new(
        io_uring::types::Fd(std::os::fd::AsRawFd::as_raw_fd(&tun)),
        scratch.as_mut_ptr(),
        scratch.len() as u32,
    )
    .rw_flags(libc::RWF_NOWAIT)
    .build()
    .user_data(0x6e6f_7761);
    if !crate::sys::push(ring, &entry) {
        return false;
    }
    let res = match ring.submit_and_wait(1) {
        Ok(_) => ring.completion().next().map(|c| c.result()),
        Err(_) => None,
    };
    if res.is_none() {
        Box::leak(scratch);
    }
    matches!(res, Some(r) if r == -libc::EBADFD || r == -libc::EAGAIN || r >= 0)
}
