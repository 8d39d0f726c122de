//! Taking an apply back: after a failure in the same process, at a checkpoint's deadline
//! or on `hostnet rollback`, and after an apply that died.
//!
//! Links, addresses, routes and rules, which other tools share, are taken back op by op
//! and only where the object is still what the op left ([`crate::plan::undo`]); what
//! another tool changed, before or after, stays. Open vSwitch ports hostnet created, its
//! firewall table and chains and its DHCP servers are hostnet's own: their ops are
//! inverted (in the same process) and they are converged exactly to the state before,
//! within what the apply touched ([`crate::plan::restore_plan_in`]).
//!
//! The rollback runs its plan, reads the state again and plans again (the kernel's side
//! effects of the rollback itself, ports of a bridge made again), twice; what the third
//! planning still finds is left over.

use std::collections::BTreeSet;

use super::{ApplyError, Journal};
use crate::netdev::{Driver, KernelState, LinkKind, Op};
use crate::plan::undo::{took_effect, Undo};
use crate::plan::{restore_plan_in, Plan, Scope};

/// The ops an apply carried out.
#[derive(Clone, Debug)]
pub enum Done {
    /// Known one by one (the apply was there to record them).
    Ops(Vec<Op>),
    /// The apply died: its plan's non-empty phases, how many of them it finished, and
    /// whether it had started the next: the ops of that one are taken as done where their
    /// effect shows.
    Phases {
        phases: Vec<Vec<Op>>,
        completed: usize,
        partial: bool,
    },
}

impl Done {
    fn resolve(self, before: &KernelState, now: &KernelState) -> Vec<Op> {
        match self {
            Done::Ops(ops) => ops,
            Done::Phases {
                phases,
                completed,
                partial,
            } => {
                let mut ops: Vec<Op> = phases.iter().take(completed).flatten().cloned().collect();
                if let Some(partial) = phases.get(completed).filter(|_| partial) {
                    ops.extend(
                        partial
                            .iter()
                            .filter(|op| took_effect(op, before, now))
                            .cloned(),
                    );
                }
                ops
            }
        }
    }
}

/// A finished rollback.
#[derive(Debug, Default)]
pub struct Restored {
    /// Ops the rollback ran.
    pub changes: usize,
    /// What it left because another tool changed it since (see
    /// [`crate::plan::undo::UndoPlan::kept`]).
    pub kept: Vec<String>,
}

/// Ops on hostnet's own objects (Open vSwitch, the firewall, DHCP servers).
fn own(op: &Op) -> bool {
    matches!(op, Op::Ovs(_) | Op::Firewall(_)) || op.is_dhcp_server()
}

/// The state of a rollback in progress.
struct Run<'a> {
    before: &'a KernelState,
    done: &'a [Op],
    left: Option<&'a KernelState>,
    scope: &'a Scope,
    recreated: BTreeSet<String>,
    errors: Vec<String>,
    changes: usize,
}

impl Run<'_> {
    /// The plan from `now`: the shared objects' undo, and the own objects' convergence.
    fn plan(&self, now: &KernelState) -> (Plan, Vec<String>, Vec<String>) {
        let undo = Undo {
            before: self.before,
            done: self.done,
            left: self.left,
            recreated: &self.recreated,
        }
        .plan(now);
        let mut plan = undo.plan;
        let made: BTreeSet<String> = plan
            .ops()
            .filter_map(|op| match op {
                Op::CreateLink(l) => Some(l.name.clone()),
                _ => None,
            })
            .collect();
        // A DHCP server starts again only on its own device: one that is there as it was,
        // or that this rollback makes again, never another tool's that took its name.
        let device_ok = |network: &str| {
            let Some(dev) = self
                .before
                .dhcp_servers
                .get(network)
                .map(|s| s.spec.flags.interface.as_str())
            else {
                return true;
            };
            made.contains(dev)
                || self.recreated.contains(dev)
                || match (now.links.get(dev), self.before.links.get(dev)) {
                    (Some(n), Some(b)) => {
                        std::mem::discriminant(&n.kind) == std::mem::discriminant(&b.kind)
                    }
                    _ => false,
                }
        };
        let mut blocked = undo.blocked;
        let ours = restore_plan_in(now, self.before, Some(self.scope));
        for (i, phase) in ours.phases.into_iter().enumerate() {
            for op in phase.into_iter().filter(own) {
                match &op {
                    Op::StartDhcpServer { network } if !device_ok(network) => blocked.push(
                        format!("dhcp-server {network}: not started again: its device is not there as it was"),
                    ),
                    _ => plan.phases[i].push(op),
                }
            }
        }
        (plan, undo.kept, blocked)
    }

    /// Runs every phase even when some ops fail, and notes the links it made again.
    fn run(&mut self, driver: &mut dyn Driver, plan: &Plan) {
        for phase in plan.phases.iter().filter(|p| !p.is_empty()) {
            for (op, res) in phase.iter().zip(driver.execute(phase)) {
                match res {
                    Ok(()) => {
                        self.changes += 1;
                        if let Op::CreateLink(l) = op {
                            self.recreated.insert(l.name.clone());
                            if let LinkKind::Veth { peer: Some(p) } = &l.kind {
                                self.recreated.insert(p.clone());
                            }
                        }
                    }
                    Err(e) => {
                        // A later round may retry what an earlier one failed at: say it once.
                        let msg = e.describe(op);
                        if !self.errors.contains(&msg) {
                            self.errors.push(msg);
                        }
                    }
                }
            }
        }
    }
}

