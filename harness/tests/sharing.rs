//! No silent sharing, across processes: a second `tapring fwd` on a device
//! the first one forwards on is refused (exists; in use; a setting that
//! differs), and the first goes on forwarding with its settings intact.
//! And the owner of a persistent device uses `fwd --attach` without
//! CAP_NET_ADMIN. Skips with one line without CAP_NET_ADMIN unless
//! TAPRING_REQUIRE_TAP=1.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tapring::device::{KernelCounters, link::PacketSocket};
use tapring_testkit::{
    InterfaceGuard, interface_exists, require_tap, sysfs_attr, test_frame, unique_name,
};

mod common;
use common::{BIN, ChildGuard, run_bounded, text};

#[test]
fn a_second_fwd_cannot_take_over_a_device_in_use() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trsp");
    let _guard = InterfaceGuard::new(name.clone());
    let first = Command::new(BIN)
        .args([
            "fwd",
            "--port",
            &name,
            "--queues",
            "2",
            "--offload",
            "--seconds",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tapring runs");
    let mut first = ChildGuard(first);
    let up = Instant::now() + Duration::from_secs(10);
    while !interface_exists(&name) && Instant::now() < up {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let flags = sysfs_attr(&name, "tun_flags").expect("tun_flags");

    for (extra, says) in [
        (&[][..], "exists already"),
        (&["--attach"][..], "in use"),
        (&["--attach", "--share"][..], "vnet_hdr"),
    ] {
        let mut args = vec!["fwd", "--port", &name, "--queues", "2", "--seconds", "1"];
        args.extend_from_slice(extra);
        let out = run_bounded(&args, Duration::from_secs(20));
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{extra:?}: a second fwd was let in");
        assert!(err.contains(says), "{extra:?}: expected {says:?} in: {err}");
        assert_eq!(
            sysfs_attr(&name, "tun_flags").as_deref(),
            Some(flags.as_str()),
            "{extra:?}: the device's flags changed"
        );
    }
    assert!(
        first.0.try_wait().expect("wait").is_none(),
        "the first fwd stopped"
    );

    // The first one still forwards: frames sent out of the device come
    // back in, reflected by it.
    let ifindex: u32 = sysfs_attr(&name, "ifindex")
        .and_then(|i| i.trim().parse().ok())
        .expect("ifindex");
    let before = KernelCounters::read(&name).expect("counters").rx_packets;
    let sock = PacketSocket::send_only(ifindex).expect("packet socket");
    for seq in 0..50 {
        sock.send(&test_frame(seq, 100)).expect("sent");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut back = 0;
    while back < 50 && Instant::now() < deadline {
        back = KernelCounters::read(&name).expect("counters").rx_packets - before;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(back >= 50, "the first fwd reflected {back} of 50 frames");
}
