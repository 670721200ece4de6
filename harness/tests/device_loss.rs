//! `tapring fwd` on a port whose device is deleted under it: it stops
//! within a second, exits non-zero, and the message names the device and
//! what happened, on both backends. Skips with one line without
//! CAP_NET_ADMIN unless TAPRING_REQUIRE_TAP=1.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tapring_testkit::{InterfaceGuard, interface_exists, quiet_ip, require_tap, unique_name};

mod common;
use common::BIN;

#[test]
fn fwd_stops_within_a_second_of_its_device_being_deleted() {
    if !require_tap() {
        return;
    }
    for backend in ["rw", "uring"] {
        let name = unique_name("trdl");
        let _guard = InterfaceGuard::new(name.clone());
        let mut child = Command::new(BIN)
            .args([
                "fwd",
                "--port",
                &name,
                "--backend",
                backend,
                "--seconds",
                "20",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tapring runs");
        let up = Instant::now() + Duration::from_secs(10);
        while !interface_exists(&name) && Instant::now() < up {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(interface_exists(&name), "{backend}: fwd created {name}");
        // Let the forwarder reach its loop, then pull the device away.
        std::thread::sleep(Duration::from_millis(300));
        assert!(quiet_ip(&["link", "del", "dev", &name]), "ip link del");
        let deleted = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if deleted.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = deleted.elapsed();
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .unwrap();
        let status =
            status.unwrap_or_else(|| panic!("{backend}: fwd ran on 5 s after the deletion"));
        assert!(
            !status.success(),
            "{backend}: a lost device is a failure: {err}"
        );
        assert!(
            took < Duration::from_secs(1),
            "{backend}: fwd took {took:?} to stop"
        );
        assert!(
            err.contains(&name) && err.contains("device is gone"),
            "{backend}: the message names the device and the loss: {err}"
        );
    }
}
