//! Control operations, each checked against the kernel's view
//! (`ip -o link show`, sysfs).

use std::io::IoSlice;
use std::os::fd::AsFd;

use tapring_device::link::{BatchScratch, PacketSocket};
use tapring_device::{DeviceError, KernelCounters, MacAddr, TapConfig, TapDevice};
use tapring_testkit::{ip_link, quiet_ip, require_tap, unique_name};

fn open(name: &str) -> TapDevice {
    TapDevice::open(&TapConfig::named(name)).unwrap()
}

#[test]
fn mtu_is_set_and_range_is_enforced() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trc");
    let tap = TapDevice::open(&TapConfig::named(&name).mtu(Some(1400))).unwrap();
    assert_eq!(tap.mtu().unwrap(), 1400);
    assert_eq!(ip_link(&name).unwrap().mtu, 1400);
    tap.set_mtu(9000).unwrap();
    assert_eq!(ip_link(&name).unwrap().mtu, 9000);

    let (min, max) = tap.mtu_range().unwrap();
    assert_eq!((min, max), (68, 65521), "tun.c's TAP range");
    for bad in [0, min - 1, max + 1, u32::MAX] {
        let err = tap.set_mtu(bad).unwrap_err();
        assert_eq!(
            err,
            DeviceError::MtuOutOfRange {
                requested: bad,
                min,
                max
            }
        );
        assert_eq!(ip_link(&name).unwrap().mtu, 9000, "MTU changed by {bad}");
    }
    tap.set_mtu(max).unwrap();
    assert_eq!(ip_link(&name).unwrap().mtu, max);
}

#[test]
fn mac_is_set_and_checked() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trc");
    let wanted: MacAddr = "02:aa:bb:cc:dd:01".parse().unwrap();
    let tap = TapDevice::open(&TapConfig::named(&name).mac(Some(wanted)).up(true)).unwrap();
    assert_eq!(tap.mac().unwrap(), wanted);
    assert_eq!(ip_link(&name).unwrap().mac, Some(wanted));
    // A TAP takes a new MAC while up.
    let next: MacAddr = "02:aa:bb:cc:dd:02".parse().unwrap();
    tap.set_mac(next).unwrap();
    assert_eq!(ip_link(&name).unwrap().mac, Some(next));
    for bad in ["01:00:5e:00:00:01", "00:00:00:00:00:00"] {
        let mac: MacAddr = bad.parse().unwrap();
        assert_eq!(tap.set_mac(mac), Err(DeviceError::InvalidMac { mac }));
    }
    assert_eq!(ip_link(&name).unwrap().mac, Some(next));
}

#[test]
fn up_down_promisc_allmulti_follow_the_kernel() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trc");
    let tap = open(&name);
    assert!(!tap.is_up().unwrap());
    assert!(!ip_link(&name).unwrap().has_flag("UP"));
    assert!(!tap.is_running().unwrap());

    tap.set_up(true).unwrap();
    assert!(tap.is_up().unwrap());
    assert!(ip_link(&name).unwrap().has_flag("UP"));
    // A queue is attached, so the TAP has carrier.
    assert!(tap.is_running().unwrap());
    assert!(ip_link(&name).unwrap().has_flag("LOWER_UP"));

    tap.set_promisc(true).unwrap();
    assert!(tap.promisc().unwrap());
    assert!(ip_link(&name).unwrap().has_flag("PROMISC"));
    tap.set_allmulti(true).unwrap();
    assert!(tap.allmulti().unwrap());
    assert!(ip_link(&name).unwrap().has_flag("ALLMULTI"));

    tap.set_promisc(false).unwrap();
    tap.set_allmulti(false).unwrap();
    let link = ip_link(&name).unwrap();
    assert!(
        !link.has_flag("PROMISC") && !link.has_flag("ALLMULTI"),
        "{link:?}"
    );
    assert!(!tap.promisc().unwrap() && !tap.allmulti().unwrap());

    tap.set_up(false).unwrap();
    assert!(!tap.is_up().unwrap() && !tap.is_running().unwrap());
    assert!(!ip_link(&name).unwrap().has_flag("UP"));
}

#[test]
fn kernel_counters_move_with_traffic() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trc");
    let tap = TapDevice::open(&TapConfig::named(&name).up(true)).unwrap();
    let before = tap.kernel_counters().unwrap();
    // A broadcast frame of an unused EtherType, 60 bytes.
    let mut frame = [0u8; 60];
    frame[..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental
    for _ in 0..3 {
        let written = nix::unistd::write(tap.queue_fd(0).as_fd(), &frame).unwrap();
        assert_eq!(written, frame.len());
    }
    let after = tap.kernel_counters().unwrap();
    assert_eq!(after.rx_packets - before.rx_packets, 3);
    assert_eq!(after.rx_bytes - before.rx_bytes, 3 * 60);
    // The stack has no handler for this EtherType and may count the frames
    // as dropped after receiving them; they were never lost by tun itself.
    assert!(after.rx_dropped - before.rx_dropped <= 3);
    assert!(after.tx_dropped >= before.tx_dropped);
    // Read by name (as for an interface one holds no device of), the same.
    assert_eq!(KernelCounters::read(&name).unwrap(), after);
}

#[test]
fn a_batch_from_a_send_only_socket_reaches_the_tap_queue() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trb");
    let tap = TapDevice::open(&TapConfig::named(&name).up(true)).unwrap();
    let frames: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            let mut f = vec![i; 60 + usize::from(i)];
            f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
            f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
            f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
            f
        })
        .collect();
    let slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
    let sock = PacketSocket::send_only(tap.ifindex()).unwrap();
    sock.bypass_qdisc().unwrap();
    let mut scratch = BatchScratch::new(4);
    assert_eq!(scratch.capacity(), 4);
    // A batch is capped by the scratch; the next call sends the rest.
    let mut sent = 0;
    for _ in 0..2 {
        sent += sock.send_batch(&slices[sent..], &mut scratch).unwrap();
    }
    assert_eq!(sent, 8);
    // In order, byte for byte, on the TAP's queue.
    let fd = tap.queue_fd(0);
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while got.len() < frames.len() && std::time::Instant::now() < deadline {
        match nix::unistd::read(fd, &mut buf) {
            Ok(n) if buf[12..14] == 0x88b5u16.to_be_bytes() => got.push(buf[..n].to_vec()),
            Ok(_) => {} // IPv6 chatter of a fresh interface
            Err(nix::errno::Errno::EAGAIN) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(got, frames);
}

#[test]
fn control_follows_a_renamed_interface() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trc");
    let renamed = unique_name("trr");
    let tap = open(&name);
    assert!(quiet_ip(&["link", "set", "dev", &name, "name", &renamed]));
    assert_eq!(tap.current_name().unwrap(), renamed);
    assert_eq!(tap.name(), name, "name() is the name at open");
    tap.set_mtu(1280).unwrap();
    assert_eq!(ip_link(&renamed).unwrap().mtu, 1280);
    assert!(ip_link(&name).is_none());
}
