//! The two named network namespaces nsA and nsB inside the sandbox, with
//! their addresses; a veth pair between them (the kernel's own ceiling);
//! running a command in one of them.

use crate::error::HarnessError;
use crate::lab::sandbox::{self, command_output};

/// The namespaces.
pub const NS: [&str; 2] = ["nsA", "nsB"];
/// Their addresses.
pub const ADDR: [&str; 2] = ["198.18.1.1", "198.18.1.2"];

/// Creates (fresh) nsA and nsB with loopback up and IPv6 off.
pub fn create() -> Result<(), HarnessError> {
    for ns in NS {
        let _ = sandbox::ip(&["netns", "del", ns]);
        sandbox::ip(&["netns", "add", ns])?;
        // Quiet namespaces: no IPv6 chatter through the forwarder.
        let _ = in_ns(
            ns,
            &[
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
            ],
        );
        sandbox::ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

/// Deletes nsA and nsB (and with them whatever interfaces they hold).
pub fn remove() {
    for ns in NS {
        let _ = sandbox::ip(&["netns", "del", ns]);
    }
}

/// nsA and nsB joined directly by a veth pair: the kernel's own ceiling
/// for the traffic a forwarder carries. Removed by [`remove`].
pub fn veth_pair() -> Result<(), HarnessError> {
    create()?;
    sandbox::ip(&[
        "link", "add", "trvetha", "netns", NS[0], "type", "veth", "peer", "name", "trvethb",
        "netns", NS[1],
    ])?;
    for (i, (ns, dev)) in NS.iter().zip(["trvetha", "trvethb"]).enumerate() {
        let cidr = format!("{}/24", ADDR[i]);
        sandbox::ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
        sandbox::ip(&["-n", ns, "link", "set", "dev", dev, "up"])?;
    }
    Ok(())
}

/// `ip netns exec NS ARGS...`, its stdout; an error with stderr if it fails.
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String, HarnessError> {
    let mut full = vec!["netns", "exec", ns];
    full.extend_from_slice(args);
    let out = command_output("ip", &full)?;
    if !out.status.success() {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        return Err(HarnessError::Command {
            cmd: format!("ip {}", full.join(" ")),
            detail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
