//! The engine: query → plan → execute with an undo journal → verify → roll back on any
//! failure, and verify the rollback.
//!
//! Guarantees:
//! * nothing is written when planning fails or the plan is empty;
//! * every op the driver reports as done is in the journal before the next phase runs;
//! * after a failure the journal is undone in reverse, then the state is compared with the
//!   one read before the apply and any difference left by kernel side effects is repaired
//!   by an exact convergence ([`crate::plan::restore_plan`]); what still differs is
//!   reported as [`ApplyError::RollbackIncomplete`].

pub mod applied;
pub mod checkpoint;
pub mod committed;
mod files;
mod journal;
pub mod lock;
pub mod records;

use std::time::{Duration, Instant};

use crate::expand::Intent;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, DriverError, KernelState};
use crate::plan::{differences, plan, restore_plan_in, Plan, PlanError, Scope};

pub use journal::Journal;

/// How to apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Run the plan on the model driver seeded with the current state; change nothing.
    pub dry_run: bool,
    /// Keep a crash journal in this state directory while changes are being made
    /// (see [`checkpoint`]). An apply refuses to start while the journal of an earlier
    /// one that died is there, unless `discard_stale_journal`.
    pub journal: Option<std::path::PathBuf>,
    /// Forget the journal of an earlier apply that died (keeping what it did) instead of
    /// refusing to apply.
    pub discard_stale_journal: bool,
}

/// Test hook: `HOSTNET_TEST_CRASH_AFTER_PHASE=N` makes a journaled apply SIGKILL itself
/// after its Nth non-empty phase, so that tests can prove recovery from a crash at any
/// point. Read only when a journal is kept.
const CRASH_HOOK: &str = "HOSTNET_TEST_CRASH_AFTER_PHASE";

/// How long each step took, for `-o json` and the benchmarks.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Timings {
    pub query: Duration,
    pub plan: Duration,
    pub execute: Duration,
    pub verify: Duration,
}

/// What an apply did.
#[derive(Debug)]
pub struct Report {
    pub plan: Plan,
    /// The state read before planning (what a checkpoint returns to).
    pub before: KernelState,
    /// False for a dry run or an empty plan.
    pub changed: bool,
    pub dry_run: bool,
    pub timings: Timings,
}

/// Why an apply did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The intent cannot be reached from the current state; nothing was changed.
    #[error("cannot plan the change; nothing was changed")]
    Plan(Vec<PlanError>),
    /// The current state could not be read; nothing was changed.
    #[error("could not read the current state; nothing was changed")]
    Query(#[source] DriverError),
    /// The crash journal or the checkpoint could not be set up; nothing was changed.
    #[error("cannot record the apply before changing anything; nothing was changed")]
    Journal(String),
    /// An earlier apply died and its journal is still here: applying now would lose the
    /// way back to the state before it. Nothing was changed.
    #[error("an earlier apply (pid {pid}, started {started}) did not finish; nothing was changed")]
    StaleJournal {
        pid: u32,
        /// When it started, as text.
        started: String,
        /// How many changes it had planned.
        planned: usize,
    },
    /// A dry run found that the plan would fail; nothing was changed.
    #[error("the plan would fail on this host; nothing was changed")]
    DryRunFailed { failures: Vec<String> },
    /// Something failed; the previous state is back and verified.
    #[error("apply failed; the previous state was restored and verified")]
    RolledBack { failures: Vec<String> },
    /// Something failed and the previous state could not be fully restored.
    #[error("apply failed and the rollback is incomplete")]
    RollbackIncomplete {
        failures: Vec<String>,
        /// What still differs from the state before the apply.
        leftovers: Vec<String>,
    },
}

impl ApplyError {
    /// The process exit code for this outcome (see the CLI documentation).
    pub fn exit_code(&self) -> i32 {
        match self {
            ApplyError::Plan(_) => 2,
            ApplyError::Query(_)
            | ApplyError::Journal(_)
            | ApplyError::StaleJournal { .. }
            | ApplyError::DryRunFailed { .. }
            | ApplyError::RolledBack { .. } => 1,
            ApplyError::RollbackIncomplete { .. } => 3,
        }
    }

    /// Every detail line of the error, for printing under the headline.
    pub fn details(&self) -> Vec<String> {
        match self {
            ApplyError::Plan(errs) => errs.iter().map(ToString::to_string).collect(),
            ApplyError::Query(e) => vec![e.to_string()],
            ApplyError::Journal(e) => vec![e.clone()],
            ApplyError::StaleJournal { planned, .. } => vec![
                format!("it had planned {planned} changes; its journal is kept"),
                "`hostnet rollback` returns to the state before it; or apply again with --discard-stale-journal to keep what it did and forget its journal".into(),
            ],
            ApplyError::DryRunFailed { failures } | ApplyError::RolledBack { failures } => {
                failures.clone()
            }
            ApplyError::RollbackIncomplete {
                failures,
                leftovers,
            } => failures
                .iter()
                .cloned()
                .chain(leftovers.iter().map(|l| format!("left over: {l}")))
                .collect(),
        }
    }
}

