//! `hostnet commit`, `hostnet rollback`, `hostnet restore` and the checkpoint watchdog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::enter_netns;
use super::output::{count, print_error};
use crate::engine::checkpoint::{self, Checkpoint};
use crate::engine::lock::{self, NetnsLock};
use crate::engine::{self, applied, committed, ApplyError, ApplyOptions};
use crate::expand::{expand, Intent};
use crate::model::{parse, validate};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::KernelState;
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

/// `hostnet checkpoint-watchdog`.
#[derive(Debug, clap::Args)]
pub struct WatchdogArgs {
    /// The checkpoint this watchdog guards.
    #[arg(long)]
    pub token: String,
}

/// A time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(epoch: u64) -> String {
    let days = i64::try_from(epoch / 86_400).unwrap_or(0);
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Says so when an earlier apply died and left its journal.
pub fn report_stale_journal(state: &Path) {
    if let Ok(Some(j)) = checkpoint::stale_journal(state) {
        tracing::warn!(
            "an apply (pid {}, started {}) did not finish ({} planned); `hostnet rollback` returns to the state before it, `hostnet apply` converges from here",
            j.pid,
            when(j.started),
            count(j.plan.len(), "change", "changes")
        );
    }
}

fn enter_and_lock(args: &NetnsArgs) -> Result<NetnsLock, String> {
    enter_netns(args.netns.as_deref())?;
    lock::lock_current_netns(
        Path::new(lock::LOCK_DIR),
        Duration::from_secs(args.lock_timeout),
    )
    .map_err(|e| format!("cannot take the hostnet lock: {e}"))
}

/// Enters the namespace, takes its lock and runs `f` under it; failing either exits 1.
fn locked(args: &NetnsArgs, f: impl FnOnce() -> i32) -> i32 {
    match enter_and_lock(args) {
        Ok(_lock) => f(),
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

fn restore_to(before: &KernelState, scope: &Scope) -> Result<usize, String> {
    let mut driver = LinuxDriver::new().map_err(|e| format!("cannot open netlink: {e}"))?;
    engine::restore(&mut driver, before, Some(scope)).map_err(|e| {
        let mut lines = vec![e.to_string()];
        lines.extend(e.details());
        lines.join("\n  ")
    })
}

/// Before the first change of `apply --confirm-timeout`: records the checkpoint and starts
/// the watchdog that rolls back at the deadline. Without a watchdog there is no guard, so
/// the apply does not start.
pub fn arm_checkpoint(
    state: &Path,
    secs: u64,
    document: &str,
    before: KernelState,
    scope: Scope,
    applied_before: applied::Applied,
    sysctls_set: std::collections::BTreeMap<String, String>,
) -> Result<Checkpoint, String> {
    let created = checkpoint::now();
    let mut cp = Checkpoint {
        token: format!("{}-{created}", std::process::id()),
        created,
        deadline: created + secs,
        document: document.to_string(),
        watchdog_pid: None,
        scope,
        applied_before,
        before,
        sysctls_set,
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

/// Drops a checkpoint whose change did not happen or was rolled back already.
pub fn disarm(state: &Path, cp: &Checkpoint) {
    let _ = checkpoint::clear_checkpoint(state);
    stop_watchdog(cp);
}

/// Restores the state before a crashed apply (switches changed since left alone).
fn restore_journal(j: &checkpoint::Journal) -> Result<usize, String> {
    let mut target = j.before.clone();
    crate::firewall::plan::keep_changed_switches(&mut target.firewall, &j.sysctls_set);
    restore_to(&target, &j.scope)
}

/// Restores a checkpoint's state and the DHCP record from before it.
fn roll_back_checkpoint(state: &Path, cp: &Checkpoint) -> Result<usize, String> {
    let mut target = cp.before.clone();
    crate::firewall::plan::keep_changed_switches(&mut target.firewall, &cp.sysctls_set);
    let n = restore_to(&target, &cp.scope)?;
    if let Err(e) = applied::store(state, &cp.applied_before) {
        return Err(format!(
            "restored the network, but not the record of DHCP networks: {e}"
        ));
    }
    Ok(n)
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

fn watchdog_log(state: &Path, line: &str) {
    let _ = std::fs::write(
        state.join("checkpoint").join("last-rollback.txt"),
        format!("{line}\n"),
    );
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
        let _lock =
            match lock::lock_current_netns(Path::new(lock::LOCK_DIR), Duration::from_secs(60)) {
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
            Ok(n) => {
                let _ = checkpoint::clear_checkpoint(&state);
                watchdog_log(
                    &state,
                    &format!(
                        "{}: the change applied {} was not committed; rolled back ({})",
                        when(checkpoint::now()),
                        when(cp.created),
                        count(n, "change", "changes")
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
            let last = std::fs::read_to_string(state.join("checkpoint").join("last-rollback.txt"))
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
            Ok(n) => {
                let _ = checkpoint::clear_checkpoint(&state);
                println!(
                    "Rolled back the change applied {} ({}).",
                    when(cp.created),
                    count(n, "change", "changes")
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
        Ok(Some(j)) => match restore_journal(&j) {
            Ok(n) => {
                let _ = checkpoint::clear_journal(&state);
                println!(
                    "Returned to the state before the apply that did not finish (pid {}, started {}): {}.",
                    j.pid,
                    when(j.started),
                    count(n, "change", "changes")
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

pub fn restore(args: &NetnsArgs) -> i32 {
    locked(args, restore_locked)
}

fn restore_locked() -> i32 {
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
