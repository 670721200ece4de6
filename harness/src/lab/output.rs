//! What a command writes besides its table: the check that an output file
//! can be written (made before the run), the facts of the machine every
//! JSON document carries, and writing a document.

use crate::error::HarnessError;
use crate::lab::cpu::online_cpus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// An output file must go into a directory that exists: checked before
/// the run, so a long run does not end in a write error. `flag` is the
/// option's name without dashes.
pub fn check_output(flag: &str, path: &Path) -> Result<(), HarnessError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(HarnessError::Usage(format!(
            "--{flag} {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(HarnessError::Usage(format!(
            "--{flag} {}: is a directory, give a file name",
            path.display()
        )));
    }
    Ok(())
}

/// The machine a command ran on (the `environment` of its JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// tapring version.
    pub tapring: &'static str,
    /// The kernel's CPU vulnerability mitigations in force
    /// (`/sys/devices/system/cpu/vulnerabilities`): they set what a system
    /// call costs, and so how much io_uring's batching gains.
    pub mitigations: BTreeMap<String, String>,
    /// What `Backend::Auto` picks on this machine: `io_uring` or
    /// `read-write`.
    pub auto_backend: &'static str,
    /// The Rx mode `auto` resolves to here.
    pub auto_rx_mode: tapring::RxMode,
}

impl Machine {
    /// Reads the facts of this machine.
    pub fn read() -> Machine {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let mitigations = std::fs::read_dir("/sys/devices/system/cpu/vulnerabilities")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                Some((
                    e.file_name().to_string_lossy().into_owned(),
                    text.trim().to_string(),
                ))
            })
            .collect();
        let uring = tapring::uring::probe();
        Machine {
            kernel,
            cpu,
            cpus: online_cpus(),
            tapring: env!("CARGO_PKG_VERSION"),
            mitigations,
            auto_backend: if uring.usable() {
                tapring::Backend::IoUring.name()
            } else {
                tapring::Backend::ReadWrite.name()
            },
            auto_rx_mode: uring.auto_rx_mode(),
        }
    }
}

/// Writes `doc` as pretty JSON to `path`.
pub fn write_json(path: &Path, doc: &impl Serialize) -> Result<(), HarnessError> {
    let text =
        serde_json::to_string_pretty(doc).map_err(|e| HarnessError::Backend(e.to_string()))?;
    std::fs::write(path, text)
        .map_err(|e| HarnessError::Usage(format!("cannot write {}: {e}", path.display())))
}
