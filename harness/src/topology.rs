//! The two-namespace topology the self-test and the TCP benchmark run on:
//! nsA and nsB, each holding one end of a path (a tapring port joined to the
//! other by a forwarder, or a veth pair for the kernel's own ceiling),
//! addressed 198.18.1.1/24 and 198.18.1.2/24.

use crate::backends::{BackendKind, RxModeArg};
use crate::error::HarnessError;
use crate::forward;
use crate::fwd::{PortSpec, open_port};
use crate::sandbox;
use std::process::Command;
use tapring::Pool;
use tapring::{AnyPort, Forwarder};

/// The namespaces.
pub(crate) const NS: [&str; 2] = ["nsA", "nsB"];
/// Their addresses.
pub(crate) const ADDR: [&str; 2] = ["198.18.1.1", "198.18.1.2"];

/// Creates (fresh) nsA and nsB with loopback up and IPv6 off.
fn namespaces() -> Result<(), HarnessError> {
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
    Ok(())
}

/// Deletes nsA and nsB (and with them whatever interfaces they hold).
pub(crate) fn remove_namespaces() {
    for ns in NS {
        let _ = sandbox::ip(&["netns", "del", ns]);
    }
}

/// nsA and nsB joined directly by a veth pair: the kernel's own ceiling
/// for the traffic a forwarder carries. Removed by [`remove_namespaces`].
pub(crate) fn veth_pair() -> Result<(), HarnessError> {
    namespaces()?;
    sandbox::ip(&[
        "link", "add", "trvetha", "netns", NS[0], "type", "veth", "peer", "name", "trvethb",
        "netns", NS[1],
    ])?;
    for (i, (ns, dev)) in NS.iter().zip(["trvetha", "trvethb"]).enumerate() {
        let cidr = format!("{}/24", ADDR[i]);
        sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
        sandbox::ip(&["-n", ns, "link", "set", "dev", dev, "up"])?;
    }
    Ok(())
}

/// Fresh interface names within the sandbox (a closing io_uring TAP can
/// linger under its old name for a moment).
#[derive(Default)]
pub(crate) struct Names(u32);

impl Names {
    /// `prefix` followed by a number not used before.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

/// Runs `cmd ARGS...` and collects its output.
pub(crate) fn command_output(
    cmd: &str,
    args: &[&str],
) -> Result<std::process::Output, HarnessError> {
    Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: e.to_string(),
        })
}

/// `ip netns exec NS ARGS...`, its stdout; an error with stderr if it fails.
pub(crate) fn in_ns(ns: &str, args: &[&str]) -> Result<String, HarnessError> {
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
pub(crate) fn link_names() -> Result<Vec<String>, HarnessError> {
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
pub(crate) struct Topology {
    pool: Pool,
    /// The names of the two ports (A in nsA, B in nsB).
    pub(crate) names: Vec<String>,
    fwd: Option<Forwarder<AnyPort>>,
    /// Offloads negotiated on both ports.
    offload: bool,
}

impl Topology {
    /// Builds nsA and nsB, a tapring port in each (offloads negotiated when
    /// `offload`), addressed, and starts the forwarder between them.
    pub(crate) fn build(
        kind: BackendKind,
        queues: usize,
        offload: bool,
        names: &mut Names,
    ) -> Result<Topology, HarnessError> {
        namespaces()?;
        let pool = forward::pool_for(2, queues, offload)?;
        let mut topo = Topology {
            pool,
            names: Vec::new(),
            fwd: None,
            offload,
        };
        let mut ports = Vec::with_capacity(2);
        for (i, ns) in NS.iter().enumerate() {
            let side = if i == 0 { "a" } else { "b" };
            let o = if offload { "o" } else { "" };
            let name = names.next(&format!("st{}{o}{queues}{side}", kind.name()));
            let spec = PortSpec {
                kind,
                queues,
                rx_mode: RxModeArg::Auto,
                offload,
                port_id: i as u16,
            };
            let port = open_port(&name, &spec, &topo.pool)?;
            ports.push(port);
            topo.names.push(name.clone());
            sandbox::ip(&["link", "set", "dev", &name, "netns", ns])?;
            let cidr = format!("{}/24", ADDR[i]);
            sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            sandbox::ip(&["-n", ns, "link", "set", "dev", &name, "up"])?;
        }
        topo.fwd = Some(Forwarder::start(ports).map_err(|e| HarnessError::Backend(e.to_string()))?);
        Ok(topo)
    }

    /// An error if the forwarder stopped early.
    pub(crate) fn forwarder_alive(&self) -> Result<(), HarnessError> {
        match &self.fwd {
            Some(f) if !f.any_lane_ended() => Ok(()),
            _ => Err(HarnessError::Check("the forwarder stopped early".into())),
        }
    }

    /// Stops the forwarder, closes the ports, deletes the namespaces; a
    /// summary, or what went wrong (lane errors, buffers still in use).
    pub(crate) fn teardown(mut self) -> Result<String, HarnessError> {
        let report = self.fwd.take().map(Forwarder::stop).unwrap_or_default();
        remove_namespaces();
        let errors: Vec<String> = report.errors().map(ToString::to_string).collect();
        if !errors.is_empty() {
            return Err(HarnessError::Check(format!(
                "forwarder: {}",
                errors.join("; ")
            )));
        }
        let in_use = self.pool.stats().in_use;
        if in_use != 0 {
            return Err(HarnessError::Check(format!(
                "{in_use} buffers still in use after close"
            )));
        }
        let (ab, ba) = (report.dirs[0], report.dirs[1]);
        let mut drops = Vec::new();
        for p in 0..2 {
            for rx in [true, false] {
                let s = forward::drop_summary(&report.queue_stats(p, rx));
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
        if self.offload {
            // Offloads on must mean offloaded frames moved: a TCP transfer
            // through TSO-capable ports hands over GSO frames and partial
            // checksums. None at all means the negotiation silently failed.
            let (a, b) = (report.queue_stats(0, true), report.queue_stats(1, true));
            let gso = a.xstats.gso + b.xstats.gso;
            let partial = a.xstats.csum_partial + b.xstats.csum_partial;
            let largest = [a, b].iter().map(|s| s.xstats.size_bins[6]).sum::<u64>();
            if gso == 0 {
                return Err(HarnessError::Check(format!(
                    "offloads on, but no GSO frame was received ({partial} partial checksums)"
                )));
            }
            detail.push_str(&format!(
                "; offloaded Rx: {gso} GSO frames, {partial} partial checksums, {largest} frames > 1518 B"
            ));
        }
        detail.push_str("; pool in use 0");
        Ok(detail)
    }
}
