//! The real-TAP conformance suite (the very cases the read/write backend
//! passes, see `tapring_testkit::suite`) run against the io_uring
//! backend: once per Rx mode, and no-wait once more without registered
//! buffers. Needs root (skips with one line otherwise, fails under
//! TAPRING_REQUIRE_TAP=1).

use tapring_core::{Pool, RxMode};
use tapring_device::TapConfig;
use tapring_testkit::suite::{SuiteBackend, SuiteOptions};
use tapring_uring::{FixedBuffers, UringConfig, UringPort};

fn open(
    cfg: &TapConfig,
    pool: &Pool,
    rx_mode: RxMode,
    fixed_buffers: FixedBuffers,
) -> Result<UringPort, Box<dyn std::error::Error>> {
    // The suite's smallest pool has 64 buffers and a ring may lend at most
    // half. With multishot this small, bursts of traffic end the read with
    // ENOBUFS and it is re-armed: that path is exercised too.
    let ucfg = UringConfig::default()
        .rx_mode(rx_mode)
        .fixed_buffers(fixed_buffers)
        .rx_depth(32)
        .multishot_buffers(32)
        .tx_depth(32);
    Ok(UringPort::open(cfg, pool, ucfg)?)
}

/// Whether this kernel can run `mode` (`Err`: why not).
fn supported(mode: RxMode) -> Result<(), Box<dyn std::error::Error>> {
    let p = tapring_uring::probe();
    match mode {
        RxMode::Multishot if !p.multishot() => Err("kernel without multishot read (6.7+)".into()),
        RxMode::Nowait if !p.nowait() => {
            Err("kernel without RWF_NOWAIT reads on tun (6.4+)".into())
        }
        _ => Ok(()),
    }
}

/// Defines a suite backend `$ty` named `$name` running io_uring in Rx mode
/// `$mode` with registered buffers as `$fixed` says, and the suite's tests
/// for it in module `$module`.
macro_rules! uring_suite {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $mode:expr, $fixed:expr, $module:ident) => {
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
                open(cfg, pool, $mode, $fixed)
            }
        }

        mod $module {
            tapring_testkit::tap_suite!(super::$ty);
        }
    };
}

// Between them the variants cover every read and write opcode: READ_FIXED
// (posted, no-wait), READ (no-wait without registered buffers), the
// multishot read, WRITE (posted, no-wait), WRITE_FIXED (multishot) and
// WRITEV (chains, in every variant). Where the pool cannot be pinned
// (no CAP_IPC_LOCK and a small RLIMIT_MEMLOCK) the fixed variants run
// plain reads and writes instead.
uring_suite!(
    /// io_uring with one posted read per buffer (registered Rx buffers, the
    /// default).
    UringPosted,
    "uring-posted",
    RxMode::Posted,
    FixedBuffers::Rx,
    posted
);
uring_suite!(
    /// io_uring with a multishot read over a provided-buffer ring, and
    /// writes from registered buffers.
    UringMultishot,
    "uring-multishot",
    RxMode::Multishot,
    FixedBuffers::RxTx,
    multishot
);
uring_suite!(
    /// io_uring with a batch of no-wait reads per burst (registered Rx
    /// buffers, the default).
    UringNowait,
    "uring-nowait",
    RxMode::Nowait,
    FixedBuffers::Rx,
    nowait
);
uring_suite!(
    /// io_uring with no-wait reads into plain (unregistered) buffers.
    UringNowaitPlain,
    "uring-nowait-plain",
    RxMode::Nowait,
    FixedBuffers::Off,
    nowait_plain
);
