//! `tapring fwd`: forwards every frame between two TAP interfaces, or every
//! IP packet between two TUN interfaces (`--mode tun`), or reflects it on
//! one, in the caller's network namespace, printing rates every second and
//! totals at the end.

use crate::error::HarnessError;
use crate::lab::forwarder_setup::{self, PortSpec, open_forwarding_port};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tapring::Backend;
use tapring::RxMode;
use tapring::device::{Attach, DeviceMode, MAX_QUEUES};
use tapring::{DirTotals, Forwarder, Port};

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
the end. Needs CAP_NET_ADMIN to create devices; the owner (or group) of \
a persistent device that is up attaches to it without (--attach).

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
    Ok(())
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
    let pool = forwarder_setup::pool_for(args.ports.len(), queues, args.offload)?;
    let mut ports = Vec::with_capacity(2);
    for (i, name) in args.ports.iter().enumerate() {
        let spec = PortSpec {
            kind: args.backend,
            queues,
            rx_mode: args.rx_mode,
            offload: args.offload,
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
    let imissed0: Vec<Option<u64>> = ports
        .iter()
        .map(|p| p.stats().ok().map(|s| s.imissed))
        .collect();
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
    println!(
        "tapring fwd: {what}, backend {}{fallback}, {queues} queue(s), offloads {}, {until}",
        ran.name(),
        if args.offload { "on" } else { "off" }
    );
    let fwd = Forwarder::start(ports).map_err(|e| HarnessError::Backend(e.to_string()))?;
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
    let imissed: Vec<String> = fwd
        .ports()
        .iter()
        .enumerate()
        .map(|(i, p)| match (imissed0[i], p.stats().map(|s| s.imissed)) {
            (Some(a), Ok(b)) => b.saturating_sub(a).to_string(),
            (_, Err(e)) => format!("n/a ({e})"),
            (None, Ok(_)) => "n/a (not readable at start)".into(),
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
        if args.offload {
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
    let errors: Vec<String> = report
        .errors()
        .map(|e| match e {
            tapring::ForwardError::Queue { port, queue, error } => {
                format!("{} queue {queue}: {error}", port_names[(*port).min(1)])
            }
            e => e.to_string(),
        })
        .collect();
    if !errors.is_empty() {
        return Err(HarnessError::Backend(format!(
            "forwarding stopped: {}",
            errors.join("; ")
        )));
    }
    Ok(())
}
