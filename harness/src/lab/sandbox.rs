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

/// Deletes every interface of `links` (name, and the namespace it is in,
/// `None` for this one), each tried even when an earlier one failed; the
/// first failure.
pub fn delete_links(links: &[(Option<&str>, &str)]) -> Result<(), HarnessError> {
    let mut first = Ok(());
    for &(ns, name) in links {
        let r = match ns {
            Some(ns) => ip(&["-n", ns, "link", "del", "dev", name]),
            None => ip(&["link", "del", "dev", name]),
        };
        if first.is_ok() {
            first = r;
        }
    }
    first
}

/// Runs a command, failing with its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<(), HarnessError> {
    let out = command_output(cmd, args)?;
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

/// Runs `cmd ARGS...` and collects its output (a failing exit status is
/// not an error here).
pub fn command_output(cmd: &str, args: &[&str]) -> Result<std::process::Output, HarnessError> {
    Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| HarnessError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            detail: e.to_string(),
        })
}

/// Interface names in the sandbox's root namespace (`ip -o link`).
pub fn link_names() -> Result<Vec<String>, HarnessError> {
    let out = command_output("ip", &["-o", "link"])?;
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Fresh interface names within the sandbox (a closing io_uring TAP can
/// linger under its old name for a moment).
#[derive(Default)]
pub struct Names(u32);

impl Names {
    /// `prefix` followed by a number not used before.
    pub fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_never_reused() {
        let mut n = Names::default();
        let (a, b) = (n.next("tr"), n.next("tr"));
        assert_ne!(a, b);
        assert!(a.starts_with("tr") && b.starts_with("tr"));
    }
}
