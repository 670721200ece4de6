//! The two-namespace topology the self-test and the TCP benchmark run on:
//! nsA and nsB (see [`namespaces`](super::namespaces)), each holding one
//! tapring port, joined by the library's forwarder (or by the tokio
//! forwarder, or two plain devices joined by the baseline forwarder).
//!
//! The ports are TAP or TUN devices (`mode`), addressed alike: a TUN is
//! point-to-point (no ARP, no MAC), and its /24 gives the peer a connected
//! route through it, so the same addresses reach across either.

use crate::error::HarnessError;
use crate::lab::forwarder_setup::{self, PortSpec, open_forwarding_port};
use crate::lab::namespaces::{self, ADDR, NS};
use crate::lab::plain_forwarder::PlainForwarder;
use crate::lab::ports;
use crate::lab::sandbox::{self, Names};
use crate::lab::tokio_forwarder::{Flavor, TokioForwarder};
use tapring::Backend;
use tapring::Pool;
use tapring::PortBuilder;
use tapring::RxMode;
use tapring::device::{DeviceMode, TapDevice};
use tapring::{AnyPort, Forwarder};

/// The two namespaces, two TAP (or TUN) devices moved into them, and the
/// plain read()/write() forwarder between them: the baseline.
pub struct PlainTopology {
    fwd: Option<PlainForwarder>,
    // Held until the forwarder stops (its threads own duplicates of the
    // queue fds, so the devices live as long as either); in nsA and nsB.
    devices: Vec<TapDevice>,
}

impl PlainTopology {
    /// Builds nsA and nsB, a device of `mode` in each (offloads negotiated
    /// when `offload`, as a tapring forwarder's ports), addressed, and
    /// starts the plain forwarder between them (it passes packet and
    /// virtio-net header on unchanged, so it serves both modes).
    pub fn build(
        offload: bool,
        mode: DeviceMode,
        names: &mut Names,
    ) -> Result<PlainTopology, HarnessError> {
        namespaces::create()?;
        let mut devices = Vec::with_capacity(2);
        for (i, ns) in NS.iter().enumerate() {
            let side = if i == 0 { "a" } else { "b" };
            let o = if offload { "o" } else { "" };
            let name = names.next(&format!("stpl{o}{side}"));
            let cfg = forwarder_setup::forwarding_device(&name, 1, offload, mode);
            let dev =
                TapDevice::open(&cfg).map_err(|e| HarnessError::Backend(format!("{name}: {e}")))?;
            sandbox::ip(&["link", "set", "dev", &name, "netns", ns])?;
            let cidr = format!("{}/24", ADDR[i]);
            sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            sandbox::ip(&["-n", ns, "link", "set", "dev", &name, "up"])?;
            devices.push(dev);
        }
        let fwd = PlainForwarder::start(&devices[0], &devices[1], false)?;
        Ok(PlainTopology {
            fwd: Some(fwd),
            devices,
        })
    }

    /// Stops the forwarder, closes the devices, deletes the namespaces.
    pub fn teardown(mut self) -> Result<[u64; 2], HarnessError> {
        // Deleting the devices wakes the forwarder's threads from `read`.
        let links: Vec<(Option<&str>, &str)> = NS
            .iter()
            .zip(&self.devices)
            .map(|(ns, d)| (Some(*ns), d.name()))
            .collect();
        let totals = self
            .fwd
            .take()
            .map(|f| f.stop(|| sandbox::delete_links(&links)));
        namespaces::remove();
        totals.map_or(Ok([0, 0]), |t| t.map(|t| t.frames))
    }
}

/// The two namespaces, two ports moved into them, and a forwarder.
pub struct Topology {
    pool: Pool,
    /// The names of the two ports (A in nsA, B in nsB).
    pub names: Vec<String>,
    fwd: Option<Forwarder<AnyPort>>,
    /// Offloads negotiated on port A (nsA) and port B (nsB).
    offload: [bool; 2],
    /// Software GRO allowed in the forwarder.
    gro: bool,
    /// The backend the ports were opened with.
    backend: Backend,
    /// The io_uring Rx mode their Rx queues run in (`None`: read-write).
    rx_mode: Option<RxMode>,
}

