//! What the `tapring` command's integration tests share: the binary, a
//! child that is always reaped, bounded runs, and the lock for tests that
//! change the root network namespace.
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A JSON file name under the temporary directory, unique to the test,
/// removed on drop (also when the test fails).
pub struct TempFile(PathBuf);

impl TempFile {
    /// A new name with `what` in it; nothing is created.
    pub fn new(what: &str) -> TempFile {
        let name = tapring_testkit::unique_name(what);
        TempFile(std::env::temp_dir().join(format!("{name}.json")))
    }

    /// The path, as a command-line argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }

    /// The file's JSON document (the test fails if it is missing or not
    /// JSON).
    pub fn json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(&self.0)
            .unwrap_or_else(|e| panic!("{} not written: {e}", self.0.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `tapring bench` with `args` and `--json` into a temporary file,
/// bounded by `limit`; fails the test unless it succeeds. Returns what it
/// printed and the JSON document.
pub fn bench_with_json(args: &[&str], limit: Duration) -> (String, serde_json::Value) {
    let json = TempFile::new("bench");
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.arg()]);
    let out = run_bounded(&all, limit);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    (stdout, json.json())
}

/// The `tapring` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tapring");

/// Tests that change the root network namespace (interfaces, named
/// namespaces) run one at a time, so their before/after views are theirs.
static ROOT_NS: Mutex<()> = Mutex::new(());

/// Holds the root-namespace lock (also after a test panicked with it).
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    ROOT_NS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills and reaps the child on drop (also when the test panics).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tapring ARGS` to completion, failing the test after `limit`.
pub fn run_bounded(args: &[&str], limit: Duration) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_command_bounded(cmd, limit)
}

/// Runs `cmd` (tapring behind a wrapper such as setpriv, say) to
/// completion, failing the test after `limit`. The pipes are read on their
/// own threads, so a full pipe cannot stall the child.
pub fn run_command_bounded(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut g = ChildGuard(child);
    let mut out = g.0.stdout.take().expect("stdout");
    let mut err = g.0.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = g.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            t0.elapsed() < limit,
            "{what} did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Bytes as text, for messages and matching.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
