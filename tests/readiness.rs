//! Event-loop integration on real TAPs, for every backend and Rx mode: a
//! loop that follows the readiness protocol (`rx_burst` until 0,
//! `arm_wakeup`, sleep on `readiness()`) sleeps while the queue is idle,
//! wakes for frames, says `Starved` when the pool is empty and resumes
//! when buffers come back, and a Tx queue never leaves its sender waiting.

use std::time::{Duration, Instant};

use tapring::prelude::*;
use tapring::uring::UringConfig;
use tapring::{AnyRxQueue, Pkt, RxMode};
use tapring::{Readiness, Wakeup};
use tapring_device::link::PacketSocket;
use tapring_testkit::{InterfaceGuard, disable_ipv6, quiet_ip, require_tap, unique_name};

mod common;
use common::{Opener, variants};

/// A port on a fresh TAP with IPv6 off (so the kernel sends nothing of its
/// own), up.
fn open_quiet(open: &Opener, pool: &Pool) -> (AnyPort, InterfaceGuard) {
    let name = unique_name("trw");
    let guard = InterfaceGuard::new(name.clone());
    let port = open(&name).open(pool).expect("port opens");
    assert!(disable_ipv6(&name), "IPv6 off on {name}");
    assert!(quiet_ip(&["link", "set", &name, "up"]), "{name} up");
    (port, guard)
}

/// Sleeps on `r` for up to `timeout`; whether it became ready.
fn sleep_on(r: Readiness, timeout: Duration) -> bool {
    !tapring::wait_ready(&[r], Some(timeout))
        .expect("poll")
        .is_empty()
}

/// Runs the readiness protocol on `rx` until `until` or until `want`
/// frames came; returns (wake-ups, frames).
fn event_loop(rx: &mut AnyRxQueue, until: Instant, want: usize) -> (usize, usize) {
    let r = rx.readiness().expect("readiness");
    let mut burst: Burst = Burst::new();
    let (mut wakes, mut frames) = (0, 0);
    while Instant::now() < until && frames < want {
        let n = rx.rx_burst(&mut burst).expect("rx_burst");
        frames += n;
        burst.clear();
        if n > 0 {
            continue;
        }
        if rx.arm_wakeup().expect("arm_wakeup") == Wakeup::Pending {
            continue;
        }
        let left = until.saturating_duration_since(Instant::now());
        if sleep_on(r, left.min(Duration::from_millis(200))) {
            wakes += 1;
        }
    }
    (wakes, frames)
}

#[test]
fn an_idle_queue_sleeps_and_wakes_for_frames() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    for (what, open) in variants() {
        let (mut port, _guard) = open_quiet(&open, &pool);
        let ifindex = port.info().ifindex;
        let mut rx = port.take_rx(0).unwrap();
        // Whatever the link brought up goes first.
        let _ = event_loop(&mut rx, Instant::now() + Duration::from_millis(200), 1000);

        let (wakes, frames) = event_loop(&mut rx, Instant::now() + Duration::from_secs(1), 1);
        assert_eq!(frames, 0, "{what}: nothing was sent");
        assert!(
            wakes <= 3,
            "{what}: an idle queue woke its event loop {wakes} times in one second"
        );

        let sock = PacketSocket::send_only(ifindex).expect("packet socket");
        let sender = std::thread::spawn(move || {
            for seq in 0..5 {
                std::thread::sleep(Duration::from_millis(50));
                let frame = tapring_testkit::test_frame(seq, 80);
                sock.send(&frame).expect("frame sent");
            }
        });
        let (wakes, frames) = event_loop(&mut rx, Instant::now() + Duration::from_secs(5), 5);
        sender.join().unwrap();
        assert_eq!(frames, 5, "{what}: every frame sent woke the loop");
        assert!(
            wakes <= 15,
            "{what}: 5 frames 50 ms apart took {wakes} wake-ups"
        );
    }
}

