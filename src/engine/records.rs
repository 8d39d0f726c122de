//! Where the engine's per-namespace records live, and the cleaning of what is left over.
//!
//! Every record is keyed by [`NetnsId::key`]: the host's namespace is `host`, a named
//! one `netns.NAME`, an unnamed one `anon.INODE.COOKIE`. Runtime records (under the state
//! directory, `/run/hostnet`): `journal/KEY.json` and its `KEY.progress`,
//! `checkpoint/KEY.json` and `KEY.last-rollback.txt`, `applied/KEY.json`, and the
//! committed state of unnamed namespaces (`committed/KEY.yaml` and its log of changes
//! `KEY.changes`, which cannot outlive them); the lock is `locks/KEY.lock` there too.
//! Persistent records (under `/var/lib/hostnet`): `committed/host.yaml` and
//! `committed/netns.NAME.yaml`, each with its `.changes`.
//!
//! An older hostnet keyed records of namespaces other than the host's by the namespace's
//! cookie (`netns-cookie-N`). A runtime record of the calling thread's namespace under
//! that key is used where it is until it is gone (a pending checkpoint keeps its
//! watchdog); a committed one is moved to the new key the first time it is looked for.
//!
//! [`clean`] removes what nothing will read again: temporary files of writers that died
//! (SIGKILL between write and rename), and the runtime records and locks of namespaces
//! that no longer exist. It never removes a record whose process (an apply's PID, a
//! checkpoint's watchdog) still runs, nor a lock someone holds.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::files::{read, remove, write_atomically};
use crate::netdev::netns_id::{self, Liveness, NetnsId};

/// The calling thread's namespace.
pub fn here() -> io::Result<NetnsId> {
    NetnsId::current()
}

/// The failure of identifying the namespace, as the records report it.
pub fn identify_error(source: io::Error) -> (&'static str, PathBuf, io::Error) {
    (
        "identify the network namespace of",
        PathBuf::from(crate::netdev::netns_id::SELF_NS),
        source,
    )
}

/// `DIR/KIND/KEY.EXT` of the calling thread's namespace, or the same record under the key
/// an older hostnet gave it, if that one exists and the new one does not.
pub fn locate(dir: &Path, kind: &str, ext: &str) -> io::Result<PathBuf> {
    let id = here()?;
    let new = dir.join(kind).join(format!("{}.{ext}", id.key()));
    if id == NetnsId::Host || new.exists() {
        return Ok(new);
    }
    let old = dir
        .join(kind)
        .join(format!("{}.{ext}", netns_id::legacy_key()?));
    Ok(if old.exists() { old } else { new })
}

/// The committed document's file of the calling thread's namespace: persistent for the
/// host's and named namespaces, runtime for unnamed ones. One an older hostnet left
/// under the namespace's cookie is moved there first.
pub fn committed_path(lib: &Path, state: &Path) -> io::Result<PathBuf> {
    let id = here()?;
    let base = if id.persistent() { lib } else { state };
    let new = base.join("committed").join(format!("{}.yaml", id.key()));
    if id != NetnsId::Host && !new.exists() {
        let old = lib
            .join("committed")
            .join(format!("{}.yaml", netns_id::legacy_key()?));
        if let Ok(Some(bytes)) = read(&old) {
            write_atomically(&new, &bytes).map_err(|(_, _, e)| e)?;
            remove(&old).map_err(|(_, _, e)| e)?;
        }
    }
    Ok(new)
}

/// `DIR/checkpoint/KEY.last-rollback.txt`: what the watchdog last did here.
pub fn last_rollback_path(dir: &Path) -> io::Result<PathBuf> {
    Ok(dir
        .join("checkpoint")
        .join(format!("{}.last-rollback.txt", here()?.key())))
}

/// The writer of a temporary file: `.NAME.tmp.PID.START` ([`crate::files::tmp_name`]),
/// or an older hostnet's `.NAME.tmp.PID` / `NAME.tmp.PID` (no start time).
fn tmp_writer(file: &str) -> Option<(u32, Option<u64>)> {
    let (_, writer) = file.rsplit_once(".tmp.")?;
    match writer.split_once('.') {
        Some((pid, start)) => Some((pid.parse().ok()?, Some(start.parse().ok()?))),
        None => Some((writer.parse().ok()?, None)),
    }
}

