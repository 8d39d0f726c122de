//! Progress of a long apply on a terminal: one line on standard error, redrawn in place,
//! saying which step runs (reading the host, a phase of the plan, verifying) and how many
//! ops are done. Drawn only when standard output and standard error are terminals, the
//! output is text, and the apply has run for a while (short applies stay quiet); the
//! line is erased before the outcome is printed.
//!
//! The engine drives the driver phase by phase, so [`ProgressDriver`] wraps the real
//! driver and learns what runs from its calls: a query before the plan (reading), each
//! phase's ops in order (executing), a query after them (verifying); anything after a
//! failed phase is the rollback.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::netdev::{Driver, DriverError, KernelState, Op};
use crate::plan::{Plan, PHASES};

/// Nothing is drawn before the apply has run this long.
const QUIET_FOR: Duration = Duration::from_millis(500);
/// Redraws at most this often within a step.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Where the line goes; `None`: nowhere.
type Sink = Box<dyn Write>;

/// What the apply is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Reading,
    Phase {
        index: usize,
        count: usize,
        name: &'static str,
        ops: usize,
    },
    Verifying,
    RollingBack,
}

pub struct Progress {
    sink: Option<Sink>,
    start: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
    /// The plan's non-empty phases: name and size.
    phases: Vec<(&'static str, usize)>,
    next_phase: usize,
    done: usize,
    total: usize,
    step: Step,
}

impl Progress {
    /// Draws on standard error when `text` output goes to a terminal.
    pub fn for_terminal(text: bool) -> Progress {
        let tty = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Progress::new((text && tty).then(|| Box::new(std::io::stderr()) as Sink))
    }

    fn new(sink: Option<Sink>) -> Progress {
        Progress {
            sink,
            start: Instant::now(),
            last_draw: None,
            drawn: false,
            phases: Vec::new(),
            next_phase: 0,
            done: 0,
            total: 0,
            step: Step::Reading,
        }
    }

    /// The plan about to run.
    pub fn planned(&mut self, plan: &Plan) {
        self.phases = plan
            .phases
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, p)| (PHASES[i], p.len()))
            .collect();
        self.total = plan.len();
    }

    fn line(&self) -> String {
        let secs = self.start.elapsed().as_secs_f64();
        match &self.step {
            Step::Reading => format!("reading the host... ({secs:.1} s)"),
            Step::Phase {
                index,
                count,
                name,
                ops,
            } => format!(
                "applying: phase {index}/{count}, {name} ({}); {}/{} ops done ({secs:.1} s)",
                super::output::count(*ops, "op", "ops"),
                self.done,
                self.total
            ),
            Step::Verifying => format!(
                "verifying: {}/{} ops done, reading the host again... ({secs:.1} s)",
                self.done, self.total
            ),
            Step::RollingBack => format!("rolling back... ({secs:.1} s)"),
        }
    }

    /// Moves to `step`, drawing it when the apply has been running for a while.
    fn enter(&mut self, step: Step) {
        let changed = step != self.step;
        self.step = step;
        let now = Instant::now();
        if now.duration_since(self.start) < QUIET_FOR {
            return;
        }
        if !changed
            && self
                .last_draw
                .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        let line = self.line();
        if let Some(sink) = self.sink.as_mut() {
            // Erase the line, then draw: a shorter line leaves nothing of a longer one.
            let _ = write!(sink, "\r\x1b[2K{line}");
            let _ = sink.flush();
            self.drawn = true;
            self.last_draw = Some(now);
        }
    }

    /// Erases the line before the outcome is printed.
    pub fn finish(&mut self) {
        if self.drawn {
            if let Some(sink) = self.sink.as_mut() {
                let _ = write!(sink, "\r\x1b[2K");
                let _ = sink.flush();
            }
            self.drawn = false;
        }
    }

    fn before_query(&mut self) {
        let step = if self.phases.is_empty() && self.done == 0 {
            Step::Reading
        } else if self.next_phase == self.phases.len() && self.step != Step::RollingBack {
            Step::Verifying
        } else {
            Step::RollingBack
        };
        self.enter(step);
    }

    fn before_execute(&mut self, ops: usize) {
        let step = match self.phases.get(self.next_phase) {
            Some((name, size)) if *size == ops && self.step != Step::RollingBack => {
                self.next_phase += 1;
                Step::Phase {
                    index: self.next_phase,
                    count: self.phases.len(),
                    name,
                    ops,
                }
            }
            _ => Step::RollingBack,
        };
        self.enter(step);
    }

    fn after_execute(&mut self, ops: usize) {
        if matches!(self.step, Step::Phase { .. }) {
            self.done += ops;
        }
    }
}

