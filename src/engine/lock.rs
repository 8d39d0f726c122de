//! One lock per network namespace serializes hostnet commands that change it.
//!
//! The lock file is named after the namespace's cookie ([`current_netns_key`]), so
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

/// `SO_NETNS_COOKIE` of `<asm-generic/socket.h>` (Linux 5.14+), which the libc crate does
/// not export for every architecture.
const SO_NETNS_COOKIE: libc::c_int = 71;

/// The kernel's cookie of the calling thread's network namespace: unique for the life of
/// the system and never reused, unlike the namespace file's inode.
fn netns_cookie() -> std::io::Result<u64> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut cookie: u64 = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<u64>()).unwrap_or(8);
    // SAFETY: `sock` is an open socket for the whole call; `cookie` and `len` are live
    // locals and `len` states the size of `cookie`, as getsockopt requires.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        Ok(cookie)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A name for the calling thread's network namespace that every route into the same
/// namespace shares: its cookie, or on kernels without one the namespace file's device
/// and inode (which a later namespace may reuse).
pub fn current_netns_key() -> Result<String, std::io::Error> {
    if let Ok(cookie) = netns_cookie() {
        return Ok(format!("netns-cookie-{cookie}"));
    }
    let meta = fs::metadata("/proc/thread-self/ns/net")?;
    Ok(format!("netns-{}-{}", meta.dev(), meta.ino()))
}

/// The lock file of the calling thread's network namespace.
pub fn lock_path_for_current_netns(dir: &Path) -> Result<PathBuf, LockError> {
    let key = current_netns_key().map_err(|source| LockError::Open {
        path: PathBuf::from("/proc/thread-self/ns/net"),
        source,
    })?;
    Ok(dir.join(format!("{key}.lock")))
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
