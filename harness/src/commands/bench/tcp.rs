//! `tapring bench --test tcp`: TCP throughput from nsA to nsB across a
//! tapring forwarder, with offloads off and on, for each backend, beside
//! the kernel's own ceiling (the namespaces joined by a veth pair), all in
//! alternation within each round so the ratios are paired. The
//! forwarders' ports are TAP or TUN devices (`--mode`); veth is the
//! kernel's baseline either way.

use super::gro::on_off;
use crate::error::HarnessError;
use crate::lab::namespaces;
use crate::lab::ports;
use crate::lab::sandbox::Names;
use crate::lab::tcp_load::{self, Amount, TcpLoad, Transfer};
use crate::lab::tokio_forwarder::Flavor;
use crate::lab::topology::{PlainTopology, TokioTopology, Topology, TopologySpec};
use serde::Serialize;
use std::time::Duration;
use tapring::device::DeviceMode;
use tapring::{Backend, RxMode};

/// Shortest TCP run (TCP needs a moment to open its window).
const MIN_RUN: Duration = Duration::from_millis(500);

/// What carried the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TcpPath {
    /// A veth pair: the kernel's own path between two namespaces.
    #[serde(rename = "veth")]
    Veth,
    /// A tapring forwarder over the read/write backend.
    #[serde(rename = "read-write")]
    ReadWrite,
    /// A tapring forwarder over the io_uring backend.
    #[serde(rename = "io_uring")]
    IoUring,
    /// The plain forwarder: two threads in read()/write(), no library.
    #[serde(rename = "plain")]
    Plain,
    /// The tokio forwarder on a current-thread runtime.
    #[serde(rename = "tokio-current-thread")]
    TokioCurrentThread,
    /// The tokio forwarder on a multi-thread runtime.
    #[serde(rename = "tokio-multi-thread")]
    TokioMultiThread,
}

impl TcpPath {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            TcpPath::Veth => "veth",
            TcpPath::ReadWrite => "read-write",
            TcpPath::IoUring => "io_uring",
            TcpPath::Plain => "plain",
            TcpPath::TokioCurrentThread => "tokio-ct",
            TcpPath::TokioMultiThread => "tokio-mt",
        }
    }
}

/// One measured TCP run, as written to JSON.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TcpRecord {
    /// What carried the traffic.
    pub path: TcpPath,
    /// The forwarders' device type, tap or tun (veth: the mode of the
    /// rounds it is the baseline of; it has no TAP or TUN device).
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    pub mode: DeviceMode,
    /// Offloads negotiated on the forwarder's ports (veth: always on; a
    /// mixed run: on either port).
    pub offload: bool,
    /// A run of the gro test: offloads negotiated on port A (nsA, the
    /// sender's) and port B as `sides` says, software GRO as `gro`.
    pub mixed: bool,
    /// Offloads on port A and on port B.
    pub sides: [bool; 2],
    /// Software GRO allowed in the forwarder (it runs only from a port
    /// without offloads to one with them).
    pub gro: bool,
    /// The backend that drove a tapring forwarder (threaded or tokio);
    /// `None` for veth and the plain forwarder.
    pub backend: Option<Backend>,
    /// The io_uring Rx mode the threaded forwarder's ports ran in; `None`
    /// for read-write, veth, the plain forwarder and tokio.
    pub rx_mode: Option<&'static str>,
    /// Queue pairs per port the forwarder ran (the threaded one: a lane
    /// each; tokio: two tasks each); 1 for veth and the plain forwarder.
    pub queues: u16,
    /// Parallel TCP streams (the plan's `--queues`, so flows spread).
    pub streams: usize,
    /// Round (pair) number.
    pub round: usize,
    /// Payload Gbit/s.
    pub gbps: f64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Seconds from first byte sent to last byte read.
    pub secs: f64,
    /// The load generator.
    pub load: TcpLoad,
}

/// What drove a tapring forwarder's run.
struct Ran {
    backend: Backend,
    /// The io_uring Rx mode of its ports, named (`None`: read-write).
    rx_mode: Option<&'static str>,
}

