//! `tapring`: benchmarks, a forwarder, self-tests and a kernel probe for the
//! tapring packet I/O library, on topologies it builds itself in private
//! network namespaces.
//!
//! [`commands`] holds one module per subcommand; [`lab`] the shared
//! workbench they are built from (sandbox, namespaces, topologies, traffic,
//! ports). Commands import from the lab, never from each other.

#![forbid(unsafe_code)]

mod commands;
mod error;
mod lab;

use clap::{Parser, Subcommand};
use commands::{bench, fwd, ping, probe, selftest};
use error::HarnessError;
use std::process::ExitCode;

/// Fast userspace packet I/O over Linux TAP and TUN devices: measure it,
/// use it, check it.
#[derive(Parser, Debug)]
#[command(name = "tapring", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compare backends: tx, rx, drain, fwd and fwd2 in packets/s, TCP with
    /// and without offloads in Gbit/s beside a veth pair, paired ratios, in
    /// a private network namespace that vanishes afterwards (TAP devices,
    /// or TUN with --mode tun).
    Bench(bench::BenchArgs),
    /// Forward every frame between two TAP interfaces (or IP packet between
    /// two TUN interfaces, --mode tun), or reflect it on one, in the
    /// caller's network namespace, until Ctrl-C or --seconds.
    Fwd(fwd::FwdArgs),
    /// Check tapring end to end (ping, ARP, TCP, multi-queue, lifecycle,
    /// checksums) across its own forwarder over TAP (or TUN, --mode tun)
    /// ports, in a private network namespace.
    Selftest(selftest::SelftestArgs),
    /// What this kernel offers tapring, and what `auto` would pick.
    Probe,
    /// ICMP echo to an address, optionally from a named namespace (for
    /// scripts on machines without `ping`).
    #[command(hide = true)]
    Ping(ping::PingArgs),
}

/// Linux capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// What `command` needs that this process lacks, named exactly: bench and
/// selftest build TAP devices (CAP_NET_ADMIN) inside a private network
/// namespace of their own (CAP_SYS_ADMIN).
fn needs_privilege(command: &str) -> Option<HarnessError> {
    if !tapring::device::probe().tun_device {
        return Some(HarnessError::NeedsPrivilege(
            "/dev/net/tun is missing: load the tun module (modprobe tun)".into(),
        ));
    }
    let missing: Vec<&str> = [
        (
            CAP_NET_ADMIN,
            "CAP_NET_ADMIN (to create TAP devices and set their links up)",
        ),
        (
            CAP_SYS_ADMIN,
            "CAP_SYS_ADMIN (to enter its own network namespace)",
        ),
    ]
    .into_iter()
    .filter(|&(bit, _)| !tapring::device::has_capability(bit))
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return None;
    }
    Some(HarnessError::NeedsPrivilege(format!(
        "tapring {command} needs {}: run it as root, or `sudo setcap cap_net_admin,cap_sys_admin+ep $(which tapring)`",
        missing.join(" and ")
    )))
}

/// Runs `f` if the process may build `command`'s sandbox, else says what
/// it needs.
fn privileged(
    command: &str,
    f: impl FnOnce() -> Result<(), HarnessError>,
) -> Result<(), HarnessError> {
    match needs_privilege(command) {
        Some(e) => Err(e),
        None => f(),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Probe => probe::run(),
        // Arguments first: a bad one fails at once, with or without privileges.
        Command::Bench(args) => {
            bench::validate(args).and_then(|()| privileged("bench", || bench::run(args)))
        }
        // No capability up front: the owner (or group) of a persistent
        // device attaches to it without one; opening says what is missing.
        Command::Fwd(args) => fwd::run(args),
        Command::Selftest(args) => {
            selftest::validate(args).and_then(|()| privileged("selftest", || selftest::run(args)))
        }
        Command::Ping(args) => ping::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapring: {e}");
            ExitCode::from(2)
        }
    }
}
