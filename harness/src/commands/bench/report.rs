//! Bench output: the side-by-side table with paired ratios, JSON records,
//! and the SVG chart.

use super::gro::GroFrameRecord;
use super::overhead::OverheadRecord;
use super::plain::PlainRecord;
use super::record::Record;
use super::tcp::TcpRecord;
use super::workload::TestKind;
use crate::error::HarnessError;
use crate::lab::output::{self, Machine};
use crate::lab::steal::RunSteal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use tapring::Backend;
use tapring::device::DeviceMode;

/// Where the numbers were measured: the machine, and how the bench set
/// it up.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    /// Kernel, CPU, mitigations, what `auto` picks.
    #[serde(flatten)]
    pub machine: Machine,
    /// Whether the bridge's netfilter hooks were switched off.
    pub bridge_netfilter_off: bool,
}

impl Environment {
    /// Reads the facts of this machine.
    pub fn read(bridge_netfilter_off: bool) -> Environment {
        Environment {
            machine: Machine::read(),
            bridge_netfilter_off,
        }
    }
}

/// The median of `v` (sorted in place; the mean of the middle two for an
/// even count; NaN when empty).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median and spread of one backend's runs of one test and size.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Test.
    pub test: TestKind,
    /// The device type: tap or tun.
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    pub mode: DeviceMode,
    /// Packet size (Ethernet frame on a TAP, IP packet on a TUN).
    pub size: usize,
    /// Backend.
    pub backend: Backend,
    /// Queues per port (one thread each in tx, drain and fwd).
    pub queues: u16,
    /// Median packets/s.
    pub pps: f64,
    /// Median Gbit/s.
    pub gbps: f64,
    /// Median CPU seconds per million packets.
    pub cpu_s_per_mpkt: f64,
    /// Frames lost, all runs.
    pub drops: u64,
    /// Median offered packets/s (Rx).
    pub offered_pps: Option<f64>,
    /// Paired ratios against the read/write backend, round by round.
    pub ratios: Vec<f64>,
    /// Median of `ratios`.
    pub ratio: Option<f64>,
    /// Paired ratios against the same test, size and backend with one
    /// queue, round by round (empty with one queue).
    pub vs_one_queue: Vec<f64>,
}

