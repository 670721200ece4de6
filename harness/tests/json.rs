//! `--json FILE` of `tapring fwd` and `tapring selftest`: the document
//! parses, has every total the command printed, with the same numbers, and
//! the kernel counters of ports moved into other namespaces are read there.
//! A lane that failed keeps its counters. Tests needing CAP_NET_ADMIN skip
//! with one line unless TAPRING_REQUIRE_TAP=1.

use serde_json::Value;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tapring_testkit::{
    NetnsGuard, interface_exists, ping_in_netns, quiet_ip, require_tap, unique_name,
};

mod common;
use common::{BIN, ChildGuard, TempFile, lock, run_bounded, text};

fn wait_bounded(g: &mut ChildGuard, t0: Instant, limit: Duration) -> ExitStatus {
    loop {
        if let Some(s) = g.0.try_wait().expect("wait") {
            return s;
        }
        assert!(t0.elapsed() < limit, "tapring did not finish in {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn outputs(g: &mut ChildGuard) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut s) = g.0.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = g.0.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (out, err)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The numbers of a printed line: every whitespace-separated word that
/// parses as one, in order.
fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .collect()
}

fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{out}"))
}

/// `tapring fwd` between ports `a` and `b`, each moved into its own
/// namespace and addressed there, with three echoes across it; the child,
/// still running.
fn fwd_between_namespaces(
    a: &str,
    b: &str,
    nsa: &NetnsGuard,
    nsb: &NetnsGuard,
    extra: &[&str],
) -> (ChildGuard, Instant) {
    fwd_between_namespaces_as(&[BIN], a, b, nsa, nsb, extra)
}

/// [`fwd_between_namespaces`], started as `program` (e.g. `setpriv ...
/// -- tapring`).
fn fwd_between_namespaces_as(
    program: &[&str],
    a: &str,
    b: &str,
    nsa: &NetnsGuard,
    nsb: &NetnsGuard,
    extra: &[&str],
) -> (ChildGuard, Instant) {
    let mut args: Vec<&str> = program[1..].to_vec();
    args.extend(["fwd", "--port", a, "--port", b]);
    args.extend_from_slice(extra);
    let child = Command::new(program[0])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapring fwd");
    let mut g = ChildGuard(child);
    let t0 = Instant::now();
    while !(interface_exists(a) && interface_exists(b)) {
        assert!(t0.elapsed() < Duration::from_secs(5), "fwd made no ports");
        assert!(g.0.try_wait().expect("wait").is_none(), "fwd exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (dev, ns, addr) in [
        (a, nsa.name(), "198.18.3.1/24"),
        (b, nsb.name(), "198.18.3.2/24"),
    ] {
        assert!(
            quiet_ip(&["link", "set", "dev", dev, "netns", ns]),
            "move {dev}"
        );
        assert!(quiet_ip(&["-n", ns, "addr", "add", addr, "dev", dev]));
        assert!(quiet_ip(&["-n", ns, "link", "set", "dev", dev, "up"]));
    }
    let ping = ping_in_netns(
        Some(nsa.name()),
        std::net::Ipv4Addr::new(198, 18, 3, 2),
        56,
        3,
        Duration::from_millis(200),
        Duration::from_secs(2),
    );
    assert!(
        ping.as_ref().is_ok_and(|r| r.all_replied()),
        "ping across tapring fwd failed: {ping:?}"
    );
    (g, t0)
}

#[test]
fn fwd_json_has_the_printed_totals_and_the_moved_ports_kernel_counters() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (nsa, nsb) = (NetnsGuard::new(), NetnsGuard::new());
    let (a, b) = (unique_name("fja"), unique_name("fjb"));
    let file = TempFile::new("fwdjson");
    let (mut g, t0) = fwd_between_namespaces(
        &a,
        &b,
        &nsa,
        &nsb,
        &["--seconds", "3", "--json", file.arg()],
    );
    let status = wait_bounded(&mut g, t0, Duration::from_secs(15));
    let (out, err) = outputs(&mut g);
    assert!(status.success(), "fwd failed: {err}\n{out}");
    assert!(
        out.contains(&format!("totals written to {}", file.arg())),
        "{out}"
    );
    let doc = file.json();
    assert_eq!(doc["schema"], "tapring-fwd/1");
    assert_eq!(doc["mode"], "tap");
    assert_eq!(doc["reflect"], false);
    assert!(doc["environment"]["kernel"].is_string(), "{doc}");
    assert!(doc["seconds"].as_f64().is_some_and(|s| s >= 3.0), "{doc}");
    assert_eq!(doc["errors"], Value::Array(vec![]));
    let ports = doc["ports"].as_array().expect("ports");
    let dirs = doc["directions"].as_array().expect("directions");
    assert_eq!((ports.len(), dirs.len()), (2, 2), "{doc}");
    for (i, (name, peer)) in [(&a, &b), (&b, &a)].into_iter().enumerate() {
        let (p, d) = (&ports[i], &dirs[i]);
        assert_eq!(p["name"], name.as_str());
        assert_eq!(p["queues"], 1);
        assert_eq!(p["offloads"], "NONE");
        assert!(
            ["io_uring", "read-write"].contains(&p["backend"].as_str().unwrap_or("")),
            "{p}"
        );
        assert_eq!(
            (&d["from"], &d["to"]),
            (&Value::from(name.as_str()), &Value::from(peer.as_str()))
        );
        // Echo requests one way, replies the other (and ARP both ways).
        assert!(u(&d["packets"]) >= 3, "{d}");
        // The printed totals are the JSON's.
        let line = line_with(&out, &format!("  {name} -> {peer}: "));
        let printed = numbers(line.split_once(": ").map_or("", |(_, totals)| totals));
        assert_eq!(printed[0], u(&d["packets"]), "{line}");
        assert_eq!(printed[1], u(&d["bytes"]), "{line}");
        assert_eq!(printed[printed.len() - 1], u(&d["tx_full"]), "{line}");
        // What the port read is what went the port's way.
        assert_eq!(
            u(&p["rx"]["packets"]),
            u(&d["packets"]) + u(&d["tx_full"]) + u(&d["tx_failed"])
        );
        assert!(
            p["rx"]["drop_truncated"].is_u64(),
            "every counter is named: {p}"
        );
        // The kernel counters were read in the namespace the port moved to.
        assert_eq!(p["kernel_unavailable"], Value::Null, "{p}");
        let k = &p["kernel"];
        assert!(u(&k["rx_packets"]) >= u(&d["packets"]), "{k} vs {d}");
        let line = line_with(&out, &format!("  {name}: rx drops: "));
        let imissed = line.rsplit("kernel imissed: ").next().unwrap_or("");
        assert_eq!(imissed.trim(), u(&k["imissed"]).to_string(), "{line}");
    }
    // What the ports wrote, their interfaces took (counted in their
    // namespaces).
    for p in ports {
        assert!(u(&p["tx"]["packets"]) >= 3, "{p}");
        assert!(u(&p["kernel"]["tx_packets"]) >= 3, "{p}");
    }
    let lanes = doc["lanes"].as_array().expect("lanes");
    assert_eq!(lanes.len(), 1);
    assert_eq!(lanes[0]["errors"], Value::Array(vec![]));
    assert_eq!(lanes[0]["rx"][0]["packets"], ports[0]["rx"]["packets"]);
    assert_eq!(lanes[0]["tx"][1]["packets"], ports[1]["tx"]["packets"]);
}

#[test]
fn fwd_json_keeps_a_failed_lanes_counters() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let (nsa, nsb) = (NetnsGuard::new(), NetnsGuard::new());
    let (a, b) = (unique_name("fka"), unique_name("fkb"));
    let file = TempFile::new("fwdfail");
    let (mut g, t0) = fwd_between_namespaces(
        &a,
        &b,
        &nsa,
        &nsb,
        &["--seconds", "20", "--backend", "rw", "--json", file.arg()],
    );
    // Pull b away under the forwarder: its queues fail, fwd stops.
    assert!(quiet_ip(&["-n", nsb.name(), "link", "del", "dev", &b]));
    let status = wait_bounded(&mut g, t0, Duration::from_secs(15));
    let (out, err) = outputs(&mut g);
    assert!(!status.success(), "fwd went on without {b}:\n{out}");
    assert!(err.contains("forwarding stopped"), "{err}");
    let doc = file.json();
    let errors = doc["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{doc}");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains(&b))),
        "{doc}"
    );
    let lane = &doc["lanes"][0];
    assert!(
        !lane["errors"].as_array().expect("lane errors").is_empty(),
        "{lane}"
    );
    // The echoes crossed before: the failed lane's numbers are still there.
    assert!(u(&lane["rx"][0]["packets"]) >= 3, "{lane}");
    assert!(u(&lane["tx"][1]["packets"]) >= 3, "{lane}");
    assert!(u(&lane["rx"][1]["packets"]) >= 3, "{lane}");
    assert!(u(&doc["directions"][0]["packets"]) >= 3, "{doc}");
    assert_eq!(doc["ports"][0]["rx"]["packets"], lane["rx"][0]["packets"]);
    // A deleted device has no counters left, and the document says why.
    let why = doc["ports"][1]["kernel_unavailable"].as_str().unwrap_or("");
    assert!(why.contains("deleted"), "{doc}");
}

