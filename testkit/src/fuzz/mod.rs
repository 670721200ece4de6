//! Fuzz target bodies, shared by the cargo-fuzz targets in `fuzz/` (nightly,
//! libFuzzer) and the stable-toolchain loop `tapring-fuzz` that CI runs.
//!
//! Each body takes arbitrary bytes, drives one part of `tapring-core` the way
//! hostile input would, and asserts invariants beyond "no panic" (see each
//! body's documentation). A failed invariant panics, which both drivers
//! report with the input that caused it.
//!
//! * [`vnet_codec`]: the virtio-net header codec;
//! * [`header_parser`]: the L2-L4 header parser and the requests built from
//!   parsed headers;
//! * [`offload_request`]: the checksum and segmentation requests on a
//!   [`Pkt`](tapring_core::Pkt) built from the input;
//! * [`rx_tx_prep`]: the receive and transmit prep of every backend;
//! * [`gso_segment`]: software segmentation of packets with a
//!   segmentation request, and software checksum completion;
//! * [`gro_coalesce`]: software GRO, coalescing a burst of frames built
//!   from a flow and then broken.
//!
//! [`corpus`] builds the seed inputs (the files in `fuzz/corpus/`), and
//! [`mutate`] is the stable loop's input generator and runner.

pub mod corpus;
mod gro;
mod gso;
mod headers;
mod input;
pub mod mutate;
mod offload;
mod prep;
mod vnet;

pub use gro::gro_coalesce;
pub use gso::gso_segment;
pub use headers::header_parser;
pub use offload::offload_request;
pub use prep::rx_tx_prep;
pub use vnet::vnet_codec;

/// One fuzz target: its name (the cargo-fuzz target's and the corpus
/// directory's) and its body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The name: `vnet_codec`, `header_parser`, `offload_request`,
    /// `rx_tx_prep`, `gso_segment` or `gro_coalesce`.
    pub name: &'static str,
    /// The body.
    pub body: fn(&[u8]),
    /// Bytes of control fields in front of the frame (or header) in this
    /// target's input layout: where the frame offsets the mutator patches
    /// start.
    pub frame_start: usize,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "vnet_codec",
        body: vnet_codec,
        frame_start: vnet::FRAME_START,
    },
    Target {
        name: "header_parser",
        body: header_parser,
        frame_start: 0,
    },
    Target {
        name: "offload_request",
        body: offload_request,
        frame_start: offload::FRAME_START,
    },
    Target {
        name: "rx_tx_prep",
        body: rx_tx_prep,
        frame_start: prep::FRAME_START,
    },
    Target {
        name: "gso_segment",
        body: gso_segment,
        frame_start: gso::FRAME_START,
    },
    Target {
        name: "gro_coalesce",
        body: gro_coalesce,
        frame_start: gro::FRAME_START,
    },
];

/// The target called `name`, if any.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Checks that an error's message says something (its `Display` runs
/// without panicking and is not empty).
fn check_message(e: &dyn core::fmt::Display) {
    let msg = e.to_string();
    assert!(!msg.is_empty(), "an error with an empty message");
}

/// The one's-complement verification of a TCP/UDP checksum: the Internet
/// checksum over the pseudo header (built here from the IP header's bytes,
/// independently of core's helpers) and the L4 segment `l4` is 0.
fn l4_checksum_ok(frame: &[u8], h: &tapring_core::Headers, l4_proto: u8) -> bool {
    crate::inet_checksum(&[&pseudo_header(frame, h, l4_proto), &frame[h.l4_offset()..]]) == 0
}

/// The pseudo header of the TCP/UDP segment of `frame` (RFC 793/768 for
/// IPv4, RFC 8200 section 8.1 for IPv6), from the IP header's addresses
/// and the frame's length.
fn pseudo_header(frame: &[u8], h: &tapring_core::Headers, l4_proto: u8) -> Vec<u8> {
    let (l3, l4_len) = (h.l3_offset(), frame.len() - h.l4_offset());
    let mut p = Vec::with_capacity(40);
    match h.ip() {
        tapring_core::IpVersion::V4 => {
            p.extend_from_slice(&frame[l3 + 12..l3 + 20]);
            p.extend_from_slice(&[0, l4_proto]);
            p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        }
        tapring_core::IpVersion::V6 => {
            p.extend_from_slice(&frame[l3 + 8..l3 + 40]);
            p.extend_from_slice(&(l4_len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, l4_proto]);
        }
    }
    p
}

/// What the kernel does with a partial checksum request on `frame`
/// (`skb_checksum_help`): sums from `start` to the end, the field at
/// `start + offset` included, and stores the complement there.
fn finish_checksum(frame: &mut [u8], start: usize, offset: usize) {
    let c = crate::inet_checksum(&[&frame[start..]]);
    frame[start + offset..start + offset + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests;