/// Groups records into summaries (ratios paired by round).
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    // The mode as its name: `DeviceMode` has no order of its own.
    type Key<'a> = (TestKind, &'a str, usize, Backend, u16);
    let mut groups: BTreeMap<Key<'_>, Vec<&Record>> = BTreeMap::new();
    for r in records {
        groups
            .entry((r.test, r.mode.as_str(), r.size, r.backend, r.queues))
            .or_default()
            .push(r);
    }
    // Ratios of `rs` to `base`, paired by round.
    let paired = |rs: &[&Record], base: Option<&Vec<&Record>>| -> Vec<f64> {
        let Some(b) = base else { return Vec::new() };
        let mut v: Vec<f64> = rs
            .iter()
            .filter_map(|r| {
                let t = b.iter().find(|x| x.round == r.round)?;
                (t.pps > 0.0).then(|| r.pps / t.pps)
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let mut out = Vec::new();
    for (&(test, mode_name, size, backend, queues), rs) in &groups {
        let mode = rs[0].mode;
        let ratios = match backend {
            Backend::ReadWrite => Vec::new(),
            _ => paired(
                rs,
                groups.get(&(test, mode_name, size, Backend::ReadWrite, queues)),
            ),
        };
        let vs_one_queue = match queues {
            1 => Vec::new(),
            _ => paired(rs, groups.get(&(test, mode_name, size, backend, 1))),
        };
        let col =
            |f: &dyn Fn(&Record) -> f64| median(&mut rs.iter().map(|r| f(r)).collect::<Vec<_>>());
        let offered: Vec<f64> = rs.iter().filter_map(|r| r.offered_pps).collect();
        out.push(Summary {
            test,
            mode,
            size,
            backend,
            queues,
            pps: col(&|r| r.pps),
            gbps: col(&|r| r.gbps),
            cpu_s_per_mpkt: col(&|r| r.cpu_s_per_mpkt),
            drops: rs.iter().map(|r| r.drops).sum(),
            offered_pps: (!offered.is_empty()).then(|| median(&mut offered.clone())),
            ratio: (!ratios.is_empty()).then(|| median(&mut ratios.clone())),
            ratios,
            vs_one_queue,
        });
    }
    out
}

/// The side-by-side table.
pub fn table(records: &[Record]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<6} {:<4} {:>5} {:<10} {:>6} {:>8} {:>8} {:>11} {:>9} {:>10}  vs read-write: median [min..max] (pairs)",
        "test",
        "mode",
        "size",
        "backend",
        "queues",
        "Mpps",
        "Gbit/s",
        "CPU s/Mpkt",
        "drops",
        "offered",
    );
    let mut wide = Vec::new();
    let mut scaling = Vec::new();
    for sm in summarize(records) {
        if let (Some(lo), Some(hi)) = (sm.vs_one_queue.first(), sm.vs_one_queue.last()) {
            scaling.push(format!(
                "{} {} {} {}: {} queues / 1 queue: {:.2}x [{lo:.2}..{hi:.2}] ({})",
                sm.test.name(),
                sm.mode.as_str(),
                sm.size,
                sm.backend.name(),
                sm.queues,
                median(&mut sm.vs_one_queue.clone()),
                sm.vs_one_queue.len()
            ));
        }
        if let (Some(r), Some(lo), Some(hi)) = (sm.ratio, sm.ratios.first(), sm.ratios.last())
            && (hi / r > 1.1 || lo / r < 0.9)
        {
            wide.push(format!(
                "{} {} {} [{lo:.2}..{hi:.2}]",
                sm.test.name(),
                sm.size,
                sm.backend.name()
            ));
        }
        let ratio = match sm.ratio {
            Some(r) => format!(
                "{r:.2}x [{:.2}..{:.2}] ({})",
                sm.ratios.first().unwrap_or(&r),
                sm.ratios.last().unwrap_or(&r),
                sm.ratios.len()
            ),
            None if sm.backend == Backend::ReadWrite => "1.00x (baseline)".into(),
            None => "-".into(),
        };
        let offered = sm
            .offered_pps
            .map_or("-".into(), |o| format!("{:.3}M", o / 1e6));
        let _ = writeln!(
            s,
            "{:<6} {:<4} {:>5} {:<10} {:>6} {:>8.3} {:>8.2} {:>11.3} {:>9} {:>10}  {}",
            sm.test.name(),
            sm.mode.as_str(),
            sm.size,
            sm.backend.name(),
            sm.queues,
            sm.pps / 1e6,
            sm.gbps,
            sm.cpu_s_per_mpkt,
            sm.drops,
            offered,
            ratio
        );
    }
    let _ = writeln!(
        s,
        "Mpps, Gbit/s and CPU are medians over the rounds; the ratio is taken pair by pair \
         (io_uring and read-write alternate within a round, the same minute) and its median is \
         shown, so it need not equal the quotient of the two Mpps medians."
    );
    for line in &scaling {
        let _ = writeln!(s, "{line}");
    }
    if !scaling.is_empty() {
        let _ = writeln!(
            s,
            "queue scaling is paired round by round (N queues and 1 queue in the same round). \
             tx, drain and fwd run one thread per queue (CPUs in turn), CPU summed over them; \
             rx and fwd2 poll every queue from one thread. fwd: each thread writes its own flows \
             into A's queue i and reads B's queue i, but B's queue is tun's choice by flow hash \
             (it cannot be steered without a steering eBPF program), so packets are the sum over \
             B's queues."
        );
    }
    if records.iter().any(|r| r.mode == DeviceMode::Tun) {
        let _ = writeln!(
            s,
            "tun rows: sizes are IP packet lengths (a TUN carries no Ethernet header); \
             fwd is routed by the kernel (tunA -> IPv4 forwarding -> tunB), not bridged."
        );
    }
    if !wide.is_empty() {
        let _ = writeln!(
            s,
            "warning: ratios spread wider than +-10% around their median: {}; \
             steady them with longer pairs (--rounds 8 --seconds 8) on an otherwise idle machine",
            wide.join(", ")
        );
    }
    s
}

/// The line naming the machine a run was measured on.
pub fn header(env: &Environment) -> String {
    format!(
        "tapring bench: kernel {}, {} x {}, private network namespace{}, Backend::Auto picks {} ({} Rx)\n",
        env.machine.kernel,
        env.machine.cpus,
        env.machine.cpu,
        if env.bridge_netfilter_off {
            ", bridge netfilter off"
        } else {
            ""
        },
        env.machine.auto_backend,
        env.machine.auto_rx_mode,
    )
}

