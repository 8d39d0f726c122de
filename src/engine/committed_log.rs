//! The committed store's changes since its file was last written whole: `KEY.changes`
//! next to `KEY.yaml`, one committed document a line (compact JSON), folded onto the
//! file in order when the store is read.
//!
//! A one-network change among 1,000 rewrote the whole store (about 400 KB, two fsyncs)
//! on every apply. Appending the document that changed it costs a line and one
//! `fdatasync` (and, for a new log, a sync of its directory: a reboot finds it). The
//! store is written whole again ([`super::committed`] compacts) when the log has many
//! lines or is no longer small beside the file, and the log then goes.
//!
//! The log's first line names the file it belongs to (its inode and size): a log whose
//! file was replaced since (compacted, by hostnet or by a person) is not folded, so that a crash between writing the file whole and removing the log
//! cannot fold old changes onto a newer store. A last line without its newline is an
//! append that did not finish (its apply's record was not written): it is not read, and
//! the next append writes over it. A hostnet that predates the log reads the file alone.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::IoError;
use crate::model::Desired;

use super::committed::CommittedError;

/// More lines than this and the store is written whole.
pub const MAX_LINES: usize = 16;

/// Which file a log belongs to. Not its modification time: a `touch` or a copy keeping
/// times would then orphan the log and lose the changes it holds, where a replaced file
/// (hostnet's compaction renames a new one in) always has another inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    ino: u64,
    len: u64,
}

impl Stamp {
    pub fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            ino: m.ino(),
            len: m.len(),
        }
    }

    pub fn size(&self) -> u64 {
        self.len
    }
}

/// The log's first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Header {
    hostnet_committed_changes: u32,
    file: Stamp,
}

/// A log that belongs to the file read.
#[derive(Debug, Default)]
pub struct Changes {
    pub docs: Vec<Desired>,
    /// Bytes of whole lines (an unfinished last line is after them).
    valid_len: u64,
    bytes: u64,
}

/// `DIR/KEY.changes` for the store `DIR/KEY.yaml`.
pub fn path(base: &Path) -> PathBuf {
    base.with_extension("changes")
}

fn io(action: &'static str, p: &Path) -> impl FnOnce(std::io::Error) -> CommittedError {
    let on = IoError::on(action, p);
    move |e| CommittedError::Io(on(e))
}

/// The log of the file whose stamp is `file`: `None` when there is none, or it belongs
/// to another file.
pub fn read(base: &Path, file: Stamp) -> Result<Option<Changes>, CommittedError> {
    let p = path(base);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &p)(e)),
    };
    parse(&p, &bytes, file)
}

fn parse(p: &Path, bytes: &[u8], file: Stamp) -> Result<Option<Changes>, CommittedError> {
    let format = |message: String| CommittedError::Format {
        path: p.to_path_buf(),
        message,
    };
    // Whole lines only: what follows the last newline did not finish.
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut lines = bytes[..whole].split(|&b| b == b'\n');
    let Some(first) = lines.next().filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let header: Header =
        serde_json::from_slice(first).map_err(|e| format(format!("line 1: {e}")))?;
    if header.file != file {
        return Ok(None);
    }
    let mut docs = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
        let d: Desired =
            serde_json::from_slice(line).map_err(|e| format(format!("line {}: {e}", i + 2)))?;
        docs.push(d);
    }
    Ok(Some(Changes {
        docs,
        valid_len: whole as u64,
        bytes: bytes.len() as u64,
    }))
}

/// Whether `doc` goes into the log of the file stamped `file` rather than the store
/// being written whole: the log has room, and stays small beside the file.
pub fn has_room(file: Stamp, log: Option<&Changes>, line: usize) -> bool {
    let (lines, bytes) = log.map_or((0, 0), |l| (l.docs.len(), l.valid_len));
    lines < MAX_LINES && (bytes + line as u64) * 4 < file.size()
}

