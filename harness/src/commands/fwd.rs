//! `tapring fwd`: forwards every frame between two TAP interfaces, or every
//! IP packet between two TUN interfaces (`--mode tun`), or reflects it on
//! one, in the caller's network namespace, printing rates every second and
//! totals at the end.

use crate::error::HarnessError;
use crate::lab::forwarder_setup::{self, PortSpec, open_forwarding_port};
use crate::lab::output::{self, Machine};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tapring::Backend;
use tapring::RxMode;
use tapring::device::{Attach, DeviceMode, MAX_QUEUES};
use tapring::{AnyPort, DirTotals, ForwardReport, Forwarder, Port, PortStats, QueueStats};

/// Arguments of `tapring fwd`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Each --port is created as a TAP interface with exactly that name and \
brought up; a name that exists already is refused unless --attach is \
given (to use a persistent device, say), and a multi-queue device that \
another program has queues on is refused unless --share is given too \
(and then only with the device's own settings: a differing vnet header, \
offloads or MTU is named and refused, never changed). With two ports \
every frame received on one is sent out of the other, in both directions; \
with one port every frame is sent back with its MAC addresses swapped. \
With --mode tun the ports are TUN interfaces instead: they carry IP \
packets with no Ethernet header, are point-to-point (no ARP, no MAC: \
address each end with a prefix, e.g. 198.18.1.1/24, and the peer is \
reached through it), and one port reflects every packet with its source \
and destination IP addresses swapped. Both ports have the same mode. \
The interfaces may be moved into other network namespaces (ip link set \
dev NAME netns NS) after start: forwarding goes on. Rates are printed \
every second, totals (packets, bytes, drops by reason, kernel imissed) at \
the end; the kernel's counters are read wherever the interfaces went \
(that needs CAP_NET_ADMIN and CAP_SYS_ADMIN over their namespaces, else \
the line says why not). --json FILE writes the same totals as JSON \
(schema tapring-fwd/1, see README). Needs CAP_NET_ADMIN to create \
devices; the owner (or group) of a persistent device that is up attaches \
to it without (--attach).

Examples: tapring fwd --port tA --port tB --backend uring --queues 2 --seconds 30
          tapring fwd --mode tun --port tunA --port tunB --offload")]
pub struct FwdArgs {
    /// A TAP interface to forward between; give it twice for two ports,
    /// once to reflect frames back.
    #[arg(long = "port", value_name = "NAME", required = true)]
    pub ports: Vec<String>,
    /// The data path: auto (io_uring where the kernel allows, else
    /// read-write), uring (io_uring) or rw (read-write).
    #[arg(long, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Queues per port (multi-queue TAP); one forwarding thread per queue
    /// and direction.
    #[arg(long, default_value_t = 1)]
    pub queues: u16,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Rx mode of the io_uring backend: auto, nowait, posted or multishot.
    #[arg(long, default_value_t = RxMode::Auto)]
    pub rx_mode: RxMode,
    /// Negotiate checksum and segmentation offloads (TSO4/6, USO where the
    /// kernel has it) and forward 64 KiB GSO frames and checksum state as
    /// they come: what one port's kernel leaves to do, the other's does.
    #[arg(long)]
    pub offload: bool,
    /// Offloads on this port only (give it once or twice; not with
    /// --offload). Between a port with offloads and one without, the
    /// forwarder segments GSO frames and finishes checksums in software
    /// one way and coalesces TCP segments into GSO frames (GRO) the other.
    #[arg(long = "offload-port", value_name = "NAME", conflicts_with = "offload")]
    pub offload_ports: Vec<String>,
    /// Do not coalesce TCP segments (software GRO) from a port without
    /// offloads for a port with them.
    #[arg(long)]
    pub no_gro: bool,
    /// The device type: tap (Ethernet frames) or tun (IP packets, no
    /// Ethernet header, point-to-point).
    #[arg(long, default_value_t = DeviceMode::Tap)]
    pub mode: DeviceMode,
    /// Attach to a device of that name if it exists (a persistent one)
    /// instead of refusing it.
    #[arg(long)]
    pub attach: bool,
    /// With --attach: also attach to a multi-queue device another program
    /// has queues on (its traffic is then shared), with its settings.
    #[arg(long, requires = "attach")]
    pub share: bool,
    /// Write the totals as JSON to this file when forwarding ends (schema
    /// in README), also when a queue failed.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn validate(args: &FwdArgs) -> Result<(), HarnessError> {
    match args.ports.as_slice() {
        [_] => {}
        [a, b] if a == b => {
            return Err(HarnessError::Usage(format!(
                "--port {a} is given twice: give two different names, or one to reflect"
            )));
        }
        [_, _] => {}
        _ => {
            return Err(HarnessError::Usage(
                "give --port once (reflect) or twice (forward)".into(),
            ));
        }
    }
    if let Some(p) = args.ports.iter().find(|p| p.contains('%')) {
        return Err(HarnessError::Usage(format!(
            "--port {p}: give an exact interface name, not a template"
        )));
    }
    if args.queues == 0 || usize::from(args.queues) > MAX_QUEUES {
        return Err(HarnessError::Usage(format!(
            "--queues {} must be 1..={MAX_QUEUES}",
            args.queues
        )));
    }
    if let Some(s) = args.seconds
        && !(s > 0.0 && s <= 1e7)
    {
        return Err(HarnessError::Usage(format!(
            "--seconds {s} must be a positive number"
        )));
    }
    if let Some(p) = args.offload_ports.iter().find(|p| !args.ports.contains(p)) {
        return Err(HarnessError::Usage(format!(
            "--offload-port {p} is not one of the --port names ({})",
            args.ports.join(", ")
        )));
    }
    if let Some(p) = &args.json {
        output::check_output("json", p)?;
    }
    Ok(())
}

impl FwdArgs {
    /// Offloads negotiated on port `name`: every port with --offload, the
    /// named ones with --offload-port.
    fn offload_on(&self, name: &str) -> bool {
        self.offload || self.offload_ports.iter().any(|p| p == name)
    }
}

/// The JSON document's schema (README's "JSON" section describes it).
const SCHEMA: &str = "tapring-fwd/1";

/// `tapring fwd --json`: what ran and the totals it printed.
#[derive(Serialize)]
struct FwdDoc {
    schema: &'static str,
    environment: Machine,
    /// tap or tun.
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    mode: DeviceMode,
    /// One port: every frame was sent back out of it.
    reflect: bool,
    seconds: f64,
    ports: Vec<PortDoc>,
    directions: Vec<DirDoc>,
    lanes: Vec<LaneDoc>,
    /// Every lane's error, as printed (empty: forwarding ended cleanly).
    errors: Vec<String>,
}

/// One port: its settings as opened and its counters.
#[derive(Serialize)]
struct PortDoc {
    name: String,
    /// The backend that drove it (never auto).
    backend: Backend,
    /// Why io_uring was not used, when auto fell back.
    fallback_reason: Option<String>,
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    mode: DeviceMode,
    queues: usize,
    /// The TUN_F_* offloads negotiated, e.g. "CSUM|TSO4", or "NONE".
    offloads: String,
    vnet_hdr_len: usize,
    /// Its Rx queues' counters summed over lanes, by name (packets,
    /// bytes, drop_* by reason, rx_nombuf, size bins...).
    rx: BTreeMap<&'static str, u64>,
    /// Its Tx queues' counters.
    tx: BTreeMap<&'static str, u64>,
    /// The interface's kernel counters over the run, from the port's side;
    /// null when they could not be read (then `kernel_unavailable`).
    kernel: Option<KernelDoc>,
    /// Why the kernel counters are missing.
    kernel_unavailable: Option<String>,
}

/// What the kernel counted on a port's interface during the run.
#[derive(Serialize)]
struct KernelDoc {
    /// Frames the kernel took from the port's Tx queues.
    tx_packets: u64,
    tx_bytes: u64,
    /// Frames written that the kernel dropped.
    tx_dropped: u64,
    /// Frames the port's Rx queues read.
    rx_packets: u64,
    rx_bytes: u64,
    /// Frames the kernel dropped because the Rx queues did not keep up.
    imissed: u64,
}

/// One direction's totals.
#[derive(Serialize)]
struct DirDoc {
    from: String,
    to: String,
    packets: u64,
    bytes: u64,
    /// Dropped: the destination's Tx queue stayed full.
    tx_full: u64,
    /// Dropped: the destination's Tx queue failed.
    tx_failed: u64,
    /// Software offloads on the way: frames coalesced into others (GRO),
    /// GSO frames segmented and the segments made, checksums finished,
    /// frames dropped because that could not be done.
    coalesced: u64,
    segmented: u64,
    segments: u64,
    checksums: u64,
    offload_dropped: u64,
    mbit_s: f64,
}

/// One lane (queue index): its queues' counters by port, and its errors.
#[derive(Serialize)]
struct LaneDoc {
    queue: u16,
    /// By port, as `ports`.
    rx: Vec<BTreeMap<&'static str, u64>>,
    tx: Vec<BTreeMap<&'static str, u64>>,
    errors: Vec<String>,
}

fn named(s: &QueueStats) -> BTreeMap<&'static str, u64> {
    s.named().into_iter().collect()
}

