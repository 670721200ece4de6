//! A TCP transfer between two network namespaces, so tests need no
//! iperf3: [`tcp_transfer_between`] runs a listener in one namespace and a
//! sender in another (each on its own thread, since `setns` moves only the
//! calling thread) and checks that every byte arrived, in order.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

/// Moves the calling thread into the named network namespace.
fn enter_netns(name: &str) -> Result<(), String> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| format!("open {path}: {e}"))?;
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))
}

/// The byte at offset `i` of a transfer: a pattern that shows reordering,
/// loss and duplication, not just a wrong count.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Sends `bytes` bytes over TCP from namespace `client_ns` to a listener
/// on `server:port` in namespace `server_ns`, within `timeout`; returns
/// how long the transfer took. Fails (with what went wrong) if the
/// connection cannot be made, stalls past `timeout`, or any byte arrives
/// wrong.
pub fn tcp_transfer_between(
    client_ns: &str,
    server_ns: &str,
    server: Ipv4Addr,
    port: u16,
    bytes: u64,
    timeout: Duration,
) -> Result<Duration, String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let server_ns = server_ns.to_owned();
    let receiver = std::thread::spawn(move || -> Result<u64, String> {
        let listener = enter_netns(&server_ns)
            .and_then(|()| {
                TcpListener::bind(SocketAddrV4::new(server, port)).map_err(|e| format!("bind: {e}"))
            })
            .inspect_err(|e| {
                let _ = ready_tx.send(Err(e.clone()));
            })?;
        let _ = ready_tx.send(Ok(()));
        listener
            .set_nonblocking(false)
            .map_err(|e| format!("listener: {e}"))?;
        let (mut conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        conn.set_read_timeout(Some(timeout))
            .map_err(|e| format!("timeout: {e}"))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        loop {
            let n = conn
                .read(&mut buf)
                .map_err(|e| format!("read after {got} bytes: {e}"))?;
            if n == 0 {
                return Ok(got);
            }
            for (k, b) in buf[..n].iter().enumerate() {
                if *b != pattern(got + k as u64) {
                    return Err(format!("byte {} arrived wrong", got + k as u64));
                }
            }
            got += n as u64;
        }
    });
    ready_rx
        .recv_timeout(timeout)
        .map_err(|_| "the listener never started".to_string())??;
    let client_ns = client_ns.to_owned();
    let sender = std::thread::spawn(move || -> Result<Duration, String> {
        enter_netns(&client_ns)?;
        let addr = SocketAddrV4::new(server, port).into();
        let mut conn =
            TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
        conn.set_write_timeout(Some(timeout))
            .map_err(|e| format!("timeout: {e}"))?;
        let start = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(buf.len() as u64) as usize;
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = pattern(sent + k as u64);
            }
            conn.write_all(&buf[..n])
                .map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += n as u64;
        }
        conn.shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))?;
        Ok(start.elapsed())
    });
    let took = sender.join().map_err(|_| "sender panicked".to_string())?;
    let got = receiver
        .join()
        .map_err(|_| "receiver panicked".to_string())??;
    let took = took?;
    if got != bytes {
        return Err(format!("{got} of {bytes} bytes arrived"));
    }
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn the_pattern_is_not_periodic_at_small_strides() {
        let first: Vec<u8> = (0..4096).map(pattern).collect();
        for stride in [1u64, 2, 256, 1024, 1460] {
            let shifted: Vec<u8> = (stride..4096 + stride).map(pattern).collect();
            assert_ne!(first, shifted, "stride {stride}");
        }
    }
}
