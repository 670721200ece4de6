//! A tokio forwarder (two tasks, one per direction, over
//! `PortBuilder::open_async` queues) joins two network namespaces: a
//! kernel ping and a TCP transfer cross it, on the current-thread and the
//! multi-thread runtime, over each backend; idle, it costs under 2% of a
//! CPU. One test in this binary, so the process's CPU time is its own.
#![cfg(feature = "tokio")]

use std::net::Ipv4Addr;
use std::time::Duration;

use tapring::prelude::*;
use tapring::tokio::{AsyncRx, AsyncTx};
use tapring::{AnyRxQueue, AnyTxQueue};
use tapring_testkit::{NetnsGuard, ping_in_netns, require_tap, tcp_transfer_between, unique_name};

/// One direction: whatever arrives on `rx` leaves through `tx`.
async fn forward(
    mut rx: AsyncRx<AnyRxQueue>,
    mut tx: AsyncTx<AnyTxQueue>,
) -> Result<(), tapring::Error> {
    let mut burst: Burst = Burst::new();
    loop {
        rx.rx_burst(&mut burst).await?;
        tx.tx_burst(&mut burst).await?;
    }
}

mod common;
use common::{cpu_time, place};

fn run(flavor: &str, backend: Backend, subnet: u8) {
    let what = format!("{backend} on the {flavor} runtime");
    let runtime = match flavor {
        "current-thread" => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    }
    .enable_all()
    .build()
    .unwrap();
    let pool = Pool::new(PoolConfig::standard(4096)).unwrap();
    let (na, nb) = (unique_name("tka"), unique_name("tkb"));
    let (ns_a, ns_b) = (NetnsGuard::new(), NetnsGuard::new());
    let a_addr = Ipv4Addr::new(198, 18, subnet, 1);
    let b_addr = Ipv4Addr::new(198, 18, subnet, 2);

    // The runtime runs on a thread of its own (a current-thread runtime
    // only runs while something blocks on it); the test drives traffic.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let forwarder = {
        let (pool, na, nb) = (pool.clone(), na.clone(), nb.clone());
        std::thread::spawn(move || -> Result<(), String> {
            runtime.block_on(async move {
                let opened = async {
                    let mut a = PortBuilder::new(&na).backend(backend).open_async(&pool)?;
                    let mut b = PortBuilder::new(&nb).backend(backend).open_async(&pool)?;
                    let a_to_b = tokio::spawn(forward(a.take_rx(0)?, b.take_tx(0)?));
                    let b_to_a = tokio::spawn(forward(b.take_rx(0)?, a.take_tx(0)?));
                    Ok::<_, Box<dyn std::error::Error>>((a_to_b, b_to_a))
                };
                let (t1, t2) = match opened.await {
                    Ok(tasks) => tasks,
                    Err(e) => {
                        let _ = started_tx.send(Err(e.to_string()));
                        return Ok(());
                    }
                };
                let _ = started_tx.send(Ok(()));
                let _ = stop_rx.await;
                for t in [t1, t2] {
                    if t.is_finished() {
                        return match t.await {
                            Ok(Err(e)) => Err(format!("a direction failed: {e}")),
                            other => Err(format!("a direction ended: {other:?}")),
                        };
                    }
                    t.abort();
                    let _ = t.await;
                }
                Ok(())
            })
        })
    };
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the runtime thread starts")
        .unwrap_or_else(|e| panic!("{what}: {e}"));
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

    tcp_transfer_between(
        ns_a.name(),
        ns_b.name(),
        b_addr,
        5201,
        8 << 20,
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{what}: TCP: {e}"));

    // Idle: let the TCP teardown settle, then count CPU over two seconds.
    std::thread::sleep(Duration::from_secs(1)); // TCP teardown and stragglers settle
    let before = cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_time() - before;
    eprintln!("{what}: idle CPU {used:?} in 2 s");
    assert!(
        used <= Duration::from_millis(40),
        "{what}: an idle forwarder used {used:?} of CPU in 2 s (limit 2%)"
    );
    stop_tx.send(()).expect("the runtime still runs");
    forwarder
        .join()
        .expect("the runtime thread")
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(pool.stats().in_use, 0, "{what}: every buffer came back");
}

#[test]
fn a_tokio_forwarder_carries_ping_and_tcp_and_sleeps_when_idle() {
    if !require_tap() {
        return;
    }
    let mut subnet = 40;
    let mut backends = vec![Backend::ReadWrite];
    if tapring::uring::probe().usable() {
        backends.push(Backend::IoUring);
    } else {
        eprintln!("io_uring skipped: not usable here");
    }
    for flavor in ["current-thread", "multi-thread"] {
        for &backend in &backends {
            run(flavor, backend, subnet);
            subnet += 1;
        }
    }
}
