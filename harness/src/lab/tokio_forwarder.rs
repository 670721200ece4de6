//! The async forwarder a tokio user writes with tapring: one task per
//! direction and queue pair over [`tapring::tokio`] queues (`rx_burst().await`, then
//! `tx_burst().await`), on a current-thread or a multi-thread runtime of
//! its own thread. The TCP benchmark runs it beside the threaded library
//! forwarder and the plain baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use serde::Serialize;
use tapring::tokio::{AsyncPort, AsyncRx, AsyncTx};
use tapring::{AnyRxQueue, AnyTxQueue, Burst};

use crate::error::HarnessError;

/// Which tokio runtime drives the forwarder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Flavor {
    /// `new_current_thread`: both directions on one thread.
    #[serde(rename = "current-thread")]
    CurrentThread,
    /// `new_multi_thread` with two workers.
    #[serde(rename = "multi-thread")]
    MultiThread,
}

impl Flavor {
    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current-thread",
            Flavor::MultiThread => "multi-thread",
        }
    }
}

/// A running tokio forwarder between two ports.
pub struct TokioForwarder {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    frames: Arc<[AtomicU64; 2]>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

/// One direction: whatever arrives on `rx` leaves through `tx`.
async fn forward(
    mut rx: AsyncRx<AnyRxQueue>,
    mut tx: AsyncTx<AnyTxQueue>,
    frames: Arc<[AtomicU64; 2]>,
    dir: usize,
) -> Result<(), tapring::Error> {
    let mut burst: Burst = Burst::new();
    loop {
        rx.rx_burst(&mut burst).await?;
        let n = tx.tx_burst(&mut burst).await?;
        frames[dir].fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl TokioForwarder {
    /// Starts the runtime on a thread of its own and, for each of the
    /// `queues` queue pairs, the two directions on it; returns once every
    /// queue is registered.
    pub fn start(
        flavor: Flavor,
        mut a: AsyncPort,
        mut b: AsyncPort,
        queues: u16,
    ) -> Result<TokioForwarder, HarnessError> {
        let runtime = match flavor {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            }
        }
        .enable_io()
        .build()
        .map_err(|e| HarnessError::Backend(format!("tokio runtime: {e}")))?;
        let frames: Arc<[AtomicU64; 2]> = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let counts = frames.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tokio-fwd-{}", flavor.name()))
            .spawn(move || {
                runtime.block_on(async move {
                    let taken = (0..queues)
                        .map(|q| {
                            Ok::<_, tapring::tokio::AsyncError>((
                                a.take_rx(q)?,
                                b.take_tx(q)?,
                                b.take_rx(q)?,
                                a.take_tx(q)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, _>>();
                    let taken = match taken {
                        Ok(q) => q,
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                            return Ok(());
                        }
                    };
                    let mut tasks = Vec::with_capacity(2 * taken.len());
                    for (a_rx, b_tx, b_rx, a_tx) in taken {
                        tasks.push(tokio::spawn(forward(a_rx, b_tx, counts.clone(), 0)));
                        tasks.push(tokio::spawn(forward(b_rx, a_tx, counts.clone(), 1)));
                    }
                    drop(counts);
                    let _ = started_tx.send(Ok(()));
                    let _ = stop_rx.await;
                    let mut failed = None;
                    for t in tasks {
                        if t.is_finished() {
                            failed = Some(match t.await {
                                Ok(Err(e)) => format!("tokio forwarder: {e}"),
                                other => format!("tokio forwarder ended: {other:?}"),
                            });
                        } else {
                            t.abort();
                            let _ = t.await;
                        }
                    }
                    // The ports close here, in the runtime that watched them.
                    drop((a, b));
                    failed.map_or(Ok(()), Err)
                })
            })
            .map_err(|e| HarnessError::Backend(format!("spawn tokio forwarder: {e}")))?;
        let mut fwd = TokioForwarder {
            stop: Some(stop_tx),
            frames,
            thread: Some(thread),
        };
        match started_rx.recv() {
            Ok(Ok(())) => Ok(fwd),
            Ok(Err(e)) => Err(HarnessError::Backend(format!("tokio forwarder: {e}"))),
            Err(_) => Err(HarnessError::Backend(match fwd.join() {
                Err(e) => e,
                Ok(()) => "the tokio forwarder thread ended at start".into(),
            })),
        }
    }

    /// Frames forwarded so far, per direction (A -> B, B -> A).
    pub fn frames(&self) -> [u64; 2] {
        [0, 1].map(|d| self.frames[d].load(Ordering::Relaxed))
    }

    fn join(&mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err("the tokio forwarder thread panicked".into()),
        }
    }

    /// Stops both directions and the runtime; an error if a direction
    /// failed.
    pub fn stop(mut self) -> Result<[u64; 2], HarnessError> {
        self.join().map_err(HarnessError::Backend)?;
        Ok(self.frames())
    }
}

impl Drop for TokioForwarder {
    fn drop(&mut self) {
        let _ = self.join();
    }
}
