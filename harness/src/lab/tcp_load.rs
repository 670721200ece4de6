//! TCP load between the two namespaces of a [`topology`](super::topology):
//! tapring's built-in generator (a sender thread in nsA, a receiver in
//! nsB), or iperf3.
//! Either a fixed number of bytes, hashed on both ends (the self-test), or
//! as much as fits in a time budget (the TCP benchmark).

use crate::error::HarnessError;
use crate::lab::namespaces::{ADDR, NS};
use nix::sched::{CloneFlags, setns};
use sha2::{Digest, Sha256};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TCP_PORT: u16 = 5201;
/// The longest any transfer may take, whatever it was asked to do.
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes per write and read call.
const CHUNK: usize = 256 * 1024;

/// How much to send.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    /// Exactly this many bytes of a pseudo-random stream, SHA-256 hashed on
    /// both ends.
    Verified(u64),
    /// As many bytes as go through in this time (constant content, no
    /// hashing: the CPU goes to moving bytes).
    For(Duration),
}

/// What a transfer achieved.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Bytes the receiver read.
    pub bytes: u64,
    /// From the first byte sent to the last byte read.
    pub secs: f64,
    /// The first bytes of the stream's SHA-256 (verified transfers), equal
    /// on both ends.
    pub sha256: Option<[u8; 32]>,
}

impl Transfer {
    /// Payload throughput in Gbit/s.
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / 1e9 / self.secs.max(1e-9)
    }
}

/// Moves the calling thread into named namespace `ns` (a thread's network
/// namespace is its own).
fn enter_ns(ns: &str) -> Result<(), String> {
    let f =
        std::fs::File::open(format!("/run/netns/{ns}")).map_err(|e| format!("open {ns}: {e}"))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {ns}: {e}"))
}

/// xorshift64*: a deterministic pseudo-random byte stream.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// One end's result: bytes moved and the stream's hash (if hashed).
type Side = Result<(u64, Option<[u8; 32]>), String>;

