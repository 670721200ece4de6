//! The ICMP echo client against the kernel: a veth pair between two
//! namespaces this test makes, 198.18.3.1/24 and 198.18.3.2/24.

use std::net::Ipv4Addr;
use std::time::Duration;
use tapring_testkit::{NetnsGuard, ping_in_netns, quiet_ip, require_tap, unique_name};

#[test]
fn pings_across_a_veth_pair() {
    if !require_tap() {
        return;
    }
    let (a, b) = (NetnsGuard::new(), NetnsGuard::new());
    let (va, vb) = (unique_name("pva"), unique_name("pvb"));
    // Made inside namespace A, so deleting the namespaces removes it.
    assert!(quiet_ip(&[
        "-n",
        a.name(),
        "link",
        "add",
        &va,
        "type",
        "veth",
        "peer",
        "name",
        &vb,
        "netns",
        b.name()
    ]));
    for (ns, dev, addr) in [(&a, &va, "198.18.3.1/24"), (&b, &vb, "198.18.3.2/24")] {
        assert!(quiet_ip(&[
            "-n",
            ns.name(),
            "addr",
            "add",
            addr,
            "dev",
            dev
        ]));
        assert!(quiet_ip(&[
            "-n",
            ns.name(),
            "link",
            "set",
            "dev",
            dev,
            "up"
        ]));
    }
    let dst = Ipv4Addr::new(198, 18, 3, 2);
    for payload in [0, 56, 1472] {
        let report = ping_in_netns(
            Some(a.name()),
            dst,
            payload,
            3,
            Duration::from_millis(50),
            Duration::from_secs(2),
        )
        .expect("ping");
        assert!(report.all_replied(), "payload {payload}: {report}");
        assert!(report.rtt_max() < Duration::from_secs(2), "{report}");
    }
    // Nobody answers 198.18.3.9: every request is lost, within the bound.
    let t0 = std::time::Instant::now();
    let lost = ping_in_netns(
        Some(a.name()),
        Ipv4Addr::new(198, 18, 3, 9),
        56,
        2,
        Duration::from_millis(50),
        Duration::from_millis(300),
    )
    .expect("ping");
    assert_eq!((lost.sent, lost.received), (2, 0), "{lost}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    // Don't Fragment, as `ping -M do`: a request larger than the 1500-byte
    // MTU is refused, not sent in fragments.
    let too_big = ping_in_netns(
        Some(a.name()),
        dst,
        1600,
        1,
        Duration::ZERO,
        Duration::from_millis(300),
    );
    assert!(
        too_big
            .as_ref()
            .is_err_and(|e| e.contains("1600-byte payload")),
        "{too_big:?}"
    );
    // A namespace that does not exist is an error, not a panic.
    assert!(
        ping_in_netns(
            Some("tapring-no-such-ns"),
            dst,
            8,
            1,
            Duration::ZERO,
            Duration::ZERO
        )
        .is_err()
    );
}
