//! CPU accounting and placement: a thread's CPU time, the CPUs online,
//! pinning a thread to one.

/// CPU seconds the calling thread has used (user + system).
pub fn thread_cpu() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

/// CPUs online (not just those this thread may run on).
pub fn online_cpus() -> usize {
    use nix::unistd::{SysconfVar, sysconf};
    match sysconf(SysconfVar::_NPROCESSORS_ONLN) {
        Ok(Some(n)) if n > 0 => n as usize,
        _ => 1,
    }
}

/// Pins the calling thread to `cpu` when the machine has it.
pub fn pin(cpu: usize) {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    if cpu < online_cpus() {
        let mut set = CpuSet::new();
        if set.set(cpu).is_ok() {
            let _ = sched_setaffinity(Pid::from_raw(0), &set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_accumulates_cpu_time() {
        let c0 = thread_cpu();
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu() > c0, "CPU time grew after {x} iterations");
        assert!(online_cpus() >= 1);
    }
}
