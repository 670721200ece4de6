//! cargo-fuzz target: [`tapring_testkit::fuzz::vnet_codec`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::vnet_codec(data));
