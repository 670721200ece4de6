//! cargo-fuzz target: [`tapring_testkit::fuzz::gro_coalesce`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::gro_coalesce(data));