/// A driver that reports its calls to a [`Progress`].
pub struct ProgressDriver<'a> {
    pub inner: &'a mut dyn Driver,
    pub progress: Rc<RefCell<Progress>>,
}

impl Driver for ProgressDriver<'_> {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        self.progress.borrow_mut().before_query();
        self.inner.query()
    }

    fn query_beside(&mut self, known: &KernelState) -> Result<KernelState, DriverError> {
        self.progress.borrow_mut().before_query();
        self.inner.query_beside(known)
    }

    fn query_in(
        &mut self,
        reach: Option<&crate::netdev::Reach>,
    ) -> Result<KernelState, DriverError> {
        self.progress.borrow_mut().before_query();
        self.inner.query_in(reach)
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        self.progress.borrow_mut().before_execute(ops.len());
        let results = self.inner.execute(ops);
        self.progress.borrow_mut().after_execute(ops.len());
        results
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn consider_ovs(&mut self, involved: bool) {
        self.inner.consider_ovs(involved);
    }

    fn consider_firewall(&mut self, involved: bool) {
        self.inner.consider_firewall(involved);
    }

    fn focus_firewall(&mut self, focus: Option<crate::firewall::Focus>) {
        self.inner.focus_firewall(focus);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{apply, ApplyOptions};
    use crate::plan::tests::{host, intent_of};

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const FILE: &str = "
networks:
  - name: a
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
";

    fn run(sink: Option<Sink>, started: Duration) -> Rc<RefCell<Progress>> {
        let mut p = Progress::new(sink);
        // As if the apply had been running for a while already.
        p.start = Instant::now()
            .checked_sub(started)
            .unwrap_or_else(Instant::now);
        let progress = Rc::new(RefCell::new(p));
        let mut model = host();
        let mut driver = ProgressDriver {
            inner: &mut model,
            progress: progress.clone(),
        };
        let seen = progress.clone();
        apply(
            &mut driver,
            &intent_of(FILE),
            ApplyOptions::default(),
            |plan, _| {
                seen.borrow_mut().planned(plan);
                Ok(())
            },
        )
        .expect("applies");
        progress
    }

    #[test]
    fn a_long_apply_shows_each_phase_and_the_ops_done_then_erases_the_line() {
        let out = Shared::default();
        let progress = run(Some(Box::new(out.clone())), Duration::from_secs(2));
        let p = progress.borrow();
        assert_eq!(p.done, p.total);
        assert!(p.total > 0);
        drop(p);
        let text = String::from_utf8_lossy(&out.0.borrow()).into_owned();
        assert!(text.contains("reading the host..."), "{text}");
        assert!(text.contains("applying: phase 1/"), "{text}");
        assert!(text.contains("create bridges"), "{text}");
        assert!(text.contains("verifying: "), "{text}");
        assert!(!text.contains("rolling back"), "{text}");
        progress.borrow_mut().finish();
        assert!(out.0.borrow().ends_with(b"\r\x1b[2K"));
    }

    #[test]
    fn a_short_apply_or_no_terminal_draws_nothing() {
        let out = Shared::default();
        let progress = run(Some(Box::new(out.clone())), Duration::ZERO);
        progress.borrow_mut().finish();
        assert!(out.0.borrow().is_empty(), "a short apply drew");
        let progress = run(None, Duration::from_secs(2));
        progress.borrow_mut().finish();
        assert!(!progress.borrow().drawn);
    }
}
