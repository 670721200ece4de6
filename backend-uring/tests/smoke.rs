//! Real-TAP smoke test of the io_uring data path: frames written through
//! tx_burst show up in the interface's counters, and ARP requests the kernel
//! sends out of the interface arrive through rx_burst, in both Rx modes.

use std::process::Command;
use std::time::{Duration, Instant};
use tapring_core::{Burst, Pool, PoolConfig, Port, RxMode, RxQueue, TxQueue, Wakeup};
use tapring_device::TapConfig;
use tapring_testkit::{NetnsGuard, require_tap, unique_name};
use tapring_uring::{UringConfig, UringPort};

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .expect("ip runs")
        .success();
    assert!(ok, "ip {args:?} failed");
}

/// A port in Rx mode `mode` on a fresh TAP named from `prefix`, moved into
/// a private namespace (its fds stay ours), addressed `cidr` and up.
fn port_in_netns(prefix: &str, mode: RxMode, cidr: &str) -> (Pool, UringPort, String, NetnsGuard) {
    let name = unique_name(prefix);
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    let cfg = UringConfig::default().rx_mode(mode);
    let port = UringPort::open(&TapConfig::named(&name), &pool, cfg).unwrap();
    let ns = NetnsGuard::new();
    ip(&["link", "set", "dev", &name, "netns", ns.name()]);
    ip(&["-n", ns.name(), "addr", "add", cidr, "dev", &name]);
    ip(&["-n", ns.name(), "link", "set", &name, "up"]);
    (pool, port, name, ns)
}

fn arp_arrives_and_tx_counts(mode: RxMode) {
    if !require_tap() {
        return;
    }
    // An address of the benchmarking range and no peer: the kernel asks for
    // 198.18.7.2 with ARP requests whenever we send it a datagram.
    let (pool, mut port, name, ns) = port_in_netns("tru", mode, "198.18.7.1/24");
    let mut rx = port.take_rx(0).unwrap();
    let mut tx = port.take_tx(0).unwrap();
    rx.start().unwrap();
    assert_eq!(rx.mode(), mode);

    let counters = || {
        let path = format!("/sys/class/net/{name}/statistics/rx_packets");
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "cat", &path])
            .output()
            .expect("ip netns exec runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let before = counters();
    let mut burst: Burst = Burst::new();
    for i in 0..32u8 {
        let mut p = pool.alloc().unwrap();
        let mut frame = [0u8; 60];
        frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        frame[12..14].copy_from_slice(&[0x88, 0xb5]);
        frame[14] = i;
        p.extend_from_slice(&frame).unwrap();
        burst.push(p).unwrap();
    }
    assert_eq!(tx.tx_burst(&mut burst).unwrap(), 32);
    let deadline = Instant::now() + Duration::from_secs(2);
    while tx.in_flight() > 0 && Instant::now() < deadline {
        tx.reclaim().unwrap();
    }
    assert_eq!(tx.stats().packets, 32);
    let after = counters();
    assert!(after >= before + 32, "kernel saw {} frames", after - before);

    let trigger = || {
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "bash", "-c"])
            .arg("for i in 1 2 3 4 5; do echo x > /dev/udp/198.18.7.2/9; sleep 0.3; done")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("bash runs")
    };
    let await_arp = |rx: &mut tapring_uring::UringRxQueue| {
        let mut pinger = trigger();
        let mut burst: Burst = Burst::new();
        let mut got_arp = false;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !got_arp && Instant::now() < deadline {
            rx.wait(Some(Duration::from_millis(100))).unwrap();
            rx.rx_burst(&mut burst).unwrap();
            burst.drain_each(|p| {
                let d = p.data();
                if d.len() >= 42 && d[12..14] == [0x08, 0x06] && d[38..42] == [198, 18, 7, 2] {
                    got_arp = true;
                }
            });
        }
        let _ = pinger.kill();
        let _ = pinger.wait();
        got_arp
    };
    assert!(
        await_arp(&mut rx),
        "no ARP request for 198.18.7.2 arrived; stats {:?}",
        rx.stats()
    );
    // Stop returns every buffer (and, in multishot mode, withdraws the
    // provided-buffer ring); the next burst starts again.
    rx.stop().unwrap();
    assert_eq!(rx.in_flight(), 0);
    assert!(
        await_arp(&mut rx),
        "nothing after a restart; stats {:?}",
        rx.stats()
    );
    assert!(rx.stats().packets >= 1);
    rx.stop().unwrap();
    tx.stop().unwrap();
    drop(rx);
    drop(tx);
    assert_eq!(pool.stats().in_use, 0, "every buffer back after stop");
}

#[test]
fn posted_reads_receive_and_writes_transmit() {
    arp_arrives_and_tx_counts(RxMode::Posted);
}

#[test]
fn multishot_receives_and_writes_transmit() {
    if !tapring_uring::probe().multishot() {
        eprintln!("skipped: kernel without multishot read");
        return;
    }
    arp_arrives_and_tx_counts(RxMode::Multishot);
}