/// The kernel counters over the run: the difference of two readings, or
/// why there is none (the same words the totals print).
fn kernel_delta(
    start: &Result<PortStats, String>,
    end: &Result<PortStats, String>,
) -> Result<KernelDoc, String> {
    match (start, end) {
        (Ok(a), Ok(b)) => Ok(KernelDoc {
            tx_packets: b.tx_packets.saturating_sub(a.tx_packets),
            tx_bytes: b.tx_bytes.saturating_sub(a.tx_bytes),
            tx_dropped: b.tx_dropped.saturating_sub(a.tx_dropped),
            rx_packets: b.rx_packets.saturating_sub(a.rx_packets),
            rx_bytes: b.rx_bytes.saturating_sub(a.rx_bytes),
            imissed: b.imissed.saturating_sub(a.imissed),
        }),
        (_, Err(e)) => Err(e.clone()),
        (Err(e), Ok(_)) => Err(format!("not readable at start: {e}")),
    }
}

/// What a port was opened with, for the JSON.
struct PortFacts {
    name: String,
    backend: Backend,
    fallback_reason: Option<String>,
    offloads: String,
    vnet_hdr_len: usize,
}

impl PortFacts {
    fn of(p: &AnyPort) -> PortFacts {
        PortFacts {
            name: p.name().to_string(),
            backend: p.backend(),
            fallback_reason: p.fallback_reason().map(str::to_string),
            offloads: p.device().offloads().to_string(),
            vnet_hdr_len: p.device().vnet_hdr_len(),
        }
    }
}