/// What a [`Topology`] is built with.
#[derive(Clone, Copy, Debug)]
pub struct TopologySpec {
    /// The backend of both ports.
    pub backend: Backend,
    /// Queues per port (one forwarding lane each).
    pub queues: usize,
    /// Offloads negotiated on port A (nsA) and port B (nsB).
    pub offload: [bool; 2],
    /// Software GRO allowed in the forwarder (it runs from a port without
    /// offloads to one with them).
    pub gro: bool,
    /// TAP or TUN ports.
    pub mode: DeviceMode,
    /// The Rx mode of io_uring ports (read-write ports have none).
    pub rx_mode: RxMode,
}

impl TopologySpec {
    /// `queues` queues per port of `mode`, offloads on both ports or
    /// neither, GRO allowed, the Rx mode chosen by the backend.
    pub fn new(backend: Backend, queues: usize, offload: bool, mode: DeviceMode) -> TopologySpec {
        TopologySpec {
            backend,
            queues,
            offload: [offload; 2],
            gro: true,
            mode,
            rx_mode: RxMode::Auto,
        }
    }
}

impl Topology {
    /// Builds nsA and nsB, a tapring port in each as `spec` says,
    /// addressed, and starts the forwarder between them.
    pub fn build(spec: &TopologySpec, names: &mut Names) -> Result<Topology, HarnessError> {
        let TopologySpec {
            backend: kind,
            queues,
            offload,
            gro,
            mode,
            rx_mode,
        } = *spec;
        namespaces::create()?;
        let large_buffers = offload.contains(&true);
        let pool = forwarder_setup::pool_for(2, queues, large_buffers)?;
        let mut topo = Topology {
            pool,
            names: Vec::new(),
            fwd: None,
            offload,
            gro,
            backend: kind,
            rx_mode: None,
        };
        let mut ports = Vec::with_capacity(2);
        for (i, ns) in NS.iter().enumerate() {
            let side = if i == 0 { "a" } else { "b" };
            let o = if offload[i] { "o" } else { "" };
            let name = names.next(&format!("st{}{o}{queues}{side}", ports::tag(kind)));
            let spec = PortSpec {
                kind,
                queues,
                rx_mode,
                offload: offload[i],
                large_buffers,
                port_id: i as u16,
                mode,
                attach: tapring::device::Attach::Never,
                share: false,
            };
            let port = open_forwarding_port(&name, &spec, &topo.pool)?;
            topo.backend = port.backend();
            topo.rx_mode = port.rx_mode();
            ports.push(port);
            topo.names.push(name.clone());
            sandbox::ip(&["link", "set", "dev", &name, "netns", ns])?;
            let cidr = format!("{}/24", ADDR[i]);
            sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            sandbox::ip(&["-n", ns, "link", "set", "dev", &name, "up"])?;
        }
        let config = tapring::ForwarderConfig::default().gro(gro);
        let fwd = Forwarder::start_with(ports, config)
            .map_err(|e| HarnessError::Backend(e.to_string()))?;
        topo.fwd = Some(fwd);
        Ok(topo)
    }

    /// The backend actually driving the ports.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The io_uring Rx mode the ports' Rx queues run in (`None` for
    /// read-write).
    pub fn rx_mode(&self) -> Option<RxMode> {
        self.rx_mode
    }

    /// An error if the forwarder stopped early.
    pub fn forwarder_alive(&self) -> Result<(), HarnessError> {
        match &self.fwd {
            Some(f) if !f.any_lane_ended() => Ok(()),
            _ => Err(HarnessError::Check("the forwarder stopped early".into())),
        }
    }

