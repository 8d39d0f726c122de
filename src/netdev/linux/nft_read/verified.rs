//! The record of verified chain fingerprints (see [`super`]): one file per
//! network namespace under the runtime directory, `nft-verified/KEY`: a header, then
//! lines of `FINGERPRINT CHAIN` (the chain's record, a later line replacing an earlier
//! one) or `- CHAIN` (no record). It is a cache: a missing, stale or unreadable record
//! only makes the next query compare more chains as text, so every error here is ignored.
//!
//! A change is appended (a one-network change among a thousand writes its few lines, not
//! the record of every chain), and the file is rewritten whole only when the lines
//! outnumber the records by far. The thread keeps the record it last read or wrote,
//! with the file's inode and length at that point: the next reading takes only what
//! another process appended since, and reads the file whole when it was replaced.
//! What a line claims is a property of a chain's content (rules with this fingerprint
//! in this chain were checked as ours), so a record another process removed meanwhile
//! is never wrong to keep; one the file lacks only costs a text comparison.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::netdev::netns_id::{state_dir, NetnsId};

/// Written on the first line: a record of another build (whose renderer may differ) is
/// not trusted.
const HEADER: &str = concat!("hostnet ", env!("CARGO_PKG_VERSION"), " nft-verified 2");

/// More lines than this beyond twice the records, and the file is rewritten whole.
const SLACK: usize = 256;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Record {
    chains: BTreeMap<String, u64>,
    /// Lines to append: the changes since the record was read.
    pending: Vec<String>,
    /// Lines the file holds (header left out).
    lines: usize,
    /// The file's inode and length as read (`None`: no file of ours was read).
    at: Option<(u64, u64)>,
}

impl Record {
    pub fn contains(&self, chain: &str, print: u64) -> bool {
        self.chains.get(chain) == Some(&print)
    }

    pub fn insert(&mut self, chain: &str, print: u64) {
        if self.chains.insert(chain.to_string(), print) != Some(print) {
            self.pending.push(format!("{print:016x} {chain}"));
        }
    }

    pub fn remove(&mut self, chain: &str) {
        if self.chains.remove(chain).is_some() {
            self.pending.push(format!("- {chain}"));
        }
    }

    /// Forgets chains that no longer exist.
    pub fn keep_only<'a>(&mut self, chains: impl Iterator<Item = &'a String>) {
        let keep: std::collections::BTreeSet<&String> = chains.collect();
        let gone: Vec<String> = self
            .chains
            .keys()
            .filter(|c| !keep.contains(c))
            .cloned()
            .collect();
        for c in gone {
            self.remove(&c);
        }
    }

    /// Takes the complete lines of `text` (a line cut short by a writer's death has no
    /// newline: it is left out).
    fn replay(&mut self, text: &str) {
        for line in text.split_inclusive('\n') {
            let Some(line) = line.strip_suffix('\n') else {
                break;
            };
            self.lines += 1;
            match line.split_once(' ') {
                Some(("-", chain)) => {
                    self.chains.remove(chain);
                }
                Some((print, chain)) => {
                    if let Ok(p) = u64::from_str_radix(print, 16) {
                        self.chains.insert(chain.to_string(), p);
                    }
                }
                None => {}
            }
        }
    }
}

thread_local! {
    /// The record as this thread last read or wrote it, with its namespace's key.
    static KEPT: std::cell::RefCell<Option<(String, Record)>> =
        const { std::cell::RefCell::new(None) };
}

fn path() -> Option<(String, PathBuf)> {
    let key = NetnsId::current().ok()?.key();
    let p = state_dir().join("nft-verified").join(&key);
    Some((key, p))
}

