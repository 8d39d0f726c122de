//! File transactions: atomic writes, the backup set of pre-images, rollback, restore, and
//! the header check that keeps hostnet's hands off files it did not write.
//!
//! A transaction is a list of [`Change`]s computed against the files as they are
//! ([`prepare`]), then [`commit`]ted:
//!
//! 1. the backup set is written first, completely and durably: for every touched file its
//!    pre-image and mode, or the fact that it did not exist
//!    (`{root}/var/lib/hostnet/persist-backup/ID/`, made under a temporary name and
//!    renamed into place, then named by `last`);
//! 2. each change is made atomically: a temporary file in the same directory, written,
//!    fsynced, renamed over the target, and the directory fsynced (removal: unlink, then
//!    fsync the directory);
//! 3. on the first failure every touched file is put back from the pre-images, byte for
//!    byte and with its mode (files that did not exist are removed again), and the error
//!    says whether that succeeded.
//!
//! A crash between 2 and 3 leaves the backup set named by `last`, so `hostnet persist
//! --restore` finishes the job. Directories hostnet had to create stay.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Every file hostnet writes starts with this; a file that does not is someone else's.
pub const HEADER_MARK: &str = "# Written by hostnet";

/// Where the backup sets live, relative to the root.
pub const BACKUP_DIR: &str = "var/lib/hostnet/persist-backup";

/// How many backup sets are kept (the newest ones).
const KEEP_SETS: usize = 10;

const MANIFEST: &str = "manifest";
const MANIFEST_MAGIC: &str = "hostnet persist backup v1";
const LAST: &str = "last";

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error(
        "not written by hostnet (no \"{HEADER_MARK}\" header), so left alone: {}; pass --adopt \
         to take them over",
        list(paths)
    )]
    Foreign { paths: Vec<PathBuf> },
    #[error("{}: not a regular file; hostnet only replaces regular files", path.display())]
    NotRegular { path: PathBuf },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the backup set in {}; nothing was changed", dir.display())]
    Backup {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot {verb} {}; every file was restored", path.display())]
    Restored {
        verb: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot {verb} {}, and restoring failed for: {}",
        path.display(),
        left.join("; ")
    )]
    Incomplete {
        verb: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        /// One line per file that could not be restored.
        left: Vec<String>,
    },
    #[error("no backup set in {}", dir.display())]
    NoBackup { dir: PathBuf },
    #[error("backup set {} is damaged: {what}", dir.display())]
    BadBackup { dir: PathBuf, what: String },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a file must become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    File { contents: Vec<u8>, mode: u32 },
    Absent,
}

/// What a file was before the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Before {
    Missing,
    File { contents: Vec<u8>, mode: u32 },
}

/// One file the transaction changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Relative to the root: what the user reads, and what backup sets record.
    pub rel: PathBuf,
    pub before: Before,
    pub want: Want,
}

impl Change {
    /// `+` created, `~` changed, `-` removed.
    pub fn sign(&self) -> char {
        match (&self.before, &self.want) {
            (Before::Missing, _) => '+',
            (Before::File { .. }, Want::File { .. }) => '~',
            (Before::File { .. }, Want::Absent) => '-',
        }
    }
}

