//! One measured run of one test with one backend: the topology it needs is
//! built fresh (unique names inside the sandbox), measured, and removed.
//! Every test runs over TAP or TUN devices ([`RunSpec::mode`]); only fwd
//! joins its two devices differently (a bridge for TAP, IPv4 routing for
//! TUN, which has no MAC to bridge on).

use crate::error::HarnessError;
use crate::lab::cpu::{pin, thread_cpu};
use crate::lab::ports::{self, Opened, PortSettings};
use crate::lab::sandbox::{self, Names};
use crate::lab::traffic::{self, Source, flows, io_slices, spawn_source};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tapring::Backend;
use tapring::device::{DeviceMode, KernelCounters, TapConfig};
use tapring::uring::UringConfig;
use tapring::{AnyRxQueue, Burst, Pool, PoolConfig, RxMode, RxQueue, TxQueue};
use tapring_testkit::TEST_DST;

/// The benchmark tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TestKind {
    /// tapring transmits; the kernel counts what arrived.
    Tx,
    /// A kernel-side source on the other core offers frames; tapring receives.
    Rx,
    /// The kernel's queue is filled first, then tapring drains it (one
    /// thread per queue).
    Drain,
    /// tapA -> Linux bridge -> tapB (TUN: tunA -> IPv4 routing -> tunB),
    /// one thread per queue pair writing A's queue i and reading B's queue i.
    Fwd,
    /// A two-port forwarder: a kernel source on the other core sends into
    /// tapA, tapring forwards A -> B on one thread, the kernel counts what
    /// arrives on tapB.
    Fwd2,
    /// TCP from one namespace to another across a tapring forwarder,
    /// offloads off and on, beside a veth pair (Gbit/s; own table).
    Tcp,
    /// TCP across a forwarder between a port with offloads and one
    /// without: software GRO on and off one way, software GSO against no
    /// offloads the other (Gbit/s; own table).
    Gro,
    /// tapring's io_uring tx and drain against a bare loop making the same
    /// io_uring calls: the library's own cost (own table).
    Overhead,
}

impl TestKind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            TestKind::Tx => "tx",
            TestKind::Rx => "rx",
            TestKind::Drain => "drain",
            TestKind::Fwd => "fwd",
            TestKind::Fwd2 => "fwd2",
            TestKind::Tcp => "tcp",
            TestKind::Gro => "gro",
            TestKind::Overhead => "overhead",
        }
    }
}

/// What one run is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct RunSpec {
    /// Which test.
    pub test: TestKind,
    /// Which backend.
    pub backend: Backend,
    /// Packet size in bytes as the device carries it: the Ethernet frame
    /// (header included, no FCS) on a TAP, the IP packet on a TUN.
    pub size: usize,
    /// TAP or TUN devices.
    pub mode: DeviceMode,
    /// Queues per port.
    pub queues: u16,
    /// Packets per burst call.
    pub burst: usize,
    /// Rx mode for io_uring.
    pub rx_mode: RxMode,
    /// io_uring ring sizes and options.
    pub uring: UringConfig,
    /// How long to measure.
    pub duration: Duration,
}

/// One run: what ran and what it measured.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// The settings the port ran with (as the library reports them).
    pub ran: PortSettings,
    /// What was measured.
    pub sample: Sample,
}

/// What one run measured.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Sample {
    /// Frames delivered (Tx: received by the kernel; Rx/drain/fwd: received
    /// by tapring).
    pub packets: u64,
    /// Seconds measured.
    pub secs: f64,
    /// CPU seconds the I/O thread used (user + system).
    pub cpu_secs: f64,
    /// Frames lost on the way (kernel drops and tapring drop counters).
    pub drops: u64,
    /// Rx: frames the kernel-side source managed to send.
    pub offered: Option<u64>,
}

impl Sample {
    /// Packets per second.
    pub fn pps(&self) -> f64 {
        self.packets as f64 / self.secs.max(1e-9)
    }

