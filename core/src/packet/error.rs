//! [`PktError`]: what a packet operation returns when it does not fit the
//! buffer or the chain.

/// A packet operation that does not fit the buffer or the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PktError {
    /// Not enough headroom to prepend.
    #[error(
        "cannot prepend {need} bytes, only {have} bytes of headroom: use a pool with more headroom"
    )]
    NoHeadroom {
        /// Bytes asked for.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Not enough tailroom in the last segment to append.
    #[error("cannot append {need} bytes, only {have} bytes of tailroom: chain another segment")]
    NoTailroom {
        /// Bytes asked for.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Asked to remove more bytes than the segment holds.
    #[error("cannot remove {need} bytes from a segment of {have}")]
    TooShort {
        /// Bytes asked for.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Chains must stay within one pool.
    #[error("segments of one chain must come from the same pool")]
    ForeignPool,
    /// The chain would exceed the segment limit.
    #[error("a chain holds at most {max} segments: use a large-buffer pool")]
    TooManySegments {
        /// The limit.
        max: usize,
    },
}
