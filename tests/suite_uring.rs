//! The real-TAP conformance suite (the very cases the read/write backend
//! passes, see `tapring_tap::testkit::suite`) run against the io_uring
//! backend, once per Rx mode. Needs root (skips with one line otherwise,
//! fails under TAPRING_REQUIRE_TAP=1).

use tapring::tap::TapConfig;
use tapring::tap::testkit::suite::{SuiteBackend, SuiteOptions};
use tapring::uring::{UringConfig, UringPort};
use tapring::{Pool, RxMode};

fn open(
    cfg: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
) -> Result<UringPort, Box<dyn std::error::Error>> {
    let ucfg = UringConfig {
        rx_mode,
        // The suite's smallest pool has 64 buffers and a ring may lend at
        // most half. With multishot this small, bursts of traffic end the
        // read with ENOBUFS and it is re-armed: that path is exercised too.
        rx_depth: 32,
        multishot_buffers: 32,
        tx_depth: 32,
        ..UringConfig::default()
    };
    Ok(UringPort::open(cfg, pool, ucfg)?)
}

/// Whether this kernel can run `mode` (`Err`: why not).
fn supported(mode: RxMode) -> Result<(), Box<dyn std::error::Error>> {
    let p = tapring::uring::probe();
    match mode {
        RxMode::Multishot if !p.multishot() => Err("kernel without multishot read (6.7+)".into()),
        RxMode::Nowait if !p.nowait() => {
            Err("kernel without RWF_NOWAIT reads on tun (6.4+)".into())
        }
        _ => Ok(()),
    }
}

/// Defines a suite backend `$ty` named `$name` running io_uring in Rx mode
/// `$mode`, and the suite's tests for it in module `$module`.
macro_rules! uring_suite {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $mode:expr, $module:ident) => {
        $(#[$doc])*
        pub struct $ty;

        impl SuiteBackend for $ty {
            const NAME: &'static str = $name;
            const RX_CHAINS: bool = false;
            type Port = UringPort;
            fn open(
                cfg: &TapConfig,
                pool: &Pool,
                _opts: &SuiteOptions,
            ) -> Result<UringPort, Box<dyn std::error::Error>> {
                supported($mode)?;
                open(cfg, pool, $mode)
            }
        }

        mod $module {
            tapring::tap::tap_suite!(super::$ty);
        }
    };
}

uring_suite!(
    /// io_uring with one posted read per buffer.
    UringPosted,
    "uring-posted",
    RxMode::Posted,
    posted
);
uring_suite!(
    /// io_uring with a multishot read over a provided-buffer ring.
    UringMultishot,
    "uring-multishot",
    RxMode::Multishot,
    multishot
);
uring_suite!(
    /// io_uring with a batch of no-wait reads per burst.
    UringNowait,
    "uring-nowait",
    RxMode::Nowait,
    nowait
);
