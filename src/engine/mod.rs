//! The engine: query → plan → execute with an undo journal → verify → roll back on any
//! failure, and verify the rollback.
//!
//! Guarantees:
//! * nothing is written when planning fails or the plan is empty;
//! * every op the driver reports as done is in the journal before the next phase runs;
//! * after a failure every op the kernel accepted is taken back, only where the object is
//!   still what the op left (see [`rollback`] and [`crate::plan::undo`]): what another
//!   tool changed meanwhile stays; what cannot be taken back without touching another
//!   tool's objects is reported as [`ApplyError::RollbackIncomplete`].

pub mod applied;
pub mod checkpoint;
pub mod committed;
mod committed_log;
pub mod guard;
mod journal;
pub mod lock;
mod reach;
pub mod records;
pub mod restore_committed;
pub mod rollback;
pub mod session;
mod verify;

use std::time::{Duration, Instant};

use crate::expand::Intent;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, DriverError, KernelState, Op};
use crate::plan::{differences, plan, restore_plan_in, Plan, PlanError, Scope};

pub use journal::Journal;
pub use verify::verify;
use verify::{beside_netlink, verify_state};

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
/// after its Nth non-empty phase (or, given a phase's name from [`crate::plan::PHASES`],
/// just before that phase), so that tests can prove recovery from a crash at any point.
/// Read only when a journal is kept.
const CRASH_HOOK: &str = "HOSTNET_TEST_CRASH_AFTER_PHASE";
/// Test hook: `HOSTNET_TEST_PAUSE_AFTER_PHASE=N` (or a phase's name, as above) with
/// `HOSTNET_TEST_PAUSE_FIFO=PATH` (two FIFOs the test made, `PATH` and `PATH.go`) makes a
/// journaled apply stop there, write a line into `PATH`, and go on once the test has
/// closed its end of `PATH.go`: the test acts on the namespace at a point of its
/// choosing, without sleeping.
const PAUSE_HOOK: &str = "HOSTNET_TEST_PAUSE_AFTER_PHASE";
const PAUSE_FIFO: &str = "HOSTNET_TEST_PAUSE_FIFO";

/// Where a test hook acts: after so many non-empty phases, or before the phase named.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HookAt {
    After(usize),
    Before(String),
}

impl HookAt {
    fn from_env(key: &str) -> Option<HookAt> {
        let v = std::env::var(key).ok()?;
        Some(match v.parse::<usize>() {
            Ok(n) => HookAt::After(n),
            Err(_) => HookAt::Before(v),
        })
    }

    fn is(&self, n: usize, phase: &str) -> bool {
        match self {
            HookAt::After(k) => *k == n,
            HookAt::Before(name) => name == phase,
        }
    }
}

/// The test hooks in force (none unless a journal is kept).
#[derive(Default)]
struct Hooks {
    crash: Option<HookAt>,
    pause: Option<(HookAt, std::path::PathBuf)>,
}

impl Hooks {
    fn from_env() -> Hooks {
        Hooks {
            crash: HookAt::from_env(CRASH_HOOK),
            pause: HookAt::from_env(PAUSE_HOOK)
                .zip(std::env::var_os(PAUSE_FIFO).map(std::path::PathBuf::from)),
        }
    }

