//! Interface names: validation (before any syscall), templates, and fresh
//! unique names.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::DeviceError;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// Checks `name` as the kernel's `dev_valid_name` would, plus the `%d`
/// template rule of `dev_alloc_name`. Makes no syscall.
pub(crate) fn validate(name: &str) -> Result<(), DeviceError> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is \".\" or \"..\"")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains(':') {
        Some("contains ':'")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if name.contains('%') && (name.matches('%').count() != 1 || !name.contains("%d")) {
        Some("contains '%' other than a single \"%d\" template")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DeviceError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Whether `name` is a template the kernel expands (`tap%d`).
pub(crate) fn is_template(name: &str) -> bool {
    name.contains("%d")
}

/// Whether an interface called `name` exists in this network namespace
/// (as seen by this process's /sys mount).
/// Whether an interface of that name exists in this network namespace
/// (`/sys/class/net/NAME`).
pub fn interface_exists(name: &str) -> bool {
    !name.is_empty() && Path::new("/sys/class/net").join(name).exists()
}

/// A fresh interface name, unique per process and call and not currently
/// used: `prefix` (cut to 4 bytes) + the pid, `x`, and a counter, both in
/// base 36: at most 4 + 5 + 1 + 5 = 15 bytes.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let prefix: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(4)
        .collect();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // pid_max is at most 2^22: 5 base-36 digits. The counter wraps
        // within 5 digits (36^5 > 60 million names per process).
        let counter = n % 36u32.pow(5);
        let name = format!("{prefix}{}x{}", base36(std::process::id()), base36(counter));
        if !interface_exists(&name) {
            return name;
        }
    }
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a\tb",
            "a:b",
            "abcdefghijklmnop",
            "a%s",
            "a%d%d",
            "a\0b",
        ] {
            assert!(
                matches!(validate(bad), Err(DeviceError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn accepts_good_names() {
        for good in ["tap0", "tap%d", "abcdefghijklmno", "a-b_c.d"] {
            validate(good).unwrap();
        }
    }

    #[test]
    fn unique_names_are_short_and_distinct() {
        let a = unique_name("tapringtest");
        let b = unique_name("tapringtest");
        assert_ne!(a, b);
        assert!(a.len() <= MAX_NAME_LEN);
        validate(&a).unwrap();
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36 * 36 - 1), "zz");
    }
}