fn timed<T>(slot: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    *slot += t.elapsed();
    r
}

/// Whether applying `intent` needs Open vSwitch's state: it has OVS, or it removes a
/// device, which may be an OVS bridge or port.
fn involves_ovs(intent: &Intent) -> bool {
    !intent.ovs.is_empty()
        || intent
            .links
            .values()
            .any(|l| l.state == crate::model::IfaceState::Absent)
}

/// Whether applying `intent` needs the firewall's state: a network in it decides its
/// firewall (including removing one, or the network), or it needs forwarding sysctls or
/// floating addresses. Networks the file does not give a firewall keep theirs untouched,
/// so nothing else needs to read it.
fn involves_firewall(intent: &Intent) -> bool {
    let fw = &intent.firewall;
    !fw.networks.is_empty() || !fw.sysctls.is_empty() || !fw.addresses.is_empty()
}

/// Plans and applies `intent` with `driver`. See the module documentation.
///
/// `on_plan` sees the plan and the state before it ahead of any change: the CLI prints
/// the plan there, and arms a checkpoint; an error from it aborts with nothing changed.
pub fn apply(
    driver: &mut dyn Driver,
    intent: &Intent,
    opts: ApplyOptions,
    on_plan: impl FnOnce(&Plan, &KernelState) -> Result<(), String>,
) -> Result<Report, ApplyError> {
    let mut timings = Timings::default();
    if let (Some(dir), false) = (&opts.journal, opts.dry_run) {
        check_stale_journal(dir, opts.discard_stale_journal)?;
    }
    driver.consider_ovs(involves_ovs(intent));
    driver.consider_firewall(involves_firewall(intent));
    let before = timed(&mut timings.query, || driver.query()).map_err(ApplyError::Query)?;
    let the_plan = timed(&mut timings.plan, || plan(&before, intent)).map_err(ApplyError::Plan)?;
    on_plan(&the_plan, &before).map_err(ApplyError::Journal)?;
    if opts.dry_run {
        let mut model = ModelDriver::new(before.clone());
        let mut journal = Journal::new(&before);
        if let Err(failures) = execute(&mut model, &the_plan, &mut journal, None) {
            return Err(ApplyError::DryRunFailed { failures });
        }
        if let Err(failures) = verify(&mut model, intent) {
            return Err(ApplyError::DryRunFailed { failures });
        }
        return Ok(Report {
            plan: the_plan,
            before,
            changed: false,
            dry_run: true,
            timings,
        });
    }
    if the_plan.is_empty() {
        return Ok(Report {
            plan: the_plan,
            before,
            changed: false,
            dry_run: false,
            timings,
        });
    }
    if let Some(dir) = &opts.journal {
        let record = checkpoint::Journal {
            pid: std::process::id(),
            started: checkpoint::now(),
            plan: the_plan
                .ops()
                .map(|op| format!("{} {op}", op.sign()))
                .collect(),
            scope: Scope::of(&the_plan),
            before: before.clone(),
            sysctls_set: crate::firewall::plan::switches_set(&the_plan),
        };
        checkpoint::store_journal(dir, &record).map_err(|e| ApplyError::Journal(e.to_string()))?;
    }
    let crash_after = opts
        .journal
        .as_ref()
        .and_then(|_| std::env::var(CRASH_HOOK).ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut journal = Journal::new(&before);
    let executed = timed(&mut timings.execute, || {
        execute(driver, &the_plan, &mut journal, crash_after)
    });
    let failures = match executed {
        Ok(()) => match timed(&mut timings.verify, || verify(driver, intent)) {
            Ok(()) => {
                if let Some(dir) = &opts.journal {
                    let _ = checkpoint::clear_journal(dir);
                }
                return Ok(Report {
                    plan: the_plan,
                    before,
                    changed: true,
                    dry_run: false,
                    timings,
                });
            }
            Err(f) => f,
        },
        Err(f) => f,
    };
    let outcome = rollback(driver, &journal, &before, &Scope::of(&the_plan), failures);
    // An incomplete rollback keeps the journal: `hostnet rollback` can try again.
    if let (Some(dir), ApplyError::RolledBack { .. }) = (&opts.journal, &outcome) {
        let _ = checkpoint::clear_journal(dir);
    }
    Err(outcome)
}

/// Refuses to start over the journal of an apply that died (its way back would be lost),
/// or forgets it when told to.
fn check_stale_journal(dir: &std::path::Path, discard: bool) -> Result<(), ApplyError> {
    if discard {
        return checkpoint::clear_journal(dir).map_err(|e| ApplyError::Journal(e.to_string()));
    }
    match checkpoint::stale_journal(dir) {
        Ok(None) => Ok(()),
        Ok(Some(j)) => Err(ApplyError::StaleJournal {
            pid: j.pid,
            started: checkpoint::when(j.started),
            planned: j.plan.len(),
        }),
        Err(e) => Err(ApplyError::Journal(format!(
            "cannot read the journal of an earlier apply ({e}); `hostnet rollback` or --discard-stale-journal"
        ))),
    }
}

/// Returns to a recorded state by exact convergence within `scope` (a checkpoint's or a
/// crashed apply's "before", limited to what that apply touched); reports what still
/// differs.
pub fn restore(
    driver: &mut dyn Driver,
    target: &KernelState,
    scope: Option<&Scope>,
) -> Result<usize, ApplyError> {
    driver.consider_ovs(target.ovs.available);
    driver.consider_firewall(target.firewall.read);
    let now = driver.query().map_err(ApplyError::Query)?;
    let p = restore_plan_in(&now, target, scope);
    let mut errors = Vec::new();
    run_best_effort(driver, &p, &mut errors);
    let leftovers = match driver.query() {
        Ok(after) => differences(&after, target, scope),
        Err(e) => vec![format!("could not read the state after restoring: {e}")],
    };
    if leftovers.is_empty() {
        Ok(p.len())
    } else {
        Err(ApplyError::RollbackIncomplete {
            failures: errors
                .into_iter()
                .map(|e| format!("rollback: {e}"))
                .collect(),
            leftovers,
        })
    }
}

/// Runs the plan phase by phase, journaling every op that succeeded. Stops after the
/// first phase with a failure (the rest of that phase was independent and ran).
fn execute(
    driver: &mut dyn Driver,
    plan: &Plan,
    journal: &mut Journal,
    crash_after: Option<usize>,
) -> Result<(), Vec<String>> {
    for (n, phase) in plan.phases.iter().filter(|p| !p.is_empty()).enumerate() {
        if crash_after == Some(n) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
        let results = driver.execute(phase);
        let mut failures = Vec::new();
        for (op, res) in phase.iter().zip(results) {
            match res {
                Ok(()) => journal.record(op),
                Err(e) => failures.push(e.describe(op)),
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
    }
    Ok(())
}

/// Re-reads the state and checks that the intent holds: planning again must be empty.
pub fn verify(driver: &mut dyn Driver, intent: &Intent) -> Result<(), Vec<String>> {
    let after = driver
        .query()
        .map_err(|e| vec![format!("verification could not read the state: {e}")])?;
    match plan(&after, intent) {
        Ok(p) if p.is_empty() => Ok(()),
        Ok(p) => Err(p
            .ops()
            .map(|op| format!("verification: still to {} {op}", op.verb()))
            .collect()),
        Err(errs) => Err(errs.iter().map(|e| format!("verification: {e}")).collect()),
    }
}

/// Undoes the journal, then repairs what kernel side effects left, then verifies.
fn rollback(
    driver: &mut dyn Driver,
    journal: &Journal,
    before: &KernelState,
    scope: &Scope,
    failures: Vec<String>,
) -> ApplyError {
    let undo = journal.undo_plan();
    let mut rollback_errors = Vec::new();
    run_best_effort(driver, &undo, &mut rollback_errors);
    let mut leftovers = match driver.query() {
        Ok(now) => differences(&now, before, Some(scope)),
        Err(e) => vec![format!("could not read the state after rollback: {e}")],
    };
    if !leftovers.is_empty() {
        if let Ok(now) = driver.query() {
            run_best_effort(
                driver,
                &restore_plan_in(&now, before, Some(scope)),
                &mut rollback_errors,
            );
        }
        leftovers = match driver.query() {
            Ok(now) => differences(&now, before, Some(scope)),
            Err(e) => vec![format!("could not read the state after rollback: {e}")],
        };
    }
    if leftovers.is_empty() {
        ApplyError::RolledBack { failures }
    } else {
        let mut failures = failures;
        failures.extend(
            rollback_errors
                .into_iter()
                .map(|e| format!("rollback: {e}")),
        );
        ApplyError::RollbackIncomplete {
            failures,
            leftovers,
        }
    }
}

/// Runs every phase even when some ops fail: rollback keeps going and collects errors.
fn run_best_effort(driver: &mut dyn Driver, plan: &Plan, errors: &mut Vec<String>) {
    for phase in plan.phases.iter().filter(|p| !p.is_empty()) {
        for (op, res) in phase.iter().zip(driver.execute(phase)) {
            if let Err(e) = res {
                // The repair pass may retry what undoing already failed at; say it once.
                let msg = e.describe(op);
                if !errors.contains(&msg) {
                    errors.push(msg);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
