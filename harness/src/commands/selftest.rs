//! `tapring selftest`: end-to-end checks with the kernel as the oracle.
//!
//! Inside the sandbox (a private network and mount namespace that vanishes
//! with the process), for each backend: two named namespaces nsA and nsB,
//! a TAP created by tapring for each, moved into them and addressed
//! 198.18.1.1/24 and 198.18.1.2/24, joined by the shared forwarding core.
//! Then ping with several sizes, a TCP transfer hashed on both ends,
//! multi-queue forwarders, open/close cycles, and the kernel's checksum
//! error counters.

use crate::error::HarnessError;
use crate::lab::namespaces::{self, ADDR, NS, in_ns};
use crate::lab::ports;
use crate::lab::sandbox::{self, Names, link_names};
use crate::lab::tcp_load::{self, Amount};
use crate::lab::topology::Topology;
use std::time::{Duration, Instant};
use tapring::Backend;
use tapring::device::TapConfig;
use tapring::uring::UringConfig;
use tapring::{Burst, Pool, PoolConfig, RxMode, RxQueue, TxQueue};
use tapring_testkit::udp_frame;

/// Arguments of `tapring selftest`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Runs in a private network namespace (needs CAP_NET_ADMIN and CAP_SYS_ADMIN); \
everything it builds disappears when it ends. Per backend: ping across the \
forwarder with 56, 1000 and 1472-byte payloads (DF set), a TCP transfer \
of 64 MiB (--quick: 8 MiB) whose SHA-256 must match on both ends, the same \
with checksum/TSO offloads negotiated (GSO frames must cross the \
forwarder), the same over 2- and 4-queue forwarders, 100 open/close cycles leaving no fd, \
interface or buffer behind, and the kernel's TCP/UDP checksum error \
counters in both namespaces staying zero. Needs ip (iproute2); pings with \
its own ICMP client (no ping binary). Prints a table; the exit code is non-zero if any check \
fails.")]
pub struct SelftestArgs {
    /// Backends to check: rw (read-write) and uring (io_uring).
    #[arg(long, value_delimiter = ',', default_values = ["read-write", "io_uring"])]
    pub backend: Vec<Backend>,
    /// Smaller transfers (8 MiB instead of 64 MiB; 2 MiB instead of 8 MiB
    /// over multi-queue forwarders).
    #[arg(long)]
    pub quick: bool,
}

const LIFECYCLE_CYCLES: usize = 100;
const MIB: u64 = 1 << 20;
/// A check's detail starting with this marks a warning, not a failure.
const WARN: &str = "warn: ";

/// One row of the result table.
struct Row {
    check: String,
    backend: &'static str,
    ok: bool,
    /// Passed, but with something worth knowing (does not fail the run).
    warn: bool,
    detail: String,
    secs: f64,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Runs `f` as check `check`, timing it, and records the outcome.
    fn check(
        &mut self,
        check: impl Into<String>,
        backend: Backend,
        f: impl FnOnce() -> Result<String, HarnessError>,
    ) -> bool {
        let check = check.into();
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
            ok,
            warn,
            detail,
            secs: t0.elapsed().as_secs_f64(),
        });
        ok
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
                match (r.ok, r.warn) {
                    (true, false) => "pass",
                    (true, true) => "warn",
                    _ => "FAIL",
                },
                r.secs,
                r.detail
            ));
        }
        let failed = self.rows.iter().filter(|r| !r.ok).count();
        let warned = self.rows.iter().filter(|r| r.warn).count();
        out.push_str(&format!(
            "{} checks, {} passed ({warned} with a warning), {failed} failed\n",
            self.rows.len(),
            self.rows.len() - failed
        ));
        out
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