    /// CPU seconds per million packets (0 when none moved).
    pub fn cpu_s_per_mpkt(&self) -> f64 {
        if self.packets > 0 {
            self.cpu_secs / (self.packets as f64 / 1e6)
        } else {
            0.0
        }
    }
}

fn pool_for(size: usize) -> Result<Pool, HarnessError> {
    let mut cfg = PoolConfig::standard(16_384);
    cfg.data_room = cfg.data_room.max(size as u32 + 64);
    Pool::new(cfg).map_err(|e| HarnessError::Backend(e.to_string()))
}

/// Opens `name` for `spec` with all queues taken, up; and what it runs with.
fn open_up(
    spec: &RunSpec,
    name: &str,
    pool: &Pool,
) -> Result<(Opened, PortSettings), HarnessError> {
    let rings = spec.uring;
    let mut cfg = TapConfig::named(name).mode(spec.mode);
    cfg.queues = usize::from(spec.queues);
    let mut o = ports::open(spec.backend, &cfg, pool, spec.rx_mode, rings, 0)?;
    let ran = o.settings(rings.sqpoll);
    sandbox::ip(&["link", "set", "dev", name, "up"])?;
    Ok((o, ran))
}

/// The kernel's counters of interface `name`.
fn counters(name: &str) -> Result<KernelCounters, HarnessError> {
    Ok(KernelCounters::read(name)?)
}

/// Fills `burst` up to `want` packets carrying `frame`, allocating with
/// `alloc` (a sender's Tx queue: [`tapring::TxQueue::alloc`]) as an
/// application would.
fn refill(
    burst: &mut Burst<256>,
    want: usize,
    alloc: &mut impl FnMut() -> Option<tapring::Pkt>,
    frame: &[u8],
) {
    while burst.len() < want {
        let Some(mut p) = alloc() else { return };
        if p.extend_from_slice(frame).is_err() {
            return;
        }
        if burst.push(p).is_err() {
            return;
        }
    }
}

/// [`refill`] with `frames` in turn (`next` is the one to use next), so a
/// burst carries several flows.
fn refill_flows(
    burst: &mut Burst<256>,
    want: usize,
    alloc: &mut impl FnMut() -> Option<tapring::Pkt>,
    frames: &[Vec<u8>],
    next: &mut usize,
) {
    while burst.len() < want && !frames.is_empty() {
        let Some(mut p) = alloc() else { return };
        if p.extend_from_slice(&frames[*next % frames.len()]).is_err() {
            return;
        }
        *next = (*next + 1) % frames.len();
        if burst.push(p).is_err() {
            return;
        }
    }
}

/// The CPU the `i`th of a test's queue threads is pinned to: in turn over
/// the machine's CPUs (not this thread's affinity, which is one CPU).
pub(crate) fn queue_cpu(i: usize) -> usize {
    i % crate::lab::cpu::online_cpus().max(1)
}

/// Every Rx queue of a port, polled round-robin from one thread (the
/// kernel spreads flows over a multi-queue TAP's queues).
struct RxSet<'a> {
    queues: &'a mut [AnyRxQueue],
    next: usize,
}

impl<'a> RxSet<'a> {
    fn new(queues: &'a mut [AnyRxQueue]) -> Self {
        RxSet { queues, next: 0 }
    }

    /// Polls queues in turn until one delivers or all were asked once.
    fn rx_burst(&mut self, burst: &mut Burst<256>) -> Result<usize, HarnessError> {
        let n = self.queues.len();
        for _ in 0..n {
            let q = &mut self.queues[self.next];
            self.next = (self.next + 1) % n;
            let got = q.rx_burst(burst)?;
            if got > 0 {
                return Ok(got);
            }
        }
        Ok(0)
    }

    fn packets(&self) -> u64 {
        self.queues.iter().map(|q| q.stats().packets).sum()
    }