/// Reads what a file is now. Symbolic links, directories and devices are refused: a rename
/// would replace the link rather than what it points to, which no one expects.
pub fn read_current(path: &Path) -> Result<Before, TxError> {
    let read_err = |source| TxError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Before::Missing),
        Err(e) => return Err(read_err(e)),
    };
    if !meta.file_type().is_file() {
        return Err(TxError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let contents = fs::read(path).map_err(read_err)?;
    Ok(Before::File {
        contents,
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// True when the file starts with hostnet's header.
pub fn is_ours(contents: &[u8]) -> bool {
    contents.starts_with(HEADER_MARK.as_bytes())
}

/// The changes that make the files under `root` what `wants` says (paths relative to
/// `root`). Files already as wanted are left out. Without `adopt`, a file without the
/// header is refused, all of them at once, before anything is written.
pub fn prepare(
    root: &Path,
    wants: &[(PathBuf, Want)],
    adopt: bool,
) -> Result<Vec<Change>, TxError> {
    let mut changes = Vec::new();
    let mut foreign = Vec::new();
    for (rel, want) in wants {
        let path = root.join(rel);
        let before = read_current(&path)?;
        let unchanged = match (&before, want) {
            (Before::Missing, Want::Absent) => true,
            (
                Before::File { contents, mode },
                Want::File {
                    contents: c,
                    mode: m,
                },
            ) => contents == c && mode == m,
            _ => false,
        };
        if unchanged {
            continue;
        }
        if let Before::File { contents, .. } = &before {
            if !adopt && !is_ours(contents) {
                foreign.push(path);
                continue;
            }
        }
        changes.push(Change {
            rel: rel.clone(),
            before,
            want: want.clone(),
        });
    }
    if !foreign.is_empty() {
        return Err(TxError::Foreign { paths: foreign });
    }
    Ok(changes)
}

/// Commits changes: backup set first, then each change atomically; on failure, every
/// touched file is restored. Returns the backup set's directory.
pub fn commit(root: &Path, changes: &[Change]) -> Result<PathBuf, TxError> {
    commit_with(root, changes, &mut |_| Ok(()))
}

/// [`commit`], with `fault(i)` called before change `i` is made: an error from it is
/// treated as that change's failure (the tests inject failures at every position).
pub fn commit_with(
    root: &Path,
    changes: &[Change],
    fault: &mut dyn FnMut(usize) -> io::Result<()>,
) -> Result<PathBuf, TxError> {
    let set = write_backup_set(root, changes)?;
    for (i, c) in changes.iter().enumerate() {
        let path = root.join(&c.rel);
        let result = fault(i).and_then(|()| match &c.want {
            Want::File { contents, mode } => write_file(&path, contents, *mode),
            Want::Absent => remove_file(&path),
        });
        let Err(source) = result else { continue };
        let verb = match c.want {
            Want::File { .. } => "write",
            Want::Absent => "remove",
        };
        // The failed change may have happened partly (renamed, but the directory fsync
        // failed), so it is restored too.
        let left = rollback(root, &changes[..=i]);
        return Err(if left.is_empty() {
            TxError::Restored { verb, path, source }
        } else {
            TxError::Incomplete {
                verb,
                path,
                source,
                left,
            }
        });
    }
    Ok(set)
}

/// Puts every file back as it was, newest change first; keeps going past errors and
/// returns one line per file it could not restore.
fn rollback(root: &Path, changes: &[Change]) -> Vec<String> {
    let mut left = Vec::new();
    for c in changes.iter().rev() {
        let path = root.join(&c.rel);
        let r = match &c.before {
            Before::File { contents, mode } => write_file(&path, contents, *mode),
            // Only a file this transaction made is removed: whatever else is there now
            // (a directory someone put in the way) is not hostnet's.
            Before::Missing => match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_file() => remove_file(&path),
                _ => Ok(()),
            },
        };
        if let Err(e) = r {
            left.push(format!("{}: {e}", path.display()));
        }
    }
    left
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes a file atomically ([`crate::files::write_atomically_with_mode`]): a hidden
/// temporary file, so that no network stack picks it up; the mode set whatever the umask.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    crate::files::write_atomically_with_mode(path, contents, mode).map_err(
        |(action, path, source)| {
            io::Error::new(
                source.kind(),
                format!("cannot {action} {}: {source}", path.display()),
            )
        },
    )
}

/// Removes a file (already gone is fine) and makes the removal durable.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

/// A new backup set id: sorts by time, unique per process.
fn new_set_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:012}.{:09}-{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    )
}