/// `doc` as a line of the log of `base`.
pub fn line(base: &Path, doc: &Desired) -> Result<Vec<u8>, CommittedError> {
    let mut line = serde_json::to_vec(doc).map_err(|e| CommittedError::Format {
        path: path(base),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Appends `line` ([`line`]) to the log of the file stamped `file` (`log`: as read,
/// `None` when it has none yet) and syncs it: a reboot finds it.
pub fn append(
    base: &Path,
    file: Stamp,
    log: Option<&Changes>,
    line: &[u8],
) -> Result<(), CommittedError> {
    let p = path(base);
    let Some(log) = log else {
        return start(&p, file, line);
    };
    let mut f = OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(io("open", &p))?;
    if log.bytes > log.valid_len {
        f.set_len(log.valid_len).map_err(io("truncate", &p))?;
    }
    f.seek(SeekFrom::Start(log.valid_len))
        .map_err(io("seek", &p))?;
    f.write_all(line).map_err(io("write", &p))?;
    f.sync_data().map_err(io("sync", &p))
}

/// A new log: written under a temporary name and renamed (a log is never seen without
/// its header), then the directory synced.
fn start(p: &Path, file: Stamp, line: &[u8]) -> Result<(), CommittedError> {
    let header = Header {
        hostnet_committed_changes: 1,
        file,
    };
    let mut text = serde_json::to_vec(&header).map_err(|e| CommittedError::Format {
        path: p.to_path_buf(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    text.extend_from_slice(line);
    crate::files::write_atomically(p, &text).map_err(|f| CommittedError::Io(f.into()))
}

/// Removes the log (after the store was written whole; a log left by a failure here
/// belongs to the file replaced, and is not read).
pub fn remove(base: &Path) {
    let _ = crate::files::remove(&path(base));
}

/// Reads the store's file and its stamp from one open file (the stamp is the file's
/// that was read, whatever replaced it since).
pub fn read_file(base: &Path) -> Result<Option<(Vec<u8>, Stamp)>, CommittedError> {
    let mut f = match File::open(base) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", base)(e)),
    };
    let m = f.metadata().map_err(io("read", base))?;
    let mut bytes = Vec::with_capacity(usize::try_from(m.len()).unwrap_or(0));
    f.read_to_end(&mut bytes).map_err(io("read", base))?;
    Ok(Some((bytes, Stamp::of(&m))))
}

/// Whether the file at `base` is still the one stamped `file`.
pub fn still(base: &Path, file: Stamp) -> bool {
    fs::metadata(base).is_ok_and(|m| Stamp::of(&m) == file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(len: u64) -> Stamp {
        Stamp { ino: 7, len }
    }

    fn header(s: Stamp) -> String {
        let h = Header {
            hostnet_committed_changes: 1,
            file: s,
        };
        format!("{}\n", serde_json::to_string(&h).expect("json"))
    }

    #[test]
    fn an_unfinished_last_line_is_not_read_and_a_bad_whole_line_is_an_error() {
        let p = Path::new("/x/netns.a.changes");
        let s = stamp(1000);
        let text = format!(
            "{}{{\"networks\":[{{\"name\":\"a\"}}]}}\n{{\"netw",
            header(s)
        );
        let log = parse(p, text.as_bytes(), s)
            .expect("reads")
            .expect("belongs");
        assert_eq!(log.docs.len(), 1);
        assert_eq!(log.docs[0].networks[0].name, "a");
        assert!(log.bytes > log.valid_len);
        let bad = format!("{}{{\"netw\n", header(s));
        let e = parse(p, bad.as_bytes(), s).expect_err("a torn line in the middle");
        assert!(e.to_string().contains("line 2"), "{e}");
        // Only a header that did not finish: nothing.
        assert!(parse(p, b"{\"hostnet-comm", s).expect("reads").is_none());
    }

    #[test]
    fn a_log_of_another_file_is_not_folded() {
        let p = Path::new("/x/netns.a.changes");
        let text = format!("{}{{}}\n", header(stamp(1000)));
        assert!(parse(p, text.as_bytes(), stamp(999))
            .expect("reads")
            .is_none());
    }

    #[test]
    fn appends_start_a_log_then_extend_it_over_an_unfinished_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("netns.a.yaml");
        std::fs::write(&base, "{}\n").expect("base");
        let (_, s) = read_file(&base).expect("reads").expect("there");
        let doc = |name: &str| {
            crate::model::parse(&format!("networks:\n- {{name: {name}}}\n")).expect("doc")
        };
        let line = |name: &str| line(&base, &doc(name)).expect("line");
        append(&base, s, None, &line("a")).expect("starts");
        // An append that died halfway.
        let mut f = OpenOptions::new()
            .append(true)
            .open(path(&base))
            .expect("open");
        f.write_all(b"{\"networks\":[{\"na").expect("write");
        let log = read(&base, s).expect("reads").expect("belongs");
        assert_eq!(log.docs.len(), 1);
        append(&base, s, Some(&log), &line("b")).expect("appends");
        let log = read(&base, s).expect("reads").expect("belongs");
        let names: Vec<&str> = log
            .docs
            .iter()
            .map(|d| d.networks[0].name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(log.bytes, log.valid_len);
        assert!(still(&base, s));
        remove(&base);
        assert!(read(&base, s).expect("reads").is_none());
    }

    #[test]
    fn the_log_has_room_while_small_beside_the_file() {
        let log = Changes {
            docs: vec![Desired::default(); 3],
            valid_len: 100,
            bytes: 100,
        };
        assert!(has_room(stamp(10_000), Some(&log), 100));
        assert!(!has_room(stamp(700), Some(&log), 100));
        let full = Changes {
            docs: vec![Desired::default(); MAX_LINES],
            ..log
        };
        assert!(!has_room(stamp(1_000_000), Some(&full), 10));
    }
}
