//! The bench's plan: every run it will make, in order, built once. The
//! progress bar's length is the plan's; the runner iterates it.

use super::overhead;
use super::plain;
use super::tcp::TcpRun;
use super::workload::{RunSpec, TestKind};
use tapring::Backend;
/// One step of the plan (one tick of the progress bar).
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// A frame test (tx, rx, drain, fwd, fwd2) with one backend.
    Frame {
        /// What to run.
        spec: RunSpec,
        /// Round (pair) number.
        round: usize,
    },
    /// The plain read()/write() arm of a fwd or fwd2 round (the spec's
    /// backend is not used).
    Plain {
        /// What to run.
        spec: RunSpec,
        /// Round (pair) number.
        round: usize,
    },
    /// One TCP run.
    Tcp {
        /// What carries the traffic.
        run: TcpRun,
        /// Round (pair) number.
        round: usize,
    },
    /// One run of the gro test's segments-per-second measure.
    GroFrames {
        /// Backend, Rx mode, rings, duration.
        spec: RunSpec,
        /// Coalesce before writing.
        gro: bool,
        /// Round (pair) number.
        round: usize,
    },
    /// One overhead pair (tapring, then the bare loop).
    Overhead {
        /// What tapring runs.
        spec: RunSpec,
        /// Round (pair) number.
        round: usize,
    },
}

impl Step {
    /// The round (pair) the step belongs to.
    pub fn round(&self) -> usize {
        match *self {
            Step::Frame { round, .. }
            | Step::Plain { round, .. }
            | Step::Tcp { round, .. }
            | Step::GroFrames { round, .. }
            | Step::Overhead { round, .. } => round,
        }
    }

    /// What the progress bar says while the step runs.
    pub fn label(&self) -> String {
        match self {
            Step::Frame { spec, .. } => format!(
                "{} {} B {} {}q",
                spec.test.name(),
                spec.size,
                spec.backend.name(),
                spec.queues
            ),
            Step::Plain { spec, .. } => format!(
                "{} {} B plain {}q",
                spec.test.name(),
                spec.size,
                spec.queues
            ),
            Step::Tcp { run, .. } => run.label(),
            Step::GroFrames { spec, gro, .. } => format!(
                "gro frames {} GRO {}",
                spec.backend.name(),
                if *gro { "on" } else { "off" }
            ),
            Step::Overhead { spec, .. } => {
                format!("overhead {} {} B", spec.test.name(), spec.size)
            }
        }
    }
}

/// What to plan.
pub struct Inputs<'a> {
    /// Tests asked for (tcp and overhead included).
    pub tests: &'a [TestKind],
    /// Frame sizes.
    pub sizes: &'a [usize],
    /// Backends, in the order they alternate.
    pub backends: &'a [Backend],
    /// Rounds (pairs).
    pub rounds: usize,
    /// A frame-test run (test, backend and size are set per step).
    pub frame: RunSpec,
    /// An overhead run (test and size are set per step).
    pub overhead: RunSpec,
}

/// The queue counts each run is made with: the plan's, and one queue
/// beside it when the plan has more (the scaling is paired, round by round).
fn queue_counts(queues: u16) -> Vec<u16> {
    if queues > 1 { vec![queues, 1] } else { vec![1] }
}

