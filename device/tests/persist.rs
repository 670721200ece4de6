//! Persistent devices: re-attach, owner/group, attach-only, offload reset.

use tapring_device::{Attach, DeviceError, Offloads, TapConfig, TapDevice, VnetHdrLen};
use tapring_testkit::{InterfaceGuard, ethtool_features, require_tap, sysfs_attr, unique_name};

#[test]
fn persistent_device_survives_close_and_reattaches() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trp");
    let guard = InterfaceGuard::new(&name);
    let first = TapDevice::open(&TapConfig::named(&name).persist(true)).unwrap();
    let ifindex = first.ifindex();
    assert_ne!(first.tun_flags().unwrap() & libc::IFF_PERSIST as u32, 0);
    first.set_owner(4321).unwrap();
    first.set_group(4322).unwrap();
    assert_eq!(sysfs_attr(&name, "owner").unwrap(), "4321");
    assert_eq!(sysfs_attr(&name, "group").unwrap(), "4322");
    let mac = first.mac().unwrap();
    drop(first);
    assert!(
        tapring_testkit::interface_exists(&name),
        "persistent device gone"
    );

    let again = TapDevice::open(&TapConfig::named(&name).attach(Attach::Only)).unwrap();
    assert_eq!(again.ifindex(), ifindex);
    // An existing device keeps its MAC when none is asked for.
    assert_eq!(again.mac().unwrap(), mac);
    assert_eq!(sysfs_attr(&name, "owner").unwrap(), "4321");
    again.set_persist(false).unwrap();
    drop(again);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while tapring_testkit::interface_exists(&name) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!tapring_testkit::interface_exists(&name));
    drop(guard);
}

#[test]
fn attach_only_without_device_is_not_found() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trp");
    let err = TapDevice::open(&TapConfig::named(&name).attach(Attach::Only)).unwrap_err();
    assert_eq!(err, DeviceError::NotFound { name: name.clone() });
    assert!(!tapring_testkit::interface_exists(&name));
}

#[test]
fn offload_mask_is_reset_on_reattach_without_offloads() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tro");
    let _guard = InterfaceGuard::new(&name);
    let with = TapDevice::open(
        &TapConfig::named(&name)
            .persist(true)
            .vnet_hdr(VnetHdrLen::Mergeable)
            .offloads(Offloads::CSUM | Offloads::TSO4),
    )
    .unwrap();
    assert_eq!(with.offloads(), Offloads::CSUM | Offloads::TSO4);
    let on = ethtool_features(&name).unwrap();
    assert!(on.tx_checksum && on.tso, "{on:?}");
    drop(with);
    // The mask is device-wide and outlives the fds.
    let still = ethtool_features(&name).unwrap();
    assert!(still.tx_checksum && still.tso, "{still:?}");

    let mut without = TapDevice::open(
        &TapConfig::named(&name)
            .attach(Attach::Only)
            .vnet_hdr(VnetHdrLen::Mergeable),
    )
    .unwrap();
    assert_eq!(without.offloads(), Offloads::NONE);
    let off = ethtool_features(&name).unwrap();
    assert!(!off.tx_checksum && !off.tso, "{off:?}");

    without.set_offloads(Offloads::CSUM).unwrap();
    let csum = ethtool_features(&name).unwrap();
    assert!(csum.tx_checksum && !csum.tso, "{csum:?}");
    assert!(matches!(
        without.set_offloads(Offloads::TSO4),
        Err(DeviceError::InvalidConfig { .. })
    ));
    without.set_persist(false).unwrap();
}

#[test]
fn offloads_need_a_vnet_header() {
    if !require_tap() {
        return;
    }
    let name = unique_name("tro");
    let err = TapDevice::open(&TapConfig::named(&name).offloads(Offloads::CSUM)).unwrap_err();
    assert!(matches!(err, DeviceError::InvalidConfig { .. }), "{err}");
    let mut tap = TapDevice::open(&TapConfig::named(&name)).unwrap();
    assert!(matches!(
        tap.set_offloads(Offloads::CSUM),
        Err(DeviceError::InvalidConfig { .. })
    ));
}
