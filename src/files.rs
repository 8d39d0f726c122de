//! The one way hostnet writes a file it must not leave torn: the engine's records, the
//! DHCP servers' files, the DHCP client hooks and the persisted boot files all go through
//! [`write_atomically_with_mode`].

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What failed, on which path.
pub type IoFailure = (&'static str, PathBuf, std::io::Error);

/// An I/O failure: what was being done, on which path, and the system's reason. The one
/// shape of it every module's error enum carries, as `#[error(transparent)] Io(IoError)`,
/// so that each says "cannot ACTION PATH: reason" the same way.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct IoError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IoError {
            action,
            path: path.into(),
            source,
        }
    }

    /// For `map_err`: the failure of `action` on `path`.
    pub fn on(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoError {
        let path = path.to_path_buf();
        move |source| IoError {
            action,
            path,
            source,
        }
    }
}

impl From<IoFailure> for IoError {
    fn from((action, path, source): IoFailure) -> Self {
        IoError {
            action,
            path,
            source,
        }
    }
}

/// [`write_atomically_with_mode`] with mode 0644.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoFailure> {
    write_atomically_with_mode(path, bytes, 0o644)
}

/// Temporary file in the same directory (a dot-file, so that no reader of the directory
/// picks it up), fsync, rename, fsync of the directory: after a crash the file is the old
/// one or the new one, never a mix. The mode is set whatever the umask; nothing else of an
/// old file is kept. A failed write takes its temporary file away.
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoFailure> {
    write_with(path, bytes, mode, true)
}

/// [`write_atomically`] without the syncs, for a record under the runtime directory
/// (`/run`, a tmpfs): a reader sees the old file or the new one, and the new one outlives
/// its writer's death (SIGKILL) like any write; a power loss takes it away with the
/// kernel state it describes, synced or not.
pub fn replace_runtime_file(path: &Path, bytes: &[u8]) -> Result<(), IoFailure> {
    write_with(path, bytes, 0o644, false)
}

fn write_with(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> Result<(), IoFailure> {
    let fail = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e| (action, p, e)
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(fail("create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(tmp_name(&name));
    // A leftover of a writer that crashed with this PID and start time cannot be: the
    // name is this process's. One from a reused PID without a start time is replaced.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(fail("create", &tmp))?;
        f.set_permissions(Permissions::from_mode(mode))
            .map_err(fail("set the mode of", &tmp))?;
        f.write_all(bytes).map_err(fail("write", &tmp))?;
        if sync {
            f.sync_all().map_err(fail("sync", &tmp))?;
        }
        drop(f);
        fs::rename(&tmp, path).map_err(fail("rename into place", path))?;
        if !sync {
            return Ok(());
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("sync", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `.NAME.tmp.PID.START`: a dot-file no reader lists, named after its writer, the PID
/// with the process's start time ([`start_ticks`]), so that a cleaner can tell whether
/// its writer died before the rename (see `records::clean`) whatever the writer's program
/// is called and whoever has the PID now.
pub fn tmp_name(name: &str) -> String {
    let pid = std::process::id();
    match start_ticks(pid) {
        Some(start) => format!(".{name}.tmp.{pid}.{start}"),
        None => format!(".{name}.tmp.{pid}"),
    }
}

/// When process `pid` started, in clock ticks after boot (`/proc/PID/stat`, field 22):
/// with the PID, what tells a process from a later one that got its PID.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses:
    // the fields after the last ')' start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Removes a file; a file that is not there is removed already.
pub fn remove(path: &Path) -> Result<(), IoFailure> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(("remove", path.to_path_buf(), e))
        }
        _ => Ok(()),
    }
}

/// Reads a file; `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, IoFailure> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(("read", path.to_path_buf(), e)),
    }
}
