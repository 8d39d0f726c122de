//! `hostnet commit`, `hostnet rollback`, `hostnet restore` and the checkpoint watchdog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::enter_netns;
use super::output::{count, print_error};
use crate::engine::checkpoint::{self, Checkpoint};
use crate::engine::lock::{self, NetnsLock};
use crate::engine::records;
use crate::engine::rollback::{Done, Restored};
use crate::engine::{self, applied, committed, ApplyError, ApplyOptions};
use crate::expand::{expand, Intent};
use crate::model::{parse, validate};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::{KernelState, Op};
use crate::plan::Scope;

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

/// Says so when an earlier apply died and left its journal; `what_now` ends the note.
pub fn report_stale_journal(state: &Path, what_now: &str) {
    if let Ok(Some(j)) = checkpoint::stale_journal(state) {
        tracing::warn!(
            "an apply (pid {}, started {}) did not finish ({} planned); {what_now}",
            j.pid,
            when(j.started),
            count(j.plan.len(), "change", "changes")
        );
    }
}

/// What to do about an apply that died, for `show`.
pub const STALE_JOURNAL_HINT: &str = "`hostnet rollback` returns to the state before it; `hostnet apply --discard-stale-journal` keeps what it did (apply refuses until one of them ran)";

fn enter_and_lock(args: &NetnsArgs) -> Result<NetnsLock, String> {
    enter_netns(args.netns.as_deref())?;
    lock::lock_current_netns(&lock::lock_dir(), Duration::from_secs(args.lock_timeout))
        .map_err(|e| format!("cannot take the hostnet lock: {e}"))
}

/// Removes what dead writers and gone namespaces left (see [`records::clean`]).
pub fn clean_records() {
    records::clean(
        &applied::state_dir(),
        &lock::lock_dir(),
        &committed::lib_dir(),
    );
}

/// Enters the namespace, takes its lock and runs `f` under it; failing either exits 1.
fn locked(args: &NetnsArgs, f: impl FnOnce() -> i32) -> i32 {
    match enter_and_lock(args) {
        Ok(_lock) => {
            clean_records();
            f()
        }
        Err(e) => {
            print_error(&e, &[]);
            1
        }
    }
}