    fn drops(&self) -> u64 {
        self.queues.iter().map(|q| q.stats().drops.total()).sum()
    }

    fn stop(&mut self) -> Result<(), HarnessError> {
        for q in self.queues.iter_mut() {
            q.stop()?;
        }
        Ok(())
    }
}

/// Runs one measurement.
pub fn run(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    pin(0);
    match spec.test {
        TestKind::Tx => tx(spec, names),
        TestKind::Rx => rx_live(spec, names),
        TestKind::Drain => drain(spec, names),
        TestKind::Fwd => fwd(spec, names),
        TestKind::Fwd2 => fwd2(spec, names),
        TestKind::Tcp | TestKind::Gro | TestKind::Overhead => Err(HarnessError::Usage(format!(
            "{} has its own runner (bench::{})",
            spec.test.name(),
            spec.test.name()
        ))),
    }
}

fn tx(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    let pool = pool_for(spec.size)?;
    let name = names.next("trtx");
    let (mut o, ran) = open_up(spec, &name, &pool)?;
    // On a TUN the kernel routes what arrives: nothing here has an
    // address, so it is dropped after rx_packets counted it (as a TAP's
    // frames to a foreign MAC are).
    let frame = traffic::packet(spec.mode, spec.size, 0, 0);
    let before = counters(&name)?.rx_packets;
    let t0 = Instant::now();
    // One thread per queue, each pinned to its own CPU (in turn) and the
    // first to use its queue (an io_uring ring binds to it).
    // The machine's CPUs, not this thread's affinity (the measuring thread
    // is pinned to one).
    let cpus = crate::lab::cpu::online_cpus().max(1);
    let per_queue: Vec<Result<(f64, u64), HarnessError>> = std::thread::scope(|scope| {
        let threads: Vec<_> =
            o.tx.iter_mut()
                .enumerate()
                .map(|(i, tx)| {
                    let frame = &frame;
                    scope.spawn(move || -> Result<(f64, u64), HarnessError> {
                        if spec.queues > 1 {
                            pin(i % cpus);
                        }
                        let mut burst: Burst<256> = Burst::new();
                        let c0 = thread_cpu();
                        while t0.elapsed() < spec.duration {
                            refill(&mut burst, spec.burst, &mut || tx.alloc(), frame);
                            tx.tx_burst(&mut burst)?;
                        }
                        tx.stop()?;
                        burst.clear();
                        Ok((thread_cpu() - c0, tx.stats().drops.total()))
                    })
                })
                .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("tx thread panicked".into())))
            })
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let (mut cpu, mut drops) = (0.0, 0);
    for r in per_queue {
        let (c, d) = r?;
        cpu += c;
        drops += d;
    }
    let packets = counters(&name)?.rx_packets - before;
    let sample = Sample {
        packets,
        secs,
        cpu_secs: cpu,
        drops,
        offered: None,
    };
    Ok(Measured { ran, sample })
}

fn rx_live(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    let pool = pool_for(spec.size)?;
    let name = names.next("trrx");
    let (mut o, ran) = open_up(spec, &name, &pool)?;
    let mut rx = RxSet::new(&mut o.rx);
    let mut burst: Burst<256> = Burst::new();
    rx.rx_burst(&mut burst)?; // start (io_uring: post the buffers)
    burst.clear();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let src = spawn_source(
        o.ifindex,
        flows(spec.mode, spec.size, 64),
        stop.clone(),
        sent.clone(),
    );
    // Let the source reach speed before measuring.
    std::thread::sleep(Duration::from_millis(20));
    let before = rx.packets();
    let (sent0, full0) = (sent.load(Ordering::Relaxed), counters(&name)?.tx_dropped);
    let (t0, c0) = (Instant::now(), thread_cpu());
    while t0.elapsed() < spec.duration {
        if rx.rx_burst(&mut burst)? > 0 {
            burst.clear();
        }
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu() - c0);
    let packets = rx.packets() - before;
    // What the source sent: the frames the TAP queued for us, plus those it
    // dropped because its queue was full (the socket reports those as
    // failed sends, so `sent` alone would only count what fitted).
    let full1 = counters(&name)?.tx_dropped;
    let offered = sent.load(Ordering::Relaxed) - sent0 + full1 - full0;
    stop.store(true, Ordering::Relaxed);
    src.join()
        .map_err(|_| HarnessError::Check("traffic source panicked".into()))??;
    rx.stop()?;
    let sample = Sample {
        packets,
        secs,
        cpu_secs: cpu,
        // In the measured window only: the source starts before it, while
        // nothing reads yet, and the queue overflows then.
        drops: full1 - full0 + rx.drops(),
        offered: Some(offered),
    };
    Ok(Measured { ran, sample })
}