/// Everything the JSON is made of, gathered as the totals are printed.
struct Ran<'a> {
    args: &'a FwdArgs,
    facts: Vec<PortFacts>,
    names: &'a [String; 2],
    secs: f64,
    report: &'a ForwardReport,
    kernel: Vec<Result<KernelDoc, String>>,
    errors: Vec<String>,
    lane_errors: Vec<Vec<String>>,
}

fn write_report(path: &Path, ran: Ran<'_>) -> Result<(), HarnessError> {
    let n = ran.facts.len();
    let report = ran.report;
    let ports = ran
        .facts
        .into_iter()
        .zip(ran.kernel)
        .enumerate()
        .map(|(i, (f, kernel))| {
            let (kernel, kernel_unavailable) = match kernel {
                Ok(k) => (Some(k), None),
                Err(e) => (None, Some(e)),
            };
            PortDoc {
                name: f.name,
                backend: f.backend,
                fallback_reason: f.fallback_reason,
                mode: ran.args.mode,
                queues: usize::from(ran.args.queues),
                offloads: f.offloads,
                vnet_hdr_len: f.vnet_hdr_len,
                rx: named(&report.queue_stats(i, true)),
                tx: named(&report.queue_stats(i, false)),
                kernel,
                kernel_unavailable,
            }
        })
        .collect();
    let directions = (0..n)
        .map(|d| {
            let t = &report.dirs[d];
            DirDoc {
                from: ran.names[d].clone(),
                to: ran.names[(d + 1) % 2].clone(),
                packets: t.packets,
                bytes: t.bytes,
                tx_full: t.tx_full,
                tx_failed: t.tx_failed,
                coalesced: t.coalesced,
                segmented: t.segmented,
                segments: t.segments,
                checksums: t.checksums,
                offload_dropped: t.offload_dropped,
                mbit_s: mbit(t.bytes, ran.secs),
            }
        })
        .collect();
    let lanes = report
        .lanes
        .iter()
        .zip(ran.lane_errors)
        .map(|(l, errors)| LaneDoc {
            queue: l.queue,
            rx: l.rx.iter().map(named).collect(),
            tx: l.tx.iter().map(named).collect(),
            errors,
        })
        .collect();
    let doc = FwdDoc {
        schema: SCHEMA,
        environment: Machine::read(),
        mode: ran.args.mode,
        reflect: n == 1,
        seconds: ran.secs,
        ports,
        directions,
        lanes,
        errors: ran.errors,
    };
    output::write_json(path, &doc)
}

