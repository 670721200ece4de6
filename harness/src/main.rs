//! tapring command
fn main() {}
