//! `tapring probe`: what this kernel offers tapring and what `auto` picks.

use crate::error::HarnessError;

/// Prints the TAP and io_uring facts and the automatic choice.
pub fn run() -> Result<(), HarnessError> {
    let tap = tapring::device::probe();
    let uring = tapring::uring::probe();
    println!("{tap}");
    println!("{uring}");
    let (backend, why) = if uring.usable() {
        ("io_uring", "io_uring is usable")
    } else {
        ("read-write", "io_uring is not usable here")
    };
    let mode = match uring.auto_rx_mode() {
        tapring::RxMode::Nowait => "no-wait reads (tun honours RWF_NOWAIT)",
        tapring::RxMode::Multishot => {
            "multishot (no RWF_NOWAIT on tun; kernel has READ_MULTISHOT and provided buffer rings)"
        }
        _ => "posted reads (neither RWF_NOWAIT on tun nor multishot read on this kernel)",
    };
    println!("auto picks: backend {backend} ({why}); Rx mode {mode}");
    if !tap.cap_net_admin {
        println!("note: this process lacks CAP_NET_ADMIN: run as root to open TAP devices");
    }
    Ok(())
}
