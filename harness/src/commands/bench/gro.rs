//! `tapring bench --test gro`: the software offloads of the library's
//! `Forwarder` between ports that differ in offloads, measured two ways.
//!
//! * TCP from nsA to nsB (runs planned by [`TcpRun::gro_round`], measured
//!   by the tcp module, tabled by [`tcp_table`]): offloads on port B only
//!   with GRO on and off, on port A only (software GSO), on neither.
//! * Segments per second into a port that takes GSO frames ([`frames`]):
//!   a kernel-side source sends MTU-sized TCP segments of one flow into a
//!   port without a virtio-net header, and one thread reads them,
//!   coalesces them (GRO on) or not, and writes them to a port with one.
//!
//! [`TcpRun::gro_round`]: super::tcp::TcpRun::gro_round

use super::tcp::{Paired, TcpPath, TcpRecord, median, paired_by};
use super::workload::RunSpec;
use crate::error::HarnessError;
use crate::lab::cpu::thread_cpu;
use crate::lab::ports;
use crate::lab::sandbox::{self, Names};
use crate::lab::traffic::spawn_source;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tapring::device::{DeviceMode, KernelCounters, TapConfig, VnetHdrLen};
use tapring::gro::{Coalescer, GroLimits};
use tapring::{Backend, Burst, Framing, Pool, PoolConfig, RxQueue, TxQueue};

/// TCP payload bytes per segment of the frames test (an Ethernet MTU of
/// 1500 less 40 bytes of IPv4 and TCP headers... and 12 of timestamps
/// that these segments do not carry, so the kernel's usual 1448).
const MSS: usize = 1448;

/// Segments of one flow the source sends in turn (consecutive sequence
/// numbers; then it starts over, which starts a new super-frame).
const FLOW_SEGMENTS: usize = 64;

/// One run of the frames test, as written to JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GroFrameRecord {
    /// The backend of both ports.
    pub backend: Backend,
    /// TAP or TUN devices.
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    pub mode: DeviceMode,
    /// Segments coalesced before they were written.
    pub gro: bool,
    /// Round (pair) number.
    pub round: usize,
    /// TCP segments handed to the port with offloads (inside GSO frames or
    /// alone).
    pub segments: u64,
    /// Frames written to it (GSO frames count once).
    pub frames: u64,
    /// Segments the source sent (what the port without offloads queued or
    /// dropped).
    pub offered: u64,
    /// Seconds measured.
    pub secs: f64,
    /// CPU seconds of the forwarding thread.
    pub cpu_secs: f64,
    /// Segments per second.
    pub segments_per_s: f64,
}

