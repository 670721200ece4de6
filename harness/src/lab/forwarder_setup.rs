//! Forwarder set-up shared by `tapring fwd`, the self-test and the TCP
//! benchmark: how a forwarding port is opened (offloads, ring sizes), the
//! pool a forwarder needs, and the one-line drop summary. Ports are TAP or
//! TUN devices (`--mode`); a forwarder joins two of the same mode. The
//! forwarder itself is the library's [`tapring::Forwarder`].

use crate::error::HarnessError;
use crate::lab::ports;
use tapring::Backend;
use tapring::RxMode;
use tapring::device::{Attach, DeviceMode, Offloads, TapConfig, VnetHdrLen};
use tapring::uring::UringConfig;
use tapring::{AnyPort, QueueStats};

/// How to open one forwarding port.
#[derive(Clone, Copy, Debug)]
pub struct PortSpec {
    /// The data path.
    pub kind: Backend,
    /// Queues (multi-queue TAP when more than one).
    pub queues: usize,
    /// io_uring Rx mode.
    pub rx_mode: RxMode,
    /// Negotiate [`forwarding_offloads`] (with a 12-byte virtio-net
    /// header).
    pub offload: bool,
    /// The pool's buffers hold 64 KiB frames (some port of the forwarder
    /// has offloads): the io_uring rings lend fewer of them.
    pub large_buffers: bool,
    /// Port number stamped on received packets.
    pub port_id: u16,
    /// TAP (Ethernet frames) or TUN (IP packets).
    pub mode: DeviceMode,
    /// What to do when the device exists (default: refuse).
    pub attach: Attach,
    /// Attach to a device with another user's queues, with its settings.
    pub share: bool,
}

/// Opens `name` (create it, or attach to it as `spec.attach` allows), up.
pub fn open_forwarding_port(
    name: &str,
    spec: &PortSpec,
    pool: &tapring::Pool,
) -> Result<AnyPort, HarnessError> {
    let cfg = forwarding_device(name, spec.queues, spec.offload, spec.mode)
        .attach(spec.attach)
        .share(spec.share);
    ports::open_port(
        spec.kind,
        &cfg,
        pool,
        spec.rx_mode,
        uring_tuning(spec.large_buffers),
        spec.port_id,
    )
    .map_err(|e| HarnessError::Backend(format!("{name}: {e}")))
}

/// The device of a forwarding port: a TAP or TUN device (`mode`) with
/// `queues` queues, up, and with `offload` the 12-byte virtio-net header
/// and [`forwarding_offloads`] (a TUN negotiates them as a TAP does).
pub fn forwarding_device(name: &str, queues: usize, offload: bool, mode: DeviceMode) -> TapConfig {
    let mut cfg = TapConfig::named(name)
        .mode(mode)
        .queues(queues)
        .multi_queue(queues > 1)
        .up(true);
    if offload {
        cfg.vnet_hdr = VnetHdrLen::Mergeable;
        cfg.offloads = forwarding_offloads();
    }
    cfg
}

/// The offloads a forwarder negotiates when asked to: partial checksums,
/// TSO for IPv4 and IPv6 (with ECN), and USO where the kernel accepts it.
pub fn forwarding_offloads() -> Offloads {
    let mut o = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6 | Offloads::TSO_ECN;
    let uso = Offloads::USO4 | Offloads::USO6;
    if tapring::device::probe()
        .accepted_offloads
        .is_some_and(|a| a.contains(uso))
    {
        o |= uso;
    }
    o
}

/// io_uring ring sizes for a forwarder: with offloads on any port every
/// buffer holds a 64 KiB frame (`large_buffers`), so rings lend fewer of
/// them.
pub fn uring_tuning(large_buffers: bool) -> UringConfig {
    let mut t = UringConfig::default();
    if large_buffers {
        t.rx_depth = LARGE_RING;
        t.multishot_buffers = LARGE_RING;
        t.tx_depth = LARGE_RING;
    }
    t
}

/// Ring size (Rx lending, Tx in flight) with 64 KiB buffers.
const LARGE_RING: u32 = 128;

/// A pool large enough for a forwarder over `ports` ports of `queues`
/// queues each: every io_uring Rx ring may lend up to 2048 buffers (and at
/// most half the pool), every Tx ring holds up to 256 in flight, plus
/// bursts in hand and per-queue caches. With offloads the buffers hold
/// 64 KiB frames and the rings are smaller (see [`uring_tuning`]); the
/// memory is mapped lazily, so untouched buffers cost nothing.
pub fn pool_for(ports: usize, queues: usize, offload: bool) -> Result<tapring::Pool, HarnessError> {
    let rings = (ports * queues) as u32;
    let cfg = if offload {
        tapring::PoolConfig::large((rings * 4 * LARGE_RING + 1024).max(2048))
    } else {
        tapring::PoolConfig::standard((rings * (2048 + 256) + 4096).max(16_384))
    };
    tapring::Pool::new(cfg).map_err(|e| {
        HarnessError::Backend(format!(
            "buffer pool of {} x {} bytes: {e}",
            cfg.count, cfg.data_room
        ))
    })
}

/// One line of the drop reasons of `s` that are not zero ("none" if all are).
pub fn drop_summary(s: &QueueStats) -> String {
    let parts: Vec<String> = s
        .named()
        .iter()
        .filter(|(name, v)| *v > 0 && (name.starts_with("drop_") || *name == "rx_nombuf"))
        .map(|(name, v)| format!("{}={v}", name.trim_start_matches("drop_")))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}
