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

/// io_uring with one posted read per buffer.
pub struct UringPosted;

impl SuiteBackend for UringPosted {
    const NAME: &'static str = "uring-posted";
    const RX_CHAINS: bool = false;
    type Port = UringPort;
    fn open(
        cfg: &TapConfig,
        pool: &Pool,
        _opts: &SuiteOptions,
    ) -> Result<UringPort, Box<dyn std::error::Error>> {
        open(cfg, pool, RxMode::Posted)
    }
}

/// io_uring with a multishot read over a provided-buffer ring.
pub struct UringMultishot;

impl SuiteBackend for UringMultishot {
    const NAME: &'static str = "uring-multishot";
    const RX_CHAINS: bool = false;
    type Port = UringPort;
    fn open(
        cfg: &TapConfig,
        pool: &Pool,
        _opts: &SuiteOptions,
    ) -> Result<UringPort, Box<dyn std::error::Error>> {
        if !tapring::uring::probe().multishot() {
            return Err("kernel without multishot read (6.7+)".into());
        }
        open(cfg, pool, RxMode::Multishot)
    }
}

/// io_uring with a batch of no-wait reads per burst.
pub struct UringNowait;

impl SuiteBackend for UringNowait {
    const NAME: &'static str = "uring-nowait";
    const RX_CHAINS: bool = false;
    type Port = UringPort;
    fn open(
        cfg: &TapConfig,
        pool: &Pool,
        _opts: &SuiteOptions,
    ) -> Result<UringPort, Box<dyn std::error::Error>> {
        if !tapring::uring::probe().nowait() {
            return Err("kernel without RWF_NOWAIT reads on tun (6.4+)".into());
        }
        open(cfg, pool, RxMode::Nowait)
    }
}

mod posted {
    tapring::tap::tap_suite!(super::UringPosted);
}

mod multishot {
    tapring::tap::tap_suite!(super::UringMultishot);
}

mod nowait {
    tapring::tap::tap_suite!(super::UringNowait);
}
