//! `tapring selftest`: end-to-end checks with the kernel as the oracle.
//!
//! Inside the sandbox (a private network and mount namespace that vanishes
//! with the process), for each backend: two named namespaces nsA and nsB,
//! a TAP (or, with `--mode tun`, a TUN) created by tapring for each, moved
//! into them and addressed 198.18.1.1/24 and 198.18.1.2/24, joined by the
//! shared forwarding core. Then ping with several sizes, ARP across the
//! forwarder (TAP only), a TCP transfer hashed on both ends, multi-queue
//! forwarders, open/close cycles, and the kernel's checksum error
//! counters. A TUN is point-to-point: its /24 routes the peer through it
//! with no neighbour resolution, so the L2-only checks are skipped there,
//! each with a row that says why.

use crate::error::HarnessError;
use crate::lab::namespaces::{self, ADDR, NS, in_ns};
use crate::lab::output::{self, Machine};
use crate::lab::ports;
use crate::lab::sandbox::{self, Names, command_output, link_names};
use crate::lab::tcp_load::{self, Amount};
use crate::lab::topology::{Topology, TopologySpec};
use crate::lab::traffic;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tapring::Backend;
use tapring::device::{DeviceMode, TapConfig};
use tapring::uring::UringConfig;
use tapring::{Burst, Pool, PoolConfig, RxMode, RxQueue, TxQueue};

/// Arguments of `tapring selftest`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Runs in a private network namespace (needs CAP_NET_ADMIN and CAP_SYS_ADMIN); \
everything it builds disappears when it ends. Per backend: ping across the \
forwarder with 56, 1000 and 1472-byte payloads (DF set), a TCP transfer \
of 64 MiB (--quick: 8 MiB) whose SHA-256 must match on both ends, the same \
with checksum/TSO offloads negotiated (GSO frames must cross the \
forwarder), the same with offloads on port A only (the forwarder segments \
A's GSO frames for B in software) and on port B only (it coalesces A's \
TCP segments into GSO frames for B), the same over 2- and 4-queue forwarders, 100 open/close cycles leaving no fd, \
interface or buffer behind, and the kernel's TCP/UDP checksum error \
counters in both namespaces staying zero. In TAP mode ARP must have \
resolved the peer across the forwarder. With --mode tun the same runs over \
TUN devices (IP packets, point-to-point: no ARP, so that check is a \
skipped row saying why). Needs ip (iproute2); pings with its own ICMP \
client (no ping binary). Prints a table; the exit code is non-zero if any \
check fails. --rx-mode nowait,posted,multishot runs every io_uring check \
once in each Rx mode listed (read-write has none and runs once). --json \
FILE writes the same rows and summary as JSON (schema tapring-selftest/1, \
see README).")]
pub struct SelftestArgs {
    /// Backends to check: rw (read-write) and uring (io_uring).
    #[arg(long, value_delimiter = ',', default_values = ["read-write", "io_uring"])]
    pub backend: Vec<Backend>,
    /// Smaller transfers (8 MiB instead of 64 MiB; 2 MiB instead of 8 MiB
    /// over multi-queue forwarders).
    #[arg(long)]
    pub quick: bool,
    /// The device type of the ports: tap (Ethernet frames) or tun (IP
    /// packets, point-to-point).
    #[arg(long, default_value_t = DeviceMode::Tap)]
    pub mode: DeviceMode,
    /// Rx modes of the io_uring backend to run every check in: auto,
    /// nowait, posted, multishot (read-write runs once).
    #[arg(long, value_delimiter = ',', default_values = ["auto"])]
    pub rx_mode: Vec<RxMode>,
    /// Write every row and the summary as JSON to this file (schema in
    /// README), also when a check fails.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Checks the arguments before anything runs (a `--json` file must go
/// into a directory that exists).
pub fn validate(args: &SelftestArgs) -> Result<(), HarnessError> {
    if args.backend.is_empty() {
        return Err(HarnessError::Usage("give at least one backend".into()));
    }
    if args.rx_mode.is_empty() {
        return Err(HarnessError::Usage("give at least one Rx mode".into()));
    }
    if let Some(p) = &args.json {
        output::check_output("json", p)?;
    }
    Ok(())
}

const LIFECYCLE_CYCLES: usize = 100;
const MIB: u64 = 1 << 20;
/// A check's detail starting with this marks a warning, not a failure.
const WARN: &str = "warn: ";

/// One row of the result table.
struct Row {
    check: String,
    backend: &'static str,
    /// The io_uring Rx mode asked for (`None` for read-write).
    rx_mode: Option<&'static str>,
    ok: bool,
    /// Passed, but with something worth knowing (does not fail the run).
    warn: bool,
    /// Not run: it does not apply here (the detail says why).
    skipped: bool,
    detail: String,
    secs: f64,
}

impl Row {
    /// `pass`, `warn`, `skip` or `FAIL`, as the table prints it.
    fn result(&self) -> &'static str {
        match (self.ok, self.warn, self.skipped) {
            (true, _, true) => "skip",
            (true, false, _) => "pass",
            (true, true, _) => "warn",
            _ => "FAIL",
        }
    }
}

