//! `probe()` as root.

use tapring_device::{Offloads, probe};
use tapring_testkit::require_tap;

#[test]
fn probe_reports_tun_and_capability() {
    if !require_tap() {
        return;
    }
    let probe = probe();
    println!("{probe}");
    assert!(probe.tun_device);
    assert!(probe.cap_net_admin);
    assert!(probe.usable());
    assert!(probe.multi_queue() && probe.vnet_hdr());
    assert!(!probe.kernel_release.is_empty());
    let accepted = probe.accepted_offloads.expect("offloads probed as root");
    assert!(accepted.contains(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6));
    let text = probe.to_string();
    assert!(text.contains("/dev/net/tun:    yes"), "{text}");
    assert!(text.contains("CAP_NET_ADMIN:   yes"), "{text}");
}
