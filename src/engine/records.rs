//! Where the engine's per-namespace records live, and the cleaning of what is left over.
//!
//! Every record is keyed by [`NetnsId::key`]: the host's namespace is `host`, a named
//! one `netns.NAME`, an unnamed one `anon.INODE.COOKIE`. Runtime records (under the state
//! directory, `/run/hostnet`): `journal/KEY.json` and its `KEY.progress`,
//! `checkpoint/KEY.json` and `KEY.last-rollback.txt`, `applied/KEY.json`, and the
//! committed state of unnamed namespaces (`committed/KEY.yaml`, which cannot outlive
//! them); the lock is `locks/KEY.lock` there too. Persistent records (under
//! `/var/lib/hostnet`): `committed/host.yaml` and `committed/netns.NAME.yaml`.
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

use super::files::{read, remove, write_atomically};
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

/// `PID` of a temporary file `.NAME.tmp.PID` (or an older hostnet's `NAME.tmp.PID`).
fn tmp_pid(file: &str) -> Option<u32> {
    let (_, pid) = file.rsplit_once(".tmp.")?;
    pid.parse().ok()
}

/// True when `pid` is a running hostnet process (its PID alone may have been reused).
fn hostnet_runs(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
        cmd.split(|b| *b == 0)
            .next()
            .is_some_and(|a| a.ends_with(b"hostnet"))
    })
}

/// The namespace key of a record file (`KEY.json`, `KEY.progress`, `KEY.lock`, ...).
fn key_of(file: &str) -> &str {
    for ext in [".last-rollback.txt", ".progress", ".json", ".yaml", ".lock"] {
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
        if let Some(pid) = tmp_pid(&name) {
            if !hostnet_runs(pid) && fs::remove_file(&path).is_ok() {
                out.temporary.push(path);
            }
            continue;
        }
        let key = key_of(&name);
        if key == own || live.alive(key) != Some(false) {
            continue;
        }
        if owner(&path).is_some_and(hostnet_runs) {
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
        if tmp_pid(&name).is_some_and(|pid| !hostnet_runs(pid)) && fs::remove_file(e.path()).is_ok()
        {
            out.temporary.push(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_of_dead_writers_go_and_live_ones_stay() {
        let state = tempfile::tempdir().expect("tempdir");
        let lib = tempfile::tempdir().expect("tempdir");
        let locks = tempfile::tempdir().expect("tempdir");
        let j = state.path().join("journal");
        fs::create_dir_all(&j).expect("dir");
        // PID 1 is no hostnet; i32::MAX is no process at all.
        let dead = [
            j.join(format!(".host.json.tmp.{}", i32::MAX)),
            j.join("host.tmp.1"),
        ];
        for p in &dead {
            fs::write(p, "{}").expect("write");
        }
        let kept = j.join("host.json");
        fs::write(&kept, "{}").expect("write");
        let c = clean(state.path(), locks.path(), lib.path());
        for p in &dead {
            assert!(!p.exists(), "{} stayed", p.display());
            assert!(c.temporary.contains(p));
        }
        assert!(kept.exists());
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