fn netns_flag(netns: Option<&str>) -> String {
    netns.map(|n| format!(" --netns {n}")).unwrap_or_default()
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
        Some(done) => engine::rollback::roll_back(&mut driver, before, done, left, scope),
        None => engine::restore(&mut driver, before, Some(scope)).map(|changes| Restored {
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

/// What a finished rollback left because other tools changed it since, for its report.
fn kept_lines(r: &Restored) -> String {
    r.kept.iter().map(|k| format!("\n  kept: {k}")).collect()
}

/// Before the first change of `apply --confirm-timeout`: records the checkpoint and starts
/// the watchdog that rolls back at the deadline. Without a watchdog there is no guard, so
/// the apply does not start.
pub fn arm_checkpoint(
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
        sysctls_set: crate::firewall::plan::switches_set(plan),
        phases: engine::phases_of(plan),
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
/// once verified), for the rollback to take back exactly that.
pub fn checkpoint_done(
    state: &Path,
    cp: &mut Checkpoint,
    done: Vec<Op>,
    left: Option<KernelState>,
) {
    cp.done = Some(done);
    cp.left = left;
    if let Err(e) = checkpoint::store_checkpoint(state, cp) {
        eprintln!(
            "warning: the checkpoint does not record what the change did ({e}); its rollback takes back every planned change that shows"
        );
    }
}

/// Drops a checkpoint whose change did not happen or was rolled back already.
pub fn disarm(state: &Path, cp: &Checkpoint) {
    let _ = checkpoint::clear_checkpoint(state);
    stop_watchdog(cp);
}

/// Takes back a crashed apply (switches changed since left alone).
fn restore_journal(state: &Path, j: &checkpoint::Journal) -> Result<Restored, String> {
    let mut target = j.before.clone();
    crate::firewall::plan::keep_changed_switches(&mut target.firewall, &j.sysctls_set);
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
    crate::firewall::plan::keep_changed_switches(&mut target.firewall, &cp.sysctls_set);
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

pub fn watchdog(args: &WatchdogArgs) -> i32 {
    let state = applied::state_dir();
    // Time the wait on the monotonic clock: a wall-clock step (NTP coming back once the
    // network changed) must not fire the rollback early or late.
    let remaining = match watched(&state, &args.token) {
        Watched::Mine(cp) => cp.deadline.saturating_sub(checkpoint::now()),
        Watched::Gone => return 0,
        Watched::Unreadable => 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(remaining);
    while std::time::Instant::now() < deadline {
        if let Watched::Gone = watched(&state, &args.token) {
            return 0;
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
        let cp = match watched(&state, &args.token) {
            Watched::Mine(cp) => cp,
            Watched::Gone => return 0,
            Watched::Unreadable => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        return match roll_back_checkpoint(&state, &cp) {
            Ok((r, journal)) => {
                let _ = checkpoint::clear_checkpoint(&state);
                if journal {
                    let _ = checkpoint::clear_journal(&state);
                }
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
                0
            }
            Err(e) => {
                // The checkpoint stays, so that `hostnet rollback` can try again.
                watchdog_log(
                    &state,
                    &format!("{}: the change applied {} was not committed; the rollback is incomplete: {e}", when(checkpoint::now()), when(cp.created)),
                );
                1
            }
        };
    }
}

pub fn commit(args: &NetnsArgs) -> i32 {
    locked(args, commit_locked)
}

fn commit_locked() -> i32 {
    let state = applied::state_dir();
    let cp = match checkpoint::load_checkpoint(&state) {
        Ok(Some(cp)) => cp,
        Ok(None) => {
            let last = records::last_rollback_path(&state)
                .and_then(std::fs::read_to_string)
                .unwrap_or_default();
            let details: Vec<String> = last.lines().map(str::to_string).collect();
            print_error("no checkpoint is pending here; nothing to commit", &details);
            return 1;
        }
        Err(e) => {
            print_error("cannot read the checkpoint", &[e.to_string()]);
            return 1;
        }
    };
    if let Err(e) = checkpoint::clear_checkpoint(&state) {
        print_error(
            "cannot remove the checkpoint; it stays pending",
            &[e.to_string()],
        );
        return 1;
    }
    stop_watchdog(&cp);
    if let Ok(doc) = parse(&cp.document) {
        if let Err(e) = committed::record(&committed::lib_dir(), &doc) {
            tracing::warn!(
                "committed, but could not record the state for `hostnet restore`: {}",
                crate::error_chain(&e)
            );
        }
    }
    println!("Committed: the change applied {} stays.", when(cp.created));
    0
}

pub fn rollback(args: &NetnsArgs) -> i32 {
    locked(args, || rollback_locked(args))
}

fn rollback_locked(args: &NetnsArgs) -> i32 {
    let state = applied::state_dir();
    if let Ok(Some(cp)) = checkpoint::load_checkpoint(&state) {
        stop_watchdog(&cp);
        return match roll_back_checkpoint(&state, &cp) {
            Ok((r, journal)) => {
                let _ = checkpoint::clear_checkpoint(&state);
                if journal {
                    let _ = checkpoint::clear_journal(&state);
                }
                println!(
                    "Rolled back the change applied {} ({}).{}",
                    when(cp.created),
                    count(r.changes, "change", "changes"),
                    kept_lines(&r)
                );
                0
            }
            Err(e) => {
                print_error("the rollback is incomplete; the checkpoint stays", &[e]);
                3
            }
        };
    }
    match checkpoint::stale_journal(&state) {
        Ok(Some(j)) => match restore_journal(&state, &j) {
            Ok(r) => {
                let _ = checkpoint::clear_journal(&state);
                println!(
                    "Returned to the state before the apply that did not finish (pid {}, started {}): {}.{}",
                    j.pid,
                    when(j.started),
                    count(r.changes, "change", "changes"),
                    kept_lines(&r)
                );
                0
            }
            Err(e) => {
                print_error(
                    "the rollback is incomplete; run `hostnet rollback` again or apply",
                    &[e],
                );
                3
            }
        },
        Ok(None) => {
            print_error(
                &format!(
                    "nothing to roll back: no checkpoint is pending{} and no apply died",
                    netns_flag(args.netns.as_deref()).replace(" --netns ", " in ")
                ),
                &[],
            );
            1
        }
        Err(e) => {
            print_error("cannot read the journal", &[e.to_string()]);
            1
        }
    }
}

/// The committed intent split into units: one per network (its devices, tables and
/// rules), then the rest (interfaces, routes, rules), so that one network whose NIC is
/// missing does not keep the others down.
fn units(intent: &Intent) -> Vec<(String, Intent)> {
    let mut claimed = BTreeSet::new();
    let mut out = Vec::new();
    for n in &intent.networks {
        let mut unit = Intent {
            networks: vec![n.clone()],
            persisted: intent.persisted.clone(),
            ..Intent::default()
        };
        for (name, li) in intent.links.iter().filter(|(_, li)| li.origin == n.origin) {
            unit.links.insert(name.clone(), li.clone());
            claimed.insert(name.clone());
        }
        out.push((format!("network {}", n.name), unit));
    }
    let mut rest = intent.clone();
    rest.networks.clear();
    rest.links.retain(|name, _| !claimed.contains(name));
    // Last: user routes and rules may need the networks' bridges.
    out.push(("interfaces, routes and rules".to_string(), rest));
    out
}

pub fn restore(args: &RestoreArgs) -> i32 {
    locked(&args.netns, || restore_locked(args.discard_stale_journal))
}

fn restore_locked(discard_stale_journal: bool) -> i32 {
    let dir = committed::lib_dir();
    let doc = match committed::load(&dir) {
        Ok(Some(d)) => d,
        Ok(None) => {
            let path = committed::path(&dir).unwrap_or_else(|_| PathBuf::from("?"));
            print_error(
                &format!(
                    "nothing is committed here ({} does not exist)",
                    path.display()
                ),
                &[],
            );
            return 1;
        }
        Err(e) => {
            print_error("cannot read the committed state", &[e.to_string()]);
            return 1;
        }
    };
    let mut intent = match validate(&doc)
        .map_err(|e| e.to_string())
        .and_then(|()| expand(&doc).map_err(|e| e.to_string()))
    {
        Ok(i) => i,
        Err(e) => {
            print_error("the committed state is not valid", &[e]);
            return 2;
        }
    };
    let mut driver = match LinuxDriver::new() {
        Ok(d) => d,
        Err(e) => {
            print_error("cannot open netlink", &[e.to_string()]);
            return 1;
        }
    };
    let state = applied::state_dir();
    if let Ok(a) = applied::load(&state) {
        a.reserve_others(&mut intent);
    }
    let opts = ApplyOptions {
        dry_run: false,
        journal: Some(state.clone()),
        discard_stale_journal,
    };
    // Everything at once when it can be planned; unit by unit when something is missing.
    let whole = engine::apply(&mut driver, &intent, opts.clone(), |_, _| Ok(()));
    let results: Vec<(String, Result<engine::Report, ApplyError>)> = match whole {
        Err(ApplyError::Plan(_)) => units(&intent)
            .into_iter()
            .map(|(label, unit)| {
                let r = engine::apply(&mut driver, &unit, opts.clone(), |_, _| Ok(()));
                (label, r)
            })
            .collect(),
        other => vec![("everything".to_string(), other)],
    };
    let _ = applied::record(&state, &intent);
    let mut failed = 0;
    for (label, r) in &results {
        match r {
            Ok(rep) => println!(
                "restored {label}: {}",
                count(rep.plan.len(), "change", "changes")
            ),
            Err(e) => {
                failed += 1;
                println!("NOT restored {label}: {e}");
                for d in e.details() {
                    println!("  {d}");
                }
            }
        }
    }
    i32::from(failed > 0)
}
