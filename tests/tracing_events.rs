//! The library says what it does through `tracing` (never per packet):
//! opening a device and a port, and a device that disappears under its
//! queues. A subscriber that records every event checks that each is
//! emitted with the device's name.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tapring::prelude::*;
use tapring_testkit::{InterfaceGuard, quiet_ip, require_tap, unique_name};

/// Where the test subscriber writes: one shared buffer.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn open_and_device_loss_are_traced() {
    if !require_tap() {
        return;
    }
    for backend in [Backend::ReadWrite, Backend::IoUring] {
        if backend == Backend::IoUring && !tapring::uring::probe().usable() {
            eprintln!("io_uring skipped: not usable here");
            continue;
        }
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let name = unique_name("trlg");
        let _guard = InterfaceGuard::new(name.clone());
        tracing::subscriber::with_default(subscriber, || {
            let pool = Pool::new(PoolConfig::standard(1024)).unwrap();
            let mut port = PortBuilder::new(&name)
                .backend(backend)
                .up(true)
                .open(&pool)
                .unwrap();
            let mut rx = port.take_rx(0).unwrap();
            let mut burst: Burst = Burst::new();
            rx.rx_burst(&mut burst).unwrap();
            assert!(quiet_ip(&["link", "del", "dev", &name]));
            let gone = (0..1000).find_map(|_| rx.rx_burst(&mut burst).err());
            assert!(
                matches!(gone, Some(tapring::Error::DeviceGone { .. })),
                "{backend}: {gone:?}"
            );
        });
        let text = log.text();
        for (what, line) in [
            ("device opened", format!("device={name}")),
            ("port opened", format!("backend={backend}")),
            ("the device is gone", String::new()),
            ("device closed", format!("device={name}")),
        ] {
            assert!(
                text.lines().any(|l| l.contains(what) && l.contains(&line)),
                "{backend}: no {what:?} event with {line:?} in:\n{text}"
            );
        }
    }
}
