//! `tapring bench --queues N` end to end: tx, drain, fwd, fwd2 and tcp each
//! run with N queues and, paired in the same rounds, with one queue (the
//! plain arm of fwd and fwd2 too, over every queue pair); the JSON
//! has both, the table prints the "N queues / 1 queue" scaling per test and
//! backend. Needs CAP_NET_ADMIN (skips with one line unless
//! TAPRING_REQUIRE_TAP=1).

use std::time::Duration;
use tapring_testkit::require_tap;

mod common;
use common::bench_with_json;

#[test]
fn bench_with_two_queues_measures_one_queue_beside_and_prints_the_scaling() {
    if !require_tap() {
        return;
    }
    let (stdout, doc) = bench_with_json(
        &[
            "--test",
            "tx,drain,fwd,fwd2,tcp",
            "--queues",
            "2",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
        ],
        Duration::from_secs(120),
    );

    let records = doc["records"].as_array().expect("records");
    for test in ["tx", "drain", "fwd"] {
        for backend in ["read-write", "io_uring"] {
            for size in [64, 1514] {
                let mut queues: Vec<u64> = records
                    .iter()
                    .filter(|r| r["test"] == test && r["backend"] == backend && r["size"] == size)
                    .map(|r| {
                        assert!(r["pps"].as_f64().unwrap() > 0.0, "no packets: {r}");
                        r["queues"].as_u64().unwrap()
                    })
                    .collect();
                queues.sort_unstable();
                assert_eq!(queues, [1, 2], "{test} {backend} {size} B: {records:?}");
                let line = format!("{test} tap {size} {backend}: 2 queues / 1 queue: ");
                assert!(stdout.contains(&line), "no line {line:?} in:\n{stdout}");
            }
        }
        // The summary pairs the two-queue runs with the one-queue runs.
        let summary = doc["summary"].as_array().expect("summary");
        assert!(
            summary
                .iter()
                .filter(|s| s["test"] == test && s["queues"] == 2)
                .all(|s| s["vs_one_queue"].as_array().is_some_and(|v| v.len() == 1)),
            "{summary:?}"
        );
    }

    // fwd and fwd2's plain arm ran at both queue counts, for each size, and
    // its table row for two queues is there.
    let plain = doc["plain"].as_array().expect("plain records");
    for test in ["fwd", "fwd2"] {
        let mut queues: Vec<u64> = plain
            .iter()
            .filter(|r| r["test"] == test)
            .map(|r| {
                assert!(r["pps"].as_f64().unwrap() > 0.0, "no packets: {r}");
                r["queues"].as_u64().unwrap()
            })
            .collect();
        queues.sort_unstable();
        assert_eq!(queues, [1, 1, 2, 2], "plain {test}: {plain:?}");
        let row = stdout.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() > 9 && w[0] == test && w[3] == "2" && w[4] == "io_uring" && w[9].ends_with('x')
        });
        assert!(row, "no plain row for {test} with 2 queues:\n{stdout}");
    }

    let tcp = doc["tcp"].as_array().expect("tcp records");
    for path in ["read-write", "io_uring"] {
        for offload in [false, true] {
            let mut queues: Vec<u64> = tcp
                .iter()
                .filter(|r| r["path"] == path && r["offload"] == offload)
                .map(|r| {
                    assert!(r["gbps"].as_f64().unwrap() > 0.0, "no bytes: {r}");
                    r["queues"].as_u64().unwrap()
                })
                .collect();
            queues.sort_unstable();
            assert_eq!(queues, [1, 2], "tcp {path} offload {offload}: {tcp:?}");
            let line = format!(
                "tcp {path} offloads {}: 2 queues / 1 queue: ",
                if offload { "on" } else { "off" }
            );
            assert!(stdout.contains(&line), "no line {line:?} in:\n{stdout}");
        }
    }
    for (path, name) in [
        ("tokio-current-thread", "tokio-ct"),
        ("tokio-multi-thread", "tokio-mt"),
    ] {
        let mut queues: Vec<u64> = tcp
            .iter()
            .filter(|r| r["path"] == path)
            .map(|r| {
                assert!(r["gbps"].as_f64().unwrap() > 0.0, "no bytes: {r}");
                r["queues"].as_u64().unwrap()
            })
            .collect();
        queues.sort_unstable();
        assert_eq!(queues, [1, 2], "tcp {path}: {tcp:?}");
        let line = format!("tcp {name} offloads on: 2 queues / 1 queue: ");
        assert!(stdout.contains(&line), "no line {line:?} in:\n{stdout}");
    }
    // The plain forwarder and veth stay at one queue.
    assert!(
        tcp.iter()
            .filter(|r| r["path"] == "plain" || r["path"] == "veth")
            .all(|r| r["queues"] == 1),
        "{tcp:?}"
    );
    // Every TCP run, the baselines too, used two parallel streams.
    assert!(tcp.iter().all(|r| r["streams"] == 2), "{tcp:?}");
    assert!(stdout.contains("2 parallel streams"), "{stdout}");
}
