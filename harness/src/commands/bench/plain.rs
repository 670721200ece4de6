//! The plain arm of fwd and fwd2: what a user writes with any TUN/TAP
//! crate. The same devices (same configuration, queues and topology) and
//! the same frames as tapring's runs of the round, moved with one `read()`
//! or `write()` system call per frame and no library: fwd2 through
//! [`PlainForwarder`] (two threads per queue pair, blocking in `read`), fwd
//! by one thread per
//! queue that writes a burst of frames into A and reads B until it is empty
//! or a burst was read, as tapring's fwd thread does. Its table gives
//! every backend's packets/s over the plain arm's, paired by round.

use super::record::Record;
use super::report::median;
use super::workload::{self, RunSpec, Sample, TestKind};
use crate::error::HarnessError;
use crate::lab::cpu::{pin, thread_cpu};
use crate::lab::plain_forwarder::PlainForwarder;
use crate::lab::sandbox::{self, Names};
use crate::lab::traffic::{flows, spawn_source};
use nix::errno::Errno;
use serde::Serialize;
use std::fmt::Write as _;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tapring::device::{DeviceMode, KernelCounters, TapConfig, TapDevice};

/// One measured plain run, as written to JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PlainRecord {
    /// fwd or fwd2.
    pub test: TestKind,
    /// The device type: tap or tun.
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    pub mode: DeviceMode,
    /// Packet size as the device carries it.
    pub size: usize,
    /// Queues per device.
    pub queues: u16,
    /// Round (pair) number: the tapring runs it is paired with.
    pub round: usize,
    /// Packets per second delivered.
    pub pps: f64,
    /// CPU seconds of the forwarding threads per million packets.
    pub cpu_s_per_mpkt: f64,
    /// Frames lost.
    pub drops: u64,
    /// fwd2: packets per second the kernel-side source offered.
    pub offered_pps: Option<f64>,
}

/// Whether `test` has a plain arm.
pub fn has_plain_arm(test: TestKind) -> bool {
    matches!(test, TestKind::Fwd | TestKind::Fwd2)
}

/// Measures the plain arm of `spec` (fwd or fwd2; the backend is unused).
pub fn measure(
    spec: &RunSpec,
    round: usize,
    names: &mut Names,
) -> Result<PlainRecord, HarnessError> {
    pin(0);
    let s = match spec.test {
        TestKind::Fwd => fwd(spec, names)?,
        TestKind::Fwd2 => fwd2(spec, names)?,
        other => {
            return Err(HarnessError::Usage(format!(
                "{} has no plain arm (only fwd and fwd2)",
                other.name()
            )));
        }
    };
    let secs = s.secs.max(1e-9);
    Ok(PlainRecord {
        test: spec.test,
        mode: spec.mode,
        size: spec.size,
        queues: spec.queues,
        round,
        pps: s.pps(),
        cpu_s_per_mpkt: s.cpu_s_per_mpkt(),
        drops: s.drops,
        offered_pps: s.offered.map(|o| o as f64 / secs),
    })
}

/// A device of `spec`'s mode and queues, configured as tapring's runs open
/// theirs, up.
fn device(spec: &RunSpec, name: &str) -> Result<TapDevice, HarnessError> {
    let cfg = TapConfig::named(name)
        .mode(spec.mode)
        .queues(usize::from(spec.queues));
    let dev = TapDevice::open(&cfg).map_err(|e| HarnessError::Backend(format!("{name}: {e}")))?;
    sandbox::ip(&["link", "set", "dev", name, "up"])?;
    Ok(dev)
}

fn counters(name: &str) -> Result<KernelCounters, HarnessError> {
    Ok(KernelCounters::read(name)?)
}

