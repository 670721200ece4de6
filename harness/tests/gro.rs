//! `tapring bench --test gro` end to end: TCP from nsA to nsB across a
//! forwarder whose ports differ in offloads, for each backend: offloads on
//! B only with software GRO on and off, on A only (software GSO), on
//! neither; and segments per second into a port with offloads, GRO on and
//! off. The JSON has every run with the ports' offloads, the tables the
//! paired ratios. Needs CAP_NET_ADMIN (skips with one line unless
//! TAPRING_REQUIRE_TAP=1).

use std::time::Duration;
use tapring_testkit::require_tap;

mod common;
use common::bench_with_json;

#[test]
fn bench_gro_runs_every_mixed_offload_path_and_prints_the_ratios() {
    if !require_tap() {
        return;
    }
    let (stdout, doc) = bench_with_json(
        &[
            "--test",
            "gro",
            "--tcp-load",
            "builtin",
            "--seconds",
            "0.5",
            "--rounds",
            "1",
        ],
        Duration::from_secs(120),
    );
    let tcp = doc["tcp"].as_array().expect("tcp records");
    for backend in ["read-write", "io_uring"] {
        for (sides, gro) in [
            ([false, true], true),
            ([false, true], false),
            ([true, false], true),
            ([false, false], true),
        ] {
            let found = tcp.iter().find(|r| {
                r["path"] == backend
                    && r["mixed"] == true
                    && r["sides"] == serde_json::json!(sides)
                    && r["gro"] == gro
            });
            let r = found.unwrap_or_else(|| panic!("no {backend} {sides:?} gro {gro}: {tcp:?}"));
            assert!(r["gbps"].as_f64().unwrap() > 0.0, "nothing moved: {r}");
        }
    }
    assert!(stdout.contains("TCP across mixed offloads"), "{stdout}");
    for ratio in ["GRO on / off: ", "software GSO / no offloads: "] {
        let lines = stdout.lines().filter(|l| l.contains(ratio)).count();
        assert_eq!(lines, 2, "{ratio:?} once per backend:\n{stdout}");
    }
    // Segments per second into the port with offloads, GRO on and off.
    let frames = doc["gro_frames"].as_array().expect("gro_frames records");
    for backend in ["read-write", "io_uring"] {
        for gro in [true, false] {
            let r = frames
                .iter()
                .find(|r| r["backend"] == backend && r["gro"] == gro)
                .unwrap_or_else(|| panic!("no gro frames {backend} {gro}: {frames:?}"));
            let (segments, written) = (
                r["segments"].as_u64().unwrap(),
                r["frames"].as_u64().unwrap(),
            );
            assert!(segments > 0, "nothing moved: {r}");
            if gro {
                assert!(written < segments, "GRO on, segments coalesced: {r}");
            } else {
                assert_eq!(written, segments, "GRO off, one frame per segment: {r}");
            }
        }
    }
    assert!(stdout.contains("gro frames"), "{stdout}");
    // Only the gro test ran: no regular TCP table.
    assert!(!stdout.contains("vs plain"), "{stdout}");
}