#[test]
fn nowait_reads_receive_and_writes_transmit() {
    if !tapring_uring::probe().nowait() {
        eprintln!("skipped: kernel without RWF_NOWAIT reads on tun");
        return;
    }
    arp_arrives_and_tx_counts(RxMode::Nowait);
}

/// The Rx modes this kernel runs (saying which it skips).
fn supported_modes() -> Vec<RxMode> {
    let p = tapring_uring::probe();
    let modes = [
        (RxMode::Posted, true),
        (RxMode::Multishot, p.multishot()),
        (RxMode::Nowait, p.nowait()),
    ];
    modes
        .into_iter()
        .filter(|&(mode, supported)| {
            if !supported {
                eprintln!("{mode:?} skipped: not supported by this kernel");
            }
            supported
        })
        .map(|(mode, _)| mode)
        .collect()
}

/// A frame that arrived before the eventfd existed still wakes an event
/// loop: the kernel signals the eventfd only when completion work first
/// appears, so `arm_wakeup` reports work that is already waiting as
/// `Wakeup::Pending`. (Without that, a posted read completed by a frame
/// queued before the eventfd existed left the loop asleep for good.) The
/// idle and busy wake-up counts are in the facade's tests/readiness.rs.
#[test]
fn eventfd_wakes_for_work_that_predates_it() {
    if !require_tap() {
        return;
    }
    for mode in supported_modes() {
        let (_pool, mut port, _name, ns) = port_in_netns("trk", mode, "198.18.9.1/24");
        let mut rx = port.take_rx(0).unwrap();
        rx.start().unwrap();
        let mut burst: Burst = Burst::new();
        rx.rx_burst(&mut burst).unwrap();
        burst.clear();
        // One datagram to an unresolved neighbour: the kernel sends an ARP
        // request out of the TAP (into our queue) before the eventfd exists.
        let sent = Command::new("ip")
            .args(["netns", "exec", ns.name(), "bash", "-c"])
            .arg("echo x > /dev/udp/198.18.9.2/9")
            .status()
            .expect("bash runs");
        assert!(sent.success(), "{mode:?}: could not send a datagram");
        std::thread::sleep(Duration::from_millis(200));
        let readiness = rx.readiness().unwrap();
        let woke = match rx.arm_wakeup().unwrap() {
            Wakeup::Pending => true,
            Wakeup::Starved => panic!("{mode:?}: starved with a pool of free buffers"),
            Wakeup::Armed => {
                !tapring_device::wait_ready(&[readiness], Some(Duration::from_secs(2)))
                    .unwrap()
                    .is_empty()
            }
        };
        assert!(woke, "{mode:?}: the eventfd slept through a waiting frame");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut found = false;
        while !found && Instant::now() < deadline {
            rx.rx_burst(&mut burst).unwrap();
            burst.drain_each(|p| found |= p.data().get(12..14) == Some(&[0x08, 0x06]));
        }
        assert!(
            found,
            "{mode:?}: the ARP request was not delivered; stats {:?}",
            rx.stats()
        );
        rx.stop().unwrap();
    }
}

/// Whether this thread may pin memory beyond RLIMIT_MEMLOCK (CAP_IPC_LOCK,
/// bit 14 of the effective set).
fn may_pin_memory() -> bool {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 14) != 0)
}

/// Registered buffers go where `UringConfig::fixed_buffers` says: Rx only
/// by default, never for multishot reads (they land in provided buffers),
/// Tx too when asked, nowhere when off.
#[test]
fn fixed_buffers_follow_the_setting() {
    use tapring_uring::FixedBuffers;
    if !require_tap() {
        return;
    }
    let p = tapring_uring::probe();
    let pinnable = may_pin_memory() && p.fixed_buffers;
    let cases = [
        (FixedBuffers::Rx, RxMode::Posted, true, false),
        (FixedBuffers::Rx, RxMode::Nowait, p.nowait(), false),
        (FixedBuffers::RxTx, RxMode::Posted, true, true),
        (FixedBuffers::RxTx, RxMode::Multishot, false, true),
        (FixedBuffers::Off, RxMode::Posted, false, false),
    ];
    assert_eq!(UringConfig::default().fixed_buffers, FixedBuffers::Rx);
    for (fixed, mode, rx_fixed, tx_fixed) in cases {
        if mode == RxMode::Multishot && !p.multishot() || mode == RxMode::Nowait && !p.nowait() {
            continue;
        }
        // Multishot lends up to 2048 buffers and may take half the pool.
        let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
        let cfg = UringConfig::default().rx_mode(mode).fixed_buffers(fixed);
        let name = unique_name("trfb");
        let mut port = UringPort::open(&TapConfig::named(&name), &pool, cfg).unwrap();
        let rx = port.take_rx(0).unwrap();
        let tx = port.take_tx(0).unwrap();
        let what = format!("{fixed:?} {mode:?}");
        // Without CAP_IPC_LOCK registration depends on RLIMIT_MEMLOCK, so
        // only "not asked for, not registered" is certain there.
        for (queue, asked, got) in [
            ("Rx", rx_fixed, rx.uses_fixed_buffers()),
            ("Tx", tx_fixed, tx.uses_fixed_buffers()),
        ] {
            if asked && pinnable {
                assert!(got, "{queue}, {what}: not registered");
            } else if !asked {
                assert!(!got, "{queue}, {what}: registered unasked");
            }
        }
    }
}