fn receiver(
    ready: mpsc::Sender<Result<(), String>>,
    hash: bool,
    streams: usize,
    deadline: Instant,
) -> Side {
    let setup = || -> Result<TcpListener, String> {
        enter_ns(NS[1])?;
        let l = TcpListener::bind((ADDR[1], TCP_PORT)).map_err(|e| format!("listen: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(l)
    };
    let listener = match setup() {
        Ok(l) => {
            let _ = ready.send(Ok(()));
            l
        }
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    let mut accepted = Vec::with_capacity(streams);
    while accepted.len() < streams {
        match listener.accept() {
            Ok((s, _)) => accepted.push(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "{} of {streams} connections before the deadline",
                        accepted.len()
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    // Each stream read on its own thread (the sockets need no namespace
    // any more); hashed only when there is one stream.
    std::thread::scope(|scope| {
        let readers: Vec<_> = accepted
            .into_iter()
            .map(|s| scope.spawn(move || read_stream(s, hash && streams == 1, deadline)))
            .collect();
        let mut total = (0u64, None);
        for r in readers {
            let (n, h) = r.join().unwrap_or_else(|_| Err("reader panicked".into()))?;
            total = (total.0 + n, h);
        }
        Ok(total)
    })
}

/// Reads one accepted stream to its end: bytes read and (if `hash`) their
/// SHA-256.
fn read_stream(mut stream: TcpStream, hash: bool, deadline: Instant) -> Side {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; CHUNK];
    let (mut total, mut hasher) = (0u64, hash.then(Sha256::new));
    loop {
        if Instant::now() >= deadline {
            return Err(format!("receiver: deadline passed after {total} bytes"));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(h) = hasher.as_mut() {
                    h.update(&buf[..n]);
                }
                total += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("receiver: read after {total} bytes: {e}")),
        }
    }
    Ok((total, hasher.map(|h| h.finalize().into())))
}

fn sender(amount: Amount, deadline: Instant) -> Side {
    enter_ns(NS[0])?;
    let addr = SocketAddr::new(ADDR[1].parse().map_err(|_| "address")?, TCP_PORT);
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    let mut hasher = None;
    match amount {
        Amount::Verified(bytes) => {
            let mut pattern = Stream(0x9e37_79b9_7f4a_7c15);
            let mut h = Sha256::new();
            while sent < bytes {
                if Instant::now() >= deadline {
                    return Err(format!("sender: deadline passed after {sent} bytes"));
                }
                let n = (bytes - sent).min(buf.len() as u64) as usize;
                pattern.fill(&mut buf[..n]);
                stream
                    .write_all(&buf[..n])
                    .map_err(|e| format!("sender: write after {sent} bytes: {e}"))?;
                h.update(&buf[..n]);
                sent += n as u64;
            }
            hasher = Some(h);
        }
        Amount::For(d) => {
            Stream(0x2545_f491_4f6c_dd1d).fill(&mut buf);
            let end = (Instant::now() + d).min(deadline);
            while Instant::now() < end {
                stream
                    .write_all(&buf)
                    .map_err(|e| format!("sender: write after {sent} bytes: {e}"))?;
                sent += buf.len() as u64;
            }
        }
    }
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    // Wait for the receiver to close (all data read), bounded.
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.read(&mut buf[..1]);
    Ok((sent, hasher.map(|h| h.finalize().into())))
}

/// Sends `amount` from nsA to nsB over TCP. A verified transfer fails
/// unless both ends saw exactly the bytes asked for with equal hashes; a
/// timed one unless the receiver got everything that was sent.
pub fn transfer(amount: Amount) -> Result<Transfer, HarnessError> {
    transfer_streams(amount, 1)
}

/// [`transfer`] over `streams` parallel TCP connections (distinct flows,
/// so a multi-queue device spreads them), each sending `amount` for its
/// own; the bytes are the sum. A verified transfer takes one stream.
pub fn transfer_streams(amount: Amount, streams: usize) -> Result<Transfer, HarnessError> {
    if streams == 0 || (streams > 1 && matches!(amount, Amount::Verified(_))) {
        return Err(HarnessError::Usage(format!(
            "a TCP transfer takes at least one stream, and a verified (hashed) one exactly one; \
             asked for {streams}"
        )));
    }
    let t0 = Instant::now();
    let deadline = t0 + TCP_TIMEOUT;
    let hash = matches!(amount, Amount::Verified(_));
    let (ready_tx, ready_rx) = mpsc::channel();
    let rx = std::thread::Builder::new()
        .name("tcp-recv".into())
        .spawn(move || receiver(ready_tx, hash, streams, deadline))
        .map_err(|e| HarnessError::Check(format!("spawn receiver: {e}")))?;
    match ready_rx.recv_timeout(IO_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = rx.join();
            return Err(HarnessError::Check(format!("receiver: {e}")));
        }
        Err(_) => {
            // The receiver's accept loop ends by the deadline.
            let _ = rx.join();
            return Err(HarnessError::Check(
                "receiver did not start listening".into(),
            ));
        }
    }
    let t0 = Instant::now();
    let mut senders = Vec::with_capacity(streams);
    for _ in 0..streams {
        let tx = std::thread::Builder::new()
            .name("tcp-send".into())
            .spawn(move || sender(amount, deadline))
            .map_err(|e| HarnessError::Check(format!("spawn sender: {e}")))?;
        senders.push(tx);
    }
    let mut sent: Side = Ok((0, None));
    for tx in senders {
        let one = tx.join().unwrap_or_else(|_| Err("sender panicked".into()));
        sent = match (sent, one) {
            (Ok((a, _)), Ok((b, h))) => Ok((a + b, h)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    let got = rx
        .join()
        .unwrap_or_else(|_| Err("receiver panicked".into()));
    let secs = t0.elapsed().as_secs_f64();
    let (sent, got) = match (sent, got) {
        (Ok(s), Ok(g)) => (s, g),
        (Err(e), _) | (_, Err(e)) => return Err(HarnessError::Check(e)),
    };
    if let Amount::Verified(bytes) = amount
        && (sent.0 != bytes || got.0 != bytes)
    {
        return Err(HarnessError::Check(format!(
            "byte count: sent {}, received {}, expected {bytes}",
            sent.0, got.0
        )));
    }
    if sent.0 != got.0 {
        return Err(HarnessError::Check(format!(
            "sent {} bytes but {} arrived",
            sent.0, got.0
        )));
    }
    if sent.1 != got.1 {
        return Err(HarnessError::Check(
            "SHA-256 of sent and received streams differ".into(),
        ));
    }
    Ok(Transfer {
        bytes: got.0,
        secs,
        sha256: got.1,
    })
}

/// Which program generates the TCP load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TcpLoad {
    /// iperf3 if it is installed, else the built-in generator.
    Auto,
    /// tapring's own generator (256 KiB writes; one stream, N with
    /// `bench --queues N`).
    Builtin,
    /// iperf3 (`iperf3 -s -1` in nsB, `iperf3 -c` in nsA; `-P N` with
    /// `bench --queues N`).
    Iperf3,
}

impl TcpLoad {
    /// `Auto` resolved on this machine.
    pub fn resolve(self) -> TcpLoad {
        match self {
            TcpLoad::Auto if iperf3_version().is_some() => TcpLoad::Iperf3,
            TcpLoad::Auto => TcpLoad::Builtin,
            other => other,
        }
    }

    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            TcpLoad::Auto => "auto",
            TcpLoad::Builtin => "built-in",
            TcpLoad::Iperf3 => "iperf3",
        }
    }
}

/// iperf3's version line, if it is installed.
pub fn iperf3_version() -> Option<String> {
    let out = std::process::Command::new("iperf3")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("iperf3").trim().to_string())
}

/// Kills the child on drop (an iperf3 server that never got a client).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// One iperf3 run from nsA to nsB for `d` (whole seconds, at least 1:
/// iperf3 takes no fractions) over `streams` parallel streams (`-P`),
/// payload bytes as the receiver counted them.
pub fn iperf3_transfer(d: Duration, streams: usize) -> Result<Transfer, HarnessError> {
    let secs = d.as_secs_f64().round().max(1.0) as u64;
    let port = TCP_PORT.to_string();
    let server = std::process::Command::new("ip")
        .args([
            "netns", "exec", NS[1], "iperf3", "-s", "-1", "-B", ADDR[1], "-p",
        ])
        .arg(&port)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| HarnessError::Check(format!("iperf3 server: {e}")))?;
    let server = Child(server);
    // The server needs a moment to listen: until it does, the client is
    // refused (and says so in its JSON, with exit status 0), so retry.
    let deadline = Instant::now() + IO_TIMEOUT;
    let report = loop {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", NS[0], "iperf3", "-J", "-c", ADDR[1], "-p"])
            .arg(&port)
            .args(["-t", &secs.to_string(), "-P", &streams.max(1).to_string()])
            .output()
            .map_err(|e| HarnessError::Check(format!("iperf3 client: {e}")))?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            HarnessError::Check(format!(
                "iperf3 client: unreadable JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })?;
        let Some(err) = report.get("error").and_then(|e| e.as_str()) else {
            break report;
        };
        if !err.contains("refused") || Instant::now() >= deadline {
            return Err(HarnessError::Check(format!("iperf3: {err}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(server);
    let received = &report["end"]["sum_received"];
    match (received["bytes"].as_u64(), received["seconds"].as_f64()) {
        (Some(bytes), Some(secs)) if bytes > 0 => Ok(Transfer {
            bytes,
            secs,
            sha256: None,
        }),
        _ => Err(HarnessError::Check(
            "iperf3: no end.sum_received in its report".into(),
        )),
    }
}