/// Runs the frames test once with `spec`'s backend, Rx mode, rings and
/// duration, coalescing when `gro`.
pub fn frames(
    spec: &RunSpec,
    gro: bool,
    round: usize,
    names: &mut Names,
) -> Result<GroFrameRecord, HarnessError> {
    let pool = Pool::new(PoolConfig::standard(16_384))
        .map_err(|e| HarnessError::Backend(e.to_string()))?;
    let (a, b) = (names.next("trgfa"), names.next("trgfb"));
    // A: no virtio-net header, so its kernel hands over MTU-sized frames
    // with complete checksums. B: a header, so its kernel takes GSO frames.
    let mut cfg_b = TapConfig::named(&b).mode(spec.mode);
    cfg_b.vnet_hdr = VnetHdrLen::Mergeable;
    let cfg_a = TapConfig::named(&a).mode(spec.mode);
    let mut oa = ports::open(spec.backend, &cfg_a, &pool, spec.rx_mode, spec.uring, 0)?;
    let mut ob = ports::open(spec.backend, &cfg_b, &pool, spec.rx_mode, spec.uring, 1)?;
    for name in [&a, &b] {
        sandbox::ip(&["link", "set", "dev", name, "up"])?;
    }
    let framing = match spec.mode {
        DeviceMode::Tun => Framing::Ip,
        _ => Framing::Ethernet,
    };
    // A TUN carries the IP packet: no Ethernet header.
    let l2 = if framing == Framing::Ethernet { 0 } else { 14 };
    let flow: Vec<Vec<u8>> = (0..FLOW_SEGMENTS)
        .map(|i| {
            let payload: Vec<u8> = (0..MSS).map(|x| (x % 251) as u8).collect();
            tapring_testkit::tcp_segment((i * MSS) as u32, i as u16, &payload, false)[l2..].to_vec()
        })
        .collect();
    let (rx, tx) = (&mut oa.rx[0], &mut ob.tx[0]);
    let mut burst: Burst<256> = Burst::new();
    rx.rx_burst(&mut burst)?; // start
    burst.clear();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let src = spawn_source(oa.ifindex, flow, stop.clone(), sent.clone());
    std::thread::sleep(Duration::from_millis(20));
    let counters = |name: &str| KernelCounters::read(name).map_err(HarnessError::from);
    let (sent0, dropped0) = (sent.load(Ordering::Relaxed), counters(&a)?.tx_dropped);
    let mut coalescer: Coalescer = Coalescer::new();
    let limits = GroLimits::new(framing);
    let (mut segments, mut frames) = (0u64, 0u64);
    let mut per_packet = [0u64; 256];
    let (t0, c0) = (Instant::now(), thread_cpu());
    while t0.elapsed() < spec.duration {
        if rx.rx_burst(&mut burst)? == 0 {
            continue;
        }
        if gro {
            coalescer.coalesce(&mut burst, framing, &limits);
        }
        for (n, p) in per_packet.iter_mut().zip(burst.iter()) {
            *n = match p.offload().gso {
                Some(g) => {
                    ((p.pkt_len() - usize::from(g.hdr_len)).div_ceil(usize::from(g.size.max(1))))
                        as u64
                }
                None => 1,
            };
        }
        let n = tx.tx_burst(&mut burst)?;
        if n < burst.len() {
            tx.reclaim()?;
        }
        segments += per_packet[..n].iter().sum::<u64>();
        frames += n as u64;
        // What B would not take now is dropped: offered - segments says
        // how much.
        burst.clear();
    }
    let (secs, cpu_secs) = (t0.elapsed().as_secs_f64(), thread_cpu() - c0);
    let offered = sent.load(Ordering::Relaxed) - sent0 + counters(&a)?.tx_dropped - dropped0;
    stop.store(true, Ordering::Relaxed);
    src.join()
        .map_err(|_| HarnessError::Check("traffic source panicked".into()))??;
    rx.stop()?;
    tx.stop()?;
    if gro && frames == segments {
        return Err(HarnessError::Check(format!(
            "GRO on, but none of {segments} segments was coalesced"
        )));
    }
    Ok(GroFrameRecord {
        backend: spec.backend,
        mode: spec.mode,
        gro,
        round,
        segments,
        frames,
        offered,
        secs,
        cpu_secs,
        segments_per_s: segments as f64 / secs.max(1e-9),
    })
}

/// The frames table: segments per second into the port with offloads,
/// GRO on and off for each backend (medians), and GRO on / off paired by
/// round.
pub fn frames_table(records: &[GroFrameRecord]) -> String {
    let mode = records.first().map_or("tap", |r| r.mode.as_str());
    let mut out = format!(
        "MTU-sized TCP segments ({MSS} B payload, one flow) from a port without offloads into \
         one with them, one thread, {mode} devices\n{:<11} {:<4} {:>10} {:>10} {:>10}  {}\n",
        "gro frames", "GRO", "Mseg/s", "Mframe/s", "CPU s/Mseg", "GRO on / off (paired)"
    );
    let mut backends: Vec<Backend> = Vec::new();
    for r in records {
        if !backends.contains(&r.backend) {
            backends.push(r.backend);
        }
    }
    for backend in backends {
        for gro in [true, false] {
            let of = |f: fn(&GroFrameRecord) -> f64| {
                median(
                    records
                        .iter()
                        .filter(|r| r.backend == backend && r.gro == gro)
                        .map(f)
                        .collect(),
                )
            };
            let mseg = of(|r| r.segments_per_s / 1e6);
            let mframe = of(|r| r.frames as f64 / r.secs.max(1e-9) / 1e6);
            let cpu = of(|r| r.cpu_secs / (r.segments as f64 / 1e6).max(1e-9));
            let ratio = if gro {
                paired_frames(records, backend)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{:<11} {:<4} {mseg:>10.3} {mframe:>10.3} {cpu:>10.3}  {ratio}\n",
                backend.name(),
                on_off(gro)
            ));
        }
    }
    out
}

