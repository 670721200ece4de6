//! A device moved to another network namespace: control by name fails with
//! a typed error, the fd still carries data, and the counters are read
//! through the fd in the device's own namespace.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use tapring_device::{DeviceError, KernelCounters, TapConfig, TapDevice};
use tapring_testkit::{
    NetnsGuard, interface_exists, ping_in_netns, quiet_ip, require_tap, test_frame, unique_name,
};

#[test]
fn moved_device_is_gone_for_control_but_fd_works() {
    if !require_tap() {
        return;
    }
    let netns = NetnsGuard::new();
    let name = unique_name("trn");
    let tap = TapDevice::open(&TapConfig::named(&name)).unwrap();
    assert!(quiet_ip(&[
        "link",
        "set",
        "dev",
        &name,
        "netns",
        netns.name()
    ]));
    assert!(!interface_exists(&name));

    let gone = DeviceError::DeviceGone { name: name.clone() };
    assert_eq!(tap.mtu(), Err(gone.clone()));
    assert_eq!(tap.set_up(true), Err(gone.clone()));
    assert_eq!(tap.mac(), Err(gone.clone()));
    // The counters are not control: they are read where the device is.
    assert!(tap.kernel_counters().is_ok());
    assert_eq!(tap.set_mtu(1400), Err(gone.clone()));
    // fd-based control still works: the fd is attached wherever it went.
    assert_eq!(tap.current_name().unwrap(), name);

    // The data path does too: the interface (in the other namespace) is
    // up there, and the frame is accepted.
    assert!(quiet_ip(&[
        "-n",
        netns.name(),
        "link",
        "set",
        "dev",
        &name,
        "up"
    ]));
    let frame = [0xffu8; 60];
    assert_eq!(
        nix::unistd::write(tap.queue_fd(0).as_fd(), &frame).unwrap(),
        60
    );

    // A different interface of the same name here is not ours either.
    let impostor = TapDevice::open(&TapConfig::named(&name)).unwrap();
    assert_eq!(tap.mtu(), Err(gone));
    assert!(impostor.mtu().is_ok());
}