/// Writes the pre-images of `changes` as a new backup set and names it `last`.
fn write_backup_set(root: &Path, changes: &[Change]) -> Result<PathBuf, TxError> {
    let base = root.join(BACKUP_DIR);
    let err = |source| TxError::Backup {
        dir: base.clone(),
        source,
    };
    fs::create_dir_all(&base).map_err(err)?;
    let id = new_set_id();
    let tmp = base.join(format!(".{id}.partial"));
    let set = base.join(&id);
    let result = (|| {
        fs::create_dir(&tmp)?;
        fs::set_permissions(&tmp, Permissions::from_mode(0o700))?;
        let mut manifest = format!("{MANIFEST_MAGIC}\n");
        for (n, c) in changes.iter().enumerate() {
            let rel = c.rel.to_string_lossy();
            match &c.before {
                Before::File { contents, mode } => {
                    write_synced(&tmp.join(n.to_string()), contents)?;
                    manifest.push_str(&format!("{n}\tfile\t{mode:o}\t{rel}\n"));
                }
                Before::Missing => manifest.push_str(&format!("{n}\tmissing\t-\t{rel}\n")),
            }
        }
        write_synced(&tmp.join(MANIFEST), manifest.as_bytes())?;
        sync_dir(&tmp)?;
        fs::rename(&tmp, &set)?;
        sync_dir(&base)?;
        write_file(&base.join(LAST), format!("{id}\n").as_bytes(), 0o600)
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(err(e));
    }
    prune(&base, &id);
    Ok(set)
}

/// Removes all but the newest backup sets; best effort (an old set left over harms no
/// one).
fn prune(base: &Path, current: &str) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    let mut sets: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    sets.sort();
    let excess = sets.len().saturating_sub(KEEP_SETS);
    for old in sets.iter().take(excess).filter(|n| *n != current) {
        let _ = fs::remove_dir_all(base.join(old));
    }
}

/// A relative path that stays under the root.
fn safe_rel(p: &Path) -> bool {
    !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads the backup set `last` names: each file's path (relative to the root) and what
/// it was before that transaction.
pub fn load_last_set(root: &Path) -> Result<(PathBuf, Vec<(PathBuf, Before)>), TxError> {
    let base = root.join(BACKUP_DIR);
    let id = match fs::read_to_string(base.join(LAST)) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TxError::NoBackup { dir: base });
        }
        Err(source) => {
            return Err(TxError::Read {
                path: base.join(LAST),
                source,
            })
        }
    };
    let dir = base.join(&id);
    let bad = |what: String| TxError::BadBackup {
        dir: dir.clone(),
        what,
    };
    if !safe_rel(Path::new(&id)) || id.contains('/') {
        return Err(bad(format!("`last` names {id:?}")));
    }
    let manifest = fs::read_to_string(dir.join(MANIFEST)).map_err(|source| TxError::Read {
        path: dir.join(MANIFEST),
        source,
    })?;
    let mut lines = manifest.lines();
    if lines.next() != Some(MANIFEST_MAGIC) {
        return Err(bad("the manifest has no header".into()));
    }
    let mut out = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        let [n, kind, mode, rel] = fields[..] else {
            return Err(bad(format!("manifest line {line:?}")));
        };
        let rel = PathBuf::from(rel);
        if !safe_rel(&rel) || n.parse::<usize>().is_err() {
            return Err(bad(format!("manifest line {line:?}")));
        }
        let before = match kind {
            "missing" => Before::Missing,
            "file" => {
                let mode = u32::from_str_radix(mode, 8)
                    .map_err(|_| bad(format!("mode in manifest line {line:?}")))?;
                let contents = fs::read(dir.join(n)).map_err(|source| TxError::Read {
                    path: dir.join(n),
                    source,
                })?;
                Before::File { contents, mode }
            }
            _ => return Err(bad(format!("manifest line {line:?}"))),
        };
        out.push((rel, before));
    }
    Ok((dir, out))
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