/// Frames the kernel may queue towards a drained interface (tun's ring is
/// tx_queue_len long).
pub(crate) const DRAIN_QUEUE: usize = 8192;

/// What the drain measurement drives.
pub(crate) trait Drainer {
    /// Called before each fill of the kernel's queue.
    fn before_fill(&mut self) -> Result<(), HarnessError>;
    /// Reads one burst; returns the frames read.
    fn read(&mut self) -> Result<usize, HarnessError>;
}

/// tapring's Rx queues as a [`Drainer`]: stopped while the kernel's queue
/// fills, so nobody reads.
struct QueueDrainer<'a> {
    rx: RxSet<'a>,
    burst: Burst<256>,
}

impl Drainer for QueueDrainer<'_> {
    fn before_fill(&mut self) -> Result<(), HarnessError> {
        self.rx.stop()
    }

    fn read(&mut self) -> Result<usize, HarnessError> {
        let n = self.rx.rx_burst(&mut self.burst)?;
        self.burst.clear();
        Ok(n)
    }
}

/// The drain measurement: for `spec.duration`, rounds of filling the
/// kernel's queue of interface `name` and timing how long `d` takes to
/// empty it.
pub(crate) fn drain_rounds(
    spec: &RunSpec,
    name: &str,
    ifindex: u32,
    d: &mut impl Drainer,
) -> Result<Sample, HarnessError> {
    sandbox::ip(&[
        "link",
        "set",
        "dev",
        name,
        "txqueuelen",
        &DRAIN_QUEUE.to_string(),
    ])?;
    let frames = flows(spec.mode, spec.size, 64);
    let slices = io_slices(&frames);
    let mut src = Source::new(ifindex, slices.len())?;
    let mut sample = Sample::default();
    let wall = Instant::now();
    while wall.elapsed() < spec.duration {
        d.before_fill()?;
        let mut queued = 0usize;
        while queued < DRAIN_QUEUE {
            let n = src.send(&slices[..slices.len().min(DRAIN_QUEUE - queued)])?;
            if n == 0 {
                break;
            }
            queued += n;
        }
        let (t0, c0) = (Instant::now(), thread_cpu());
        let mut got = 0usize;
        let mut idle = 0u32;
        while got < queued && idle < 10_000 {
            let n = d.read()?;
            if n == 0 {
                idle += 1;
            } else {
                idle = 0;
                got += n;
            }
        }
        sample.secs += t0.elapsed().as_secs_f64();
        sample.cpu_secs += thread_cpu() - c0;
        sample.packets += got as u64;
    }
    Ok(sample)
}

