//! The stable-toolchain fuzz loop: inputs made from the seed corpus by
//! mutation (and some at random), fed to a target for a time or a number of
//! inputs, with any panic caught and reported with the input and the seed
//! that reproduce it.
//!
//! No coverage feedback (that is what cargo-fuzz adds): the mutations are
//! chosen for what these inputs are, frames behind a few control bytes, so
//! they aim at header boundaries and length fields.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Target;
use super::corpus;

/// The longest input made: a 64 KiB frame and its prefixes.
pub const MAX_INPUT: usize = 66_000;

/// Frame lengths worth cutting at: the ends of the Ethernet, VLAN, IPv4,
/// IPv6, TCP and UDP headers, and the ends of the length fields.
const BOUNDARIES: &[usize] = &[
    0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 26, 27, 28, 33, 34,
    35, 38, 39, 40, 41, 42, 43, 47, 48, 49, 53, 54, 55, 58, 59, 60, 61, 62, 63, 66, 70, 74, 78, 94,
];

/// Frame offsets of 16-bit length fields in the seed frames: IPv4 total
/// length (2, and 16, 20, 24 behind 0-2 VLAN tags), IPv6 payload length
/// (4, 18, 22, 26), UDP length (24, 38, 42, 44, 58, 62, 66).
const LENGTH_FIELDS: &[usize] = &[2, 4, 16, 18, 20, 22, 24, 26, 38, 42, 44, 48, 58, 62, 66];

/// What a length field may count from: the frame start, or the end of an
/// Ethernet/VLAN header, or an IP header.
const LENGTH_BASES: &[usize] = &[0, 14, 18, 20, 22, 34, 38, 40, 54, 58, 62];

/// 16-bit values that tend to sit at edges.
const INTERESTING16: &[u16] = &[
    0, 1, 2, 5, 6, 8, 14, 16, 20, 40, 0x7f, 0x80, 0xff, 0x100, 536, 1448, 1500, 1514, 1518, 2048,
    0x7fff, 0x8000, 0xfffe, 0xffff,
];

/// Makes the inputs of one run.
#[derive(Debug)]
pub struct Mutator {
    rng: ChaCha8Rng,
    seeds: Vec<Vec<u8>>,
    frame_start: usize,
}

impl Mutator {
    /// A mutator over `seeds` for inputs whose frame starts after
    /// `frame_start` control bytes, its choices drawn from `seed`.
    pub fn new(seed: u64, seeds: Vec<Vec<u8>>, frame_start: usize) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            seeds,
            frame_start,
        }
    }

    /// The next input: usually a seed with one to eight stacked mutations,
    /// sometimes a seed as it is or random bytes.
    pub fn next_input(&mut self) -> Vec<u8> {
        let roll = self.rng.random_range(0..32);
        if self.seeds.is_empty() || roll == 0 {
            let len = self.rng.random_range(0..=160);
            let mut v = vec![0; len];
            self.rng.fill_bytes(&mut v);
            return v;
        }
        let mut input = self.seeds[self.rng.random_range(0..self.seeds.len())].clone();
        if roll == 1 {
            return input;
        }
        // 1 mutation half the time, 2 a quarter, ... up to 8.
        let stack = 1 + (self.rng.next_u32() | 0x80).trailing_zeros() as usize;
        for _ in 0..stack {
            self.mutate(&mut input);
        }
        input.truncate(MAX_INPUT);
        input
    }

    fn pos(&mut self, len: usize) -> usize {
        self.rng.random_range(0..=len)
    }

    fn mutate(&mut self, v: &mut Vec<u8>) {
        let fs = self.frame_start;
        match self.rng.random_range(0..11) {
            // Flip a bit.
            0 if !v.is_empty() => {
                let i = self.rng.random_range(0..v.len());
                v[i] ^= 1 << self.rng.random_range(0..8);
            }
            // Overwrite a byte.
            1 if !v.is_empty() => {
                let i = self.rng.random_range(0..v.len());
                v[i] = match self.rng.random_range(0..4) {
                    0 => 0,
                    1 => 0xff,
                    2 => v[i].wrapping_add(self.rng.random_range(1..=4)),
                    _ => self.rng.random(),
                };
            }
            // Insert bytes.
            2 => {
                let at = self.pos(v.len());
                let n = self.rng.random_range(1..=8);
                let byte: u8 = self.rng.random();
                v.splice(at..at, std::iter::repeat_n(byte, n));
            }
            // Delete a range.
            3 if !v.is_empty() => {
                let at = self.rng.random_range(0..v.len());
                let n = self.rng.random_range(1..=16).min(v.len() - at);
                v.drain(at..at + n);
            }
            // Duplicate a range somewhere else.
            4 if !v.is_empty() => {
                let at = self.rng.random_range(0..v.len());
                let n = self.rng.random_range(1..=32).min(v.len() - at);
                let chunk = v[at..at + n].to_vec();
                let to = self.pos(v.len());
                v.splice(to..to, chunk);
            }
            // Splice: this input's head, another seed's tail.
            5 => {
                let other = &self.seeds[self.rng.random_range(0..self.seeds.len())];
                let cut = self.rng.random_range(0..=v.len());
                let from = self.rng.random_range(0..=other.len());
                let tail = other[from..].to_vec();
                v.truncate(cut);
                v.extend_from_slice(&tail);
            }
            // Cut the frame at a header boundary, or a few bytes off its end.
            6 => {
                let len = if self.rng.random_bool(0.5) {
                    fs + BOUNDARIES[self.rng.random_range(0..BOUNDARIES.len())]
                } else {
                    v.len().saturating_sub(self.rng.random_range(1..=4))
                };
                v.resize(len, 0);
            }
            // Make a length field say the frame's length, give or take.
            7 if v.len() > fs + 2 => {
                let at = if self.rng.random_bool(0.75) {
                    fs + LENGTH_FIELDS[self.rng.random_range(0..LENGTH_FIELDS.len())]
                } else {
                    self.rng.random_range(0..v.len() - 1)
                };
                let base = LENGTH_BASES[self.rng.random_range(0..LENGTH_BASES.len())];
                let delta = self.rng.random_range(-4i64..=4);
                let value = (v.len() as i64 - fs as i64 - base as i64 + delta) as u16;
                self.put16(v, at, value);
            }
            // An interesting 16-bit value somewhere.
            8 if v.len() >= 2 => {
                let at = self.rng.random_range(0..v.len() - 1);
                let value = INTERESTING16[self.rng.random_range(0..INTERESTING16.len())];
                self.put16(v, at, value);
            }
            // A control byte at random.
            9 if fs > 0 && v.len() >= fs => {
                let i = self.rng.random_range(0..fs);
                v[i] = self.rng.random();
            }
            // Grow the frame with a run of bytes.
            _ => {
                let n = self.rng.random_range(1..=64);
                let byte: u8 = self.rng.random();
                v.extend(std::iter::repeat_n(byte, n));
            }
        }
    }

    /// Writes `value` at `at` (if it fits), big- or little-endian.
    fn put16(&mut self, v: &mut [u8], at: usize, value: u16) {
        let bytes = if self.rng.random_bool(0.75) {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        if let Some(field) = v.get_mut(at..at + 2) {
            field.copy_from_slice(&bytes);
        }
    }
}

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Until this much time has passed.
    Time(Duration),
    /// This many inputs.
    Inputs(u64),
}

