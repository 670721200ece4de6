//! `AnyPort`: one port type over either backend, chosen at run time, with
//! automatic fallback from io_uring to read/write.

use crate::tap::{TapConfig, TapDevice, TapError, TapPort, TapQueueOptions};
use crate::uring::{UringConfig, UringError, UringPort};
use tapring_core::{Error, Pool, Port, PortInfo, RxQueue, TxQueue};

/// Which data path to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// io_uring where the kernel and the process allow it, else read/write.
    #[default]
    Auto,
    /// io_uring, or an error.
    Uring,
    /// read/write.
    Tap,
}

/// Why [`AnyPort::open`] failed.
#[derive(Debug)]
pub enum OpenError {
    /// The read/write backend (or device control) failed.
    Tap(TapError),
    /// The io_uring backend failed (and no fallback was asked for).
    Uring(UringError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Tap(e) => write!(f, "{e}"),
            OpenError::Uring(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Tap(e) => Some(e),
            OpenError::Uring(e) => Some(e),
        }
    }
}

/// A port of either backend; its queues are boxed trait objects.
///
/// ```no_run
/// use tapring::{AnyPort, Backend, Burst, Pool, PoolConfig, Port, RxQueue};
/// use tapring::tap::TapConfig;
///
/// let pool = Pool::new(PoolConfig::standard(8192))?;
/// let mut port = AnyPort::open(&TapConfig::named("tr0"), &pool, Backend::Auto, Default::default())?;
/// if let Some(why) = port.fallback_reason() {
///     eprintln!("using read/write: {why}");
/// }
/// let mut rx = port.take_rx(0)?;
/// let mut burst: Burst = Burst::new();
/// rx.rx_burst(&mut burst)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum AnyPort {
    /// read/write; with the reason when io_uring was asked for but unusable.
    Tap(TapPort, Option<String>),
    /// io_uring.
    Uring(UringPort),
}

impl AnyPort {
    /// Opens the TAP device `tap` with `backend`. With [`Backend::Auto`],
    /// an io_uring that is disabled (sysctl, seccomp) or lacks what the
    /// configuration needs falls back to read/write; see
    /// [`AnyPort::fallback_reason`].
    pub fn open(
        tap: &TapConfig,
        pool: &Pool,
        backend: Backend,
        uring: UringConfig,
    ) -> Result<AnyPort, OpenError> {
        let tap_opts = TapQueueOptions {
            port_id: uring.port_id,
            ..TapQueueOptions::default()
        };
        match backend {
            Backend::Tap => Ok(AnyPort::Tap(
                TapPort::open(tap, pool, tap_opts).map_err(OpenError::Tap)?,
                None,
            )),
            Backend::Uring => Ok(AnyPort::Uring(
                UringPort::open(tap, pool, uring).map_err(OpenError::Uring)?,
            )),
            Backend::Auto => match UringPort::open(tap, pool, uring) {
                Ok(p) => Ok(AnyPort::Uring(p)),
                Err(e @ (UringError::Disabled { .. } | UringError::Unsupported { .. })) => {
                    let port = TapPort::open(tap, pool, tap_opts).map_err(OpenError::Tap)?;
                    Ok(AnyPort::Tap(port, Some(e.to_string())))
                }
                Err(e) => Err(OpenError::Uring(e)),
            },
        }
    }

    /// Why io_uring was not used, when [`Backend::Auto`] fell back.
    pub fn fallback_reason(&self) -> Option<&str> {
        match self {
            AnyPort::Tap(_, why) => why.as_deref(),
            AnyPort::Uring(_) => None,
        }
    }

    /// The TAP device (control operations).
    pub fn device(&self) -> &TapDevice {
        match self {
            AnyPort::Tap(p, _) => p.device(),
            AnyPort::Uring(p) => p.device(),
        }
    }
}

impl Port for AnyPort {
    type Rx = Box<dyn RxQueue>;
    type Tx = Box<dyn TxQueue>;

    fn info(&self) -> PortInfo {
        match self {
            AnyPort::Tap(p, _) => p.info(),
            AnyPort::Uring(p) => p.info(),
        }
    }

    fn take_rx(&mut self, q: u16) -> Result<Box<dyn RxQueue>, Error> {
        Ok(match self {
            AnyPort::Tap(p, _) => Box::new(p.take_rx(q)?),
            AnyPort::Uring(p) => Box::new(p.take_rx(q)?),
        })
    }

    fn take_tx(&mut self, q: u16) -> Result<Box<dyn TxQueue>, Error> {
        Ok(match self {
            AnyPort::Tap(p, _) => Box::new(p.take_tx(q)?),
            AnyPort::Uring(p) => Box::new(p.take_tx(q)?),
        })
    }

    fn imissed(&self) -> Result<u64, Error> {
        match self {
            AnyPort::Tap(p, _) => p.imissed(),
            AnyPort::Uring(p) => p.imissed(),
        }
    }
}
