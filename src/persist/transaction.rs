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
//!
//! The backup set also keeps what the transaction made of each file (a digest of it):
//! `--restore` ([`prepare_restore`]) puts a pre-image back only over a file that is still
//! what the transaction left, or that carries hostnet's header. A file someone wrote at
//! that path since (without the header) is theirs: refused unless adopted, as for persist.

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
/// Sets before after-images were kept: their files are restored over anything with
/// hostnet's header or that is missing.
const MANIFEST_MAGIC_V1: &str = "hostnet persist backup v1";
const MANIFEST_MAGIC: &str = "hostnet persist backup v2";

/// What a transaction left of a file, as its backup set keeps it: the length and a
/// 64-bit FNV-1a digest of the contents (enough to tell an edit from the file hostnet
/// wrote; a backup set stays the size of the pre-images).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    Absent,
    File { len: u64, digest: u64 },
}

impl After {
    fn of(want: &Want) -> After {
        match want {
            Want::Absent => After::Absent,
            Want::File { contents, .. } => After::file(contents),
        }
    }

    fn file(contents: &[u8]) -> After {
        After::File {
            len: contents.len() as u64,
            digest: fnv1a(contents),
        }
    }

    /// True when `contents` is the file the transaction left.
    pub fn is(&self, contents: &[u8]) -> bool {
        *self == After::file(contents)
    }

    fn to_field(self) -> String {
        match self {
            After::Absent => "absent".into(),
            After::File { len, digest } => format!("file:{len}:{digest:016x}"),
        }
    }

    fn from_field(s: &str) -> Option<After> {
        if s == "absent" {
            return Some(After::Absent);
        }
        let (len, digest) = s.strip_prefix("file:")?.split_once(':')?;
        Some(After::File {
            len: len.parse().ok()?,
            digest: u64::from_str_radix(digest, 16).ok()?,
        })
    }
}

/// 64-bit FNV-1a: stable across builds and releases, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
const LAST: &str = "last";

#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error(
        "not written by hostnet (no \"{HEADER_MARK}\" header), so left alone: {}; pass --adopt \
         to take them over",
        list(paths)
    )]
    Foreign { paths: Vec<PathBuf> },
    #[error(
        "changed since the transaction --restore would undo, and not written by hostnet (no \
         \"{HEADER_MARK}\" header), so left alone: {}; pass --adopt to restore them anyway",
        list(paths)
    )]
    ForeignSince { paths: Vec<PathBuf> },
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
            let (kind, mode) = match &c.before {
                Before::File { contents, mode } => {
                    write_synced(&tmp.join(n.to_string()), contents)?;
                    ("file", format!("{mode:o}"))
                }
                Before::Missing => ("missing", "-".to_string()),
            };
            let after = After::of(&c.want).to_field();
            manifest.push_str(&format!("{n}\t{kind}\t{mode}\t{after}\t{rel}\n"));
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

/// One file of a backup set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetEntry {
    /// Relative to the root.
    pub rel: PathBuf,
    /// What the file was before that transaction.
    pub before: Before,
    /// What that transaction left (sets of v1 do not say).
    pub after: Option<After>,
}

/// Reads the backup set `last` names: each file's path (relative to the root), what it
/// was before that transaction, and what the transaction made of it.
pub fn load_last_set(root: &Path) -> Result<(PathBuf, Vec<SetEntry>), TxError> {
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
    let read = |name: &str| {
        fs::read(dir.join(name)).map_err(|source| TxError::Read {
            path: dir.join(name),
            source,
        })
    };
    let manifest = String::from_utf8_lossy(&read(MANIFEST)?).into_owned();
    let mut lines = manifest.lines();
    let v2 = match lines.next() {
        Some(MANIFEST_MAGIC) => true,
        Some(MANIFEST_MAGIC_V1) => false,
        _ => return Err(bad("the manifest has no header".into())),
    };
    let mut out = Vec::new();
    for line in lines {
        let bad_line = || bad(format!("manifest line {line:?}"));
        let fields: Vec<&str> = line.splitn(if v2 { 5 } else { 4 }, '\t').collect();
        let (n, kind, mode, after, rel) = match fields[..] {
            [n, kind, mode, after, rel] if v2 => (n, kind, mode, Some(after), rel),
            [n, kind, mode, rel] if !v2 => (n, kind, mode, None, rel),
            _ => return Err(bad_line()),
        };
        let rel = PathBuf::from(rel);
        if !safe_rel(&rel) || n.parse::<usize>().is_err() {
            return Err(bad_line());
        }
        let before = match kind {
            "missing" => Before::Missing,
            "file" => Before::File {
                mode: u32::from_str_radix(mode, 8)
                    .map_err(|_| bad(format!("mode in manifest line {line:?}")))?,
                contents: read(n)?,
            },
            _ => return Err(bad_line()),
        };
        let after = match after {
            None => None,
            Some(a) => Some(After::from_field(a).ok_or_else(bad_line)?),
        };
        out.push(SetEntry { rel, before, after });
    }
    Ok((dir, out))
}

/// The changes that put every file of a backup set back as it was before that
/// transaction. A file that is neither what the transaction left nor carries hostnet's
/// header was written since by someone else: without `adopt` all such files are refused
/// at once, before anything is written (restoring over them would destroy their work).
pub fn prepare_restore(root: &Path, set: &[SetEntry], adopt: bool) -> Result<Vec<Change>, TxError> {
    let mut foreign = Vec::new();
    let mut wants = Vec::new();
    for e in set {
        let want = match &e.before {
            Before::File { contents, mode } => Want::File {
                contents: contents.clone(),
                mode: *mode,
            },
            Before::Missing => Want::Absent,
        };
        if !adopt {
            let path = root.join(&e.rel);
            if let Before::File { contents, .. } = read_current(&path)? {
                let left_so = e.after.is_some_and(|a| a.is(&contents));
                let unchanged = match &want {
                    Want::File { contents: w, .. } => *w == contents,
                    Want::Absent => false,
                };
                if !left_so && !unchanged && !is_ours(&contents) {
                    foreign.push(path);
                }
            }
        }
        wants.push((e.rel.clone(), want));
    }
    if !foreign.is_empty() {
        return Err(TxError::ForeignSince { paths: foreign });
    }
    // The set holds exactly what was there, foreign or not: putting a pre-image back
    // over what the transaction left is never a take-over.
    prepare(root, &wants, true)
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
