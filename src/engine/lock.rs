//! One lock per network namespace serializes hostnet commands that change it.
//!
//! The lock file is named after the namespace's key ([`NetnsId::key`]: `host`, its name,
//! or its cookie when it has none), so two commands reaching the same namespace by
//! different routes (`--netns NAME`, `ip netns exec`, a test's private namespace) still
//! exclude each other, and commands on different namespaces do not wait for each other.
//!
//! Lock files of namespaces that are gone are removed by [`super::records::clean`], only
//! while it holds them; so a command that got the lock checks that its file is still the
//! one at the path, and starts over if it was removed meanwhile.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::netdev::netns_id::NetnsId;

/// Directory of the lock files: `locks` in the state directory (`/run/hostnet/locks`, on
/// tmpfs: a lock never outlives a reboot), moved with the rest by `HOSTNET_STATE_DIR`.
/// Commands with different state directories therefore do not exclude each other; they
/// keep no journal, checkpoint or record in common either, so each directory is an
/// installation of its own (tests, a packaged copy beside the system's).
pub fn lock_dir() -> PathBuf {
    crate::netdev::netns_id::state_dir().join("locks")
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another hostnet command (pid {holder}) holds {path}; gave up after {waited:?}")]
    Timeout {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct NetnsLock {
    _file: File,
    pub path: PathBuf,
}

/// The key of the calling thread's namespace (see [`NetnsId::key`]).
pub fn current_netns_key() -> Result<String, std::io::Error> {
    Ok(NetnsId::current()?.key())
}

/// The lock file of the calling thread's namespace.
pub fn lock_path_for_current_netns(dir: &Path) -> Result<PathBuf, LockError> {
    let key = current_netns_key().map_err(|source| LockError::Open {
        path: PathBuf::from(crate::netdev::netns_id::SELF_NS),
        source,
    })?;
    Ok(dir.join(format!("{key}.lock")))
}

/// True when `file` is still the file at `path` (a cleaner did not remove it).
fn still_there(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Takes the lock of the calling thread's namespace, waiting up to `timeout`.
pub fn lock_current_netns(dir: &Path, timeout: Duration) -> Result<NetnsLock, LockError> {
    let path = lock_path_for_current_netns(dir)?;
    let open_err = |source| LockError::Open {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(open_err)?;
    let start = Instant::now();
    let mut file = loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(open_err)?;
        match file.try_lock() {
            Ok(()) if still_there(&file, &path) => break file,
            // Removed by a cleaner between our open and our lock: open it again.
            Ok(()) => continue,
            Err(fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= timeout {
                    let holder = fs::read_to_string(&path)
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    return Err(LockError::Timeout {
                        path,
                        holder: if holder.is_empty() {
                            "unknown".into()
                        } else {
                            holder
                        },
                        waited: start.elapsed(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::Error(e)) => return Err(open_err(e)),
        }
    };
    // Who holds it, for the next waiter's message; failing to write it is harmless.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(NetnsLock { _file: file, path })
}