/// A configuration that cannot work is refused with a message that names
/// the `UringConfig` field to change and a value that would work.
#[test]
fn bad_settings_name_the_field_and_what_would_work() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
    let bad_depth = UringPort::open(
        &TapConfig::named(unique_name("trcf")),
        &pool,
        UringConfig::default().rx_depth(3),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad_depth.contains("UringConfig::rx_depth = 3") && bad_depth.contains("power of two"),
        "{bad_depth}"
    );
    // The default ring of 2048 provided buffers needs a pool of 4096.
    let modes = supported_modes();
    for (mode, field) in [
        (RxMode::Multishot, "multishot_buffers = 2048"),
        (RxMode::Posted, "rx_depth = 2048"),
    ] {
        if !modes.contains(&mode) {
            eprintln!("skipped {mode}: this kernel lacks it");
            continue;
        }
        let cfg = UringConfig::default().rx_mode(mode).rx_depth(2048);
        let mut port = UringPort::open(&TapConfig::named(unique_name("trcf")), &pool, cfg).unwrap();
        let err = port.take_rx(0).unwrap_err().to_string();
        assert!(
            err.contains(field) && err.contains("512 or less") && err.contains("4096"),
            "{mode}: {err}"
        );
        // Refused, not claimed: asking again gives the same reason, not
        // "already taken".
        let again = port.take_rx(0).unwrap_err().to_string();
        assert_eq!(again, err, "{mode}");
        eprintln!("{err}");
    }
}

/// A queue whose rings are bound to one thread (SINGLE_ISSUER, the default
/// with DEFER_TASKRUN) says so when driven from another, with a typed error
/// that names the rule; with `defer_taskrun(false)` any thread may drive it.
#[test]
fn a_queue_driven_from_another_thread_names_the_rule() {
    if !require_tap() {
        return;
    }
    if !tapring_uring::probe().defer_taskrun {
        eprintln!("skipped: this kernel has no DEFER_TASKRUN, so rings are not thread-bound");
        return;
    }
    for (defer, mode) in [(true, RxMode::Posted), (false, RxMode::Posted)] {
        let name = unique_name("trb");
        let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
        let cfg = UringConfig::default().rx_mode(mode).defer_taskrun(defer);
        let mut port = UringPort::open(&TapConfig::named(&name).up(true), &pool, cfg).unwrap();
        let mut rx = port.take_rx(0).unwrap();
        rx.start().unwrap();
        let mut burst: Burst = Burst::new();
        let on_other_thread = std::thread::spawn(move || {
            let r = (0..4).try_for_each(|_| rx.rx_burst(&mut burst).map(drop));
            burst.clear();
            (r, rx)
        });
        let (result, rx) = on_other_thread.join().unwrap();
        if defer {
            let e = result.expect_err("a bound ring refuses another thread");
            assert_eq!(e, tapring_core::Error::WrongThread, "{e}");
            assert!(e.to_string().contains("defer_taskrun(false)"), "{e}");
        } else {
            result.expect("an unbound ring works from any thread");
        }
        drop(rx);
    }
}

/// The thread a queue is bound to may have exited before another drives
/// the queue: the newcomer may get the old one's stack and thread-local
/// storage, and must still be told it is not the ring's thread (the kernel
/// keeps the first one as the submitter and refuses every other).
#[test]
fn a_queue_bound_to_an_exited_thread_still_names_the_rule() {
    if !require_tap() {
        return;
    }
    if !tapring_uring::probe().defer_taskrun {
        eprintln!("skipped: this kernel has no DEFER_TASKRUN, so rings are not thread-bound");
        return;
    }
    let name = unique_name("trb");
    let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
    let cfg = UringConfig::default().rx_mode(RxMode::Posted);
    let mut port = UringPort::open(&TapConfig::named(&name).up(true), &pool, cfg).unwrap();
    let rx = port.take_rx(0).unwrap();
    let rx = std::thread::spawn(move || {
        let mut rx = rx;
        rx.start().unwrap();
        rx
    })
    .join()
    .unwrap();
    let (result, rx) = std::thread::spawn(move || {
        let mut rx = rx;
        let mut burst: Burst = Burst::new();
        let r = (0..4).try_for_each(|_| rx.rx_burst(&mut burst).map(drop));
        burst.clear();
        (r, rx)
    })
    .join()
    .unwrap();
    assert_eq!(
        result.expect_err("a ring bound to an exited thread refuses a new one"),
        tapring_core::Error::WrongThread
    );
    // Its buffers are still lent to a ring nobody can drive: they stay out
    // of the pool rather than come back while the kernel holds them.
    drop(rx);
}
