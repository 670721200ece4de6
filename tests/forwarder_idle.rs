//! The library `Forwarder` between two namespaces, with each threading and
//! backend: a kernel ping crosses it, and idle it sleeps (under 2% of a
//! CPU). With one thread for both directions it sleeps on both Rx queues'
//! readiness fds at once, so neither direction waits for the other. One
//! test in this binary, so the process's CPU time is its own.

use std::net::Ipv4Addr;
use std::time::Duration;

use tapring::prelude::*;
use tapring::{ForwarderConfig, Threading};
use tapring_testkit::{NetnsGuard, ping_in_netns, require_tap, unique_name};

mod common;
use common::{cpu_time, place};

#[test]
fn the_forwarder_carries_ping_and_sleeps_when_idle_with_each_threading() {
    if !require_tap() {
        return;
    }
    let mut backends = vec![Backend::ReadWrite];
    if tapring::uring::probe().usable() {
        backends.push(Backend::IoUring);
    } else {
        eprintln!("io_uring skipped: not usable here");
    }
    let mut subnet = 50;
    for threading in [Threading::PerDirection, Threading::PerQueuePair] {
        for &backend in &backends {
            let what = format!("{backend}, {threading:?}");
            let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
            let (na, nb) = (unique_name("tfa"), unique_name("tfb"));
            let (ns_a, ns_b) = (NetnsGuard::new(), NetnsGuard::new());
            let a = PortBuilder::new(&na).backend(backend).open(&pool).unwrap();
            let b = PortBuilder::new(&nb).backend(backend).open(&pool).unwrap();
            let config = ForwarderConfig::default().threading(threading);
            let forwarder = Forwarder::start_with(vec![a, b], config).unwrap();
            let (a_addr, b_addr) = (
                Ipv4Addr::new(198, 18, subnet, 1),
                Ipv4Addr::new(198, 18, subnet, 2),
            );
            subnet += 1;
            place(&na, ns_a.name(), &format!("{a_addr}/24"));
            place(&nb, ns_b.name(), &format!("{b_addr}/24"));
            let ping = ping_in_netns(
                Some(ns_a.name()),
                b_addr,
                56,
                3,
                Duration::from_millis(100),
                Duration::from_secs(2),
            )
            .unwrap_or_else(|e| panic!("{what}: ping: {e}"));
            assert!(ping.all_replied(), "{what}: {ping:?}");
            std::thread::sleep(Duration::from_secs(1)); // TCP teardown and stragglers settle
            let before = cpu_time();
            std::thread::sleep(Duration::from_secs(2));
            let used = cpu_time() - before;
            eprintln!("{what}: idle CPU {used:?} in 2 s");
            assert!(
                used <= Duration::from_millis(40),
                "{what}: an idle forwarder used {used:?} of CPU in 2 s (limit 2%)"
            );
            let report = forwarder.stop();
            assert!(report.dirs[0].packets >= 3, "{what}: {report}");
            assert!(
                report.lanes.iter().all(|l| l.errors.is_empty()),
                "{what}: {report}"
            );
        }
    }
}