/// fwd2's plain arm: the source sends into A, the plain forwarder passes
/// A -> B (and B -> A, idle), the kernel counts what B delivered. Whatever
/// fails, the source stops and both devices are deleted (which ends the
/// forwarder's reads).
fn fwd2(spec: &RunSpec, names: &mut Names) -> Result<Sample, HarnessError> {
    let (a, b) = (names.next("trp2a"), names.next("trp2b"));
    let (da, db) = (device(spec, &a)?, device(spec, &b)?);
    let delete_devices = || sandbox::delete_links(&[(None, &a), (None, &b)]);
    // Queue pair i's threads on CPU i: with one queue, the A -> B thread
    // is where tapring's one measuring thread is, away from the source on
    // CPU 1.
    let fwd = match PlainForwarder::start(&da, &db, true) {
        Ok(f) => f,
        Err(e) => {
            let _ = delete_devices();
            return Err(e);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let src = spawn_source(
        da.ifindex(),
        flows(spec.mode, spec.size, 64),
        stop.clone(),
        sent.clone(),
    );
    let window = (|| -> Result<Sample, HarnessError> {
        std::thread::sleep(Duration::from_millis(20));
        let (before, sent0, dropped0, cpu0) = (
            counters(&b)?.rx_packets,
            sent.load(Ordering::Relaxed),
            counters(&a)?.tx_dropped,
            fwd.cpu_secs(),
        );
        let t0 = Instant::now();
        std::thread::sleep(spec.duration);
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = fwd.cpu_secs();
        let packets = counters(&b)?.rx_packets - before;
        // At A's full queue (as tapring's fwd2 counts its kernel drops).
        let dropped = counters(&a)?.tx_dropped - dropped0;
        Ok(Sample {
            packets,
            secs,
            // The threads' CPU over the window as the kernel accounts it;
            // where that cannot be read, a share of their whole life's
            // CPU (below).
            cpu_secs: cpu1.zip(cpu0).map_or(f64::NAN, |(c1, c0)| c1 - c0),
            drops: dropped,
            offered: Some(sent.load(Ordering::Relaxed) - sent0 + dropped),
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let joined = src.join();
    let stopped = fwd.stop(delete_devices);
    joined.map_err(|_| HarnessError::Check("traffic source panicked".into()))??;
    let totals = stopped?;
    let mut sample = window?;
    if sample.cpu_secs.is_nan() {
        // Their whole life's CPU in the window's share of the frames.
        sample.cpu_secs = totals.cpu_secs * sample.packets as f64 / totals.frames[0].max(1) as f64;
    }
    Ok(sample)
}

/// fwd's plain arm: A and B joined as in tapring's run, one thread per
/// queue writing its flows into A's queue i and reading B's queue i.
fn fwd(spec: &RunSpec, names: &mut Names) -> Result<Sample, HarnessError> {
    let (a, b) = (names.next("trpfa"), names.next("trpfb"));
    let (da, db) = (device(spec, &a)?, device(spec, &b)?);
    let join = workload::Join::build(spec.mode, &a, &b, names)?;
    let frames = workload::fwd_frames(spec, da.num_queues().min(db.num_queues()));
    let started = Barrier::new(frames.len());
    let lanes: Vec<Result<Lane, HarnessError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = frames
            .iter()
            .enumerate()
            .map(|(i, frames)| {
                let (qa, qb, started) = (da.queue_fd(i), db.queue_fd(i), &started);
                scope.spawn(move || fwd_lane(i, spec, frames, qa, qb, started))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(HarnessError::Check("plain fwd thread panicked".into()))
                })
            })
            .collect()
    });
    drop(join);
    let mut sample = Sample {
        drops: counters(&b)?.tx_dropped,
        ..Sample::default()
    };
    for lane in lanes {
        let lane = lane?;
        sample.packets += lane.packets;
        sample.secs = sample.secs.max(lane.secs);
        sample.cpu_secs += lane.cpu_secs;
        sample.drops += lane.refused;
    }
    Ok(sample)
}

/// What one plain fwd thread measured.
struct Lane {
    packets: u64,
    secs: f64,
    cpu_secs: f64,
    /// Writes the kernel refused (a full queue).
    refused: u64,
}

/// Largest frame a plain fwd read can return (no offloads: the MTU).
const READ_ROOM: usize = 2048;

fn fwd_lane(
    i: usize,
    spec: &RunSpec,
    frames: &[Vec<u8>],
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    started: &Barrier,
) -> Result<Lane, HarnessError> {
    if spec.queues > 1 {
        pin(workload::queue_cpu(i));
    }
    let fail = |what: &str, e: Errno| HarnessError::Backend(format!("plain fwd {what}: {e}"));
    let (mut buf, mut out) = (vec![0u8; READ_ROOM], vec![0u8; READ_ROOM]);
    started.wait();
    let (t0, c0) = (Instant::now(), thread_cpu());
    let (mut packets, mut refused, mut next) = (0u64, 0u64, 0usize);
    while t0.elapsed() < spec.duration {
        for _ in 0..spec.burst {
            // Each frame is produced into the buffer written, as tapring's
            // sender fills each packet it allocates (and the overhead
            // test's bare loop each slot).
            let frame = &frames[next];
            out[..frame.len()].copy_from_slice(frame);
            match nix::unistd::write(a, &out[..frame.len()]) {
                Ok(_) => {}
                Err(Errno::EAGAIN | Errno::ENOBUFS) => refused += 1,
                Err(e) => return Err(fail("write", e)),
            }
            next = (next + 1) % frames.len();
        }
        for _ in 0..spec.burst {
            match nix::unistd::read(b, &mut buf) {
                Ok(_) => packets += 1,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(fail("read", e)),
            }
        }
    }
    Ok(Lane {
        packets,
        secs: t0.elapsed().as_secs_f64(),
        cpu_secs: thread_cpu() - c0,
        refused,
    })
}

/// The table of tapring against the plain arm: per test, size, queues and
/// backend, the medians and the paired ratio.
pub fn table(frames: &[Record], plain: &[PlainRecord]) -> String {
    let mut out = format!(
        "fwd and fwd2 against a plain read()/write() loop (no library)\n\
         {:<6} {:<4} {:>5} {:>6} {:<10} {:>8} {:>10} {:>11} {:>11}  tapring/plain: median [min..max] (pairs)\n",
        "test",
        "mode",
        "size",
        "queues",
        "backend",
        "Mpps",
        "plain Mpps",
        "CPU s/Mpkt",
        "plain CPU"
    );
    let med = |mut v: Vec<f64>| median(&mut v);
    let mut keys = Vec::new();
    for r in frames.iter().filter(|r| has_plain_arm(r.test)) {
        let key = (r.test, r.mode.as_str(), r.size, r.queues, r.backend);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (test, mode, size, queues, backend) in keys {
        let same = |p: &&PlainRecord| {
            (p.test, p.mode.as_str(), p.size, p.queues) == (test, mode, size, queues)
        };
        let base: Vec<&PlainRecord> = plain.iter().filter(same).collect();
        if base.is_empty() {
            continue;
        }
        let lib: Vec<&Record> = frames
            .iter()
            .filter(|r| {
                (r.test, r.mode.as_str(), r.size, r.queues, r.backend)
                    == (test, mode, size, queues, backend)
            })
            .collect();
        let mut ratios: Vec<f64> = lib
            .iter()
            .filter_map(|r| {
                let p = base.iter().find(|p| p.round == r.round)?;
                (p.pps > 0.0).then(|| r.pps / p.pps)
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let ratio = match (ratios.first(), ratios.last()) {
            (Some(lo), Some(hi)) => format!(
                "{:.2}x [{lo:.2}..{hi:.2}] ({})",
                median(&mut ratios.clone()),
                ratios.len()
            ),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<6} {mode:<4} {size:>5} {queues:>6} {:<10} {:>8.3} {:>10.3} {:>11.3} {:>11.3}  {ratio}",
            test.name(),
            backend.name(),
            med(lib.iter().map(|r| r.pps / 1e6).collect()),
            med(base.iter().map(|p| p.pps / 1e6).collect()),
            med(lib.iter().map(|r| r.cpu_s_per_mpkt).collect()),
            med(base.iter().map(|p| p.cpu_s_per_mpkt).collect()),
        );
    }
    out.push_str(
        "plain: the same devices, topology and frames moved with one read() or write() per \
         frame and no library, run last in each round of tapring's runs. fwd2: two threads per \
         queue pair blocking in read(), one per direction, pair i on CPU i (with N queues that \
         is N forwarding threads against tapring's one); fwd: one thread per queue writing a \
         burst into A (each frame copied into the buffer written, as tapring's sender fills \
         each packet), then reading B until it is empty or a burst was read.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::bench::workload::Measured;
    use crate::lab::ports::PortSettings;
    use tapring::Backend;
    use tapring::uring::UringConfig;

    fn spec(test: TestKind) -> RunSpec {
        RunSpec {
            test,
            backend: Backend::ReadWrite,
            size: 64,
            mode: DeviceMode::Tap,
            queues: 1,
            burst: 32,
            rx_mode: tapring::RxMode::Auto,
            uring: UringConfig::default(),
            duration: Duration::from_millis(10),
        }
    }

    fn record(test: TestKind, round: usize, packets: u64) -> Record {
        let m = Measured {
            ran: PortSettings {
                backend: Backend::ReadWrite,
                queues: 1,
                rx_mode: None,
                fixed_buffers: "off",
                sqpoll: false,
            },
            sample: Sample {
                packets,
                secs: 1.0,
                cpu_secs: 0.5,
                ..Sample::default()
            },
        };
        Record::new(&spec(test), round, &m)
    }

    fn plain(test: TestKind, round: usize, pps: f64) -> PlainRecord {
        PlainRecord {
            test,
            mode: DeviceMode::Tap,
            size: 64,
            queues: 1,
            round,
            pps,
            cpu_s_per_mpkt: 0.4,
            drops: 0,
            offered_pps: None,
        }
    }

    #[test]
    fn the_table_pairs_each_run_with_the_plain_arm_of_its_round() {
        let frames = [
            record(TestKind::Fwd2, 0, 1_000_000),
            record(TestKind::Fwd2, 1, 2_000_000),
            // No plain arm: no row.
            record(TestKind::Tx, 0, 5_000_000),
        ];
        // Medians alone would give 1.5 / 3.0 = 0.50x; pair by pair it is
        // 1/1 and 2/5.
        let base = [plain(TestKind::Fwd2, 1, 5e6), plain(TestKind::Fwd2, 0, 1e6)];
        let t = table(&frames, &base);
        let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("fwd2 ")).collect();
        assert_eq!(rows.len(), 1, "{t}");
        assert!(rows[0].ends_with("0.70x [0.40..1.00] (2)"), "{t}");
        assert!(!t.lines().any(|l| l.starts_with("tx ")), "{t}");
        assert!(has_plain_arm(TestKind::Fwd) && !has_plain_arm(TestKind::Drain));
    }
}