/// The counts of the table's last line.
#[derive(Serialize)]
struct Summary {
    checks: usize,
    /// Passed, including those with a warning.
    passed: usize,
    warned: usize,
    skipped: usize,
    failed: usize,
    seconds: f64,
}

/// The JSON document's schema (README's "JSON" section describes it).
const SCHEMA: &str = "tapring-selftest/1";

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    /// The io_uring Rx mode asked for in the checks being recorded: their
    /// rows get it, and their names start with it unless it is `auto`.
    rx_mode: RxMode,
}

impl Table {
    /// Runs `f` as check `check`, timing it, and records the outcome.
    fn check(
        &mut self,
        check: impl Into<String>,
        backend: Backend,
        f: impl FnOnce() -> Result<String, HarnessError>,
    ) -> bool {
        let check = self.label(check.into(), backend);
        tracing::debug!("selftest: {check} ({})", backend.name());
        let t0 = Instant::now();
        let (ok, detail) = match f() {
            Ok(d) => (true, d),
            Err(e) => (false, e.to_string()),
        };
        let warn = ok && detail.starts_with(WARN);
        let detail = detail.trim_start_matches(WARN).to_string();
        self.rows.push(Row {
            check,
            backend: backend.name(),
            rx_mode: self.rx_mode_of(backend),
            ok,
            warn,
            skipped: false,
            detail,
            secs: t0.elapsed().as_secs_f64(),
        });
        ok
    }

    /// Records check `check` as not applying, and why.
    fn skip(&mut self, check: impl Into<String>, backend: Backend, why: impl Into<String>) {
        self.rows.push(Row {
            check: self.label(check.into(), backend),
            backend: backend.name(),
            rx_mode: self.rx_mode_of(backend),
            ok: true,
            warn: false,
            skipped: true,
            detail: why.into(),
            secs: 0.0,
        });
    }

