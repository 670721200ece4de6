//! What the facade's integration tests share: every backend and Rx mode
//! as a port builder, the process's CPU time, and a port's device moved
//! into a namespace.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::time::Duration;

use tapring::RxMode;
use tapring::prelude::*;
use tapring::uring::UringConfig;
use tapring_testkit::quiet_ip;

/// How to open a port of one variant, on an interface named so.
pub type Opener = Box<dyn Fn(&str) -> PortBuilder>;

/// Every backend and Rx mode this kernel runs, named for messages.
pub fn variants() -> Vec<(String, Opener)> {
    let mut out: Vec<(String, Opener)> = vec![(
        "read-write".to_owned(),
        Box::new(|name| PortBuilder::new(name).backend(Backend::ReadWrite)),
    )];
    let p = tapring::uring::probe();
    if !p.usable() {
        eprintln!("io_uring variants skipped: io_uring is not usable here");
        return out;
    }
    for (mode, supported) in [
        (RxMode::Posted, true),
        (RxMode::Multishot, p.multishot()),
        (RxMode::Nowait, p.nowait()),
    ] {
        if !supported {
            eprintln!("io_uring {mode} skipped: not supported by this kernel");
            continue;
        }
        out.push((
            format!("io_uring {mode}"),
            Box::new(move |name| {
                PortBuilder::new(name)
                    .backend(Backend::IoUring)
                    .io_uring(UringConfig::default().rx_mode(mode))
            }),
        ));
    }
    out
}

/// CPU time this process has used (user + system), from /proc.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("comm ends") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ, which /proc counts in: 100 in Linux's user ABI everywhere.
    Duration::from_millis(ticks * 10)
}

/// Puts `name` into namespace `ns` with address `cidr`, IPv6 off, up.
pub fn place(name: &str, ns: &str, cidr: &str) {
    assert!(quiet_ip(&["link", "set", name, "netns", ns]), "move {name}");
    let v6 = format!("echo 1 > /proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    assert!(
        quiet_ip(&["netns", "exec", ns, "sh", "-c", &v6]),
        "IPv6 off"
    );
    assert!(quiet_ip(&["-n", ns, "addr", "add", cidr, "dev", name]));
    assert!(quiet_ip(&["-n", ns, "link", "set", name, "up"]));
}
