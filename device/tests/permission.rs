//! Without CAP_NET_ADMIN, opening a device is a typed permission error.
//! The outer test re-runs this binary with the capability dropped
//! (`setpriv`), so it runs the inner test unprivileged.

use std::process::Command;

use tapring_device::{DeviceError, TapConfig, TapDevice};
use tapring_testkit::{require_tap, unique_name};

const INNER: &str = "TAPRING_TAP_UNPRIVILEGED_INNER";

#[test]
fn open_without_cap_net_admin_is_permission_denied() {
    if !require_tap() {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args(["--bounding-set=-net_admin", "--inh-caps=-net_admin", "--"])
        .arg(exe)
        .args([
            "--exact",
            "inner_open_unprivileged",
            "--ignored",
            "--nocapture",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "inner test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run by open_without_cap_net_admin_is_permission_denied"]
fn inner_open_unprivileged() {
    if std::env::var(INNER).is_err() {
        return;
    }
    let name = unique_name("trq");
    let err = TapDevice::open(&TapConfig::named(&name)).unwrap_err();
    assert_eq!(err, DeviceError::PermissionDenied { op: "TUNSETIFF" });
    assert!(err.to_string().contains("CAP_NET_ADMIN"));
    assert!(!tapring_device::probe().cap_net_admin);
}
