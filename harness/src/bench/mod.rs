//! `tapring bench`: builds its own topology in a private network namespace,
//! runs each test with each backend in alternation (A B A B ...), and
//! reports packets/s with paired ratios against the read/write backend.

pub mod overhead;
pub mod report;
pub mod tcp;
pub mod workload;

use crate::backends::{self, BackendKind, FixedBuffersArg, RxModeArg};
use crate::error::HarnessError;
use crate::sandbox;
use crate::tcp::TcpLoad;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use workload::{Names, RunSpec, Sample, TestKind};

/// Arguments of `tapring bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// Backends to compare (the first one listed after `tap` is compared with `tap`).
    #[arg(long, value_delimiter = ',', default_values = ["tap", "uring"])]
    pub backend: Vec<BackendKind>,
    /// Tests to run.
    #[arg(long, value_delimiter = ',', default_values = ["tx", "rx", "drain", "fwd", "fwd2", "tcp"])]
    pub test: Vec<TestKind>,
    /// Frame sizes in bytes (Ethernet header included, no FCS).
    #[arg(long, value_delimiter = ',', default_values = ["64", "1514"])]
    pub size: Vec<usize>,
    /// Packets per burst call (1..=256).
    #[arg(long, default_value_t = 32)]
    pub burst: usize,
    /// Queues per port: Tx uses queue 0; Rx polls every queue round-robin
    /// from the one measuring thread (flows are spread by the kernel).
    #[arg(long, default_value_t = 1)]
    pub queues: u16,
    /// Rx mode of the io_uring backend.
    #[arg(long, value_enum, default_value_t = RxModeArg::Auto)]
    pub rx_mode: RxModeArg,
    /// io_uring posted-read mode: reads kept posted; no-wait mode: the
    /// largest batch of reads per burst (power of two).
    #[arg(long, default_value_t = 256)]
    pub rx_depth: u32,
    /// io_uring multishot mode: buffers in the provided-buffer ring (power of two).
    #[arg(long, default_value_t = 2048)]
    pub multishot_buffers: u32,
    /// TCP test: the load generator (auto: iperf3 if installed, else the
    /// built-in one; iperf3 runs whole seconds, at least 1 per measurement).
    #[arg(long, value_enum, default_value_t = TcpLoad::Auto)]
    pub tcp_load: TcpLoad,
    /// io_uring: which queues read or write the pool as registered (fixed)
    /// buffers, READ_FIXED/WRITE_FIXED.
    #[arg(long, value_enum, default_value_t = FixedBuffersArg::Rx)]
    pub fixed_buffers: FixedBuffersArg,
    /// io_uring: submission-queue polling by a kernel thread (spends a
    /// core; bound to the last CPU, away from the measuring thread on CPU 0).
    #[arg(long)]
    pub sqpoll: bool,
    /// Seconds measured per test, size and backend (split over the rounds).
    #[arg(long, default_value_t = 1.2)]
    pub seconds: f64,
    /// Alternating rounds (pairs) per test and size.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Write every record as JSON to this file (schema in README).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an SVG chart of packets/s per test, size and backend.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// One measured run, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// Test name.
    pub test: TestKind,
    /// Frame size.
    pub size: usize,
    /// Burst size.
    pub burst: usize,
    /// Queues per port.
    pub queues: u16,
    /// Backend.
    pub backend: BackendKind,
    /// Rx mode asked for (io_uring).
    pub rx_mode: RxModeArg,
    /// io_uring registered (fixed) buffers asked for.
    pub fixed_buffers: FixedBuffersArg,
    /// io_uring SQPOLL asked for.
    pub sqpoll: bool,
    /// Round (pair) number.
    pub round: usize,
    /// Packets per second delivered.
    pub pps: f64,
    /// Gigabits per second delivered (frame bytes).
    pub gbps: f64,
    /// CPU seconds of the I/O thread per million packets.
    pub cpu_s_per_mpkt: f64,
    /// Frames lost.
    pub drops: u64,
    /// Rx: packets per second the kernel-side source offered.
    pub offered_pps: Option<f64>,
    /// The raw sample.
    pub sample: Sample,
}

impl Record {
    fn new(spec: &RunSpec, args: &BenchArgs, round: usize, s: Sample) -> Record {
        let secs = s.secs.max(1e-9);
        let pps = s.packets as f64 / secs;
        Record {
            test: spec.test,
            size: spec.size,
            burst: spec.burst,
            queues: args.queues,
            backend: spec.backend,
            rx_mode: args.rx_mode,
            fixed_buffers: args.fixed_buffers,
            sqpoll: args.sqpoll,
            round,
            pps,
            gbps: pps * spec.size as f64 * 8.0 / 1e9,
            cpu_s_per_mpkt: if s.packets > 0 {
                s.cpu_secs / (s.packets as f64 / 1e6)
            } else {
                0.0
            },
            drops: s.drops,
            offered_pps: s.offered.map(|o| o as f64 / secs),
            sample: s,
        }
    }
}

