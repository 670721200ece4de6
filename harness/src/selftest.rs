//! `tapring selftest`.
use crate::error::HarnessError;

/// Arguments of `tapring selftest`.
#[derive(Clone, Debug, clap::Args)]
pub struct SelftestArgs {}

/// Runs the self-test.
pub fn run(_args: &SelftestArgs) -> Result<(), HarnessError> {
    Ok(())
}
