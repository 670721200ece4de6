//! `tapring-fuzz`: the stable-toolchain fuzz loop over the shared target
//! bodies of `tapring_testkit::fuzz` (the same ones the cargo-fuzz targets
//! in `fuzz/` call).
//!
//! ```text
//! tapring-fuzz [--target NAME|all] [--seconds N | --inputs N] [--seed S]
//! tapring-fuzz --target NAME --input HEX      # replay one input
//! tapring-fuzz --write-corpus DIR             # the seed files, DIR/<target>/<name>
//! tapring-fuzz --list
//! ```
//!
//! Prints, per target, the inputs run, inputs/s and the seed that
//! reproduces the run. On a failed invariant it prints the input (hex), the
//! seed and the input's index, and exits with status 1.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tapring_testkit::fuzz::mutate::{self, Budget};
use tapring_testkit::fuzz::{TARGETS, Target, corpus, target};

const USAGE: &str = "usage: tapring-fuzz [--target NAME|all] [--seconds N | --inputs N] [--seed S]
       tapring-fuzz --target NAME --input HEX
       tapring-fuzz --write-corpus DIR
       tapring-fuzz --list";

struct Args {
    target: String,
    budget: Budget,
    seed: Option<u64>,
    input: Option<String>,
    write_corpus: Option<String>,
    list: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: "all".into(),
        budget: Budget::Time(Duration::from_secs(10)),
        seed: None,
        input: None,
        write_corpus: None,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--target" => args.target = value()?,
            "--seconds" => args.budget = Budget::Time(Duration::from_secs(number(value()?)?)),
            "--inputs" => args.budget = Budget::Inputs(number(value()?)?),
            "--seed" => args.seed = Some(number(value()?)?),
            "--input" => args.input = Some(value()?),
            "--write-corpus" => args.write_corpus = Some(value()?),
            "--list" => args.list = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("tapring-fuzz: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for t in TARGETS {
            println!("{} ({} seeds)", t.name, corpus::seeds(t.name).len());
        }
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = args.write_corpus {
        return match corpus::write_corpus(dir.as_ref()) {
            Ok(n) => {
                println!("wrote {n} seed files under {dir}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tapring-fuzz: writing {dir}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let targets: Vec<&Target> = if args.target == "all" {
        TARGETS.iter().collect()
    } else if let Some(t) = target(&args.target) {
        vec![t]
    } else {
        let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        eprintln!(
            "tapring-fuzz: no target {:?} (targets: {}, or all)",
            args.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    if let Some(hex) = args.input {
        let Some(input) = mutate::from_hex(&hex) else {
            eprintln!("tapring-fuzz: --input is not hex");
            return ExitCode::from(2);
        };
        let mut failed = false;
        for t in targets {
            match mutate::replay(t, &input) {
                Ok(()) => println!("{}: ok ({} bytes)", t.name, input.len()),
                Err(msg) => {
                    println!("{}: FAILED: {msg}", t.name);
                    failed = true;
                }
            }
        }
        return if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    for t in targets {
        match mutate::run(t, args.budget, seed) {
            Ok(r) => println!(
                "{:<16} {:>10} inputs in {:>6.1} s, {:>9.0} inputs/s, seed {}",
                r.target,
                r.inputs,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.seed
            ),
            Err(f) => {
                println!(
                    "{}: FAILED on input #{} of seed {}",
                    f.target, f.index, f.seed
                );
                println!("  {}", f.message);
                println!(
                    "  input ({} bytes): {}",
                    f.input.len(),
                    mutate::to_hex(&f.input)
                );
                println!(
                    "  replay: cargo run -p tapring-testkit --bin tapring-fuzz -- --target {} --input {}",
                    f.target,
                    mutate::to_hex(&f.input)
                );
                println!(
                    "  rerun:  cargo run --profile fuzz -p tapring-testkit --bin tapring-fuzz -- --target {} --seed {} --inputs {}",
                    f.target,
                    f.seed,
                    f.index + 1
                );
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