fn validate(args: &BenchArgs) -> Result<(), HarnessError> {
    if args.burst == 0 || args.burst > 256 {
        return Err(HarnessError::Usage(format!(
            "--burst {} must be 1..=256",
            args.burst
        )));
    }
    if let Some(&s) = args.size.iter().find(|&&s| !(60..=1514).contains(&s)) {
        return Err(HarnessError::Usage(format!(
            "--size {s} must be 60..=1514 (frames without offloads must fit the MTU)"
        )));
    }
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err(HarnessError::Usage("--seconds must be in (0, 600]".into()));
    }
    if args.rounds == 0 || args.rounds > 100 {
        return Err(HarnessError::Usage("--rounds must be 1..=100".into()));
    }
    if args.backend.is_empty() || args.test.is_empty() || args.size.is_empty() {
        return Err(HarnessError::Usage(
            "give at least one backend, test and size".into(),
        ));
    }
    if args.queues == 0 {
        return Err(HarnessError::Usage("--queues must be at least 1".into()));
    }
    Ok(())
}

/// Runs the benchmark; prints tables; writes JSON and the plot if asked.
pub fn run(args: &BenchArgs) -> Result<(), HarnessError> {
    validate(args)?;
    sandbox::enter()?;
    // New interfaces come up without IPv6 (no router solicitations in the
    // measurements); the bridge's netfilter hooks cost ~20% and are off.
    sandbox::sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    let nf_off = ["iptables", "ip6tables", "arptables"]
        .iter()
        .all(|t| sandbox::sysctl(&format!("net.bridge.bridge-nf-call-{t}"), "0"));
    let mut backends = args.backend.clone();
    backends.dedup();
    let frame_tests: Vec<TestKind> = args
        .test
        .iter()
        .copied()
        .filter(|t| !matches!(t, TestKind::Tcp | TestKind::Overhead))
        .collect();
    let tcp_runs = if args.test.contains(&TestKind::Tcp) {
        args.rounds * (1 + 2 * backends.len())
    } else {
        0
    };
    let overhead_runs = if args.test.contains(&TestKind::Overhead) {
        2 * 2 * args.size.len() * args.rounds
    } else {
        0
    };
    let total = frame_tests.len() * args.size.len() * backends.len() * args.rounds
        + tcp_runs
        + overhead_runs;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let per = Duration::from_secs_f64(args.seconds / args.rounds as f64);
    let mut names = Names::default();
    let mut records = Vec::new();
    for &test in &frame_tests {
        for &size in &args.size {
            for round in 0..args.rounds {
                for &backend in &backends {
                    let spec = RunSpec {
                        test,
                        backend,
                        size,
                        queues: args.queues,
                        burst: args.burst,
                        rx_mode: args.rx_mode.mode(),
                        uring: backends::UringTuning {
                            rx_depth: args.rx_depth,
                            multishot_buffers: args.multishot_buffers,
                            fixed_buffers: args.fixed_buffers.setting(),
                            sqpoll: args.sqpoll,
                            sqpoll_cpu: args
                                .sqpoll
                                .then(|| workload::online_cpus().saturating_sub(1) as u32),
                            ..backends::UringTuning::default()
                        },
                        duration: per,
                    };
                    bar.set_message(format!("{} {size} B {}", test.name(), backend.name()));
                    let s = workload::run(&spec, &mut names)?;
                    records.push(Record::new(&spec, args, round, s));
                    bar.inc(1);
                }
            }
        }
    }
    let tcp_records = if tcp_runs > 0 {
        let mut progress = |msg: &str| {
            bar.set_message(msg.to_string());
            bar.inc(1);
        };
        let load = args.tcp_load.resolve();
        match tcp::run(&backends, args.rounds, per, load, &mut progress) {
            // iperf3 was only picked because it is installed: if it cannot
            // do the job here, the built-in generator can.
            Err(e) if args.tcp_load == TcpLoad::Auto && load == TcpLoad::Iperf3 => {
                bar.println(format!(
                    "iperf3 failed ({e}); measuring TCP with the built-in generator"
                ));
                tcp::run(&backends, args.rounds, per, TcpLoad::Builtin, &mut progress)?
            }
            r => r?,
        }
    } else {
        Vec::new()
    };
    let overhead_records = if overhead_runs > 0 {
        let spec = RunSpec {
            test: TestKind::Tx,
            backend: crate::backends::BackendKind::Uring,
            size: 64,
            queues: 1,
            burst: args.burst,
            rx_mode: args.rx_mode.mode(),
            uring: backends::UringTuning {
                rx_depth: args.rx_depth,
                fixed_buffers: args.fixed_buffers.setting(),
                ..backends::UringTuning::default()
            },
            duration: per,
        };
        overhead::run(&args.size, args.rounds, &spec, &mut names, |msg| {
            bar.set_message(msg.to_string());
            bar.inc(1);
        })?
    } else {
        Vec::new()
    };
    bar.finish_and_clear();
    let env = report::Environment::read(nf_off);
    print!("{}", report::header(&env));
    if !records.is_empty() {
        print!("{}", report::table(&records));
    }
    if !tcp_records.is_empty() {
        print!("{}", tcp::table(&tcp_records));
    }
    if !overhead_records.is_empty() {
        print!("{}", overhead::table(&overhead_records));
    }
    if let Some(path) = &args.json {
        report::write_json(path, &records, &tcp_records, &overhead_records, &env)?;
        println!("records written to {}", path.display());
    }
    if let Some(path) = &args.plot {
        if records.is_empty() {
            println!("no chart: it shows packets/s, and only tcp was measured");
        } else {
            report::write_plot(path, &records)?;
            println!("chart written to {}", path.display());
        }
    }
    Ok(())
}
