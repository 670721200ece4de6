//! TUN devices (`mode` = `DeviceMode::Tun`): open, packet information,
//! attach, mismatches with TAP both ways, no MAC, MTU, multi-queue, vnet
//! header and offloads.

use tapring_device::{
    Attach, DeviceError, DeviceMode, MacAddr, Offloads, TapConfig, TapDevice, VnetHdrLen,
};
use tapring_testkit::{interface_exists, require_tap, sysfs_attr, unique_name};

fn tun_flags(name: &str) -> u32 {
    let text = sysfs_attr(name, "tun_flags").expect("tun_flags in sysfs");
    u32::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex tun_flags")
}

fn tun(name: &str) -> TapConfig {
    TapConfig::named(name).mode(DeviceMode::Tun)
}

#[test]
fn tun_opens_as_a_layer_3_device_without_packet_information() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tru");
    let dev = TapDevice::open(&tun(&name)).unwrap();
    assert_eq!(dev.mode(), DeviceMode::Tun);
    assert_eq!(dev.framing(), tapring_core::Framing::Ip);
    assert!(!dev.packet_info());
    let flags = tun_flags(&name);
    assert_ne!(flags & libc::IFF_TUN as u32, 0, "IFF_TUN: {flags:#x}");
    assert_eq!(flags & libc::IFF_TAP as u32, 0, "not IFF_TAP: {flags:#x}");
    assert_ne!(flags & libc::IFF_NO_PI as u32, 0, "IFF_NO_PI: {flags:#x}");
    // ARPHRD_NONE: no link-layer header, no address.
    assert_eq!(sysfs_attr(&name, "type").as_deref(), Some("65534"));
    assert_eq!(
        dev.mac(),
        Err(DeviceError::NoMacInTunMode { name: name.clone() })
    );
    let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
    let err = dev.set_mac(mac).unwrap_err();
    assert!(err.to_string().contains("DeviceMode::Tap"), "{err}");
    // MTU and link state apply as on a TAP; a TUN's range has no Ethernet
    // header to leave room for.
    assert_eq!(dev.mtu().unwrap(), 1500);
    assert_eq!(dev.mtu_range().unwrap(), (68, 65535));
    dev.set_mtu(65535).unwrap();
    assert_eq!(dev.mtu().unwrap(), 65535);
    dev.set_up(true).unwrap();
    assert!(dev.is_up().unwrap() && dev.is_running().unwrap());
}

#[test]
fn tun_with_packet_information_clears_no_pi() {
    if !require_tap() {
        return;
    }
    for mode in [DeviceMode::Tun, DeviceMode::Tap] {
        let name = unique_name("tru");
        let dev = TapDevice::open(&TapConfig::named(&name).mode(mode).packet_info(true)).unwrap();
        assert!(dev.packet_info());
        // sysfs, not TUNGETIFF: the fd's answer reuses bit 0x1000 for
        // IFF_NOFILTER (no socket filter attached).
        assert_eq!(tun_flags(&name) & libc::IFF_NO_PI as u32, 0, "{mode}");
    }
}

#[test]
fn tun_multi_queue_vnet_header_and_offloads() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tru");
    let offloads = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6;
    let dev = TapDevice::open(
        &tun(&name)
            .queues(2)
            .packet_info(true)
            .vnet_hdr(VnetHdrLen::Mergeable)
            .offloads(offloads)
            .up(true),
    )
    .unwrap();
    assert_eq!(dev.num_queues(), 2);
    assert!(dev.is_multi_queue() && dev.has_keep_alive());
    let flags = tun_flags(&name);
    assert_ne!(flags & libc::IFF_MULTI_QUEUE as u32, 0);
    assert_ne!(flags & libc::IFF_VNET_HDR as u32, 0);
    assert_eq!(dev.kernel_vnet_hdr_len().unwrap(), 12);
    assert_eq!(dev.offloads(), offloads);
    // The kernel turned the offloads on for the interface (TUN as TAP).
    let features = tapring_device::link::ethtool_features(&name).unwrap();
    assert!(features.tx_checksum && features.tso, "{features:?}");
}

#[test]
fn tun_attaches_to_an_existing_tun() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tru");
    let first = TapDevice::open(&tun(&name).multi_queue(true)).unwrap();
    let second = TapDevice::open(
        &tun(&name)
            .multi_queue(true)
            .attach(Attach::Only)
            .share(true),
    )
    .unwrap();
    assert_eq!(second.mode(), DeviceMode::Tun);
    assert_eq!(second.ifindex(), first.ifindex());
}

#[test]
fn tun_and_tap_mismatch_names_the_mode_to_set_both_ways() {
    if !require_tap() {
        return;
    }
    for (existing, asked, fix) in [
        (
            DeviceMode::Tun,
            DeviceMode::Tap,
            "set mode = DeviceMode::Tun",
        ),
        (
            DeviceMode::Tap,
            DeviceMode::Tun,
            "set mode = DeviceMode::Tap",
        ),
    ] {
        let name = unique_name("tru");
        let _dev =
            TapDevice::open(&TapConfig::named(&name).mode(existing).multi_queue(true)).unwrap();
        let err = TapDevice::open(
            &TapConfig::named(&name)
                .mode(asked)
                .multi_queue(true)
                .attach(Attach::IfExists),
        )
        .unwrap_err();
        match &err {
            DeviceError::Incompatible { name: n, reason } => {
                assert_eq!(n, &name);
                assert!(
                    reason.contains(fix),
                    "{existing} asked as {asked}: {reason}"
                );
            }
            other => panic!("{existing} asked as {asked}: {other:?}"),
        }
    }
}

#[test]
fn a_mac_in_tun_mode_is_refused_before_any_syscall() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tru");
    let mac: MacAddr = "02:00:00:00:00:07".parse().unwrap();
    let err = TapDevice::open(&tun(&name).mac(Some(mac))).unwrap_err();
    assert!(
        matches!(err, DeviceError::InvalidConfig { reason } if reason.contains("no MAC")),
        "{err:?}"
    );
    assert!(!interface_exists(&name), "nothing was created");
}
