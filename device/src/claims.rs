//! [`QueueClaims`]: which queues of a port have been taken, so each queue
//! is handed out once.

/// Why a queue could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The port has no queue of that index.
    #[error("no queue {queue} (the port has {count})")]
    NoSuchQueue {
        /// The index asked for.
        queue: u16,
        /// How many queues the port has.
        count: u16,
    },
    /// The queue exists but was taken already (and not released).
    #[error("queue {queue} is already taken")]
    AlreadyTaken {
        /// The index asked for.
        queue: u16,
    },
}

impl From<ClaimError> for tapring_core::Error {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::NoSuchQueue { queue, count } => {
                tapring_core::Error::NoSuchQueue { queue, count }
            }
            ClaimError::AlreadyTaken { queue } => tapring_core::Error::QueueTaken { queue },
        }
    }
}

/// The Rx and Tx queues of a port that have been taken: a backend's port
/// claims queue `q` before it builds the queue, and releases the claim if
/// building fails, so every queue exists at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueClaims {
    rx: Vec<bool>,
    tx: Vec<bool>,
}

impl QueueClaims {
    /// Claims for a port of `queues` Rx and `queues` Tx queues, none taken.
    pub fn new(queues: usize) -> QueueClaims {
        QueueClaims {
            rx: vec![false; queues],
            tx: vec![false; queues],
        }
    }

    /// How many queues (of each direction) the port has.
    pub fn count(&self) -> u16 {
        u16::try_from(self.rx.len()).unwrap_or(u16::MAX)
    }

    fn claim(taken: &mut [bool], q: u16) -> Result<(), ClaimError> {
        let count = u16::try_from(taken.len()).unwrap_or(u16::MAX);
        match taken.get_mut(usize::from(q)) {
            None => Err(ClaimError::NoSuchQueue { queue: q, count }),
            Some(true) => Err(ClaimError::AlreadyTaken { queue: q }),
            Some(t) => {
                *t = true;
                Ok(())
            }
        }
    }

    /// Marks Rx queue `q` taken; an error if it does not exist or is taken.
    pub fn claim_rx(&mut self, q: u16) -> Result<(), ClaimError> {
        Self::claim(&mut self.rx, q)
    }

    /// Marks Tx queue `q` taken; an error if it does not exist or is taken.
    pub fn claim_tx(&mut self, q: u16) -> Result<(), ClaimError> {
        Self::claim(&mut self.tx, q)
    }

    /// Gives Rx queue `q` back (building it failed); no-op if not taken.
    pub fn release_rx(&mut self, q: u16) {
        if let Some(t) = self.rx.get_mut(usize::from(q)) {
            *t = false;
        }
    }

    /// Gives Tx queue `q` back (building it failed); no-op if not taken.
    pub fn release_tx(&mut self, q: u16) {
        if let Some(t) = self.tx.get_mut(usize::from(q)) {
            *t = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_queue_is_claimed_once_until_released() {
        let mut c = QueueClaims::new(2);
        assert_eq!(c.count(), 2);
        assert_eq!(c.claim_rx(0), Ok(()));
        assert_eq!(c.claim_rx(0), Err(ClaimError::AlreadyTaken { queue: 0 }));
        // Rx and Tx claims are independent.
        assert_eq!(c.claim_tx(0), Ok(()));
        assert_eq!(c.claim_rx(1), Ok(()));
        assert_eq!(
            c.claim_rx(2),
            Err(ClaimError::NoSuchQueue { queue: 2, count: 2 })
        );
        c.release_rx(0);
        assert_eq!(c.claim_rx(0), Ok(()));
        assert_eq!(c.claim_tx(0), Err(ClaimError::AlreadyTaken { queue: 0 }));
        c.release_tx(0);
        assert_eq!(c.claim_tx(0), Ok(()));
        c.release_rx(9); // out of range: nothing to release
    }
}
