//! cargo-fuzz target: [`tapring_testkit::fuzz::header_parser`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tapring_testkit::fuzz::header_parser(data));
