//! TEMPORARY stub, replaced by the codec from the vnet-codec branch.
use crate::offload::Offload;
/// Placeholder error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VnetError;
impl core::fmt::Display for VnetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad header")
    }
}
/// Decode.
pub fn decode(hdr: &[u8], _frame_len: usize) -> Result<Offload, VnetError> {
    if hdr.iter().all(|b| *b == 0) {
        Ok(Offload::NONE)
    } else {
        Err(VnetError)
    }
}
/// Encode.
pub fn encode_len(
    off: &Offload,
    _hdr: usize,
    _frame_len: usize,
    out: &mut [u8],
) -> Result<usize, VnetError> {
    if !off.is_none() {
        return Err(VnetError);
    }
    out.fill(0);
    Ok(out.len())
}
