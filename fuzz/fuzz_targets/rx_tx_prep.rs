//! cargo-fuzz target: [`tapring_testkit::fuzz::rx_tx_prep`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::rx_tx_prep(data));
