//! [`Record`]: one measured frame-test run as written to JSON, its
//! settings taken from what ran (the port's own report), not from the
//! command line.

use super::workload::{Measured, RunSpec, Sample, TestKind};
use serde::Serialize;
use tapring::Backend;
use tapring::device::DeviceMode;

/// One measured run, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// Test name.
    pub test: TestKind,
    /// The device type: tap or tun.
    #[serde(serialize_with = "crate::lab::ports::serialize_mode")]
    pub mode: DeviceMode,
    /// Packet size as the device carries it: the Ethernet frame (TAP) or
    /// the IP packet (TUN).
    pub size: usize,
    /// Packets per burst call.
    pub burst: usize,
    /// Queues per port, as opened.
    pub queues: u16,
    /// The backend that drove the port.
    pub backend: Backend,
    /// The io_uring Rx mode in use (`auto` resolved); `None` for read-write.
    pub rx_mode: Option<&'static str>,
    /// Which queues used registered buffers: off, rx, tx or all.
    pub fixed_buffers: &'static str,
    /// Whether a kernel thread polled the submission queues.
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
    /// The record of run `spec` in round `round`, which gave `m`.
    pub fn new(spec: &RunSpec, round: usize, m: &Measured) -> Record {
        let s = m.sample;
        let secs = s.secs.max(1e-9);
        let pps = s.pps();
        Record {
            test: spec.test,
            mode: spec.mode,
            size: spec.size,
            burst: spec.burst,
            queues: m.ran.queues,
            backend: m.ran.backend,
            rx_mode: m.ran.rx_mode,
            fixed_buffers: m.ran.fixed_buffers,
            sqpoll: m.ran.sqpoll,
            round,
            pps,
            gbps: pps * spec.size as f64 * 8.0 / 1e9,
            cpu_s_per_mpkt: s.cpu_s_per_mpkt(),
            drops: s.drops,
            offered_pps: s.offered.map(|o| o as f64 / secs),
            sample: s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::ports::PortSettings;
    use std::time::Duration;
    use tapring::uring::UringConfig;

    #[test]
    fn settings_come_from_what_ran() {
        let spec = RunSpec {
            test: TestKind::Rx,
            backend: Backend::IoUring,
            size: 64,
            queues: 2,
            burst: 32,
            rx_mode: tapring::RxMode::Auto,
            uring: UringConfig::default(),
            duration: Duration::from_millis(10),
            mode: DeviceMode::Tun,
        };
        let m = Measured {
            ran: PortSettings {
                backend: Backend::IoUring,
                queues: 2,
                rx_mode: Some("nowait"),
                fixed_buffers: "off",
                sqpoll: false,
            },
            sample: Sample {
                packets: 2_000_000,
                secs: 2.0,
                cpu_secs: 1.0,
                drops: 3,
                offered: Some(4_000_000),
            },
        };
        let r = Record::new(&spec, 1, &m);
        // Asked for auto and registered Rx buffers; the record says what ran.
        assert_eq!((r.rx_mode, r.fixed_buffers), (Some("nowait"), "off"));
        assert_eq!((r.backend, r.queues, r.round), (Backend::IoUring, 2, 1));
        assert_eq!(r.pps, 1e6);
        assert_eq!(r.offered_pps, Some(2e6));
        assert_eq!(r.cpu_s_per_mpkt, 0.5);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["rx_mode"], "nowait");
        assert_eq!(json["backend"], "io_uring");
        assert_eq!(json["mode"], "tun");
    }
}
