//! `tapring ping` (hidden): tapring-testkit's ICMP echo client on the
//! command line, so scripts (`.ci/examples.sh`) need no `ping` binary.
//! Pings from the caller's namespace or a named one; no sandbox.

use crate::error::HarnessError;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Arguments of `tapring ping`.
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "\
Like `ping -c COUNT -i INTERVAL -W TIMEOUT -s SIZE ADDR`, from a raw ICMP \
socket (needs CAP_NET_RAW; CAP_SYS_ADMIN too with --netns). Prints one \
summary line; the exit code is non-zero unless every echo came back intact.")]
pub struct PingArgs {
    /// Ping from this named network namespace (/run/netns/NAME, as `ip
    /// netns add` makes); default: the caller's.
    #[arg(long)]
    pub netns: Option<String>,
    /// Echo requests to send.
    #[arg(short = 'c', long, default_value_t = 3)]
    pub count: u32,
    /// Payload bytes per request.
    #[arg(short = 's', long, default_value_t = 56)]
    pub size: usize,
    /// Seconds between requests.
    #[arg(short = 'i', long, default_value_t = 0.2)]
    pub interval: f64,
    /// Seconds to wait for replies after the last request.
    #[arg(short = 'W', long, default_value_t = 2.0)]
    pub timeout: f64,
    /// The IPv4 address to ping.
    pub addr: Ipv4Addr,
}

fn seconds(what: &str, s: f64) -> Result<Duration, HarnessError> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| *d <= Duration::from_secs(60))
        .ok_or_else(|| HarnessError::Usage(format!("--{what} {s}: give 0 to 60 seconds")))
}

/// Runs `tapring ping`.
pub fn run(args: &PingArgs) -> Result<(), HarnessError> {
    let interval = seconds("interval", args.interval)?;
    let timeout = seconds("timeout", args.timeout)?;
    if args.count == 0 || args.count > 1000 {
        return Err(HarnessError::Usage("--count: give 1 to 1000".into()));
    }
    let report = tapring_testkit::ping_in_netns(
        args.netns.as_deref(),
        args.addr,
        args.size,
        args.count,
        interval,
        timeout,
    )
    .map_err(|e| HarnessError::Check(format!("ping {}: {e}", args.addr)))?;
    println!("{}: {report}", args.addr);
    if report.all_replied() {
        Ok(())
    } else {
        Err(HarnessError::Check(format!("ping {}: {report}", args.addr)))
    }
}
