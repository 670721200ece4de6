//! Steal time: CPU time the hypervisor gave to other guests while this
//! VM's CPUs wanted to run (the `steal` column of `/proc/stat`). On a
//! shared VM it is the usual reason one run of a pair was slow, so the
//! bench measures it around every run and says when it was high. It is
//! taken as a share of the time the VM's CPUs wanted to run (busy or
//! stolen, not idle): an idle CPU is never stolen from, so a share of all
//! CPU time would hide steal on a machine whose other CPUs sit idle.

use serde::Serialize;

/// Steal above this share of the wanted CPU time during a run makes the
/// bench warn about that run.
pub const WARN_ABOVE: f64 = 0.05;

/// The machine's aggregate CPU time counters at one moment, in clock
/// ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    steal: u64,
    /// Busy or stolen: everything but idle and iowait.
    wanted: u64,
}

impl CpuTimes {
    /// The counters now; `None` where `/proc/stat` is not readable.
    pub fn now() -> Option<CpuTimes> {
        parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The share (0..=1) of the CPU time wanted since `earlier` that was
    /// stolen.
    pub fn steal_since(&self, earlier: &CpuTimes) -> f64 {
        let wanted = self.wanted.saturating_sub(earlier.wanted);
        if wanted == 0 {
            return 0.0;
        }
        self.steal.saturating_sub(earlier.steal) as f64 / wanted as f64
    }
}

/// The aggregate `cpu` line of a `/proc/stat` text: user nice system idle
/// iowait irq softirq steal (guest time is already inside user and nice).
fn parse(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let steal = *fields.get(7)?;
    let (idle, iowait) = (fields[3], fields[4]);
    Some(CpuTimes {
        steal,
        wanted: fields.iter().sum::<u64>() - idle - iowait,
    })
}

/// The steal measured around one step of the bench (one run; an
/// overhead step is its pair of runs).
#[derive(Clone, Debug, Serialize)]
pub struct RunSteal {
    /// The step's place in the plan (a step measured again replaces it).
    #[serde(skip)]
    pub step: usize,
    /// What ran (the progress bar's label).
    pub run: String,
    /// Round (pair) number.
    pub round: usize,
    /// Share of the CPU time the VM wanted meanwhile that was stolen
    /// (0..=1); `None` where `/proc/stat` could not be read.
    pub steal: Option<f64>,
}

impl RunSteal {
    /// The steal of step `step` (`run`, in round `round`), which began
    /// when the counters read `before` and has just ended.
    pub fn since(step: usize, run: String, round: usize, before: Option<CpuTimes>) -> RunSteal {
        let steal = match (before, CpuTimes::now()) {
            (Some(b), Some(a)) => Some(a.steal_since(&b)),
            _ => None,
        };
        RunSteal {
            step,
            run,
            round,
            steal,
        }
    }
}

/// A warning line when some runs had more than [`WARN_ABOVE`] of the CPU
/// stolen; empty otherwise.
pub fn warning(runs: &[RunSteal]) -> String {
    let high: Vec<&RunSteal> = runs
        .iter()
        .filter(|r| r.steal.is_some_and(|s| s > WARN_ABOVE))
        .collect();
    let Some(worst) = high
        .iter()
        .max_by(|a, b| a.steal.unwrap_or(0.0).total_cmp(&b.steal.unwrap_or(0.0)))
    else {
        return String::new();
    };
    format!(
        "warning: the hypervisor gave more than {:.0}% of the CPU time this VM wanted to other \
         guests during {} of {} runs (worst {:.1}%, in {} round {}), so the ratios of those pairs \
         are less reliable; rerun when the host is quieter (--json lists the steal of every run)\n",
        WARN_ABOVE * 100.0,
        high.len(),
        runs.len(),
        worst.steal.unwrap_or(0.0) * 100.0,
        worst.run,
        worst.round
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 10 1 2 32 0 0\ncpu0 50 2 25 400 5 0 1 16 0 0\n";

    #[test]
    fn the_aggregate_line_gives_steal_and_the_time_wanted() {
        let t = parse(STAT).expect("parses");
        // 1000 ticks in all, 800 idle and 10 iowait: 190 wanted.
        assert_eq!(
            t,
            CpuTimes {
                steal: 32,
                wanted: 190
            }
        );
        let later = CpuTimes {
            steal: 52,
            wanted: 390,
        };
        assert!((later.steal_since(&t) - 0.1).abs() < 1e-9);
        assert_eq!(t.steal_since(&t), 0.0, "no time passed: nothing stolen");
        assert_eq!(parse("cpu0 1 2 3\n"), None, "no aggregate line");
        assert_eq!(parse("cpu  1 2 x 4 5 6 7 8\n"), None, "not a number");
    }

    #[test]
    fn this_machine_has_counters() {
        let t = CpuTimes::now().expect("/proc/stat is readable on Linux");
        assert!(t.wanted > 0, "this test process itself ran");
    }

    #[test]
    fn only_runs_above_the_limit_warn_and_the_worst_is_named() {
        let run = |run: &str, round, steal| RunSteal {
            step: 0,
            run: run.into(),
            round,
            steal,
        };
        assert_eq!(
            warning(&[run("tx 64 B", 0, Some(0.01)), run("x", 1, None)]),
            ""
        );
        let w = warning(&[
            run("tx 64 B io_uring 1q", 0, Some(0.30)),
            run("tx 64 B read-write 1q", 0, Some(0.08)),
            run("drain 64 B", 1, Some(0.0)),
        ]);
        assert!(w.contains("during 2 of 3 runs"), "{w}");
        assert!(
            w.contains("worst 30.0%, in tx 64 B io_uring 1q round 0"),
            "{w}"
        );
    }
}