fn drain(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    let pool = pool_for(spec.size)?;
    let name = names.next("trdr");
    let (mut o, ran) = open_up(spec, &name, &pool)?;
    let dropped0 = counters(&name)?.tx_dropped;
    if o.rx.len() > 1 {
        let (mut sample, queue_drops) = drain_queues(spec, &name, o.ifindex, &mut o.rx)?;
        sample.drops = counters(&name)?.tx_dropped - dropped0 + queue_drops;
        return Ok(Measured { ran, sample });
    }
    let mut d = QueueDrainer {
        rx: RxSet::new(&mut o.rx),
        burst: Burst::new(),
    };
    let mut sample = drain_rounds(spec, &name, o.ifindex, &mut d)?;
    let rx = &mut d.rx;
    rx.stop()?;
    sample.drops = counters(&name)?.tx_dropped - dropped0 + rx.drops();
    Ok(Measured { ran, sample })
}

/// What the main thread and the queue threads of [`drain_queues`] share.
struct DrainRound {
    /// Start, stopped, filled, drained: every round passes it four times.
    barrier: Barrier,
    /// Set before a round's first wait: no more rounds.
    done: AtomicBool,
    /// A thread failed (its error is its result); the rounds end.
    failed: AtomicBool,
    /// Frames the kernel took in this round's fill.
    queued: AtomicU64,
    /// Frames the threads read in this round, together.
    got: AtomicU64,
}

/// One queue's thread in [`drain_queues`]: stops its queue while the
/// kernel's queues fill, then reads until the threads together read what
/// was queued (or its own queue stayed empty for 10 000 polls). Its CPU
/// seconds while reading and its queue's drop counter.
fn drain_queue_thread(
    i: usize,
    q: &mut AnyRxQueue,
    round: &DrainRound,
) -> Result<(f64, u64), HarnessError> {
    pin(queue_cpu(i));
    let mut burst: Burst<256> = Burst::new();
    let mut cpu = 0.0;
    let mut failure: Option<HarnessError> = None;
    loop {
        round.barrier.wait(); // start
        if round.done.load(Ordering::SeqCst) {
            break;
        }
        if failure.is_none()
            && let Err(e) = q.stop()
        {
            failure = Some(e.into());
            round.failed.store(true, Ordering::SeqCst);
        }
        round.barrier.wait(); // stopped: the main thread fills
        round.barrier.wait(); // filled
        if failure.is_none() {
            let queued = round.queued.load(Ordering::SeqCst);
            let c0 = thread_cpu();
            let mut idle = 0u32;
            while round.got.load(Ordering::Relaxed) < queued && idle < 10_000 {
                match q.rx_burst(&mut burst) {
                    Ok(0) => idle += 1,
                    Ok(n) => {
                        idle = 0;
                        burst.clear();
                        round.got.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failure = Some(e.into());
                        round.failed.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            burst.clear();
            cpu += thread_cpu() - c0;
        }
        round.barrier.wait(); // drained
    }
    let stopped = q.stop();
    if let Some(e) = failure {
        return Err(e);
    }
    stopped?;
    Ok((cpu, q.stats().drops.total()))
}

/// The drain measurement over a multi-queue device: rounds of filling the
/// kernel's queues of interface `name` (many flows, which tun spreads
/// over the queues by flow hash) and timing how long one thread per queue
/// (thread i owns `queues[i]`, pinned to CPU i in turn, the first to use
/// it) takes to empty them. Packets are the threads' sum, CPU the sum of
/// their CPU; also the queues' drop counters, summed.
fn drain_queues(
    spec: &RunSpec,
    name: &str,
    ifindex: u32,
    queues: &mut [AnyRxQueue],
) -> Result<(Sample, u64), HarnessError> {
    sandbox::ip(&[
        "link",
        "set",
        "dev",
        name,
        "txqueuelen",
        &DRAIN_QUEUE.to_string(),
    ])?;
    let frames = flows(spec.mode, spec.size, 64);
    let slices = io_slices(&frames);
    let mut src = Source::new(ifindex, slices.len())?;
    // tun's ring is tx_queue_len long per queue.
    let capacity = DRAIN_QUEUE * queues.len();
    let round = DrainRound {
        barrier: Barrier::new(queues.len() + 1),
        done: AtomicBool::new(false),
        failed: AtomicBool::new(false),
        queued: AtomicU64::new(0),
        got: AtomicU64::new(0),
    };
    let mut sample = Sample::default();
    let mut fill_error: Option<HarnessError> = None;
    let per_queue: Vec<Result<(f64, u64), HarnessError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = queues
            .iter_mut()
            .enumerate()
            .map(|(i, q)| {
                let round = &round;
                scope.spawn(move || drain_queue_thread(i, q, round))
            })
            .collect();
        let wall = Instant::now();
        loop {
            let done = wall.elapsed() >= spec.duration
                || round.failed.load(Ordering::SeqCst)
                || fill_error.is_some();
            round.done.store(done, Ordering::SeqCst);
            round.barrier.wait(); // start
            if done {
                break;
            }
            round.barrier.wait(); // stopped
            let mut queued = 0usize;
            while queued < capacity {
                match src.send(&slices[..slices.len().min(capacity - queued)]) {
                    Ok(0) => break,
                    Ok(n) => queued += n,
                    Err(e) => {
                        fill_error = Some(e);
                        break;
                    }
                }
            }
            round.got.store(0, Ordering::SeqCst);
            round.queued.store(queued as u64, Ordering::SeqCst);
            let t0 = Instant::now();
            round.barrier.wait(); // filled
            round.barrier.wait(); // drained
            sample.secs += t0.elapsed().as_secs_f64();
            sample.packets += round.got.load(Ordering::SeqCst);
        }
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("drain thread panicked".into())))
            })
            .collect()
    });
    if let Some(e) = fill_error {
        return Err(e);
    }
    let mut drops = 0;
    for r in per_queue {
        let (cpu, d) = r?;
        sample.cpu_secs += cpu;
        drops += d;
    }
    Ok((sample, drops))
}

