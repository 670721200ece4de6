//! A host behind a TAP device, in user space: answers ARP requests for its
//! IPv4 address and ICMP echo requests (ping) to it, rewriting each request
//! into its reply in place (zero copy). Needs CAP_NET_ADMIN.
//!
//! ```sh
//! cargo run --release --example responder -- tr0 198.18.0.2 &
//! ip addr add 198.18.0.1/24 dev tr0
//! ping -c 3 198.18.0.2
//! ```
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tapring::prelude::*;

const ETH_ARP: [u8; 2] = [0x08, 0x06];
const ETH_IPV4: [u8; 2] = [0x08, 0x00];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "tr0".into());
    let ip: Ipv4Addr = args.next().as_deref().unwrap_or("198.18.0.2").parse()?;
    let seconds: u64 = args.next().map_or(Ok(60), |s| s.parse())?;
    // The responder's own MAC: any locally administered unicast address.
    let mac = [0x02, 0x54, 0x52, 0x00, 0x00, 0x01];

    let pool = Pool::new(PoolConfig::standard(4096))?;
    let mut port = PortBuilder::new(name).up(true).open(&pool)?;
    let (mut rx, mut tx) = (port.take_rx(0)?, port.take_tx(0)?);
    println!(
        "{} answers ARP and ping for {ip} for {seconds} s",
        port.name()
    );

    let mut burst: Burst = Burst::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut arp, mut echo) = (0u64, 0u64);
    while Instant::now() < deadline {
        rx.wait(Some(Duration::from_millis(100)))?;
        rx.rx_burst(&mut burst)?;
        // Keep the packets that became replies; drop (free) the rest.
        let mut replies: Burst = Burst::new();
        burst.drain_each(|mut pkt| {
            let frame = pkt.data_mut();
            let answered = if arp_reply(frame, ip, mac) {
                arp += 1;
                true
            } else if echo_reply(frame, ip) {
                echo += 1;
                true
            } else {
                false
            };
            if answered {
                let _ = replies.push(pkt);
            }
        });
        tx.tx_burst(&mut replies)?; // what the kernel does not take is dropped
        tx.reclaim()?;
    }
    println!("answered {arp} ARP requests and {echo} echo requests");
    Ok(())
}

/// Turns an ARP request for `ip` into the reply that says `ip` is at `mac`.
fn arp_reply(f: &mut [u8], ip: Ipv4Addr, mac: [u8; 6]) -> bool {
    // Ethernet (14) + ARP for IPv4 over Ethernet (28), operation 1 = request.
    if f.len() < 42 || f[12..14] != ETH_ARP || f[20..22] != [0, 1] || f[38..42] != ip.octets() {
        return false;
    }
    let (asker_mac, asker_ip) = (copy::<6>(&f[22..28]), copy::<4>(&f[28..32]));
    f[0..6].copy_from_slice(&asker_mac);
    f[6..12].copy_from_slice(&mac);
    f[21] = 2; // reply
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&asker_mac);
    f[38..42].copy_from_slice(&asker_ip);
    true
}

/// Turns an ICMP echo request to `ip` into its echo reply.
fn echo_reply(f: &mut [u8], ip: Ipv4Addr) -> bool {
    if f.len() < 34 || f[12..14] != ETH_IPV4 || f[14] >> 4 != 4 || f[23] != 1 {
        return false;
    }
    let icmp = 14 + usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let end = (14 + total).min(f.len()); // frames may carry padding
    if end < icmp + 8 || f[30..34] != ip.octets() || f[icmp] != 8 {
        return false;
    }
    let (dst_mac, src_ip) = (copy::<6>(&f[0..6]), copy::<4>(&f[26..30]));
    f.copy_within(6..12, 0); // back to the sender
    f[6..12].copy_from_slice(&dst_mac);
    f[26..30].copy_from_slice(&ip.octets()); // swapping the addresses keeps
    f[30..34].copy_from_slice(&src_ip); // the IPv4 header checksum valid
    f[icmp] = 0; // echo reply
    f[icmp + 2..icmp + 4].fill(0);
    let sum = tapring::checksum::checksum(&f[icmp..end]);
    f[icmp + 2..icmp + 4].copy_from_slice(&sum.to_be_bytes());
    true
}

fn copy<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    out
}
