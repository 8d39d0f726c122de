//! Records that outlive the process that wrote them.
//!
//! * The **journal** of an apply in progress: the state before it and its plan, written
//!   before the first change and removed once the apply is verified or rolled back. One
//!   left behind means the apply died (SIGKILL, power to the process cut): the next
//!   command says so, `hostnet rollback` returns to the state before it, and a new
//!   `hostnet apply` converges and removes it.
//! * The **checkpoint** of an apply awaiting `hostnet commit`: the state before it and the
//!   deadline after which a watchdog process (which outlives the apply and the user's SSH
//!   session) rolls back.
//!
//! Both live under the state directory (`/run/hostnet`), keyed by the namespace like the
//! lock, and are written atomically.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::files::{read, remove, write_atomically, IoError, IoFailure};
use crate::firewall::{BackendKind, BackendState, FirewallState};
use crate::netdev::{KernelState, Op};
use crate::plan::Scope;

/// A record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} is not a hostnet record", path.display())]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl From<IoFailure> for RecordError {
    fn from(f: IoFailure) -> Self {
        RecordError::Io(f.into())
    }
}

/// The journal of an apply in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub pid: u32,
    /// Seconds since the epoch.
    pub started: u64,
    /// The plan, one line per op, for the report.
    pub plan: Vec<String>,
    /// What the plan touches: all a rollback restores.
    pub scope: Scope,
    pub before: KernelState,
    /// The firewall switches (sysctls) the change writes, with their values: one someone
    /// changed after the apply is left alone by the rollback.
    #[serde(default)]
    pub sysctls_set: std::collections::BTreeMap<String, String>,
    /// The plan's non-empty phases: with the count of phases finished (`KEY.progress`),
    /// what the apply carried out. Empty in a journal of an older hostnet.
    #[serde(default)]
    pub phases: Vec<Vec<Op>>,
    /// Exactly what was carried out, once known (an incomplete rollback keeps the
    /// journal with it).
    #[serde(default)]
    pub done: Option<Vec<Op>>,
}

impl Journal {
    /// What the apply carried out, as far as this record tells: `None` for a journal of
    /// an older hostnet, which recorded no ops.
    pub fn done(&self, dir: &Path) -> Option<super::rollback::Done> {
        if let Some(done) = &self.done {
            return Some(super::rollback::Done::Ops(done.clone()));
        }
        if self.phases.is_empty() && !self.plan.is_empty() {
            return None;
        }
        let (completed, partial) = progress(dir);
        Some(super::rollback::Done::Phases {
            phases: self.phases.clone(),
            completed,
            partial,
        })
    }
}

/// What of `before`, the state before an apply, its crash journal keeps for the rollback.
/// The rollback of a plan that changed nothing netlink shows (`beside_netlink`: firewall
/// rules only) looks at no link, address, route or rule: its scope covers none, and
/// undoing its ops reads only the firewall's state. Its journal leaves them out, which
/// are most of the state: at 1,000 networks about 1 MB of JSON, written and synced
/// before the first change.
///
/// Of the firewall, only what the rollback can converge is kept ([`firewall_in`]): the
/// networks in `scope`, not every network's rules (a one-network change among 1,000
/// wrote about 400 KB of them).
pub fn rollback_needs(before: &KernelState, beside_netlink: bool, scope: &Scope) -> KernelState {
    let firewall = firewall_in(&before.firewall, scope);
    if !beside_netlink {
        let mut all = before.clone();
        all.firewall = firewall;
        return all;
    }
    KernelState {
        ovs: before.ovs.clone(),
        firewall,
        dhcp_servers: before.dhcp_servers.clone(),
        ..KernelState::default()
    }
}

/// The firewall state a rollback within `scope` converges to: each backend's skeleton,
/// the sysctls, and the networks whose ops the scope covers (`BACKEND/NAME`, or all of
/// a backend's when the plan re-created its skeleton, `BACKEND/*`). A rollback plans
/// from this state and keeps only the ops its scope covers, so a network left out here
/// is one it never touches.
pub fn firewall_in(fw: &FirewallState, scope: &Scope) -> FirewallState {
    let mut out = FirewallState {
        sysctls: fw.sysctls.clone(),
        read: fw.read,
        ..FirewallState::default()
    };
    for b in [BackendKind::Nftables, BackendKind::Iptables] {
        let from = fw.backend(b);
        let all = scope.firewall.contains(&format!("{b}/*"));
        *out.backend_mut(b) = BackendState {
            base: from.base.clone(),
            networks: from
                .networks
                .iter()
                .filter(|(n, _)| all || scope.firewall.contains(&format!("{b}/{n}")))
                .map(|(n, s)| (n.clone(), s.clone()))
                .collect(),
            forward_policy_drop: from.forward_policy_drop.clone(),
        };
    }
    out
}

