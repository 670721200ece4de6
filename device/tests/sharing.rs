//! No silent sharing: a name that exists is opened only when asked to
//! attach; a multi-queue device with another user's queues only when asked
//! to share, and then only with the device-wide settings in force, which
//! attaching never changes.

use tapring_device::{
    Attach, DeviceError, Offloads, TapConfig, TapDevice, VnetHdrLen, link::ethtool_features,
};
use tapring_testkit::{require_tap, sysfs_attr, unique_name};

/// The device's `tun_flags`, from sysfs.
fn tun_flags(name: &str) -> String {
    sysfs_attr(name, "tun_flags").expect("tun_flags in sysfs")
}

fn in_use(name: &str) -> TapConfig {
    TapConfig::named(name)
        .queues(2)
        .vnet_hdr(VnetHdrLen::Mergeable)
        .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)
}

#[test]
fn an_existing_device_opens_only_when_asked_and_shares_only_its_settings() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trsh");
    let first = TapDevice::open(&in_use(&name)).unwrap();
    let (flags, features) = (tun_flags(&name), ethtool_features(&name).unwrap());

    let err = TapDevice::open(&in_use(&name)).unwrap_err();
    assert_eq!(err, DeviceError::Exists { name: name.clone() }, "{err}");
    assert!(err.to_string().contains("--attach"), "{err}");

    let attach = in_use(&name).attach(Attach::IfExists);
    let err = TapDevice::open(&attach).unwrap_err();
    assert!(
        matches!(&err, DeviceError::InUse { queues: 3, .. }),
        "the first user's two queues and its parked keep-alive: {err}"
    );
    assert!(err.to_string().contains("share"), "{err}");

    // Shared, each device-wide setting that differs is named, and refused.
    let differing = [
        (TapConfig::named(&name).queues(2), "vnet_hdr"),
        (in_use(&name).offloads(Offloads::NONE), "offloads"),
        (in_use(&name).packet_info(true), "packet_info"),
        (in_use(&name).vnet_hdr(VnetHdrLen::Short), "vnet_hdr"),
        (in_use(&name).mtu(Some(1400)), "mtu"),
    ];
    for (cfg, setting) in differing {
        let err = TapDevice::open(&cfg.attach(Attach::IfExists).share(true)).unwrap_err();
        match &err {
            DeviceError::SettingDiffers { setting: s, .. } => assert_eq!(*s, setting, "{err}"),
            other => panic!("{setting}: {other:?}"),
        }
        assert_eq!(
            tun_flags(&name),
            flags,
            "{setting}: the device's flags stay"
        );
        assert_eq!(
            ethtool_features(&name).unwrap(),
            features,
            "{setting}: the offloads stay"
        );
        assert_eq!(
            first.kernel_vnet_hdr_len().unwrap(),
            12,
            "{setting}: the header length stays"
        );
    }

    // The same settings: it shares, and nothing changes.
    let second = TapDevice::open(&in_use(&name).attach(Attach::IfExists).share(true)).unwrap();
    assert_eq!(second.ifindex(), first.ifindex());
    assert_eq!(tun_flags(&name), flags);
    assert_eq!(ethtool_features(&name).unwrap(), features);
}

#[test]
fn an_idle_persistent_device_is_reconfigured_by_whoever_attaches() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trsh");
    let made = TapDevice::open(&in_use(&name).persist(true)).unwrap();
    drop(made);
    // Nobody's queues are attached: attaching with other settings is the
    // owner's business, not sharing.
    let again = TapDevice::open(&TapConfig::named(&name).queues(2).attach(Attach::Only)).unwrap();
    assert_eq!(again.offloads(), Offloads::NONE);
    let f = ethtool_features(&name).unwrap();
    assert!(!f.tx_checksum && !f.tso, "{f:?}");
    again.set_persist(false).unwrap();
}
