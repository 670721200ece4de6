//! The `tapring` binary end to end: help text, `selftest`, `fwd` between
//! two namespaces this test builds around it, and `bench` leaving nothing
//! behind; each over TAP devices and over TUN devices (`--mode tun`). Tests needing CAP_NET_ADMIN skip with one line unless
//! TAPRING_REQUIRE_TAP=1.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tapring_testkit::{
    NetnsGuard, interface_exists, ping_in_netns, quiet_ip, require_tap, unique_name,
};

mod common;
use common::{BIN, ChildGuard, bench_with_json, lock, run_bounded, text};

/// Interface names and named namespaces of the root namespace.
fn root_view() -> (Vec<String>, String) {
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let mut names: Vec<String> = text(&links.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    let ns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    (names, text(&ns.stdout))
}

#[test]
fn help_lists_the_subcommands() {
    let out = run_bounded(&["--help"], Duration::from_secs(10));
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["bench", "fwd", "selftest", "probe"] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
    for cmd in ["fwd", "selftest"] {
        let out = run_bounded(&[cmd, "--help"], Duration::from_secs(10));
        assert!(out.status.success(), "{cmd} --help failed");
        assert!(text(&out.stdout).contains("CAP_NET_ADMIN"));
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for args in [
        &["ping", "--netns", "tapring-no-such-ns", "198.18.0.9"][..],
        &["ping", "--count", "0", "198.18.0.9"][..],
        &["fwd", "--port", "a", "--port", "a"][..],
        &["fwd", "--port", "a", "--port", "b", "--port", "c"][..],
        &["fwd", "--port", "a", "--queues", "0"][..],
    ] {
        let out = run_bounded(args, Duration::from_secs(10));
        assert!(!out.status.success(), "{args:?} should fail");
        let err = text(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn forcing_iperf3_where_it_is_missing_is_a_one_line_error() {
    // An empty PATH: no iperf3 (nor anything else) can be found.
    let out = Command::new(BIN)
        .args(["bench", "--test", "tcp", "--tcp-load", "iperf3"])
        .env("PATH", "")
        .output()
        .expect("run tapring");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("iperf3 is not installed") && err.contains("--tcp-load builtin"),
        "{err}"
    );
}

#[test]
fn bench_output_into_a_missing_directory_fails_before_the_run() {
    for flag in ["--json", "--plot"] {
        let path = "/nonexistent-tapring-dir/out.file";
        let t0 = Instant::now();
        let out = run_bounded(&["bench", flag, path], Duration::from_secs(10));
        assert!(!out.status.success(), "{flag} {path} should fail");
        let err = text(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{flag}: {err}");
        assert!(
            err.contains(path),
            "{flag}: the message names the path: {err}"
        );
        assert!(err.contains("does not exist"), "{flag}: {err}");
        // Nothing ran: a bench takes tens of seconds.
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{flag}: took {:?}",
            t0.elapsed()
        );
        assert!(text(&out.stdout).is_empty(), "{flag}: printed results");
    }
}

#[test]
fn selftest_quick_passes() {
    if !require_tap() {
        return;
    }
    let out = run_bounded(
        &["selftest", "--quick", "--backend", "rw,uring"],
        Duration::from_secs(150),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "selftest failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
}

/// Every io_uring Rx mode carries the self-test, the software GSO and GRO
/// paths included, over TAP and TUN ports: each check runs once per mode,
/// in rows led by the mode's name, and JSON names the mode of each row.
#[test]
fn selftest_quick_passes_in_every_io_uring_rx_mode() {
    if !require_tap() {
        return;
    }
    let modes = ["nowait", "posted", "multishot"];
    for mode in ["tap", "tun"] {
        let json = common::TempFile::new("selftest-rx-modes");
        let out = run_bounded(
            &[
                "selftest",
                "--quick",
                "--mode",
                mode,
                "--backend",
                "uring",
                "--rx-mode",
                &modes.join(","),
                "--json",
                json.arg(),
            ],
            Duration::from_secs(240),
        );
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "selftest --mode {mode} --rx-mode failed:\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains("0 failed"), "{stdout}");
        let doc = json.json();
        let rows = doc["rows"].as_array().expect("rows");
        for rx in modes {
            for check in [
                "offload A (gso) tcp 8 MiB",
                "offload A (gso) checksum counters",
                "offload B (gro) tcp 8 MiB",
                "offload B (gro) checksum counters",
                "offload B (gro) teardown",
                "mq4 tcp 2 MiB",
                "lifecycle x100 (thread each)",
            ] {
                let name = format!("{rx} Rx: {check}");
                let row = rows
                    .iter()
                    .find(|r| r["check"] == name.as_str())
                    .unwrap_or_else(|| panic!("{mode}: no row {name:?}:\n{stdout}"));
                assert_eq!(row["result"], "pass", "{mode}: {row}");
                assert_eq!(row["rx_mode"], rx, "{mode}: {row}");
            }
            // The forwarder's ports run in the mode asked for.
            let topology = rows
                .iter()
                .find(|r| r["check"] == format!("{rx} Rx: offload B (gro) topology").as_str())
                .expect("the topology row");
            assert!(
                topology["detail"]
                    .as_str()
                    .is_some_and(|d| d.ends_with(&format!("Rx mode {rx}"))),
                "{mode} {rx}: {topology}"
            );
            let gro = rows
                .iter()
                .find(|r| r["check"] == format!("{rx} Rx: offload B (gro) teardown").as_str())
                .expect("the teardown row");
            assert!(
                gro["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("software GRO")),
                "{mode} {rx}: GRO did not run: {gro}"
            );
        }
    }
}

#[test]
fn selftest_quick_passes_in_tun_mode() {
    if !require_tap() {
        return;
    }
    let out = run_bounded(
        &[
            "selftest",
            "--quick",
            "--mode",
            "tun",
            "--backend",
            "rw,uring",
        ],
        Duration::from_secs(150),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "selftest --mode tun failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
    let rows: Vec<&str> = stdout.lines().collect();
    for backend in ["read-write", "io_uring"] {
        // The checks that apply ran and passed over TUN ports...
        for check in [
            "topology",
            "ping -s 1472",
            "tcp 8 MiB",
            "offload tcp 8 MiB",
            "offload teardown",
            "offload A (gso) tcp 8 MiB",
            "offload A (gso) checksum counters",
            "offload B (gro) tcp 8 MiB",
            "mq4 tcp 2 MiB",
            "checksum counters",
            "lifecycle x100 (one thread)",
        ] {
            let row = rows
                .iter()
                .find(|l| l.starts_with(&format!("{check} ")) && l.contains(backend))
                .unwrap_or_else(|| panic!("no {check} row for {backend}:\n{stdout}"));
            assert!(row.contains(" pass "), "{row}");
        }
        // ...over TUN devices, GSO packets crossed with offloads on...
        let topo = rows
            .iter()
            .find(|l| l.starts_with("topology ") && l.contains(backend))
            .expect("a topology row");
        assert!(topo.contains(" tun "), "{topo}");
        let offload = rows
            .iter()
            .find(|l| l.starts_with("offload teardown ") && l.contains(backend))
            .expect("an offload teardown row");
        assert!(offload.contains("GSO frames"), "{offload}");
        // ...and between a port with offloads and one without, segmented
        // one way and coalesced the other, in software...
        for (check, what) in [
            ("offload A (gso) teardown ", "software GSO"),
            ("offload B (gro) teardown ", "software GRO"),
        ] {
            let row = rows
                .iter()
                .find(|l| l.starts_with(check) && l.contains(backend))
                .unwrap_or_else(|| panic!("no {check}row for {backend}:\n{stdout}"));
            assert!(row.contains(" pass ") && row.contains(what), "{row}");
        }
        // ...and the L2-only check is a row saying why it did not run.
        let arp = rows
            .iter()
            .find(|l| l.starts_with("arp ") && l.contains(backend))
            .unwrap_or_else(|| panic!("no arp row for {backend}:\n{stdout}"));
        assert!(
            arp.contains(" skip ") && arp.contains("point-to-point"),
            "{arp}"
        );
    }
}

/// Receives one TCP stream on 198.18.2.2:5201; prints its length and SHA-256.
const TCP_SERVER: &str = "import socket, hashlib
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.18.2.2', 5201)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.settimeout(10); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest())";

/// Sends 4 MiB of patterned bytes to the server; prints length and SHA-256.
const TCP_CLIENT: &str = "import socket, hashlib, time
for i in range(50):
    try:
        c = socket.create_connection(('198.18.2.2', 5201), timeout=5); break
    except OSError:
        time.sleep(0.1)
h = hashlib.sha256(); n = 0; block = bytes(range(256)) * 256
for i in range(64):
    b = bytes([i]) + block[1:]; c.sendall(b); h.update(b); n += len(b)
c.close(); print(n, h.hexdigest())";

#[test]
fn fwd_joins_two_namespaces() {
    fwd_carries_ping_and_tcp(false, "tap");
}

/// The same with offloads: TCP crosses as GSO frames with partial
/// checksums, and still arrives intact.
#[test]
fn fwd_with_offloads_joins_two_namespaces() {
    fwd_carries_ping_and_tcp(true, "tap");
}

/// Two TUN ports: point-to-point, no ARP; each namespace reaches the other
/// through its /24.
#[test]
fn fwd_in_tun_mode_joins_two_namespaces() {
    fwd_carries_ping_and_tcp(false, "tun");
}

/// TUN ports with offloads: GSO packets (IP, no Ethernet header) cross.
#[test]
fn fwd_in_tun_mode_with_offloads_joins_two_namespaces() {
    fwd_carries_ping_and_tcp(true, "tun");
}

/// Waits (bounded) until `tapring fwd` has created every interface in
/// `names`.
fn wait_for_interfaces(g: &mut ChildGuard, names: &[&str], t0: Instant) {
    while !names.iter().all(|n| interface_exists(n)) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "tapring fwd did not create {names:?}"
        );
        assert!(
            g.0.try_wait().expect("wait").is_none(),
            "tapring fwd exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded by `limit` from `t0`) for `tapring fwd` to end by itself;
/// its exit status, stdout and stderr.
fn wait_for_fwd(
    g: &mut ChildGuard,
    t0: Instant,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let status = loop {
        if let Some(s) = g.0.try_wait().expect("wait") {
            break s;
        }
        assert!(t0.elapsed() < limit, "tapring fwd did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = g.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = g.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (status, out, err)
}

/// One TUN port reflecting: an echo request from nsA's 198.18.2.1 to
/// 198.18.2.2 comes back with the addresses swapped (a request to nsA
/// itself, which answers), and the answer is reflected the same way: a
/// reply from 198.18.2.2. Only the IP-swapping reflect makes ping pass.
#[test]
fn fwd_in_tun_mode_reflects_on_one_port() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let ns = NetnsGuard::new();
    let tun = unique_name("fwr");
    let child = Command::new(BIN)
        .args(["fwd", "--mode", "tun", "--port", &tun, "--seconds", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapring fwd");
    let mut g = ChildGuard(child);
    let t0 = Instant::now();
    wait_for_interfaces(&mut g, &[&tun], t0);
    assert!(quiet_ip(&["link", "set", "dev", &tun, "netns", ns.name()]));
    assert!(quiet_ip(&[
        "-n",
        ns.name(),
        "addr",
        "add",
        "198.18.2.1/24",
        "dev",
        &tun
    ]));
    assert!(quiet_ip(&[
        "-n",
        ns.name(),
        "link",
        "set",
        "dev",
        &tun,
        "up"
    ]));
    let ping = ping_in_netns(
        Some(ns.name()),
        std::net::Ipv4Addr::new(198, 18, 2, 2),
        56,
        3,
        Duration::from_millis(200),
        Duration::from_secs(2),
    );
    assert!(
        ping.as_ref().is_ok_and(|r| r.all_replied()),
        "ping reflected by tapring fwd --mode tun failed: {ping:?}"
    );
    let (status, out, err) = wait_for_fwd(&mut g, t0, Duration::from_secs(15));
    assert!(status.success(), "fwd failed: {err}\n{out}");
    assert!(out.contains("IP address swap"), "{out}");
    // Requests and replies, each reflected once: at least 6 packets.
    let line = out
        .lines()
        .find(|l| l.contains(&format!("{tun} -> {tun}:")))
        .unwrap_or_else(|| panic!("no totals line:\n{out}"));
    let packets: u64 = line
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unparsable: {line}"));
    assert!(packets >= 6, "{line}");
}

fn fwd_carries_ping_and_tcp(offload: bool, mode: &str) {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (nsa, nsb) = (NetnsGuard::new(), NetnsGuard::new());
    let (a, b) = (unique_name("fwa"), unique_name("fwb"));
    let mut args = vec![
        "fwd",
        "--mode",
        mode,
        "--port",
        &a,
        "--port",
        &b,
        "--seconds",
        "8",
    ];
    if offload {
        args.push("--offload");
    }
    let child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapring fwd");
    let mut g = ChildGuard(child);
    let t0 = Instant::now();
    wait_for_interfaces(&mut g, &[&a, &b], t0);
    for (dev, ns, addr) in [
        (&a, nsa.name(), "198.18.2.1/24"),
        (&b, nsb.name(), "198.18.2.2/24"),
    ] {
        assert!(
            quiet_ip(&["link", "set", "dev", dev, "netns", ns]),
            "move {dev}"
        );
        assert!(quiet_ip(&["-n", ns, "addr", "add", addr, "dev", dev]));
        assert!(quiet_ip(&["-n", ns, "link", "set", "dev", dev, "up"]));
    }
    // Three echoes across the forwarder, with testkit's ICMP client (no
    // `ping` binary): every one must come back intact.
    let ping = ping_in_netns(
        Some(nsa.name()),
        std::net::Ipv4Addr::new(198, 18, 2, 2),
        56,
        3,
        Duration::from_millis(200),
        Duration::from_secs(2),
    );
    assert!(
        ping.as_ref().is_ok_and(|r| r.all_replied()),
        "ping across tapring fwd failed: {ping:?}"
    );
    // TCP across the forwarder: 4 MiB, hashed on both ends.
    let server = Command::new("ip")
        .args(["netns", "exec", nsb.name(), "python3", "-c", TCP_SERVER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 server");
    let mut server = ChildGuard(server);
    let client = Command::new("ip")
        .args(["netns", "exec", nsa.name(), "python3", "-c", TCP_CLIENT])
        .output()
        .expect("python3 client");
    let sent = text(&client.stdout);
    assert!(
        client.status.success(),
        "tcp client failed: {}",
        text(&client.stderr)
    );
    let mut received = String::new();
    let t1 = Instant::now();
    while server.0.try_wait().expect("wait").is_none() {
        assert!(
            t1.elapsed() < Duration::from_secs(15),
            "tcp server did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(mut s) = server.0.stdout.take() {
        let _ = s.read_to_string(&mut received);
    }
    assert!(sent.starts_with("4194304 "), "client sent: {sent}");
    assert_eq!(
        received.trim(),
        sent.trim(),
        "bytes and SHA-256 match across the forwarder"
    );
    // fwd ends by itself after 8 s.
    let (status, out, err) = wait_for_fwd(&mut g, t0, Duration::from_secs(20));
    assert!(status.success(), "fwd failed: {err}\n{out}");
    assert!(out.contains("totals after"), "{out}");
    assert!(out.contains(&format!("{a} -> {b}:")), "{out}");
    assert!(out.contains(&format!("<-> {b} ({mode})")), "{out}");
    if offload {
        assert!(out.contains("offloads on"), "{out}");
        // nsA's TCP sends through a and must have used TSO.
        let line = out
            .lines()
            .find(|l| l.contains(&format!("{a}: received")))
            .unwrap_or_else(|| panic!("no offload line for {a}:\n{out}"));
        let gso: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unparsable: {line}"));
        assert!(gso > 0, "no GSO frame forwarded: {line}");
    }
}

#[test]
fn bench_leaves_nothing_behind() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let before = root_view();
    // The records say what ran: the io_uring Rx mode resolved from auto,
    // read/write without one, registered buffers as they took effect.
    let (stdout, doc) = bench_with_json(
        &[
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--test",
            "tx",
            "--test",
            "tcp",
            "--size",
            "64",
        ],
        Duration::from_secs(90),
    );
    assert_eq!(doc["schema"], "tapring-bench/3");
    let records = doc["records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "one tx run per backend: {records:?}");
    for r in records {
        assert_eq!(r["queues"], 1, "{r}");
        assert!(["off", "rx", "tx", "all"].contains(&r["fixed_buffers"].as_str().unwrap()));
        match r["backend"].as_str() {
            Some("read-write") => {
                assert!(r["rx_mode"].is_null(), "{r}");
                assert_eq!(r["fixed_buffers"], "off", "{r}");
            }
            Some("io_uring") => {
                let mode = r["rx_mode"].as_str().expect("uring has an Rx mode");
                assert!(["nowait", "posted", "multishot"].contains(&mode), "{r}");
            }
            other => panic!("backend {other:?}"),
        }
    }
    assert_eq!(doc["tcp"].as_array().map(Vec::len), Some(9));
    // The steal time around every run: 2 tx runs and 9 TCP runs, each a
    // share of the CPU time on a machine that has /proc/stat.
    let steal = doc["steal"].as_array().expect("steal per run");
    assert_eq!(steal.len(), 2 + 9, "{steal:?}");
    for s in steal {
        let share = s["steal"].as_f64().unwrap_or_else(|| panic!("{s}"));
        assert!((0.0..=1.0).contains(&share), "{s}");
        assert!(s["run"].as_str().is_some_and(|r| !r.is_empty()), "{s}");
    }
    // The TCP table: veth, the plain forwarder and each backend with
    // offloads off and on, the tokio forwarder on both runtimes (offloads
    // on), every one with a positive rate.
    for (path, offload) in [
        ("veth", "on"),
        ("plain", "off"),
        ("plain", "on"),
        ("read-write", "off"),
        ("read-write", "on"),
        ("io_uring", "off"),
        ("io_uring", "on"),
        ("tokio-ct/", "on"),
        ("tokio-mt/", "on"),
    ] {
        let row = stdout
            .lines()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                // Tokio rows name their backend after the slash.
                let same = w
                    .first()
                    .is_some_and(|p| *p == path || (path.ends_with('/') && p.starts_with(path)));
                w.len() > 2 && same && w[1] == offload
            })
            .unwrap_or_else(|| panic!("no tcp row {path} {offload}:\n{stdout}"));
        let gbps: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(gbps > 0.0, "{row}");
    }
    // Other test programs on this machine may add and remove their own
    // interfaces meanwhile: look for what bench would have left.
    let after = root_view();
    let bench_names = [
        "trtx", "trrx", "trdr", "trfa", "trfb", "trbr", "trpfa", "trpfb", "trp2a", "trp2b", "strw",
        "stur", "stpl", "stkc", "stkm", "trveth",
    ];
    let left: Vec<&String> = after
        .0
        .iter()
        .filter(|n| !before.0.contains(n))
        .filter(|n| {
            bench_names.iter().any(|p| {
                n.strip_prefix(p)
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
            })
        })
        .collect();
    assert!(left.is_empty(), "bench left interfaces: {left:?}");
    let new_ns: Vec<&str> = after
        .1
        .lines()
        .filter(|l| !before.1.lines().any(|b| b == *l) && !l.starts_with("tapring-"))
        .collect();
    assert!(new_ns.is_empty(), "bench left namespaces: {new_ns:?}");
}

/// `bench --mode tun`: tx, drain, fwd (routed) and tcp over TUN devices,
/// every row present with a positive rate, every record saying "tun".
#[test]
fn bench_in_tun_mode_measures_every_test() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (stdout, doc) = bench_with_json(
        &[
            "--mode",
            "tun",
            "--test",
            "tx,drain,fwd,tcp",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
        ],
        Duration::from_secs(150),
    );
    // The frame table: one row per test, size (IP lengths, TUN's defaults)
    // and backend, all in tun mode with packets delivered.
    for test in ["tx", "drain", "fwd"] {
        for size in ["64", "1500"] {
            for backend in ["read-write", "io_uring"] {
                let row = stdout
                    .lines()
                    .find(|l| {
                        let w: Vec<&str> = l.split_whitespace().collect();
                        w.len() > 4 && w[0] == test && w[2] == size && w[3] == backend
                    })
                    .unwrap_or_else(|| panic!("no {test} {size} {backend} row:\n{stdout}"));
                let w: Vec<&str> = row.split_whitespace().collect();
                assert_eq!(w[1], "tun", "{row}");
                let mpps: f64 = w[4].parse().unwrap_or_else(|_| panic!("{row}"));
                assert!(mpps > 0.0, "{row}");
            }
        }
    }
    assert!(stdout.contains("IP packet lengths"), "{stdout}");
    assert!(stdout.contains("forwarders over tun devices"), "{stdout}");
    let records = doc["records"].as_array().expect("records");
    assert_eq!(records.len(), 3 * 2 * 2, "{records:?}");
    assert!(records.iter().all(|r| r["mode"] == "tun"), "{records:?}");
    assert!(records.iter().all(|r| r["pps"].as_f64() > Some(0.0)));
    let tcp = doc["tcp"].as_array().expect("tcp records");
    // veth, plain and both backends with offloads off and on, tokio on
    // both runtimes: each carried TCP over TUN ports (veth: the baseline).
    assert_eq!(tcp.len(), 9, "{tcp:?}");
    for r in tcp {
        assert_eq!(r["mode"], "tun", "{r}");
        assert!(r["gbps"].as_f64() > Some(0.0), "{r}");
    }
}

/// fwd and fwd2 have a plain arm (one read() or write() per frame, no
/// library) in each round: its records are in the JSON with a positive
/// rate, and the plain table pairs every backend with it.
#[test]
fn bench_pairs_fwd_and_fwd2_with_a_plain_arm() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (stdout, doc) = bench_with_json(
        &[
            "--test",
            "fwd,fwd2",
            "--size",
            "64",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
        ],
        Duration::from_secs(90),
    );
    let plain = doc["plain"].as_array().expect("plain records");
    assert_eq!(plain.len(), 2, "one per test: {plain:?}");
    for (r, test) in plain.iter().zip(["fwd", "fwd2"]) {
        assert_eq!(r["test"], test, "{r}");
        assert_eq!(
            (r["size"].as_u64(), r["queues"].as_u64()),
            (Some(64), Some(1))
        );
        assert!(r["pps"].as_f64() > Some(0.0), "{r}");
        assert!(r["cpu_s_per_mpkt"].as_f64() > Some(0.0), "{r}");
        // fwd2's source offers what it sent; fwd has no source.
        assert_eq!(r["offered_pps"].is_null(), test == "fwd", "{r}");
    }
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("fwd and fwd2 against a plain"))
        .collect();
    for test in ["fwd", "fwd2"] {
        for backend in ["read-write", "io_uring"] {
            let row = table
                .iter()
                .find(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.len() > 8 && w[0] == test && w[4] == backend
                })
                .unwrap_or_else(|| panic!("no plain row {test} {backend}:\n{stdout}"));
            let w: Vec<&str> = row.split_whitespace().collect();
            let ratio: f64 = w[9]
                .trim_end_matches('x')
                .parse()
                .unwrap_or_else(|_| panic!("{row}"));
            assert!(ratio > 0.0, "{row}");
        }
    }
}
