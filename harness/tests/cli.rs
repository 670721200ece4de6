//! The `tapring` binary end to end: help text, `selftest`, `fwd` between
//! two namespaces this test builds around it, and `bench` leaving nothing
//! behind. Tests needing CAP_NET_ADMIN skip with one line unless
//! TAPRING_REQUIRE_TAP=1.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tapring_testkit::{
    NetnsGuard, interface_exists, ping_in_netns, quiet_ip, require_tap, unique_name,
};

const BIN: &str = env!("CARGO_BIN_EXE_tapring");

/// Tests that change the root network namespace (interfaces, named
/// namespaces) run one at a time, so their before/after views are theirs.
static ROOT_NS: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ROOT_NS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills and reaps the child on drop (also when the test panics).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tapring ARGS` to completion, killing it after `limit`.
fn run_bounded(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapring");
    let mut g = ChildGuard(child);
    let t0 = Instant::now();
    loop {
        if let Some(status) = g.0.try_wait().expect("wait") {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            if let Some(mut s) = g.0.stdout.take() {
                let _ = s.read_to_end(&mut out);
            }
            if let Some(mut s) = g.0.stderr.take() {
                let _ = s.read_to_end(&mut err);
            }
            return Output {
                status,
                stdout: out,
                stderr: err,
            };
        }
        assert!(
            t0.elapsed() < limit,
            "tapring {} did not finish within {limit:?}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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
    fwd_carries_ping_and_tcp(false);
}

/// The same with offloads: TCP crosses as GSO frames with partial
/// checksums, and still arrives intact.
#[test]
fn fwd_with_offloads_joins_two_namespaces() {
    fwd_carries_ping_and_tcp(true);
}

fn fwd_carries_ping_and_tcp(offload: bool) {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (nsa, nsb) = (NetnsGuard::new(), NetnsGuard::new());
    let (a, b) = (unique_name("fwa"), unique_name("fwb"));
    let mut args = vec!["fwd", "--port", &a, "--port", &b, "--seconds", "8"];
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
    while !(interface_exists(&a) && interface_exists(&b)) {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "tapring fwd did not create {a} and {b}"
        );
        assert!(
            g.0.try_wait().expect("wait").is_none(),
            "tapring fwd exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let status = loop {
        if let Some(s) = g.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "tapring fwd did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut s) = g.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    let mut err = String::new();
    if let Some(mut s) = g.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    assert!(status.success(), "fwd failed: {err}\n{out}");
    assert!(out.contains("totals after"), "{out}");
    assert!(out.contains(&format!("{a} -> {b}:")), "{out}");
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
    let json = std::env::temp_dir().join(format!("tapring-cli-{}.json", std::process::id()));
    let json_arg = json.to_str().expect("a UTF-8 temp path").to_string();
    let out = run_bounded(
        &[
            "bench",
            "--json",
            &json_arg,
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
    assert!(
        out.status.success(),
        "bench failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // The records say what ran: the io_uring Rx mode resolved from auto,
    // read/write without one, registered buffers as they took effect.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
            .expect("valid JSON");
    let _ = std::fs::remove_file(&json);
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
    // The TCP table: veth, the plain forwarder and each backend with
    // offloads off and on, the tokio forwarder on both runtimes (offloads
    // on), every one with a positive rate.
    let stdout = text(&out.stdout);
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
        "trtx", "trrx", "trdr", "trfa", "trfb", "trbr", "strw", "stur", "stpl", "stkc", "stkm",
        "trveth",
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
