//! A device moved to another network namespace: control fails with a typed
//! error, the fd still carries data.

use std::os::fd::AsFd;

use tapring_device::{DeviceError, TapConfig, TapDevice};
use tapring_testkit::{NetnsGuard, interface_exists, quiet_ip, require_tap, unique_name};

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
    assert_eq!(tap.kernel_counters(), Err(gone.clone()));
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