    /// The Rx mode of `backend`'s rows now: none for read-write.
    fn rx_mode_of(&self, backend: Backend) -> Option<&'static str> {
        match backend {
            Backend::ReadWrite => None,
            _ => Some(ports::rx_mode_name(self.rx_mode)),
        }
    }

    /// A check's name in its row: led by the Rx mode when it is not auto.
    fn label(&self, check: String, backend: Backend) -> String {
        match self.rx_mode_of(backend) {
            Some(mode) if mode != "auto" => format!("{mode} Rx: {check}"),
            _ => check,
        }
    }

    fn render(&self) -> String {
        let w = |f: &dyn Fn(&Row) -> usize, min: usize| {
            self.rows.iter().map(f).max().unwrap_or(0).max(min)
        };
        let (wc, wb) = (w(&|r| r.check.len(), 5), w(&|r| r.backend.len(), 7));
        let mut out = format!(
            "{:wc$}  {:wb$}  {:6}  {:>9}  detail\n",
            "check", "backend", "result", "duration"
        );
        for r in &self.rows {
            out.push_str(&format!(
                "{:wc$}  {:wb$}  {:6}  {:>7.2} s  {}\n",
                r.check,
                r.backend,
                r.result(),
                r.secs,
                r.detail
            ));
        }
        let s = self.summary(0.0);
        out.push_str(&format!(
            "{} checks, {} passed ({} with a warning), {} skipped, {} failed\n",
            s.checks, s.passed, s.warned, s.skipped, s.failed
        ));
        out
    }

    fn summary(&self, seconds: f64) -> Summary {
        let failed = self.rows.iter().filter(|r| !r.ok).count();
        let skipped = self.rows.iter().filter(|r| r.skipped).count();
        Summary {
            checks: self.rows.len(),
            passed: self.rows.len() - failed - skipped,
            warned: self.rows.iter().filter(|r| r.warn).count(),
            skipped,
            failed,
            seconds,
        }
    }

    /// Writes `{schema, environment, mode, quick, rows, summary}`.
    fn write_json(
        &self,
        path: &std::path::Path,
        args: &SelftestArgs,
        seconds: f64,
    ) -> Result<(), HarnessError> {
        #[derive(Serialize)]
        struct RowDoc<'a> {
            check: &'a str,
            backend: &'static str,
            /// The io_uring Rx mode asked for; null for read-write.
            rx_mode: Option<&'static str>,
            /// pass, warn, skip or FAIL.
            result: &'static str,
            ok: bool,
            detail: &'a str,
            seconds: f64,
        }
        #[derive(Serialize)]
        struct Doc<'a> {
            schema: &'static str,
            environment: Machine,
            #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
            mode: DeviceMode,
            quick: bool,
            backends: Vec<&'static str>,
            rows: Vec<RowDoc<'a>>,
            summary: Summary,
        }
        let mut backends: Vec<&'static str> = self.rows.iter().map(|r| r.backend).collect();
        backends.dedup();
        let doc = Doc {
            schema: SCHEMA,
            environment: Machine::read(),
            mode: args.mode,
            quick: args.quick,
            backends,
            rows: self
                .rows
                .iter()
                .map(|r| RowDoc {
                    check: &r.check,
                    backend: r.backend,
                    rx_mode: r.rx_mode,
                    result: r.result(),
                    ok: r.ok,
                    detail: &r.detail,
                    seconds: r.secs,
                })
                .collect(),
            summary: self.summary(seconds),
        };
        output::write_json(path, &doc)
    }
}

/// Pings B from A with `size` bytes of payload (DF set): every echo must
/// come back. tapring-testkit's ICMP client, not the `ping` binary: like
/// `ping -c 3 -i 0.2 -W 2 -s SIZE -M do`.
fn ping(size: usize) -> Result<String, HarnessError> {
    let dst: std::net::Ipv4Addr = ADDR[1].parse().expect("ADDR[1] is an IPv4 address");
    let report = tapring_testkit::ping_in_netns(
        Some(NS[0]),
        dst,
        size,
        3,
        Duration::from_millis(200),
        Duration::from_secs(2),
    )
    .map_err(|e| HarnessError::Check(format!("ping -s {size}: {e}")))?;
    if report.all_replied() {
        Ok(report.to_string())
    } else {
        Err(HarnessError::Check(format!("ping -s {size}: {report}")))
    }
}

/// After a ping, nsA's neighbour entry for nsB's address must hold a MAC:
/// ARP crossed the forwarder both ways (the request as a broadcast, the
/// reply as unicast).
fn check_arp() -> Result<String, HarnessError> {
    let args = ["-n", NS[0], "neigh", "show", ADDR[1]];
    let out = command_output("ip", &args)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let entry = text.lines().next().unwrap_or("").trim();
    if !out.status.success() || !entry.contains("lladdr") {
        return Err(HarnessError::Check(format!(
            "nsA has no resolved neighbour {}: `ip {}` says {entry:?}",
            ADDR[1],
            args.join(" ")
        )));
    }
    Ok(format!("nsA: {entry}"))
}

/// Why the ARP check does not apply to TUN ports.
const NO_ARP_ON_TUN: &str = "skipped: TUN is point-to-point (IP packets, no MAC, no ARP); \
     the /24 routes the peer through it";