impl Paired for GroFrameRecord {
    fn round(&self) -> usize {
        self.round
    }
    fn value(&self) -> f64 {
        self.segments_per_s
    }
}

/// GRO on / off of `backend`'s segments per second, paired by round.
fn paired_frames(records: &[GroFrameRecord], backend: Backend) -> String {
    paired_by(
        records,
        |r| r.backend == backend && r.gro,
        |r| r.backend == backend && !r.gro,
    )
}

/// "on" or "off".
pub(super) fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// A row of the gro table: path, offloads on A and B, GRO.
type MixedRow = (TcpPath, [bool; 2], bool);

/// Paired ratios `a / b` of mixed runs over the rounds both have.
fn paired_mixed(records: &[TcpRecord], a: MixedRow, b: MixedRow) -> String {
    let is = |(p, sides, gro): MixedRow| {
        move |r: &TcpRecord| r.mixed && r.path == p && r.sides == sides && r.gro == gro
    };
    paired_by(records, is(a), is(b))
}

/// The gro table: TCP Gbit/s from nsA to nsB across a forwarder whose
/// ports differ in offloads (medians), with the two paired ratios the
/// software offloads are judged by: GRO on / off (offloads on B only) and
/// software GSO / no offloads (offloads on A only, against neither).
pub fn tcp_table(records: &[TcpRecord]) -> String {
    let records: Vec<TcpRecord> = records.iter().filter(|r| r.mixed).copied().collect();
    let load = records.first().map_or("-", |r| r.load.name());
    let mode = records.first().map_or("tap", |r| r.mode.as_str());
    let mut out = format!(
        "TCP across mixed offloads, load {load}, one stream from nsA (port A) to nsB (port B), \
         {mode} devices\n"
    );
    out.push_str(&format!(
        "{:<11} {:<4} {:<4} {:<4} {:>8}  {}\n",
        "gro", "A", "B", "GRO", "Gbit/s", "paired ratio (per round, median [min..max])"
    ));
    let mut seen: Vec<MixedRow> = Vec::new();
    for r in &records {
        if !seen.contains(&(r.path, r.sides, r.gro)) {
            seen.push((r.path, r.sides, r.gro));
        }
    }
    for &(path, sides, gro) in &seen {
        let gbps = median(
            records
                .iter()
                .filter(|r| r.path == path && r.sides == sides && r.gro == gro)
                .map(|r| r.gbps)
                .collect(),
        );
        let row = (path, sides, gro);
        let ratio = match (sides, gro) {
            ([false, true], true) => format!(
                "GRO on / off: {}",
                paired_mixed(&records, row, (path, sides, false))
            ),
            ([true, false], _) => format!(
                "software GSO / no offloads: {}",
                paired_mixed(&records, row, (path, [false, false], true))
            ),
            _ => String::new(),
        };
        let gro_col = if sides == [false, true] {
            on_off(gro)
        } else {
            "-"
        };
        out.push_str(&format!(
            "{:<11} {:<4} {:<4} {:<4} {gbps:>8.2}  {ratio}\n",
            path.name(),
            on_off(sides[0]),
            on_off(sides[1]),
            gro_col,
        ));
    }
    out
}
