//! Deliberately broken engine behaviour, for tests of the tests.
//!
//! Each property test must fail when the engine has the defect it guards
//! against. With the `mutation-testing` feature a test can switch a defect
//! on through `ACTIVE`; without the feature [`on`] is a constant `false`
//! and the hooks compile away.

/// Tx: failed completions are not reclaimed (their buffers leak), as in the
/// seed driver's reaper.
pub const TX_SKIP_FAILED: u32 = 1 << 0;
/// Rx: a runt frame's buffer is re-posted but the runt is not counted.
pub const RX_UNCOUNTED_RUNT: u32 = 1 << 1;
/// Tx: an oversize packet is freed without being counted.
pub const TX_SILENT_OVERSIZE: u32 = 1 << 2;
/// The in-flight table ignores token generations, so a duplicated
/// completion is processed twice.
pub const IGNORE_GENERATION: u32 = 1 << 3;
/// Rx: the buffer of a failed read is forgotten instead of re-posted (or,
/// in no-wait mode, returned to the pool).
pub const RX_NO_REPOST_ON_ERROR: u32 = 1 << 4;

#[cfg(feature = "mutation-testing")]
mod active {
    use core::sync::atomic::{AtomicU32, Ordering};

    /// The defects switched on (a bit set of the constants above).
    pub static ACTIVE: AtomicU32 = AtomicU32::new(0);

    /// True when defect `m` is switched on.
    pub fn on(m: u32) -> bool {
        ACTIVE.load(Ordering::Relaxed) & m != 0
    }
}

#[cfg(feature = "mutation-testing")]
pub use active::{ACTIVE, on};

/// True when defect `m` is switched on (never, without the feature).
#[cfg(not(feature = "mutation-testing"))]
#[inline(always)]
pub const fn on(_m: u32) -> bool {
    false
}