/// Sends `bytes` from nsA to nsB over TCP, hashed on both ends.
fn tcp_transfer(bytes: u64) -> Result<String, HarnessError> {
    let t = tcp_load::transfer(Amount::Verified(bytes))?;
    let hex: String = t
        .sha256
        .map(|h| h[..6].iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default();
    Ok(format!(
        "{} bytes, SHA-256 {hex}... equal, {:.1} MB/s",
        t.bytes,
        t.bytes as f64 / 1e6 / t.secs.max(1e-9)
    ))
}

/// TCP and UDP InCsumErrors from `/proc/net/snmp` in namespace `ns`.
fn csum_errors(ns: &str) -> Result<(u64, u64), HarnessError> {
    let snmp = in_ns(ns, &["cat", "/proc/net/snmp"])?;
    let field = |proto: &str| -> Result<u64, HarnessError> {
        let prefix = format!("{proto}:");
        let mut lines = snmp.lines().filter(|l| l.starts_with(&prefix));
        let (Some(head), Some(vals)) = (lines.next(), lines.next()) else {
            return Err(HarnessError::Check(format!(
                "no {proto} lines in /proc/net/snmp"
            )));
        };
        head.split_whitespace()
            .zip(vals.split_whitespace())
            .find(|(k, _)| *k == "InCsumErrors")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| HarnessError::Check(format!("no {proto} InCsumErrors")))
    };
    Ok((field("Tcp")?, field("Udp")?))
}

fn check_csum() -> Result<String, HarnessError> {
    let mut parts = Vec::new();
    for ns in NS {
        let (tcp, udp) = csum_errors(ns)?;
        if tcp != 0 || udp != 0 {
            return Err(HarnessError::Check(format!(
                "{ns}: TcpInCsumErrors {tcp}, UdpInCsumErrors {udp}"
            )));
        }
        parts.push(format!("{ns} tcp 0 udp 0"));
    }
    Ok(format!("InCsumErrors: {}", parts.join(", ")))
}

/// `", Rx mode M"`, M being the io_uring Rx mode a port's queues run in
/// (`ran`; nothing for read-write), or an error if that is not the mode
/// asked for (`asked`, unless `auto`).
fn ran_in(ran: Option<RxMode>, asked: RxMode) -> Result<String, HarnessError> {
    match ran {
        None => Ok(String::new()),
        Some(m) if asked == RxMode::Auto || m == asked => {
            Ok(format!(", Rx mode {}", ports::rx_mode_name(m)))
        }
        Some(m) => Err(HarnessError::Check(format!(
            "asked for Rx mode {}, the queues run in {}",
            ports::rx_mode_name(asked),
            ports::rx_mode_name(m)
        ))),
    }
}

/// One open/use/close cycle of a fresh port of `mode`.
fn cycle(
    kind: Backend,
    rx_mode: RxMode,
    mode: DeviceMode,
    name: &str,
    pool: &Pool,
) -> Result<(), HarnessError> {
    let cfg = TapConfig::named(name).mode(mode).up(true);
    let mut o = ports::open(kind, &cfg, pool, rx_mode, UringConfig::default(), 0)
        .map_err(|e| HarnessError::Check(format!("open {name}: {e}")))?;
    ran_in(o.rx.first().and_then(|q| q.mode()), rx_mode)?;
    let mut burst: Burst<8> = Burst::new();
    o.rx[0].rx_burst(&mut burst)?;
    burst.clear();
    if let Some(mut p) = pool.alloc() {
        let packet = traffic::packet(mode, 60, 0, 0);
        if p.extend_from_slice(&packet).is_ok() && burst.push(p).is_ok() {
            o.tx[0].tx_burst(&mut burst)?;
        }
        burst.clear();
    }
    o.tx[0].stop()?;
    o.rx[0].stop()?;
    drop(o);
    Ok(())
}

