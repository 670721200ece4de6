//! Opening TAP devices: names, queues, vnet headers, busy names.

use tapring_device::{Attach, DeviceError, MAX_QUEUES, TapConfig, TapDevice, VnetHdrLen};
use tapring_testkit::{require_tap, sysfs_attr, unique_name};

fn tun_flags(name: &str) -> u32 {
    let text = sysfs_attr(name, "tun_flags").expect("tun_flags in sysfs");
    u32::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex tun_flags")
}

#[test]
fn single_queue_with_explicit_name_matches_sysfs() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trt");
    let tap = TapDevice::open(&TapConfig::named(&name)).unwrap();
    assert_eq!(tap.name(), name);
    assert_eq!(tap.num_queues(), 1);
    assert!(!tap.is_multi_queue());
    assert!(!tap.has_keep_alive());
    assert_eq!(
        sysfs_attr(&name, "ifindex").unwrap(),
        tap.ifindex().to_string()
    );
    let flags = tun_flags(&name);
    assert_ne!(flags & libc::IFF_TAP as u32, 0);
    assert_ne!(flags & libc::IFF_NO_PI as u32, 0);
    assert_eq!(flags & libc::IFF_MULTI_QUEUE as u32, 0);
    assert_eq!(flags & libc::IFF_VNET_HDR as u32, 0);
    assert_eq!(tap.vnet_hdr_len(), 0);
    assert_eq!(tap.current_name().unwrap(), name);
    // A device we create gets a random locally administered unicast MAC.
    let mac = tap.mac().unwrap();
    assert!(mac.is_unicast() && mac.is_local(), "{mac}");
}

#[test]
fn template_name_is_expanded_by_the_kernel() {
    if !require_tap() {
        return;
    }
    let prefix = unique_name("trt");
    let template = format!("{}%d", &prefix[..prefix.len().min(12)]);
    let tap = TapDevice::open(&TapConfig::named(&template)).unwrap();
    assert!(!tap.name().contains('%'), "{}", tap.name());
    assert!(tap.name().starts_with(&template[..template.len() - 2]));
    assert_eq!(
        sysfs_attr(tap.name(), "ifindex").unwrap(),
        tap.ifindex().to_string()
    );
    // The default template works too.
    let default = TapDevice::open(&TapConfig::default()).unwrap();
    assert!(default.name().starts_with("tap"), "{}", default.name());
    assert_eq!(
        sysfs_attr(default.name(), "ifindex").unwrap(),
        default.ifindex().to_string()
    );
}

#[test]
fn second_open_of_single_queue_name_is_busy() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trt");
    let _first = TapDevice::open(&TapConfig::named(&name)).unwrap();
    // Not asked to attach: the name is taken.
    let second = TapDevice::open(&TapConfig::named(&name));
    assert_eq!(
        second.unwrap_err(),
        DeviceError::Exists { name: name.clone() }
    );
    // Asked to: a single-queue device takes one user only.
    let third = TapDevice::open(&TapConfig::named(&name).attach(Attach::IfExists));
    assert_eq!(
        third.unwrap_err(),
        DeviceError::NameBusy { name: name.clone() }
    );
}

#[test]
fn multi_queue_opens_one_fd_per_queue() {
    if !require_tap() {
        return;
    }
    for queues in [1, 2, 4, 64] {
        let name = unique_name("trt");
        let tap =
            TapDevice::open(&TapConfig::named(&name).queues(queues).multi_queue(true)).unwrap();
        assert_eq!(tap.num_queues(), queues);
        assert!(tap.is_multi_queue() && tap.has_keep_alive());
        let mut fds: Vec<i32> = (0..queues)
            .map(|q| std::os::fd::AsRawFd::as_raw_fd(&tap.queue_fd(q)))
            .collect();
        fds.sort_unstable();
        fds.dedup();
        assert_eq!(fds.len(), queues);
        assert_ne!(tun_flags(&name) & libc::IFF_MULTI_QUEUE as u32, 0);
        // The kernel sees the queues as transmit queues of the interface.
        let txq = std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("tx-")
            })
            .count();
        // Exactly the data queues: the keep-alive fd is detached and never
        // gets traffic (real_num_tx_queues counts attached queues only).
        assert_eq!(txq, queues, "tx queues of {name}");
    }
}

#[test]
fn queue_count_out_of_range_is_typed() {
    if !require_tap() {
        return;
    }
    for (queues, max) in [(0, 1), (257, MAX_QUEUES)] {
        let name = unique_name("trt");
        let err = TapDevice::open(&TapConfig::named(&name).queues(queues)).unwrap_err();
        assert_eq!(
            err,
            DeviceError::QueueCount {
                requested: queues,
                max
            }
        );
        assert!(!tapring_testkit::interface_exists(&name));
    }
}

#[test]
fn multi_queue_flag_of_existing_device_is_checked() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trt");
    let _single = TapDevice::open(&TapConfig::named(&name)).unwrap();
    let err =
        TapDevice::open(&TapConfig::named(&name).queues(2).attach(Attach::IfExists)).unwrap_err();
    assert!(matches!(err, DeviceError::Incompatible { .. }), "{err}");
}

#[test]
fn vnet_header_sizes_are_set() {
    if !require_tap() {
        return;
    }
    for vnet_hdr in [VnetHdrLen::Short, VnetHdrLen::Mergeable] {
        let name = unique_name("trt");
        let tap = TapDevice::open(&TapConfig::named(&name).vnet_hdr(vnet_hdr)).unwrap();
        assert_ne!(tun_flags(&name) & 0x4000, 0, "IFF_VNET_HDR in tun_flags");
        assert_eq!(tap.vnet_hdr_len(), vnet_hdr.len());
        assert_eq!(tap.kernel_vnet_hdr_len().unwrap(), vnet_hdr.len());
    }
}

#[test]
fn the_kernel_queue_limit_fits_with_the_keep_alive() {
    if !require_tap() {
        return;
    }
    let name = unique_name("trt");
    let tap = TapDevice::open(&TapConfig::named(&name).queues(MAX_QUEUES)).unwrap();
    assert_eq!(tap.num_queues(), MAX_QUEUES);
    assert_eq!(MAX_QUEUES + 1, tapring_device::KERNEL_MAX_QUEUES);
}
