//! The apply session: everything around [`super::apply`] that makes a change safe on a
//! shared host, in one place and one order for every caller (`hostnet apply`, `restore`,
//! `commit`, `rollback`, `dhcp-event`, `monitor`, the device API).
//!
//! 1. the namespace's lock ([`lock`]), so that two hostnet commands never interleave;
//! 2. the records of dead writers and gone namespaces cleaned ([`records::clean`]);
//! 3. no pending checkpoint, and no crash journal of an apply that died (unless told to
//!    discard it);
//! 4. the plan, then the checkpoint armed before the first change;
//! 5. apply with the crash journal, verify, roll back on failure;
//! 6. the records: what was applied (for DHCP events and the monitor), what is committed
//!    (for `hostnet restore`), what the checkpoint's apply carried out.
//!
//! The caller enters the namespace first (the lock is the calling thread's namespace's)
//! and prints what the session returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::applied::{self, Applied};
use super::checkpoint::{self, Checkpoint, RecordError};
use super::lock::{self, LockError, NetnsLock};
use super::{committed, guard, records, ApplyError, ApplyOptions, Report};
use crate::expand::{ExpandError, Intent};
use crate::model::Desired;
use crate::netdev::{Driver, KernelState};
use crate::plan::Plan;

/// Why a session did not apply. Nothing was changed unless `Apply` says so.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot take the hostnet lock; nothing was changed")]
    Lock(#[source] LockError),
    /// A change awaits `hostnet commit` (made at `created`, rolls back at `deadline`).
    #[error("a checkpoint is pending; nothing was changed")]
    CheckpointPending { created: u64, deadline: u64 },
    #[error("cannot read the checkpoint record; nothing was changed")]
    CheckpointUnreadable(#[source] RecordError),
    /// The document, completed from what was applied here before, does not expand.
    #[error("the document is not valid; nothing was changed")]
    Invalid(#[source] ExpandError),
    /// The apply failed. `checkpoint_stays`: the deadline at which the checkpoint's
    /// watchdog tries the rollback again (an incomplete rollback keeps the checkpoint).
    #[error("{error}")]
    Apply {
        error: ApplyError,
        checkpoint_stays: Option<u64>,
    },
}

/// How `hostnet apply` runs.
#[derive(Clone, Debug, Default)]
pub struct ApplyRequest {
    /// Run on the model driver; change nothing, take no lock, write no record.
    pub dry_run: bool,
    /// Forget the journal of an apply that died, keeping what it did.
    pub discard_stale_journal: bool,
    /// Arm a checkpoint that rolls back after so many seconds unless committed.
    pub confirm_timeout: Option<u64>,
    /// Seconds to wait for the namespace's lock.
    pub lock_timeout: Duration,
}

/// What a session's apply did.
#[derive(Debug)]
pub struct Outcome {
    /// The intent applied: the document's, completed from the record of what was
    /// applied here before.
    pub intent: Intent,
    pub report: Report,
    /// The checkpoint armed, if the change awaits `hostnet commit`.
    pub checkpoint: Option<Checkpoint>,
}

/// A document's intent on this namespace, ready to apply.
#[derive(Debug)]
pub struct Prepared {
    pub intent: Intent,
    /// The record of what was applied here before (a checkpoint puts it back).
    applied_before: Applied,
    /// Whether that record was read (not empty for want of a readable file): then the
    /// record of this apply is folded onto it instead of reading the file again.
    applied_read: bool,
}

impl Report {
    /// The state the plan ends in on the model of the state before it (`None` if an op
    /// fails there, which a dry run itself has then reported): what the kernel should
    /// hold after the real apply.
    pub fn predicted(&self) -> Option<KernelState> {
        let mut model = crate::netdev::model::ModelDriver::new(self.before.clone());
        for phase in self.plan.phases.iter().filter(|p| !p.is_empty()) {
            if model.execute(phase).iter().any(Result::is_err) {
                return None;
            }
        }
        model.query().ok()
    }
}

/// A held session on the calling thread's namespace.
#[derive(Debug)]
pub struct Session {
    state: PathBuf,
    _lock: Option<NetnsLock>,
}

/// Removes what dead writers and gone namespaces left (see [`records::clean`]).
pub fn clean_records() {
    records::clean(
        &applied::state_dir(),
        &lock::lock_dir(),
        &committed::lib_dir(),
    );
}

/// Says so when an earlier apply died and left its journal; `what_now` ends the note.
pub fn report_stale_journal(state: &Path, what_now: &str) {
    if let Ok(Some(j)) = checkpoint::stale_journal(state) {
        tracing::warn!(
            "an apply (pid {}, started {}) did not finish ({} planned); {what_now}",
            j.pid,
            checkpoint::when(j.started),
            guard::count(j.plan.len(), "change", "changes")
        );
    }
}

impl Session {
    /// Takes the namespace's lock, waiting up to `timeout` (DHCP events and monitor
    /// rounds: they keep no journal and leave the records alone).
    pub fn lock(timeout: Duration) -> Result<Session, LockError> {
        Ok(Session {
            state: applied::state_dir(),
            _lock: Some(lock::lock_current_netns(&lock::lock_dir(), timeout)?),
        })
    }

    /// [`Session::lock`], then the records of dead writers cleaned: the start of every
    /// command that changes the namespace.
    pub fn command(timeout: Duration) -> Result<Session, LockError> {
        let s = Session::lock(timeout)?;
        clean_records();
        Ok(s)
    }

    /// No lock: for a dry run, which changes nothing (so neither waits for nor blocks
    /// others), and for the device API on a driver its caller chose.
    pub fn unlocked() -> Session {
        Session {
            state: applied::state_dir(),
            _lock: None,
        }
    }

    /// The session of `hostnet apply`, before anything is read: the lock, no pending
    /// checkpoint, the records cleaned, and a word about an apply that died (when its
    /// journal is to be discarded). A dry run takes none of them.
    pub fn for_apply(req: &ApplyRequest) -> Result<Session, SessionError> {
        if req.dry_run {
            return Ok(Session::unlocked());
        }
        let s = Session::lock(req.lock_timeout).map_err(SessionError::Lock)?;
        match checkpoint::load_checkpoint(&s.state) {
            Ok(Some(cp)) => {
                return Err(SessionError::CheckpointPending {
                    created: cp.created,
                    deadline: cp.deadline,
                })
            }
            Ok(None) => {}
            Err(e) => return Err(SessionError::CheckpointUnreadable(e)),
        }
        clean_records();
        if req.discard_stale_journal {
            report_stale_journal(&s.state, "its journal is discarded");
        }
        Ok(s)
    }

    /// The state directory the session's records are in.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Applies `intent` as one small change (DHCP events, monitor rounds, the device
    /// API): planned, executed, verified, rolled back on failure; no crash journal and
    /// no records.
    pub fn converge(&self, driver: &mut dyn Driver, intent: &Intent) -> Result<Report, ApplyError> {
        super::apply(driver, intent, ApplyOptions::default(), |_, _| Ok(()))
    }

    /// The intent of `desired` on this namespace: what the document does not repeat
    /// about networks applied here before comes from the record of them; tables of those
    /// it does not mention are theirs.
    pub fn prepare(&self, desired: &Desired) -> Result<Prepared, SessionError> {
        let loaded = applied::load(&self.state);
        let applied_read = loaded.is_ok();
        let applied_before = loaded.unwrap_or_default();
        let intent = applied_before
            .intent_for(desired)
            .map_err(SessionError::Invalid)?;
        Ok(Prepared {
            intent,
            applied_before,
            applied_read,
        })
    }

    /// `hostnet apply` of `desired` (whose text is `document`, prepared by
    /// [`Session::prepare`]) with `driver`. `on_plan` sees the plan, the state before it
    /// and the intent ahead of any change (the CLI prints the plan there); the checkpoint
    /// is armed right after it.
    pub fn apply(
        &self,
        driver: &mut dyn Driver,
        desired: &Desired,
        document: &str,
        prepared: Prepared,
        req: &ApplyRequest,
        on_plan: impl FnOnce(&Plan, &KernelState, &Intent),
    ) -> Result<Outcome, SessionError> {
        let state = &self.state;
        let Prepared {
            intent,
            applied_before,
            applied_read,
        } = prepared;
        let opts = ApplyOptions {
            dry_run: req.dry_run,
            journal: (!req.dry_run).then(|| state.clone()),
            discard_stale_journal: req.discard_stale_journal,
        };
        let mut armed: Option<Checkpoint> = None;
        let result = super::apply(driver, &intent, opts, |plan, before| {
            on_plan(plan, before, &intent);
            // The guard is armed before the first change: if this process dies midway
            // (the SSH session it ran in cut by the change), the watchdog still rolls back.
            if let (Some(secs), false, false) = (req.confirm_timeout, req.dry_run, plan.is_empty())
            {
                armed = Some(guard::arm(
                    state,
                    secs,
                    document,
                    before.clone(),
                    plan,
                    applied_before.clone(),
                )?);
            }
            Ok(())
        });
        let report = match result {
            Ok(r) => r,
            Err(error) => return Err(self.failed(error, armed)),
        };
        if let (Some(cp), true) = (&mut armed, report.changed) {
            // Every op of the plan ran; the rollback compares with the state that verified.
            let done = report.plan.ops().cloned().collect();
            if let Some(w) = guard::record_done(state, cp, done, report.after.clone()) {
                tracing::warn!("{w}");
            }
        }
        if !report.dry_run {
            let changed = changed_devices(&report.plan, &report.before);
            // The record as the apply left it: what it was, with the bridges' MTUs the
            // apply noted (see `applied::note_bridge_mtus`).
            let base = applied_read.then(|| {
                let mut base = applied_before;
                if let Some(set) = &report.bridge_mtus {
                    base.bridge_mtu_set = set.clone();
                }
                base
            });
            let committed = req.confirm_timeout.is_none();
            self.record(&intent, base, desired, committed, &changed);
        }
        Ok(Outcome {
            intent,
            report,
            checkpoint: armed,
        })
    }

    /// A failed apply: rolled back (or nothing changed), so nothing is left to confirm.
    /// An incomplete rollback keeps the checkpoint, so the watchdog tries again at the
    /// deadline.
    fn failed(&self, error: ApplyError, armed: Option<Checkpoint>) -> SessionError {
        let mut checkpoint_stays = None;
        if let Some(mut cp) = armed {
            if let ApplyError::RollbackIncomplete { done, .. } = &error {
                if let Some(w) = guard::record_done(&self.state, &mut cp, done.clone(), None) {
                    tracing::warn!("{w}");
                }
                checkpoint_stays = Some(cp.deadline);
            } else {
                guard::disarm(&self.state, &cp);
            }
        }
        SessionError::Apply {
            error,
            checkpoint_stays,
        }
    }

    /// After a change: the records first (a reader of the report that stops early must
    /// not keep `hostnet restore` from knowing what this apply made the host).
    /// `base`: the applied record as it is now, if known.
    fn record(
        &self,
        intent: &Intent,
        base: Option<Applied>,
        desired: &Desired,
        committed: bool,
        changed: &std::collections::BTreeSet<String>,
    ) {
        // DHCP events and the monitor act on what was applied here last.
        let recorded = match base {
            Some(base) => applied::record_onto(&self.state, base, intent),
            None => applied::record(&self.state, intent),
        };
        if let Err(e) = recorded {
            tracing::warn!(
                "applied, but could not record the DHCP networks for dhcp-event and monitor: {}",
                crate::error_chain(&e)
            );
        }
        if committed {
            if let Err(e) = committed::record_applied(&committed::lib_dir(), desired, changed) {
                tracing::warn!(
                    "applied, but could not record the committed state for `hostnet restore`: {}",
                    crate::error_chain(&e)
                );
            }
        }
    }

    /// `hostnet commit`: keeps the pending checkpoint's change.
    pub fn commit(&self) -> Result<Checkpoint, guard::CommitError> {
        guard::commit(&self.state)
    }

    /// `hostnet rollback`: takes back the pending checkpoint's change, or that of an
    /// apply that died.
    pub fn rollback(&self) -> Result<guard::RolledBack, guard::RollbackError> {
        guard::rollback(&self.state)
    }
}

/// The devices `plan` creates, changes or deletes, or gives or takes ports (from the
/// state `before` it).
fn changed_devices(
    plan: &crate::plan::Plan,
    before: &crate::netdev::KernelState,
) -> std::collections::BTreeSet<String> {
    let mut names = crate::plan::Scope::of(plan).links;
    for op in plan.ops() {
        match op {
            crate::netdev::Op::CreateLink(l) => names.extend(l.controller.clone()),
            crate::netdev::Op::ChangeLink { name, change } if change.controller.is_some() => {
                names.extend(change.controller.clone().flatten());
                names.extend(before.links.get(name).and_then(|l| l.controller.clone()));
            }
            _ => {}
        }
    }
    names
}