/// Opens, uses and closes a port `LIFECYCLE_CYCLES` times, then checks
/// that no fd, interface or buffer is left. With `per_thread`, each cycle
/// runs in a thread of its own that then exits (as the forwarder's lanes
/// do); otherwise all run in this long-lived thread. Either way every
/// interface must be gone after a bounded wait (a closing io_uring TAP can
/// linger a moment while the ring tears down).
fn lifecycle(
    kind: Backend,
    rx_mode: RxMode,
    mode: DeviceMode,
    names: &mut Names,
    per_thread: bool,
) -> Result<String, HarnessError> {
    let pool = Pool::new(PoolConfig::standard(16_384))?;
    let links0 = link_names()?;
    let fds0 = tapring_testkit::open_fd_count();
    let t0 = Instant::now();
    for i in 0..LIFECYCLE_CYCLES {
        let name = names.next(&format!("stlc{}", ports::tag(kind)));
        let r = if per_thread {
            std::thread::scope(|s| {
                s.spawn(|| cycle(kind, rx_mode, mode, &name, &pool))
                    .join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("cycle panicked".into())))
            })
        } else {
            cycle(kind, rx_mode, mode, &name, &pool)
        };
        r.map_err(|e| HarnessError::Check(format!("cycle {i}: {e}")))?;
    }
    let per_cycle = t0.elapsed().as_secs_f64() * 1e3 / LIFECYCLE_CYCLES as f64;
    // A closing io_uring TAP can linger a moment: wait, bounded.
    let wait0 = Instant::now();
    let mut links = link_names()?;
    while links != links0 && wait0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        links = link_names()?;
    }
    let waited = wait0.elapsed().as_secs_f64() * 1e3;
    let fds = tapring_testkit::open_fd_count();
    let in_use = pool.stats().in_use;
    let mut bad = Vec::new();
    let extra: Vec<&String> = links.iter().filter(|l| !links0.contains(l)).collect();
    if !extra.is_empty() {
        bad.push(format!("interfaces left after {waited:.0} ms: {extra:?}"));
    }
    if fds != fds0 {
        bad.push(format!("fds {fds0} before, {fds} after"));
    }
    if in_use != 0 {
        bad.push(format!("{in_use} buffers in use"));
    }
    if !bad.is_empty() {
        return Err(HarnessError::Check(bad.join("; ")));
    }
    let summary = format!(
        "{LIFECYCLE_CYCLES} cycles, {per_cycle:.1} ms each; fds {fds0}->{fds}; pool in use 0"
    );
    Ok(format!(
        "{summary}; no interface left (after {waited:.0} ms)"
    ))
}

/// What one topology is built with and checked by.
struct TopologyPlan<'a> {
    queues: usize,
    /// Offloads on port A (nsA, the TCP sender's) and on port B: with
    /// one only, the forwarder segments (A's GSO frames for B) or
    /// coalesces (A's segments for B) in software.
    offload: [bool; 2],
    /// Ping payload sizes.
    pings: &'a [usize],
    tcp_bytes: u64,
}

/// Builds a topology with `queues` queues per port of `mode` and runs the
/// checks on it.
fn topology_checks(
    t: &mut Table,
    kind: Backend,
    rx_mode: RxMode,
    mode: DeviceMode,
    plan: &TopologyPlan<'_>,
    names: &mut Names,
) {
    let TopologyPlan {
        queues,
        offload,
        pings,
        tcp_bytes,
    } = *plan;
    let mut prefix = if queues == 1 {
        String::new()
    } else {
        format!("mq{queues} ")
    };
    match offload {
        [true, true] => prefix.push_str("offload "),
        [true, false] => prefix.push_str("offload A (gso) "),
        [false, true] => prefix.push_str("offload B (gro) "),
        [false, false] => {}
    }
    let mut topo = None;
    let built = t.check(format!("{prefix}topology"), kind, || {
        let spec = TopologySpec {
            offload,
            rx_mode,
            ..TopologySpec::new(kind, queues, false, mode)
        };
        let tp = Topology::build(&spec, names)?;
        let detail = format!(
            "{mode} {} in nsA {}/24 <-> {} in nsB {}/24, {queues} queue(s){}",
            tp.names[0],
            ADDR[0],
            tp.names[1],
            ADDR[1],
            ran_in(tp.rx_mode(), rx_mode)?
        );
        topo = Some(tp);
        Ok(detail)
    });
    let Some(topo) = topo.filter(|_| built) else {
        namespaces::remove();
        return;
    };
    for &size in pings {
        t.check(format!("{prefix}ping -s {size}"), kind, || {
            topo.forwarder_alive()?;
            ping(size)
        });
    }
    match mode {
        DeviceMode::Tun => t.skip(format!("{prefix}arp"), kind, NO_ARP_ON_TUN),
        _ => {
            t.check(format!("{prefix}arp"), kind, check_arp);
        }
    }
    t.check(format!("{prefix}tcp {} MiB", tcp_bytes / MIB), kind, || {
        topo.forwarder_alive()?;
        tcp_transfer(tcp_bytes)
    });
    t.check(format!("{prefix}checksum counters"), kind, check_csum);
    t.check(format!("{prefix}teardown"), kind, || topo.teardown());
}

