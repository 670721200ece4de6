//! Privileges, named exactly: the owner of a persistent device uses
//! `fwd --attach` without CAP_NET_ADMIN; a stranger is told what is
//! missing; `bench` and `selftest` name the capability they lack. The
//! unprivileged runs drop every capability with `setpriv`. Skips with one
//! line without CAP_NET_ADMIN unless TAPRING_REQUIRE_TAP=1.

use std::process::{Command, Output};
use std::time::Duration;
use tapring::device::{TapConfig, TapDevice};
use tapring_testkit::{InterfaceGuard, require_tap, unique_name};

mod common;
use common::{BIN, run_command_bounded, text};

/// Runs `setpriv ARGS.. -- tapring CMD..` to completion within 20 s.
fn run(setpriv: &[&str], args: &[&str]) -> Output {
    let mut cmd = Command::new("setpriv");
    cmd.args(setpriv).arg("--").arg(BIN).args(args);
    run_command_bounded(cmd, Duration::from_secs(20))
}

fn have_setpriv() -> bool {
    let ok = Command::new("setpriv").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: setpriv (util-linux) is not installed");
    }
    ok
}

#[test]
fn the_owner_of_a_persistent_device_forwards_without_cap_net_admin() {
    if !require_tap() {
        return;
    }
    if !have_setpriv() {
        return;
    }
    let name = unique_name("trow");
    let _guard = InterfaceGuard::new(name.clone());
    // Persistent, up, and owned by this user (uid 0 here, with every
    // capability dropped below: ownership is what lets it in).
    let dev = TapDevice::open(&TapConfig::named(&name).persist(true).up(true)).unwrap();
    dev.set_owner(nix::unistd::geteuid().as_raw()).unwrap();
    drop(dev);
    let no_caps = ["--inh-caps=-all", "--bounding-set=-all"];

    let out = run(
        &no_caps,
        &["fwd", "--port", &name, "--attach", "--seconds", "1"],
    );
    assert!(
        out.status.success(),
        "the owner's fwd failed: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("totals"),
        "{}",
        text(&out.stdout)
    );

    // Somebody else's device: the message says what is missing.
    let dev =
        TapDevice::open(&TapConfig::named(&name).attach(tapring::device::Attach::Only)).unwrap();
    dev.set_owner(65534).unwrap();
    drop(dev);
    let out = run(
        &no_caps,
        &["fwd", "--port", &name, "--attach", "--seconds", "1"],
    );
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a stranger's device let us in");
    assert!(
        err.contains("CAP_NET_ADMIN") && err.contains("owner"),
        "the refusal names the capability and the owner rule: {err}"
    );
    let dev =
        TapDevice::open(&TapConfig::named(&name).attach(tapring::device::Attach::Only)).unwrap();
    dev.set_persist(false).unwrap();
}

#[test]
fn bench_and_selftest_name_the_capability_they_lack() {
    if !require_tap() || !have_setpriv() {
        return;
    }
    let without_sys_admin = ["--inh-caps=-sys_admin", "--bounding-set=-sys_admin"];
    for cmd in [
        &["bench", "--test", "tx", "--seconds", "0.1"][..],
        &["selftest", "--quick"][..],
    ] {
        let out = run(&without_sys_admin, cmd);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{cmd:?} ran without CAP_SYS_ADMIN");
        assert!(
            err.contains("needs CAP_SYS_ADMIN") && !err.contains("CAP_NET_ADMIN ("),
            "{cmd:?} names exactly the missing capability: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}