/// One TCP run of the plan: what carries the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpRun {
    /// nsA and nsB joined by a veth pair.
    Veth,
    /// A tapring forwarder between them.
    Forwarder {
        /// Its backend.
        backend: Backend,
        /// Offloads negotiated on its ports.
        offload: bool,
        /// Queue pairs per port (one lane each).
        queues: u16,
    },
    /// The plain read()/write() forwarder between them.
    Plain {
        /// Offloads negotiated on its devices.
        offload: bool,
    },
    /// A tapring forwarder between a port A (nsA, the sender's) and a port
    /// B whose offloads may differ (the gro test).
    Mixed {
        /// Its backend.
        backend: Backend,
        /// Offloads negotiated on port A and on port B.
        sides: [bool; 2],
        /// Software GRO allowed.
        gro: bool,
    },
    /// The tokio forwarder (one task per direction) between them, over
    /// io_uring when the plan has it (else its first backend).
    Tokio {
        /// Its runtime.
        flavor: Flavor,
        /// The backend asked for.
        backend: Backend,
        /// Offloads negotiated on its ports.
        offload: bool,
        /// Queue pairs per port (a task per direction each).
        queues: u16,
    },
}

impl TcpRun {
    /// The runs of one round: veth, then the plain forwarder and each
    /// backend, each without and with offloads (the tapring forwarder with
    /// each of `queue_counts`), then the tokio forwarder on both runtimes
    /// (over io_uring if planned) with offloads on, also with each of
    /// `queue_counts`. The plain forwarder runs one queue per direction.
    pub fn round(backends: &[Backend], queue_counts: &[u16]) -> Vec<TcpRun> {
        let mut runs = vec![TcpRun::Veth];
        for offload in [false, true] {
            runs.push(TcpRun::Plain { offload });
        }
        for &backend in backends {
            for offload in [false, true] {
                for &queues in queue_counts {
                    runs.push(TcpRun::Forwarder {
                        backend,
                        offload,
                        queues,
                    });
                }
            }
        }
        // The headline backend where it is in the plan.
        let tokio_backend = backends
            .iter()
            .find(|&&b| b == Backend::IoUring)
            .or(backends.first());
        if let Some(&backend) = tokio_backend {
            for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
                for &queues in queue_counts {
                    runs.push(TcpRun::Tokio {
                        flavor,
                        backend,
                        offload: true,
                        queues,
                    });
                }
            }
        }
        runs
    }

    /// The runs of one round of the gro test, for each backend: offloads
    /// on B only with GRO on and off (MTU-sized segments from A coalesced,
    /// or not, for B), on A only (A's GSO frames segmented in software for
    /// B), and on neither (the baseline software GSO must beat).
    pub fn gro_round(backends: &[Backend]) -> Vec<TcpRun> {
        let mut runs = Vec::new();
        for &backend in backends {
            for (sides, gro) in [
                ([false, true], true),
                ([false, true], false),
                ([true, false], true),
                ([false, false], true),
            ] {
                runs.push(TcpRun::Mixed {
                    backend,
                    sides,
                    gro,
                });
            }
        }
        runs
    }

    /// Queue pairs per port this run uses (1 for veth and plain).
    pub fn queues(self) -> u16 {
        match self {
            TcpRun::Forwarder { queues, .. } | TcpRun::Tokio { queues, .. } => queues,
            TcpRun::Veth | TcpRun::Plain { .. } | TcpRun::Mixed { .. } => 1,
        }
    }

    /// A progress label.
    pub fn label(self) -> String {
        match self {
            TcpRun::Veth => "tcp veth".into(),
            TcpRun::Forwarder {
                backend,
                offload,
                queues,
            } => format!(
                "tcp {} {queues}q offloads {}",
                backend.name(),
                if offload { "on" } else { "off" }
            ),
            TcpRun::Plain { offload } => {
                format!("tcp plain offloads {}", if offload { "on" } else { "off" })
            }
            TcpRun::Mixed {
                backend,
                sides,
                gro,
            } => format!(
                "gro {} offloads A {} B {}, GRO {}",
                backend.name(),
                on_off(sides[0]),
                on_off(sides[1]),
                on_off(gro)
            ),
            TcpRun::Tokio {
                flavor,
                backend,
                offload,
                queues,
            } => format!(
                "tcp tokio {} {} {queues}q offloads {}",
                flavor.name(),
                backend.name(),
                if offload { "on" } else { "off" }
            ),
        }
    }
}

/// How one TCP run is measured.
#[derive(Clone, Copy, Debug)]
pub struct TcpSetup {
    /// Time per run (at least 0.5 s; iperf3: whole seconds, at least 1).
    pub per: Duration,
    /// The load generator (resolved).
    pub load: TcpLoad,
    /// The forwarders' devices.
    pub mode: DeviceMode,
    /// Parallel TCP streams (every run of the plan the same).
    pub streams: usize,
    /// The Rx mode of the tapring forwarder's io_uring ports.
    pub rx_mode: RxMode,
}

