//! Narrow edge cases with the mockall mocks of the queue traits: a
//! forwarding loop written against the traits must cope with a Tx queue
//! that takes only a prefix of the burst, and with an Rx queue that fails.

use mockall::Sequence;
use tapring_core::{Burst, BurstSlice, Error, Pool, PoolConfig, RxQueue, TxQueue};
use tapring_mock::mocks::{MockRx, MockTx};

/// What a forwarding step did.
#[derive(Debug, PartialEq, Eq)]
struct Forwarded {
    received: usize,
    sent: usize,
    dropped: usize,
}

/// Receives a burst and transmits it; what the Tx queue does not take is
/// offered once more and then dropped, so the burst is empty afterwards.
fn forward(
    rx: &mut impl RxQueue,
    tx: &mut impl TxQueue,
    burst: &mut BurstSlice,
) -> Result<Forwarded, Error> {
    let received = rx.rx_burst(burst)?;
    let mut sent = tx.tx_burst(burst)?;
    if !burst.is_empty() {
        sent += tx.tx_burst(burst)?;
    }
    let dropped = burst.len();
    burst.clear();
    Ok(Forwarded {
        received,
        sent,
        dropped,
    })
}

/// A Tx mock behaviour: takes (and frees) at most `n` packets from the front.
fn take_at_most(n: usize) -> impl FnMut(&mut BurstSlice) -> Result<usize, Error> {
    move |b: &mut BurstSlice| {
        let mut k = 0;
        Ok(b.take_prefix(|p| {
            if k < n {
                k += 1;
                drop(p);
                Ok(())
            } else {
                Err(p)
            }
        }))
    }
}

#[test]
fn a_partial_tx_is_retried_then_the_rest_dropped() {
    let pool = Pool::new(PoolConfig::standard(16)).unwrap();
    let mut rx = MockRx::new();
    let rx_pool = pool.clone();
    rx.expect_rx_burst().times(1).returning(move |b| {
        for i in 0..5u8 {
            let mut p = rx_pool.alloc().unwrap();
            p.extend_from_slice(&[i; 60]).unwrap();
            b.push(p).unwrap();
        }
        Ok(5)
    });
    let mut tx = MockTx::new();
    let mut seq = Sequence::new();
    // First offer: all 5 packets, 2 taken. Second: the 3 left, in order, 1 taken.
    tx.expect_tx_burst()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|b| b.len() == 5)
        .returning(take_at_most(2));
    tx.expect_tx_burst()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|b| b.len() == 3 && b.get(0).unwrap().data()[0] == 2)
        .returning(take_at_most(1));
    let mut burst: Burst = Burst::new();
    let f = forward(&mut rx, &mut tx, &mut burst).unwrap();
    assert_eq!(
        f,
        Forwarded {
            received: 5,
            sent: 3,
            dropped: 2
        }
    );
    assert!(burst.is_empty());
    assert_eq!(pool.stats().in_use, 0, "every packet freed exactly once");
}

#[test]
fn an_rx_error_reaches_the_caller_and_tx_is_not_called() {
    let mut rx = MockRx::new();
    rx.expect_rx_burst().returning(|_| Err(Error::NotStarted));
    let mut tx = MockTx::new();
    tx.expect_tx_burst().never();
    let mut burst: Burst = Burst::new();
    assert_eq!(
        forward(&mut rx, &mut tx, &mut burst),
        Err(Error::NotStarted)
    );
}
