//! A private network (and mount) namespace for the whole process: every
//! interface, bridge and namespace a benchmark or self-test builds lives
//! inside it, so the kernel removes all of it when the process ends, also
//! on Ctrl-C, on panic and on SIGKILL. Nothing can collide with the host's
//! names either.

use crate::error::HarnessError;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use std::process::Command;

/// Moves the calling thread (call it before any other thread exists) into
/// fresh network and mount namespaces, with /sys showing the new network
/// namespace and a private /run/netns for named namespaces.
pub fn enter() -> Result<(), HarnessError> {
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
        .map_err(|e| HarnessError::sys("unshare(CLONE_NEWNET | CLONE_NEWNS)", e))?;
    // Mounts made below must not propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| HarnessError::sys("mount --make-rprivate /", e))?;
    let _ = umount2("/sys", MntFlags::MNT_DETACH);
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| HarnessError::sys("mount sysfs /sys", e))?;
    let _ = std::fs::create_dir_all("/run/netns");
    mount(
        Some("tmpfs"),
        "/run/netns",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| HarnessError::sys("mount tmpfs /run/netns", e))?;
    ip(&["link", "set", "lo", "up"])?;
    Ok(())
}

/// Runs `ip ARGS` (inside the sandbox), failing with its stderr.
pub fn ip(args: &[&str]) -> Result<(), HarnessError> {
    run("ip", args)
}

/// Runs a command, failing with its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<(), HarnessError> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Writes a sysctl of the sandbox's network namespace; false if it does not
/// exist here (e.g. bridge netfilter without br_netfilter loaded).
pub fn sysctl(key: &str, value: &str) -> bool {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(path, value).is_ok()
}

/// One counter of an interface, from sysfs (which shows the sandbox).
pub fn counter(ifname: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
