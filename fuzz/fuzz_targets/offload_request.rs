//! cargo-fuzz target: [`tapring_testkit::fuzz::offload_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::offload_request(data));
