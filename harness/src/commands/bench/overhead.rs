//! `tapring bench --test overhead`: what the library costs on top of the
//! io_uring calls it makes. tapring's io_uring backend (tx, and drain in
//! no-wait mode) alternates with [`BareLoop`], which issues the same
//! operations in the same batches on an identically set-up ring, with no
//! pool, packets, engine or statistics. Same device setup, same frames; the
//! bare loop copies each frame into its slot, as tapring's sender fills
//! each packet, so only the library's own work differs.

use super::workload::{self, RunSpec, Sample, TestKind};
use crate::error::HarnessError;
use crate::lab::cpu::thread_cpu;
use crate::lab::sandbox::{self, Names};
use serde::Serialize;
use std::time::Instant;
use tapring::Backend;
use tapring::RxMode;
use tapring::device::{KernelCounters, TapConfig, TapDevice};
use tapring_testkit::udp_frame;
use tapring_uring::BareLoop;

/// One measured run, as written to JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct OverheadRecord {
    /// tx or drain.
    pub test: TestKind,
    /// Frame size.
    pub size: usize,
    /// Round (pair) number.
    pub round: usize,
    /// tapring's packets per second.
    pub tapring_pps: f64,
    /// The bare loop's packets per second.
    pub bare_pps: f64,
}

/// The run of the pair: `base` with test `test` and frame size `size`,
/// tapring's io_uring backend in no-wait mode (the bare loop's reads).
pub fn spec(base: &RunSpec, test: TestKind, size: usize) -> RunSpec {
    RunSpec {
        test,
        size,
        backend: Backend::IoUring,
        rx_mode: RxMode::Nowait,
        ..*base
    }
}

/// Measures one pair, tapring then the bare loop, for `spec` (tx or drain,
/// made by [`spec`]).
pub fn measure_pair(
    spec: &RunSpec,
    round: usize,
    names: &mut Names,
) -> Result<OverheadRecord, HarnessError> {
    let lib = workload::run(spec, names)?.sample;
    let bare = match spec.test {
        TestKind::Tx => bare_tx(spec, names)?,
        _ => bare_drain(spec, names)?,
    };
    Ok(OverheadRecord {
        test: spec.test,
        size: spec.size,
        round,
        tapring_pps: lib.packets as f64 / lib.secs.max(1e-9),
        bare_pps: bare.packets as f64 / bare.secs.max(1e-9),
    })
}

/// A fresh TAP device, up, in the sandbox.
fn device(name: &str) -> Result<TapDevice, HarnessError> {
    let dev = TapDevice::open(&TapConfig::named(name))
        .map_err(|e| HarnessError::Backend(format!("{name}: {e}")))?;
    sandbox::ip(&["link", "set", "dev", name, "up"])?;
    Ok(dev)
}

/// A bare loop issuing `batch` operations per enter, with registered
/// buffers where tapring's queues have them.
fn bare_loop(dev: &TapDevice, spec: &RunSpec, batch: usize) -> Result<BareLoop, HarnessError> {
    BareLoop::new(dev.queue_fd(0), batch, spec.uring.fixed_buffers)
        .map_err(|e| HarnessError::Backend(e.to_string()))
}

fn bare_tx(spec: &RunSpec, names: &mut Names) -> Result<Sample, HarnessError> {
    let name = names.next("trotx");
    let dev = device(&name)?;
    // tapring writes one burst per enter.
    let mut bare = bare_loop(&dev, spec, spec.burst)?;
    let frame = udp_frame(spec.size, 0, 0);
    let before = KernelCounters::read(&name)?.rx_packets;
    let (t0, c0) = (Instant::now(), thread_cpu());
    while t0.elapsed() < spec.duration {
        bare.write_batch(&frame)
            .map_err(|e| HarnessError::Backend(e.to_string()))?;
    }
    let (secs, cpu_secs) = (t0.elapsed().as_secs_f64(), thread_cpu() - c0);
    Ok(Sample {
        packets: KernelCounters::read(&name)?.rx_packets - before,
        secs,
        cpu_secs,
        drops: 0,
        offered: None,
    })
}

fn bare_drain(spec: &RunSpec, names: &mut Names) -> Result<Sample, HarnessError> {
    let name = names.next("trodr");
    let dev = device(&name)?;
    // tapring's no-wait drain issues up to rx_depth reads per enter (the
    // drain's bursts have room for 256).
    let batch = (spec.uring.rx_depth as usize).min(256);
    let mut bare = BareDrainer(bare_loop(&dev, spec, batch)?);
    workload::drain_rounds(spec, &name, dev.ifindex(), &mut bare)
}

/// The bare loop as a drainer (it holds no buffer between reads, so it
/// needs no stop while the kernel's queue fills).
struct BareDrainer(BareLoop);

impl workload::Drainer for BareDrainer {
    fn before_fill(&mut self) -> Result<(), HarnessError> {
        Ok(())
    }

    fn read(&mut self) -> Result<usize, HarnessError> {
        self.0
            .read_batch()
            .map_err(|e| HarnessError::Backend(e.to_string()))
    }
}

/// The overhead table: medians and the paired tapring/bare ratio.
pub fn table(records: &[OverheadRecord]) -> String {
    let mut out = format!(
        "{:<9} {:>5} {:>13} {:>10}  tapring/bare: median [min..max] (pairs)\n",
        "overhead", "size", "tapring Mpps", "bare Mpps"
    );
    let mut keys: Vec<(TestKind, usize)> = Vec::new();
    for r in records {
        if !keys.contains(&(r.test, r.size)) {
            keys.push((r.test, r.size));
        }
    }
    for (test, size) in keys {
        let rs: Vec<&OverheadRecord> = records
            .iter()
            .filter(|r| r.test == test && r.size == size)
            .collect();
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let lib = med(rs.iter().map(|r| r.tapring_pps / 1e6).collect());
        let bare = med(rs.iter().map(|r| r.bare_pps / 1e6).collect());
        let mut ratios: Vec<f64> = rs
            .iter()
            .map(|r| r.tapring_pps / r.bare_pps.max(1e-9))
            .collect();
        ratios.sort_by(f64::total_cmp);
        out.push_str(&format!(
            "{:<9} {size:>5} {lib:>13.3} {bare:>10.3}  {:.2}x [{:.2}..{:.2}] ({})\n",
            test.name(),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
            ratios.len()
        ));
    }
    out
}
