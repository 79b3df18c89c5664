//! Wall-clock time per link phase, for `--time`. Measures; never changes what is linked.

use std::time::{Duration, Instant};

pub struct Timer {
    start: Instant,
    last: Instant,
    pub phases: Vec<(&'static str, Duration)>,
}

impl Timer {
    pub fn new() -> Timer {
        let now = Instant::now();
        Timer { start: now, last: now, phases: Vec::new() }
    }

    /// Ends the current phase under `name`.
    pub fn phase(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, now - self.last));
        self.last = now;
    }

    pub fn total(&self) -> Duration {
        self.last - self.start
    }

    /// One line per phase, then the total.
    pub fn report(&self) -> String {
        let mut text = String::new();
        for (name, duration) in &self.phases {
            text.push_str(&format!("{name:>10}  {:9.3} ms\n", duration.as_secs_f64() * 1e3));
        }
        text.push_str(&format!("{:>10}  {:9.3} ms\n", "total", self.total().as_secs_f64() * 1e3));
        text
    }
}

impl Default for Timer {
    fn default() -> Timer {
        Timer::new()
    }
}