/// Measures `run` as `setup` says; the record names the path that
/// actually carried the traffic.
pub fn measure(
    run: TcpRun,
    round: usize,
    setup: TcpSetup,
    names: &mut Names,
) -> Result<TcpRecord, HarnessError> {
    let TcpSetup {
        per,
        load,
        mode,
        streams,
        rx_mode,
    } = setup;
    let per = per.max(MIN_RUN);
    let queues = run.queues();
    let make_record = |path, offload, backend, t: Transfer| TcpRecord {
        path,
        mode,
        offload,
        mixed: false,
        sides: [offload; 2],
        gro: true,
        backend,
        rx_mode: None,
        queues,
        streams,
        round,
        gbps: t.gbps(),
        bytes: t.bytes,
        secs: t.secs,
        load,
    };
    let transfer = || match load {
        TcpLoad::Iperf3 => tcp_load::iperf3_transfer(per, streams),
        _ => tcp_load::transfer_streams(Amount::For(per), streams),
    };
    // A tapring forwarder's run: the transfer, then the teardown first, so
    // a failed run leaves nothing behind; the teardown's own complaints
    // (lost buffers, lane errors) fail the bench too.
    let across = |topo: Topology| -> Result<(TcpPath, Ran, Transfer), HarnessError> {
        let ran = Ran {
            backend: topo.backend(),
            rx_mode: topo.rx_mode().map(ports::rx_mode_name),
        };
        let path = match ran.backend {
            Backend::ReadWrite => TcpPath::ReadWrite,
            _ => TcpPath::IoUring,
        };
        let t = transfer();
        let down = topo.teardown();
        let t = t?;
        down?;
        Ok((path, ran, t))
    };
    match run {
        TcpRun::Veth => {
            namespaces::veth_pair()?;
            let t = transfer();
            namespaces::remove();
            Ok(make_record(TcpPath::Veth, true, None, t?))
        }
        TcpRun::Forwarder {
            backend,
            offload,
            queues,
        } => {
            let spec = TopologySpec {
                rx_mode,
                ..TopologySpec::new(backend, usize::from(queues), offload, mode)
            };
            let topo = Topology::build(&spec, names)?;
            let (path, ran, t) = across(topo)?;
            Ok(TcpRecord {
                rx_mode: ran.rx_mode,
                ..make_record(path, offload, Some(ran.backend), t)
            })
        }
        TcpRun::Mixed {
            backend,
            sides,
            gro,
        } => {
            let spec = TopologySpec {
                offload: sides,
                gro,
                rx_mode,
                ..TopologySpec::new(backend, 1, false, mode)
            };
            let topo = Topology::build(&spec, names)?;
            let (path, ran, t) = across(topo)?;
            Ok(TcpRecord {
                mixed: true,
                sides,
                gro,
                rx_mode: ran.rx_mode,
                ..make_record(path, sides.contains(&true), Some(ran.backend), t)
            })
        }
        TcpRun::Plain { offload } => {
            let topo = PlainTopology::build(offload, mode, names)?;
            let t = transfer();
            let down = topo.teardown();
            let r = make_record(TcpPath::Plain, offload, None, t?);
            down?;
            Ok(r)
        }
        TcpRun::Tokio {
            flavor,
            backend,
            offload,
            queues,
        } => {
            let topo = TokioTopology::build(backend, flavor, queues, offload, mode, names)?;
            let topo_backend = topo.backend();
            let path = match flavor {
                Flavor::CurrentThread => TcpPath::TokioCurrentThread,
                Flavor::MultiThread => TcpPath::TokioMultiThread,
            };
            let t = transfer();
            let down = topo.teardown();
            let r = make_record(path, offload, Some(topo_backend), t?);
            down?;
            Ok(r)
        }
    }
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A row of the TCP table: path, offloads, queues.
type Row = (TcpPath, bool, u16);

/// Paired ratios `a / b` over the rounds both have, as "median [min..max]".
fn paired(records: &[TcpRecord], a: Row, b: Row) -> String {
    let is = |(p, o, q): Row| move |r: &TcpRecord| r.path == p && r.offload == o && r.queues == q;
    paired_by(records, is(a), is(b))
}

/// A measured run that pairs with others of its round.
pub(super) trait Paired {
    /// Round (pair) number.
    fn round(&self) -> usize;
    /// What is compared (higher is better).
    fn value(&self) -> f64;
}

impl Paired for TcpRecord {
    fn round(&self) -> usize {
        self.round
    }
    fn value(&self) -> f64 {
        self.gbps
    }
}

/// Paired ratios of the record of each round that `a` picks over the one
/// that `b` picks, over the rounds that have both, as "median [min..max]".
pub(super) fn paired_by<R: Paired>(
    records: &[R],
    a: impl Fn(&R) -> bool,
    b: impl Fn(&R) -> bool,
) -> String {
    let find = |round: usize, pick: &dyn Fn(&R) -> bool| {
        records
            .iter()
            .find(|r| r.round() == round && pick(r))
            .map(Paired::value)
    };
    let rounds = records.iter().map(Paired::round).max().map_or(0, |m| m + 1);
    let ratios: Vec<f64> = (0..rounds)
        .filter_map(|i| Some(find(i, &a)? / find(i, &b)?.max(1e-9)))
        .collect();
    if ratios.is_empty() {
        return "-".into();
    }
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    format!("{:.2}x [{lo:.2}..{hi:.2}]", median(ratios))
}

/// The TCP table: Gbit/s per path and offload setting (medians), the
/// offload gain, and the ratios against veth and against the plain
/// forwarder with the same offloads (paired by round).
pub fn table(records: &[TcpRecord]) -> String {
    let load = records.first().map_or("-", |r| r.load.name());
    let mode = records.first().map_or("tap", |r| r.mode.as_str());
    let streams = records.first().map_or(1, |r| r.streams);
    let streams = match streams {
        1 => "one stream".to_string(),
        n => format!("{n} parallel streams"),
    };
    let mut out =
        format!("TCP load: {load}, {streams} from nsA to nsB; forwarders over {mode} devices\n");
    out.push_str(&format!(
        "{:<17} {:<8} {:>8}  {:<22} {:<22} {:<22}\n",
        "tcp", "offloads", "Gbit/s", "on vs off", "vs veth", "vs plain (same offloads)"
    ));
    let records: Vec<TcpRecord> = records.iter().filter(|r| !r.mixed).copied().collect();
    let records = records.as_slice();
    let mut seen: Vec<Row> = Vec::new();
    for r in records {
        if !seen.contains(&(r.path, r.offload, r.queues)) {
            seen.push((r.path, r.offload, r.queues));
        }
    }
    let mut scaling = Vec::new();
    for &(path, offload, queues) in &seen {
        let gbps = median(
            records
                .iter()
                .filter(|r| r.path == path && r.offload == offload && r.queues == queues)
                .map(|r| r.gbps)
                .collect(),
        );
        let row = (path, offload, queues);
        let vs_plain = match path {
            TcpPath::Veth | TcpPath::Plain => "-".to_string(),
            _ => paired(records, row, (TcpPath::Plain, offload, 1)),
        };
        let (gain, share) = if path == TcpPath::Veth {
            ("-".to_string(), "1.00x".to_string())
        } else {
            (
                if offload {
                    paired(records, row, (path, false, queues))
                } else {
                    "-".into()
                },
                paired(records, row, (TcpPath::Veth, true, 1)),
            )
        };
        if queues > 1 {
            scaling.push(format!(
                "tcp {} offloads {}: {queues} queues / 1 queue: {}",
                path.name(),
                if offload { "on" } else { "off" },
                paired(records, row, (path, offload, 1))
            ));
        }
        let name = match (path, records.iter().find(|r| r.path == path)) {
            (TcpPath::TokioCurrentThread | TcpPath::TokioMultiThread, Some(r)) => {
                let b = r.backend.map_or("?", |b| b.name());
                let q = if queues > 1 {
                    format!(" {queues}q")
                } else {
                    String::new()
                };
                format!(
                    "{}/{}{q}",
                    path.name(),
                    if b == "read-write" { "rw" } else { "uring" }
                )
            }
            _ if queues > 1 => format!("{} {queues}q", path.name()),
            _ => path.name().to_string(),
        };
        out.push_str(&format!(
            "{:<17} {:<8} {gbps:>8.2}  {gain:<22} {share:<22} {vs_plain:<22}\n",
            name,
            if offload { "on" } else { "off" },
        ));
    }
    for line in &scaling {
        out.push_str(line);
        out.push('\n');
    }
    if !scaling.is_empty() {
        out.push_str(
            "tcp scaling is paired round by round, the same streams either way; the \
             plain forwarder runs one queue per direction.\n",
        );
    }
    out
}
