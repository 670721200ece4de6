//! Forwards every frame between two TAP devices with tokio: one task per
//! direction, each asleep until its queue has frames. Stops after a number
//! of seconds. Needs CAP_NET_ADMIN and the `tokio` feature.
//!
//! ```sh
//! cargo run --release --features tokio --example tokio_forward -- tr0 tr1 10
//! ```
use std::time::Duration;
use tapring::tokio::{AsyncRx, AsyncTx};
use tapring::{AnyRxQueue, AnyTxQueue, Error, prelude::*};

async fn forward(mut rx: AsyncRx<AnyRxQueue>, mut tx: AsyncTx<AnyTxQueue>) -> Result<(), Error> {
    let mut burst: Burst = Burst::new();
    loop {
        rx.rx_burst(&mut burst).await?;
        tx.tx_burst(&mut burst).await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: &str| args.next().unwrap_or(default.into());
    let (a, b, seconds) = (arg("tr0"), arg("tr1"), arg("10").parse()?);
    let pool = Pool::new(PoolConfig::standard(8192))?;
    let mut a = PortBuilder::new(a).up(true).open_async(&pool)?;
    let mut b = PortBuilder::new(b).up(true).open_async(&pool)?;
    println!("forwarding for {seconds} s");
    let (a_to_b, b_to_a) = (
        forward(a.take_rx(0)?, b.take_tx(0)?),
        forward(b.take_rx(0)?, a.take_tx(0)?),
    );
    let both = async { tokio::try_join!(a_to_b, b_to_a) };
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(seconds), both).await {
        return Err(e.into()); // a direction failed; a timeout is the normal end
    }
    Ok(())
}
