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

/// The calling thread's id (the kernel's TID), for [`task_cpu`] from
/// another thread.
pub fn thread_id() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// CPU seconds thread `tid` of this process has run so far, read from
/// another thread (`/proc/self/task/TID/schedstat`, nanoseconds); `None`
/// where the kernel does not keep it or the thread is gone.
pub fn task_cpu(tid: i32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
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
        // Seen from another thread, this one ran what it says it ran
        // (schedstat exists on this project's kernels; skip where not).
        let tid = thread_id();
        let before = thread_cpu();
        if let Some(ran) = std::thread::spawn(move || task_cpu(tid)).join().unwrap() {
            let after = thread_cpu();
            assert!(
                ran >= before - 0.005 && ran <= after + 0.005,
                "{before} <= {ran} <= {after} s"
            );
        }
        assert_eq!(task_cpu(-1), None);
        assert!(online_cpus() >= 1);
    }
}