pub fn load() -> Record {
    let Some((key, p)) = path() else {
        return Record::default();
    };
    let kept = KEPT
        .with(|k| k.borrow_mut().take())
        .filter(|(k, _)| *k == key)
        .map(|(_, r)| r);
    let Ok(mut f) = std::fs::File::open(&p) else {
        return Record::default();
    };
    let Ok(meta) = f.metadata() else {
        return Record::default();
    };
    let (inode, len) = (meta.ino(), meta.len());
    let same = |r: &Record| r.at.is_some_and(|(i, l)| i == inode && l <= len);
    if let Some(mut r) = kept.filter(same) {
        let read = r.at.map_or(0, |(_, l)| l);
        // What other processes appended since this thread's last look.
        let mut tail = String::new();
        if read < len
            && (f.seek(SeekFrom::Start(read)).is_err() || f.read_to_string(&mut tail).is_err())
        {
            return Record::default();
        }
        r.replay(&tail);
        r.at = Some((inode, read + tail.len() as u64));
        return r;
    }
    let mut text = String::new();
    if f.read_to_string(&mut text).is_err() {
        return Record::default();
    }
    let Some(body) = text.strip_prefix(HEADER).and_then(|b| b.strip_prefix('\n')) else {
        return Record::default();
    };
    let mut r = Record::default();
    r.replay(body);
    r.at = Some((inode, text.len() as u64));
    r
}

/// Writes the record's changes: appended to the file read, or the whole record
/// (atomically: a reader sees the old or the new one) when there was none of ours or
/// it is mostly stale lines. The thread keeps the record for its next reading.
pub fn store(mut r: Record) {
    let Some((key, p)) = path() else { return };
    if !r.pending.is_empty() {
        let compact = r.lines + r.pending.len() > 2 * r.chains.len() + SLACK;
        let appended = match r.at {
            Some((inode, len)) if !compact => append(&p, &r.pending, inode, len),
            _ => None,
        };
        r.at = match appended {
            Some(at) => {
                r.lines += r.pending.len();
                at
            }
            None => {
                r.lines = r.chains.len();
                rewrite(&p, &r.chains)
            }
        };
        r.pending.clear();
    }
    KEPT.with(|k| *k.borrow_mut() = Some((key, r)));
}

/// Appends `lines` in one write to the file read as `(inode, len)`; where the file now
/// ends as read (`None` inside: someone else's lines came between, read it again).
fn append(p: &Path, lines: &[String], inode: u64, len: u64) -> Option<Option<(u64, u64)>> {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).ok()?;
    if f.metadata().ok()?.ino() != inode {
        return None;
    }
    let mut text = String::with_capacity(lines.len() * 40);
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes()).ok()?;
    let now = f.metadata().ok()?.len();
    Some((now == len + text.len() as u64).then_some((inode, now)))
}

/// Writes the whole record; the new file's inode and length.
fn rewrite(p: &Path, chains: &BTreeMap<String, u64>) -> Option<(u64, u64)> {
    let dir = p.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let mut text = String::with_capacity(chains.len() * 40);
    text.push_str(HEADER);
    text.push('\n');
    for (c, print) in chains {
        text.push_str(&format!("{print:016x} {c}\n"));
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, &text).is_err() || std::fs::rename(&tmp, p).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    let m = std::fs::metadata(p).ok()?;
    Some((m.ino(), m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_tracks_changes() {
        let mut r = Record::default();
        r.insert("n-a-fwd", 7);
        assert!(r.contains("n-a-fwd", 7) && !r.contains("n-a-fwd", 8));
        r.pending.clear();
        r.insert("n-a-fwd", 7);
        assert!(r.pending.is_empty());
        let keep = ["n-b-fwd".to_string()];
        r.keep_only(keep.iter());
        assert!(!r.contains("n-a-fwd", 7));
        assert_eq!(r.pending, ["- n-a-fwd"]);
    }

    #[test]
    fn lines_replay_in_order_and_a_cut_line_is_left_out() {
        let mut r = Record::default();
        r.replay("0000000000000007 n-a-fwd\n0000000000000009 n-b-fwd\n- n-a-fwd\n0000000000000003 n-b-fwd\n0000000000000005 n-c-f");
        assert!(!r.contains("n-a-fwd", 7));
        assert!(r.contains("n-b-fwd", 3));
        assert!(
            !r.contains("n-c-f", 5),
            "a line without its newline is not taken"
        );
        assert_eq!(r.lines, 4);
    }
}
