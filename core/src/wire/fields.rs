//! Header field sizes and bit values that the parser, software GSO and
//! software GRO share, so each is written once.

/// Length of an IPv4 header without options.
pub(crate) const IPV4_MIN_HDR_LEN: usize = 20;
/// Length of the fixed IPv6 header.
pub(crate) const IPV6_HDR_LEN: usize = 40;
/// Length of a TCP header without options.
pub(crate) const TCP_MIN_HDR_LEN: usize = 20;

/// TCP flags byte: FIN.
pub(crate) const TCP_FIN: u8 = 0x01;
/// TCP flags byte: SYN.
pub(crate) const TCP_SYN: u8 = 0x02;
/// TCP flags byte: RST.
pub(crate) const TCP_RST: u8 = 0x04;
/// TCP flags byte: PSH.
pub(crate) const TCP_PSH: u8 = 0x08;
/// TCP flags byte: URG.
pub(crate) const TCP_URG: u8 = 0x20;
/// TCP flags byte: Congestion Window Reduced.
pub(crate) const TCP_CWR: u8 = 0x80;
