//! One lock per network namespace serializes hostnet commands that change it.
//!
//! The lock file is named after the namespace's inode (`/proc/thread-self/ns/net`), so
//! two commands reaching the same namespace by different routes (`--netns NAME`, `ip netns
//! exec`, a test's private namespace) still exclude each other, and commands on different
//! namespaces do not wait for each other.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Directory of the lock files (tmpfs: a lock never outlives a reboot).
pub const LOCK_DIR: &str = "/run/hostnet/locks";

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

/// The lock file of the calling thread's network namespace.
pub fn lock_path_for_current_netns(dir: &Path) -> Result<PathBuf, LockError> {
    let ns = Path::new("/proc/thread-self/ns/net");
    let meta = fs::metadata(ns).map_err(|source| LockError::Open {
        path: ns.to_path_buf(),
        source,
    })?;
    Ok(dir.join(format!("netns-{}-{}.lock", meta.dev(), meta.ino())))
}

/// Takes the lock of the calling thread's namespace, waiting up to `timeout`.
pub fn lock_current_netns(dir: &Path, timeout: Duration) -> Result<NetnsLock, LockError> {
    let path = lock_path_for_current_netns(dir)?;
    let open_err = |source| LockError::Open {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(open_err)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(open_err)?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
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
    }
    // Who holds it, for the next waiter's message; failing to write it is harmless.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(NetnsLock { _file: file, path })
}
