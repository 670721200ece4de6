//! Forwards every frame between two TAP devices, both directions, for a
//! number of seconds, then prints the totals. Needs CAP_NET_ADMIN.
//!
//! ```sh
//! cargo run --release --example forward -- tr0 tr1 10
//! ```
//! Then move tr0 and tr1 into two network namespaces and address them: the
//! forwarder joins the two as a wire would.
use tapring::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (a, b) = (
        args.next().unwrap_or("tr0".into()),
        args.next().unwrap_or("tr1".into()),
    );
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let pool = Pool::new(PoolConfig::standard(16384))?;
    let a = PortBuilder::new(a).up(true).open(&pool)?;
    let b = PortBuilder::new(b).up(true).open(&pool)?;
    println!(
        "forwarding {} <-> {} ({}) for {seconds} s",
        a.name(),
        b.name(),
        a.backend()
    );
    let forwarder = Forwarder::start(vec![a, b])?;
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    print!("{}", forwarder.stop());
    Ok(())
}