/// Every run, in order: the frame tests (per test and size, rounds of the
/// backends in alternation, each with the plan's queues and, when that is
/// more than one, with one queue too; fwd and fwd2 rounds end with the
/// plain arm at the same queue counts), then the TCP rounds, then the
/// overhead pairs.
pub fn plan(i: &Inputs<'_>) -> Vec<Step> {
    let counts = queue_counts(i.frame.queues);
    let mut steps = Vec::new();
    let frame_tests = i
        .tests
        .iter()
        .filter(|t| !matches!(t, TestKind::Tcp | TestKind::Gro | TestKind::Overhead));
    for &test in frame_tests {
        for &size in i.sizes {
            for round in 0..i.rounds {
                for &backend in i.backends {
                    for &queues in &counts {
                        let spec = RunSpec {
                            test,
                            backend,
                            size,
                            queues,
                            ..i.frame
                        };
                        steps.push(Step::Frame { spec, round });
                    }
                }
                if plain::has_plain_arm(test) {
                    for &queues in &counts {
                        let spec = RunSpec {
                            test,
                            size,
                            queues,
                            ..i.frame
                        };
                        steps.push(Step::Plain { spec, round });
                    }
                }
            }
        }
    }
    if i.tests.contains(&TestKind::Tcp) {
        for round in 0..i.rounds {
            for run in TcpRun::round(i.backends, &counts) {
                steps.push(Step::Tcp { run, round });
            }
        }
    }
    if i.tests.contains(&TestKind::Gro) {
        for round in 0..i.rounds {
            for run in TcpRun::gro_round(i.backends) {
                steps.push(Step::Tcp { run, round });
            }
            for &backend in i.backends {
                for gro in [true, false] {
                    let spec = RunSpec {
                        test: TestKind::Gro,
                        backend,
                        queues: 1,
                        ..i.frame
                    };
                    steps.push(Step::GroFrames { spec, gro, round });
                }
            }
        }
    }
    if i.tests.contains(&TestKind::Overhead) {
        for test in [TestKind::Tx, TestKind::Drain] {
            for &size in i.sizes {
                for round in 0..i.rounds {
                    let spec = overhead::spec(&i.overhead, test, size);
                    steps.push(Step::Overhead { spec, round });
                }
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tapring::uring::UringConfig;

    fn base() -> RunSpec {
        RunSpec {
            test: TestKind::Tx,
            backend: Backend::ReadWrite,
            size: 64,
            queues: 1,
            burst: 32,
            rx_mode: tapring::RxMode::Auto,
            uring: UringConfig::default(),
            duration: Duration::from_millis(100),
            mode: tapring::device::DeviceMode::Tap,
        }
    }

    #[test]
    fn the_plan_lists_every_run_once_in_alternation() {
        let backends = [Backend::ReadWrite, Backend::IoUring];
        let tests = [
            TestKind::Tx,
            TestKind::Fwd,
            TestKind::Tcp,
            TestKind::Overhead,
        ];
        let steps = plan(&Inputs {
            tests: &tests,
            sizes: &[64, 1514],
            backends: &backends,
            rounds: 3,
            frame: base(),
            overhead: base(),
        });
        let frames = steps
            .iter()
            .filter(|s| matches!(s, Step::Frame { .. }))
            .count();
        let tcp = steps
            .iter()
            .filter(|s| matches!(s, Step::Tcp { .. }))
            .count();
        let overhead = steps
            .iter()
            .filter(|s| matches!(s, Step::Overhead { .. }))
            .count();
        assert_eq!(frames, 2 * 2 * 2 * 3); // tests x sizes x backends x rounds
        // fwd has a plain arm in each of its rounds, after the backends.
        let plain: Vec<&Step> = steps
            .iter()
            .filter(|s| matches!(s, Step::Plain { .. }))
            .collect();
        assert_eq!(plain.len(), 2 * 3); // sizes x rounds
        assert!(plain.iter().all(|s| matches!(s,
            Step::Plain { spec, .. } if spec.test == TestKind::Fwd && spec.queues == 1)));
        let fwd_round: Vec<&Step> = steps
            .iter()
            .filter(|s| match s {
                Step::Frame { spec, round } | Step::Plain { spec, round } => {
                    spec.test == TestKind::Fwd && spec.size == 64 && *round == 1
                }
                _ => false,
            })
            .collect();
        assert_eq!(fwd_round.len(), 3, "{fwd_round:?}");
        assert!(matches!(fwd_round[2], Step::Plain { .. }), "{fwd_round:?}");
        // rounds x (veth + plain x offloads + backends x offloads + tokio x runtimes)
        assert_eq!(tcp, 3 * (1 + 2 + 2 * 2 + 2));
        assert_eq!(overhead, 2 * 2 * 3); // (tx, drain) x sizes x rounds
        // Backends alternate within a round.
        let Step::Frame { spec: a, round: 0 } = steps[0] else {
            panic!("{:?}", steps[0]);
        };
        let Step::Frame { spec: b, round: 0 } = steps[1] else {
            panic!("{:?}", steps[1]);
        };
        assert_eq!(
            (a.backend, b.backend),
            (Backend::ReadWrite, Backend::IoUring)
        );
        // One queue: every run with one queue.
        assert!(steps.iter().all(|s| match s {
            Step::Frame { spec, .. } => spec.queues == 1,
            Step::Tcp { run, .. } => run.queues() == 1,
            _ => true,
        }));
        // Overhead runs tapring's io_uring backend in no-wait mode.
        assert!(steps.iter().all(|s| match s {
            Step::Overhead { spec, .. } =>
                spec.backend == Backend::IoUring && spec.rx_mode == tapring::RxMode::Nowait,
            _ => true,
        }));
    }

    /// Two rounds of `tests` at 64 B with both backends and two queues.
    fn two_queue_plan(tests: &[TestKind]) -> Vec<Step> {
        plan(&Inputs {
            tests,
            sizes: &[64],
            backends: &[Backend::ReadWrite, Backend::IoUring],
            rounds: 2,
            frame: RunSpec {
                queues: 2,
                ..base()
            },
            overhead: base(),
        })
    }

    #[test]
    fn the_plain_arm_runs_at_each_queue_count_after_the_backends() {
        let steps = two_queue_plan(&[TestKind::Fwd2, TestKind::Drain]);
        for round in 0..2 {
            let runs: Vec<(bool, TestKind, u16)> = steps
                .iter()
                .filter(|s| s.round() == round)
                .filter_map(|s| match s {
                    Step::Frame { spec, .. } => Some((false, spec.test, spec.queues)),
                    Step::Plain { spec, .. } => Some((true, spec.test, spec.queues)),
                    _ => None,
                })
                .collect();
            let fwd2: Vec<(bool, u16)> = runs
                .iter()
                .filter(|r| r.1 == TestKind::Fwd2)
                .map(|r| (r.0, r.2))
                .collect();
            // Each backend at 2 and 1 queues, then the plain arm at both.
            assert_eq!(
                fwd2,
                [
                    (false, 2),
                    (false, 1),
                    (false, 2),
                    (false, 1),
                    (true, 2),
                    (true, 1)
                ],
                "round {round}"
            );
            // drain has no plain arm.
            assert!(!runs.iter().any(|r| r.0 && r.1 == TestKind::Drain));
        }
    }

    #[test]
    fn more_queues_are_paired_with_one_queue_in_each_round() {
        let backends = [Backend::ReadWrite, Backend::IoUring];
        let steps = two_queue_plan(&[TestKind::Drain, TestKind::Tcp]);
        for round in 0..2 {
            for &backend in &backends {
                let queues: Vec<u16> = steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::Frame { spec, round: r }
                            if *r == round && spec.backend == backend =>
                        {
                            Some(spec.queues)
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(queues, [2, 1], "round {round} {backend:?}");
                let tcp: Vec<u16> = steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::Tcp {
                            run:
                                TcpRun::Forwarder {
                                    backend: b,
                                    offload: true,
                                    queues,
                                },
                            round: r,
                        } if *r == round && *b == backend => Some(*queues),
                        _ => None,
                    })
                    .collect();
                assert_eq!(tcp, [2, 1], "tcp round {round} {backend:?}");
            }
        }
    }
}