/// An applied change awaiting `hostnet commit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Ties the watchdog to this checkpoint (a later one must not be rolled back by an
    /// earlier watchdog).
    pub token: String,
    pub created: u64,
    /// Seconds since the epoch after which the watchdog rolls back.
    pub deadline: u64,
    /// The document applied, recorded as committed on `hostnet commit`.
    pub document: String,
    pub watchdog_pid: Option<u32>,
    /// What the change touches: all a rollback restores.
    pub scope: Scope,
    /// The record of DHCP networks from before the change, put back on rollback.
    pub applied_before: crate::engine::applied::Applied,
    pub before: KernelState,
    /// The firewall switches (sysctls) the change writes, with their values: one someone
    /// changed after the apply is left alone by the rollback.
    #[serde(default)]
    pub sysctls_set: std::collections::BTreeMap<String, String>,
    /// The plan's non-empty phases (all carried out once the change verified).
    #[serde(default)]
    pub phases: Vec<Vec<Op>>,
    /// What the change carried out, once the apply knows (it verified, or it failed and
    /// the rollback is incomplete); `None` while it runs, or if it died.
    #[serde(default)]
    pub done: Option<Vec<Op>>,
    /// The state read when the change verified: a rollback leaves what differs from it
    /// (another tool's doing since).
    #[serde(default)]
    pub left: Option<KernelState>,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn path(dir: &Path, kind: &str) -> Result<PathBuf, RecordError> {
    super::records::locate(dir, kind, "json")
        .map_err(|e| RecordError::from(super::records::identify_error(e)))
}

fn store<T: Serialize>(dir: &Path, kind: &str, value: &T) -> Result<(), RecordError> {
    let p = path(dir, kind)?;
    let bytes = serde_json::to_vec(value).map_err(|source| RecordError::Format {
        path: p.clone(),
        source,
    })?;
    Ok(write_atomically(&p, &bytes)?)
}

fn load<T: for<'de> Deserialize<'de>>(dir: &Path, kind: &str) -> Result<Option<T>, RecordError> {
    let p = path(dir, kind)?;
    match read(&p)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| RecordError::Format { path: p, source }),
    }
}

fn clear(dir: &Path, kind: &str) -> Result<(), RecordError> {
    Ok(remove(&path(dir, kind)?)?)
}

/// The journal is not synced: it lives under the runtime directory (a tmpfs) and must
/// outlive its apply's death, not the machine's (after a power loss there is nothing to
/// roll back); like its progress lines, which were never synced. Two syncs were about
/// 5 ms of every apply here, 25 ms under the disk load of other processes.
pub fn store_journal(dir: &Path, j: &Journal) -> Result<(), RecordError> {
    let p = path(dir, "journal")?;
    let bytes = serde_json::to_vec(j).map_err(|source| RecordError::Format {
        path: p.clone(),
        source,
    })?;
    Ok(crate::files::replace_runtime_file(&p, &bytes)?)
}

pub fn load_journal(dir: &Path) -> Result<Option<Journal>, RecordError> {
    load(dir, "journal")
}

pub fn clear_journal(dir: &Path) -> Result<(), RecordError> {
    remove(&progress_path(dir)?)?;
    clear(dir, "journal")
}

fn progress_path(dir: &Path) -> Result<PathBuf, RecordError> {
    super::records::locate(dir, "journal", "progress")
        .map_err(|e| RecordError::from(super::records::identify_error(e)))
}

/// Starts counting an apply's finished phases from none.
pub fn start_progress(dir: &Path) -> Result<(), RecordError> {
    Ok(remove(&progress_path(dir)?)?)
}

/// Notes that the journaled apply starts (`start`) or finished (`done`) its next phase:
/// one line each, appended (no rewrite of the journal, which holds the whole state
/// before).
pub fn mark_phase(dir: &Path, what: &str) -> Result<(), RecordError> {
    use std::io::Write;
    let p = progress_path(dir)?;
    let io = |action: &'static str, p: &Path| {
        let io = IoError::on(action, p);
        move |source| RecordError::Io(io(source))
    };
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(io("open", &p))?;
    f.write_all(format!("{what}\n").as_bytes())
        .map_err(io("write", &p))
}

/// How many phases the journaled apply finished, and whether it had started the next.
pub fn progress(dir: &Path) -> (usize, bool) {
    let text = progress_path(dir)
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let done = text.lines().filter(|l| *l == "done").count();
    (done, text.lines().last() == Some("start"))
}

pub fn store_checkpoint(dir: &Path, c: &Checkpoint) -> Result<(), RecordError> {
    store(dir, "checkpoint", c)
}

pub fn load_checkpoint(dir: &Path) -> Result<Option<Checkpoint>, RecordError> {
    load(dir, "checkpoint")
}

pub fn clear_checkpoint(dir: &Path) -> Result<(), RecordError> {
    clear(dir, "checkpoint")
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

/// True when `pid` is a running hostnet process whose command line contains `needle`:
/// a PID alone may have been reused by anything since it was recorded.
pub fn is_hostnet_process(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        args.first().is_some_and(|a| a.ends_with("hostnet")) && args.iter().any(|a| a == needle)
    })
}

/// A journal whose apply is no longer running: the apply died.
pub fn stale_journal(dir: &Path) -> Result<Option<Journal>, RecordError> {
    Ok(load_journal(dir)?
        .filter(|j| j.pid != std::process::id() && !is_hostnet_process(j.pid, "apply")))
}