/// A sender that follows the protocol never waits on a fd that will not
/// signal: every burst goes out and every write completes, whether the
/// queue answers `Pending` (writes to a TAP mostly complete within the
/// submitting call) or `Armed` (the fd then signals).
#[test]
fn a_tx_queue_following_the_protocol_always_completes() {
    if !require_tap() {
        return;
    }
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    for (what, open) in variants() {
        let (mut port, _guard) = open_quiet(&open, &pool);
        let mut tx = port.take_tx(0).unwrap();
        let r = tx.readiness().expect("readiness");
        assert_eq!(
            tx.arm_wakeup().unwrap(),
            Wakeup::Pending,
            "{what}: idle Tx has room"
        );
        let mut burst: Burst = Burst::new();
        for seq in 0..32 {
            let mut p = pool.alloc().unwrap();
            p.extend_from_slice(&tapring_testkit::test_frame(seq, 100))
                .unwrap();
            burst.push(p).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut sleeps = 0;
        while !burst.is_empty() || tx.in_flight() > 0 {
            assert!(Instant::now() < deadline, "{what}: Tx never drained");
            tx.reclaim().unwrap();
            tx.tx_burst(&mut burst).unwrap();
            tx.reclaim().unwrap();
            if burst.is_empty() && tx.in_flight() == 0 {
                break;
            }
            if tx.arm_wakeup().unwrap() == Wakeup::Armed {
                assert!(
                    sleep_on(r, Duration::from_secs(2)),
                    "{what}: {} writes in flight and the fd never signalled",
                    tx.in_flight()
                );
                sleeps += 1;
            }
        }
        assert!(sleeps <= 32, "{what}: {sleeps} sleeps for 32 frames");
        assert_eq!(tx.stats().packets, 32, "{what}: every frame written");
        assert_eq!(tx.in_flight(), 0, "{what}: every write completed");
    }
}

#[test]
fn a_starved_queue_says_so_and_resumes_when_buffers_return() {
    if !require_tap() {
        return;
    }
    for (what, open) in variants() {
        // A small pool and rings that fit it.
        let pool = Pool::new(PoolConfig::standard(256)).unwrap();
        let name = unique_name("trw");
        let _guard = InterfaceGuard::new(name.clone());
        let builder = open(&name).io_uring(
            UringConfig::default()
                .rx_mode(mode_of(&what))
                .rx_depth(32)
                .multishot_buffers(32),
        );
        let mut port = if what == "read-write" {
            PortBuilder::new(&name)
                .backend(Backend::ReadWrite)
                .open(&pool)
        } else {
            builder.open(&pool)
        }
        .expect("port opens");
        assert!(disable_ipv6(&name), "IPv6 off on {name}");
        assert!(quiet_ip(&["link", "set", &name, "up"]), "{name} up");
        let ifindex = port.info().ifindex;
        let mut rx = port.take_rx(0).unwrap();
        let mut first: Burst = Burst::new();
        rx.rx_burst(&mut first).unwrap(); // start: lend what it lends
        // The application holds every other buffer.
        let mut held: Vec<Pkt> = std::iter::from_fn(|| pool.alloc()).collect();
        let sock = PacketSocket::send_only(ifindex).expect("packet socket");
        let sent = 200;
        for seq in 0..sent {
            sock.send(&tapring_testkit::test_frame(seq, 80))
                .expect("sent");
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut got: Vec<Burst<64>> = Vec::new();
        let mut starved = false;
        let kept = |got: &Vec<Burst<64>>, first: &Burst| {
            got.iter().map(|b| b.len()).sum::<usize>() + first.len()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        // Until it says Starved, or (posted reads: a completed read whose
        // replacement buffer is missing drops its frame and reads again)
        // every frame is kept or counted as dropped for want of a buffer.
        while !starved
            && kept(&got, &first) + (rx.stats().drops.nombuf as usize) < sent as usize
            && Instant::now() < deadline
        {
            let mut b: Burst<64> = Burst::new();
            if rx.rx_burst(&mut b).unwrap() > 0 {
                got.push(b);
                continue;
            }
            match rx.arm_wakeup().unwrap() {
                Wakeup::Starved => starved = true,
                Wakeup::Pending => {}
                Wakeup::Armed => {
                    let _ = sleep_on(rx.readiness().unwrap(), Duration::from_millis(100));
                }
            }
        }
        let kept = kept(&got, &first);
        let dropped = rx.stats().drops.nombuf as usize;
        eprintln!("{what}: starved {starved}, {kept} kept, {dropped} dropped of {sent}");
        assert!(
            starved || kept + dropped == sent as usize,
            "{what}: an empty pool neither reported Starved nor counted its drops \
             ({kept} kept, {dropped} dropped of {sent})"
        );
        // The buffers come back: the queue resumes and every frame still
        // waiting arrives.
        held.clear();
        got.clear();
        first.clear();
        let mut after = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while kept + dropped + after < sent as usize && Instant::now() < deadline {
            let mut b: Burst = Burst::new();
            after += rx.rx_burst(&mut b).unwrap();
            b.clear();
            if rx.arm_wakeup().unwrap() == Wakeup::Armed {
                let _ = sleep_on(rx.readiness().unwrap(), Duration::from_millis(100));
            }
        }
        assert_eq!(
            kept + dropped + after,
            sent as usize,
            "{what}: every frame arrived or was counted, once buffers returned (starved: {starved})"
        );
    }
}

/// The io_uring Rx mode a variant's name says.
fn mode_of(what: &str) -> RxMode {
    what.strip_prefix("io_uring ")
        .and_then(|m| m.parse().ok())
        .unwrap_or(RxMode::Auto)
}
