//! The real-TAP conformance suite (`tapring_tap::testkit::suite`) run
//! against the read/write backend. Needs root (skips otherwise).

tapring_tap::tap_suite!(tapring_tap::testkit::suite::TapBackend);
