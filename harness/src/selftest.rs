//! `tapring selftest`: end-to-end checks with the kernel as the oracle.
//!
//! Inside the sandbox (a private network and mount namespace that vanishes
//! with the process), for each backend: two named namespaces nsA and nsB,
//! a TAP created by tapring for each, moved into them and addressed
//! 198.18.1.1/24 and 198.18.1.2/24, joined by the shared forwarding core.
//! Then ping with several sizes, a TCP transfer hashed on both ends,
//! multi-queue forwarders, open/close cycles, and the kernel's checksum
//! error counters.

use crate::backends::{self, BackendKind, Opened, RxModeArg};
use crate::error::HarnessError;
use crate::forward::{self, Forwarder};
use crate::frames::udp_frame;
use crate::fwd::open_port;
use crate::sandbox;
use nix::sched::{CloneFlags, setns};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tapring::tap::TapConfig;
use tapring::{Burst, Pool, PoolConfig, RxMode};

/// Arguments of `tapring selftest`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Runs in a private network namespace (needs CAP_NET_ADMIN and CAP_SYS_ADMIN); \
everything it builds disappears when it ends. Per backend: ping across the \
forwarder with 56, 1000 and 1472-byte payloads (DF set), a TCP transfer \
of 64 MiB (--quick: 8 MiB) whose SHA-256 must match on both ends, the same \
over 2- and 4-queue forwarders, 100 open/close cycles leaving no fd, \
interface or buffer behind, and the kernel's TCP/UDP checksum error \
counters in both namespaces staying zero. Needs ping (iputils-ping) and \
ip (iproute2). Prints a table; the exit code is non-zero if any check \
fails.")]
pub struct SelftestArgs {
    /// Backends to check.
    #[arg(long, value_delimiter = ',', default_values = ["tap", "uring"])]
    pub backend: Vec<BackendKind>,
    /// Smaller transfers (8 MiB instead of 64 MiB; 2 MiB instead of 8 MiB
    /// over multi-queue forwarders).
    #[arg(long)]
    pub quick: bool,
}

const NS: [&str; 2] = ["nsA", "nsB"];
const ADDR: [&str; 2] = ["198.18.1.1", "198.18.1.2"];
const TCP_PORT: u16 = 5201;
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
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
        backend: BackendKind,
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

/// Fresh interface names within the sandbox (a closing io_uring TAP can
/// linger under its old name for a moment).
#[derive(Default)]
struct Names(u32);

impl Names {
    fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

fn command_output(cmd: &str, args: &[&str]) -> Result<std::process::Output, HarnessError> {
    Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: e.to_string(),
        })
}

