//! The real-TAP conformance suite (`tapring_testkit::suite`) run against
//! the read/write backend. Needs root (skips otherwise).

use tapring_core::Pool;
use tapring_device::TapConfig;
use tapring_rw::{RwOptions, RwPort};
use tapring_testkit::suite::{SuiteBackend, SuiteOptions};

/// The read/write backend, with chains when a case asks for them.
pub struct RwBackend;

impl SuiteBackend for RwBackend {
    const NAME: &'static str = "rw";
    const RX_CHAINS: bool = true;
    type Port = RwPort;
    fn open(
        cfg: &TapConfig,
        pool: &Pool,
        opts: &SuiteOptions,
    ) -> Result<RwPort, Box<dyn std::error::Error>> {
        let options = RwOptions::default().rx_segments(opts.rx_segments);
        Ok(RwPort::open(cfg, pool, options)?)
    }
}

tapring_testkit::tap_suite!(RwBackend);
