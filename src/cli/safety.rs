//! `hostnet commit`, `hostnet rollback`, `hostnet restore` and the checkpoint watchdog:
//! their arguments and what they print; the engine's session ([`crate::engine::session`])
//! does the work.

use std::time::Duration;

use super::enter_netns;
use super::output::{count, print_error};
use crate::engine::guard::{self, kept_lines, CommitError, RollbackError, RolledBack};
use crate::engine::restore_committed::RestoreError;
use crate::engine::session::Session;

/// The namespace a command acts on.
#[derive(Debug, clap::Args)]
pub struct NetnsArgs {
    /// Act inside the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Seconds to wait for another hostnet command on the same namespace.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

/// `hostnet restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub netns: NetnsArgs,
    /// An earlier apply died: keep what it did, forget its journal, and restore.
    #[arg(long)]
    pub discard_stale_journal: bool,
}

/// `hostnet checkpoint-watchdog`.
#[derive(Debug, clap::Args)]
pub struct WatchdogArgs {
    /// The checkpoint this watchdog guards.
    #[arg(long)]
    pub token: String,
}

pub use crate::engine::checkpoint::when;
pub use crate::engine::session::report_stale_journal;

/// What to do about an apply that died, for `show`.
pub const STALE_JOURNAL_HINT: &str = "`hostnet rollback` returns to the state before it; `hostnet apply --discard-stale-journal` keeps what it did (apply refuses until one of them ran)";

/// Enters the namespace and starts a session there (its lock taken, stale records
/// cleaned), and runs `f` in it: a namespace that is not there exits 2 (bad input), a
/// lock not had in time 1.
fn locked(args: &NetnsArgs, f: impl FnOnce(&Session) -> i32) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return super::NETNS_ERROR;
    }
    match Session::command(Duration::from_secs(args.lock_timeout)) {
        Ok(session) => f(&session),
        Err(e) => {
            print_error(&format!("cannot take the hostnet lock: {e}"), &[]);
            1
        }
    }
}

fn netns_flag(netns: Option<&str>) -> String {
    netns.map(|n| format!(" --netns {n}")).unwrap_or_default()
}

pub fn watchdog(args: &WatchdogArgs) -> i32 {
    if guard::watch(&args.token) {
        0
    } else {
        1
    }
}

pub fn commit(args: &NetnsArgs) -> i32 {
    locked(args, |session| match session.commit() {
        Ok(cp) => {
            outln!("Committed: the change applied {} stays.", when(cp.created));
            0
        }
        Err(e) => {
            let details = match &e {
                CommitError::NothingPending { last } => last.clone(),
                CommitError::Unreadable(e) | CommitError::CannotClear(e) => vec![e.to_string()],
            };
            print_error(&e.to_string(), &details);
            1
        }
    })
}

pub fn rollback(args: &NetnsArgs) -> i32 {
    locked(args, |session| match session.rollback() {
        Ok(RolledBack::Checkpoint { created, restored }) => {
            outln!(
                "Rolled back the change applied {} ({}).{}",
                when(created),
                count(restored.changes, "change", "changes"),
                kept_lines(&restored)
            );
            0
        }
        Ok(RolledBack::Journal {
            pid,
            started,
            restored,
        }) => {
            outln!(
                "Returned to the state before the apply that did not finish (pid {pid}, started {}): {}.{}",
                when(started),
                count(restored.changes, "change", "changes"),
                kept_lines(&restored)
            );
            0
        }
        Err(e) => {
            match &e {
                RollbackError::Checkpoint(why) | RollbackError::Journal(why) => {
                    print_error(&e.to_string(), std::slice::from_ref(why));
                }
                RollbackError::Nothing => print_error(
                    &format!(
                        "nothing to roll back: no checkpoint is pending{} and no apply died",
                        netns_flag(args.netns.as_deref()).replace(" --netns ", " in ")
                    ),
                    &[],
                ),
                RollbackError::Unreadable(inner) => {
                    print_error(&e.to_string(), &[inner.to_string()]);
                }
            }
            e.exit_code()
        }
    })
}

pub fn restore(args: &RestoreArgs) -> i32 {
    locked(&args.netns, |session| {
        let results = match session.restore_committed(args.discard_stale_journal) {
            Ok(r) => r,
            Err(e) => {
                let details = match &e {
                    RestoreError::NothingCommitted(_) => Vec::new(),
                    RestoreError::Invalid(why) => vec![why.clone()],
                    RestoreError::Unreadable(inner) => vec![inner.to_string()],
                    RestoreError::Netlink(inner) => vec![inner.to_string()],
                };
                print_error(&e.to_string(), &details);
                return e.exit_code();
            }
        };
        let mut failed = 0;
        for (label, r) in &results {
            match r {
                Ok(rep) => outln!(
                    "restored {label}: {}",
                    count(rep.plan.len(), "change", "changes")
                ),
                Err(e) => {
                    failed += 1;
                    outln!("NOT restored {label}: {e}");
                    for d in e.details() {
                        outln!("  {d}");
                    }
                }
            }
        }
        i32::from(failed > 0)
    })
}