    /// Before the `n`th non-empty phase, `phase`: crash, or pause until the test says go
    /// on.
    fn before_phase(&self, n: usize, phase: &str) {
        if self.crash.as_ref().is_some_and(|at| at.is(n, phase)) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some((_, fifo)) = self.pause.as_ref().filter(|(at, _)| at.is(n, phase)) {
            use std::io::{Read, Write};
            // Opening a FIFO waits for the other end: the test's reader, then its writer;
            // reading ends when the test closes its end.
            if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(fifo) {
                let _ = writeln!(w, "paused before {phase}");
            }
            let mut go = fifo.clone().into_os_string();
            go.push(".go");
            if let Ok(mut r) = std::fs::File::open(go) {
                let _ = r.read_to_end(&mut Vec::new());
            }
        }
    }
}

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
    /// The state read when the change verified (what a checkpoint's rollback compares
    /// with, to leave what others changed since); `None` without a change.
    pub after: Option<KernelState>,
    /// The bridges whose MTU hostnet has set, as noted in the record after the change
    /// (`applied::bridge_mtus_after`); `None` without a change or without records.
    pub bridge_mtus: Option<std::collections::BTreeMap<String, u32>>,
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
    /// Something failed; every change of the apply was taken back and verified.
    #[error("apply failed; the previous state was restored and verified")]
    RolledBack {
        failures: Vec<String>,
        /// Objects the apply changed that another tool changed again since: left as
        /// that tool set them.
        kept: Vec<String>,
    },
    /// Something failed and the previous state could not be fully restored.
    #[error("apply failed and the rollback is incomplete")]
    RollbackIncomplete {
        failures: Vec<String>,
        /// What of the apply is still there.
        leftovers: Vec<String>,
        /// The ops the apply carried out (for a later `hostnet rollback`).
        done: Vec<Op>,
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
            ApplyError::DryRunFailed { failures } => failures.clone(),
            ApplyError::RolledBack { failures, kept } => failures
                .iter()
                .cloned()
                .chain(kept.iter().map(|k| format!("kept: {k}")))
                .collect(),
            ApplyError::RollbackIncomplete {
                failures,
                leftovers,
                ..
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
/// `on_plan` sees the plan and the state before it ahead of any change: the session
/// ([`session::Session::apply`]) lets its caller print the plan there and arms a
/// checkpoint; an error from it aborts with nothing changed. Callers other than tests go
/// through the session, which takes the lock and keeps the records.
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
    // A dry run's model predicts every interface's sysctls: it reads them all.
    driver.focus_firewall((!opts.dry_run).then(|| crate::firewall::Focus {
        sysctls: intent.firewall.sysctls.clone(),
        networks: intent.firewall.networks.keys().cloned().collect(),
    }));
    // Only the links the plan can depend on (see `plan::scope`); the rollback after a
    // failure reads the whole host again. A dry run reads it all: its model refuses an
    // op on a device it does not hold, and a plan may name one outside the reach (an
    // address the firewall drops from an interface the file no longer names).
    let mut reach = (!opts.dry_run)
        .then(|| crate::plan::scope::reach(intent))
        .flatten();
    let mut before =
        timed(&mut timings.query, || driver.query_in(reach.as_ref())).map_err(ApplyError::Query)?;
    applied::seed_bridge_mtus(&mut before, &intent.bridge_mtu_set);
    let mut the_plan =
        timed(&mut timings.plan, || plan(&before, intent)).map_err(ApplyError::Plan)?;
    if reach.is_some() && reach::beyond(&before, &the_plan) {
        reach = None;
        before = timed(&mut timings.query, || driver.query()).map_err(ApplyError::Query)?;
        applied::seed_bridge_mtus(&mut before, &intent.bridge_mtu_set);
        the_plan = timed(&mut timings.plan, || plan(&before, intent)).map_err(ApplyError::Plan)?;
    }
    on_plan(&the_plan, &before).map_err(ApplyError::Journal)?;
    if opts.dry_run {
        let mut model = ModelDriver::new(before.clone());
        let mut journal = Journal::new(&before);
        if let Err(failures) = execute(&mut model, &the_plan, &mut journal, &Hooks::default(), None)
        {
            return Err(ApplyError::DryRunFailed { failures });
        }
        if let Err(failures) = verify(&mut model, intent) {
            return Err(ApplyError::DryRunFailed { failures });
        }
        return Ok(Report {
            plan: the_plan,
            before,
            after: None,
            bridge_mtus: None,
            changed: false,
            dry_run: true,
            timings,
        });
    }
    if the_plan.is_empty() {
        return Ok(Report {
            plan: the_plan,
            before,
            after: None,
            bridge_mtus: None,
            changed: false,
            dry_run: false,
            timings,
        });
    }
    if let Some(dir) = &opts.journal {
        start_journal(dir, &the_plan, &before)?;
    }
    let hooks = if opts.journal.is_some() {
        Hooks::from_env()
    } else {
        Hooks::default()
    };
    let mut journal = Journal::new(&before);
    let executed = timed(&mut timings.execute, || {
        execute(
            driver,
            &the_plan,
            &mut journal,
            &hooks,
            opts.journal.as_deref(),
        )
    });
    let failures = match executed {
        Ok(()) => match timed(&mut timings.verify, || {
            verify_state(driver, intent, beside_netlink(&the_plan).then_some(&before))
        }) {
            Ok(after) => {
                let mut bridge_mtus = None;
                if let Some(dir) = &opts.journal {
                    let _ = checkpoint::clear_journal(dir);
                    let mut set = applied::bridge_mtus_after(&before, &the_plan, &after);
                    if reach.is_some() {
                        reach::keep_unread(&mut set, &intent.bridge_mtu_set, &before);
                    }
                    if let Err(e) = applied::note_bridge_mtus(dir, &set, &intent.bridge_mtu_set) {
                        tracing::warn!("applied, but could not record the bridges' MTU: {e}");
                    }
                    bridge_mtus = Some(set);
                }
                return Ok(Report {
                    plan: the_plan,
                    before,
                    after: Some(after),
                    bridge_mtus,
                    changed: true,
                    dry_run: false,
                    timings,
                });
            }
            Err(f) => f,
        },
        Err(f) => f,
    };
    // The rollback converges on the state before: it reads it all.
    driver.focus_firewall(None);
    let outcome = rollback::after_failure(
        driver,
        &before,
        journal.done(),
        &Scope::of(&the_plan),
        failures,
    );
    if let Some(dir) = &opts.journal {
        settle_journal(dir, &outcome);
    }
    Err(outcome)
}

/// Writes the crash journal before the first change: the state before, the plan's phases,
/// no phase started yet.
fn start_journal(
    dir: &std::path::Path,
    the_plan: &Plan,
    before: &KernelState,
) -> Result<(), ApplyError> {
    let scope = Scope::of(the_plan);
    let record = checkpoint::Journal {
        pid: std::process::id(),
        started: checkpoint::now(),
        plan: the_plan
            .ops()
            .map(|op| format!("{} {op}", op.sign()))
            .collect(),
        before: checkpoint::rollback_needs(before, beside_netlink(the_plan), &scope),
        scope,
        sysctls_set: crate::plan::firewall::switches_set(the_plan),
        phases: phases_of(the_plan),
        done: None,
    };
    checkpoint::start_progress(dir)
        .and_then(|()| checkpoint::store_journal(dir, &record))
        .map_err(|e| ApplyError::Journal(e.to_string()))
}

/// After a rollback: the journal goes with a finished one; an incomplete one keeps it,
/// with exactly what was done, so that `hostnet rollback` can try again.
fn settle_journal(dir: &std::path::Path, outcome: &ApplyError) {
    match outcome {
        ApplyError::RolledBack { .. } => {
            let _ = checkpoint::clear_journal(dir);
        }
        ApplyError::RollbackIncomplete { done, .. } => {
            if let Ok(Some(mut j)) = checkpoint::load_journal(dir) {
                j.done = Some(done.clone());
                let _ = checkpoint::store_journal(dir, &j);
            }
        }
        _ => {}
    }
}

/// The plan's non-empty phases, as a crash journal records them.
pub fn phases_of(plan: &Plan) -> Vec<Vec<Op>> {
    plan.phases
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect()
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

/// Returns to a recorded state by exact convergence within `scope`; reports what still
/// differs. It makes the objects in scope equal to `target` whoever changed them: the
/// device API's multi-step undo uses it, and so does the rollback of a journal or
/// checkpoint an older hostnet wrote (without the ops it carried out). Rollbacks of
/// applies use [`rollback`], which leaves what other tools did.
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
            done: Vec::new(),
        })
    }
}

/// Runs the plan phase by phase, journaling every op that succeeded, and, with a crash
/// journal in `dir`, noting each finished phase there. Stops after the first phase with
/// a failure (the rest of that phase was independent and ran).
fn execute(
    driver: &mut dyn Driver,
    plan: &Plan,
    journal: &mut Journal,
    hooks: &Hooks,
    dir: Option<&std::path::Path>,
) -> Result<(), Vec<String>> {
    let phases = plan
        .phases
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(i, p)| (crate::plan::PHASES[i], p));
    for (n, (name, phase)) in phases.enumerate() {
        hooks.before_phase(n, name);
        if let Some(dir) = dir {
            let _ = checkpoint::mark_phase(dir, "start");
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
        if let Some(dir) = dir {
            // Without it, a later `hostnet rollback` takes this phase's ops as done where
            // their effect shows (as for an apply killed in the middle of a phase), which
            // another tool's racing object could fake.
            let _ = checkpoint::mark_phase(dir, "done");
        }
    }
    Ok(())
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
