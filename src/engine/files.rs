//! Durable small files for the engine's records (applied state, journal, checkpoints).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What failed, on which path.
pub type IoFailure = (&'static str, PathBuf, std::io::Error);

/// Temporary file, fsync, rename, fsync of the directory: after a crash the file is the
/// old one or the new one, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IoFailure> {
    let fail = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |e| (action, p, e)
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(fail("create", dir))?;
    // `.NAME.tmp.PID`: a dot-file no reader lists, and the PID tells a cleaner whether
    // its writer died before the rename (see `records::clean`).
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(fail("create", &tmp))?;
    f.write_all(bytes).map_err(fail("write", &tmp))?;
    f.sync_all().map_err(fail("sync", &tmp))?;
    fs::rename(&tmp, path).map_err(fail("rename into place", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail("sync", dir))
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