    /// Stops the forwarder, closes the ports, deletes the namespaces; a
    /// summary, or what went wrong (lane errors, buffers still in use).
    pub fn teardown(mut self) -> Result<String, HarnessError> {
        let report = self.fwd.take().map(Forwarder::stop).unwrap_or_default();
        namespaces::remove();
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
                let s = forwarder_setup::drop_summary(&report.queue_stats(p, rx));
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
        if self.offload[0] {
            // Offloads on the sending side must mean offloaded frames
            // moved: a TCP transfer through a TSO-capable port hands over
            // GSO frames and partial checksums. None at all means the
            // negotiation silently failed.
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
        if self.offload == [true, false] {
            // A GSO frame for a port without offloads: segmented here.
            if ab.segmented == 0 {
                return Err(HarnessError::Check(
                    "offloads on A only, but no GSO frame was segmented for B".into(),
                ));
            }
            detail.push_str(&format!(
                "; software GSO: {} frames into {} segments, {} checksums finished, {} dropped",
                ab.segmented, ab.segments, ab.checksums, ab.offload_dropped
            ));
        }
        if self.offload == [false, true] && self.gro {
            // MTU-sized TCP segments for a port with offloads: coalesced.
            if ab.coalesced == 0 {
                return Err(HarnessError::Check(
                    "offloads on B only with GRO, but no segment was coalesced".into(),
                ));
            }
            detail.push_str(&format!(
                "; software GRO: {} frames coalesced into others, {} frames sent",
                ab.coalesced, ab.packets
            ));
        }
        detail.push_str("; pool in use 0");
        Ok(detail)
    }
}

/// The two namespaces, two ports moved into them, and the tokio forwarder
/// (one task per direction and queue pair) between them.
pub struct TokioTopology {
    pool: Pool,
    fwd: Option<TokioForwarder>,
    backend: Backend,
}

impl TokioTopology {
    /// Builds nsA and nsB, a port of `mode` with `queues` queues in each
    /// opened for async use (offloads negotiated when `offload`, the same
    /// ring sizes as the threaded forwarder's), addressed, and starts the
    /// tokio forwarder of `flavor` over every queue pair.
    pub fn build(
        kind: Backend,
        flavor: Flavor,
        queues: u16,
        offload: bool,
        mode: DeviceMode,
        names: &mut Names,
    ) -> Result<TokioTopology, HarnessError> {
        namespaces::create()?;
        let pool = forwarder_setup::pool_for(2, usize::from(queues), offload)?;
        let mut backend = kind;
        let mut ports = Vec::with_capacity(2);
        for (i, ns) in NS.iter().enumerate() {
            let side = if i == 0 { "a" } else { "b" };
            let o = if offload { "o" } else { "" };
            let f = match flavor {
                Flavor::CurrentThread => "c",
                Flavor::MultiThread => "m",
            };
            let name = names.next(&format!("stk{f}{o}{queues}{side}"));
            let cfg = forwarder_setup::forwarding_device(&name, usize::from(queues), offload, mode);
            let port = PortBuilder::from_device(cfg)
                .backend(kind)
                .io_uring(forwarder_setup::uring_tuning(offload))
                .port_id(i as u16)
                .open_async(&pool)
                .map_err(|e| HarnessError::Backend(format!("{name}: {e}")))?;
            backend = port.port().backend();
            ports.push(port);
            sandbox::ip(&["link", "set", "dev", &name, "netns", ns])?;
            let cidr = format!("{}/24", ADDR[i]);
            sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            sandbox::ip(&["-n", ns, "link", "set", "dev", &name, "up"])?;
        }
        let b = ports.pop().expect("two ports");
        let a = ports.pop().expect("two ports");
        let fwd = TokioForwarder::start(flavor, a, b, queues)?;
        Ok(TokioTopology {
            pool,
            fwd: Some(fwd),
            backend,
        })
    }

    /// The backend actually driving the ports.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stops the forwarder (closing the ports), deletes the namespaces;
    /// an error if a direction failed or a buffer was not returned.
    pub fn teardown(mut self) -> Result<[u64; 2], HarnessError> {
        let frames = self.fwd.take().map(TokioForwarder::stop);
        namespaces::remove();
        let frames = frames.unwrap_or(Ok([0, 0]))?;
        let in_use = self.pool.stats().in_use;
        if in_use != 0 {
            return Err(HarnessError::Check(format!(
                "{in_use} buffers still in use after the tokio forwarder closed"
            )));
        }
        Ok(frames)
    }
}
