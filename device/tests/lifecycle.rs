//! Tests that count process-wide resources (fds, interfaces): they run one
//! at a time, in their own test binary.

use std::sync::Mutex;

use tapring_device::{DeviceError, TapConfig, TapDevice};
use tapring_testkit::{interface_exists, open_fd_count, require_tap, unique_name};

static SERIAL: Mutex<()> = Mutex::new(());

fn interface_count() -> usize {
    std::fs::read_dir("/sys/class/net").unwrap().count()
}

#[test]
fn open_close_100_times_leaks_nothing() {
    // Lock first: require_tap opens /proc files, which would disturb the
    // other test's fd count.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_tap() {
        return;
    }
    let fds_before = open_fd_count();
    let mut names = Vec::new();
    for i in 0..100 {
        // Fresh names: a closed non-persistent TAP may linger a moment.
        let name = unique_name("trl");
        let config = TapConfig::named(&name)
            .queues(if i % 2 == 0 { 1 } else { 3 })
            .up(i % 3 == 0);
        let tap = TapDevice::open(&config).unwrap();
        assert!(interface_exists(&name));
        drop(tap);
        names.push(name);
    }
    assert_eq!(open_fd_count(), fds_before, "fds leaked");
    // Interfaces go away asynchronously; allow them a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while names.iter().any(|n| interface_exists(n)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let left: Vec<_> = names.iter().filter(|n| interface_exists(n)).collect();
    assert!(left.is_empty(), "interfaces left: {left:?}");
}

#[test]
fn invalid_names_fail_before_any_syscall() {
    // Lock first: require_tap opens /proc files, which would disturb the
    // other test's fd count.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !require_tap() {
        return;
    }
    let fds_before = open_fd_count();
    let interfaces_before = interface_count();
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "a b",
        "x:1",
        "sixteen-bytes-xx",
        "a%s",
    ] {
        let err = TapDevice::open(&TapConfig::named(bad)).unwrap_err();
        assert!(
            matches!(&err, DeviceError::InvalidName { name, .. } if name == bad),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(open_fd_count(), fds_before);
    assert_eq!(interface_count(), interfaces_before);
}