/// One open/use/close cycle of a fresh port.
fn cycle(kind: Backend, name: &str, pool: &Pool) -> Result<(), HarnessError> {
    let cfg = TapConfig::named(name).up(true);
    let mut o = ports::open(kind, &cfg, pool, RxMode::Auto, UringConfig::default(), 0)
        .map_err(|e| HarnessError::Check(format!("open {name}: {e}")))?;
    let mut burst: Burst<8> = Burst::new();
    o.rx[0].rx_burst(&mut burst)?;
    burst.clear();
    if let Some(mut p) = pool.alloc() {
        if p.extend_from_slice(&udp_frame(60, 0, 0)).is_ok() && burst.push(p).is_ok() {
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
fn lifecycle(kind: Backend, names: &mut Names, per_thread: bool) -> Result<String, HarnessError> {
    let pool = Pool::new(PoolConfig::standard(16_384))?;
    let links0 = link_names()?;
    let fds0 = tapring_testkit::open_fd_count();
    let t0 = Instant::now();
    for i in 0..LIFECYCLE_CYCLES {
        let name = names.next(&format!("stlc{}", ports::tag(kind)));
        let r = if per_thread {
            std::thread::scope(|s| {
                s.spawn(|| cycle(kind, &name, &pool))
                    .join()
                    .unwrap_or_else(|_| Err(HarnessError::Check("cycle panicked".into())))
            })
        } else {
            cycle(kind, &name, &pool)
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

/// Builds a topology with `queues` queues per port and runs the checks
/// on it.
fn topology_checks(
    t: &mut Table,
    kind: Backend,
    queues: usize,
    offload: bool,
    pings: &[usize],
    tcp_bytes: u64,
    names: &mut Names,
) {
    let mut prefix = if queues == 1 {
        String::new()
    } else {
        format!("mq{queues} ")
    };
    if offload {
        prefix.push_str("offload ");
    }
    let mut topo = None;
    let built = t.check(format!("{prefix}topology"), kind, || {
        let tp = Topology::build(kind, queues, offload, names)?;
        let detail = format!(
            "{} in nsA {}/24 <-> {} in nsB {}/24, {queues} queue(s)",
            tp.names[0], ADDR[0], tp.names[1], ADDR[1]
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
    t.check(format!("{prefix}tcp {} MiB", tcp_bytes / MIB), kind, || {
        topo.forwarder_alive()?;
        tcp_transfer(tcp_bytes)
    });
    t.check(format!("{prefix}checksum counters"), kind, check_csum);
    t.check(format!("{prefix}teardown"), kind, || topo.teardown());
}

/// Runs every check for every backend and prints the table.
pub fn run(args: &SelftestArgs) -> Result<(), HarnessError> {
    if args.backend.is_empty() {
        return Err(HarnessError::Usage("give at least one backend".into()));
    }
    sandbox::enter()?;
    sandbox::sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    let mut backends = args.backend.clone();
    backends.sort();
    backends.dedup();
    let (tcp, mq_tcp) = if args.quick {
        (8 * MIB, 2 * MIB)
    } else {
        (64 * MIB, 8 * MIB)
    };
    let list: Vec<&str> = backends.iter().map(|b| b.name()).collect();
    println!(
        "tapring selftest: backends {}{}",
        list.join(", "),
        if args.quick { " (quick)" } else { "" }
    );
    let mut table = Table::default();
    let mut names = Names::default();
    let t0 = Instant::now();
    for &kind in &backends {
        topology_checks(
            &mut table,
            kind,
            1,
            false,
            &[56, 1000, 1472],
            tcp,
            &mut names,
        );
        topology_checks(&mut table, kind, 1, true, &[56, 1472], tcp, &mut names);
        for q in [2, 4] {
            topology_checks(&mut table, kind, q, false, &[56, 1472], mq_tcp, &mut names);
        }
        table.check(
            format!("lifecycle x{LIFECYCLE_CYCLES} (thread each)"),
            kind,
            || lifecycle(kind, &mut names, true),
        );
        table.check(
            format!("lifecycle x{LIFECYCLE_CYCLES} (one thread)"),
            kind,
            || lifecycle(kind, &mut names, false),
        );
    }
    print!("{}", table.render());
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
    let failed = table.rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(HarnessError::Check(format!(
            "{failed} of {} self-test checks failed",
            table.rows.len()
        )));
    }
    Ok(())
}
