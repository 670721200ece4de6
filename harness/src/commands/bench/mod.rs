//! `tapring bench`: builds its own topology in a private network namespace,
//! runs each test with each backend in alternation (A B A B ...), and
//! reports packets/s with paired ratios against the read/write backend,
//! over TAP devices or (`--mode tun`) TUN devices.

pub mod gro;
pub mod overhead;
pub mod plain;
pub mod plan;
pub mod record;
pub mod report;
pub mod tcp;
pub mod workload;

use crate::error::HarnessError;
use crate::lab::cpu::online_cpus;
use crate::lab::output::check_output;
use crate::lab::sandbox::{self, Names};
use crate::lab::steal;
use crate::lab::tcp_load::TcpLoad;
use indicatif::{ProgressBar, ProgressStyle};
use plan::Step;
use record::Record;
use std::path::PathBuf;
use std::time::Duration;
use tapring::Backend;
use tapring::RxMode;
use tapring::device::DeviceMode;
use tapring::uring::FixedBuffers;
use tapring::uring::UringConfig;
use workload::{RunSpec, TestKind};

/// Arguments of `tapring bench`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
--mode tun runs the same tests over TUN devices (IP packets, no Ethernet \
header): tx writes UDP/IPv4 packets into a TUN and counts what the kernel \
received; rx, drain and fwd2 get their packets from an AF_PACKET socket on \
the TUN (whose data is the IP packet); fwd cannot use a bridge (a TUN has \
no MAC), so both TUNs get addresses (tunA 198.18.10.1/24, tunB \
198.18.11.1/24), IPv4 forwarding is on, and packets written into tunA \
from 198.18.10.2 to 198.18.11.2 are routed out of tunB; tcp builds the \
same two namespaces with TUN ports (veth stays the kernel's baseline). \
In TUN mode --size is the IP packet length (46..=1500, default 64,1500); \
the overhead test is TAP only.")]
pub struct BenchArgs {
    /// Backends to compare: rw (read-write, the baseline every ratio is
    /// taken against) and uring (io_uring).
    #[arg(long, value_delimiter = ',', default_values = ["read-write", "io_uring"])]
    pub backend: Vec<Backend>,
    /// Tests to run.
    #[arg(long, value_delimiter = ',', default_values = ["tx", "rx", "drain", "fwd", "fwd2", "tcp"])]
    pub test: Vec<TestKind>,
    /// Packet sizes in bytes as the device carries them: Ethernet frames
    /// (header included, no FCS; 60..=1514) on TAP, IP packets (46..=1500)
    /// on TUN [default: 64,1514 on TAP, 64,1500 on TUN].
    #[arg(long, value_delimiter = ',')]
    pub size: Vec<usize>,
    /// The device type: tap (Ethernet frames) or tun (IP packets).
    #[arg(long, default_value_t = DeviceMode::Tap)]
    pub mode: DeviceMode,
    /// Packets per burst call (1..=256).
    #[arg(long, default_value_t = 32)]
    pub burst: usize,
    /// Queues per port (multi-queue TAP/TUN). tx, drain and fwd drive N
    /// queues on N threads (thread i owns queue i, pinned to CPU i mod the
    /// CPUs; fwd: A's Tx queue i and B's Rx queue i); rx and fwd2 poll every
    /// queue round-robin from the one measuring thread; tcp runs the tapring
    /// forwarder with N lanes and N parallel streams. With N > 1 every run
    /// is also made with one queue in the same round, and the tables show
    /// "N queues / 1 queue" paired.
    #[arg(long, default_value_t = 1)]
    pub queues: u16,
    /// Rx mode of the io_uring backend: auto, nowait, posted or multishot
    /// (the tcp and gro tests' tapring forwarder ports included; the tokio
    /// forwarder's run in auto).
    #[arg(long, default_value_t = RxMode::Auto)]
    pub rx_mode: RxMode,
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
    /// io_uring: which queues (off, rx or all) read or write the pool as registered (fixed)
    /// buffers, READ_FIXED/WRITE_FIXED.
    #[arg(long, default_value_t = FixedBuffers::Rx)]
    pub fixed_buffers: FixedBuffers,
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

impl BenchArgs {
    /// The sizes asked for, or the mode's defaults: the largest is the
    /// standard 1500-byte MTU as the device carries it.
    pub fn sizes(&self) -> Vec<usize> {
        match (self.size.is_empty(), self.mode) {
            (false, _) => self.size.clone(),
            (true, DeviceMode::Tun) => vec![64, 1500],
            (true, _) => vec![64, 1514],
        }
    }
}

/// The sizes a device of `mode` carries without offloads: a UDP/IPv4
/// packet at least (plus an Ethernet header on a TAP), at most the MTU.
fn size_range(mode: DeviceMode) -> std::ops::RangeInclusive<usize> {
    match mode {
        DeviceMode::Tun => 46..=1500,
        _ => 60..=1514,
    }
}

/// Checks the arguments (before anything runs).
pub fn validate(args: &BenchArgs) -> Result<(), HarnessError> {
    if args.burst == 0 || args.burst > 256 {
        return Err(HarnessError::Usage(format!(
            "--burst {} must be 1..=256",
            args.burst
        )));
    }
    let range = size_range(args.mode);
    if let Some(&s) = args.size.iter().find(|&&s| !range.contains(&s)) {
        let what = match args.mode {
            DeviceMode::Tun => "IP packets, in TUN mode",
            _ => "Ethernet frames, in TAP mode",
        };
        return Err(HarnessError::Usage(format!(
            "--size {s} must be {}..={} ({what}, must fit the 1500-byte MTU)",
            range.start(),
            range.end()
        )));
    }
    if args.mode == DeviceMode::Tun && args.test.contains(&TestKind::Overhead) {
        return Err(HarnessError::Usage(
            "--test overhead measures a bare io_uring loop on a TAP device: run it without \
             --mode tun"
                .into(),
        ));
    }
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        return Err(HarnessError::Usage("--seconds must be in (0, 600]".into()));
    }
    if args.rounds == 0 || args.rounds > 100 {
        return Err(HarnessError::Usage("--rounds must be 1..=100".into()));
    }
    if args.backend.is_empty() || args.test.is_empty() {
        return Err(HarnessError::Usage(
            "give at least one backend, test and size".into(),
        ));
    }
    if args.queues == 0 {
        return Err(HarnessError::Usage("--queues must be at least 1".into()));
    }
    if args.tcp_load == TcpLoad::Iperf3
        && (args.test.contains(&TestKind::Tcp) || args.test.contains(&TestKind::Gro))
        && crate::lab::tcp_load::iperf3_version().is_none()
    {
        return Err(HarnessError::Usage(
            "--tcp-load iperf3: iperf3 is not installed here (apt-get install iperf3), \
             or use --tcp-load builtin (or auto, which picks iperf3 only when present)"
                .into(),
        ));
    }
    if let Some(p) = &args.json {
        check_output("json", p)?;
    }
    if let Some(p) = &args.plot {
        check_output("plot", p)?;
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
    let per = Duration::from_secs_f64(args.seconds / args.rounds as f64);
    let frame = RunSpec {
        test: TestKind::Tx,
        backend: Backend::ReadWrite,
        size: 64,
        queues: args.queues,
        burst: args.burst,
        rx_mode: args.rx_mode,
        mode: args.mode,
        uring: UringConfig::default()
            .rx_depth(args.rx_depth)
            .multishot_buffers(args.multishot_buffers)
            .fixed_buffers(args.fixed_buffers)
            .sqpoll(args.sqpoll)
            .sqpoll_cpu(args.sqpoll.then(|| online_cpus().saturating_sub(1) as u32)),
        duration: per,
    };
    let overhead = RunSpec {
        queues: 1,
        uring: UringConfig::default()
            .rx_depth(args.rx_depth)
            .fixed_buffers(args.fixed_buffers),
        ..frame
    };
    let sizes = args.sizes();
    let steps = plan::plan(&plan::Inputs {
        tests: &args.test,
        sizes: &sizes,
        backends: &backends,
        rounds: args.rounds,
        frame,
        overhead,
    });
    let bar = ProgressBar::new(steps.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut names = Names::default();
    let mut records = Vec::new();
    let mut tcp_records = Vec::new();
    let mut overhead_records = Vec::new();
    let mut plain_records = Vec::new();
    let mut gro_frame_records = Vec::new();
    let mut steal_runs = Vec::new();
    let mut load = args.tcp_load.resolve();
    let mut i = 0;
    while let Some(step) = steps.get(i) {
        bar.set_message(step.label());
        let before = steal::CpuTimes::now();
        match *step {
            Step::Frame { spec, round } => {
                let m = workload::run(&spec, &mut names)?;
                records.push(Record::new(&spec, round, &m));
            }
            Step::Plain { spec, round } => {
                plain_records.push(plain::measure(&spec, round, &mut names)?);
            }
            Step::Tcp { run, round } => {
                let setup = tcp::TcpSetup {
                    per,
                    load,
                    mode: args.mode,
                    streams: usize::from(args.queues),
                    rx_mode: args.rx_mode,
                };
                match tcp::measure(run, round, setup, &mut names) {
                    Ok(r) => tcp_records.push(r),
                    // iperf3 was only picked because it is installed: if it
                    // cannot do the job here, the built-in generator can. Its
                    // table holds one load, so the TCP runs start over.
                    Err(e) if args.tcp_load == TcpLoad::Auto && load == TcpLoad::Iperf3 => {
                        bar.println(format!(
                            "iperf3 failed ({e}); measuring TCP with the built-in generator"
                        ));
                        load = TcpLoad::Builtin;
                        bar.inc_length(tcp_records.len() as u64);
                        tcp_records.clear();
                        i = steps
                            .iter()
                            .position(|s| matches!(s, Step::Tcp { .. }))
                            .unwrap_or(i);
                        // The steps from there on are measured again.
                        steal_runs.retain(|r: &steal::RunSteal| r.step < i);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Step::Overhead { spec, round } => {
                overhead_records.push(overhead::measure_pair(&spec, round, &mut names)?);
            }
            Step::GroFrames { spec, gro, round } => {
                gro_frame_records.push(gro::frames(&spec, gro, round, &mut names)?);
            }
        }
        steal_runs.push(steal::RunSteal::since(
            i,
            step.label(),
            step.round(),
            before,
        ));
        bar.inc(1);
        i += 1;
    }
    bar.finish_and_clear();
    let env = report::Environment::read(nf_off);
    print!("{}", report::header(&env));
    if !records.is_empty() {
        print!("{}", report::table(&records));
    }
    if !plain_records.is_empty() {
        print!("{}", plain::table(&records, &plain_records));
    }
    if tcp_records.iter().any(|r| !r.mixed) {
        print!("{}", tcp::table(&tcp_records));
    }
    if tcp_records.iter().any(|r| r.mixed) {
        print!("{}", gro::tcp_table(&tcp_records));
    }
    if !gro_frame_records.is_empty() {
        print!("{}", gro::frames_table(&gro_frame_records));
    }
    if !overhead_records.is_empty() {
        print!("{}", overhead::table(&overhead_records));
    }
    print!("{}", steal::warning(&steal_runs));
    if let Some(path) = &args.json {
        let all = report::AllRecords {
            frames: &records,
            plain: &plain_records,
            tcp: &tcp_records,
            overhead: &overhead_records,
            gro_frames: &gro_frame_records,
            steal: &steal_runs,
        };
        report::write_json(path, &all, &env)?;
        println!("records written to {}", path.display());
    }
    if let Some(path) = &args.plot {
        if records.is_empty() {
            println!("no chart: it shows packets/s of the frame tests, and none ran");
        } else {
            report::write_plot(path, &records)?;
            println!("chart written to {}", path.display());
        }
    }
    Ok(())
}
