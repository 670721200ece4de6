//! [`RwPort`]: a TAP device with read/write Rx and Tx queues.

use tapring_core::backend::FrameFormat;
use tapring_core::{Error, Pool, Port, PortInfo, PortStats};

use crate::error::RwError;
use crate::options::{MAX_RX_SEGS, RwOptions, os_error};
use crate::rx::RwRxQueue;
use crate::tx::RwTxQueue;
use tapring_device::{QueueClaims, TapConfig, TapDevice};

/// A TAP device driven with plain nonblocking `read`/`write` (`readv`/
/// `writev` for chains): the synchronous baseline backend.
///
/// Each queue fd of the device gives one Rx and one Tx queue; each queue
/// taken out owns a duplicate of the fd, a cache in front of the pool and
/// its counters, so it can move to its own thread and outlive the port.
///
/// ```no_run
/// use tapring_core::{Burst, Pool, PoolConfig, Port, RxQueue, TxQueue};
/// use tapring_device::TapConfig;
/// use tapring_rw::{RwOptions, RwPort};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::new(PoolConfig::standard(1024))?;
/// let config = TapConfig::named("tap%d").up(true);
/// let mut port = RwPort::open(&config, &pool, RwOptions::default())?;
/// println!("{} {:?}", port.device().name(), port.info());
/// let mut rx = port.take_rx(0)?;
/// let mut tx = port.take_tx(0)?;
/// let mut burst: Burst = Burst::new();
/// loop {
///     rx.wait(Some(Duration::from_millis(100)))?;
///     rx.rx_burst(&mut burst)?;
///     // ... look at / rewrite the packets, then echo them back:
///     tx.tx_burst(&mut burst)?;
///     burst.clear(); // drop what the kernel would not take now
/// #   break;
/// }
/// println!("rx {:?}\ntx {:?}", rx.stats(), tx.stats());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RwPort {
    device: TapDevice,
    pool: Pool,
    opts: RwOptions,
    max_frame: u32,
    claims: QueueClaims,
}

impl RwPort {
    /// Opens (creates or attaches) the TAP device `config` describes and
    /// wraps it; queues take their buffers from `pool`.
    pub fn open(config: &TapConfig, pool: &Pool, opts: RwOptions) -> Result<RwPort, RwError> {
        RwPort::from_device(TapDevice::open(config)?, pool, opts)
    }

    /// Wraps a device opened already. Reads the MTU now (unless
    /// `opts.max_frame` is set), so the device must be in this network
    /// namespace; it may move afterwards.
    pub fn from_device(device: TapDevice, pool: &Pool, opts: RwOptions) -> Result<RwPort, RwError> {
        if opts.rx_segments == 0 || usize::from(opts.rx_segments) > MAX_RX_SEGS {
            return Err(RwError::Option {
                field: "rx_segments",
                value: u64::from(opts.rx_segments),
                fix: "use 1..=16 (MAX_RX_SEGS) buffers per frame",
            });
        }
        if opts.burst == 0 {
            return Err(RwError::Option {
                field: "burst",
                value: u64::from(opts.burst),
                fix: "use at least 1 packet per burst",
            });
        }
        let data_room = pool.config().data_room as usize;
        device
            .offloads()
            .check_rx_room(data_room * usize::from(opts.rx_segments))?;
        let prefix = FrameFormat {
            framing: device.framing(),
            packet_info: device.packet_info(),
            vnet_hdr_len: device.vnet_hdr(),
        }
        .prefix_len() as u32;
        if pool.config().headroom < prefix {
            return Err(Error::from(tapring_core::ConfigError::HeadroomTooSmall {
                headroom: pool.config().headroom,
                min: prefix,
            })
            .into());
        }
        // TAP: MTU + Ethernet header + a VLAN tag; TUN: the MTU (an IP
        // packet has no link-layer header).
        let max_frame = match opts.max_frame {
            Some(m) => m,
            None => device.framing().max_frame(device.mtu()?),
        };
        let claims = QueueClaims::new(device.num_queues());
        Ok(RwPort {
            device,
            pool: pool.clone(),
            opts,
            max_frame,
            claims,
        })
    }

    /// The device (control operations: MTU, MAC, flags, counters...).
    pub fn device(&self) -> &TapDevice {
        &self.device
    }

    /// The device, writable (e.g. to change offloads).
    pub fn device_mut(&mut self) -> &mut TapDevice {
        &mut self.device
    }

    /// The queue options.
    pub fn options(&self) -> &RwOptions {
        &self.opts
    }

    /// The pool the queues take buffers from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The framing and prefixes of every read and write on the device.
    fn format(&self) -> FrameFormat {
        FrameFormat {
            framing: self.device.framing(),
            packet_info: self.device.packet_info(),
            vnet_hdr_len: self.device.vnet_hdr(),
        }
    }

    fn take(&mut self, q: u16, rx: bool) -> Result<std::os::fd::OwnedFd, Error> {
        let claimed = if rx {
            self.claims.claim_rx(q)
        } else {
            self.claims.claim_tx(q)
        };
        claimed?;
        let fd = self
            .device
            .queue_fd(usize::from(q))
            .try_clone_to_owned()
            .map_err(|e| {
                os_error(
                    "dup queue fd",
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                )
            });
        if fd.is_err() {
            if rx {
                self.claims.release_rx(q);
            } else {
                self.claims.release_tx(q);
            }
        }
        fd
    }
}

impl Port for RwPort {
    type Rx = RwRxQueue;
    type Tx = RwTxQueue;
    type Error = RwError;

    fn info(&self) -> PortInfo {
        let n = u16::try_from(self.device.num_queues()).unwrap_or(u16::MAX);
        PortInfo {
            ifindex: self.device.ifindex(),
            max_frame: self.max_frame,
            framing: self.device.framing(),
            rx_queues: n,
            tx_queues: n,
            vnet_hdr_len: self.device.vnet_hdr(),
            backend: "read-write",
        }
    }

    fn take_rx(&mut self, q: u16) -> Result<RwRxQueue, RwError> {
        let fd = self.take(q, true)?;
        Ok(RwRxQueue::new(fd, &self.pool, self.format(), q, &self.opts))
    }

    fn take_tx(&mut self, q: u16) -> Result<RwTxQueue, RwError> {
        let fd = self.take(q, false)?;
        Ok(RwTxQueue::new(
            fd,
            &self.pool,
            self.format(),
            self.max_frame,
            q,
            &self.opts,
        ))
    }

    /// The interface's counters, wherever the interface is: moved to
    /// another network namespace, they are read there
    /// ([`TapDevice::kernel_counters`](tapring_device::TapDevice::kernel_counters));
    /// when that namespace cannot be entered, [`DeviceError::OtherNamespace`](tapring_device::DeviceError::OtherNamespace)
    /// (inside [`RwError::Device`]) says why.
    fn stats(&self) -> Result<PortStats, RwError> {
        Ok(self.device.kernel_counters()?.port_stats())
    }
}