fn mbit(bytes: u64, secs: f64) -> f64 {
    bytes as f64 * 8.0 / 1e6 / secs.max(1e-9)
}

fn rate_line(
    t: f64,
    names: &[String; 2],
    now: &[DirTotals],
    prev: &[DirTotals],
    dt: f64,
) -> String {
    let mut line = format!("{t:7.1} s");
    for d in 0..now.len().min(prev.len()) {
        let (from, to) = if d == 0 {
            (&names[0], &names[1])
        } else {
            (&names[1], &names[0])
        };
        let p = now[d].packets - prev[d].packets;
        let b = now[d].bytes - prev[d].bytes;
        line.push_str(&format!(
            "  {from}->{to} {:>10.0} pkt/s {:>9.2} Mbit/s",
            p as f64 / dt.max(1e-9),
            mbit(b, dt)
        ));
    }
    line
}

/// Runs the forwarder until Ctrl-C, `--seconds`, or an error.
pub fn run(args: &FwdArgs) -> Result<(), HarnessError> {
    validate(args)?;
    let queues = usize::from(args.queues);
    let large_buffers = args.ports.iter().any(|p| args.offload_on(p));
    let pool = forwarder_setup::pool_for(args.ports.len(), queues, large_buffers)?;
    let mut ports = Vec::with_capacity(2);
    for (i, name) in args.ports.iter().enumerate() {
        let spec = PortSpec {
            kind: args.backend,
            queues,
            rx_mode: args.rx_mode,
            offload: args.offload_on(name),
            large_buffers,
            port_id: i as u16,
            mode: args.mode,
            attach: if args.attach {
                Attach::IfExists
            } else {
                Attach::Never
            },
            share: args.share,
        };
        ports.push(open_forwarding_port(name, &spec, &pool)?);
    }
    let names: [String; 2] = [
        ports[0].name().to_string(),
        ports
            .last()
            .map(|p| p.name().to_string())
            .unwrap_or_default(),
    ];
    let stats0: Vec<Result<PortStats, String>> = ports
        .iter()
        .map(|p| p.stats().map_err(|e| e.to_string()))
        .collect();
    let facts: Vec<PortFacts> = ports.iter().map(PortFacts::of).collect();
    let n = ports.len();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed)) {
            tracing::warn!("no Ctrl-C handler: {e}");
        }
    }
    let what = match (ports.len(), args.mode) {
        (2, mode) => format!("{} <-> {} ({mode})", names[0], names[1]),
        (_, DeviceMode::Tun) => format!("{} (tun, reflect, IP address swap)", names[0]),
        _ => format!("{} (tap, reflect, MAC swap)", names[0]),
    };
    let until = match args.seconds {
        Some(s) => format!("for {s} s"),
        None => "until Ctrl-C".into(),
    };
    let ran = ports[0].backend();
    let fallback = ports[0]
        .fallback_reason()
        .map(|why| format!(" (io_uring unusable: {why})"))
        .unwrap_or_default();
    let offloads = match args.ports.iter().filter(|p| args.offload_on(p)).count() {
        0 => "off".to_string(),
        k if k == args.ports.len() => "on".to_string(),
        _ => {
            // Two ports, offloads on one: GSO from it, GRO into it.
            let on = &args.offload_ports[0];
            let off = args.ports.iter().find(|p| *p != on).unwrap_or(on);
            let gro = if args.no_gro {
                "no GRO".to_string()
            } else {
                format!("software GRO {off} -> {on}")
            };
            format!("on {on} only (software GSO {on} -> {off}, {gro})")
        }
    };
    println!(
        "tapring fwd: {what}, backend {}{fallback}, {queues} queue(s), offloads {offloads}, {until}",
        ran.name(),
    );
    let config = tapring::ForwarderConfig::default().gro(!args.no_gro);
    let fwd =
        Forwarder::start_with(ports, config).map_err(|e| HarnessError::Backend(e.to_string()))?;
    let t0 = Instant::now();
    let deadline = args.seconds.map(Duration::from_secs_f64);
    let mut prev = fwd.totals();
    let mut last = t0;
    while !stop.load(Ordering::Relaxed) && !fwd.any_lane_ended() {
        if deadline.is_some_and(|d| t0.elapsed() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() >= Duration::from_secs(1) {
            let now = fwd.totals();
            let dt = last.elapsed().as_secs_f64();
            println!(
                "{}",
                rate_line(t0.elapsed().as_secs_f64(), &names, &now, &prev, dt)
            );
            prev = now;
            last = Instant::now();
        }
    }
    // Read while the ports are open: the interfaces may be anywhere now.
    let kernel: Vec<Result<KernelDoc, String>> = fwd
        .ports()
        .iter()
        .zip(&stats0)
        .map(|(p, start)| kernel_delta(start, &p.stats().map_err(|e| e.to_string())))
        .collect();
    let imissed: Vec<String> = kernel
        .iter()
        .map(|k| match k {
            Ok(k) => k.imissed.to_string(),
            Err(e) => format!("n/a ({e})"),
        })
        .collect();
    let report = fwd.stop();
    let secs = t0.elapsed().as_secs_f64();
    println!("totals after {secs:.1} s:");
    for d in 0..n {
        let (from, to) = if d == 0 {
            (&names[0], &names[1])
        } else {
            (&names[1], &names[0])
        };
        let t = &report.dirs[d];
        println!(
            "  {from} -> {to}: {} packets, {} bytes ({:.2} Mbit/s avg), {} dropped (Tx ring full)",
            t.packets,
            t.bytes,
            mbit(t.bytes, secs),
            t.tx_full
        );
        if t.coalesced + t.segmented + t.checksums + t.offload_dropped > 0 {
            println!(
                "  {from} -> {to}: software offloads: {} frames coalesced (GRO), {} GSO frames \
                 segmented into {}, {} checksums finished, {} dropped",
                t.coalesced, t.segmented, t.segments, t.checksums, t.offload_dropped
            );
        }
    }
    let port_names = [&names[0], &names[1]];
    for (i, missed) in imissed.iter().enumerate() {
        let rx = report.queue_stats(i, true);
        println!(
            "  {}: rx drops: {}; tx drops: {}; kernel imissed: {missed}",
            port_names[i],
            forwarder_setup::drop_summary(&rx),
            forwarder_setup::drop_summary(&report.queue_stats(i, false)),
        );
        if args.offload_on(port_names[i]) {
            println!(
                "  {}: received {} GSO frames, {} with a partial checksum",
                port_names[i], rx.xstats.gso, rx.xstats.csum_partial
            );
        }
    }
    if report.lanes.len() > 1 {
        for l in &report.lanes {
            let got: Vec<String> = (0..n)
                .map(|i| format!("{} rx {}", port_names[i], l.rx[i].packets))
                .collect();
            println!("  queue {}: {}", l.queue, got.join(", "));
        }
    }
    // Name the device of a failed queue (the library knows ports by index).
    let describe = |e: &tapring::ForwardError| match e {
        tapring::ForwardError::Queue { port, queue, error } => {
            format!("{} queue {queue}: {error}", port_names[(*port).min(1)])
        }
        e => e.to_string(),
    };
    let errors: Vec<String> = report.errors().map(describe).collect();
    if let Some(path) = &args.json {
        // A failed lane's counters are in the report as it left them.
        let lane_errors = report
            .lanes
            .iter()
            .map(|l| l.errors.iter().map(describe).collect())
            .collect();
        let ran = Ran {
            args,
            facts,
            names: &names,
            secs,
            report: &report,
            kernel,
            errors: errors.clone(),
            lane_errors,
        };
        write_report(path, ran)?;
        println!("totals written to {}", path.display());
    }
    if !errors.is_empty() {
        return Err(HarnessError::Backend(format!(
            "forwarding stopped: {}",
            errors.join("; ")
        )));
    }
    Ok(())
}
