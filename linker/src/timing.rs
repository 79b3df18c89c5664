//! Wall-clock and CPU time per link phase, for `--time` and `--stats-json`. Measures; never
//! changes what is linked.
//!
//! CPU time is the whole process's (every thread, user and system), so a phase's CPU time
//! over its wall time says how many cores it kept busy.

use std::time::{Duration, Instant};

pub struct Timer {
    start: Instant,
    last: Instant,
    last_cpu: Duration,
    pub phases: Vec<Phase>,
}

pub struct Phase {
    pub name: &'static str,
    pub wall: Duration,
    pub cpu: Duration,
}

/// User plus system time of every thread of this process so far.
fn process_cpu_time() -> Duration {
    // SAFETY: getrusage writes only the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let of = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    of(usage.ru_utime) + of(usage.ru_stime)
}

impl Timer {
    pub fn new() -> Timer {
        let now = Instant::now();
        Timer { start: now, last: now, last_cpu: process_cpu_time(), phases: Vec::new() }
    }

    /// Ends the current phase under `name`.
    pub fn phase(&mut self, name: &'static str) {
        let (now, cpu) = (Instant::now(), process_cpu_time());
        self.phases.push(Phase { name, wall: now - self.last, cpu: cpu.saturating_sub(self.last_cpu) });
        (self.last, self.last_cpu) = (now, cpu);
        pause_point(name);
    }

    pub fn total(&self) -> Duration {
        self.last - self.start
    }

    pub fn total_cpu(&self) -> Duration {
        self.phases.iter().map(|phase| phase.cpu).sum()
    }

    /// One line per phase (wall time, then CPU time of all threads), then the totals.
    pub fn report(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut text = format!("{:>10}  {:>9}     {:>9}\n", "phase", "wall", "cpu");
        for phase in &self.phases {
            text.push_str(&format!("{:>10}  {:9.3} ms  {:9.3} ms\n", phase.name, ms(phase.wall), ms(phase.cpu)));
        }
        text.push_str(&format!("{:>10}  {:9.3} ms  {:9.3} ms\n", "total", ms(self.total()), ms(self.total_cpu())));
        text
    }
}

/// Fault injection, for the tests that stop a link at a known point (signals, full disks,
/// vanished directories): with `CHAINLINK_TEST_PAUSE=<phase>` in the environment, the link
/// says `chainlink: paused after <phase>` on stderr at the end of that phase and waits
/// there until the file named by `CHAINLINK_TEST_RESUME` exists, for a minute at most (or
/// until a signal ends it). Nothing else reads those variables.
fn pause_point(phase: &str) {
    static PAUSE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if PAUSE.get_or_init(|| std::env::var("CHAINLINK_TEST_PAUSE").ok()).as_deref() != Some(phase) {
        return;
    }
    crate::say!("chainlink: paused after {phase}");
    let resume = std::env::var_os("CHAINLINK_TEST_RESUME").map(std::path::PathBuf::from);
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until && !resume.as_ref().is_some_and(|path| path.exists()) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Default for Timer {
    fn default() -> Timer {
        Timer::new()
    }
}