/// A run that found nothing.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// Inputs run.
    pub inputs: u64,
    /// Time taken.
    pub elapsed: Duration,
    /// The seed of the run.
    pub seed: u64,
}

impl Report {
    /// Inputs per second.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An input that broke an invariant (or panicked).
#[derive(Clone, Debug)]
pub struct Failure {
    /// The target's name.
    pub target: &'static str,
    /// The seed of the run.
    pub seed: u64,
    /// Which input of the run it was (counting from 0).
    pub index: u64,
    /// The input.
    pub input: Vec<u8>,
    /// The panic message and where it was raised.
    pub message: String,
}

/// Serializes runs: the panic hook they install is process-wide.
static HOOK: Mutex<()> = Mutex::new(());

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with panics caught and kept quiet; `Err` carries the message.
fn catching<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic without a message".to_string())
    })
}

/// Runs `body` with a quiet panic hook that records the message.
fn with_quiet_hook<R>(body: impl FnOnce() -> R) -> R {
    let _guard = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let msg = match info.location() {
            Some(l) => format!(
                "{} at {}:{}",
                panic_text(info.payload()),
                l.file(),
                l.line()
            ),
            None => panic_text(info.payload()),
        };
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
    let out = body();
    panic::set_hook(previous);
    out
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic without a message".to_string())
}

/// Feeds `target` inputs made from its seed corpus by a [`Mutator`] drawn
/// from `seed`, the seeds themselves first, until `budget` is spent or an
/// input fails. The same seed makes the same inputs in the same order.
pub fn run(target: &Target, budget: Budget, seed: u64) -> Result<Report, Failure> {
    let seeds: Vec<Vec<u8>> = corpus::seeds(target.name)
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    run_with(target, seeds, budget, seed)
}

/// [`run`] over the given seeds.
pub fn run_with(
    target: &Target,
    seeds: Vec<Vec<u8>>,
    budget: Budget,
    seed: u64,
) -> Result<Report, Failure> {
    let mut mutator = Mutator::new(seed, seeds.clone(), target.frame_start);
    let start = Instant::now();
    with_quiet_hook(|| {
        let mut index = 0u64;
        loop {
            match budget {
                Budget::Inputs(n) if index >= n => break,
                Budget::Time(t) if index.is_multiple_of(64) && start.elapsed() >= t => break,
                _ => {}
            }
            let input = match seeds.get(index as usize) {
                Some(s) => s.clone(),
                None => mutator.next_input(),
            };
            if let Err(message) = catching(|| (target.body)(&input)) {
                return Err(Failure {
                    target: target.name,
                    seed,
                    index,
                    input,
                    message,
                });
            }
            index += 1;
        }
        Ok(Report {
            target: target.name,
            inputs: index,
            elapsed: start.elapsed(),
            seed,
        })
    })
}

/// Runs `target` once on `input`; `Err` carries the panic message.
pub fn replay(target: &Target, input: &[u8]) -> Result<(), String> {
    with_quiet_hook(|| catching(|| (target.body)(input)))
}

/// `bytes` as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (whitespace ignored) as bytes; `None` for anything else.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}
