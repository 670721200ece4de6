//! Tests of the tests: with each deliberate engine defect switched on
//! (`tapring_core::backend::engine::mutation`), the property of `properties.rs` must
//! fail. `mutation::ACTIVE` is process-global, so this binary runs the
//! mutations one after another in a single test.

mod common;

use proptest::test_runner::{RngAlgorithm, TestError, TestRng, TestRunner};
use std::sync::atomic::Ordering;
use tapring_core::RxMode;
use tapring_core::backend::engine::mutation::{self, ACTIVE};

const CASES: u32 = 300;

fn fails_with(m: u32, name: &str, mode: RxMode) {
    let mut config = common::config(CASES);
    config.max_shrink_iters = 64;
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    ACTIVE.store(m, Ordering::SeqCst);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        common::run_property(&mut runner, mode)
    }));
    ACTIVE.store(0, Ordering::SeqCst);
    match result {
        Ok(Err(TestError::Fail(why, _))) => eprintln!("{name} ({mode:?}) caught: {why}"),
        Ok(Err(e)) => panic!("{name}: the property aborted instead of failing: {e}"),
        Ok(Ok(())) => panic!("{name}: the property passed {CASES} cases with the defect on"),
        Err(_) => eprintln!("{name} ({mode:?}) caught by a panic"),
    }
}

#[test]
fn every_mutation_is_caught() {
    // Sanity: without a mutation the same runs pass.
    for mode in [RxMode::Posted, RxMode::Multishot, RxMode::Nowait] {
        let mut runner = TestRunner::new_with_rng(
            common::config(CASES),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        common::run_property(&mut runner, mode).expect("the property holds without mutations");
    }
    let all = [
        (mutation::TX_SKIP_FAILED, "TX_SKIP_FAILED"),
        (mutation::RX_UNCOUNTED_RUNT, "RX_UNCOUNTED_RUNT"),
        (mutation::TX_SILENT_OVERSIZE, "TX_SILENT_OVERSIZE"),
        (mutation::IGNORE_GENERATION, "IGNORE_GENERATION"),
        (mutation::RX_NO_REPOST_ON_ERROR, "RX_NO_REPOST_ON_ERROR"),
    ];
    for (m, name) in all {
        fails_with(m, name, RxMode::Posted);
    }
    // The Rx mutations that apply to multishot reads too.
    fails_with(
        mutation::RX_UNCOUNTED_RUNT,
        "RX_UNCOUNTED_RUNT",
        RxMode::Multishot,
    );
    fails_with(
        mutation::TX_SKIP_FAILED,
        "TX_SKIP_FAILED",
        RxMode::Multishot,
    );
    // And those that apply to no-wait reads.
    fails_with(
        mutation::RX_UNCOUNTED_RUNT,
        "RX_UNCOUNTED_RUNT",
        RxMode::Nowait,
    );
    fails_with(
        mutation::RX_NO_REPOST_ON_ERROR,
        "RX_NO_REPOST_ON_ERROR",
        RxMode::Nowait,
    );
}
