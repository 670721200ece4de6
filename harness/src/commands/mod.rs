//! One module per `tapring` subcommand: its arguments and its run. A
//! command builds on [`crate::lab`] and never imports another command.

pub mod bench;
pub mod fwd;
pub mod ping;
pub mod probe;
pub mod selftest;