/// Flows each fwd thread writes (distinct per thread, so B's queues, which
/// tun picks by flow hash, all get traffic).
const FWD_FLOWS_PER_QUEUE: usize = 16;

/// How the fwd test joins its two devices inside the kernel.
pub(crate) enum Join {
    /// TAP: a Linux bridge (named) with a static entry for the frames'
    /// destination MAC on B's port.
    Bridge(String),
    /// TUN: both addressed, IPv4 forwarding on; restored afterwards.
    Routed,
}

/// tunA's and tunB's subnets in the routed fwd test (the sandbox's own
/// namespace; nothing else there is addressed).
const ROUTED_A: [u8; 4] = [198, 18, 10, 1];
const ROUTED_B: [u8; 4] = [198, 18, 11, 1];
/// The hosts the routed packets go from and to: one behind each TUN.
const ROUTED_SRC: [u8; 4] = [198, 18, 10, 2];
const ROUTED_DST: [u8; 4] = [198, 18, 11, 2];

fn dotted(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

impl Join {
    /// Joins devices `a` and `b` for packets of `mode` (see
    /// [`fwd_packet`] for what to write into `a`).
    pub(crate) fn build(
        mode: DeviceMode,
        a: &str,
        b: &str,
        names: &mut Names,
    ) -> Result<Join, HarnessError> {
        match mode {
            DeviceMode::Tun => {
                // A TUN has no MAC, so no bridge: route. rp_filter off so
                // the source check cannot drop what the test sends (it
                // would pass anyway: 198.18.10.0/24 is reached via tunA).
                for (dev, addr) in [(a, ROUTED_A), (b, ROUTED_B)] {
                    let cidr = format!("{}/24", dotted(addr));
                    sandbox::ip(&["addr", "add", &cidr, "dev", dev])?;
                    sandbox::sysctl(&format!("net.ipv4.conf.{dev}.rp_filter"), "0");
                }
                sandbox::sysctl("net.ipv4.conf.all.rp_filter", "0");
                if !sandbox::sysctl("net.ipv4.ip_forward", "1") {
                    return Err(HarnessError::Backend(
                        "cannot switch IPv4 forwarding on (net.ipv4.ip_forward) in the \
                         sandbox: the TUN fwd test routes between two TUNs"
                            .into(),
                    ));
                }
                Ok(Join::Routed)
            }
            _ => {
                let br = names.next("trbr");
                sandbox::ip(&["link", "add", &br, "type", "bridge"])?;
                let join = Join::Bridge(br.clone());
                for p in [a, b] {
                    sandbox::ip(&["link", "set", "dev", p, "master", &br])?;
                }
                sandbox::ip(&["link", "set", "dev", &br, "up"])?;
                // The frames go to TEST_DST: a static entry sends them to B.
                let mac: Vec<String> = TEST_DST.iter().map(|b| format!("{b:02x}")).collect();
                let mac = mac.join(":");
                sandbox::run(
                    "bridge",
                    &["fdb", "add", &mac, "dev", b, "master", "static"],
                )?;
                Ok(join)
            }
        }
    }
}

/// A packet of flow `flow` written into A that the [`Join`] of `mode` sends
/// out of B: to the bridge's static MAC (TAP), or from ROUTED_SRC to
/// ROUTED_DST (TUN; the flow is in the UDP ports).
fn fwd_packet(mode: DeviceMode, size: usize, flow: u16) -> Vec<u8> {
    let p = traffic::packet(mode, size, flow, 0);
    match mode {
        DeviceMode::Tun => traffic::readdressed(&p, ROUTED_SRC, ROUTED_DST),
        _ => p,
    }
}

/// The frames each of `lanes` fwd threads writes: thread i flows i*16 ..
/// i*16+15. B's queue for each is the kernel's choice (tun hashes the
/// flow), so thread i reads whatever B's queue i got and the packets are
/// counted as the sum.
pub(crate) fn fwd_frames(spec: &RunSpec, lanes: usize) -> Vec<Vec<Vec<u8>>> {
    (0..lanes)
        .map(|i| {
            (0..FWD_FLOWS_PER_QUEUE)
                .map(|f| {
                    let flow = u16::try_from(i * FWD_FLOWS_PER_QUEUE + f).unwrap_or(u16::MAX);
                    fwd_packet(spec.mode, spec.size, flow)
                })
                .collect()
        })
        .collect()
}

impl Drop for Join {
    fn drop(&mut self) {
        match self {
            Join::Bridge(br) => {
                let _ = sandbox::ip(&["link", "del", br]);
            }
            // The other tests leave what they send unrouted.
            Join::Routed => {
                sandbox::sysctl("net.ipv4.ip_forward", "0");
            }
        }
    }
}

/// What one fwd thread measured: packets B's queue delivered, seconds,
/// CPU seconds, and its two queues' drop counters.
type FwdLane = (u64, f64, f64, u64);

/// One fwd thread: owns A's Tx queue `txa` and B's Rx queue `rxb` (the
/// first to use either), writes `frames` (its own flows) into A and
/// reads B for `spec.duration` once every thread has started.
fn fwd_thread(
    i: usize,
    spec: &RunSpec,
    frames: &[Vec<u8>],
    txa: &mut tapring::AnyTxQueue,
    rxb: &mut AnyRxQueue,
    started: &Barrier,
) -> Result<FwdLane, HarnessError> {
    if spec.queues > 1 {
        pin(queue_cpu(i));
    }
    let mut out: Burst<256> = Burst::new();
    let mut inb: Burst<256> = Burst::new();
    // Start (io_uring: post the buffers) before anyone measures; wait for
    // the others even when this failed, so nobody waits for ever.
    let start = rxb.rx_burst(&mut inb);
    inb.clear();
    started.wait();
    start?;
    let before = rxb.stats().packets;
    let (t0, c0) = (Instant::now(), thread_cpu());
    let mut next = 0;
    while t0.elapsed() < spec.duration {
        refill_flows(&mut out, spec.burst, &mut || txa.alloc(), frames, &mut next);
        txa.tx_burst(&mut out)?;
        if rxb.rx_burst(&mut inb)? > 0 {
            inb.clear();
        }
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu() - c0);
    let packets = rxb.stats().packets - before;
    out.clear();
    txa.stop()?;
    rxb.stop()?;
    let drops = txa.stats().drops.total() + rxb.stats().drops.total();
    Ok((packets, secs, cpu, drops))
}

fn fwd(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    let pool = pool_for(spec.size)?;
    let (a, b) = (names.next("trfa"), names.next("trfb"));
    let (mut oa, ran) = open_up(spec, &a, &pool)?;
    let (mut ob, _) = open_up(spec, &b, &pool)?;
    let join = Join::build(spec.mode, &a, &b, names)?;
    let lanes = oa.tx.len().min(ob.rx.len());
    let frames = fwd_frames(spec, lanes);
    let started = Barrier::new(lanes);
    let results: Vec<Result<FwdLane, HarnessError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = oa
            .tx
            .iter_mut()
            .zip(ob.rx.iter_mut())
            .zip(&frames)
            .enumerate()
            .map(|(i, ((txa, rxb), frames))| {
                let started = &started;
                scope.spawn(move || fwd_thread(i, spec, frames, txa, rxb, started))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("fwd thread panicked".into())))
            })
            .collect()
    });
    drop(join);
    let mut sample = Sample {
        drops: counters(&b)?.tx_dropped,
        ..Sample::default()
    };
    for r in results {
        let (packets, secs, cpu, drops) = r?;
        sample.packets += packets;
        sample.secs = sample.secs.max(secs);
        sample.cpu_secs += cpu;
        sample.drops += drops;
    }
    Ok(Measured { ran, sample })
}