/// `ip netns exec NS ARGS...`, its stdout; an error with stderr if it fails.
fn in_ns(ns: &str, args: &[&str]) -> Result<String, HarnessError> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    let out = command_output("ip", &full)?;
    if !out.status.success() {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        return Err(HarnessError::Command {
            cmd: format!("ip {}", full.join(" ")),
            detail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Interface names in the sandbox's root namespace (`ip -o link`).
fn link_names() -> Result<Vec<String>, HarnessError> {
    let out = command_output("ip", &["-o", "link"])?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// The two namespaces, two ports moved into them, and a forwarder.
struct Topology {
    pool: Pool,
    ports: Vec<Opened>,
    fwd: Option<Forwarder>,
}

impl Topology {
    fn build(
        kind: BackendKind,
        queues: usize,
        names: &mut Names,
    ) -> Result<Topology, HarnessError> {
        for ns in NS {
            let _ = sandbox::ip(&["netns", "del", ns]);
            sandbox::ip(&["netns", "add", ns])?;
            // Quiet namespaces: no IPv6 chatter through the forwarder.
            let _ = in_ns(
                ns,
                &[
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
                ],
            );
            sandbox::ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let pool = forward::pool_for(2, queues)?;
        let mut topo = Topology {
            pool,
            ports: Vec::new(),
            fwd: None,
        };
        for (i, ns) in NS.iter().enumerate() {
            let side = if i == 0 { "a" } else { "b" };
            let name = names.next(&format!("st{}{queues}{side}", kind.name()));
            let port = open_port(kind, &name, queues, &topo.pool, RxModeArg::Auto, i as u16)?;
            topo.ports.push(port);
            sandbox::ip(&["link", "set", "dev", &name, "netns", ns])?;
            let cidr = format!("{}/24", ADDR[i]);
            sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            sandbox::ip(&["-n", ns, "link", "set", "dev", &name, "up"])?;
        }
        topo.fwd = Some(Forwarder::start(
            &mut topo.ports,
            Arc::new(AtomicBool::new(false)),
        )?);
        Ok(topo)
    }

    fn forwarder_alive(&self) -> Result<(), HarnessError> {
        match &self.fwd {
            Some(f) if !f.any_lane_ended() => Ok(()),
            _ => Err(HarnessError::Check("the forwarder stopped early".into())),
        }
    }

    /// Stops the forwarder, closes the ports, deletes the namespaces; a
    /// summary, or what went wrong (lane errors, buffers still in use).
    fn teardown(mut self) -> Result<String, HarnessError> {
        let report = self.fwd.take().map(Forwarder::finish).unwrap_or_default();
        self.ports.clear();
        for ns in NS {
            let _ = sandbox::ip(&["netns", "del", ns]);
        }
        if !report.errors.is_empty() {
            return Err(HarnessError::Check(format!(
                "forwarder: {}",
                report.errors.join("; ")
            )));
        }
        let in_use = self.pool.stats().in_use;
        if in_use != 0 {
            return Err(HarnessError::Check(format!(
                "{in_use} buffers still in use after close"
            )));
        }
        let [ab, ba] = report.dirs;
        let mut drops = Vec::new();
        for p in 0..2 {
            for rx in [true, false] {
                let s = forward::drop_summary(&report.port_stats(p, rx));
                if s != "none" {
                    drops.push(format!(
                        "{}{}: {s}",
                        ["A", "B"][p],
                        if rx { " rx" } else { " tx" }
                    ));
                }
            }
        }
        let mut detail = format!(
            "A->B {} pkts, B->A {} pkts, tx-full {}, drops: {}",
            ab.packets,
            ba.packets,
            ab.tx_full + ba.tx_full,
            if drops.is_empty() {
                "none".into()
            } else {
                drops.join(", ")
            }
        );
        if report.lanes.len() > 1 {
            let per: Vec<String> = report
                .lanes
                .iter()
                .map(|l| format!("q{}:{}/{}", l.queue, l.rx[0].packets, l.rx[1].packets))
                .collect();
            detail.push_str(&format!("; rx per queue (A/B) {}", per.join(" ")));
        }
        detail.push_str("; pool in use 0");
        Ok(detail)
    }
}

/// Pings B from A with `size` bytes of payload (DF set): every echo must
/// come back.
fn ping(size: usize) -> Result<String, HarnessError> {
    let size = size.to_string();
    let out = command_output(
        "ip",
        &[
            "netns", "exec", NS[0], "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10",
            "-s", &size, "-M", "do", ADDR[1],
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .to_string();
    let rtt = text
        .lines()
        .find(|l| l.starts_with("rtt"))
        .and_then(|l| l.split('=').nth(1))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    let count = |what: &str| -> Option<u32> {
        summary
            .split(',')
            .find(|p| p.contains(what))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    match (count("transmitted"), count("received")) {
        (Some(t), Some(r)) if t > 0 && t == r && out.status.success() => {
            Ok(format!("{r}/{t} replies, rtt min/avg/max/mdev {rtt}"))
        }
        _ => {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(HarnessError::Check(format!(
                "ping -s {size}: {} {err}",
                if summary.is_empty() {
                    "no summary"
                } else {
                    &summary
                }
            )))
        }
    }
}

/// Moves the calling thread into named namespace `ns` (a thread's network
/// namespace is its own).
fn enter_ns(ns: &str) -> Result<(), String> {
    let f =
        std::fs::File::open(format!("/run/netns/{ns}")).map_err(|e| format!("open {ns}: {e}"))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {ns}: {e}"))
}

/// xorshift64*: a deterministic pseudo-random byte stream.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

type Side = Result<(u64, [u8; 32]), String>;

fn receiver(ready: mpsc::Sender<Result<(), String>>, deadline: Instant) -> Side {
    let setup = || -> Result<TcpListener, String> {
        enter_ns(NS[1])?;
        let l = TcpListener::bind((ADDR[1], TCP_PORT)).map_err(|e| format!("listen: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(l)
    };
    let listener = match setup() {
        Ok(l) => {
            let _ = ready.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("no connection before the deadline".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut total, mut hash) = (0u64, Sha256::new());
    loop {
        if Instant::now() >= deadline {
            return Err(format!("receiver: deadline passed after {total} bytes"));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hash.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("receiver: read after {total} bytes: {e}")),
        }
    }
    Ok((total, hash.finalize().into()))
}

fn sender(bytes: u64, deadline: Instant) -> Side {
    enter_ns(NS[0])?;
    let addr = SocketAddr::new(ADDR[1].parse().map_err(|_| "address")?, TCP_PORT);
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut stream_gen = Stream(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut sent, mut hash) = (0u64, Sha256::new());
    while sent < bytes {
        if Instant::now() >= deadline {
            return Err(format!("sender: deadline passed after {sent} bytes"));
        }
        let n = (bytes - sent).min(buf.len() as u64) as usize;
        stream_gen.fill(&mut buf[..n]);
        stream
            .write_all(&buf[..n])
            .map_err(|e| format!("sender: write after {sent} bytes: {e}"))?;
        hash.update(&buf[..n]);
        sent += n as u64;
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    // Wait for the receiver to close (all data read), bounded.
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.read(&mut buf[..1]);
    Ok((sent, hash.finalize().into()))
}

/// Sends `bytes` from nsA to nsB over TCP; both ends hash the stream.
fn tcp_transfer(bytes: u64) -> Result<String, HarnessError> {
    let t0 = Instant::now();
    let deadline = t0 + TCP_TIMEOUT;
    let (ready_tx, ready_rx) = mpsc::channel();
    let rx = std::thread::Builder::new()
        .name("st-recv".into())
        .spawn(move || receiver(ready_tx, deadline))
        .map_err(|e| HarnessError::Check(format!("spawn receiver: {e}")))?;
    match ready_rx.recv_timeout(IO_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = rx.join();
            return Err(HarnessError::Check(format!("receiver: {e}")));
        }
        Err(_) => {
            // The receiver's accept loop ends by the deadline.
            let _ = rx.join();
            return Err(HarnessError::Check(
                "receiver did not start listening".into(),
            ));
        }
    }
    let tx = std::thread::Builder::new()
        .name("st-send".into())
        .spawn(move || sender(bytes, deadline))
        .map_err(|e| HarnessError::Check(format!("spawn sender: {e}")))?;
    let sent = tx.join().unwrap_or_else(|_| Err("sender panicked".into()));
    let got = rx
        .join()
        .unwrap_or_else(|_| Err("receiver panicked".into()));
    let secs = t0.elapsed().as_secs_f64();
    let (sent, got) = match (sent, got) {
        (Ok(s), Ok(g)) => (s, g),
        (Err(e), _) | (_, Err(e)) => return Err(HarnessError::Check(e)),
    };
    if sent.0 != bytes || got.0 != bytes {
        return Err(HarnessError::Check(format!(
            "byte count: sent {}, received {}, expected {bytes}",
            sent.0, got.0
        )));
    }
    if sent.1 != got.1 {
        return Err(HarnessError::Check(
            "SHA-256 of sent and received streams differ".into(),
        ));
    }
    let hex: String = got.1[..6].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{bytes} bytes, SHA-256 {hex}... equal, {:.1} MB/s",
        bytes as f64 / 1e6 / secs.max(1e-9)
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
fn cycle(kind: BackendKind, name: &str, pool: &Pool) -> Result<(), HarnessError> {
    let cfg = TapConfig {
        up: true,
        ..TapConfig::named(name)
    };
    let mut o = backends::open(
        kind,
        &cfg,
        pool,
        RxMode::Auto,
        backends::UringTuning::default(),
        0,
    )
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
fn lifecycle(
    kind: BackendKind,
    names: &mut Names,
    per_thread: bool,
) -> Result<String, HarnessError> {
    let pool = Pool::new(PoolConfig::standard(16_384))?;
    let links0 = link_names()?;
    let fds0 = tapring::tap::testkit::open_fd_count();
    let t0 = Instant::now();
    for i in 0..LIFECYCLE_CYCLES {
        let name = names.next(&format!("stlc{}", kind.name()));
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
    let fds = tapring::tap::testkit::open_fd_count();
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
    kind: BackendKind,
    queues: usize,
    pings: &[usize],
    tcp_bytes: u64,
    names: &mut Names,
) {
    let prefix = if queues == 1 {
        String::new()
    } else {
        format!("mq{queues} ")
    };
    let mut topo = None;
    let built = t.check(format!("{prefix}topology"), kind, || {
        let tp = Topology::build(kind, queues, names)?;
        let detail = format!(
            "{} in nsA {}/24 <-> {} in nsB {}/24, {queues} queue(s)",
            tp.ports[0].name, ADDR[0], tp.ports[1].name, ADDR[1]
        );
        topo = Some(tp);
        Ok(detail)
    });
    let Some(topo) = topo.filter(|_| built) else {
        for ns in NS {
            let _ = sandbox::ip(&["netns", "del", ns]);
        }
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
        topology_checks(&mut table, kind, 1, &[56, 1000, 1472], tcp, &mut names);
        for q in [2, 4] {
            topology_checks(&mut table, kind, q, &[56, 1472], mq_tcp, &mut names);
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
