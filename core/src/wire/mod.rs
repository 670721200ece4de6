//! Wire formats: what the bytes of a frame and of the virtio-net header in
//! front of it mean.
//!
//! * [`vnet`]: the `virtio_net_hdr` codec ([`crate::Offload`] to and from
//!   the header);
//! * [`headers`]: the L2-L4 header parser ([`Headers`]);
//! * [`offload_request`]: transmit offload requests (checksum,
//!   segmentation) built from a frame's own headers;
//! * [`checksum`]: the Internet checksum and pseudo-header sums.
//!
//! Pure code over byte slices and [packets](crate::packet).

pub mod checksum;
pub mod headers;
pub mod offload_request;
pub mod vnet;

pub use headers::{HeaderError, Headers, IpVersion, L4};
pub use vnet::{VnetError, VnetHdrLen};

use crate::packet::{MAX_FRAME, VNET_HDR_MAX};

/// Length of an Ethernet header; anything shorter is a runt.
pub const ETH_HDR_LEN: u32 = 14;

/// Length of one VLAN tag (802.1Q / 802.1ad).
pub const VLAN_TAG_LEN: u32 = 4;

// The frame limits the pool sizes its buffers by (defined with the pool,
// which does not look at wire formats) agree with the formats.
static_assertions::const_assert_eq!(MAX_FRAME, 65_535 + ETH_HDR_LEN + VLAN_TAG_LEN);
static_assertions::const_assert_eq!(VNET_HDR_MAX as usize, VnetHdrLen::Mergeable.len());
