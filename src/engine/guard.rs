//! The checkpoint of `apply --confirm-timeout` and the ways back: arming it (with the
//! watchdog process that rolls back at the deadline), recording what its apply did,
//! `commit`, `rollback` (of a checkpoint or of a crashed apply's journal), and the
//! watchdog's own loop. The session ([`super::session`]) sequences them; `cli/` only
//! prints what they return.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::checkpoint::{self, Checkpoint, RecordError};
use super::rollback::{Done, Restored};
use super::{applied, lock, records};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::{KernelState, Op};
use crate::plan::Scope;

/// `1 change`, `2 changes`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a finished rollback left because other tools changed it since, for its report.
pub fn kept_lines(r: &Restored) -> String {
    r.kept.iter().map(|k| format!("\n  kept: {k}")).collect()
}

/// Stops the watchdog of a checkpoint, if it is still the process it was.
fn stop_watchdog(cp: &Checkpoint) {
    if let Some(pid) = cp.watchdog_pid {
        if checkpoint::is_hostnet_process(pid, "checkpoint-watchdog") {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}

/// Takes back an apply recorded by a checkpoint or a crash journal (`done: None`: a record
/// of an older hostnet, which kept no ops: exact convergence within its scope).
fn roll_back_to(
    before: &KernelState,
    done: Option<Done>,
    left: Option<&KernelState>,
    scope: &Scope,
) -> Result<Restored, String> {
    let mut driver = LinuxDriver::new().map_err(|e| format!("cannot open netlink: {e}"))?;
    let result = match done {
        Some(done) => super::rollback::roll_back(&mut driver, before, done, left, scope),
        None => super::restore(&mut driver, before, Some(scope)).map(|changes| Restored {
            changes,
            kept: Vec::new(),
        }),
    };
    result.map_err(|e| {
        let mut lines = vec![e.to_string()];
        lines.extend(e.details());
        lines.join("\n  ")
    })
}

/// Before the first change of `apply --confirm-timeout`: records the checkpoint and starts
/// the watchdog that rolls back at the deadline. Without a watchdog there is no guard, so
/// the apply does not start.
pub fn arm(
    state: &Path,
    secs: u64,
    document: &str,
    before: KernelState,
    plan: &crate::plan::Plan,
    applied_before: applied::Applied,
) -> Result<Checkpoint, String> {
    let created = checkpoint::now();
    let mut cp = Checkpoint {
        token: format!("{}-{created}", std::process::id()),
        created,
        deadline: created + secs,
        document: document.to_string(),
        watchdog_pid: None,
        scope: Scope::of(plan),
        applied_before,
        before,
        sysctls_set: crate::plan::firewall::switches_set(plan),
        phases: super::phases_of(plan),
        done: None,
        left: None,
    };
    checkpoint::store_checkpoint(state, &cp).map_err(|e| e.to_string())?;
    match spawn_watchdog(&cp.token) {
        Ok(pid) => {
            cp.watchdog_pid = Some(pid);
            // Without the PID, commit cannot stop the watchdog early; it still exits on
            // its own once it sees the checkpoint gone.
            let _ = checkpoint::store_checkpoint(state, &cp);
            Ok(cp)
        }
        Err(e) => {
            let _ = checkpoint::clear_checkpoint(state);
            Err(format!("cannot start the checkpoint's watchdog: {e}"))
        }
    }
}

/// Records in the checkpoint what its apply carried out and the state it left (`left`:
/// once verified), for the rollback to take back exactly that. Returns a warning for the
/// caller to pass on when the record could not be written: the change itself stands.
#[must_use]
pub fn record_done(
    state: &Path,
    cp: &mut Checkpoint,
    done: Vec<Op>,
    left: Option<KernelState>,
) -> Option<String> {
    cp.done = Some(done);
    cp.left = left;
    checkpoint::store_checkpoint(state, cp).err().map(|e| {
        format!(
            "the checkpoint does not record what the change did ({e}); its rollback takes back every planned change that shows"
        )
    })
}

/// Drops a checkpoint whose change did not happen or was rolled back already.
pub fn disarm(state: &Path, cp: &Checkpoint) {
    let _ = checkpoint::clear_checkpoint(state);
    stop_watchdog(cp);
}

/// Takes back a crashed apply (switches changed since left alone).
fn restore_journal(state: &Path, j: &checkpoint::Journal) -> Result<Restored, String> {
    let mut target = j.before.clone();
    crate::netdev::firewall::keep_changed_switches(&mut target.firewall, &j.sysctls_set);
    roll_back_to(&target, j.done(state), None, &j.scope)
}

/// The PID of the apply that made a checkpoint (its token starts with it).
fn apply_pid(cp: &Checkpoint) -> Option<u32> {
    cp.token.split_once('-').and_then(|(p, _)| p.parse().ok())
}

/// Takes back a checkpoint's change and puts back the DHCP record from before it. The
/// ops come from the checkpoint once its apply recorded them; if the apply died before,
/// from its crash journal (what it finished), or all of the plan (it verified and died
/// just after). Returns whether the apply's crash journal was used (and is done with).
fn roll_back_checkpoint(state: &Path, cp: &Checkpoint) -> Result<(Restored, bool), String> {
    let mut target = cp.before.clone();
    crate::netdev::firewall::keep_changed_switches(&mut target.firewall, &cp.sysctls_set);
    let journal = checkpoint::stale_journal(state)
        .ok()
        .flatten()
        .filter(|j| Some(j.pid) == apply_pid(cp));
    let done = match (&cp.done, &journal) {
        (Some(done), _) => Some(Done::Ops(done.clone())),
        (None, Some(j)) => j.done(state),
        (None, None) if !cp.phases.is_empty() => {
            Some(Done::Ops(cp.phases.iter().flatten().cloned().collect()))
        }
        (None, None) => None,
    };
    let r = roll_back_to(&target, done, cp.left.as_ref(), &cp.scope)?;
    if let Err(e) = applied::store(state, &cp.applied_before) {
        return Err(format!(
            "restored the network, but not the record of DHCP networks: {e}"
        ));
    }
    Ok((r, journal.is_some()))
}

/// A checkpoint rolled back: it and the journal its apply left (if used) go.
fn settle(state: &Path, journal: bool) {
    let _ = checkpoint::clear_checkpoint(state);
    if journal {
        let _ = checkpoint::clear_journal(state);
    }
}

/// Starts `hostnet checkpoint-watchdog` in its own session, so that it outlives this
/// process and the terminal (an SSH session cut by the very change it guards).
fn spawn_watchdog(token: &str) -> std::io::Result<u32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(["checkpoint-watchdog", "--token", token])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe, and the closure touches nothing else between
    // fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    Ok(cmd.spawn()?.id())
}

/// What the watchdog finds in the checkpoint record.
enum Watched {
    Mine(Box<Checkpoint>),
    /// Committed, rolled back, or replaced by a newer checkpoint: nothing left to guard.
    Gone,
    /// The record could not be read: keep guarding (failing open would leave a change
    /// that cut the host off in place).
    Unreadable,
}

fn watched(state: &Path, token: &str) -> Watched {
    match checkpoint::load_checkpoint(state) {
        Ok(Some(cp)) if cp.token == token => Watched::Mine(Box::new(cp)),
        Ok(_) => Watched::Gone,
        Err(_) => Watched::Unreadable,
    }
}

/// What the watchdog did, for `hostnet commit` to say why there is nothing to commit:
/// `checkpoint/KEY.last-rollback.txt`, this namespace's own.
fn watchdog_log(state: &Path, line: &str) {
    if let Ok(path) = records::last_rollback_path(state) {
        let _ = std::fs::write(path, format!("{line}\n"));
    }
}

/// What the checkpoint watchdog last did here, while that is the latest word on this
/// namespace's changes. The watchdog writes its line and nothing rewrites it until it runs
/// again; an apply, commit or rollback since (each writes the applied record, the committed
/// state or a new checkpoint after it) makes the line history, and it is not shown.
/// `pending_created`: when the checkpoint pending now, if any, was armed.
pub fn watchdog_news(state: &Path, pending_created: Option<u64>) -> Option<String> {
    let path = records::last_rollback_path(state).ok()?;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let written = modified(&path)?;
    let committed = super::committed::path(&super::committed::lib_dir()).ok();
    let since = [
        applied::path_for_current_netns(state).ok(),
        committed.as_deref().map(super::committed_log::path),
        committed,
    ];
    if since
        .iter()
        .flatten()
        .any(|p| modified(p).is_some_and(|t| t > written))
    {
        return None;
    }
    let secs = written
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    // A checkpoint still pending from before the line (its rollback was incomplete) is
    // at least its timeout older; one armed since, even in the same second, is newer.
    if pending_created.is_some_and(|created| created >= secs) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The watchdog of checkpoint `token`: waits for its deadline, then takes the lock and
/// rolls the change back unless it was committed or rolled back meanwhile. False when
/// the rollback is incomplete (the checkpoint stays for `hostnet rollback`).
pub fn watch(token: &str) -> bool {
    let state = applied::state_dir();
    // Time the wait on the monotonic clock: a wall-clock step (NTP coming back once the
    // network changed) must not fire the rollback early or late.
    let remaining = match watched(&state, token) {
        Watched::Mine(cp) => cp.deadline.saturating_sub(checkpoint::now()),
        Watched::Gone => return true,
        Watched::Unreadable => 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(remaining);
    while std::time::Instant::now() < deadline {
        if let Watched::Gone = watched(&state, token) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    loop {
        let _lock = match lock::lock_current_netns(&lock::lock_dir(), Duration::from_secs(60)) {
            Ok(l) => l,
            // Someone holds the lock for long (a slow apply), or the lock file cannot be
            // opened right now: keep trying; giving up would leave the change in place.
            Err(_) => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let cp = match watched(&state, token) {
            Watched::Mine(cp) => cp,
            Watched::Gone => return true,
            Watched::Unreadable => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let when = checkpoint::when;
        return match roll_back_checkpoint(&state, &cp) {
            Ok((r, journal)) => {
                settle(&state, journal);
                watchdog_log(
                    &state,
                    &format!(
                        "{}: the change applied {} was not committed; rolled back ({}){}",
                        when(checkpoint::now()),
                        when(cp.created),
                        count(r.changes, "change", "changes"),
                        kept_lines(&r)
                    ),
                );
                true
            }
            Err(e) => {
                // The checkpoint stays, so that `hostnet rollback` can try again.
                watchdog_log(
                    &state,
                    &format!("{}: the change applied {} was not committed; the rollback is incomplete: {e}", when(checkpoint::now()), when(cp.created)),
                );
                false
            }
        };
    }
}

/// Why `hostnet commit` kept nothing.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// No checkpoint; `last` is what the watchdog last did here, line by line.
    #[error("no checkpoint is pending here; nothing to commit")]
    NothingPending { last: Vec<String> },
    #[error("cannot read the checkpoint")]
    Unreadable(#[source] RecordError),
    #[error("cannot remove the checkpoint; it stays pending")]
    CannotClear(#[source] RecordError),
}

/// Keeps a checkpoint's change: the checkpoint and its watchdog go, and its document
/// becomes the committed state for `hostnet restore`. Returns the checkpoint kept.
pub fn commit(state: &Path) -> Result<Checkpoint, CommitError> {
    let cp = match checkpoint::load_checkpoint(state) {
        Ok(Some(cp)) => cp,
        Ok(None) => {
            let last = watchdog_news(state, None).unwrap_or_default();
            let last = last.lines().map(str::to_string).collect();
            return Err(CommitError::NothingPending { last });
        }
        Err(e) => return Err(CommitError::Unreadable(e)),
    };
    checkpoint::clear_checkpoint(state).map_err(CommitError::CannotClear)?;
    stop_watchdog(&cp);
    if let Ok(doc) = crate::model::parse(&cp.document) {
        if let Err(e) = super::committed::record(&super::committed::lib_dir(), &doc) {
            tracing::warn!(
                "committed, but could not record the state for `hostnet restore`: {}",
                crate::error_chain(&e)
            );
        }
    }
    Ok(cp)
}

/// What `hostnet rollback` took back.
#[derive(Debug)]
pub enum RolledBack {
    /// A pending checkpoint's change (made at `created`).
    Checkpoint { created: u64, restored: Restored },
    /// The change of an apply that died (pid, start).
    Journal {
        pid: u32,
        started: u64,
        restored: Restored,
    },
}

/// Why `hostnet rollback` did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The checkpoint's rollback is incomplete (the reason); the checkpoint stays.
    #[error("the rollback is incomplete; the checkpoint stays")]
    Checkpoint(String),
    /// The crashed apply's rollback is incomplete (the reason); its journal stays.
    #[error("the rollback is incomplete; run `hostnet rollback` again or apply")]
    Journal(String),
    /// No checkpoint is pending and no apply died.
    #[error("nothing to roll back")]
    Nothing,
    #[error("cannot read the journal")]
    Unreadable(#[source] RecordError),
}

impl RollbackError {
    /// The process exit code (3: the host may be half-configured).
    pub fn exit_code(&self) -> i32 {
        match self {
            RollbackError::Checkpoint(_) | RollbackError::Journal(_) => 3,
            RollbackError::Nothing | RollbackError::Unreadable(_) => 1,
        }
    }
}

/// `hostnet rollback`: takes back the pending checkpoint's change, or else the change of
/// an apply that died.
pub fn rollback(state: &Path) -> Result<RolledBack, RollbackError> {
    if let Ok(Some(cp)) = checkpoint::load_checkpoint(state) {
        stop_watchdog(&cp);
        let (restored, journal) =
            roll_back_checkpoint(state, &cp).map_err(RollbackError::Checkpoint)?;
        settle(state, journal);
        return Ok(RolledBack::Checkpoint {
            created: cp.created,
            restored,
        });
    }
    match checkpoint::stale_journal(state) {
        Ok(Some(j)) => {
            let restored = restore_journal(state, &j).map_err(RollbackError::Journal)?;
            let _ = checkpoint::clear_journal(state);
            Ok(RolledBack::Journal {
                pid: j.pid,
                started: j.started,
                restored,
            })
        }
        Ok(None) => Err(RollbackError::Nothing),
        Err(e) => Err(RollbackError::Unreadable(e)),
    }
}