/// Whether the writer of temporary file `path` may still be writing it: the process with
/// its PID runs and started when the writer did. A name without a start time (an older
/// hostnet's) counts as live while a process with the PID runs that started before the
/// file was last written (a later one cannot be its writer). The writer's program name
/// is not looked at: a copy of hostnet under another name writes the same files.
fn writer_runs(path: &Path, pid: u32, start: Option<u64>) -> bool {
    let Some(now) = crate::files::start_ticks(pid) else {
        return false;
    };
    match start {
        Some(start) => start == now,
        None => !started_after_mtime(path, now),
    }
}

/// Whether a process that started `ticks` after boot started after `path` was last
/// written (with a second's margin: the boot time is known to the second).
fn started_after_mtime(path: &Path, ticks: u64) -> bool {
    let boot = fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|b| b.trim().parse::<u64>().ok())
    });
    // SAFETY: sysconf only reads a configuration value.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(0);
    let mtime = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    match (boot, mtime) {
        (Some(boot), Some(mtime)) if hz > 0 => boot + ticks / hz > mtime.as_secs() + 1,
        _ => false,
    }
}

/// True when process `pid` runs. A record's owner (an apply's PID, a checkpoint's
/// watchdog) is kept while any process has its PID: keeping a record one run too long
/// costs nothing, removing a live one breaks its owner.
fn process_runs(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The namespace key of a record file (`KEY.json`, `KEY.progress`, `KEY.lock`, ...).
fn key_of(file: &str) -> &str {
    for ext in [
        ".last-rollback.txt",
        ".progress",
        ".json",
        ".yaml",
        ".changes",
        ".lock",
    ] {
        if let Some(k) = file.strip_suffix(ext) {
            return k;
        }
    }
    file
}

/// The PID a runtime record names as its owner (a journal's apply, a checkpoint's
/// watchdog), if it names one.
fn owner(path: &Path) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    v.get("watchdog_pid")
        .and_then(serde_json::Value::as_u64)
        .or_else(|| v.get("pid").and_then(serde_json::Value::as_u64))
        .and_then(|p| u32::try_from(p).ok())
}

/// What a cleaning removed, for tests and `-v` output.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub temporary: Vec<PathBuf>,
    pub records: Vec<PathBuf>,
}

fn clean_dir(dir: &Path, own: &str, live: &mut Liveness, out: &mut Cleaned) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if let Some((pid, start)) = tmp_writer(&name) {
            if !writer_runs(&path, pid, start) && fs::remove_file(&path).is_ok() {
                out.temporary.push(path);
            }
            continue;
        }
        let key = key_of(&name);
        if key == own || live.alive(key) != Some(false) {
            continue;
        }
        if owner(&path).is_some_and(process_runs) {
            continue;
        }
        let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
            // An unnamed namespace's DHCP servers: no process runs in a namespace that
            // is gone.
            fs::remove_dir_all(&path).is_ok()
        } else {
            fs::remove_file(&path).is_ok()
        };
        if gone {
            out.records.push(path);
        }
    }
}

/// Removes lock files of namespaces that are gone, each only while holding it (taken
/// without waiting), so that no one holds or waits for a lock file that is unlinked
/// under them (they check after locking; see [`super::lock`]). Lock files of an older
/// hostnet (`netns-cookie-N.lock`) go the same way when no one holds them.
fn clean_locks(dir: &Path, own: &str, live: &mut Liveness, out: &mut Cleaned) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".lock") else {
            continue;
        };
        let legacy = key.starts_with("netns-");
        if key == own || (!legacy && live.alive(key) != Some(false)) {
            continue;
        }
        let Ok(f) = fs::OpenOptions::new().read(true).open(e.path()) else {
            continue;
        };
        if f.try_lock().is_ok() && fs::remove_file(e.path()).is_ok() {
            out.records.push(e.path());
        }
    }
}

/// Removes dead writers' temporary files and the runtime records of namespaces that no
/// longer exist, under the state directory `state`, the lock directory `locks` and the
/// persistent directory `lib` (temporary files only: persistent records of named
/// namespaces are kept for when the name comes back). Best effort: what cannot be
/// removed stays for the next time.
pub fn clean(state: &Path, locks: &Path, lib: &Path) -> Cleaned {
    let mut out = Cleaned::default();
    let own = here().map(|id| id.key()).unwrap_or_default();
    let mut live = Liveness::new();
    for kind in ["journal", "checkpoint", "applied", "committed", "dnsmasq"] {
        clean_dir(&state.join(kind), &own, &mut live, &mut out);
    }
    clean_locks(locks, &own, &mut live, &mut out);
    // Persistent records: only what a dead writer left half-written.
    clean_tmp_only(&lib.join("committed"), &mut out);
    out
}