fn fwd2(spec: &RunSpec, names: &mut Names) -> Result<Measured, HarnessError> {
    let pool = pool_for(spec.size)?;
    let (a, b) = (names.next("trf2a"), names.next("trf2b"));
    let (mut oa, ran) = open_up(spec, &a, &pool)?;
    let (mut ob, _) = open_up(spec, &b, &pool)?;
    let mut rxa = RxSet::new(&mut oa.rx);
    let txb = &mut ob.tx[0];
    let mut burst: Burst<256> = Burst::new();
    rxa.rx_burst(&mut burst)?; // start
    burst.clear();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let src = spawn_source(
        oa.ifindex,
        flows(spec.mode, spec.size, 64),
        stop.clone(),
        sent.clone(),
    );
    std::thread::sleep(Duration::from_millis(20));
    let (before, sent0, dropped0) = (
        counters(&b)?.rx_packets,
        sent.load(Ordering::Relaxed),
        counters(&a)?.tx_dropped,
    );
    let (t0, c0) = (Instant::now(), thread_cpu());
    while t0.elapsed() < spec.duration {
        if rxa.rx_burst(&mut burst)? > 0 {
            txb.tx_burst(&mut burst)?;
            // What B would not take now is dropped (counted by the caller
            // as the difference between received and forwarded).
            burst.clear();
        }
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu() - c0);
    let packets = counters(&b)?.rx_packets - before;
    // Sent by the source: queued by tapA, plus dropped at its full queue.
    let offered = sent.load(Ordering::Relaxed) - sent0 + counters(&a)?.tx_dropped - dropped0;
    stop.store(true, Ordering::Relaxed);
    src.join()
        .map_err(|_| HarnessError::Check("traffic source panicked".into()))??;
    rxa.stop()?;
    txb.stop()?;
    let sample = Sample {
        packets,
        secs,
        cpu_secs: cpu,
        drops: counters(&a)?.tx_dropped - dropped0 + rxa.drops() + txb.stats().drops.total(),
        offered: Some(offered),
    };
    Ok(Measured { ran, sample })
}