/// Without CAP_SYS_ADMIN the forwarder still forwards, but cannot enter
/// the namespaces its ports were moved to: the totals and the JSON say
/// exactly that instead of a number.
#[test]
fn fwd_without_cap_sys_admin_says_why_the_kernel_counters_are_missing() {
    if !require_tap() {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let _l = lock();
    let (nsa, nsb) = (NetnsGuard::new(), NetnsGuard::new());
    let (a, b) = (unique_name("fsa"), unique_name("fsb"));
    let file = TempFile::new("fwdcaps");
    let setpriv = [
        "setpriv",
        "--inh-caps=-sys_admin",
        "--bounding-set=-sys_admin",
        "--",
        BIN,
    ];
    let (mut g, t0) = fwd_between_namespaces_as(
        &setpriv,
        &a,
        &b,
        &nsa,
        &nsb,
        &["--seconds", "2", "--json", file.arg()],
    );
    let status = wait_bounded(&mut g, t0, Duration::from_secs(15));
    let (out, err) = outputs(&mut g);
    assert!(status.success(), "fwd failed: {err}\n{out}");
    let doc = file.json();
    for (i, name) in [&a, &b].into_iter().enumerate() {
        let p = &doc["ports"][i];
        assert_eq!(p["kernel"], Value::Null, "{p}");
        let why = p["kernel_unavailable"].as_str().unwrap_or("");
        assert!(why.contains("another network namespace"), "{why}");
        assert!(why.contains("CAP_SYS_ADMIN"), "{why}");
        let line = line_with(&out, &format!("  {name}: rx drops: "));
        assert!(
            line.contains(&format!("kernel imissed: n/a ({why})")),
            "{line}"
        );
    }
    assert!(u(&doc["directions"][0]["packets"]) >= 3, "{doc}");
}

#[test]
fn selftest_json_has_every_row() {
    if !require_tap() {
        return;
    }
    let _l = lock();
    let file = TempFile::new("stjson");
    let out = run_bounded(
        &[
            "selftest",
            "--quick",
            "--backend",
            "rw",
            "--json",
            file.arg(),
        ],
        Duration::from_secs(150),
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "selftest failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let doc = file.json();
    assert_eq!(doc["schema"], "tapring-selftest/1");
    assert_eq!(
        (&doc["mode"], &doc["quick"]),
        (&Value::from("tap"), &Value::from(true))
    );
    assert_eq!(doc["backends"], serde_json::json!(["read-write"]));
    let rows = doc["rows"].as_array().expect("rows");
    let summary = &doc["summary"];
    // The table's last line, in numbers: checks, passed, warned, skipped, failed.
    let counts = numbers(line_with(&stdout, " checks, "));
    let fields = ["checks", "passed", "warned", "skipped", "failed"];
    for (field, printed) in fields.iter().zip(&counts) {
        assert_eq!(u(&summary[field]), *printed, "{field}: {summary}");
    }
    assert_eq!(u(&summary["checks"]), rows.len() as u64);
    assert_eq!(u(&summary["failed"]), 0);
    assert!(rows.len() >= 20, "{doc}");
    for row in rows {
        let check = row["check"].as_str().expect("check");
        assert_eq!(row["backend"], "read-write", "{row}");
        let result = row["result"].as_str().expect("result");
        assert!(["pass", "warn", "skip"].contains(&result), "{row}");
        assert_eq!(row["ok"], true, "{row}");
        assert!(row["seconds"].as_f64().is_some_and(|s| s >= 0.0), "{row}");
        let detail = row["detail"].as_str().expect("detail");
        // Every row is the table's.
        let line = stdout
            .lines()
            .find(|l| l.starts_with(check) && l.contains(result) && l.ends_with(detail))
            .unwrap_or_else(|| panic!("row {row} not in the table:\n{stdout}"));
        assert!(line.contains("read-write"), "{line}");
    }
    for check in ["topology", "ping -s 1472", "arp", "tcp 8 MiB", "teardown"] {
        assert!(rows.iter().any(|r| r["check"] == check), "no {check} row");
    }
}

#[test]
fn json_into_a_missing_directory_fails_before_the_run() {
    let missing = std::env::temp_dir()
        .join(unique_name("nodir"))
        .join("out.json");
    let path = missing.to_str().expect("UTF-8");
    for args in [
        &["fwd", "--port", "nosuchport0", "--json", path][..],
        &["selftest", "--quick", "--json", path][..],
    ] {
        let t0 = Instant::now();
        let out = run_bounded(args, Duration::from_secs(10));
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{args:?} ran first");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(!interface_exists("nosuchport0"));
    }
}
