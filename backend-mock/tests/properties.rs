//! State-machine property tests of the Rx/Tx engines over the simulated
//! kernel (see `common/mod.rs` for the operations and invariants).

mod common;

use proptest::test_runner::TestRunner;
use tapring_core::RxMode;

fn check(mode: RxMode) {
    let mut runner = TestRunner::new(common::config(common::cases(1000)));
    if let Err(e) = common::run_property(&mut runner, mode) {
        panic!("{mode:?}: {e}");
    }
    let c = *common::COVERAGE.lock().unwrap();
    let report: Vec<String> = common::COVERAGE_NAMES
        .iter()
        .zip(c)
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    eprintln!(
        "{mode:?} coverage (both tests so far): {}",
        report.join(", ")
    );
}

#[test]
fn posted_reads_keep_every_invariant() {
    check(RxMode::Posted);
}

#[test]
fn multishot_reads_keep_every_invariant() {
    check(RxMode::Multishot);
}

#[test]
fn nowait_reads_keep_every_invariant() {
    check(RxMode::Nowait);
}
