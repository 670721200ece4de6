//! [`PortBuilder`]: names a TAP device and its options, and opens it as an
//! [`AnyPort`] over a pool.

use tapring_core::Pool;
use tapring_device::{DeviceMode, MacAddr, Offloads, TapConfig, VnetHdrLen};

#[cfg(feature = "rw")]
use tapring_rw::{RwOptions, RwPort};
#[cfg(feature = "uring")]
use tapring_uring::{UringConfig, UringError, UringPort};

use crate::{AnyPort, Backend, PortError};

/// Builds a port: the device, its options and the backend, then
/// [`open`](PortBuilder::open) over a [`Pool`].
///
/// ```no_run
/// use tapring::prelude::*;
///
/// let pool = Pool::new(PoolConfig::standard(8192))?;
/// let mut port = PortBuilder::new("tr0").queues(2).mtu(9000).up(true).open(&pool)?;
/// println!("{} driven by {}", port.name(), port.backend());
/// let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
/// let mut burst: Burst = Burst::new();
/// rx.wait(Some(std::time::Duration::from_millis(100)))?; // idle costs no CPU
/// rx.rx_burst(&mut burst)?;
/// tx.tx_burst(&mut burst)?; // takes a prefix; the rest stays in the burst
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A TUN port (IP packets, no Ethernet header: for VPNs, tunnels and
/// userspace IP stacks) is the same builder with [`tun`](PortBuilder::tun)
/// (or [`mode`](PortBuilder::mode)`(DeviceMode::Tun)`); every other option
/// but the MAC applies to it too:
///
/// ```no_run
/// use tapring::prelude::*;
///
/// let pool = Pool::new(PoolConfig::large(1024))?;
/// let mut port = PortBuilder::new("vpn0")
///     .tun()                    // IFF_TUN: packets start with the IP header
///     .packet_info(false)       // no 4-byte tun_pi prefix (the default)
///     .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6) // 64 KiB GSO packets
///     .up(true)
///     .open(&pool)?;
/// assert_eq!(port.info().framing, Framing::Ip);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Backend-specific tuning lives in one nested place per backend:
/// [`io_uring`](PortBuilder::io_uring) takes a whole `UringConfig` (Rx
/// mode, ring depths, registered buffers, SQPOLL) and
/// [`read_write`](PortBuilder::read_write) an `RwOptions` (burst, Rx
/// chains). The port id set here overrides theirs.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `open`"]
pub struct PortBuilder {
    device: TapConfig,
    backend: Backend,
    port_id: u16,
    owner: Option<u32>,
    group: Option<u32>,
    #[cfg(feature = "uring")]
    uring: UringConfig,
    #[cfg(feature = "rw")]
    rw: RwOptions,
}

impl PortBuilder {
    /// A port on the TAP device `name` (created if it does not exist; a
    /// template with one `%d` lets the kernel number it), one queue, no
    /// virtio-net header, no offloads, [`Backend::Auto`].
    pub fn new(name: impl Into<String>) -> PortBuilder {
        PortBuilder::from_device(TapConfig::named(name))
    }

    /// A port on the device `config` describes in full (every device
    /// option, including the ones without a builder method).
    pub fn from_device(config: TapConfig) -> PortBuilder {
        PortBuilder {
            device: config,
            backend: Backend::Auto,
            port_id: 0,
            owner: None,
            group: None,
            #[cfg(feature = "uring")]
            uring: UringConfig::default(),
            #[cfg(feature = "rw")]
            rw: RwOptions::default(),
        }
    }

    /// TAP (Ethernet frames, the default) or TUN (IP packets with no
    /// link-layer header).
    pub fn mode(mut self, mode: DeviceMode) -> PortBuilder {
        self.device.mode = mode;
        self
    }

    /// Shorthand for [`mode`](PortBuilder::mode)`(DeviceMode::Tun)`: a TUN
    /// device, whose packets are IPv4 or IPv6 from their first byte. It has
    /// no MAC ([`mac`](PortBuilder::mac) makes `open` fail).
    pub fn tun(self) -> PortBuilder {
        self.mode(DeviceMode::Tun)
    }

    /// Whether the device carries the kernel's 4-byte packet information
    /// (`struct tun_pi`) before every packet (default `false`:
    /// `IFF_NO_PI`). The port adds and strips it: packets' data never
    /// includes it. Useful to interoperate with programs that open the same
    /// device with packet information.
    pub fn packet_info(mut self, packet_info: bool) -> PortBuilder {
        self.device.packet_info = packet_info;
        self
    }

    /// The data path (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> PortBuilder {
        self.backend = backend;
        self
    }

    /// Queue pairs (1 by default; more makes the device multi-queue, one
    /// fd per queue, and the kernel spreads flows over them).
    pub fn queues(mut self, queues: u16) -> PortBuilder {
        self.device.queues = usize::from(queues);
        self
    }

    /// The virtio-net header carried before every frame.
    pub fn vnet_hdr(mut self, vnet_hdr: VnetHdrLen) -> PortBuilder {
        self.device.vnet_hdr = vnet_hdr;
        self
    }

    /// The offloads to negotiate (checksum, TSO, USO...). They need a
    /// virtio-net header: without one set, the 12-byte header is chosen.
    /// Segmentation offloads need 64 KiB of read room per frame
    /// (`PoolConfig::large`).
    pub fn offloads(mut self, offloads: Offloads) -> PortBuilder {
        self.device.offloads = offloads;
        if !offloads.is_empty() && self.device.vnet_hdr == VnetHdrLen::None {
            self.device.vnet_hdr = VnetHdrLen::Mergeable;
        }
        self
    }

    /// The MTU to set on the device.
    pub fn mtu(mut self, mtu: u32) -> PortBuilder {
        self.device.mtu = Some(mtu);
        self
    }

    /// The MAC address to set on the device (TAP only: a TUN has none).
    pub fn mac(mut self, mac: MacAddr) -> PortBuilder {
        self.device.mac = Some(mac);
        self
    }

    /// Bring the interface up after configuring it.
    pub fn up(mut self, up: bool) -> PortBuilder {
        self.device.up = up;
        self
    }

    /// Make the device persistent (it outlives the port).
    pub fn persist(mut self, persist: bool) -> PortBuilder {
        self.device.persist = persist;
        self
    }

    /// What to do when a device of this name exists (default
    /// [`Attach::Never`](tapring_device::Attach::Never): an error, so a
    /// port never takes over somebody's device by accident).
    /// [`Attach::IfExists`](tapring_device::Attach::IfExists) attaches to
    /// a persistent device or creates one; `Attach::Only` never creates.
    pub fn attach(mut self, attach: tapring_device::Attach) -> PortBuilder {
        self.device.attach = attach;
        self
    }

    /// Attach even while another user has queues on the device
    /// (multi-queue; traffic is then spread over everybody's queues), with
    /// the device-wide settings in force: one that differs is
    /// `DeviceError::SettingDiffers`, and nothing is changed.
    pub fn share(mut self, share: bool) -> PortBuilder {
        self.device.share = share;
        self
    }

    /// The user that owns the device: with [`persist`](PortBuilder::persist)
    /// that user may attach to it later without CAP_NET_ADMIN.
    pub fn owner(mut self, uid: u32) -> PortBuilder {
        self.owner = Some(uid);
        self
    }

    /// The group that owns the device (its members may attach to a
    /// persistent device without CAP_NET_ADMIN).
    pub fn group(mut self, gid: u32) -> PortBuilder {
        self.group = Some(gid);
        self
    }

    /// The port number stamped on every received packet (`Pkt::port`).
    pub fn port_id(mut self, port_id: u16) -> PortBuilder {
        self.port_id = port_id;
        self
    }

    /// io_uring tuning: Rx mode, ring depths, registered buffers, SQPOLL.
    #[cfg(feature = "uring")]
    pub fn io_uring(mut self, config: UringConfig) -> PortBuilder {
        self.uring = config;
        self
    }

    /// read/write tuning: burst bound, buffers per received frame.
    #[cfg(feature = "rw")]
    pub fn read_write(mut self, options: RwOptions) -> PortBuilder {
        self.rw = options;
        self
    }

    /// The device configuration as it stands.
    pub fn device_config(&self) -> &TapConfig {
        &self.device
    }

    /// Opens (creates or attaches to) the device and prepares its queues,
    /// with buffers from `pool`.
    pub fn open(&self, pool: &Pool) -> Result<AnyPort, PortError> {
        let port = match self.backend {
            Backend::IoUring => self.open_uring(pool),
            Backend::ReadWrite => self.open_rw(pool, None),
            _ => self.open_auto(pool),
        }
        .inspect_err(
            |e| tracing::debug!(device = %self.device.name, error = %e, "port not opened"),
        )?;
        tracing::info!(
            device = %port.name(),
            asked = %self.backend,
            backend = %port.backend(),
            "port opened"
        );
        if let Some(uid) = self.owner {
            port.device().set_owner(uid)?;
        }
        if let Some(gid) = self.group {
            port.device().set_group(gid)?;
        }
        Ok(port)
    }

    /// Opens the port for the [`tokio`](crate::tokio) adaptor: as
    /// [`open`](PortBuilder::open), with io_uring rings that any thread may
    /// drive (`UringConfig::defer_taskrun(false)`), since a multi-thread
    /// runtime moves tasks between workers. Its queues come out as
    /// [`AsyncRx`](crate::tokio::AsyncRx) / [`AsyncTx`](crate::tokio::AsyncTx),
    /// registered with the runtime they are taken in.
    #[cfg(feature = "tokio")]
    pub fn open_async(&self, pool: &Pool) -> Result<crate::tokio::AsyncPort, PortError> {
        let mut builder = self.clone();
        #[cfg(feature = "uring")]
        {
            builder.uring = builder.uring.defer_taskrun(false);
        }
        Ok(crate::tokio::AsyncPort::from_port(builder.open(pool)?))
    }

    #[cfg(feature = "uring")]
    fn open_uring(&self, pool: &Pool) -> Result<AnyPort, PortError> {
        let config = self.uring.port_id(self.port_id);
        Ok(AnyPort::IoUring(UringPort::open(
            &self.device,
            pool,
            config,
        )?))
    }

    #[cfg(not(feature = "uring"))]
    fn open_uring(&self, _pool: &Pool) -> Result<AnyPort, PortError> {
        Err(PortError::NotCompiled {
            backend: Backend::IoUring,
            feature: "uring",
        })
    }

    #[cfg(feature = "rw")]
    fn open_rw(&self, pool: &Pool, fallback: Option<String>) -> Result<AnyPort, PortError> {
        let options = self.rw.port_id(self.port_id);
        Ok(AnyPort::ReadWrite(
            RwPort::open(&self.device, pool, options)?,
            fallback,
        ))
    }

    #[cfg(not(feature = "rw"))]
    fn open_rw(&self, _pool: &Pool, _fallback: Option<String>) -> Result<AnyPort, PortError> {
        Err(PortError::NotCompiled {
            backend: Backend::ReadWrite,
            feature: "rw",
        })
    }

    /// io_uring, falling back to read/write where io_uring is disabled or
    /// lacks what the configuration needs.
    fn open_auto(&self, pool: &Pool) -> Result<AnyPort, PortError> {
        #[cfg(all(feature = "uring", feature = "rw"))]
        {
            match self.open_uring(pool) {
                Err(PortError::IoUring(
                    e @ (UringError::Disabled { .. } | UringError::Unsupported { .. }),
                )) => {
                    tracing::warn!(device = %self.device.name, reason = %e, "io_uring unusable: falling back to read/write");
                    self.open_rw(pool, Some(e.to_string()))
                }
                other => other,
            }
        }
        #[cfg(all(feature = "uring", not(feature = "rw")))]
        {
            self.open_uring(pool)
        }
        #[cfg(not(feature = "uring"))]
        {
            self.open_rw(pool, None)
        }
    }
}