/// The JSON document's schema (README's "JSON" section describes it).
pub const SCHEMA: &str = "tapring-bench/3";

/// Every record of one bench run, by test family.
pub struct AllRecords<'a> {
    /// The frame tests (tx, rx, drain, fwd, fwd2).
    pub frames: &'a [Record],
    /// The plain arm of fwd and fwd2.
    pub plain: &'a [PlainRecord],
    /// The TCP runs (tcp, and gro's TCP runs).
    pub tcp: &'a [TcpRecord],
    /// The overhead pairs.
    pub overhead: &'a [OverheadRecord],
    /// The gro test's segments-per-second runs.
    pub gro_frames: &'a [GroFrameRecord],
    /// The steal time around every run, in the order they ran.
    pub steal: &'a [RunSteal],
}

/// Writes `{schema, environment, records, summary, plain, tcp, overhead,
/// gro_frames, steal}` as JSON.
pub fn write_json(
    path: &Path,
    all: &AllRecords<'_>,
    env: &Environment,
) -> Result<(), HarnessError> {
    #[derive(Serialize)]
    struct Doc<'a> {
        schema: &'static str,
        environment: &'a Environment,
        records: &'a [Record],
        summary: Vec<Summary>,
        plain: &'a [PlainRecord],
        tcp: &'a [TcpRecord],
        overhead: &'a [OverheadRecord],
        gro_frames: &'a [GroFrameRecord],
        steal: &'a [RunSteal],
    }
    let doc = Doc {
        schema: SCHEMA,
        environment: env,
        records: all.frames,
        summary: summarize(all.frames),
        plain: all.plain,
        tcp: all.tcp,
        overhead: all.overhead,
        gro_frames: all.gro_frames,
        steal: all.steal,
    };
    output::write_json(path, &doc)
}

/// Draws median packets/s per test and size, one bar per backend.
pub fn write_plot(path: &Path, records: &[Record]) -> Result<(), HarnessError> {
    use plotters::prelude::*;
    // One bar per backend: the runs with the plan's queues (the one-queue
    // runs beside them are in the table's scaling lines).
    let queues = records.iter().map(|r| r.queues).max().unwrap_or(1);
    let sums: Vec<Summary> = summarize(records)
        .into_iter()
        .filter(|s| s.queues == queues)
        .collect();
    let mut cats: Vec<(TestKind, usize)> = sums.iter().map(|s| (s.test, s.size)).collect();
    cats.dedup();
    let mut backends: Vec<Backend> = sums.iter().map(|s| s.backend).collect();
    backends.sort();
    backends.dedup();
    let max = sums.iter().map(|s| s.pps / 1e6).fold(0.1, f64::max) * 1.2;
    let err = |e: &dyn std::fmt::Display| {
        HarnessError::Usage(format!("cannot draw {}: {e}", path.display()))
    };
    let root = SVGBackend::new(path, (200 + 160 * cats.len() as u32, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "tapring bench: packets/s (median), higher is better",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..cats.len() as f64, 0f64..max)
        .map_err(|e| err(&e))?;
    let labels = cats.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cats.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            match labels.get(i) {
                Some((t, s)) if (x - x.floor() - 0.5).abs() < 0.01 => format!("{} {s} B", t.name()),
                _ => String::new(),
            }
        })
        .y_desc("Mpps")
        .draw()
        .map_err(|e| err(&e))?;
    let palette = [
        RGBColor(0x99, 0x99, 0x99),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xff, 0x7f, 0x0e),
    ];
    let w = 0.8 / backends.len() as f64;
    for (bi, b) in backends.iter().enumerate() {
        let color = palette[bi % palette.len()];
        let bars: Vec<Rectangle<(f64, f64)>> = cats
            .iter()
            .enumerate()
            .filter_map(|(ci, c)| {
                let v = sums
                    .iter()
                    .find(|s| (s.test, s.size) == *c && s.backend == *b)?
                    .pps
                    / 1e6;
                let x0 = ci as f64 + 0.1 + bi as f64 * w;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + w * 0.95, v)],
                    color.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| err(&e))?
            .label(b.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