/// `/sys/class/net/NAME/statistics/COUNTER` as namespace `ns` sees it
/// (`ip netns exec` mounts that namespace's sysfs).
fn counter_in(ns: &str, name: &str, counter: &str) -> u64 {
    let path = format!("/sys/class/net/{name}/statistics/{counter}");
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", &path])
        .output()
        .expect("ip netns exec");
    assert!(out.status.success(), "cat {path} in {ns}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// Reads every frame waiting on the (non-blocking) queue fd; how many.
fn drain(tap: &TapDevice) -> u64 {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while nix::unistd::read(tap.queue_fd(0), &mut buf).is_ok_and(|len| len > 0) {
        n += 1;
    }
    n
}

#[test]
fn counters_are_read_in_the_namespace_the_device_moved_to() {
    if !require_tap() {
        return;
    }
    let netns = NetnsGuard::new();
    let name = unique_name("trc");
    let tap = TapDevice::open(&TapConfig::named(&name)).unwrap();
    // The fd names the namespace the device is in: ours first...
    let here = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let ino = |fd: std::os::fd::OwnedFd| std::fs::File::from(fd).metadata().unwrap().ino();
    assert_eq!(ino(tap.netns().unwrap()), here);
    assert!(quiet_ip(&[
        "link",
        "set",
        "dev",
        &name,
        "netns",
        netns.name()
    ]));
    // ...then the one it was moved to, whose name we never told it.
    let there = std::fs::metadata(format!("/run/netns/{}", netns.name()))
        .unwrap()
        .ino();
    assert_ne!(here, there);
    assert_eq!(ino(tap.netns().unwrap()), there);
    for args in [
        &["addr", "add", "198.18.77.1/24", "dev", &name][..],
        &["link", "set", "dev", &name, "up"][..],
    ] {
        let mut full = vec!["-n", netns.name()];
        full.extend_from_slice(args);
        assert!(quiet_ip(&full), "ip {full:?}");
    }
    // Whatever the kernel sent so far is read and counted (tun counts a
    // frame transmitted as the application reads it).
    let mut read = drain(&tap);
    let before = tap.kernel_counters().unwrap();
    assert_eq!(before.rx_packets, 0);

    // Frames written to the queue fd are the interface's received ones.
    const N: u64 = 7;
    const LEN: usize = 98;
    for seq in 0..N {
        let frame = test_frame(seq as u32, LEN);
        let written = nix::unistd::write(tap.queue_fd(0).as_fd(), &frame).unwrap();
        assert_eq!(written, LEN);
    }
    // An echo from inside the namespace to an absent neighbour: the kernel
    // sends ARP requests out of the device, which we read.
    let _ = ping_in_netns(
        Some(netns.name()),
        std::net::Ipv4Addr::new(198, 18, 77, 2),
        56,
        1,
        Duration::from_millis(100),
        Duration::from_millis(300),
    );
    read += drain(&tap);
    assert!(read > 0, "the kernel sent nothing out of {name}");

    let after = tap.kernel_counters().unwrap();
    assert_eq!(after.rx_packets - before.rx_packets, N, "{after:?}");
    assert_eq!(
        after.rx_bytes - before.rx_bytes,
        N * LEN as u64,
        "{after:?}"
    );
    assert_eq!(after.tx_packets, read, "{after:?}");
    // The same numbers the namespace's own sysfs shows.
    let sysfs = KernelCounters {
        rx_packets: counter_in(netns.name(), &name, "rx_packets"),
        tx_packets: counter_in(netns.name(), &name, "tx_packets"),
        rx_bytes: counter_in(netns.name(), &name, "rx_bytes"),
        tx_bytes: counter_in(netns.name(), &name, "tx_bytes"),
        rx_dropped: counter_in(netns.name(), &name, "rx_dropped"),
        tx_dropped: counter_in(netns.name(), &name, "tx_dropped"),
    };
    // Nothing is read or written between: the kernel may still queue a
    // frame for us (tx_dropped only if the ring is full), so compare what
    // only we move.
    assert_eq!(
        (
            sysfs.rx_packets,
            sysfs.rx_bytes,
            sysfs.tx_packets,
            sysfs.tx_bytes
        ),
        (
            after.rx_packets,
            after.rx_bytes,
            after.tx_packets,
            after.tx_bytes
        )
    );
    assert!(!interface_exists(&name));
}

#[test]
fn counters_follow_a_rename_in_the_other_namespace() {
    if !require_tap() {
        return;
    }
    let netns = NetnsGuard::new();
    let (name, renamed) = (unique_name("trc"), unique_name("trr"));
    let tap = TapDevice::open(&TapConfig::named(&name).up(true)).unwrap();
    assert!(quiet_ip(&[
        "link",
        "set",
        "dev",
        &name,
        "netns",
        netns.name()
    ]));
    let ns = netns.name();
    assert!(quiet_ip(&[
        "-n", ns, "link", "set", "dev", &name, "name", &renamed
    ]));
    assert!(quiet_ip(&["-n", ns, "link", "set", "dev", &renamed, "up"]));
    // A device of the old name here is someone else's.
    let impostor = TapDevice::open(&TapConfig::named(&name).up(true)).unwrap();
    let frame = test_frame(1, 60);
    nix::unistd::write(impostor.queue_fd(0).as_fd(), &frame).unwrap();
    nix::unistd::write(tap.queue_fd(0).as_fd(), &frame).unwrap();
    nix::unistd::write(tap.queue_fd(0).as_fd(), &frame).unwrap();
    assert_eq!(tap.current_name().unwrap(), renamed);
    assert_eq!(tap.kernel_counters().unwrap().rx_packets, 2);
    assert_eq!(impostor.kernel_counters().unwrap().rx_packets, 1);
}