/// Takes back `done` (carried out from `before`; `left` is the state right after it, when
/// known), within `scope` for hostnet's own objects. `inverses`: first run the journal's
/// inverses of the own objects' ops (in the apply's process, which knows them exactly).
fn take_back(
    driver: &mut dyn Driver,
    before: &KernelState,
    done: &[Op],
    left: Option<&KernelState>,
    scope: &Scope,
    inverses: bool,
) -> Result<Restored, (Vec<String>, Vec<String>)> {
    let mut run = Run {
        before,
        done,
        left,
        scope,
        recreated: BTreeSet::new(),
        errors: Vec::new(),
        changes: 0,
    };
    if inverses {
        let mut journal = Journal::new(before);
        for op in done.iter().filter(|op| own(op)) {
            journal.record(op);
        }
        run.run(driver, &journal.undo_plan());
    }
    for _ in 0..2 {
        let now = match driver.query() {
            Ok(s) => s,
            Err(e) => {
                run.errors
                    .push(format!("could not read the state to roll back: {e}"));
                break;
            }
        };
        let (plan, _, _) = run.plan(&now);
        if plan.is_empty() {
            break;
        }
        run.run(driver, &plan);
    }
    let (leftovers, kept) = match driver.query() {
        Ok(now) => {
            let (plan, kept, blocked) = run.plan(&now);
            let mut left: Vec<String> =
                plan.ops().map(|op| format!("{} {op}", op.verb())).collect();
            left.extend(blocked);
            (left, kept)
        }
        Err(e) => (
            vec![format!("could not read the state after rolling back: {e}")],
            Vec::new(),
        ),
    };
    if leftovers.is_empty() {
        Ok(Restored {
            changes: run.changes,
            kept,
        })
    } else {
        let mut failures: Vec<String> = run
            .errors
            .into_iter()
            .map(|e| format!("rollback: {e}"))
            .collect();
        failures.extend(kept.into_iter().map(|k| format!("kept: {k}")));
        Err((failures, leftovers))
    }
}

/// The rollback of an apply that failed in this process: `done` are the ops that the
/// kernel accepted. Returns the error the apply reports.
pub(super) fn after_failure(
    driver: &mut dyn Driver,
    before: &KernelState,
    done: &[Op],
    scope: &Scope,
    failures: Vec<String>,
) -> ApplyError {
    match take_back(driver, before, done, None, scope, true) {
        Ok(r) => ApplyError::RolledBack {
            failures,
            kept: r.kept,
        },
        Err((errors, leftovers)) => {
            let mut failures = failures;
            failures.extend(errors);
            ApplyError::RollbackIncomplete {
                failures,
                leftovers,
                done: done.to_vec(),
            }
        }
    }
}

/// Takes back an apply recorded by a checkpoint or a crash journal: `before` is the
/// state before it (with the firewall switches someone changed since as they are now),
/// `left` the state it left, if it was read.
pub fn roll_back(
    driver: &mut dyn Driver,
    before: &KernelState,
    done: Done,
    left: Option<&KernelState>,
    scope: &Scope,
) -> Result<Restored, ApplyError> {
    driver.consider_ovs(before.ovs.available);
    driver.consider_firewall(before.firewall.read);
    let now = driver.query().map_err(ApplyError::Query)?;
    let done = done.resolve(before, &now);
    take_back(driver, before, &done, left, scope, false).map_err(|(failures, leftovers)| {
        ApplyError::RollbackIncomplete {
            failures,
            leftovers,
            done,
        }
    })
}
