//! Progress of long work (building a model's weights on the CPU, benchmark
//! sweeps, kernel compilation): the library reports through [`Progress`],
//! the command line (feature `cli`) draws it with indicatif on stderr, and
//! only when stderr is a terminal, so logs and CI output stay quiet.

#[cfg(feature = "cli")]
pub use bars::{bar, spinner, visible, Bars};

/// Where long work reports how far it is. Work comes in phases: `start`
/// names one and says how many steps it has, `inc` counts steps done,
/// `finish` ends it. A new `start` ends the phase before it.
pub trait Progress: Send + Sync {
    /// Begins a phase of `total` steps (0: a length not known ahead, drawn as a spinner).
    fn start(&self, what: &str, total: u64);
    /// `n` more steps of the current phase are done.
    fn inc(&self, n: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Progress that goes nowhere (library callers, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

/// The indicatif side: bars and spinners on stderr.
#[cfg(feature = "cli")]
mod bars {
    use std::io::IsTerminal;
    use std::sync::Mutex;

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

    use super::Progress;

    /// Whether progress is drawn: stderr is a terminal.
    pub fn visible() -> bool {
        std::io::stderr().is_terminal()
    }

    fn target() -> ProgressDrawTarget {
        if visible() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A bar of `total` steps on stderr (hidden when stderr is not a terminal),
    /// showing the elapsed time, the count, an estimate of the time left, and `what`.
    pub fn bar(what: &str, total: u64) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(Some(total), target());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:20}] {pos}/{len} ({elapsed}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        pb
    }

    /// A spinner with `what` and the elapsed time on stderr (hidden when stderr is not a terminal).
    pub fn spinner(what: &str) -> ProgressBar {
        let pb = ProgressBar::with_draw_target(None, target());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(what.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        pb
    }

    /// [`Progress`] drawn on stderr: a bar per phase with a known length, a
    /// spinner otherwise; each is cleared when its phase ends.
    #[derive(Debug, Default)]
    pub struct Bars {
        current: Mutex<Option<ProgressBar>>,
    }

    impl Bars {
        /// No phase yet.
        pub fn new() -> Self {
            Self::default()
        }

        fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
            self.current.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl Progress for Bars {
        fn start(&self, what: &str, total: u64) {
            let pb = if total == 0 { spinner(what) } else { bar(what, total) };
            if let Some(old) = self.slot().replace(pb) {
                old.finish_and_clear();
            }
        }

        fn inc(&self, n: u64) {
            if let Some(pb) = self.slot().as_ref() {
                pb.inc(n);
            }
        }

        fn finish(&self) {
            if let Some(pb) = self.slot().take() {
                pb.finish_and_clear();
            }
        }
    }

    impl Drop for Bars {
        fn drop(&mut self) {
            self.finish();
        }
    }
}

#[cfg(all(test, feature = "cli"))]
mod tests {
    use super::*;

    #[test]
    fn bars_run_through_phases_without_a_terminal() {
        // Under `cargo test` stderr is captured or a pipe: nothing is drawn,
        // and every call is still safe in any order.
        let b = Bars::new();
        b.inc(1);
        b.start("building", 3);
        b.inc(2);
        b.start("timing", 0);
        b.inc(1);
        b.finish();
        b.finish();
        let s = Silent;
        s.start("x", 1);
        s.inc(1);
        s.finish();
    }
}