/// Runs every check for every backend and prints the table.
pub fn run(args: &SelftestArgs) -> Result<(), HarnessError> {
    validate(args)?;
    sandbox::enter()?;
    sandbox::sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    // `auto` as what it picks here, so that its rows say what ran.
    let mut backends: Vec<Backend> = args
        .backend
        .iter()
        .map(|&b| match b {
            Backend::Auto if tapring::uring::probe().usable() => Backend::IoUring,
            Backend::Auto => Backend::ReadWrite,
            b => b,
        })
        .collect();
    backends.sort();
    backends.dedup();
    let mut rx_modes = args.rx_mode.clone();
    rx_modes.sort_by_key(|&m| ports::rx_mode_name(m));
    rx_modes.dedup();
    let (tcp, mq_tcp) = if args.quick {
        (8 * MIB, 2 * MIB)
    } else {
        (64 * MIB, 8 * MIB)
    };
    let list: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    let modes: Vec<&str> = rx_modes.iter().map(|&m| ports::rx_mode_name(m)).collect();
    let modes = if backends.iter().all(|&b| b == Backend::ReadWrite) {
        String::new()
    } else {
        format!(
            ", io_uring Rx mode{} {}",
            if modes.len() == 1 { "" } else { "s" },
            modes.join(", ")
        )
    };
    println!(
        "tapring selftest: backends {}, {} mode{modes}{}",
        list.join(", "),
        args.mode,
        if args.quick { " (quick)" } else { "" }
    );
    let mut table = Table::default();
    let mut names = Names::default();
    let t0 = Instant::now();
    let plans = [
        TopologyPlan {
            queues: 1,
            offload: [false; 2],
            pings: &[56, 1000, 1472],
            tcp_bytes: tcp,
        },
        TopologyPlan {
            queues: 1,
            offload: [true; 2],
            pings: &[56, 1472],
            tcp_bytes: tcp,
        },
        TopologyPlan {
            queues: 1,
            offload: [true, false],
            pings: &[56, 1472],
            tcp_bytes: tcp,
        },
        TopologyPlan {
            queues: 1,
            offload: [false, true],
            pings: &[56, 1472],
            tcp_bytes: tcp,
        },
        TopologyPlan {
            queues: 2,
            offload: [false; 2],
            pings: &[56, 1472],
            tcp_bytes: mq_tcp,
        },
        TopologyPlan {
            queues: 4,
            offload: [false; 2],
            pings: &[56, 1472],
            tcp_bytes: mq_tcp,
        },
    ];
    for &kind in &backends {
        // Read-write has no Rx modes: it runs once.
        let rx_modes = match kind {
            Backend::ReadWrite => &[RxMode::Auto][..],
            _ => &rx_modes[..],
        };
        for &rx_mode in rx_modes {
            table.rx_mode = rx_mode;
            for plan in &plans {
                topology_checks(&mut table, kind, rx_mode, args.mode, plan, &mut names);
            }
            table.check(
                format!("lifecycle x{LIFECYCLE_CYCLES} (thread each)"),
                kind,
                || lifecycle(kind, rx_mode, args.mode, &mut names, true),
            );
            table.check(
                format!("lifecycle x{LIFECYCLE_CYCLES} (one thread)"),
                kind,
                || lifecycle(kind, rx_mode, args.mode, &mut names, false),
            );
        }
    }
    print!("{}", table.render());
    let total = t0.elapsed().as_secs_f64();
    println!("total {total:.1} s");
    if let Some(path) = &args.json {
        table.write_json(path, args, total)?;
        println!("rows written to {}", path.display());
    }
    let failed = table.rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(HarnessError::Check(format!(
            "{failed} of {} self-test checks failed",
            table.rows.len()
        )));
    }
    Ok(())
}