fn clean_tmp_only(dir: &Path, out: &mut Cleaned) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if tmp_writer(&name).is_some_and(|(pid, start)| !writer_runs(&e.path(), pid, start))
            && fs::remove_file(e.path()).is_ok()
        {
            out.temporary.push(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committed store's log of changes goes with its namespace like the store.
    #[test]
    fn every_record_of_a_namespace_has_its_key() {
        for f in [
            "anon.4026.77.yaml",
            "anon.4026.77.changes",
            "anon.4026.77.json",
            "anon.4026.77.progress",
            "anon.4026.77.last-rollback.txt",
        ] {
            assert_eq!(key_of(f), "anon.4026.77", "{f}");
        }
    }

    #[test]
    fn temporary_files_of_dead_writers_go_and_live_ones_stay() {
        let state = tempfile::tempdir().expect("tempdir");
        let lib = tempfile::tempdir().expect("tempdir");
        let locks = tempfile::tempdir().expect("tempdir");
        let j = state.path().join("journal");
        fs::create_dir_all(&j).expect("dir");
        let own = std::process::id();
        let started = crate::files::start_ticks(own).expect("own start time");
        let long_ago =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
        let write = |name: &str, mtime: Option<std::time::SystemTime>| {
            let p = j.join(name);
            let f = fs::File::create(&p).expect("create");
            if let Some(t) = mtime {
                f.set_modified(t).expect("mtime");
            }
            p
        };
        // This test's own process is the writer, and its program is not called
        // "hostnet": what a copy of hostnet under another name looks like to a cleaner.
        // Before, such a writer's files were removed under it.
        let live = [
            j.join(crate::files::tmp_name("host.json")),
            write(&format!(".host.json.tmp.{own}.{started}"), None),
            // An older hostnet's name, without a start time: PID 1 ran when it was written.
            write("host.tmp.1", None),
        ];
        fs::write(&live[0], "{").expect("write");
        let dead = [
            // The PID runs, but it is a later process than the writer.
            write(&format!(".host.json.tmp.{own}.{}", started + 1), None),
            // No process at all has the PID.
            write(&format!(".host.json.tmp.{}.5", i32::MAX), None),
            write(&format!(".host.json.tmp.{}", i32::MAX), None),
            // An older hostnet's file, written before the process that has its PID now
            // started.
            write(&format!(".applied.json.tmp.{own}"), Some(long_ago)),
        ];
        let kept = j.join("host.json");
        fs::write(&kept, "{}").expect("write");
        let c = clean(state.path(), locks.path(), lib.path());
        for p in &dead {
            assert!(!p.exists(), "{} stayed", p.display());
            assert!(c.temporary.contains(p));
        }
        for p in live.iter().chain([&kept]) {
            assert!(p.exists(), "{} went", p.display());
        }
    }

    #[test]
    fn records_of_namespaces_that_are_gone_go() {
        let state = tempfile::tempdir().expect("tempdir");
        let lib = tempfile::tempdir().expect("tempdir");
        let locks = tempfile::tempdir().expect("tempdir");
        let own = here().expect("namespace").key();
        for kind in ["journal", "checkpoint", "applied"] {
            fs::create_dir_all(state.path().join(kind)).expect("dir");
        }
        let gone = [
            state.path().join("applied/anon.1.77.json"),
            state
                .path()
                .join("journal/netns.hostnet-no-such-netns-x.json"),
            locks.path().join("anon.1.77.lock"),
            locks.path().join("netns-cookie-12345.lock"),
        ];
        let stay = [
            state.path().join(format!("applied/{own}.json")),
            locks.path().join(format!("{own}.lock")),
            // The host's namespace is always there.
            state.path().join("checkpoint/host.json"),
        ];
        for p in gone.iter().chain(&stay) {
            fs::write(p, "{}").expect("write");
        }
        let c = clean(state.path(), locks.path(), lib.path());
        for p in &gone {
            assert!(!p.exists(), "{} stayed", p.display());
            assert!(c.records.contains(p), "{c:?}");
        }
        for p in &stay {
            assert!(p.exists(), "{} went", p.display());
        }
        // A lock someone holds stays.
        let held = locks.path().join("anon.2.78.lock");
        fs::write(&held, "").expect("write");
        let f = fs::File::open(&held).expect("open");
        f.lock().expect("lock");
        clean(state.path(), locks.path(), lib.path());
        assert!(held.exists());
        drop(f);
        clean(state.path(), locks.path(), lib.path());
        assert!(!held.exists());
    }
}
