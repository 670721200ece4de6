//! cargo-fuzz target: [`tapring_testkit::fuzz::gso_segment`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::gso_segment(data));
