//! A tokio ICMP echo responder on a TUN device: every IPv4 ping routed
//! into the device is answered from user space, until Ctrl-C. Needs
//! CAP_NET_ADMIN and the `tokio` feature.
//!
//! ```sh
//! cargo run --release --features tokio --example tokio_tun_echo -- tun0 &
//! ip addr add 198.18.0.1/24 dev tun0   # then: ping 198.18.0.2
//! ```
use tapring::prelude::*;

/// Turns an IPv4 ICMP echo request into its reply in place; false for
/// anything else (which is then dropped).
fn echo_reply(ip: &mut [u8]) -> bool {
    let ihl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    let request = ip.len() >= ihl + 8 && ip[0] >> 4 == 4 && ip[9] == 1 && ip[ihl] == 8;
    if request {
        (0..4).for_each(|i| ip.swap(12 + i, 16 + i)); // the IP checksum stays valid
        ip[ihl..ihl + 4].fill(0); // type: echo reply; then the ICMP checksum
        let sum = tapring::checksum::checksum(&ip[ihl..]);
        ip[ihl + 2..ihl + 4].copy_from_slice(&sum.to_be_bytes());
    }
    request
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or("tun0".into());
    let pool = Pool::new(PoolConfig::standard(4096))?;
    let mut port = PortBuilder::new(name).tun().up(true).open_async(&pool)?;
    let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
    let mut burst: Burst = Burst::new();
    loop {
        rx.rx_burst(&mut burst).await?; // asleep until a packet comes
        // One buffer per packet at this pool's size; a chain is not a ping.
        burst.retain(|pkt| pkt.nb_segs() == 1 && echo_reply(pkt.data_mut()));
        tx.tx_burst(&mut burst).await?;
    }
}
