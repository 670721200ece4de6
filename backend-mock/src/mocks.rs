//! [mockall] mocks of the core queue traits, for narrow edge cases (a Tx
//! queue that takes only part of a burst, an Rx queue that fails).
//!
//! ```
//! use tapring_core::{Burst, TxQueue};
//! use tapring_mock::mocks::MockTx;
//!
//! let mut tx = MockTx::new();
//! tx.expect_tx_burst().returning(|_| Ok(0));
//! let mut burst: Burst = Burst::new();
//! assert_eq!(tx.tx_burst(&mut burst).unwrap(), 0);
//! ```

use std::time::Duration;
use tapring_core::{BurstSlice, Error, Pkt, QueueStats, RxQueue, TxQueue};

mockall::mock! {
    /// A mock [`RxQueue`].
    pub Rx {}
    impl RxQueue for Rx {
        fn rx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error>;
        fn wait(&mut self, timeout: Option<Duration>) -> Result<(), Error>;
        fn stats(&self) -> QueueStats;
    }
}

mockall::mock! {
    /// A mock [`TxQueue`].
    pub Tx {}
    impl TxQueue for Tx {
        fn tx_burst(&mut self, burst: &mut BurstSlice) -> Result<usize, Error>;
        fn reclaim(&mut self) -> Result<usize, Error>;
        fn alloc(&mut self) -> Option<Pkt>;
        fn in_flight(&self) -> usize;
        fn stats(&self) -> QueueStats;
    }
}
